"""Scale-out on Dask: throughput, per-task overhead, client memory and scheduler load.

Measures, over the shared RAVDESS speech corpus (1440 clips):

* clips/s of ``serkit features`` (``stats`` and ``seed``) and ``serkit predict`` (the
  default model) run four ways, back to back per workload: locally with ``--jobs 2``;
  with ``--dask local:2`` (a LocalCluster started by the command); and on two clusters of
  a separate ``dask scheduler`` + two ``dask worker --nthreads 1`` processes started
  beforehand with Dask's defaults (a nanny, which sets ``MALLOC_TRIM_THRESHOLD_``): one
  with serkit's run-time malloc fix turned off (``SERKIT_DASK_MALLOPT=0``, what such
  workers did before) and one with it (the default); both are warmed first with a two-clip
  job of each workload, as a standing cluster is. Each command is a fresh process, no
  feature cache, the CLI's default partition size (256 clips); both the whole command's
  wall time and the job's own time (``--json`` ``seconds``: from the first listing to the
  last partition, cluster start-up excluded) are recorded;
* the per-task overhead on each kind of cluster: the same clips with one clip per
  partition against two partitions, and a bare Dask no-op task round trip;
* the client's peak memory (VmHWM) and the scheduler's largest task count for a
  ``--files-from`` list of 100,000 entries (1,000 distinct short synthetic clips,
  each listed 100 times; the worker-side feature cache serves repeats);
* a sizing of a 100,000-hour archive from the measured per-core rate.

Usage::

    python benchmarks/distributed.py [--root ../shared/data/ravdess-speech-16k] [--limit N]
        [--slow-limit N] [--partition-size 256] [--entries 100000] [--write]

``--write`` replaces the generated part of the scale-out section of
``benchmarks/RESULTS.md`` (between ``<!-- dask-run:start -->`` and ``<!-- dask-run:end -->``;
the hand-written subsections around it stay) and writes ``benchmarks/distributed.json``.
``uptime`` is recorded around every run: on a shared machine the figures are upper bounds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "ravdess-speech-16k"
DASK_BIN = Path(sys.executable).parent / "dask"
RUN_START = "<!-- dask-run:start -->"
RUN_END = "<!-- dask-run:end -->"
SECTION = "## Scale-out on Dask (`benchmarks/distributed.py`)"
# this file's name shadows the distributed package when run as a script: drop its folder
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
WORKLOADS = [("features stats", "stats"), ("features seed", "seed"), ("predict (default)", None)]
LOCAL = "local --jobs 2"
LOCAL_DASK = "--dask local:2"
NANNY = "scheduler + 2 workers, nanny defaults"
FIXED = "scheduler + 2 workers, nanny defaults + serkit's mallopt"
MODES = [LOCAL, LOCAL_DASK, NANNY, FIXED]


def machine() -> str:
    """CPU model and usable cores of this machine."""
    model = platform.processor() or "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{model}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}"


def load() -> str:
    """The 1/5/15-minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [out.get("PYTHONPATH")])])
    out.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "numba-serkit-bench"))
    out.update(extra)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """``dask scheduler`` + N ``dask worker --nthreads 1`` (Dask's defaults: with a nanny),
    each in its own process group; ``extra_env`` is added to every process's environment."""

    def __init__(self, n_workers: int, logdir: Path, name: str, **extra_env: str) -> None:
        from distributed import Client

        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        start = time.perf_counter()
        self.procs = [
            subprocess.Popen(
                [str(DASK_BIN), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--dashboard-address", "127.0.0.1:0"],
                env=env(**extra_env), stdout=open(logdir / f"{name}-scheduler.log", "w"),  # noqa: SIM115
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        ]  # fmt: skip
        for i in range(n_workers):
            self.procs.append(
                subprocess.Popen(
                    [str(DASK_BIN), "worker", self.address, "--nthreads", "1", "--host",
                     "127.0.0.1", "--no-dashboard", "--memory-limit", "0"],
                    env=env(**extra_env), stdout=open(logdir / f"{name}-worker{i}.log", "w"),  # noqa: SIM115
                    stderr=subprocess.STDOUT, start_new_session=True,
                )
            )  # fmt: skip
        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(n_workers, timeout=180)
        self.startup_s = time.perf_counter() - start

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def run(cmd: list[str], *, stdout_file: Path | None = None, watch=None) -> dict:
    """Run a serkit command; wall time, the client's peak RSS (VmHWM) and its JSON output."""
    before = load()
    start = time.perf_counter()
    out = open(stdout_file, "w") if stdout_file else subprocess.PIPE  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "serkit", *cmd], env=env(), stdout=out, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    peak_kb = 0
    stop = threading.Event()
    extra: dict = {}

    def poll() -> None:
        nonlocal peak_kb
        while not stop.is_set():
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
            except OSError:
                pass
            if watch is not None:
                watch(extra)
            stop.wait(0.2)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    stdout, stderr = proc.communicate()
    stop.set()
    thread.join()
    seconds = time.perf_counter() - start
    if stdout_file:
        out.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {stderr[-2000:]}")
    summary = json.loads(stdout) if stdout and stdout.strip().startswith("{") else {}
    return {"seconds": round(seconds, 2), "peak_mb": round(peak_kb / 1024, 1),
            "summary": summary, "load_before": before, "load_after": load(), **extra}  # fmt: skip


def corpus_tree(root: Path, limit: int | None, work: Path) -> tuple[Path, int, float]:
    """The corpus (or a symlinked subset of ``limit`` clips), its clip count and mean duration."""
    import soundfile as sf

    files = sorted(root.glob("Actor_*/*.*"))
    if limit:
        files = files[:limit]
        tree = work / "subset"
        for f in files:
            (tree / f.parent.name).mkdir(parents=True, exist_ok=True)
            (tree / f.parent.name / f.name).symlink_to(f)
        root = tree
    mean = sum(sf.info(str(f)).duration for f in files) / len(files)
    return root, len(files), mean


def throughput(
    trees: dict[str, tuple[Path, int]], work: Path, clusters: dict[str, Cluster], size: int
) -> list[dict]:
    """Every workload in every mode, the modes of one workload back to back."""
    rows = []
    for label, spec in WORKLOADS:
        root, n = trees[label]
        for mode in MODES:
            out = work / f"{label.split()[0]}-{spec}-{MODES.index(mode)}"
            if spec is not None:
                cmd = ["features", str(root), "--features", spec, "--no-cache", "-q", "--json"]
            else:
                cmd = ["predict", str(root), "-q"]
            if mode == LOCAL:
                if spec is not None:
                    cmd += ["--out", str(out) + ".parquet", "--jobs", "2"]
                else:
                    cmd += ["--jobs", "2", "--csv"]
                result = run(cmd, stdout_file=None if spec else out.with_suffix(".csv"))
            else:
                address = "local:2" if mode == LOCAL_DASK else clusters[mode].address
                cmd += ["--out", str(out), "--dask", address, "--partition-size", str(size)]
                if spec is None:
                    cmd += ["--json"]
                result = run(cmd)
            job_s = result["summary"].get("seconds") if mode != LOCAL or spec else None
            result.update(workload=label, mode=mode, clips=n,
                          clips_per_s=round(n / result["seconds"], 2),
                          job_seconds=job_s,
                          job_clips_per_s=round(n / job_s, 2) if job_s else None)  # fmt: skip
            print(json.dumps(result), flush=True)
            rows.append(result)
    return rows


def warm_up(root: Path, work: Path) -> None:
    """Fill the numba cache (librosa's compiled functions) so no timed run pays for it."""
    files = sorted(root.glob("Actor_*/*.*"))[:2]
    for _, spec in WORKLOADS:
        if spec is None:
            run(["predict", *map(str, files), "-q", "--csv"], stdout_file=work / "warm.csv")
            continue
        run(["features", str(files[0].parent), "--features", spec, "--no-cache", "-q",
             "--jobs", "1", "--out", str(work / f"warm-{spec}.parquet")])  # fmt: skip


def warm_cluster(root: Path, work: Path, mode: str, address: str) -> None:
    """A two-clip job of every workload on a standing cluster: its workers import and load
    what the timed runs need, as a cluster that has run jobs before has."""
    tree = work / "two"
    if not tree.exists():
        for f in sorted(root.glob("Actor_*/*.*"))[:2]:
            (tree / f.parent.name).mkdir(parents=True, exist_ok=True)
            (tree / f.parent.name / f.name).symlink_to(f)
    tag = MODES.index(mode)
    for _, spec in WORKLOADS:
        out = work / f"warm-{tag}-{spec}"
        if spec is None:
            run(["predict", str(tree), "-q", "--json", "--out", str(out), "--dask", address])
        else:
            run(["features", str(tree), "--features", spec, "--no-cache", "-q", "--json",
                 "--out", str(out), "--dask", address])  # fmt: skip


def noop_ms(address: str, n_tasks: int = 400) -> float:
    """Mean time of a bare Dask task round trip, four in flight as serkit's client keeps."""
    from distributed import Client, as_completed

    with Client(address) as client:
        start = time.perf_counter()
        futures = as_completed()
        for i in range(n_tasks):
            futures.add(client.submit(int, i, pure=False))
            while futures.count() >= 4:
                next(futures).release()
        while futures.count():
            next(futures).release()
        return 1000 * (time.perf_counter() - start) / n_tasks


def overhead(root: Path, work: Path, mode: str, address: str, m: int) -> dict:
    """Per-task cost: m clips as m partitions against 2 partitions, job time (2 workers).

    With two workers, m one-clip tasks take about (m/2)(c + o) and two m/2-clip tasks
    (m/2) c + o, where c is a clip's time and o a task's overhead on its worker:
    o = 2 (T_m - T_2) / (m - 2).
    """
    files = sorted(root.glob("Actor_*/*.*"))[:m]
    listing = work / "overhead.txt"
    listing.write_text("\n".join(map(str, files)) + "\n")
    base = ["features", "--files-from", str(listing), "--corpus", "ravdess", "--no-cache",
            "-q", "--json", "--dask", address]  # fmt: skip
    tag = MODES.index(mode)
    one = run([*base, "--out", str(work / f"ov1-{tag}"), "--partition-size", "1"])
    big = run([*base, "--out", str(work / f"ovbig-{tag}"), "--partition-size", str(m // 2)])
    t_one, t_big = one["summary"]["seconds"], big["summary"]["seconds"]
    row = {"mode": mode, "clips": m, "seconds_1_per_partition": t_one,
           "seconds_2_partitions": t_big,
           "per_task_ms": round(1000 * 2 * (t_one - t_big) / (m - 2), 1),
           "load": load()}  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def memory(work: Path, cluster: Cluster, entries: int) -> dict:
    """Client peak memory and the scheduler's largest task count for a long file list."""
    import numpy as np
    import soundfile as sf
    from distributed import Client

    clips = work / "synthetic"
    clips.mkdir()
    rng = np.random.default_rng(0)
    distinct = min(1000, entries)
    for i in range(distinct):
        t = np.arange(8000) / 16000
        y = 0.2 * np.sin(2 * np.pi * (120 + i % 200) * t) + 0.01 * rng.standard_normal(len(t))
        sf.write(clips / f"clip{i:04d}.wav", y.astype(np.float32), 16000)
    listing = work / "many.txt"
    with open(listing, "w") as handle:
        for k in range(entries):
            handle.write(f"{clips}/clip{k % distinct:04d}.wav\n")
    client = Client(cluster.address)

    def watch(extra: dict) -> None:
        try:
            n = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
        except Exception:
            return
        extra["max_scheduler_tasks"] = max(extra.get("max_scheduler_tasks", 0), n)

    cmd = ["features", "--files-from", str(listing), "--corpus", "none", "--features", "stats",
           "--cache-dir", str(work / "cache"), "--out", str(work / "many"), "--json",
           "--dask", cluster.address]  # fmt: skip
    result = run(cmd, watch=watch)
    client.close()
    result.update(entries=entries, distinct=distinct, clip_s=0.5,
                  partitions=result["summary"].get("n_partitions"))  # fmt: skip
    print(json.dumps(result), flush=True)
    return result


def sizing(rows: list[dict], mean_s: float) -> dict:
    """Cores and hours for 100,000 hours of audio from the fixed cluster's per-core rate."""
    out = {}
    for row in rows:
        if row["mode"] != FIXED:
            continue
        per_core = (row["job_clips_per_s"] or row["clips_per_s"]) / 2
        audio_per_core_s = per_core * mean_s  # seconds of audio per core-second
        core_hours = 100_000 * 3600 / audio_per_core_s / 3600
        out[row["workload"]] = {
            "clips_per_core_s": round(per_core, 2),
            "audio_x_realtime_per_core": round(audio_per_core_s, 1),
            "core_hours": round(core_hours),
            "hours_on_100_cores": round(core_hours / 100, 1),
            "hours_on_1000_cores": round(core_hours / 1000, 2),
        }
    return out


def _cell(row: dict, base: dict | None) -> str:
    text = f"{row['clips_per_s']:.1f} ({row['seconds']:.1f} s)"
    if row.get("job_clips_per_s") and row["mode"] != LOCAL:
        text += f"; job {row['job_clips_per_s']:.1f} ({row['job_seconds']:.1f} s)"
    if base is not None and row["mode"] != LOCAL:
        text += f" **{100 * row['clips_per_s'] / base['clips_per_s']:.0f} %**"
        if row.get("job_clips_per_s"):
            text += f" / {100 * row['job_clips_per_s'] / base['clips_per_s']:.0f} %"
    return text


def _share(row: dict, size: int) -> float:
    """The overhead's share of a ``size``-clip partition's time on its worker, in %."""
    per_clip_s = 2 * row["seconds_2_partitions"] / row["clips"]
    task_s = row["per_task_ms"] / 1000
    return 100 * task_s / (size * per_clip_s + task_s)


def markdown(report: dict) -> str:
    from serkit.distributed import DEFAULT_PARTITION_SIZE

    size = report["partition_size"]
    default = " (the CLI's default)" if size == DEFAULT_PARTITION_SIZE else ""
    lines = [
        RUN_START,
        f"### Latest run of `python benchmarks/distributed.py` ({report['date']})",
        "",
        f"{report['machine']}; load average {report['load_start']} at the start, "
        f"{report['load_end']} at the end (on a shared machine every figure is an upper bound "
        f"of the time). Command: `{report['command']}`.",
        "",
        f"Throughput over RAVDESS clips (mean {report['mean_clip_s']:.2f} s; clips per "
        f"workload: {', '.join(f'{k} {v}' for k, v in report['clips_by_workload'].items())}), "
        f"{size} clips per partition{default}, fresh process per command, no "
        "feature cache, numba cache warm. Each cell: clips/s over the whole command's wall "
        "time (for `--dask local:2` cluster start-up included), then over the job's own time "
        "(`--json` `seconds`: listing to last partition); in bold the whole command against "
        "local `--jobs 2`, then the job's own rate against it. The separate clusters were "
        f"started beforehand ({report['cluster_startup_s']} s each, not included) and, as a "
        "standing cluster would be, warm: before the timed runs each ran a two-clip job of "
        "every workload (imports, the model); "
        '"nanny defaults" runs `dask worker` as installed (its nanny sets '
        '`MALLOC_TRIM_THRESHOLD_=65536`) with `SERKIT_DASK_MALLOPT=0`, "+ serkit\'s mallopt" '
        "the same workers with serkit's default run-time fix:",
        "",
        "| workload | "
        + " | ".join(f"`{m}`" if m in (LOCAL, LOCAL_DASK) else m for m in MODES)
        + " |",
        "|---|" + "---|" * len(MODES),
    ]
    by = {(r["workload"], r["mode"]): r for r in report["throughput"]}
    for label, _ in WORKLOADS:
        base = by[(label, LOCAL)]
        cells = [_cell(by[(label, mode)], base) for mode in MODES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    ov = {row["mode"]: row for row in report["overhead"]}
    cells = ["-"] + [f"{ov[m]['per_task_ms']} ms" if m in ov else "see below" for m in MODES[1:]]
    lines.append("| per-task overhead | " + " | ".join(cells) + " |")
    noop = report.get("noop_task_ms", {})
    cells = ["-"] + [f"{noop[m]:.1f} ms" if m in noop else "-" for m in MODES[1:]]
    lines.append("| bare no-op task | " + " | ".join(cells) + " |")
    any_ov = next(iter(ov.values()), None)
    if any_ov:
        lines += [
            "",
            f"Per-task overhead: {any_ov['clips']} clips (`stats`) as {any_ov['clips']} one-clip "
            "partitions against 2 partitions, job time on 2 workers: o = 2 (T_m - T_2) / (m - 2) "
            "is what each task costs its worker beyond its clips (submit, schedule, the task's "
            "set-up, one Parquet file, one manifest entry). At "
            f"{size} clips per partition that is "
            + ", ".join(f"{_share(row, size):.2f} % ({row['mode']})" for row in ov.values())
            + " of a partition's time. Not measured for `--dask local:2`: each command starts "
            "a fresh cluster whose first tasks' imports swamp the difference; its tasks are the "
            "same as on the separate cluster. The bare no-op row is a Dask task round trip with "
            "four in flight, as serkit's client keeps.",
        ]
    mem = report.get("memory")
    if mem:
        lines += [
            "",
            f"Client memory: a `--files-from` list of {mem['entries']:,} entries "
            f"({mem['distinct']:,} distinct {mem['clip_s']} s synthetic clips, each listed "
            f"{mem['entries'] // mem['distinct']} times; `stats`, worker-side cache; the fixed "
            f"cluster) ran in {mem['seconds']:.0f} s as {mem['partitions']} partitions: "
            f"**client peak RSS {mem['peak_mb']:.0f} MB**; the scheduler held at most "
            f"**{mem.get('max_scheduler_tasks', '?')} tasks** at a time (the client keeps at "
            "most max(4, 2 x worker threads) partitions in flight, whatever the number of "
            "files).",
        ]
    lines += [
        "",
        "Sizing a 100,000-hour archive from the per-core rate (job time) of the separate "
        "cluster with serkit's mallopt (clips of RAVDESS length; feature time grows about "
        "linearly with duration, so the rate in audio seconds per core-second carries over to "
        "longer recordings):",
        "",
        "| workload | clips/s per core | audio x real time per core | core-hours | "
        "hours on 100 cores | hours on 1000 cores |",
        "|---|---|---|---|---|---|",
    ]
    for label, s in report["sizing"].items():
        lines.append(
            f"| {label} | {s['clips_per_core_s']} | {s['audio_x_realtime_per_core']} | "
            f"{s['core_hours']:,} | {s['hours_on_100_cores']} | {s['hours_on_1000_cores']} |"
        )
    lines += ["", RUN_END]
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Put ``text`` between the run markers, or at the top of the section if it has none."""
    path = HERE / "RESULTS.md"
    body = path.read_text()
    if RUN_START in body and RUN_END in body:
        start = body.index(RUN_START)
        end = body.index(RUN_END) + len(RUN_END)
        body = body[:start] + text + body[end:]
    elif SECTION in body:
        at = body.index("\n", body.index(SECTION)) + 1
        body = body[:at] + "\n" + text + "\n" + body[at:]
    else:
        body = body.rstrip("\n") + f"\n\n{SECTION}\n\n{text}\n"
    path.write_text(body)


def main() -> None:
    from serkit.distributed import DEFAULT_PARTITION_SIZE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--limit", type=int, default=None, help="use the first N clips only")
    parser.add_argument(
        "--slow-limit", type=int, default=None, help="first N clips only for seed and predict"
    )
    parser.add_argument(
        "--partition-size",
        type=int,
        default=DEFAULT_PARTITION_SIZE,
        help=f"clips per partition (default: the CLI's, {DEFAULT_PARTITION_SIZE})",
    )
    parser.add_argument("--overhead-clips", type=int, default=96, help="clips of the overhead run")
    parser.add_argument(
        "--entries", type=int, default=100_000, help="file-list length (0: skip that run)"
    )
    parser.add_argument(
        "--workloads",
        default="stats,seed,predict",
        help="comma-separated subset of stats, seed, predict (default: all three)",
    )
    parser.add_argument("--write", action="store_true", help="update RESULTS.md and the JSON")
    args = parser.parse_args()
    wanted = {w.strip() for w in args.workloads.split(",")}
    unknown = wanted - {"stats", "seed", "predict"}
    if unknown or not wanted:
        parser.error(f"--workloads: unknown {', '.join(sorted(unknown)) or '(none given)'}")
    WORKLOADS[:] = [(k, v) for k, v in WORKLOADS if (v or "predict") in wanted]
    if not DASK_BIN.exists():
        sys.exit(f"the dask command is not next to {sys.executable}: pip install 'serkit[dist]'")
    work = Path(tempfile.mkdtemp(prefix="serkit-dist-bench-"))
    report: dict = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": " ".join(["python", "benchmarks/distributed.py", *sys.argv[1:]]),
        "load_start": load(),
    }
    started = time.perf_counter()
    clusters: dict[str, Cluster] = {}
    try:
        root, n, mean_s = corpus_tree(args.root, args.limit, work)
        small = (root, n)
        if args.slow_limit and args.slow_limit < n:
            sub = work / "slow"
            sub.mkdir()
            small_root, small_n, _ = corpus_tree(args.root, args.slow_limit, sub)
            small = (small_root, small_n)
        trees = {label: (root, n) if spec == "stats" else small for label, spec in WORKLOADS}
        report.update(clips=n, mean_clip_s=mean_s, partition_size=args.partition_size,
                      clips_by_workload={k: v[1] for k, v in trees.items()})  # fmt: skip
        warm_up(args.root, work)
        clusters[NANNY] = Cluster(2, work, "nanny", SERKIT_DASK_MALLOPT="0")
        clusters[FIXED] = Cluster(2, work, "fixed")
        report["cluster_startup_s"] = round(max(c.startup_s for c in clusters.values()), 1)
        for mode in (NANNY, FIXED):
            warm_cluster(args.root, work, mode, clusters[mode].address)
        report["throughput"] = throughput(trees, work, clusters, args.partition_size)
        report["overhead"] = [
            overhead(args.root, work, mode, clusters[mode].address, args.overhead_clips)
            for mode in (NANNY, FIXED)
        ]
        report["noop_task_ms"] = {
            mode: round(noop_ms(clusters[mode].address), 2) for mode in (NANNY, FIXED)
        }
        clusters.pop(NANNY).close()  # the memory run needs one cluster only
        if args.entries:
            report["memory"] = memory(work, clusters[FIXED], args.entries)
        report["sizing"] = sizing(report["throughput"], mean_s)
        report["load_end"] = load()
        report["total_s"] = round(time.perf_counter() - started, 1)
    finally:
        for cluster in clusters.values():
            cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    text = markdown(report)
    print(text)
    print(f"total {report['total_s']} s", file=sys.stderr)
    if args.write:
        (HERE / "distributed.json").write_text(json.dumps(report, indent=2) + "\n")
        write_section(text)


if __name__ == "__main__":
    main()
