"""Write an evaluation report folder: report.json, report.md and confusion-matrix PNGs.

Everything here is made from the plain report dict that
:func:`serkit.workflows.evaluate_table` returns.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_path, atomic_write_text

__all__ = ["plot_confusion", "plot_training_curves", "render_markdown", "write_report"]


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: protocol and data, leaderboard, per-class table per model."""
    results = report["results"]
    ranked = sorted(results.items(), key=lambda kv: -kv[1]["uar"])
    spec = report["features"]
    params = ", ".join(f"{k}={v}" for k, v in spec.get("params", {}).items())
    lines = [
        "# serkit evaluation report",
        "",
        f"- protocol: **{report['protocol']}** ({report['n_splits']} split(s))"
        + (", per-speaker feature standardisation" if report.get("speaker_norm") else ""),
        f"- features: `{spec['name']}`"
        + (f" ({params})" if params else "")
        + f", {report['n_features']} values",
        f"- data: {report['n_clips']} clips, {report['n_speakers']} speakers, "
        f"{len(report['classes'])} classes"
        + (f", {len(report['skipped'])} clips skipped" if report.get("skipped") else ""),
        f"- classes: {', '.join(f'{c} ({n})' for c, n in report['class_counts'].items())}",
        f"- serkit {report['serkit_version']}, {report['date']}",
        "",
        "UAR = unweighted average recall (mean of per-class recall), pooled over every predicted",
        "clip; ± is the standard deviation across folds (population).",
        "",
        "## Leaderboard",
        "",
        "| model | features | UAR | accuracy | macro-F1 | UAR per fold (mean ± std) |",
        "|---|---|---|---|---|---|",
    ]
    for name, res in ranked:
        read = " + ".join(f"`{f}`" for f in res.get("features", [spec["name"]]))
        lines.append(
            f"| {name} | {read} | {_pct(res['uar'])} | {_pct(res['accuracy'])} | "
            f"{_pct(res['macro_f1'])} | {_pct(res['uar_mean'])} ± {100 * res['uar_std']:.1f} |"
        )
    for name, res in ranked:
        lines += [
            "",
            f"## {name}",
            "",
            f"![confusion matrix of {name}](confusion_{_file_stem(name)}.png)",
            "",
            "| class | precision | recall | F1 | clips |",
            "|---|---|---|---|---|",
        ]
        for label, row in res["per_class"].items():
            lines.append(
                f"| {label} | {_pct(row['precision'])} | {_pct(row['recall'])} | "
                f"{_pct(row['f1'])} | {row['support']} |"
            )
        if _histories(res):
            lines += [
                "",
                f"![training curves of {name}](training_{_file_stem(name)}.png)",
                "",
                "Training curves: each fold's network, loss on its training clips and on its "
                "validation speakers (drawn from the training speakers only), and validation "
                "UAR; the dot marks the epoch kept.",
            ]
    if report.get("skipped"):
        lines += ["", "## Skipped clips", ""]
        lines += [f"- `{s['path']}`: {s['reason']}" for s in report["skipped"]]
    return "\n".join(lines) + "\n"


def plot_confusion(
    confusion: list[list[int]], labels: list[str], out: str | os.PathLike, *, title: str = ""
) -> Path:
    """Save a row-normalised confusion matrix (rows = true class) with counts as a PNG."""
    from .plots import _pyplot

    plt = _pyplot()
    counts = np.asarray(confusion, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = 1.0 + 0.7 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            color = "white" if share[i, j] > 0.6 else "black"
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", color=color, fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of true class")
    fig.tight_layout()
    path = Path(out)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def _file_stem(name: str) -> str:
    """A model name as part of a file name (``ensemble:specnet+svm@compare`` stays readable)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.+@-]+", "-", name).strip("-") or "model"


def _histories(result: dict[str, Any]) -> list[tuple[str, list[dict[str, float]]]]:
    """(label, per-epoch records) of every network in every fold of one model's result."""
    found = []
    for fold in result.get("folds", []):
        for member, history in (fold.get("history") or {}).items():
            label = f"fold {fold['fold']}" + ("" if member == "TorchClassifier" else f" ({member})")
            found.append((label, history))
    return found


def plot_training_curves(
    histories: list[tuple[str, list[dict[str, float]]]], out: str | os.PathLike, *, title: str = ""
) -> Path:
    """Loss (train solid, validation dashed) and validation UAR per epoch, one colour per
    fold, with the kept epoch (best validation UAR) marked; saved as a PNG."""
    from .plots import _pyplot

    plt = _pyplot()
    fig, (ax_loss, ax_uar) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (label, history) in enumerate(histories):
        color = f"C{i % 10}"
        epochs = [h["epoch"] for h in history]
        ax_loss.plot(epochs, [h["train_loss"] for h in history], color=color, label=label)
        ax_loss.plot(epochs, [h["val_loss"] for h in history], color=color, linestyle="--")
        uar = np.array([h["val_uar"] for h in history], dtype=float)
        ax_uar.plot(epochs, uar, color=color, label=label)
        if np.isfinite(uar).any():
            best = int(np.nanargmax(uar))
            ax_uar.plot(epochs[best], uar[best], "o", color=color)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss (solid: train, dashed: validation)")
    ax_uar.set_xlabel("epoch")
    ax_uar.set_ylabel("validation UAR")
    ax_uar.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(out)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path


def write_report(report: dict[str, Any], folder: str | os.PathLike) -> Path:
    """Write ``report.json``, ``report.md``, ``confusion_<model>.png`` and, for networks,
    ``training_<model>.png`` into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=str) + "\n")
    atomic_write_text(out / "report.md", render_markdown(report))
    for name, res in report["results"].items():
        plot_confusion(
            res["confusion"],
            report["classes"],
            out / f"confusion_{_file_stem(name)}.png",
            title=f"{name}: UAR {_pct(res['uar'])} ({report['protocol']})",
        )
        histories = _histories(res)
        if histories:
            plot_training_curves(
                histories, out / f"training_{_file_stem(name)}.png", title=f"{name}: training"
            )
    return out
