"""Measure serkit's structure: import circles among its modules, and the path of a prediction.

Two reports, both reproducible from a checkout:

``circles``
    Parses every module under ``src/serkit`` (imports at any depth, including the lazy ones
    inside functions, but not ``if TYPE_CHECKING`` blocks) and lists the strongly connected
    components of the module import graph with more than one module: each is an import circle.
``predict``
    Runs ``serkit predict FILE`` in this process under :func:`sys.setprofile` and counts the
    distinct serkit functions called and the distinct serkit files they live in.

Usage::

    python scripts/architecture.py circles
    python scripts/architecture.py predict PATH.wav

Both read the serkit under ``src/`` next to this script; set ``SERKIT_SRC`` to measure
another checkout's ``src`` (and put it first on ``PYTHONPATH`` for ``predict``).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

SRC = Path(os.environ.get("SERKIT_SRC") or Path(__file__).resolve().parents[1] / "src").resolve()


def module_name(path: Path) -> str:
    """Dotted module name of a file under ``src``."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(current: str, is_package: bool, level: int, target: str | None) -> str:
    base = current.split(".") if is_package else current.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def import_graph() -> dict[str, set[str]]:
    """Module -> serkit modules it imports (``from . import x`` counts ``x`` when a module)."""
    files = {module_name(p): p for p in (SRC / "serkit").rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in files.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_lines(tree)
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = (
                    _resolve(name, is_package, node.level, node.module)
                    if node.level
                    else node.module or ""
                )
                targets = [base]
                targets += [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                # the deepest serkit module the import names
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
        graph.setdefault(name, set())
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted.

    A package's ``__init__`` importing its own submodules is not counted: that is how
    a package re-exports, and a submodule importing a sibling through the package
    (``from . import x``) resolves to the sibling itself.
    """
    graph = {
        node: {t for t in targets if not t.startswith(node + ".")}
        for node, targets in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


_EXTRACTOR_INTERNALS = ("features/_dsp.py", "features/_stats.py")
"""Where the default model's ``stats`` extractor computes its numbers."""


def trace_predict(path: str) -> tuple[int, int, dict[str, int]]:
    """Distinct serkit functions and files visited by ``serkit predict PATH``."""
    from serkit.cli import main

    root = str(SRC / "serkit")
    import serkit

    if not str(Path(serkit.__file__).resolve()).startswith(root):
        raise SystemExit(f"serkit is imported from {serkit.__file__}, not {root}: set PYTHONPATH")
    functions: set[tuple[str, str]] = set()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(root):
            code = frame.f_code
            # named functions only: module and class bodies (run on import) lack
            # CO_NEWLOCALS; comprehensions and lambdas (<listcomp>, <lambda> ...) are not steps
            if code.co_flags & inspect.CO_NEWLOCALS and not code.co_name.startswith("<"):
                functions.add((code.co_filename, code.co_qualname))

    sys.setprofile(profile)
    try:
        main(["predict", path])
    except SystemExit:
        pass
    finally:
        sys.setprofile(None)
    per_file: dict[str, int] = defaultdict(int)
    for file, _ in functions:
        per_file[Path(file).relative_to(root).as_posix()] += 1
    return len(functions), len(per_file), dict(sorted(per_file.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("circles", help="import circles among serkit modules")
    predict = sub.add_parser("predict", help="functions and files visited by serkit predict")
    predict.add_argument("path")
    args = parser.parse_args()
    if args.what == "circles":
        found = circles(import_graph())
        for component in found:
            print(" <-> ".join(component))
        print(f"{len(found)} circle(s)")
    else:
        n_functions, n_files, per_file = trace_predict(args.path)
        for file, count in per_file.items():
            print(f"{count:4d}  {file}")
        # the feature computation itself (DSP inside the extractor) is not plumbing
        dsp = sum(n for f, n in per_file.items() if f in _EXTRACTOR_INTERNALS)
        print(f"{n_functions} distinct serkit functions in {n_files} files")
        internals = ", ".join(_EXTRACTOR_INTERNALS)
        print(f"{n_functions - dsp} outside the extractor's own DSP ({internals})")


if __name__ == "__main__":
    main()
