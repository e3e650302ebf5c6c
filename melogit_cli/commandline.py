"""The ``melogit`` command: its options and arguments (click), and running one melogit
command or one do-file with Stata's error display.  The program's entry point, which
deals with Ctrl-C and closed pipes, is :mod:`melogit_cli.cli`."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

import click

from melogit_cli import collector
from melogit_cli.errors import OutputClosedError, StataError, print_error, reporting_errors

if TYPE_CHECKING:
    from melogit_cli.estimate import Estimation
    from melogit_cli.syntax.spec import ModelSpec

DEMO_COMMAND = "melogit c_use i.urban age i.children || district:, or"


NO_DATA = "no data: give --data FILE (.dta, .csv, Parquet, or a glob of CSV or Parquet parts)"


def check_json_path(json_path: str, *inputs: str | None) -> None:
    """Before any work: ``json_path`` must be writable and must not be an input file."""
    from melogit_cli.files import check_writable, same_file

    for name in inputs:
        if name is not None and same_file(json_path, name):
            raise StataError(f"--json names the input file {name}; give another file", 198)
    check_writable(json_path)


@dataclass(frozen=True)
class ClusterOptions:
    """``--scheduler ADDRESS`` or ``--workers N`` (a local cluster), ``--dashboard``."""

    scheduler: str | None = None
    workers: int | None = None
    dashboard: bool = False

    @property
    def wanted(self) -> bool:
        return self.scheduler is not None or self.workers is not None


def run_command(
    command: str,
    data: str | None,
    json_path: str | None,
    out: TextIO,
    cluster: ClusterOptions | None = None,
) -> int:
    """Parse, fit, print; returns the Stata return code (0 on success)."""
    from melogit_cli.data.loaders import as_dataset
    from melogit_cli.estimate import estimate
    from melogit_cli.render import render_results
    from melogit_cli.render.iterlog import IterationLog
    from melogit_cli.render.progress import show_progress
    from melogit_cli.syntax.parser import parse_melogit

    collector.resume()  # the imports are done

    def work() -> int:
        distributed = cluster is not None and cluster.wanted
        if _PREFIX_RE.match(command):
            if distributed:
                raise StataError(ON_CLUSTER_ONLY, 198)
            return _run_prefixed(command, data, json_path, out)
        spec = parse_melogit(command)
        if data is None:
            raise StataError(NO_DATA, 198)
        if json_path:
            check_json_path(json_path, data)
        if distributed:
            assert cluster is not None
            est = _run_on_cluster(spec, data, cluster, out)
        else:
            ds = as_dataset(data)
            with show_progress(IterationLog(out)) as progress:
                est = estimate(spec, ds, progress.log, progress)
        notes = [n for n in est.notes if n.startswith("Warning")]
        out.write(render_results(est.eresults, spec.options))
        for note in notes:
            out.write(note + "\n")
        out.flush()
        if json_path:
            est.eresults.write_json(json_path)
        return 0

    return reporting_errors(work, out)


ON_CLUSTER_ONLY = "--scheduler and --workers apply to one melogit command"


def _run_on_cluster(
    spec: ModelSpec, data: str, cluster: ClusterOptions, out: TextIO
) -> Estimation:
    """The estimation on a Dask cluster (``--scheduler`` or ``--workers``)."""
    from melogit_cli.cluster.connect import client_for
    from melogit_cli.cluster.run import fit_on_cluster
    from melogit_cli.render.iterlog import IterationLog
    from melogit_cli.render.progress import show_progress

    if spec.replay:
        raise StataError("last estimates not found", 301)
    with client_for(cluster.scheduler, cluster.workers, cluster.dashboard, out) as client:
        with show_progress(IterationLog(out)) as progress:
            est, _ = fit_on_cluster(spec, data, client, progress.log, progress)
    return est


_PREFIX_RE = re.compile(r"^\s*(?:svy|by|bys|byso|bysor|bysort)(?![A-Za-z0-9_])")


def _run_prefixed(command: str, data: str | None, json_path: str | None, out: TextIO) -> int:
    """``by ...: melogit`` / ``bysort ...: melogit`` / ``svy: melogit`` run as the do-file
    interpreter runs them (``svy`` needs ``svyset``, hence a do-file: here it is r(119))."""
    from melogit_cli.data.loaders import as_dataset
    from melogit_cli.interp.runner import execute
    from melogit_cli.interp.session import Output, Session

    if data is None:
        raise StataError(NO_DATA, 198)
    if json_path:
        check_json_path(json_path, data)
    session = Session(Output(out))
    session.set_data(as_dataset(data))
    execute(session, command)
    out.flush()
    if json_path:
        session.last().e.write_json(json_path)
    return 0


def run_do(path: str, data: str | None, out: TextIO, json_path: str | None = None) -> int:
    """Run a do-file; returns its return code (0 when it ran to the end).  With
    ``json_path``, the e() results active at the end are written there as JSON."""
    from melogit_cli.interp.runner import run_dofile
    from melogit_cli.interp.session import Output, Session

    collector.resume()  # the imports are done
    session = Session(Output(out), progress=True)
    try:
        if json_path:
            check_json_path(json_path, data, path)
        if data is not None:
            from melogit_cli.data.loaders import as_dataset

            session.set_data(as_dataset(data))
        _, failure = run_dofile(path, out, session)
        if json_path and session.current is not None:
            session.current.e.write_json(json_path)
    except StataError as err:
        out.flush()
        print_error(err, sys.stderr)
        return err.rc
    if failure is None:
        return 0
    out.flush()
    sys.stderr.write(f"{path}, line {failure.line}: {failure.command}\n")
    print_error(failure.error, sys.stderr)
    return failure.error.rc


class _Melogit(click.Command):
    """The ``melogit`` command; ``melogit verify ...`` has a command line of its own."""

    def main(self, args=None, prog_name=None, **extra):  # type: ignore[no-untyped-def]
        argv = list(sys.argv[1:] if args is None else args)
        if argv and argv[0] == "verify":
            from melogit_cli.verify.command import verify_command

            collector.resume()
            return verify_command.main(argv[1:], prog_name="melogit verify", **extra)
        return super().main(argv, prog_name, **extra)


@click.command(cls=_Melogit, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "-d", "data", metavar="FILE", help="Data set: a .dta or .csv file.")
@click.option("--json", "json_path", metavar="FILE", help="Write every e() result to FILE as JSON.")
@click.option("--demo", is_flag=True, help=f"Fit the bundled bangladesh example: {DEMO_COMMAND}")
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Fit on the Dask cluster of this scheduler (tcp://host:8786).",
)
@click.option(
    "--workers", type=int, metavar="N", help="Fit on a local Dask cluster of N worker processes."
)
@click.option("--dashboard", is_flag=True, help="Print the link to Dask's dashboard of the fit.")
@click.argument("command", nargs=-1)
def cli(
    data: str | None,
    json_path: str | None,
    demo: bool,
    scheduler: str | None,
    workers: int | None,
    dashboard: bool,
    command: tuple[str, ...],
) -> None:
    """Run one melogit command, or a do-file, e.g.

    melogit --data bangladesh.dta "melogit c_use i.urban age i.children || district:, or"

    melogit do analysis.do

    melogit verify published.log [--tolerance se=0.3%] [--html report.html]
    """
    try:
        cluster = ClusterOptions(scheduler, workers, dashboard)
        sys.exit(_run(data, json_path, demo, command, cluster))
    except BrokenPipeError:  # click would make this exit status 1; the entry point decides
        raise OutputClosedError from None


def _run(
    data: str | None,
    json_path: str | None,
    demo: bool,
    command: tuple[str, ...],
    cluster: ClusterOptions | None = None,
) -> int:
    """The exit status of the command line's work (1 after an error)."""
    if command and command[0] == "do" and not demo:
        if len(command) != 2:
            raise click.UsageError("give one do-file: melogit do FILE.do")
        if cluster is not None and cluster.wanted:
            print_error(StataError(ON_CLUSTER_ONLY, 198), sys.stderr)
            return 1
        rc = run_do(command[1], data, sys.stdout, json_path)
        return 0 if rc == 0 else 1
    if demo:
        from melogit_cli.data.bundled import bundled_path

        data = data or str(bundled_path("bangladesh"))
        text = DEMO_COMMAND
        click.echo(f". {text}")
    else:
        text = " ".join(command).strip()
        if not text:
            raise click.UsageError("give a melogit command, or --demo")
    rc = run_command(text, data, json_path, sys.stdout, cluster)
    return 0 if rc == 0 else 1
