"""Decoding time of each format next to FLAC of the same audio: ``serkit.audio.load``
and ``serkit.audio.stream`` (the timeline's reader), best of ``--repeat`` runs.

The signal is the 16 example clips (RAVDESS, 16 kHz) end to end, repeated to the
length asked for; lossy formats are encoded at 128 kb/s with PyAV's encoders.

Usage::

    python benchmarks/formats.py [--seconds 60 600] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the fixture encoders the tests use

from _media import KINDS, encode  # noqa: E402
from serkit import audio  # noqa: E402

FORMATS = ["m4a", "aac", "webm", "mp4", "wma", "mp3"]


def signal(seconds: float) -> np.ndarray:
    clips = [audio.load(p)[0] for p in sorted((REPO / "examples").glob("*.flac"))]
    joined = np.concatenate(clips)
    reps = int(np.ceil(seconds * audio.SAMPLE_RATE / len(joined)))
    return np.tile(joined, reps)[: int(seconds * audio.SAMPLE_RATE)]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0, 600.0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seconds in args.seconds:
            y = signal(seconds)
            flac = Path(folder) / f"s{seconds:g}.flac"
            sf.write(flac, y, audio.SAMPLE_RATE, subtype="PCM_16")
            files = {"flac": flac}
            for name in FORMATS:
                path = Path(folder) / f"s{seconds:g}.{KINDS[name].suffix}"
                files[name] = encode(path, y, audio.SAMPLE_RATE, KINDS[name])
            base_load = base_stream = 0.0
            for name, path in files.items():
                t_load = best(lambda p=path: audio.load(p, max_duration=None), args.repeat)
                t_stream = best(lambda p=path: sum(1 for _ in audio.stream(p)), args.repeat)
                if name == "flac":
                    base_load, base_stream = t_load, t_stream
                row = {
                    "seconds": seconds,
                    "format": name,
                    "bytes": path.stat().st_size,
                    "load_s": round(t_load, 4),
                    "load_vs_flac": round(t_load / base_load, 2),
                    "stream_s": round(t_stream, 4),
                    "stream_vs_flac": round(t_stream / base_stream, 2),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        meta = {"python": sys.version.split()[0], "machine": platform.platform()}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
