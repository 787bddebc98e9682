#!/usr/bin/env bash
# CI: serkit against the lowest versions pyproject.toml allows. A separate Python 3.11
# virtual environment gets exactly the lower bounds of the default install and of the extras
# the tests below need (train, seed, opensmile, plots, parquet, serve; pytest, httpx and
# hypothesis at theirs), serkit itself without dependencies, and runs the tests marked
# `floors`: the shipped model's predictions, training and saving every classic model,
# features, the CLI and the service. Fails when any of them fails.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${SERKIT_FLOORS_PYTHON:-python3.11}
venv=${SERKIT_FLOORS_VENV:-.venv-floors}
if ! command -v "$python" >/dev/null 2>&1; then
    echo "min_versions.sh: needs $python (or set SERKIT_FLOORS_PYTHON to a Python 3.11)" >&2
    exit 2
fi

"$python" -m venv --clear "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
python .ci/floor_pins.py --extras train seed opensmile plots parquet serve \
    --pick pytest httpx hypothesis >"$venv/floors.txt"
# the pinned packages as wheels (each floor must have one for Python 3.11); pip chooses only
# what the pins leave open (transitive dependencies, some of which are source-only)
pinned=$(sed -E 's/[^A-Za-z0-9._-].*//' "$venv/floors.txt" | paste -sd, -)
pip install --quiet --only-binary="$pinned" -r "$venv/floors.txt"
pip install --quiet --no-deps .
echo "min_versions.sh: $(python --version), $(tr '\n' ' ' <"$venv/floors.txt")"
# from tests/ only (the doctests in src/ import the optional extras), against the installed copy
python -m pytest tests -m "floors and not slow" -p no:cacheprovider -q
