"""The documentation site's sources: the generated CLI page is current, pages stay clean.

``mkdocs build --strict`` (in ``.ci/run``) checks links, anchors and docstrings; these
tests check what it cannot: that ``docs/cli.md`` is what ``scripts/cli_reference.py``
writes from today's parser, and that pages carry no dates, loads or work labels.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _script(name: str) -> ModuleType:
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_cli_page_is_generated_from_the_parser() -> None:
    expected = _script("cli_reference").render()
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert committed == expected, (
        "docs/cli.md is out of date with serkit's CLI: run python scripts/cli_reference.py"
    )


def test_cli_page_lists_every_subcommand_and_option() -> None:
    from serkit.cli import build_parser

    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    (commands,) = [a for a in parser._actions if hasattr(a, "choices") and a.dest == "command"]
    for name, sub in commands.choices.items():
        assert f"## serkit {name}\n" in page
        for action in sub._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in page or f", {flag}" in page, (name, flag)


def test_cli_reference_check_mode_reports_a_stale_page(tmp_path, monkeypatch, capsys) -> None:
    module = _script("cli_reference")
    stale = tmp_path / "cli.md"
    stale.write_text("# old\n", encoding="utf-8")
    monkeypatch.setattr(module, "PAGE", stale)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    assert module.main(["--check"]) == 1
    assert "python scripts/cli_reference.py" in capsys.readouterr().err
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0


def _pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def test_every_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", config, flags=re.MULTILINE))
    assert {p.name for p in _pages()} == listed


# dates, clock times, machine loads, issue numbers and internal work labels belong in
# benchmarks/RESULTS.md or the tracker, not on a user's page
_FORBIDDEN = {
    "a date": re.compile(r"\b20\d\d-\d\d-\d\d\b"),
    "a clock time": re.compile(r"\b\d\d:\d\d(?::\d\d)? ?UTC\b"),
    "a machine load": re.compile(r"\bload(?: average)? (?:of |about |below )?\d", re.IGNORECASE),
    "an issue number": re.compile(r"\b(?:issue|PR|pull request)s? #?\d+", re.IGNORECASE),
    "a work label": re.compile(r"\b(?:helper|ANCHORS|session \d+|sitting)\b"),
}


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_pages_carry_no_dates_loads_or_work_labels(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    found = [
        f"{what}: {match.group(0)!r}"
        for what, pattern in _FORBIDDEN.items()
        for match in pattern.finditer(text)
    ]
    assert not found, f"{page.name} has {found}"


def test_module_table_covers_every_public_module_with_a_summary() -> None:
    rows = dict(_script("mkdocs_hooks").module_rows())
    assert {"serkit", "serkit.audio", "serkit.recognizer", "serkit.service"} <= set(rows)
    assert not [name for name, summary in rows.items() if not summary]
    assert not [name for name in rows if any(p.startswith("_") for p in name.split("."))]


def test_hook_drops_sphinx_roles() -> None:
    hooks = _script("mkdocs_hooks")
    html = "see :func:<code>serkit.load</code> and :meth:<code>~serkit.A.fit</code>"
    assert hooks.on_page_content(html) == "see <code>serkit.load</code> and <code>fit</code>"
