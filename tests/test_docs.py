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
from typing import Any

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


@pytest.mark.parametrize("page", [*_pages(), ROOT / "README.md"], ids=lambda p: p.name)
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


# ---------------------------------------------------------------------------------------
# The README: a user's page of at most 250 lines whose every command is parsed or run here
# and whose figures of the shipped model are the model card's.

README = ROOT / "README.md"
README_MAX_LINES = 250
# stand-ins for the placeholder files of the README's curl examples
_CURL_FILES = {"clip.wav": "examples/03-01-05-02-01-01-23.flac",
               "call.mp3": "examples/03-01-07-02-01-01-24.flac"}  # fmt: skip


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _shell_commands(block: str) -> list[list[str]]:
    """Each simple command of a shell block as argv: continuation lines joined, comments,
    redirections and the operators ``&&``, ``||``, ``;`` and ``|`` taken out."""
    import shlex

    commands: list[list[str]] = []
    for line in block.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens, current, skip = list(lexer), [], False
        for token in tokens:
            if skip:
                skip = False
            elif token in ("&&", "||", ";", "|"):
                commands.append(current)
                current = []
            elif token in (">", ">>", "<", "2>"):
                skip = True  # the redirection's file
            else:
                current.append(token)
        commands.append(current)
    return [c for c in commands if c]


def _readme_commands(program: str) -> list[list[str]]:
    blocks = _code_blocks(_readme(), "bash")
    return [c for block in blocks for c in _shell_commands(block) if c[0] == program]


def test_readme_is_a_short_page() -> None:
    lines = _readme().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, at most {README_MAX_LINES}: move details to docs/"
    )


def test_shell_commands_are_split_like_a_shell() -> None:
    block = (
        "pip install . && serkit predict examples/   # quick start\n"
        "serkit predict calls/ --csv > out.csv\n"
        "serkit predict clips/ --group-by='-(\\d+)\\.\\w+$'\n"
        "curl -F file=@a.wav \\\n    http://x/v1/predict\n"
    )
    assert _shell_commands(block) == [
        ["pip", "install", "."],
        ["serkit", "predict", "examples/"],
        ["serkit", "predict", "calls/", "--csv"],
        ["serkit", "predict", "clips/", "--group-by=-(\\d+)\\.\\w+$"],
        ["curl", "-F", "file=@a.wav", "http://x/v1/predict"],
    ]


def test_readme_keeps_the_quick_start_and_the_ci_test_command() -> None:
    text = _readme()
    assert "pip install . && serkit predict examples/\n" in text
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = 'pip install -e ".[dev]" && ruff check . && mypy src && python -m pytest'
    assert f"{command}\n" in text and command in ci


def _serkit_commands() -> list[list[str]]:
    commands = _readme_commands("serkit")
    assert len(commands) >= 10, commands
    return commands


@pytest.mark.parametrize("argv", _serkit_commands(), ids=" ".join)
def test_readme_serkit_command_parses(argv: list[str]) -> None:
    from serkit.cli import build_parser

    try:
        args = build_parser().parse_args(argv[1:])
    except SystemExit as exc:  # argparse reports the problem on stderr and exits 2
        pytest.fail(f"README command does not parse ({exc.code}): {' '.join(argv)}")
    assert args.command == argv[1]


def _runnable(argv: list[str]) -> bool:
    """``serkit info`` and predictions of the shipped model on files in this checkout."""
    from serkit.cli import build_parser

    args = build_parser().parse_args(argv[1:])
    if args.command == "info":
        return True
    return (
        args.command == "predict"
        and args.model is None
        and args.dask is None
        and args.files_from is None
        and bool(args.inputs)
        and all((ROOT / path).exists() for path in args.inputs)
    )


def test_readme_runs_the_quick_start_and_the_emotions_example() -> None:
    runnable = [" ".join(c) for c in _serkit_commands() if _runnable(c)]
    assert "serkit predict examples/" in runnable
    assert "serkit info default" in runnable
    assert any("--emotions" in c for c in runnable), runnable


