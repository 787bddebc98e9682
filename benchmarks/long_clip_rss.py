"""Memory of long uploads: server RSS growth per concurrent request (issue 13).

The issue's target: any upload within the limits (60 s for ``/v1/predict``, 50 MB)
raises ``serkit serve``'s resident memory by at most 200 MB per concurrent request.
For each model and each concurrency ``c``, a fresh ``serkit serve`` gets ``c``
simultaneous uploads; the figure is its peak RSS (VmHWM) after them less its RSS
when idle (model loaded, warm-up done), divided by ``c``. Uploads:

* ``speech59``: 59 s of speech at 16 kHz mono (RAVDESS clips end to end), FLAC;
* ``wav192k``: the same 59 s resampled to 192 kHz stereo, 16-bit WAV (~45 MB,
  the largest kind of upload within both limits);

then, on the ``c=1`` server, one ``POST /v1/timeline`` of ``speech59``.

``--timeline-minutes M`` instead posts one M-minute FLAC (``speech59`` repeated; 60 is
the timeline's limit, ~27 MB) to ``/v1/timeline`` of a fresh server per model.

``--library SPEC`` instead measures one feature extraction of ``speech59`` in a
fresh process (VmHWM growth over the process before extracting), for the
feature sets a served model may use (``stats``, ``seed``, ``egemaps``, ``whisper``).

Usage::

    python benchmarks/long_clip_rss.py [--model DIR ...] [--concurrency 1 3 8]
        [--inference-threads N] [--json out.json]
    python benchmarks/long_clip_rss.py --timeline-minutes 60 [--model DIR ...]
    python benchmarks/long_clip_rss.py --library stats:denoise=true,active_db=20 seed egemaps
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf
from _procmem import hwm_mb, rss_mb

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ravdess-speech-16k"


def speech(seconds: float = 59.0, data: Path = DATA) -> np.ndarray:
    """``seconds`` of RAVDESS speech at 16 kHz, clips end to end (sorted, deterministic)."""
    parts, total = [], 0
    for path in sorted(data.glob("Actor_*/*.flac")):
        y, _ = sf.read(path, dtype="float32")
        if y.ndim > 1:
            y = y.mean(axis=1)
        parts.append(y)
        total += len(y)
        if total >= seconds * 16000:
            break
    return np.concatenate(parts)[: int(seconds * 16000)]


def uploads(y: np.ndarray) -> dict[str, bytes]:
    """The upload bodies: 16 kHz mono FLAC and 192 kHz stereo WAV of the same speech."""
    from scipy.signal import resample_poly

    flac = io.BytesIO()
    sf.write(flac, y, 16000, format="FLAC")
    hi = resample_poly(y, 12, 1).astype(np.float32)
    wav = io.BytesIO()
    sf.write(wav, np.stack([hi, hi], axis=1), 192000, subtype="PCM_16", format="WAV")
    return {"speech59": flac.getvalue(), "wav192k": wav.getvalue()}


def post(url: str, data: bytes, codes: list) -> None:
    """POST raw audio; record the status (or the error)."""
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=900) as resp:
            resp.read()
            codes.append(resp.status)
    except urllib.error.HTTPError as exc:
        codes.append(exc.code)
    except OSError as exc:
        codes.append(str(exc))


def serve(model: str | None, inference_threads: int | None) -> tuple[subprocess.Popen, str]:
    """Start ``serkit serve`` on a free port; the process and its base URL, once healthy."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "serkit", "serve", "--port", str(port), "-q"]
    if model:
        cmd += ["--model", model]
    if inference_threads is not None:
        cmd += ["--inference-threads", str(inference_threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(1500):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).read()
            return proc, base
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"serkit serve exited with {proc.returncode}") from None
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("serkit serve did not become healthy")


