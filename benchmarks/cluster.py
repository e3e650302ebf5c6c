"""The distributed fit at scale: 20,000,000 rows, random intercept, 7 points, from Parquet.

    python benchmarks/cluster.py                 # generate once; fit on 1, 2 workers, in memory
    python benchmarks/cluster.py --rows 2000000  # a smaller run of the same design
    python benchmarks/cluster.py --skip-memory   # without the in-memory comparison fit

Each fit runs in a fresh child process (the distributed ones start their own local cluster
of N single-threaded worker processes). The report gives, for each fit: the whole time, the
Newton iterations and the time per iteration, the peak resident memory of every worker
process (and of the client), and for the in-memory fit its peak. From the measured cost of
one partition's pass and the reduction overhead it projects the time per iteration on 50
workers. Results go to ``benchmarks/cluster.json`` (git ignores it) and print as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
COMMAND = "melogit y x1 x2 || g:"
ROWS_PER_CLUSTER = 100
ROWS_PER_FILE = 1_000_000


def generate(rows: int, folder: Path, seed: int = 20261203) -> Path:
    """Write ``rows`` rows of a random-intercept design as Parquet files of whole clusters
    (variance of the intercept 0.8; x1 normal, x2 0/1), once; later runs reuse them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    done = folder / "_complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_file = ROWS_PER_FILE - ROWS_PER_FILE % ROWS_PER_CLUSTER
    first = 0
    for k, start in enumerate(range(0, rows, per_file)):
        n = min(per_file, rows - start)
        clusters = n // ROWS_PER_CLUSTER
        g = np.repeat(np.arange(first, first + clusters, dtype=np.int64), ROWS_PER_CLUSTER)
        first += clusters
        x1 = rng.normal(size=g.size)
        x2 = (rng.random(g.size) < 0.4).astype(np.int8)
        u = rng.normal(0.0, np.sqrt(0.8), clusters)
        eta = -0.5 + 0.6 * x1 - 0.4 * x2 + np.repeat(u, ROWS_PER_CLUSTER)
        y = (rng.random(g.size) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int8)
        table = pa.table({"y": y, "x1": x1, "x2": x2, "g": g})
        pq.write_table(table, folder / f"part-{k:03d}.parquet")
    done.write_text(str(rows))
    return folder


def child(args: argparse.Namespace) -> None:
    """One fit, in this process; prints a JSON line with what it measured."""
    from melogit_cli.engine.events import Iteration, PhaseStart

    marks: list[tuple[str, float]] = []

    def sink(event: object) -> None:
        if isinstance(event, PhaseStart):
            marks.append((event.title, time.perf_counter()))
        elif isinstance(event, Iteration):
            marks.append(("iteration", time.perf_counter()))

    t0 = time.perf_counter()
    if args.workers == 0:
        import pandas as pd

        from melogit_cli.api import as_dataset, parse
        from melogit_cli.estimate import estimate

        frame = pd.read_parquet(args.data, columns=["y", "x1", "x2", "g"])
        est = estimate(parse(COMMAND), as_dataset(frame), sink)
        out: dict = {"workers": 0, "total_s": time.perf_counter() - t0}
    else:
        from dask.distributed import Client, LocalCluster

        from melogit_cli.api import parse
        from melogit_cli.cluster.run import fit_on_cluster

        with (
            LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=0,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            t_start = time.perf_counter()
            est, _ = fit_on_cluster(parse(COMMAND), str(args.data), client, sink)
            total = time.perf_counter() - t_start
            peaks = client.run(_peak_mb)
            out = {
                "workers": args.workers,
                "cluster_start_s": t_start - t0,
                "total_s": total,
                "worker_peak_mb": sorted(peaks.values()),
            }
    e = est.eresults
    out["iterations"] = int(e.scalars["ic"])
    out["ll"] = float(e.scalars["ll"])
    out.update(_phases(marks, t0 if args.workers == 0 else t_start))
    out["client_peak_mb"] = _peak_mb()
    print(json.dumps(out))


def _phases(marks: list[tuple[str, float]], t0: float) -> dict:
    """Seconds to the full model's phase (reading, design, buckets, start values) and
    the median seconds per Newton iteration of the full model."""
    full = [t for name, t in marks if name == "Fitting full model"]
    if not full:
        return {}
    its = [t for name, t in marks if name == "iteration" and t >= full[0]]
    steps = np.diff(its) if len(its) > 1 else np.array([np.nan])
    return {
        "setup_s": full[0] - t0,
        "newton_s": (its[-1] - full[0]) if its else float("nan"),
        "s_per_iteration": float(np.median(steps)),
    }


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(data: Path, workers: int) -> dict:
    """A fit in a fresh process; its JSON line."""
    cmd = [sys.executable, __file__, "--child", "--data", str(data), "--workers", str(workers)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        raise SystemExit(f"fit with {workers} workers failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "cluster.json")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    t0 = time.perf_counter()
    data = generate(args.rows, CACHE / f"ri{args.rows // 1_000_000}m.parquet")
    print(f"data: {data} ({args.rows:,} rows; {time.perf_counter() - t0:.0f} s)", flush=True)
    results = {"rows": args.rows, "command": COMMAND, "runs": []}
    for workers in (1, 2) + (() if args.skip_memory else (0,)):
        res = run_child(data, workers)
        results["runs"].append(res)
        print(json.dumps(res), flush=True)
        args.out.write_text(json.dumps(results, indent=2))
    projection = project(results["runs"])
    if projection:
        results["projection_50"] = projection
        args.out.write_text(json.dumps(results, indent=2))
        print(json.dumps({"projection_50": projection}), flush=True)


def project(runs: list[dict], workers: int = 50) -> dict | None:
    """Seconds per Newton iteration on ``workers`` machines like this one: the in-memory
    iteration's computation split ``workers`` ways, plus the round trips' overhead (one
    worker's iteration minus the in-memory one) grown with the depth of the reduction
    tree (1 + log2 of the workers).  Set-up (reading, design passes, buckets) is split
    the same way, its part that did not shrink from 1 to 2 workers kept whole."""
    by = {r["workers"]: r for r in runs}
    if not {0, 1, 2} <= by.keys():
        return None
    compute = by[0]["s_per_iteration"]
    overhead = max(by[1]["s_per_iteration"] - compute, 0.0)
    depth = 1 + np.log2(workers)
    setup_split = max(2 * (by[1]["setup_s"] - by[2]["setup_s"]), 0.0)
    setup_fixed = max(by[1]["setup_s"] - setup_split, 0.0)
    return {
        "s_per_iteration": float(compute / workers + overhead * depth),
        "setup_s": float(setup_fixed + setup_split / workers),
        "assumed_overhead_s_per_iteration": float(overhead * depth),
    }


if __name__ == "__main__":
    main()
