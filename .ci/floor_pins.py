"""Print the lowest versions pyproject.toml allows, one ``name==version`` a line, for pip.

Usage: ``python .ci/floor_pins.py [--extras serve ...] [--pick pytest httpx ...]``

The core dependencies always; the named extras in full, with the extras they name
(``serkit[train]``); from any extra, the packages named after ``--pick``. Every requirement
must have a lower bound (``>=`` or ``==``), and one package the same bound wherever it is
listed; anything else is an error, so a dependency cannot join without a floor that CI then
tests. Environment markers are kept, so pip still skips what does not apply.
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
    extras, seen = list(args.extras), set()
    while extras:
        extra = extras.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in optional[extra]:
            match = REQUIREMENT.match(requirement)
            if match and _name(requirement) == "serkit":
                extras += match.group("extras").strip("[]").replace(" ", "").split(",")
            else:
                wanted.append(requirement)
    everything = [req for reqs in optional.values() for req in reqs]
    for name in args.pick:
        found = [req for req in everything if _name(req) == name.lower()]
        if not found:
            raise SystemExit(f"{PYPROJECT}: no extra lists {name!r}")
        wanted.append(found[0])
    pins: dict[str, str] = {}
    for requirement in wanted:
        name, pin = _name(requirement), floor_pin(requirement)
        if pins.setdefault(name, pin) != pin:
            raise SystemExit(f"{PYPROJECT}: {name} has two lower bounds: {pins[name]}, {pin}")
    print("\n".join(pins.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
