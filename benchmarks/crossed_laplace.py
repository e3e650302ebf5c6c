"""Time and peak memory of a large crossed fit (joint sparse Laplace).

    python benchmarks/crossed_laplace.py [subjects] [items] [items per subject]

Defaults: 3,000 subjects x 1,000 items, 20 items per subject (60,000 observations).
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
import pandas as pd

from melogit_cli.api import fit


def simulate(n_subj: int, n_item: int, per: int, seed: int = 12345) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subj), per)
    item = np.concatenate([rng.choice(n_item, per, replace=False) for _ in range(n_subj)])
    x = rng.normal(size=subj.size)
    eta = -0.3 + 0.5 * x + rng.normal(0, 1.0, n_subj)[subj] + rng.normal(0, 0.7, n_item)[item]
    y = (rng.random(subj.size) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "subj": subj, "item": item})


def main() -> None:
    args = [int(a) for a in sys.argv[1:4]]
    n_subj, n_item, per = args + [3000, 1000, 20][len(args) :]
    df = simulate(n_subj, n_item, per)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    r = fit("melogit y x || _all:R.item || subj:", df)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(r.table())
    print(f"observations {len(df):,}; subjects {n_subj:,}; items {n_item:,}")
    print(f"fit time {elapsed:.2f} s; peak RSS {peak / 1024:.0f} MB", end=" ")
    print(f"(before the fit {before / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
