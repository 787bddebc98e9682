"""Accuracy attempts on the shipped recipe's features: heads, inner-fold C, pooling, ensembles.

Issue 11 (targets SI-8 >= 72 % / 80 % speaker-normalised, RAVDESS -> EmoDB-2s >= 50 / 60 %).
Every recipe is one or more *members* (a cached feature set + a head); a member's
probabilities are computed once per protocol, a recipe averages its members' probabilities
(equal weights: nothing tuned on a test side). Protocols, all on cached features:

- ``si8``: RAVDESS speech, 8 classes, GroupKFold(5) by actor (``speaker_kfold``), UAR over
  all 1440 clips; ``si8_norm``: each actor's clips z-scored together (``speaker_normalize``).
- ``e2r``: trained on every EmoDB-2s clip (7 classes), tested on the RAVDESS clips of
  angry, happy, neutral (+ calm), sad; arg-max restricted to those four, calm's probability
  added to neutral (the hidden corpus's method). The development direction: recipes are
  chosen on ``si8``/``si8_norm``/``e2r``/``e2r_norm`` only.
- ``r2e``: the same the other way (trained on all 1440 RAVDESS clips, 8 classes, tested on
  the 339 EmoDB-2s clips of the four): the shipped model's direction, reported, not chosen on.

Heads (each standardises first): ``logreg:C=X`` (multinomial, balanced, as the zoo's),
``logreg:C=inner`` (C in {0.01, 0.03, 0.1, 0.3, 1} picked by UAR on inner GroupKFold(4)
over the training speakers only, separately for every outer fold and cross-corpus fit),
``lsvm`` (LinearSVC C=0.01, balanced, sigmoid-calibrated on 5 inner folds), ``lda``
(shrinkage auto), ``mlp64`` (one hidden layer of 64, alpha 1, early stopping).

``si8@telephone 8 kHz`` / ``si8@pink noise 10 dB`` (members reading ``wmean`` or ``stats``):
the ``si8`` folds with the test clips degraded as in ``benchmarks/robustness.py`` (same
chains, same cache entries). ``FEATURES@augN[:MIX]`` adds N degraded copies of every
training clip to each training side (``serkit.workflows.augment_table``; ``MIX`` names a
``MIXES`` entry; copies z-scored per session in the normalised protocols).

Feature sources: serkit's feature cache (``whisper:pad=0,pool=mean`` = ``wmean``, ``egemaps``,
``compare``, ``stats``) and ``benchmarks/whisper.py encode``'s store (``wstd``: the std of
the same encoder states over the clip's frames; ``w3``: means of the clip's thirds), so
pooling variants cost no encoder pass. Transforms of a source: ``+logstd`` (log of the
std), ``+l2`` (each clip's vector scaled to unit length), ``+delta`` (last third minus
first third).

Usage::

    python benchmarks/recipe_search.py run "wmean/logreg:C=0.1" "wmean/logreg:C=inner" \\
        "wmean/logreg:C=0.1 + egemaps/logreg:C=0.1" ...
    python benchmarks/recipe_search.py run "wmean@aug2/logreg:C=0.1"   # augmented training
    python benchmarks/recipe_search.py render      # the RESULTS table from recipe_search.json
    python benchmarks/recipe_search.py compare "wmean/logreg:C=0.1" "wmean/lda"  # paired, CI
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CORPORA = {"ravdess": DATA / "ravdess-speech-16k", "emodb": DATA / "emodb-2s"}
STORE = ROOT / "benchmarks" / "recipe_search.json"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
FOUR = ("angry", "happy", "neutral", "sad")
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
SPECS = {
    "wmean": "whisper:pad=0,pool=mean",
    "egemaps": "egemaps",
    "compare": "compare",
    "stats": "stats",
}
BENCH = {
    "wstd": ("std",),
    "wmeanstd": ("mean", "std"),
    "w3": ("w1", "w2", "w3"),
    "wtrim": ("mean_trim",),  # mean over the frames from the first to the last active one
    "wvoiced": ("mean_voiced",),  # mean over the frames within 30 dB of the loudest only
}


def _cache_dir() -> Path:
    from serkit.cli import default_cache_dir

    return default_cache_dir()


_TABLES: dict[tuple[str, str], Any] = {}


def _table(corpus: str, source: str):
    """The feature table of one cached source (sorted by path, as the corpus scan)."""
    from serkit.workflows import load_table

    key = (corpus, source)
    if key not in _TABLES:
        _TABLES[key] = load_table(
            CORPORA[corpus], corpus=corpus, features=SPECS[source], cache_dir=_cache_dir()
        )
    return _TABLES[key]


def _bench(corpus: str, source: str) -> np.ndarray:
    """Pooled encoder states from ``benchmarks/whisper.py encode`` (pad 0, int8)."""
    path = _cache_dir().parent / "whisper-bench" / f"pad0-int8.{corpus}.npz"
    data = np.load(path)
    return np.hstack([data[k] for k in BENCH[source]]).astype(np.float64)


def features(corpus: str, name: str) -> np.ndarray:
    """Matrix of a feature name such as ``wmean``, ``wmean+wstd+logstd``, ``egemaps``."""
    parts = name.split("+")
    blocks: list[np.ndarray] = []
    transforms = {"logstd", "l2", "delta"}
    for part in parts:
        if part in transforms:
            continue
        if part in SPECS:
            blocks.append(np.asarray(_table(corpus, part).features, dtype=np.float64))
        elif part in BENCH:
            X = _bench(corpus, part)
            if len(X) != len(_table(corpus, "wmean").meta):
                raise SystemExit(f"{corpus}: whisper-bench store differs from the corpus scan")
            if part == "wstd" and "logstd" in parts:
                X = np.log(np.maximum(X, 1e-6))
            if part == "w3" and "delta" in parts:
                X = X[:, -X.shape[1] // 3 :] - X[:, : X.shape[1] // 3]
            blocks.append(X)
        else:
            raise SystemExit(f"unknown feature part {part!r}")
    X = np.hstack(blocks)
    if "l2" in parts:
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    return X


def labels(corpus: str) -> tuple[np.ndarray, np.ndarray]:
    meta = _table(corpus, "wmean").meta
    y = meta["emotion"].astype(str).to_numpy()
    g = (meta["corpus"].astype(str) + ":" + meta["speaker"].astype(str)).to_numpy()
    return y, g


def _check_aligned(corpus: str, source: str) -> None:
    a = _table(corpus, "wmean").meta["path"].astype(str).tolist()
    b = _table(corpus, source).meta["path"].astype(str).tolist()
    if a != b:
        raise SystemExit(f"{corpus}: {source} table clips differ from the whisper table")


def make_head(head: str, C: float | None = None):
    """A fresh head (StandardScaler + classifier)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from serkit.models import make_model

    name, _, arg = head.partition(":")
    if name == "logreg":
        value = C if C is not None else float(arg.split("=", 1)[1])
        return make_model("logreg", params={"C": value})
    if name == "lsvm":
        svc = LinearSVC(C=0.01, class_weight="balanced", max_iter=20000, random_state=0)
        return make_pipeline(StandardScaler(), CalibratedClassifierCV(svc, cv=5))
    if name == "lda":
        return make_pipeline(
            StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
        )
    if name == "mlp64":
        mlp = MLPClassifier(
            hidden_layer_sizes=(64,),
            alpha=1.0,
            early_stopping=True,
            max_iter=500,
            random_state=0,
        )
        return make_pipeline(StandardScaler(), mlp)
    raise SystemExit(f"unknown head {head!r}")


