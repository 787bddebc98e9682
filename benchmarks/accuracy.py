"""Speaker-independent accuracy of every classic model on every feature set.

RAVDESS speech, 8 classes, ``speaker-kfold`` (5 folds grouped by actor, clips
sorted by path, every clip predicted once), UAR over all clips, with global
standardisation and with ``--speaker-norm``. Also the seed's own protocol
(4 emotions, random 75/25 split, random_state 7, seed features, seed MLP).
Each row records the wall time of its 5-fold run on cached features.

Usage::

    python benchmarks/accuracy.py [--features seed,stats] [--models mlp,svm] [--write]
    python benchmarks/accuracy.py --neural [--threads 2] [--write]

``--neural`` runs the networks (``cnn1d``, ``specnet``; needs ``serkit[deep]``) and
the ensembles declared in :data:`ENSEMBLES` through ``evaluate_table``, the code
behind ``serkit evaluate``. Each network is trained once per fold; an ensemble's
probabilities are the mean of its members' fold probabilities, which is what
``--models ensemble:A+B`` computes, since every member is fitted on the same
training clips with the same seed (``tests/test_neural_workflows.py`` checks the
equality). The ensembles are fixed here in advance, not picked by their scores.
With ``--speaker-norm`` the classic members read per-speaker z-scores; the
networks read the same frames either way (they normalise each utterance).

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
NETWORKS = ("cnn1d", "specnet")
CLASSIC_MEMBERS = ("svm@compare", "logreg@compare", "mlp@stats", "svm@stats")
ENSEMBLES = (
    ("specnet", "svm@compare"),
    ("specnet", "mlp@stats"),
    ("specnet", "svm@compare", "mlp@stats"),
    ("cnn1d", "svm@compare"),
)
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


def neural_rows(root: Path, cache: Path, threads: int | None) -> list[dict]:
    """Networks, classic members and the declared ensembles, global and speaker-norm."""
    import numpy as np

    from serkit.evaluation import compute_metrics, speaker_kfold
    from serkit.workflows import load_tables

    specs = ["logmel", "seed", "stats", "compare"]
    tables = load_tables(root, specs, cache_dir=cache, progress=True)
    first = tables["logmel"]
    y = first.meta["emotion"].astype(str).to_numpy()
    groups = (first.meta["corpus"].astype(str) + ":" + first.meta["speaker"].astype(str)).to_numpy()
    labels = sorted(set(y))
    folds = speaker_kfold(groups, n_splits=5)
    probas: dict[tuple[str, bool], np.ndarray] = {}
    seconds: dict[str, float] = {}

    def run(name: str, features: str | None, norm: bool) -> None:
        start = time.perf_counter()
        report, results = evaluate_table(
            tables, models=[name], features=features, speaker_norm=norm, threads=threads,
            progress=True,
        )  # fmt: skip
        res = results[name]
        proba = np.zeros((len(y), len(labels)))
        proba[res.indices] = res.proba
        member = name if features is None else f"{name}@{features}"
        probas[(member, norm)] = proba
        seconds[member] = round(time.perf_counter() - start, 1)
        print(f"{member:<16} {'speaker-norm' if norm else 'global':<12} UAR "
              f"{100 * report['results'][name]['uar']:5.1f} %  [{seconds[member]:.0f} s]",
              flush=True)  # fmt: skip

    for net in NETWORKS:
        run(net, None, False)
        probas[(net, True)] = probas[(net, False)]  # frames are not speaker-normalised
    for member in CLASSIC_MEMBERS:
        model, _, features = member.partition("@")
        for norm in (False, True):
            run(model, features, norm)

    def scores(proba: np.ndarray) -> dict:
        pred = np.asarray(labels)[proba.argmax(axis=1)]
        overall = compute_metrics(y, pred, labels=labels)
        per_fold = [compute_metrics(y[t], pred[t], labels=labels)["uar"] for _, t in folds]
        return {
            "uar": overall["uar"],
            "accuracy": overall["accuracy"],
            "macro_f1": overall["macro_f1"],
            "uar_std": float(np.std(per_fold)),
            "uar_folds": [round(u, 4) for u in per_fold],
        }

    rows = []
    for combo in [(n,) for n in NETWORKS] + list(ENSEMBLES):
        name = combo[0] if len(combo) == 1 else "ensemble:" + "+".join(combo)
        row = {"model": name, "date": dt.date.today().isoformat(), "threads": threads,
               "seconds": round(sum(seconds[m] for m in combo), 1)}  # fmt: skip
        for norm in (False, True):
            row["norm" if norm else "global"] = scores(
                np.mean([probas[(m, norm)] for m in combo], axis=0)
            )
        rows.append(row)
        print(f"{name:<40} UAR {100 * row['global']['uar']:5.1f} % "
              f"(± {100 * row['global']['uar_std']:.1f})  speaker-norm "
              f"{100 * row['norm']['uar']:5.1f} %", flush=True)  # fmt: skip
    return rows


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
    parser.add_argument("--neural", action="store_true", help="networks and ensembles instead")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for --neural")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    store = load_store()
    if args.render_only:
        write_section(markdown(store), "accuracy")
        return
    if args.neural:
        with threadpool_limits(1):
            store["neural"] = neural_rows(args.root, args.cache_dir, args.threads)
        store["neural_machine"] = machine()
        save_store(store)
        text = markdown(store)
        print(text)
        if args.write:
            write_section(text, "accuracy")
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
    text = markdown(store)
    print(text)
    if args.write:
        write_section(text, "accuracy")


def markdown(store: dict) -> str:
    seed, rows = store["seed"], list(store["rows"].values())
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
    ]
    if store.get("neural"):
        lines += [
            "",
            "**Networks and ensembles** (same folds; " + store.get("neural_machine", "") + "; "
            "torch threads as listed, one BLAS thread). Each network picks its epoch on",
            "validation actors drawn from its training fold only. Ensembles average the members'",
            "probabilities with equal weights; they were declared before any was scored. With",
            "speaker-norm only the classic members read per-speaker z-scores. Time = training",
            "and prediction of all members over the 5 folds, measured while the cores were shared",
            "with another job (load average about 4): upper bounds.",
            "",
            "| model | UAR global | accuracy | UAR per fold | UAR speaker-norm | time | date |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in store["neural"]:
            g, n = r["global"], r["norm"]
            folds = " / ".join(f"{100 * u:.1f}" for u in g["uar_folds"])
            lines.append(
                f"| `{r['model']}` | {100 * g['uar']:.1f} % ± {100 * g['uar_std']:.1f} "
                f"| {100 * g['accuracy']:.1f} % | {folds} "
                f"| {100 * n['uar']:.1f} % ± {100 * n['uar_std']:.1f} "
                f"| {r['seconds'] / 60:.1f} min ({r['threads']} torch thread"
                f"{'' if r['threads'] == 1 else 's'}) | {r['date']} |"
            )
        lines += ["", "Reproduce: `python benchmarks/accuracy.py --neural --write`."]
    lines.append("<!-- accuracy:end -->")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
