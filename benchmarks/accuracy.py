"""Speaker-independent accuracy of every classic model on every feature set.

RAVDESS speech, 8 classes, ``speaker-kfold`` (5 folds grouped by actor, clips
sorted by path, every clip predicted once), UAR over all clips, with global
standardisation and with ``--speaker-norm``. Also the seed's own protocol
(4 emotions, random 75/25 split, random_state 7, seed features, seed MLP).
Each row records the wall time of its 5-fold run on cached features.

Usage::

    python benchmarks/accuracy.py [--features seed,stats] [--models mlp,svm] [--write]

Rows accumulate in ``benchmarks/accuracy.json`` (keyed by feature set and model), so
subsets can be run separately; ``--write`` renders all stored rows into RESULTS.md.
Everything runs with one BLAS/OpenMP thread: on 2 cores, oversubscribed OpenMP
threads made HistGradientBoosting tens of times slower.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from features import DEFAULT_ROOT, machine, write_section  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from serkit.cli import default_cache_dir  # noqa: E402
from serkit.workflows import evaluate_table, load_table  # noqa: E402

FEATURES = {
    "seed": "seed",
    "seed5": "seed:groups=mfcc+chroma+mel+contrast+tonnetz",
    "stats": "stats",
    "egemaps": "egemaps",
    "compare": "compare",
}
MODELS = ("mlp", "svm", "rf", "dt", "knn", "logreg", "hgb")
STORE = HERE / "accuracy.json"


def load_store() -> dict:
    return json.loads(STORE.read_text()) if STORE.exists() else {"rows": {}, "seed": None}


def save_store(store: dict) -> None:
    STORE.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")


def _slim(res: dict) -> dict:
    keep = ("accuracy", "uar", "macro_f1", "uar_mean", "uar_std", "accuracy_std", "n_clips")
    return {k: res[k] for k in keep if k in res}


def seed_protocol(root: Path, cache: Path) -> dict:
    table = load_table(
        root, features="seed", emotions=("angry", "happy", "neutral", "sad"), cache_dir=cache
    )
    report, _ = evaluate_table(table, models=["mlp"], protocol="random")
    res = report["results"]["mlp"]
    print(f"seed protocol (random 75/25, 4 classes, seed MLP): accuracy {res['accuracy']:.3f}")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--features", default=",".join(FEATURES))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument(
        "--render-only", action="store_true", help="only render the stored rows into RESULTS.md"
    )
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    store = load_store()
    if args.render_only:
        write_section(markdown(store["seed"], list(store["rows"].values())), "accuracy")
        return
    with threadpool_limits(1):
        store["seed"] = _slim(seed_protocol(args.root, args.cache_dir))
        save_store(store)
        for label in [f for f in args.features.split(",") if f]:
            table = load_table(
                args.root, features=FEATURES[label], cache_dir=args.cache_dir, progress=True
            )
            for model in models:
                row = {"features": label, "model": model, "date": dt.date.today().isoformat()}
                for norm in (False, True):
                    start = time.perf_counter()
                    report, _ = evaluate_table(table, models=[model], speaker_norm=norm)
                    key = "norm" if norm else "global"
                    row[key] = _slim(report["results"][model])
                    row[f"{key}_s"] = round(time.perf_counter() - start, 1)
                store["rows"][f"{label}/{model}"] = row
                save_store(store)
                print(
                    f"{label:<8} {model:<7} UAR {100 * row['global']['uar']:5.1f} % "
                    f"(± {100 * row['global']['uar_std']:.1f})  speaker-norm "
                    f"{100 * row['norm']['uar']:5.1f} %  [{row['global_s']:.0f} s]",
                    flush=True,
                )
    text = markdown(store["seed"], list(store["rows"].values()))
    print(text)
    if args.write:
        write_section(text, "accuracy")


def markdown(seed: dict, rows: list[dict]) -> str:
    lines = [
        "<!-- accuracy:start -->",
        "## Accuracy (`benchmarks/accuracy.py`)",
        "",
        f"{machine()}. RAVDESS speech (1440 clips, 24 actors). One BLAS thread.",
        "",
        "**The seed's protocol** (4 emotions, 672 clips, random 75/25 split with",
        "`random_state=7`, seed features, seed MLP, standardised): accuracy "
        f"**{100 * seed['accuracy']:.1f} %** (UAR {100 * seed['uar']:.1f} %; ANCHORS: 82.7 %).",
        "Speakers appear on both sides of this split, so it measures memory of voices.",
        "",
        "**Speaker-independent, 8 classes**: `speaker-kfold` (5 folds grouped by actor, every",
        "clip predicted once), UAR pooled over all clips, ± = std of per-fold UAR. *global* =",
        "standardisation fitted on the training folds; *speaker-norm* = features z-scored per",
        "speaker with that speaker's unlabelled clips. Time = one 5-fold run on cached features,",
        "measured while the 2 cores were shared with other jobs (load average 5-10): upper bounds.",
        "",
        "| features | model | UAR global | accuracy | UAR speaker-norm | time | date |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -r["global"]["uar"]):
        g, n = r["global"], r["norm"]
        lines.append(
            f"| {r['features']} | {r['model']} | {100 * g['uar']:.1f} % ± {100 * g['uar_std']:.1f} "
            f"| {100 * g['accuracy']:.1f} % | {100 * n['uar']:.1f} % ± {100 * n['uar_std']:.1f} "
            f"| {r['global_s']:.0f} s | {r.get('date', '')} |"
        )
    lines += [
        "",
        "Reproduce: `python benchmarks/accuracy.py --write` (add `--features`/`--models` for a",
        "subset).",
        "<!-- accuracy:end -->",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