def service_growth(model: str | None, c: int, body: bytes, threads: int | None,
                   timeline: bytes | None) -> dict:  # fmt: skip
    """Idle RSS, peak after ``c`` concurrent predictions (and a timeline), growth per request."""
    proc, base = serve(model, threads)
    try:
        time.sleep(1.0)
        idle = rss_mb(proc.pid)
        codes: list = []
        workers = [threading.Thread(target=post, args=(base + "/v1/predict", body, codes))
                   for _ in range(c)]  # fmt: skip
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        seconds = time.perf_counter() - t0
        peak = hwm_mb(proc.pid)
        row = {
            "concurrency": c,
            "idle_rss_mb": round(idle, 1),
            "peak_rss_mb": round(peak, 1),
            "growth_per_request_mb": round((peak - idle) / c, 1),
            "wall_s": round(seconds, 1),
            "codes": codes,
        }
        if timeline is not None:
            tl_codes: list = []
            post(base + "/v1/timeline", timeline, tl_codes)
            row["peak_after_timeline_mb"] = round(hwm_mb(proc.pid), 1)
            row["timeline_growth_mb"] = round(hwm_mb(proc.pid) - idle, 1)
            row["timeline_codes"] = tl_codes
        return row
    finally:
        proc.terminate()
        proc.wait(timeout=60)


LIBRARY_CODE = """
import sys, numpy as np
sys.path.insert(0, {bench!r})
from _procmem import hwm_mb, rss_mb
from serkit.features import get_extractor
y = np.load({signal!r})
ext = get_extractor({spec!r})
ext.extract(y[:16000], 16000)  # imports, models and caches loaded before measuring
before = max(rss_mb(), hwm_mb())
ext.extract(y, 16000)
print(before, hwm_mb())
"""


def library_growth(spec: str, signal: Path) -> dict:
    """Peak RSS growth of one extraction of ``signal`` in a fresh process."""
    code = LIBRARY_CODE.format(bench=str(Path(__file__).parent), signal=str(signal), spec=spec)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        return {"spec": spec, "error": out.stderr[-500:]}
    before, peak = map(float, out.stdout.split()[-2:])
    return {"spec": spec, "rss_before_mb": round(before, 1), "peak_mb": round(peak, 1),
            "growth_mb": round(peak - before, 1)}  # fmt: skip


def timeline_growth(model: str | None, y: np.ndarray, minutes: float) -> dict:
    """Idle RSS and peak after one ``/v1/timeline`` of ``y`` repeated to ``minutes``."""
    reps = int(np.ceil(minutes * 60 * 16000 / len(y)))
    flac = io.BytesIO()
    sf.write(flac, np.tile(y, reps)[: int(minutes * 60 * 16000)], 16000, format="FLAC")
    proc, base = serve(model, None)
    try:
        time.sleep(1.0)
        idle = rss_mb(proc.pid)
        codes: list = []
        t0 = time.perf_counter()
        post(base + "/v1/timeline", flac.getvalue(), codes)
        return {"model": model or "shipped", "minutes": minutes, "bytes": len(flac.getvalue()),
                "idle_rss_mb": round(idle, 1), "peak_rss_mb": round(hwm_mb(proc.pid), 1),
                "growth_mb": round(hwm_mb(proc.pid) - idle, 1),
                "wall_s": round(time.perf_counter() - t0, 1), "codes": codes}  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> None:
    """Measure and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="*", default=[None], help="bundle folders (shipped)")
    parser.add_argument("--concurrency", nargs="*", type=int, default=[1, 3, 8])
    parser.add_argument("--uploads", nargs="*", default=["speech59", "wav192k"])
    parser.add_argument("--inference-threads", type=int, default=None)
    parser.add_argument("--timeline-minutes", type=float, default=None)
    parser.add_argument("--library", nargs="*", metavar="SPEC", help="feature specs instead")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    y = speech()
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    with tempfile.TemporaryDirectory() as tmp:
        if args.timeline_minutes:
            report["timeline"] = [timeline_growth(m, y, args.timeline_minutes) for m in args.model]
        elif args.library:
            np.save(Path(tmp) / "y.npy", y)
            report["library"] = [library_growth(s, Path(tmp) / "y.npy") for s in args.library]
        else:
            bodies = uploads(y)
            report["upload_bytes"] = {k: len(v) for k, v in bodies.items()}
            report["inference_threads"] = args.inference_threads
            rows = []
            for model in args.model:
                for name in args.uploads:
                    for c in args.concurrency:
                        tl = bodies["speech59"] if c == 1 and name == "speech59" else None
                        row = service_growth(model, c, bodies[name], args.inference_threads, tl)
                        row |= {"model": model or "shipped", "upload": name}
                        print(json.dumps(row), file=sys.stderr, flush=True)
                        rows.append(row)
            report["service"] = rows
    report["load"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
