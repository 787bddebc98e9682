"""Print the lowest versions pyproject.toml allows, one ``name==version`` a line, for pip.

Usage: ``python .ci/floor_pins.py [--extras serve ...] [--pick pytest httpx ...]``

The core dependencies always; the named extras in full; from any extra, the packages named
after ``--pick``. Every requirement must have a lower bound (``>=`` or ``==``); one without
is an error, so a new dependency cannot join without a floor that CI then tests. The
extras' references to serkit itself (``serkit[serve,...]``) are skipped. Environment
markers are kept, so pip still skips what does not apply to the interpreter.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?\s*"
    r"(?P<specs>[^;]*?)\s*(?:;\s*(?P<marker>.+))?$"
)
FLOOR = re.compile(r"(?:^|,)\s*(?:>=|==)\s*(?P<version>[0-9][A-Za-z0-9.+!-]*)\s*(?=,|$)")


def floor_pin(requirement: str) -> str:
    """``numpy>=1.25`` -> ``numpy==1.25``; markers and extras are kept."""
    match = REQUIREMENT.match(requirement)
    floor = FLOOR.search(match.group("specs")) if match else None
    if match is None or floor is None:
        raise SystemExit(f"{PYPROJECT}: {requirement!r} has no lower bound (>= or ==)")
    pin = f"{match.group('name')}{match.group('extras') or ''}=={floor.group('version')}"
    return f"{pin}; {match.group('marker')}" if match.group("marker") else pin


def _name(requirement: str) -> str:
    match = REQUIREMENT.match(requirement)
    return match.group("name").lower().replace("_", "-") if match else ""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", nargs="*", default=[], help="extras to pin in full")
    parser.add_argument("--pick", nargs="*", default=[], help="packages to pin from any extra")
    args = parser.parse_args(argv)
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    unknown = [extra for extra in args.extras if extra not in optional]
    if unknown:
        raise SystemExit(f"{PYPROJECT}: no extra named {', '.join(unknown)}")
    wanted = list(project["dependencies"])
    for extra in args.extras:
        wanted += optional[extra]
    everything = [req for reqs in optional.values() for req in reqs]
    for name in args.pick:
        found = [req for req in everything if _name(req) == name.lower()]
        if not found:
            raise SystemExit(f"{PYPROJECT}: no extra lists {name!r}")
        wanted.append(found[0])
    pins: dict[str, str] = {}
    for requirement in wanted:
        if _name(requirement) != "serkit":
            pins.setdefault(_name(requirement), floor_pin(requirement))
    print("\n".join(pins.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