def _uar(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[truth == c] == c) for c in np.unique(truth)]))


def _inner_c(X: np.ndarray, y: np.ndarray, g: np.ndarray) -> float:
    """C with the best UAR on GroupKFold(4) over the training speakers (ties: smaller C)."""
    from sklearn.model_selection import GroupKFold

    scores = []
    for C in C_GRID:
        pred = np.empty(len(y), dtype=object)
        for tr, te in GroupKFold(4).split(X, y, g):
            pred[te] = make_head("logreg", C).fit(X[tr], y[tr]).predict(X[te])
        scores.append(_uar(y, pred.astype(str)))
    return C_GRID[int(np.argmax(scores))]


def _fit(head: str, X: np.ndarray, y: np.ndarray, g: np.ndarray, chosen: list):
    if head == "logreg:C=inner":
        C = _inner_c(X, y, g)
        chosen.append(C)
        return make_head("logreg", C).fit(X, y)
    return make_head(head).fit(X, y)


def _proba_in(model, X: np.ndarray, classes: list[str]) -> np.ndarray:
    """Probabilities in the column order ``classes`` (zeros for classes the model lacks)."""
    out = np.zeros((len(X), len(classes)))
    p = model.predict_proba(X)
    for j, c in enumerate(model.classes_.tolist()):
        out[:, classes.index(str(c))] = p[:, j]
    return out


