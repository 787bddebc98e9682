"""Feature extraction speed over the shared RAVDESS speech corpus.

Measures, for every feature set, the wall time of ``serkit features`` over the
whole corpus in a fresh process (cold: empty cache; warm: the same command
again, reading the cache), and, in one process on one core, the per-clip time
of serkit's ``seed`` extractor beside the seed project's own ``extract_feature``.

Usage::

    python benchmarks/features.py [--root ../shared/data/ravdess-speech-16k] [--write]

``--write`` replaces the features section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "ravdess-speech-16k"
SETS = [
    ("seed", "seed"),
    ("seed, all five groups", "seed:groups=mfcc+chroma+mel+contrast+tonnetz"),
    ("stats", "stats"),
    ("egemaps", "egemaps"),
    ("compare", "compare"),
    ("logmel", "logmel"),
]


def machine() -> str:
    """CPU model and usable cores of this machine."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores, Python {platform.python_version()}"


def run_cli(root: Path, spec: str, cache: Path, out: Path) -> tuple[float, dict]:
    cmd = [
        sys.executable, "-m", "serkit.cli", "features", str(root), "--corpus", "ravdess",
        "--features", spec, "--out", str(out), "--cache-dir", str(cache), "--json", "-q",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, json.loads(done.stdout)


def cli_timings(root: Path) -> list[dict]:
    rows = []
    for label, spec in SETS:
        with tempfile.TemporaryDirectory() as tmp:
            suffix = ".npz" if spec == "logmel" else ".parquet"
            out = Path(tmp) / f"out{suffix}"
            cold, info = run_cli(root, spec, Path(tmp) / "cache", out)
            warm, info_warm = run_cli(root, spec, Path(tmp) / "cache", out)
        n = info["n_clips"]
        rows.append(
            {
                "set": label, "spec": spec, "n_clips": n, "n_features": info["n_features"],
                "cold_s": cold, "warm_s": warm, "warm_cached": info_warm["n_cached"],
                "skipped": len(info["skipped"]),
            }
        )  # fmt: skip
        print(f"{label:<24} cold {cold:7.1f} s  warm {warm:5.2f} s  ({n} clips)", flush=True)
    return rows


def seed_comparison(root: Path, step: int, groups: tuple[str, ...]) -> dict:
    """Per-clip time on one core: the seed's function vs serkit's extractor, same files."""
    sys.path.insert(0, str(REPO / "tests"))
    from seed_reference import extract_feature
    from serkit import audio
    from serkit.features import SeedFeatures

    files = sorted(root.glob("Actor_*/*.*"))[::step]
    extractor = SeedFeatures(groups=groups)
    flags = {g: True for g in groups}
    extract_feature(files[0], **flags)  # warm numba in both paths
    extractor.extract(*audio.load(files[0]))
    start = time.perf_counter()
    for f in files:
        extract_feature(f, **flags)
    seed_s = time.perf_counter() - start
    start = time.perf_counter()
    for f in files:
        extractor.extract(*audio.load(f))
    serkit_s = time.perf_counter() - start
    row = {
        "groups": "+".join(groups), "n_clips": len(files),
        "seed_ms": 1000 * seed_s / len(files), "serkit_ms": 1000 * serkit_s / len(files),
    }  # fmt: skip
    print(
        f"seed {row['groups']}: seed extract_feature {row['seed_ms']:.1f} ms/clip, "
        f"serkit {row['serkit_ms']:.1f} ms/clip ({len(files)} clips, 1 process)",
        flush=True,
    )
    return row


def markdown(cli_rows: list[dict], seed_rows: list[dict]) -> str:
    today = dt.date.today().isoformat()
    lines = [
        "<!-- features:start -->",
        "## Feature extraction (`benchmarks/features.py`)",
        "",
        f"{today}, {machine()}. Whole RAVDESS speech corpus (1440 clips, 1.48 h, 16 kHz FLAC).",
        "`serkit features` in a fresh process with `--jobs` = all cores; cold = empty cache,",
        "warm = the same command again (process start and imports included in both).",
        "",
        "| feature set | values | cold | per clip | warm (cache) |",
        "|---|---|---|---|---|",
    ]
    for r in cli_rows:
        lines.append(
            f"| `{r['spec']}` | {r['n_features']} | {r['cold_s']:.1f} s | "
            f"{1000 * r['cold_s'] / r['n_clips']:.1f} ms | {r['warm_s']:.2f} s |"
        )
    lines += [
        "",
        "One process, numba warmed up, the same files: the seed's own `extract_feature`",
        "(transcribed in `tests/seed_reference.py`) against serkit's `seed` extractor",
        "(which decodes through `serkit.audio.load` and shares one STFT between groups).",
        "",
        "| groups | clips | seed `extract_feature` | serkit `seed` |",
        "|---|---|---|---|",
    ]
    for r in seed_rows:
        lines.append(
            f"| {r['groups']} | {r['n_clips']} | {r['seed_ms']:.1f} ms/clip | "
            f"{r['serkit_ms']:.1f} ms/clip |"
        )
    lines += ["", "Reproduce: `python benchmarks/features.py --write`.", "<!-- features:end -->"]
    return "\n".join(lines) + "\n"


def write_section(text: str, name: str = "features") -> None:
    """Replace (or append) the section between ``<!-- name:start/end -->`` in RESULTS.md."""
    results = HERE / "RESULTS.md"
    current = results.read_text() if results.exists() else "# Benchmark results\n\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->\n"
    if start in current and end in current:
        head, rest = current.split(start, 1)
        tail = rest.split(end, 1)[1]
        current = head + text + tail
    else:
        current = current.rstrip("\n") + "\n\n" + text
    results.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--skip-cli", action="store_true", help="only the one-core comparison")
    args = parser.parse_args()
    if not args.root.is_dir():
        sys.exit(f"corpus not found: {args.root}")
    cli_rows = [] if args.skip_cli else cli_timings(args.root)
    seed_rows = [
        seed_comparison(args.root, 1, ("mfcc", "chroma", "mel")),
        seed_comparison(args.root, 6, ("mfcc", "chroma", "mel", "contrast", "tonnetz")),
    ]
    text = markdown(cli_rows, seed_rows)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
