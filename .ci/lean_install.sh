#!/usr/bin/env bash
# CI: the README's quick start on a fresh virtual environment -- `pip install .` with no
# extras, then `serkit predict examples/` -- and the size of what that install brings.
# Fails when the prediction fails, gives other than one row per example, or the
# site-packages folder passes the budget (MB, first argument; 400 unless told).
set -euo pipefail
cd "$(dirname "$0")/.."
budget_mb="${1:-400}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet .
site="$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
size_mb="$(du -sm "$site" | cut -f1)"

# the installed package, not this checkout: no PYTHONPATH, run from elsewhere
examples="$PWD/examples"
(cd "$work" && env -u PYTHONPATH "$work/venv/bin/serkit" predict "$examples" -q) >"$work/out.txt"
rows="$(tail -n +2 "$work/out.txt" | grep -c '\.flac')"
expected="$(find "$examples" -name '*.flac' | wc -l)"
echo "lean install: serkit predict examples/ gave ${rows} of ${expected} rows;" \
    "site-packages ${size_mb} MB (budget ${budget_mb} MB)"
[ "$rows" -eq "$expected" ] || { cat "$work/out.txt"; exit 1; }
[ "$size_mb" -le "$budget_mb" ] || { echo "lean install: over the size budget" >&2; exit 1; }
