"""The development protocol for multi-corpus recipes: leave-one-corpus-out and SI-8.

Corpora: RAVDESS (speech, 24 actors, 8 classes), EmoDB (the original, 10 speakers, 7 classes
with boredom) and TESS (2 speakers, 7 classes with pleasant surprise as ``surprised``), all
read from ``../shared/data`` through serkit's corpus readers and feature cache.

Protocols, for one recipe (a feature set, a label set, a corpus weighting, a head):

- ``loco:H`` for each corpus H: train on the other two (every clip), test on every clip of
  H whose class the training label set has. Scored per clip and speaker-normalised (every
  speaker of both sides z-scored with that speaker's own clips): UAR over the classes H
  shares with the training side (arg-max restricted to them), and UAR over the four
  (angry, happy, neutral, sad; calm's probability added to neutral), the hidden corpora's
  method. Also, per held-out corpus, each class's recall and share of the top-1 answers
  over the four and over the model's whole label set ("as answered": what a user sees),
  so a class that swallows the answers shows.
- ``si8``: RAVDESS GroupKFold(5) by actor (files sorted by path); each fold trains on the
  other RAVDESS actors plus every clip of the other training corpora of the recipe, and
  is scored on the held-out actors over RAVDESS's classes that the label set keeps.

Recipes are chosen on these figures only; the hidden corpora are never a signal.

Usage::

    python benchmarks/loco.py run "w2/logreg:C=0.1" "w2/logreg:C=0.1/labels=nocalm" ...
    python benchmarks/loco.py render        # the RESULTS table from loco.json

A recipe is ``FEATURES/HEAD[/OPTION=VALUE...]``. FEATURES names a spec in ``FEATURES``
below; HEAD is ``logreg:C=X``; options: ``labels=`` a ``LABEL_SETS`` entry (default
``all``), ``weight=`` ``class`` (classes balanced over the pooled training set, default)
or ``corpus`` (each corpus the same total weight, classes balanced within each corpus),
``train=`` corpora joined by ``+`` (default all three).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = Path(__file__).with_name("loco.json")
# serkit's feature cache (what `serkit features` uses), so a recipe costs fits, not encoders
CACHE = Path(os.environ.get("SERKIT_CACHE_DIR") or Path.home() / ".cache" / "serkit") / "features"

CORPORA: dict[str, tuple[str, str]] = {
    "ravdess": ("ravdess-speech-16k", "ravdess"),
    "emodb": ("emodb", "emodb"),
    "tess": ("tess", "tess"),
}
FEATURES: dict[str, str] = {
    "w1": "whisper:pad=0,pool=mean,layer=1",
    "w2": "whisper:pad=0,pool=mean,layer=2",
    "w3": "whisper:pad=0,pool=mean,layer=3",
    "w4": "whisper:pad=0,pool=mean",
    "w2ms": "whisper:pad=0,pool=meanstd,layer=2",
    "w2L": "whisper:pad=0,pool=mean,layer=2,level=-25",
    "w1L": "whisper:pad=0,pool=mean,layer=1,level=-25",
    "w3L": "whisper:pad=0,pool=mean,layer=3,level=-25",
    "w4L": "whisper:pad=0,pool=mean,level=-25",
    "b2L": "whisper:pad=0,pool=mean,layer=2,level=-25,model=base",
}
FOUR = ("angry", "happy", "neutral", "sad")
# label sets: a map applied to training labels (None drops the class)
LABEL_SETS: dict[str, dict[str, str | None]] = {
    "all": {},
    "nocalm": {"calm": "neutral"},
    "nocalm-nobored": {"calm": "neutral", "bored": None},
    "core6": {"calm": "neutral", "bored": None, "surprised": None},
    "four": {"calm": "neutral", "bored": None, "surprised": None, "fearful": None,
             "disgust": None},
}


def _load(name: str, spec: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and speaker ids (prefixed with the corpus) of one corpus."""
    from serkit.workflows import load_table

    folder, reader = CORPORA[name]
    table = load_table(DATA / folder, corpus=reader, features=spec, jobs=2, cache_dir=CACHE)
    meta = table.meta
    speakers = np.array([f"{name}:{s}" for s in meta["speaker"]])
    return np.asarray(table.features, np.float64), meta["emotion"].to_numpy(str), speakers


