"""``melogit verify LOGFILE [options]``: the command line of :func:`verify_log`."""

from __future__ import annotations

import sys

import click

from melogit_cli.errors import StataError, reporting_errors


def run_verify(
    logfile: str,
    data: str | None,
    tolerance: tuple[str, ...],
    json_path: str | None,
    html_path: str | None,
    iterations: bool,
) -> int:
    """Verify ``logfile`` and write the reports; the exit status (0: everything matches)."""
    from melogit_cli.files import write_text
    from melogit_cli.verify.compare import parse_tolerance
    from melogit_cli.verify.core import verify_log
    from melogit_cli.verify.report import html_report, json_report, text_report

    def work() -> int:
        tolerances = parse_tolerance(tolerance)
        for option, path in (("--json", json_path), ("--html", html_path)):
            if path:
                _check_output(option, path, logfile)
        report = verify_log(logfile, data, tolerances, iterations)
        sys.stdout.write(text_report(report))
        sys.stdout.flush()
        if json_path:
            write_text(json_path, json_report(report))
        if html_path:
            write_text(html_path, html_report(report))
        return 0 if report.ok else 1

    return 0 if reporting_errors(work, sys.stdout) == 0 else 1


def _check_output(option: str, path: str, logfile: str) -> None:
    """Before any work: the report file must be writable and must not be the log."""
    from melogit_cli.files import check_writable, same_file

    if same_file(path, logfile):
        raise StataError(f"{option} names the log file {logfile}; give another file", 198)
    check_writable(path)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("logfile")
@click.option("--data", "-d", metavar="DIR", help="Folder searched first for the log's data files.")
@click.option(
    "--tolerance",
    multiple=True,
    metavar="SPEC",
    help="Relative tolerances by kind, e.g. se=0.3% or b=1e-5,var=0.002% "
    "(kinds: b se z p ci var ll chi2 n iter display other).",
)
@click.option("--json", "json_path", metavar="FILE", help="Write the report as JSON to FILE.")
@click.option("--html", "html_path", metavar="FILE", help="Write the report as a web page to FILE.")
@click.option("--iterations", is_flag=True, help="Compare the iteration logs too.")
def verify_command(
    logfile: str,
    data: str | None,
    tolerance: tuple[str, ...],
    json_path: str | None,
    html_path: str | None,
    iterations: bool,
) -> None:
    """Re-run a Stata log (.log or .smcl) and check every printed number, e.g.

    melogit verify example5.log --tolerance se=0.3% --html report.html

    Exit status 0 when every number compared matches.
    """
    sys.exit(run_verify(logfile, data, tolerance, json_path, html_path, iterations))
