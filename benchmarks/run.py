"""Benchmark melogit_cli against glmm (PyPI), lme4's glmer and glmmTMB on the same data.

    python benchmarks/run.py [--cases ex1,ri100k] [--peers ours,glmm,glmer,glmmtmb]
                             [--timeout 600] [--quick] [--repeat 1] [--processes 1]
                             [--out results.json]

Every fit runs in its own fresh child process, one after another. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
from pathlib import Path

from rich.console import Console
from suite import cases, data, report, runners

ALL_RUNNERS = ("ours", "glmm", "glmer", "glmmtmb")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", help="comma-separated case names (default: all)")
    p.add_argument(
        "--peers",
        default=",".join(ALL_RUNNERS),
        help="comma-separated runners: ours,glmm,glmer,glmmtmb (default: all)",
    )
    p.add_argument("--timeout", type=float, default=600, help="seconds per peer fit (600)")
    p.add_argument(
        "--ours-timeout", type=float, default=3600, help="seconds per fit of ours (3600)"
    )
    p.add_argument("--quick", action="store_true", help="skip slope1m and the peers' slowest runs")
    p.add_argument("--repeat", type=int, default=1, help="fits per child; the fastest counts")
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="fresh processes per job, in interleaved rounds; the median counts (1)",
    )
    p.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results.json", help="JSON file"
    )
    p.add_argument("--cache", type=Path, default=data.CACHE, help="data cache directory")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument(
        "--markdown", type=Path, metavar="JSON", help="print a results file as Markdown and exit"
    )
    args = p.parse_args(argv)
    args.runners = [r.strip().lower() for r in args.peers.split(",") if r.strip()]
    bad = [r for r in args.runners if r not in ALL_RUNNERS]
    if bad:
        p.error(f"unknown runner(s) {bad}; choose from {','.join(ALL_RUNNERS)}")
    args.case_names = [c.strip() for c in args.cases.split(",")] if args.cases else None
    return args


def machine_info(r_versions: dict[str, str]) -> dict:
    """Where and with what the run happened."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy

    from melogit_cli import __version__ as ours_version

    return {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "melogit_cli": ours_version,
        "glmm": _glmm_version(),
        **r_versions,
    }


def _glmm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("glmm")
    except PackageNotFoundError:
        return ""


def run_case(
    case: cases.Case, args: argparse.Namespace, r_versions: dict[str, str], console: Console
) -> report.CaseResult:
    """Every selected runner on one case, one after another."""
    res = report.CaseResult(case.name, case.title, case.command, case.formula, "", None)
    res.note = case.note
    try:
        csv = case.build(args.cache)
    except Exception as exc:  # noqa: BLE001 - a case's data failing must not stop the run
        res.note = f"skipped: {exc}"
        console.print(f"[yellow]{case.name}: {res.note}[/]")
        return res
    res.data = str(csv)
    with open(csv) as fh:
        res.nobs = sum(1 for _ in fh) - 1
    jobs: list[str] = []
    for runner in args.runners:
        if args.quick and runner in case.slow_peers:
            res.outcomes[runner] = runners.Outcome(runner, "skipped", note="--quick")
            continue
        jobs += [runner] if runner != "ours" else ["ours", "cmd", "laplace"]
    if case.laplace_command is None:
        jobs = [j for j in jobs if j != "laplace"]
    runs: dict[str, list[runners.Outcome]] = {job: [] for job in jobs}
    for round_ in range(max(1, args.processes)):
        for job in jobs:
            done = runs[job]
            if done and not runners.worth_repeating(done[0]):
                continue
            console.print(f"  {case.name:<11} {job:<8}", end="")
            load = os.getloadavg()[0]
            out = _run_one(job, case, csv, args, r_versions)
            out.load = round(load, 2)
            done.append(out)
            secs = f"{out.seconds:.2f} s" if out.seconds is not None else ""
            ll = f"ll {out.ll:.4f}" if out.ll is not None else ""
            flag = "  NOT CONVERGED" if out.converged is False else ""
            tag = f" [{round_ + 1}]" if args.processes > 1 else ""
            line = f" {out.status:<8} {out.method:<16} {secs:>10}  {ll}{flag}  {out.note[:60]}{tag}"
            console.print(line, markup=False)
    for job, done in runs.items():
        res.outcomes[job] = runners.median_of(done)
    return res


def _run_one(
    job: str, case: cases.Case, csv: Path, args: argparse.Namespace, r_versions: dict[str, str]
) -> runners.Outcome:
    if job == "ours":
        return runners.ours(case, csv, args.ours_timeout, args.repeat)
    if job == "cmd":
        return runners.command(case, csv, args.ours_timeout)
    if job == "laplace":
        return runners.ours(case, csv, args.ours_timeout, args.repeat, laplace=True)
    if job == "glmm":
        return runners.glmm(case, csv, args.timeout, args.repeat)
    return runners.r_peer(job, case, csv, args.timeout, args.repeat, r_versions)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:  # a file or a pipe: wide enough for the detail table
        console = Console(width=170)
    selected = cases.select(args.case_names, args.quick)
    if args.markdown:
        print(report.markdown(*report.load_json(args.markdown)))
        return
    if args.list:
        for c in cases.CASES:
            console.print(f"{c.name:<11} {c.command}\n{'':<11} {c.formula}  {c.nagq}")
        return
    r_versions = runners.r_packages() if {"glmer", "glmmtmb"} & set(args.runners) else {}
    if {"glmer", "glmmtmb"} & set(args.runners) and not r_versions:
        console.print("[yellow]Rscript not found: glmer and glmmTMB are shown as missing[/]")
    _byte_compile_ours()
    machine = machine_info(r_versions)
    console.print(
        f"{machine['date']}  {machine['cpu']}  {machine['cores']} cores  "
        f"melogit_cli {machine['melogit_cli']}  glmm {machine['glmm'] or '-'}  "
        f"R {r_versions.get('R', '-')}  lme4 {r_versions.get('lme4', '-')}  "
        f"glmmTMB {r_versions.get('glmmTMB', '-')}"
    )
    results = []
    for case in selected:
        results.append(run_case(case, args, r_versions, console))
        report.write_json(args.out, machine, _settings(args), results)  # keep partial results
    report.show(results, console)
    console.print(f"results written to {args.out}")


def _byte_compile_ours() -> None:
    """Write melogit_cli's bytecode, as installing a package does, so that a child never
    compiles our modules on import (an editable install under PYTHONDONTWRITEBYTECODE
    would otherwise do so in every child, inside the timed fit for lazily imported ones)."""
    import compileall

    import melogit_cli

    compileall.compile_dir(Path(melogit_cli.__file__).parent, quiet=1)


def _settings(args: argparse.Namespace) -> dict:
    return {
        "cases": [c.name for c in cases.select(args.case_names, args.quick)],
        "runners": args.runners,
        "timeout": args.timeout,
        "ours_timeout": args.ours_timeout,
        "quick": args.quick,
        "repeat": args.repeat,
        "processes": args.processes,
    }


if __name__ == "__main__":
    main()
