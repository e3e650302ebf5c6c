"""``verify_log``: read a log, run its commands, compare every published number."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from melogit_cli.errors import StataError
from melogit_cli.verify.blocks import Block, split_blocks
from melogit_cli.verify.compare import NRTOLERANCE, Comparison, compare
from melogit_cli.verify.logfile import read_log
from melogit_cli.verify.numbers import extract
from melogit_cli.verify.run import LogSession, Outcome, command_word

# commands whose printed numbers are compared (by the interpreter's full command name)
COMPARED = ("melogit", "lrtest", "estat", "display", "estimates", "test", "testparm", "margins",
            "summarize")  # fmt: skip


@dataclass
class CommandReport:
    """One command of the log: what was done with it and what its numbers gave."""

    line: int
    command: str
    status: str  # compared, run, skipped, omitted, failed
    note: str = ""
    comparisons: list[Comparison] = field(default_factory=list)
    published: list[tuple[int, str]] = field(default_factory=list)
    ours: list[str] = field(default_factory=list)  # our output; Comparison.our_line is 1-based

    @property
    def differences(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.ok]


@dataclass
class Report:
    """The verification of one log."""

    path: str
    smcl: bool
    tolerance: dict[str, float]
    iterations: bool
    commands: list[CommandReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # reading the log (SMCL tags)
    warnings: list[str] = field(default_factory=list)

    @property
    def compared(self) -> int:
        return sum(len(c.comparisons) for c in self.commands)

    @property
    def differing(self) -> int:
        return sum(len(c.differences) for c in self.commands)

    @property
    def failed(self) -> list[CommandReport]:
        return [c for c in self.commands if c.status == "failed"]

    @property
    def ok(self) -> bool:
        """Everything compared matches and every command ran as in the log."""
        return self.differing == 0 and not self.failed


def nrtolerance_of(command: str) -> float:
    """The ``nrtolerance()`` a command converged by: its option, Stata's default 1e-5, or
    0 under ``nonrtolerance`` (no bound on the gradient, so no allowance)."""
    if re.search(r"\bnonrtol\w*\b", command):
        return 0.0
    m = re.search(r"\bnrtol\w*\(\s*([0-9.eE+-]+)\s*\)", command)
    if m:
        try:
            return float(m.group(1))
        except ValueError:
            pass
    return NRTOLERANCE


def _full_name(word: str) -> str:
    from melogit_cli.interp.registry import lookup

    try:
        return lookup(word).name
    except StataError:
        return word


def verify_log(
    path: str,
    data_dir: str | None = None,
    tolerance: dict[str, float] | None = None,
    iterations: bool = False,
) -> Report:
    """Re-run the log at ``path`` and compare its numbers with ours.  Errors: r(601) no
    such file, r(610) no command in it, r(198) no melogit command in it."""
    log = read_log(path)
    blocks = split_blocks(log.lines)
    if not any(b.command for b in blocks):
        raise StataError(f"file {path} not a Stata log: it has no command lines ('. ')", 610)
    names = [_full_name(command_word(b.command)) for b in blocks]
    if "melogit" not in names:
        raise StataError(f"{path} has no melogit command: nothing to verify", 198)
    report = Report(path, log.smcl, dict(tolerance or {}), iterations, notes=list(log.notes))
    session = LogSession(data_dir)
    for i, (block, name) in enumerate(zip(blocks, names, strict=True)):
        if not block.command:
            continue
        outcome = session.run(block.command)
        item = _judge(block, name, outcome, report)
        report.commands.append(item)
        if i == len(blocks) - 1:
            opened = extract(block.output, block.command).open_table_line
            if opened:
                report.warnings.append(
                    f"the log ends inside a table (line {opened} on, command at line "
                    f"{block.line}): its numbers up to line {block.last_line} were compared"
                )
    return report


def _judge(block: Block, name: str, outcome: Outcome, report: Report) -> CommandReport:
    item = CommandReport(block.line, block.command, "run", published=block.output)
    item.ours = outcome.output.splitlines()
    if outcome.skipped:
        item.status, item.note = "skipped", outcome.skipped
        return item
    if outcome.rc != block.rc:
        item.status = "failed"
        logged = f"the log shows r({block.rc});" if block.rc else "the log shows no error"
        if outcome.rc:
            item.note = f"ours stopped with: {outcome.message} r({outcome.rc}); {logged}"
        else:
            item.note = f"{logged} ours ran without error"
        return item
    if block.omitted:
        item.status, item.note = "omitted", "run; its output is omitted in the log"
        return item
    if name not in COMPARED:
        return item
    published = extract(block.output, block.command).numbers
    ours = extract(list(enumerate(item.ours, 1)), block.command).numbers
    item.comparisons = compare(
        published, ours, report.tolerance, report.iterations, nrtolerance_of(block.command)
    )
    item.status = "compared"
    if outcome.rc:
        item.note = f"r({outcome.rc}); as in the log"
    return item
