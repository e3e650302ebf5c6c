"""The user's cache directory: what is costly to build and cheap to read back (the
Gauss-Hermite rules, the analysed grammars) is kept there between runs."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/melogit_cli``, or ``~/.cache/melogit_cli``; not created here."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "melogit_cli"
