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

__all__ = ["plot_confusion", "render_markdown", "write_report"]


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
        "| model | UAR | accuracy | macro-F1 | UAR per fold (mean ± std) |",
        "|---|---|---|---|---|",
    ]
    for name, res in ranked:
        lines.append(
            f"| {name} | {_pct(res['uar'])} | {_pct(res['accuracy'])} | {_pct(res['macro_f1'])} | "
            f"{_pct(res['uar_mean'])} ± {100 * res['uar_std']:.1f} |"
        )
    for name, res in ranked:
        lines += [
            "",
            f"## {name}",
            "",
            f"![confusion matrix of {name}](confusion_{name}.png)",
            "",
            "| class | precision | recall | F1 | clips |",
            "|---|---|---|---|---|",
        ]
        for label, row in res["per_class"].items():
            lines.append(
                f"| {label} | {_pct(row['precision'])} | {_pct(row['recall'])} | "
                f"{_pct(row['f1'])} | {row['support']} |"
            )
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(report: dict[str, Any], folder: str | os.PathLike) -> Path:
    """Write ``report.json``, ``report.md`` and ``confusion_<model>.png`` into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "report.md").write_text(render_markdown(report))
    for name, res in report["results"].items():
        plot_confusion(
            res["confusion"],
            report["classes"],
            out / f"confusion_{name}.png",
            title=f"{name}: UAR {_pct(res['uar'])} ({report['protocol']})",
        )
    return out
