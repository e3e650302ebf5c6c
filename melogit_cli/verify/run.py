"""Running the commands of a log in one do-file session, capturing our output per command.

``use``/``webuse``/``import delimited`` find their file in ``--data DIR`` first (by its
name, whatever the folder or web address in the log), then as the do-file interpreter
does (the bundled data sets).  Commands that manage the log, the working folder or the
screen are not run; commands the interpreter does not know are skipped.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from melogit_cli.errors import StataError

# not run: they act on the log, the folder, the viewer; their output has no numbers of ours
NOT_RUN = ("log", "cmdlog", "cd", "pwd", "help", "translate", "which", "view", "doedit",
           "browse", "edit", "more", "sysdir", "query", "update", "net", "ssc", "ado")  # fmt: skip
_DATA_RE = re.compile(
    r"^(?P<head>(?:(?:qui\w*|cap\w*|noi\w*)\s*:?\s*)*(?P<cmd>use|u|webuse|import\s+delim\w*)"
    r"(?:\s+using)?\s+)(?P<file>\"[^\"]+\"|\S+)(?P<tail>.*)$",
    re.IGNORECASE,
)


@dataclass
class Outcome:
    """What running one command gave: its output, its return code, or why it was not run."""

    output: str = ""
    rc: int = 0
    message: str = ""  # the error message when rc != 0
    skipped: str = ""  # why the command was not run ("" when it was)


def command_word(text: str) -> str:
    """The command word of ``text``, past ``quietly``/``capture``/``noisily`` prefixes."""
    words = re.sub(r"^(?:(?:qui\w*|cap\w*|noi\w*)\s*:?\s*)+", "", text.strip()).split()
    return words[0].rstrip(",:") if words else ""


class LogSession:
    """One do-file session that runs a log's commands one by one."""

    def __init__(self, data_dir: str | None = None) -> None:
        from melogit_cli.interp.session import Output, Session

        if data_dir is not None and not Path(data_dir).is_dir():
            raise StataError(f"--data {data_dir}: directory not found", 601)
        self.data_dir = Path(data_dir) if data_dir else None
        self.buffer = io.StringIO()
        self.session = Session(Output(self.buffer))

    def run(self, command: str) -> Outcome:
        """Run ``command``; our output and return code (never raises StataError)."""
        from melogit_cli.interp.parse import parse_line
        from melogit_cli.interp.registry import lookup
        from melogit_cli.interp.runner import run_statements
        from melogit_cli.interp.source import split_statements

        word = command_word(command)
        if not word:
            return Outcome()
        if word in NOT_RUN or (word.startswith("log") and word != "logit"):
            return Outcome(skipped="not run: it manages the log or the session, not results")
        try:
            lookup(parse_line(command).name)
        except StataError as err:
            return Outcome(skipped=f"not supported here ({err.message})")
        self.buffer.seek(0)
        self.buffer.truncate()
        statements = split_statements(self._resolve(command))
        failure = run_statements(self.session, statements, echo=False)
        if failure is None:
            return Outcome(self.buffer.getvalue())
        return Outcome(self.buffer.getvalue(), failure.error.rc, failure.error.message)

    def _resolve(self, command: str) -> str:
        """``command`` with its data file looked up in ``--data DIR`` first."""
        m = _DATA_RE.match(command.strip())
        if self.data_dir is None or not m:
            return command
        name = m.group("file").strip('"').split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        webuse = m.group("cmd").lower() == "webuse"
        importing = m.group("cmd").lower().startswith("import")
        suffixes = (".csv", "") if importing else (".dta", "")
        for suffix in suffixes:
            candidate = self.data_dir / (name if Path(name).suffix else name + suffix)
            if candidate.is_file():
                head = m.group("head")
                if webuse:
                    head = re.sub(r"webuse\s+$", "use ", head, flags=re.IGNORECASE)
                return f'{head}"{candidate}"{m.group("tail")}'
        return command