@pytest.mark.parametrize("argv", [c for c in _serkit_commands() if _runnable(c)], ids=" ".join)
def test_readme_serkit_command_runs(argv: list[str], monkeypatch, capsys) -> None:
    import json

    from serkit.cli import main

    monkeypatch.chdir(ROOT)
    if argv[1] == "info":
        assert main(argv[1:]) == 0
        assert "model card:" in capsys.readouterr().out
        assert main([*argv[1:], "--json"]) == 0
        assert "model_card" in json.loads(capsys.readouterr().out)
        return
    assert main(argv[1:]) == 0  # as written, with its table and progress bar
    capsys.readouterr()
    assert main([*argv[1:], "--json", "-q"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(list((ROOT / "examples").glob("*.flac")))
    emotions = argv[argv.index("--emotions") + 1].split(",") if "--emotions" in argv else None
    for row in rows:
        if emotions is not None:
            assert list(row["probabilities"]) == emotions
        assert row["emotion"] in row["probabilities"]


def test_readme_python_example_runs(monkeypatch, capsys) -> None:
    (block,) = _code_blocks(_readme(), "python")
    assert 6 <= len(block.strip().splitlines()) <= 10
    monkeypatch.chdir(ROOT)
    exec(compile(block, "README.md", "exec"), {})  # the README's own example, as a user runs it
    import ast

    import serkit

    first, second = capsys.readouterr().out.splitlines()
    assert first.split()[0] in serkit.load().classes_
    assert set(ast.literal_eval(second)) == {"angry", "happy", "neutral", "sad"}


def _curl_request(argv: list[str]) -> tuple[str, str, dict[str, str], dict[str, Any]]:
    """(method, path with query, headers, request keyword arguments) of a curl command."""
    from urllib.parse import urlsplit

    headers: dict[str, str] = {}
    kwargs: dict[str, Any] = {}
    url = ""
    args = iter(argv[1:])
    for arg in args:
        if arg == "-H":
            name, value = next(args).split(":", 1)
            headers[name.strip()] = value.strip()
        elif arg == "-F":
            field, value = next(args).split("=@", 1)
            path = ROOT / _CURL_FILES[value]
            kwargs["files"] = {field: (value, path.read_bytes())}
        elif arg == "--data-binary":
            kwargs["content"] = (ROOT / _CURL_FILES[next(args).lstrip("@")]).read_bytes()
        elif arg.startswith("http"):
            url = arg
        else:
            raise AssertionError(f"curl option this test does not know: {arg}")
    parts = urlsplit(url)
    method = "POST" if kwargs else "GET"
    return method, parts.path + (f"?{parts.query}" if parts.query else ""), headers, kwargs


def test_readme_curl_examples_work_against_the_service() -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
    from fastapi.testclient import TestClient

    from serkit.bundles import default_model_path
    from serkit.service import create_app

    commands = _readme_commands("curl")
    paths = {urlsplit_path(c) for c in commands}
    assert {"/v1/predict", "/v1/timeline"} <= paths
    kinds = {(urlsplit_path(c), "-F" in c) for c in commands}
    assert {
        ("/v1/predict", True),
        ("/v1/predict", False),
        ("/v1/timeline", True),
        ("/v1/timeline", False),
    } <= kinds  # fmt: skip  (multipart and raw body, each)
    with TestClient(create_app(default_model_path())) as client:
        for argv in commands:
            method, path, headers, kwargs = _curl_request(argv)
            response = client.request(method, path, headers=headers, **kwargs)
            assert response.status_code == 200, (" ".join(argv), response.text)
            body = response.json()
            if "emotions=" in path:
                wanted = path.split("emotions=")[1].split("&")[0].split(",")
                assert list(body["probabilities"]) == wanted
            assert "emotion" in body or "speech" in body


def urlsplit_path(argv: list[str]) -> str:
    from urllib.parse import urlsplit

    return urlsplit(next(a for a in argv if a.startswith("http"))).path


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _shipped_manifest() -> dict[str, Any]:
    import json

    from serkit.bundles import default_model_path

    return json.loads((default_model_path() / "model.json").read_text(encoding="utf-8"))


def _shipped_card() -> dict[str, Any]:
    return _shipped_manifest()["model_card"]


def _figures_table(section: str) -> dict[str, list[str]]:
    """First column -> the per-clip and normalised cells of the table headed "test set"."""
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| test set |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[2:4]
    return rows


def _check_figures_table(rows: dict[str, list[str]]) -> None:
    import json

    loco = _shipped_card()["evaluation"]["leave_one_corpus_out"]
    four = json.loads((ROOT / "benchmarks" / "default_model_four.json").read_text())
    assert len(rows) == 4, rows
    for name, corpus in (("RAVDESS", "ravdess"), ("EmoDB", "emodb"), ("TESS", "tess")):
        result = loco[corpus]
        cells = [_pct(result["four_global"]["uar"]), _pct(result["four_speaker_norm"]["uar"])]
        assert rows[f"{name}, left out"] == cells, name
    (unseen,) = [v for k, v in rows.items() if k.startswith("unseen RAVDESS actors")]
    assert unseen == [_pct(four["global"]["uar"]), _pct(four["speaker_norm"]["uar"])]


def test_model_card_page_has_the_readme_table() -> None:
    page = (DOCS / "model-card.md").read_text(encoding="utf-8")
    section = page.split("## How well it works", 1)[1].split("\n## ", 1)[0]
    rows = _figures_table(section)
    _check_figures_table(rows)
    readme = _readme().split("## What the shipped model achieves", 1)[1].split("\n## ", 1)[0]
    assert rows == _figures_table(readme)


def test_readme_figures_are_the_model_cards() -> None:
    import json

    text = _readme()
    section = text.split("## What the shipped model achieves", 1)[1].split("\n## ", 1)[0]
    _check_figures_table(_figures_table(section))
    card = _shipped_card()
    evaluation = card["evaluation"]
    four = json.loads((ROOT / "benchmarks" / "default_model_four.json").read_text())
    model = _shipped_manifest()["model"]
    spec = card["recipe"].split("'")[1]  # "features 'SPEC' (...)"
    assert four["recipe"] == f"{spec} + {model['name']} {model['params']}", (
        "benchmarks/default_model_four.json is of another recipe: "
        "run python benchmarks/default_model_four.py"
    )
    seven = (f"{_pct(evaluation['global']['uar'])} UAR per clip "
             f"(± {100 * evaluation['global']['uar_std']:.1f} across folds), "
             f"{_pct(evaluation['speaker_norm']['uar'])}")  # fmt: skip
    assert seven in " ".join(section.split()), seven
    # the uncertain mark: threshold and rates exactly as the card states them
    uncertain = " ".join(card["uncertain"].split())
    said = " ".join(section.split("`uncertain` mark", 1)[1].split())
    threshold = re.search(r"under (\d\.\d\d)", uncertain)
    assert threshold is not None and f"under **{threshold.group(1)}**" in said
    for figure in re.findall(r"\d+\.\d %", said):
        assert figure in uncertain, figure


def test_readme_limits_quote_the_cards_answer_shares() -> None:
    loco = _shipped_card()["evaluation"]["leave_one_corpus_out"]["tess"]
    per_clip = loco["answered_global"]["answer_share"]["disgust"]
    normalised = loco["answered_speaker_norm"]["answer_share"]["disgust"]
    text = " ".join(_readme().split())
    assert f'{round(100 * per_clip)} % of TESS clips were answered "disgust"' in text
    assert f"({round(100 * normalised)} % with `--speaker-norm`)" in text