MIXES = {"": {}, "tel": {"p_telephone": 0.5, "p_noise": 0.8}}
"""Named ``sample_chain`` settings for augmented copies (``@augN:NAME``)."""

_AUG: dict[tuple[str, str, int, str], dict[str, np.ndarray]] = {}


def augmented(corpus: str, source: str, copies: int, mix: str) -> dict[str, np.ndarray]:
    """Features of ``copies`` degraded copies of every clip (``augment_table``: one random
    channel per speaker copy, cached in serkit's feature cache), their source rows, labels,
    speakers and sessions."""
    from serkit.workflows import augment_table

    key = (corpus, source, copies, mix)
    if key not in _AUG:
        table = _table(corpus, source)
        aug = augment_table(
            table,
            copies=copies,
            cache_dir=_cache_dir(),
            progress=True,
            jobs=1,
            chain_options=MIXES[mix],
        )
        src = aug.meta["source_index"].to_numpy()
        y, g = labels(corpus)
        _AUG[key] = {
            "X": np.asarray(aug.features, dtype=np.float64),
            "source": src,
            "y": y[src],
            "g": g[src],
            "session": aug.meta["session"].astype(str).to_numpy(),
        }
    return _AUG[key]


ROBUST = ("telephone 8 kHz", "pink noise 10 dB")
"""Test conditions of ``benchmarks/robustness.py``, measured for members reading one of
``ROBUST_SOURCES`` (the others' degraded features would cost a long extraction)."""
ROBUST_SOURCES = ("wmean", "stats")


def degraded(corpus: str, source: str, condition: str) -> np.ndarray:
    """Features of every clip under one of robustness.py's test conditions (same chains,
    so the same cache entries)."""
    from robustness import CONDITIONS

    from serkit.features import extract_files

    table = _table(corpus, source)
    result = extract_files(
        table.meta["path"].tolist(),
        table.spec,
        cache_dir=_cache_dir(),
        transform=CONDITIONS[condition],
        progress=True,
        jobs=1,
    )
    if result.errors:
        raise SystemExit(f"{len(result.errors)} clips failed under {condition}")
    return result.matrix().astype(np.float64)


def _with_extra(x, y, g, rows, extra, norm: bool):
    """Training rows ``rows`` plus the augmented copies of exactly those clips."""
    from serkit.models import speaker_normalize

    if extra is None:
        return x[rows], y[rows], g[rows]
    keep = np.isin(extra["source"], rows)
    xe = speaker_normalize(extra["X"], extra["session"]) if norm else extra["X"]
    return (
        np.vstack([x[rows], xe[keep]]),
        np.concatenate([y[rows], extra["y"][keep]]),
        np.concatenate([g[rows], extra["g"][keep]]),
    )


