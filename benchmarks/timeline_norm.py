"""Timeline default: does normalising over the recording's own speech beat the per-window model?

Long recordings are built from one speaker's clips (all clips of a held-out speaker, shuffled
with a fixed seed, separated by 0.5-1.5 s pauses with noise at -60 dBFS; the emotion of every
stretch is known). Each is run through :func:`serkit.timeline.predict_timeline` twice: per
window (``speaker_norm=False``) and normalised over the recording (``speaker_norm=True``: the
windows' features are standardised together and the recognizer's speaker-normalised model
predicts them), each with the default smoothing (3 windows) and without (``smooth=1``). The
features of a window are computed once and shared by the four runs.

Scores, over the held-out speakers of each corpus:

- **window UAR**: each (smoothed) window row of the timeline against the emotion of the clip it
  overlaps most;
- **clip UAR**: the mean of the windows of each clip, against its emotion.

Only emotions the model knows are scored (EmoDB's ``bored`` is left out for RAVDESS-only
models). Models:

- ``shipped``: ``src/serkit/models/default`` as it is (held-out speakers: RAVDESS actors 23-24,
  which it never saw, and every EmoDB-2s speaker: it never saw EmoDB);
- ``whisper``: ``whisper:pad=10,pool=mean`` + ``logreg:C=0.1`` trained here on RAVDESS actors
  01-16 and EmoDB-2s speakers 03, 08, 10, 13, 15 (labels: the union), tested on RAVDESS actors
  17-24 and EmoDB-2s speakers 09, 11, 12, 14, 16 (no speaker on both sides; speakers fixed
  before any result was seen). Its training vectors come from the store of
  ``benchmarks/whisper.py encode --pad 10`` when present (checked against a fresh extraction),
  else are extracted here.

Usage::

    python benchmarks/timeline_norm.py [--models shipped,whisper] [--chunk 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CORPORA = {"ravdess": DATA / "ravdess-speech-16k", "emodb": DATA / "emodb-2s"}
SR = 16000
WHISPER_SPEC = "whisper:pad=10,pool=mean"
WHISPER_HEAD = "logreg"
WHISPER_PARAMS = {"C": 0.1}
TEST_SPEAKERS = {
    "ravdess": [f"{a:02d}" for a in range(17, 25)],
    "emodb": ["09", "11", "12", "14", "16"],
}
SHIPPED_TEST = {
    "ravdess": ["23", "24"],
    "emodb": TEST_SPEAKERS["emodb"] + ["03", "08", "10", "13", "15"],
}
STORE = Path(os.environ.get("SERKIT_CACHE_DIR", Path.home() / ".cache" / "serkit"))


def _frames() -> dict:
    from serkit.corpora import load_corpus

    return {c: load_corpus(d, c).to_frame() for c, d in CORPORA.items()}


def _active(y: np.ndarray) -> np.ndarray:
    """A clip from its first to its last 20 ms frame within 30 dB of its loudest one."""
    n = len(y) // 320
    if n == 0:
        return y
    rms = np.sqrt(np.mean(y[: n * 320].reshape(n, 320) ** 2, axis=1) + 1e-12)
    on = np.flatnonzero(20 * np.log10(rms / rms.max()) > -30)
    return y[on[0] * 320 : (on[-1] + 1) * 320]


def recording(
    frame, speaker: str, layout: str = "shuffled", seed: int = 0
) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """One speaker's clips as one recording; returns the signal and (start, end, emotion) rows.

    ``shuffled``: every clip whole, in random order, 0.5-1.5 s pauses between clips (the
    emotion changes at almost every clip). ``runs``: the clips grouped by emotion (emotions
    and the clips within each in random order), each trimmed to its active part (30 dB below
    its peak), 0.1-0.3 s pauses inside a run and 0.5-1.5 s between runs: long stretches of
    continuous speech in one emotion, as in a call.
    """
    from serkit import audio

    rows = frame[frame["speaker"] == speaker].reset_index(drop=True)
    rng = np.random.default_rng([seed, int(speaker)])
    order = list(rng.permutation(len(rows)))
    if layout == "runs":
        emotions = list(rng.permutation(sorted(set(rows["emotion"]))))
        order = [i for e in emotions for i in order if rows["emotion"][i] == e]
    elif layout != "shuffled":
        raise ValueError(f"layout must be shuffled or runs; got {layout!r}")
    parts, truth, t, previous = [], [], 0.0, None
    for i in order:
        emotion = rows["emotion"][i]
        inside = layout == "runs" and emotion == previous
        gap = rng.uniform(0.1, 0.3) if inside else rng.uniform(0.5, 1.5)
        parts.append(rng.normal(0, 1e-3, round(gap * SR)).astype(np.float32))
        t += gap
        y, _ = audio.load(rows["path"][i], sr=SR)
        y = _active(y) if layout == "runs" else y
        parts.append(y.astype(np.float32))
        truth.append((t, t + len(y) / SR, emotion))
        t += len(y) / SR
        previous = emotion
    parts.append(rng.normal(0, 1e-3, SR).astype(np.float32))
    return np.concatenate(parts), truth


def _uar(true: list[str], pred: list[str]) -> float:
    labels = sorted(set(true))
    recalls = [
        np.mean([p == lab for t, p in zip(true, pred, strict=True) if t == lab]) for lab in labels
    ]
    return float(np.mean(recalls)) if recalls else float("nan")


def score(timeline, truth) -> dict:
    """Window and clip labels of one timeline."""
    starts = np.array([s for s, _, _ in truth])
    ends = np.array([e for _, e, _ in truth])
    w_true, w_pred = [], []
    per_clip: dict[int, list[np.ndarray]] = {}
    classes = timeline.classes
    for seg in timeline.windows:
        overlap = np.minimum(ends, seg.end) - np.maximum(starts, seg.start)
        k = int(np.argmax(overlap))
        if overlap[k] <= 0:
            continue
        w_true.append(truth[k][2])
        w_pred.append(seg.emotion)
        per_clip.setdefault(k, []).append(np.array([seg.probabilities[c] for c in classes]))
    c_true = [truth[k][2] for k in per_clip]
    c_pred = [classes[int(np.argmax(np.mean(v, axis=0)))] for v in per_clip.values()]
    return {
        "w_true": w_true,
        "w_pred": w_pred,
        "c_true": c_true,
        "c_pred": c_pred,
        "clips_missed": len(truth) - len(per_clip),
    }


def _memoised(rec):
    """Let the timeline runs share each window's features (keyed by the samples' hash).

    Covers both paths: one window at a time (``feature_row``) and a stretch of windows
    from one encoder pass (``serkit.timeline.window_batcher``).
    """
    import serkit.timeline as timeline_module

    cache: dict[bytes, object] = {}
    spent = [0.0]

    def key_of(samples: np.ndarray, extra: object = None) -> bytes:
        digest = hashlib.blake2b(np.ascontiguousarray(samples).tobytes(), digest_size=16)
        digest.update(repr(extra).encode())
        return digest.digest()

    def remembered(key: bytes, compute):
        if key not in cache:
            start = time.process_time()
            cache[key] = compute()
            spent[0] += time.process_time() - start
        return cache[key]

    original_row = rec.feature_row
    rec.feature_row = lambda samples, rate: remembered(
        key_of(samples), lambda: original_row(samples, rate)
    )
    original_batcher = timeline_module.window_batcher

    def batcher(recognizer):
        batch = original_batcher(recognizer)
        if batch is None:
            return None
        return lambda samples, rate, windows: remembered(
            key_of(samples, windows), lambda: batch(samples, rate, windows)
        )

    timeline_module.window_batcher = batcher
    return spent


def whisper_model(frames: dict):
    """``whisper:pad=10,pool=mean`` + ``logreg:C=0.1`` on the training speakers of both corpora."""
    from serkit import audio
    from serkit.features import get_extractor
    from serkit.recognizer import EmotionRecognizer

    ext = get_extractor(WHISPER_SPEC)
    X, y, groups = [], [], []
    for corpus, frame in frames.items():
        train = frame[~frame["speaker"].isin(TEST_SPEAKERS[corpus])]
        store = STORE / "whisper-bench" / f"pad10-int8.{corpus}.npz"
        if store.exists():
            data = np.load(store)  # arrays only (no pickles): rows follow the corpus order
            means = data["mean"]
            if len(means) != len(frame):
                raise SystemExit(f"{store}: {len(means)} rows, the corpus has {len(frame)}")
            first = train.index[0]
            fresh = ext.extract(*audio.load(frame["path"][first], sr=SR))
            if not np.allclose(fresh, means[first], atol=1e-4):
                raise SystemExit(f"{store}: row {first} differs from a fresh extraction")
            X.append(means[train.index.to_numpy()])
        else:
            from tqdm import tqdm

            X.append(np.stack([ext.extract(*audio.load(p, sr=SR)) for p in tqdm(train["path"])]))
        y += list(train["emotion"])
        groups += [f"{corpus}:{s}" for s in train["speaker"]]
    rec = EmotionRecognizer(WHISPER_SPEC, WHISPER_HEAD, params=WHISPER_PARAMS)
    return rec.fit(np.vstack(X), y, groups=groups)


def evaluate(
    name: str, rec, frames: dict, speakers: dict, layout: str, **timeline_kw
) -> list[dict]:
    from tqdm import tqdm

    from serkit.timeline import predict_timeline

    known = {str(c) for c in rec.classes_}
    spent = _memoised(rec)
    rows = []
    for corpus, ids in speakers.items():
        runs = [(norm, smooth) for norm in (False, True) for smooth in (3, 1)]
        acc = {
            run: {"w_true": [], "w_pred": [], "c_true": [], "c_pred": [], "missed": 0}
            for run in runs
        }
        audio_s = 0.0
        spent[0] = 0.0
        wall = time.perf_counter()
        for spk in tqdm(ids, desc=f"{name} {corpus}", file=sys.stderr):
            frame = frames[corpus]
            frame = frame[frame["emotion"].isin(known)]
            y, truth = recording(frame, spk, layout)
            audio_s += len(y) / SR
            for norm, smooth in runs:
                tl = predict_timeline(rec, (y, SR), speaker_norm=norm, smooth=smooth, **timeline_kw)
                s = score(tl, truth)
                for key in ("w_true", "w_pred", "c_true", "c_pred"):
                    acc[norm, smooth][key] += s[key]
                acc[norm, smooth]["missed"] += s["clips_missed"]
        for norm, smooth in runs:
            a = acc[norm, smooth]
            rows.append(
                {
                    "model": name,
                    "layout": layout,
                    "corpus": corpus,
                    "speakers": ids,
                    "mode": "recording norm" if norm else "per window",
                    "smooth": smooth,
                    "window_uar": _uar(a["w_true"], a["w_pred"]),
                    "n_windows": len(a["w_true"]),
                    "clip_uar": _uar(a["c_true"], a["c_pred"]),
                    "n_clips": len(a["c_true"]),
                    "clips_without_window": a["missed"],
                    "audio_min": audio_s / 60,
                    "feature_cpu_s": spent[0],
                    "wall_s_all_runs": time.perf_counter() - wall,
                    "timeline": {k: v for k, v in timeline_kw.items()},
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def agreement(frames: dict, chunks: list[float], layout: str, n_speakers: int = 3) -> list[dict]:
    """Chunked encoding against one encoder pass per window: same windows, same model."""
    from serkit.timeline import predict_timeline

    rec = whisper_model(frames)
    rows = []
    for corpus, ids in TEST_SPEAKERS.items():
        for spk in ids[:n_speakers]:
            y, _ = recording(frames[corpus], spk, layout)
            runs = {}
            for chunk in [0.0, *chunks]:
                start = time.process_time()
                tl = predict_timeline(rec, (y, SR), smooth=1, encoder_chunk=chunk)
                cpu = time.process_time() - start
                proba = np.array([[w.probabilities[c] for c in tl.classes] for w in tl.windows])
                runs[chunk] = (tl, proba, cpu)
            base_tl, base_p, base_cpu = runs[0.0]
            for chunk in chunks:
                tl, proba, cpu = runs[chunk]
                same = [
                    a.emotion == b.emotion for a, b in zip(base_tl.windows, tl.windows, strict=True)
                ]
                row = {
                    "corpus": corpus,
                    "speaker": spk,
                    "chunk_s": chunk,
                    "layout": layout,
                    "n_windows": len(same),
                    "agreement": float(np.mean(same)),
                    "max_abs_proba_diff": float(np.abs(base_p - proba).max()),
                    "cpu_s_per_window": base_cpu,
                    "cpu_s_chunked": cpu,
                    "audio_s": len(y) / SR,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def render(path: Path) -> str:
    """Markdown table of the rows in ``path``: per-window and recording-norm UAR side by side."""
    rows = json.loads(path.read_text())
    out = [
        "| model | recordings | corpus (test speakers) | encoder chunk | windows | "
        "per window: window / clip UAR | recording norm: window / clip UAR | "
        "same, smooth=1: per window / norm (window UAR) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keyed = {
        (r["model"], r["layout"], r["corpus"], r["timeline"].get("encoder_chunk"), r["mode"],
         r["smooth"]): r
        for r in rows
    }  # fmt: skip
    seen = []
    for r in rows:
        key = (r["model"], r["layout"], r["corpus"], r["timeline"].get("encoder_chunk"))
        if key in seen:
            continue
        seen.append(key)
        get = {
            (m, s): keyed[(*key, m, s)] for m in ("per window", "recording norm") for s in (3, 1)
        }
        pw, rn = get["per window", 3], get["recording norm", 3]
        chunk = key[3]
        out.append(
            f"| {key[0]} | {key[1]} | {key[2]} ({len(r['speakers'])}) | "
            f"{'-' if chunk is None else f'{chunk:g} s'} | {pw['n_windows']} | "
            f"{100 * pw['window_uar']:.1f} / {100 * pw['clip_uar']:.1f} | "
            f"{100 * rn['window_uar']:.1f} / {100 * rn['clip_uar']:.1f} | "
            f"{100 * get['per window', 1]['window_uar']:.1f} / "
            f"{100 * get['recording norm', 1]['window_uar']:.1f} |"
        )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="shipped,whisper")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "timeline_norm.json")
    p.add_argument("--layout", default="runs", choices=("runs", "shuffled"))
    p.add_argument("--render", action="store_true", help="print the table of --json and stop")
    p.add_argument(
        "--chunk",
        type=float,
        default=None,
        help="whisper: encode speech in pieces of this many seconds (timeline encoder_chunk)",
    )
    p.add_argument(
        "--agreement",
        default=None,
        metavar="CHUNKS",
        help="compare chunked encoding (comma-separated seconds) with per window",
    )
    args = p.parse_args()
    from serkit.recognizer import EmotionRecognizer

    if args.render:
        print(render(args.json))
        return
    frames = _frames()
    if args.agreement:
        rows = agreement(frames, [float(c) for c in args.agreement.split(",")], args.layout)
        out = args.json.with_name("timeline_chunk.json")
        old = json.loads(out.read_text()) if out.exists() else []
        out.write_text(json.dumps(old + rows, indent=1) + "\n")
        return
    rows = []
    for name in args.models.split(","):
        if name == "shipped":
            rec = EmotionRecognizer.load(ROOT / "src" / "serkit" / "models" / "default")
            spec = rec.feature_spec_ or {}
            label = f"shipped-{spec.get('name', 'model')}" if isinstance(spec, dict) else name
            kw = {}
            if label == "shipped-whisper":
                from serkit.timeline import ENCODER_CHUNK

                kw = {"encoder_chunk": ENCODER_CHUNK if args.chunk is None else args.chunk}
            rows += evaluate(label, rec, frames, SHIPPED_TEST, args.layout, **kw)
        elif name == "whisper":
            rec = whisper_model(frames)
            from serkit.timeline import ENCODER_CHUNK

            kw = {"encoder_chunk": ENCODER_CHUNK if args.chunk is None else args.chunk}
            rows += evaluate(name, rec, frames, TEST_SPEAKERS, args.layout, **kw)
        else:
            raise SystemExit(f"unknown model {name!r}: shipped or whisper")
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M"),
        "machine": platform.processor() or platform.machine(),
        "load": os.getloadavg()[0],
    }
    old = json.loads(args.json.read_text()) if args.json.exists() else []
    args.json.write_text(json.dumps(old + [{**meta, **r} for r in rows], indent=1) + "\n")


if __name__ == "__main__":
    main()
