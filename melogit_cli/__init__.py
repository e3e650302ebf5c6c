"""melogit-cli: Stata's ``melogit`` (multilevel mixed-effects logistic regression) in Python."""

__version__ = "0.1.0"

import sys as _sys

if "dataclasses" in _sys.modules:  # else the command line installs it, after its Ctrl-C handler
    from melogit_cli.dataclass_cache import install as _install

    _install()