def member(spec: str) -> dict[str, Any]:
    """Probabilities of one member (``FEATURES[@augN[:MIX]]/HEAD``) under every protocol."""
    from serkit.evaluation import speaker_kfold
    from serkit.models import speaker_normalize

    feats, head = spec.split("/", 1)
    feats, _, aug = feats.partition("@")
    for part in feats.split("+"):
        if part in SPECS:
            for corpus in CORPORA:
                _check_aligned(corpus, part)
    XR, XE = features("ravdess", feats), features("emodb", feats)
    yR, gR = labels("ravdess")
    yE, gE = labels("emodb")
    extra_r = extra_e = None
    if aug:
        if feats not in SPECS or not aug.startswith("aug"):
            raise SystemExit(f"{spec}: augmentation takes one cached feature set, @augN[:MIX]")
        copies, _, mix = aug[3:].partition(":")
        extra_r = augmented("ravdess", feats, int(copies), mix)
        extra_e = augmented("emodb", feats, int(copies), mix)
    cr = sorted(set(yR.tolist()))
    ce = sorted(set(yE.tolist()))
    out: dict[str, Any] = {"classes_r": cr, "classes_e": ce, "chosen_C": {}}
    robust = feats in ROBUST_SOURCES
    conditions = {c: degraded("ravdess", feats, c) for c in ROBUST} if robust else {}
    for norm in (False, True):
        tag = "_norm" if norm else ""
        xr = speaker_normalize(XR, gR) if norm else XR
        xe = speaker_normalize(XE, gE) if norm else XE
        chosen: list = []
        oof = np.zeros((len(yR), len(cr)))
        allr, alle = np.arange(len(yR)), np.arange(len(yE))
        for tr, te in speaker_kfold(gR, n_splits=5):
            fitted = _fit(head, *_with_extra(xr, yR, gR, tr, extra_r, norm), chosen)
            oof[te] = _proba_in(fitted, xr[te], cr)
            for c, Xc in conditions.items():
                xc = speaker_normalize(Xc[te], gR[te]) if norm else Xc[te]
                out.setdefault(f"si8{tag}@{c}", np.zeros_like(oof))[te] = _proba_in(fitted, xc, cr)
        out[f"si8{tag}"] = oof
        fitted = _fit(head, *_with_extra(xr, yR, gR, allr, extra_r, norm), chosen)
        out[f"r2e{tag}"] = _proba_in(fitted, xe, cr)
        fitted = _fit(head, *_with_extra(xe, yE, gE, alle, extra_e, norm), chosen)
        out[f"e2r{tag}"] = _proba_in(fitted, xr, ce)
        out["chosen_C"][f"norm={norm}"] = chosen
    return out


def _four(proba: np.ndarray, classes: list[str]) -> np.ndarray:
    cols = np.zeros((len(proba), len(FOUR)))
    for j, c in enumerate(classes):
        c = "neutral" if c == "calm" else c
        if c in FOUR:
            cols[:, FOUR.index(c)] += proba[:, j]
    return np.array(FOUR)[cols.argmax(1)]


def score(members: list[dict[str, Any]]) -> dict[str, float]:
    """UARs of the equal-weight probability average of ``members``."""
    yR, _ = labels("ravdess")
    yE, _ = labels("emodb")
    cr, ce = members[0]["classes_r"], members[0]["classes_e"]
    out: dict[str, float] = {}
    for tag in ("", "_norm"):
        mean = {
            k: np.mean([m[f"{k}{tag}"] for m in members], axis=0) for k in ("si8", "r2e", "e2r")
        }
        out[f"si8{tag}"] = _uar(yR, np.array(cr)[mean["si8"].argmax(1)])
        tR = np.where(yR == "calm", "neutral", yR)
        keep = np.isin(tR, FOUR)
        out[f"e2r{tag}"] = _uar(tR[keep], _four(mean["e2r"][keep], ce))
        keep = np.isin(yE, FOUR)
        out[f"r2e{tag}"] = _uar(yE[keep], _four(mean["r2e"][keep], cr))
        for c in ROBUST:
            if all(f"si8{tag}@{c}" in m for m in members):
                p = np.mean([m[f"si8{tag}@{c}"] for m in members], axis=0)
                out[f"si8{tag}@{c}"] = _uar(yR, np.array(cr)[p.argmax(1)])
    return {k: round(v, 4) for k, v in out.items()}


