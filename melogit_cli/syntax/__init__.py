"""syntax: command text -> specifications, with the Lark grammars of ``grammar/``."""

from __future__ import annotations

import sys


def _import_lark() -> None:
    """Import Lark without the third-party ``regex`` module, which Lark imports whenever it is
    installed (5-15 ms of every command) but uses only for grammars built with
    ``regex=True`` or with Unicode categories (``\\p{..}``); ours have neither and are
    built with Python's ``re``.  ``regex`` stays importable for any other code."""
    if "lark" in sys.modules or "regex" in sys.modules:
        return
    sys.modules["regex"] = None  # type: ignore[assignment]  # makes `import regex` fail
    try:
        import lark  # noqa: F401
    finally:
        if "regex" in sys.modules and sys.modules["regex"] is None:
            del sys.modules["regex"]


_import_lark()
