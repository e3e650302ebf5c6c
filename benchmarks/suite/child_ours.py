"""Child process: load the data, time only ``fit(...)``, print one JSON line.

python child_ours.py CSV COMMAND [REPEAT]
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main() -> None:
    csv, command = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    from melogit_cli.api import as_dataset, fit

    ds = as_dataset(csv)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = fit(command, ds)
        seconds.append(time.perf_counter() - t0)
    macros = r.e.macros
    out = {
        "ll": r.ll,
        "seconds": seconds,
        "converged": bool(r.converged),
        "intmethod": macros.get("intmethod", ""),
        "n_quad": macros.get("n_quad", ""),
        "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