_MEMBERS: dict[str, dict[str, Any]] = {}


def _member_path(spec: str) -> Path:
    import hashlib

    digest = hashlib.sha256(spec.encode()).hexdigest()[:16]
    return _cache_dir().parent / "recipe-search" / f"{digest}.npz"


def load_member(spec: str) -> dict[str, Any]:
    """A member's probabilities: from memory, from the store of earlier runs (keyed by the
    spec string; delete ``~/.cache/serkit/recipe-search`` after changing this script or
    the features), or computed and stored."""
    if spec in _MEMBERS:
        return _MEMBERS[spec]
    path = _member_path(spec)
    if path.exists():
        with np.load(path) as data:
            stored = {k: data[k] for k in data.files}
        out: dict[str, Any] = {k: v for k, v in stored.items() if not k.startswith("_")}
        out["classes_r"] = stored["_classes_r"].tolist()
        out["classes_e"] = stored["_classes_e"].tolist()
        out["chosen_C"] = json.loads(str(stored["_chosen_C"]))
    else:
        t0 = time.perf_counter()
        out = member(spec)
        print(f"  member {spec}: {time.perf_counter() - t0:.0f} s", flush=True)
        arrays = {k: v for k, v in out.items() if isinstance(v, np.ndarray)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(
            tmp,
            _classes_r=np.array(out["classes_r"]),
            _classes_e=np.array(out["classes_e"]),
            _chosen_C=np.array(json.dumps(out["chosen_C"])),
            **arrays,
        )
        tmp.replace(path)
    _MEMBERS[spec] = out
    return out


def _columns(members: list[dict[str, Any]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per protocol: whether each test clip is right, and the clip's class (for UAR)."""
    yR, _ = labels("ravdess")
    yE, _ = labels("emodb")
    cr, ce = members[0]["classes_r"], members[0]["classes_e"]
    tR = np.where(yR == "calm", "neutral", yR)
    kR, kE = np.isin(tR, FOUR), np.isin(yE, FOUR)
    out = {}
    for tag in ("", "_norm"):
        mean = {
            k: np.mean([m[f"{k}{tag}"] for m in members], axis=0) for k in ("si8", "r2e", "e2r")
        }
        out[f"si8{tag}"] = (np.array(cr)[mean["si8"].argmax(1)] == yR, yR)
        e2r = np.full(len(yR), False)
        e2r[kR] = _four(mean["e2r"][kR], ce) == tR[kR]
        out[f"e2r{tag}"] = (e2r, np.where(kR, tR, ""))
        r2e = np.full(len(yE), False)
        r2e[kE] = _four(mean["r2e"][kE], cr) == yE[kE]
        out[f"r2e{tag}"] = (r2e, np.where(kE, yE, ""))
        for c in ROBUST:
            if all(f"si8{tag}@{c}" in m for m in members):
                p = np.mean([m[f"si8{tag}@{c}"] for m in members], axis=0)
                out[f"si8{tag}@{c}"] = (np.array(cr)[p.argmax(1)] == yR, yR)
    return out


def _uar_of(right: np.ndarray, truth: np.ndarray, rows: np.ndarray) -> float:
    classes = [c for c in np.unique(truth[rows]) if c]
    return float(np.mean([right[rows][truth[rows] == c].mean() for c in classes]))


def compare(a: str, b: str, n_boot: int = 2000) -> None:
    """Paired difference B - A per column with a 95 % interval from resampling the test
    side's speakers (clips of one speaker move together)."""
    from threadpoolctl import threadpool_limits

    _, gR = labels("ravdess")
    _, gE = labels("emodb")
    with threadpool_limits(1):
        ca = _columns([load_member(n.strip()) for n in a.split(" + ")])
        cb = _columns([load_member(n.strip()) for n in b.split(" + ")])
    rng = np.random.default_rng(0)
    for key in [k for k in ca if k in cb]:
        groups = gE if key.startswith("r2e") else gR
        speakers = np.unique(groups)
        index = {s: np.flatnonzero(groups == s) for s in speakers}
        (ra, truth), (rb, _) = ca[key], cb[key]
        everyone = np.arange(len(truth))
        diff = _uar_of(rb, truth, everyone) - _uar_of(ra, truth, everyone)
        boots = []
        for _ in range(n_boot):
            rows = np.concatenate([index[s] for s in rng.choice(speakers, len(speakers))])
            boots.append(_uar_of(rb, truth, rows) - _uar_of(ra, truth, rows))
        lo, hi = np.percentile(boots, [2.5, 97.5])
        print(f"{key:36s} {100 * diff:+5.1f}  [{100 * lo:+5.1f}, {100 * hi:+5.1f}]")


def run(recipes: list[str], note: str = "") -> None:
    from threadpoolctl import threadpool_limits

    for recipe in recipes:
        start = time.perf_counter()
        names = [part.strip() for part in recipe.split(" + ")]
        with threadpool_limits(1):
            figures = score([load_member(n) for n in names])
        row = {
            "recipe": recipe,
            **figures,
            "chosen_C": {n: _MEMBERS[n]["chosen_C"] for n in names if "inner" in n},
            "eval_s": round(time.perf_counter() - start, 1),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"),
            "machine": f"{platform.processor() or platform.machine()}, "
            f"load {os.getloadavg()[0]:.1f}",
            "note": note,
        }
        rows = json.loads(STORE.read_text()) if STORE.exists() else []  # other runs' rows too
        rows = [r for r in rows if r["recipe"] != recipe] + [row]
        STORE.write_text(json.dumps(rows, indent=1) + "\n")
        print(json.dumps({k: row[k] for k in row if k != "chosen_C"}), flush=True)


def _cell(row: dict[str, Any], key: str, base: str | None = None) -> str:
    if key not in row:
        return "-"
    text = f"{100 * row[key]:.1f}"
    return text + (f" ({100 * (row[key] - row[base]):+.1f})" if base else "")


def render() -> str:
    """The attempts table (markdown) from ``recipe_search.json``."""
    rows = json.loads(STORE.read_text())
    tel, noise = (f"si8@{c}" for c in ROBUST)
    lines = [
        "| # | recipe | SI-8 | SI-8 norm | E7→R4 | E7→R4 norm | R8→E4 | R8→E4 norm "
        "| SI-8 telephone | SI-8 noise 10 dB | measured (UTC), load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        cells = [_cell(r, k) for k in ("si8", "si8_norm", "e2r", "e2r_norm", "r2e", "r2e_norm")]
        cells += [_cell(r, tel, "si8"), _cell(r, noise, "si8")]
        load = r["machine"].split("load ")[-1]
        lines.append(
            f"| {i} | `{r['recipe']}` | " + " | ".join(cells) + f" | {r['date'][11:16]}, {load} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="measure recipes (members joined by ' + ')")
    p.add_argument("recipes", nargs="+")
    p.add_argument("--note", default="")
    sub.add_parser("render", help="print the markdown table")
    p = sub.add_parser("compare", help="paired B - A per column, speaker-bootstrap 95 %% CI")
    p.add_argument("a")
    p.add_argument("b")
    args = parser.parse_args()
    if args.cmd == "run":
        run(args.recipes, args.note)
    elif args.cmd == "compare":
        compare(args.a, args.b)
    else:
        sys.stdout.write(render())


if __name__ == "__main__":
    main()
