"""How much accuracy survives other recordings: degraded test clips, speaker-kfold folds.

RAVDESS speech, 8 classes, the ``speaker-kfold`` folds (5, grouped by actor).
Each fold's model is trained once (clean clips only, or clean plus ``--augment``
degraded copies per clip) and then predicts the fold's test clips under each
condition, with the degradation applied to the test clips only: clean, 8 kHz
telephone band with mu-law, pink noise at 10 dB and 0 dB SNR, MP3 at about
12 kbit/s, reverberation (RT60 0.6 s). UAR over all clips, global
standardisation and session normalisation (each test speaker's clips, all in
the same condition, z-scored together).

Usage::

    python benchmarks/robustness.py [--features stats] [--model mlp] [--augment 2] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from features import DEFAULT_ROOT, machine, write_section  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from serkit.augment import Chain, Mp3, Noise, Reverb, Telephone  # noqa: E402
from serkit.cli import default_cache_dir  # noqa: E402
from serkit.evaluation import compute_metrics, speaker_kfold  # noqa: E402
from serkit.features import extract_files  # noqa: E402
from serkit.models import AugmentedTraining, make_model, speaker_standardize  # noqa: E402
from serkit.workflows import augment_table, load_table  # noqa: E402

CONDITIONS = {
    "clean": None,
    "telephone 8 kHz": Chain(steps=(Telephone(),), seed=101),
    "pink noise 10 dB": Chain(steps=(Noise(snr_db=10.0, color="pink"),), seed=102),
    "pink noise 0 dB": Chain(steps=(Noise(snr_db=0.0, color="pink"),), seed=103),
    "MP3 ~12 kbit/s": Chain(steps=(Mp3(compression=0.9),), seed=104),
    "reverb RT60 0.6 s": Chain(steps=(Reverb(rt60=0.6, wet=0.5),), seed=105),
}
STORE = HERE / "robustness.json"


def condition_features(table, chain, cache: Path) -> np.ndarray:
    if chain is None:
        return np.asarray(table.features, dtype=np.float64)
    result = extract_files(
        table.meta["path"].tolist(), table.spec, cache_dir=cache, transform=chain, progress=True
    )
    if result.errors:
        raise SystemExit(f"{len(result.errors)} clips failed under {chain}: {result.errors}")
    return result.matrix().astype(np.float64)


def run(features: str, model: str, augment: int, root: Path, cache: Path) -> dict:
    table = load_table(root, features=features, cache_dir=cache, progress=True)
    y = table.meta["emotion"].astype(str).to_numpy()
    groups = (table.meta["corpus"] + ":" + table.meta["speaker"].astype(str)).to_numpy()
    labels = sorted(set(y))
    tests = {name: condition_features(table, chain, cache) for name, chain in CONDITIONS.items()}
    extra = None
    if augment:
        aug = augment_table(table, copies=augment, cache_dir=cache, progress=True)
        extra = {
            "X": np.asarray(aug.features, dtype=np.float64),
            "y": aug.meta["emotion"].astype(str).to_numpy(),
            "source": aug.meta["source_index"].to_numpy(),
            "session": aug.meta["session"].astype(str).to_numpy(),
        }
    out: dict = {}
    for norm in (False, True):
        preds = {name: np.empty(len(y), dtype=object) for name in tests}
        X_train = speaker_standardize(tests["clean"], groups) if norm else tests["clean"]
        for train, test in speaker_kfold(groups, n_splits=5):
            base = make_model(model)
            if extra is not None:
                X_extra = speaker_standardize(extra["X"], extra["session"]) if norm else extra["X"]
                clf = AugmentedTraining(base, X_extra, extra["y"], extra["source"])
                clf.fit(X_train[train], y[train], source_rows=train)
            else:
                clf = base.fit(X_train[train], y[train])
            for name, X_cond in tests.items():
                X_test = X_cond[test]
                if norm:
                    X_test = speaker_standardize(X_test, groups[test])
                preds[name][test] = clf.predict(X_test)
        key = "session" if norm else "global"
        out[key] = {
            name: compute_metrics(y, pred.astype(str), labels=labels)["uar"]
            for name, pred in preds.items()
        }
        print(key, {k: round(100 * v, 1) for k, v in out[key].items()}, flush=True)
    return out


def markdown(store: dict) -> str:
    names = list(CONDITIONS)
    lines = [
        "<!-- robustness:start -->",
        "## Robustness (`benchmarks/robustness.py`)",
        "",
        f"{machine()}. RAVDESS speech, 8 classes, `speaker-kfold` (5 folds), UAR over all",
        "clips. Degradations are applied to the **test clips only**; training is clean, or clean",
        "plus N augmented copies per clip (`--augment N`: one random channel per speaker copy:",
        "EQ, reverb, noise 0-30 dB, telephone, MP3, gain). *session* = each test speaker's clips",
        "z-scored together (`--session-norm`).",
        "",
        "| recipe | norm | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for recipe, row in store.items():
        for norm in ("global", "session"):
            cells = []
            clean = row[norm]["clean"]
            for name in names:
                value = row[norm][name]
                delta = "" if name == "clean" else f" ({100 * (value - clean):+.1f})"
                cells.append(f"{100 * value:.1f}{delta}")
            lines.append(f"| {recipe} | {norm} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Reproduce: `python benchmarks/robustness.py --augment 0 --write` and `--augment 2`.",
        "<!-- robustness:end -->",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--features", default="stats")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--augment", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    start = time.perf_counter()
    with threadpool_limits(1):
        row = run(args.features, args.model, args.augment, args.root, args.cache_dir)
    recipe = f"{args.features} + {args.model}, augment {args.augment}"
    store = json.loads(STORE.read_text()) if STORE.exists() else {}
    store[recipe] = row
    STORE.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
    print(f"{recipe}: {time.perf_counter() - start:.0f} s")
    text = markdown(store)
    print(text)
    if args.write:
        write_section(text, "robustness")


if __name__ == "__main__":
    main()
