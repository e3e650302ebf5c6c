"""What the ``melogit`` command loads: start-up is most of a small model's run, so the
manual's example 1 must not import what it does not use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"

NOT_LOADED = (
    "numba",  # the compiled kernels are optional and never on this path
    "scipy",
    "pandas",
    "rich",  # the progress line is drawn only on a terminal
    "regex",  # Lark's optional regular-expression module (melogit_cli.syntax)
    "melogit_cli.syntax.expr_parser",  # no if or weight expression
    "melogit_cli.engine.model.crossed_data",  # neither crossed nor nested
    "melogit_cli.engine.model.nested_data",
    "pyreadstat",  # a .csv file: the .dta reader is not needed
    "pyarrow",  # nor the Parquet reader
    "dask",
    "distributed",
    "matplotlib",
    "melogit_cli.api",  # the command line calls the modules behind the Python API
    "melogit_cli.postest",  # no postestimation, margins or plots
    "melogit_cli.cluster",  # not on a cluster
    "melogit_cli.interp",  # not a do-file
    "melogit_cli.verify",
)


def test_example_one_loads_only_what_it_uses(tmp_path) -> None:
    """The command's whole run, in a fresh interpreter with a fresh cache directory; twice,
    so that the second run reads the analysed grammar back.  ``regex``, where installed,
    stays importable afterwards."""
    script = f"""
import io, sys
from melogit_cli.commandline import run_command
from melogit_cli.syntax import grammar_files
out = io.StringIO()
rc = run_command("melogit c_use i.urban age i.children || district:",
                 {str(DATA / "bangladesh.csv")!r}, None, out)
assert rc == 0 and "Log likelihood = -1206.6742" in out.getvalue(), out.getvalue()
print(" ".join(m for m in {NOT_LOADED!r} if m in sys.modules) or "-")
print(grammar_files._lalr_parser.cache_info().currsize)
import importlib.util
if importlib.util.find_spec("regex") is not None:  # an optional module: may not be installed
    import regex
"""
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    # one parser each time: a command this short is parsed token by token, with no
    # one-token varlist pattern to compile
    assert runs[0] == runs[1] == ["-", "1"]
