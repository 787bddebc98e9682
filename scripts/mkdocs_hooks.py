"""MkDocs hooks for serkit's site (``hooks:`` in ``mkdocs.yml``); nothing here downloads.

- ``<!-- serkit-modules -->`` in a page becomes a table of serkit's public modules and
  subpackages with the first line of each one's docstring, read from ``src/`` with
  :mod:`ast` at build time, so the module map cannot drift from the code.
- serkit's docstrings cross-reference with Sphinx roles (``:func:`name```), which
  mkdocstrings renders as the role's text followed by the code span; the role is
  dropped (and ``~a.b.c`` shortened to ``c``, as Sphinx shows it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
MODULES_MARKER = "<!-- serkit-modules -->"

_ROLE = re.compile(r":(?:func|meth|class|data|attr|mod|exc|obj|const):<code>(~?)([^<]*)</code>")


def _summary(path: Path) -> str:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = docstring.strip().split("\n\n", 1)[0]
    return " ".join(first.split()).replace("|", "\\|")


def module_rows(src: Path = SRC) -> list[tuple[str, str]]:
    """``(dotted name, summary)`` of every public module and subpackage of serkit, sorted."""
    rows = []
    package = src / "serkit"
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if any(part.startswith("_") for part in parts) or parts[-1] == "__main__":
            continue
        rows.append((".".join(parts), _summary(path)))
    return sorted(rows)


def module_table(src: Path = SRC) -> str:
    """The Markdown table that replaces :data:`MODULES_MARKER`."""
    lines = ["| module | what it does |", "|---|---|"]
    lines += [f"| `{name}` | {summary} |" for name, summary in module_rows(src)]
    return "\n".join(lines)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Fill in the module table."""
    if MODULES_MARKER in markdown:
        markdown = markdown.replace(MODULES_MARKER, module_table())
    return markdown


def _drop_role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Drop Sphinx cross-reference roles left in rendered docstrings."""
    return _ROLE.sub(_drop_role, html)
