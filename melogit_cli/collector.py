"""The cyclic garbage collector while the command line starts.

Start-up (numpy, Lark, click, our modules, the analysed grammar) makes some 50,000 objects
that the collector tracks, nearly all of which live as long as the process; meanwhile it
scans the young ones over and over (76 collections in the manual's example 1, 15 ms, as long
as the fit) and finds nothing to free.  The command line pauses it while it starts and
resumes it before the work that may leave garbage (a fit, a do-file, a verification), with
what was made until then moved to the permanent generation (:func:`gc.freeze`): resuming
without that costs one collection of all of it (12-20 ms), and later collections and the
one at exit skip it.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Stop the collector for the start-up, unless it is off already."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze what exists and restart the collector, if :func:`pause` stopped it."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