def _normalise(X: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    from serkit.models import speaker_normalize

    return np.asarray(speaker_normalize(X, speakers), np.float64)


def _weights(labels: np.ndarray, corpora: np.ndarray, how: str) -> np.ndarray:
    if how == "class":
        classes, counts = np.unique(labels, return_counts=True)
        per = dict(zip(classes, len(labels) / (len(classes) * counts), strict=True))
        return np.array([per[v] for v in labels])
    if how == "corpus":
        w = np.empty(len(labels))
        names = np.unique(corpora)
        for c in names:
            rows = corpora == c
            classes, counts = np.unique(labels[rows], return_counts=True)
            per = dict(zip(classes, 1.0 / (len(classes) * counts), strict=True))
            w[rows] = [per[v] for v in labels[rows]]
        return w * len(labels) / w.sum()
    raise SystemExit(f"unknown weighting {how!r}")


def _head(text: str) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    name, _, rest = text.partition(":")
    params = dict(p.split("=") for p in rest.split(",") if p)
    if name == "logreg":
        c = float(params.get("C", 0.1))
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
    raise SystemExit(f"unknown head {text!r}")


def _nap(X: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """The top ``k`` directions [shape=(k, d)] along which the training speakers' mean
    vectors differ (nuisance attribute projection: voice and channel, not emotion)."""
    means = np.stack([X[groups == g].mean(axis=0) for g in np.unique(groups)])
    means -= means.mean(axis=0)
    _, _, vt = np.linalg.svd(means, full_matrices=False)
    return vt[:k]


def _fit_predict(head: str, X: np.ndarray, y: np.ndarray, w: np.ndarray, Xt: np.ndarray,
                 groups: np.ndarray):
    params = dict(p.split("=") for p in head.partition(":")[2].split(",") if p)
    k = int(params.pop("nap", 0))
    model = _head(head.partition(":")[0] + ":" + ",".join(f"{a}={b}" for a, b in params.items()))
    if k:
        mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-8
        Z, Zt = (X - mu) / sd, (Xt - mu) / sd
        V = _nap(Z, groups, k)
        X, Xt = Z - (Z @ V.T) @ V, Zt - (Zt @ V.T) @ V
    model.fit(X, y, logisticregression__sample_weight=w)
    return model.classes_, model.predict_proba(Xt)


def _uar(truth: np.ndarray, pred: np.ndarray, classes: Sequence[str]) -> float:
    recalls = [float(np.mean(pred[truth == c] == c)) for c in classes if np.any(truth == c)]
    return float(np.mean(recalls))


def _restricted(
    proba: np.ndarray, classes: np.ndarray, keep: Sequence[str], merge_calm: bool = True
) -> np.ndarray:
    """Arg-max over ``keep`` (calm's probability added to neutral unless calm is kept)."""
    cols = []
    for k in keep:
        col = proba[:, list(classes).index(k)] if k in classes else np.zeros(len(proba))
        if k == "neutral" and "calm" in classes and merge_calm and "calm" not in keep:
            col = col + proba[:, list(classes).index("calm")]
        cols.append(col)
    return np.asarray(keep)[np.argmax(np.stack(cols, 1), 1)]


def _answered(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    top = classes[np.argmax(proba, 1)]
    return np.where(top == "calm", "neutral", top)


def _scores(proba, classes, truth, shared) -> dict[str, Any]:
    truth = np.where(truth == "calm", "neutral", truth)
    four = [c for c in FOUR if c in shared]
    pred_shared = _restricted(proba, classes, shared)
    rows4 = np.isin(truth, four)
    pred4 = _restricted(proba[rows4], classes, four)
    answered = _answered(proba[rows4], classes)
    t4 = truth[rows4]
    out = {
        "uar_shared": _uar(truth, pred_shared, shared),
        "uar4": _uar(t4, pred4, four),
        "recall4": {c: float(np.mean(pred4[t4 == c] == c)) for c in four},
        "share4": {c: float(np.mean(pred4 == c)) for c in four},
        "true_share4": {c: float(np.mean(t4 == c)) for c in four},
        "answered_share": {
            str(c): float(np.mean(answered == c)) for c in np.unique(answered)
        },
        "n": len(truth),
    }
    ratio = [out["share4"][c] / out["true_share4"][c] for c in four]
    out["max_share_ratio4"] = float(max(ratio))
    out["min_recall4"] = float(min(out["recall4"].values()))
    return out


def _mapped(labels: np.ndarray, mapping: Mapping[str, str | None]) -> np.ndarray:
    return np.array([mapping.get(v, v) if v in mapping else v for v in labels], dtype=object)


def run_recipe(recipe: str, *, si: bool = True) -> dict[str, Any]:
    feat, head, *opts = recipe.split("/")
    options = dict(o.split("=", 1) for o in opts)
    labels_name = options.get("labels", "all")
    mapping = LABEL_SETS[labels_name]
    weighting = options.get("weight", "class")
    train_names = options.get("train", "ravdess+emodb+tess").split("+")
    spec = FEATURES[feat]
    data = {n: _load(n, spec) for n in CORPORA}
    result: dict[str, Any] = {"recipe": recipe, "spec": spec, "protocols": {}}
    start = time.process_time()

    def training(names: Sequence[str], norm: bool, exclude_rows=None):
        Xs, ys, cs, gs = [], [], [], []
        for n in names:
            X, y, s = data[n]
            rows = np.ones(len(y), bool) if exclude_rows is None or n not in exclude_rows \
                else exclude_rows[n]
            X, y, s = X[rows], y[rows], s[rows]
            if norm:
                X = _normalise(X, s)
            y = _mapped(y, mapping)
            keep = np.array([v is not None for v in y])
            Xs.append(X[keep])
            ys.append(y[keep].astype(str))
            cs.append(np.full(int(keep.sum()), n))
            gs.append(s[keep])
        X, y, c = np.vstack(Xs), np.concatenate(ys), np.concatenate(cs)
        return X, y, _weights(y, c, weighting), np.concatenate(gs)

    for held in CORPORA:
        others = [n for n in train_names if n != held]
        if not others:
            continue
        Xt, yt, st = data[held]
        for norm in (False, True):
            X, y, w, g = training(others, norm)
            train_classes = set(np.unique(y))
            truth = np.where(yt == "calm", "neutral", yt)
            shared = sorted(c for c in np.unique(truth) if c in train_classes
                            or (c == "neutral" and "calm" in train_classes))
            rows = np.isin(truth, shared)
            Xte = _normalise(Xt, st)[rows] if norm else Xt[rows]
            classes, proba = _fit_predict(head, X, y, w, Xte, g)
            key = f"loco:{held}" + (":norm" if norm else "")
            result["protocols"][key] = {
                **_scores(proba, classes, yt[rows], shared),
                "shared": shared,
                "train": others,
            }

    # SI-8 on RAVDESS with the other training corpora joined to every fold
    from sklearn.model_selection import GroupKFold

    if si and "ravdess" in train_names:
        X, y, s = data["ravdess"]
        actors = np.array([v.split(":")[1] for v in s])
        truth = _mapped(y, mapping)
        truth = np.array([t if t is not None else "-" for t in truth], dtype=object)
        scored = truth != "-"
        cls = sorted(set(truth[scored]))
        for norm in (False, True):
            pred = np.empty(len(y), dtype=object)
            for tr, te in GroupKFold(5).split(X, y, actors):
                mask = np.zeros(len(y), bool)
                mask[tr] = True
                Xa, ya, wa, ga = training(train_names, norm, exclude_rows={"ravdess": mask})
                Xte = _normalise(X[te], s[te]) if norm else X[te]
                classes, proba = _fit_predict(head, Xa, ya, wa, Xte, ga)
                pred[te] = _restricted(proba, classes, cls)
            key = "si8" + (":norm" if norm else "")
            result["protocols"][key] = {
                "uar": _uar(truth[scored].astype(str), pred[scored].astype(str), cls),
                "classes": cls,
            }
    result["cpu_s"] = round(time.process_time() - start, 1)
    return result


def _summary(r: Mapping[str, Any]) -> str:
    p = r["protocols"]

    def cell(key: str, field: str = "uar4") -> str:
        return f"{100 * p[key][field]:.1f}" if key in p else "-"

    parts = [f"{r['recipe']:<48}"]
    for held in CORPORA:
        parts.append(f"{held[:4]} {cell('loco:' + held)}/{cell('loco:' + held + ':norm')}"
                     f" ({cell('loco:' + held, 'uar_shared')})")
    parts.append(f"si {cell('si8', 'uar')}/{cell('si8:norm', 'uar')}")
    worst = [p[k]["min_recall4"] for k in p if k.startswith("loco:") and "norm" not in k]
    ratio = [p[k]["max_share_ratio4"] for k in p if k.startswith("loco:") and "norm" not in k]
    if worst:
        parts.append(f"minrec {100 * min(worst):.0f} maxshare {max(ratio):.2f}")
    return "  ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("recipes", nargs="+")
    run.add_argument("--no-si", action="store_true", help="leave-one-corpus-out only")
    sub.add_parser("render")
    args = parser.parse_args(argv)
    store = json.loads(OUT.read_text()) if OUT.exists() else {"runs": {}}
    if args.command == "run":
        for recipe in args.recipes:
            t = time.time()
            old = store["runs"].get(recipe, {}).get("protocols", {})
            result = run_recipe(recipe, si=not args.no_si)
            if args.no_si:  # keep an SI run made before
                result["protocols"].update({k: v for k, v in old.items() if k.startswith("si")})
            result["wall_s"] = round(time.time() - t, 1)
            result["date"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            result["machine"] = f"{platform.processor() or platform.machine()}, 2 cores"
            # read again: another run may have written meanwhile
            store = json.loads(OUT.read_text()) if OUT.exists() else {"runs": {}}
            store["runs"][recipe] = result
            OUT.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
            print(_summary(result), flush=True)
    else:
        print(_markdown(store["runs"].values()))
    return 0


def _markdown(results: Any) -> str:
    """The RESULTS table: 4-class UAR per clip / speaker-normalised per held-out corpus, the
    shared-class UAR per clip, SI, and the collapse measures over the four (per clip)."""
    head = (
        "| recipe | RAVDESS held out | EmoDB held out | TESS held out | SI on RAVDESS | "
        "lowest recall of the four | largest answer share / true share | CPU s |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in results:
        p = r["protocols"]

        def pct(key: str, field: str, p: Mapping[str, Any] = p) -> str:
            return f"{100 * p[key][field]:.1f}" if key in p else "-"

        cells = [
            f"{pct('loco:' + h, 'uar4')} / {pct('loco:' + h + ':norm', 'uar4')} "
            f"({pct('loco:' + h, 'uar_shared')})"
            for h in CORPORA
        ]
        per_clip = [p[k] for k in p if k.startswith("loco:") and not k.endswith(":norm")]
        worst = min(x["min_recall4"] for x in per_clip)
        ratio = max(x["max_share_ratio4"] for x in per_clip)
        lines.append(
            f"| `{r['recipe']}` | " + " | ".join(cells)
            + f" | {pct('si8', 'uar')} / {pct('si8:norm', 'uar')} | {100 * worst:.0f} % | "
            f"{ratio:.2f} | {r['cpu_s']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
