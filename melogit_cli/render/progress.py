"""A transient status line on stderr while a long fit runs, on terminals only.

After ``delay`` seconds a line such as ``⠹ Fitting full model  iteration 3  log likelihood =
-1206.8322  12s`` appears on stderr and is redrawn by its own thread (a Newton step can take
many seconds), and it is erased when the fit ends or fails.  It never touches stdout, log
files or JSON.  Off when stderr is not a terminal, when ``TERM=dumb`` or when
``MELOGIT_NO_PROGRESS`` is set (to anything but ``0``)::

    with show_progress(IterationLog(out)) as progress:
        est = run(spec, ds, progress.log, progress)
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from melogit_cli.engine.events import Event, EventSink, GridNode, Iteration, PhaseStart, ignore
from melogit_cli.render.formats import fmt

DISABLE_ENV = "MELOGIT_NO_PROGRESS"
DELAY = 1.0  # seconds before the status line appears
REFRESH = 0.1  # seconds between redraws

if TYPE_CHECKING:  # rich is imported only when a status line is drawn
    from rich.console import Console
    from rich.text import Text


def progress_wanted(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (stderr by default) may show progress: a terminal, TERM not
    ``dumb``, and ``MELOGIT_NO_PROGRESS`` unset (or ``0``)."""
    stream = sys.stderr if stream is None else stream
    if os.environ.get(DISABLE_ENV, "") not in ("", "0") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """An event sink that keeps the status of a fit and draws it on ``console``.

    ``log`` is the iteration log's sink, wrapped so that the status line is erased while it
    writes.  With ``console=None`` nothing is drawn and ``log`` is passed through.
    """

    def __init__(
        self,
        log: EventSink = ignore,
        console: Console | None = None,
        delay: float = DELAY,
        refresh: float = REFRESH,
    ) -> None:
        self.console = console
        self.delay = delay
        self.refresh = refresh
        self.log = log if console is None else self._guarded(log)
        self.phase = "Preparing"
        self.step = ""
        self.ll: float | None = None
        self.note = ""  # shown after the rest (a fit on a cluster: its time per iteration)
        self.visible = False
        self._cursor_hidden = False
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if console is not None:
            from rich.control import Control
            from rich.segment import ControlType
            from rich.spinner import Spinner

            self._erase_code = Control(ControlType.CARRIAGE_RETURN, (ControlType.ERASE_IN_LINE, 2))
            frames = "dots" if console.encoding.lower().startswith("utf") else "line"
            self._spinner = Spinner(frames, style="cyan")

    def __call__(self, event: Event) -> None:
        """Record what the engine reports (drawn on the next refresh)."""
        if self.console is None:
            return
        with self._lock:
            if isinstance(event, PhaseStart):
                self.phase, self.step, self.ll = event.title, "", None
            elif isinstance(event, Iteration):
                self.step, self.ll = f"iteration {event.number}", event.ll
            elif isinstance(event, GridNode):
                self.step, self.ll = f"grid node {event.number}", event.ll

    def start(self) -> None:
        """Start the clock and the drawing thread."""
        self._start = time.monotonic()
        if self.console is not None:
            self._thread = threading.Thread(target=self._run, name="melogit-progress", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread and erase the status line (also when Ctrl-C cuts the wait short:
        the thread, a daemon, then ends on its own without drawing again)."""
        self._stop.set()
        try:
            if self._thread is not None:
                self._thread.join()
                self._thread = None
        finally:
            with self._lock:
                self._erase()
                if self._cursor_hidden and self.console is not None:
                    self.console.show_cursor(True)
                    self._cursor_hidden = False

    def line(self) -> Text:
        """The status line as it would be drawn now."""
        from rich.text import Text

        elapsed = time.monotonic() - self._start
        parts = [self.step] if self.step else []
        if self.ll is not None:
            parts.append(f"log likelihood = {fmt(self.ll, '%10.0g').strip()}")
        parts.append(_duration(elapsed))
        if self.note:
            parts.append(self.note)
        frame = self._spinner.render(elapsed)
        return Text.assemble(frame, " ", (self.phase, "bold"), ("  " + "  ".join(parts), "dim"))

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        while True:
            with self._lock:
                if self._stop.is_set():
                    return
                self._draw()
            if self._stop.wait(self.refresh):
                return

    def _draw(self) -> None:
        assert self.console is not None
        text = self.line()
        text.truncate(max(self.console.width - 1, 1), overflow="ellipsis")
        if not self._cursor_hidden:
            self.console.show_cursor(False)
            self._cursor_hidden = True
        self.console.print(self._erase_code, text, sep="", end="", no_wrap=True, crop=True)
        self.visible = True

    def _erase(self) -> bool:
        """Erase the status line if it is shown; True if it was."""
        if not self.visible or self.console is None:
            return False
        self.console.print(self._erase_code, end="")
        self.visible = False
        return True

    def _guarded(self, log: EventSink) -> EventSink:
        def write(event: Event) -> None:
            with self._lock:
                shown = self._erase()
                try:
                    log(event)
                finally:
                    if shown and not self._stop.is_set():
                        self._draw()

        return write


@contextmanager
def show_progress(
    log: EventSink = ignore,
    *,
    enabled: bool = True,
    console: Console | None = None,
    delay: float | None = None,
    refresh: float | None = None,
) -> Iterator[Progress]:
    """A :class:`Progress` for the duration of a fit, erased on exit (also on errors).

    Drawn on ``console`` if given, else on stderr when :func:`progress_wanted`; with
    ``enabled=False`` never.
    """
    if not enabled:
        console = None
    elif console is None and progress_wanted():
        from rich.console import Console

        console = Console(file=sys.stderr, highlight=False)
    delay = DELAY if delay is None else delay
    refresh = REFRESH if refresh is None else refresh
    progress = Progress(log, console, delay, refresh)
    progress.start()
    try:
        yield progress
    finally:
        progress.close()
