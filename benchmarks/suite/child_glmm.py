"""Child process: fit with the ``glmm`` package (PyPI), time only ``glmm.fit``.

    python child_glmm.py CSV FORMULA NAGQ FACTORS [REPEAT]

FACTORS is a comma-separated list of columns made categorical ("" for none).
Prints one JSON line on stdout.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings


def main() -> None:
    csv, formula, nagq = sys.argv[1], sys.argv[2], int(sys.argv[3])
    factors = [f for f in sys.argv[4].split(",") if f]
    repeats = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    import glmm
    import pandas as pd

    df = pd.read_csv(csv)
    for col in factors:
        df[col] = pd.Categorical(df[col])
    seconds = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(repeats):
            t0 = time.perf_counter()
            m = glmm.fit(df, formula, "binomial", nagq=nagq)
            seconds.append(time.perf_counter() - t0)
    out = {
        "ll": float(m.loglik),
        "seconds": seconds,
        "converged": bool(m.converged),
        "nagq": int(m.nagq),
        "version": getattr(glmm, "__version__", "") or _version(),
        "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught}),
        "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(out))


def _version() -> str:
    from importlib.metadata import version

    return version("glmm")


if __name__ == "__main__":
    main()
