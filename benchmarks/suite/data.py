"""Data sets of the benchmark cases: bundled fixtures, simulated designs, lme4's VerbAgg.

Every builder writes one CSV into the cache directory (once; later runs reuse it) and
returns its path. Simulations use fixed seeds, so a cached file and a rebuilt one agree.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "data"
CACHE = Path(__file__).resolve().parents[1] / ".cache"


class DataUnavailableError(RuntimeError):
    """A case's data cannot be built here (e.g. R is missing for VerbAgg)."""


def _logistic_draw(rng: np.random.Generator, eta: np.ndarray) -> np.ndarray:
    return (rng.random(eta.size) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int8)


def _write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def cached(name: str) -> Callable[[Callable[[], pd.DataFrame]], Callable[[Path], Path]]:
    """A builder of ``cache/name``: the file if it is there, else ``build()`` written."""

    def wrap(build: Callable[[], pd.DataFrame]) -> Callable[[Path], Path]:
        @functools.wraps(build)
        def builder(cache: Path) -> Path:
            path = cache / name
            return path if path.exists() else _write(build(), path)

        return builder

    return wrap


def bangladesh(cache: Path) -> Path:
    """Manual example 1's data, as bundled."""
    return FIXTURES / "bangladesh.csv"


def hospital(cache: Path) -> Path:
    """lr2's hospital-delivery data, as bundled."""
    return FIXTURES / "hospital.csv"


def guimmun(cache: Path) -> Path:
    """lr3's Guatemalan immunization data, as bundled."""
    return FIXTURES / "guimmun.csv"


@cached("fifeschool.csv")
def fifeschool() -> pd.DataFrame:
    """fifeschool with the manual's ``generate attain_gt_6 = attain > 6`` applied."""
    df = pd.read_csv(FIXTURES / "fifeschool.csv")
    df["attain_gt_6"] = (df["attain"] > 6).astype(int)
    return df


VERBAGG_R = """
data(VerbAgg, package = "lme4")
d <- data.frame(id = as.integer(VerbAgg$id), item = as.integer(VerbAgg$item),
                r2 = as.integer(VerbAgg$r2 == "Y"), Anger = VerbAgg$Anger,
                Gender = as.integer(VerbAgg$Gender) - 1L, btype = as.integer(VerbAgg$btype),
                situ = as.integer(VerbAgg$situ) - 1L, mode = as.integer(VerbAgg$mode) - 1L)
write.csv(d, commandArgs(TRUE)[1], row.names = FALSE)
"""


def verbagg(cache: Path) -> Path:
    """lme4's VerbAgg (316 subjects x 24 items), exported by R: r2 as 0/1, factors as codes.

    Codes: Gender 0 = F, 1 = M; btype 1 = curse, 2 = scold, 3 = shout; situ 0 = other,
    1 = self; mode 0 = want, 1 = do.
    """
    path = cache / "verbagg.csv"
    if path.exists():
        return path
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise DataUnavailableError("Rscript not found: VerbAgg is exported from lme4")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    proc = subprocess.run(
        [rscript, "--vanilla", "-e", VERBAGG_R, str(tmp)], capture_output=True, text=True
    )
    if proc.returncode != 0 or not tmp.exists():
        raise DataUnavailableError(f"exporting VerbAgg failed: {proc.stderr.strip()[-300:]}")
    tmp.replace(path)
    return path


@cached("ri100k.csv")
def ri100k() -> pd.DataFrame:
    """100,000 observations in 5,000 clusters of 20; random intercept (variance 1)."""
    rng = np.random.default_rng(20240101)
    n_g, per = 5_000, 20
    g = np.repeat(np.arange(1, n_g + 1), per)
    x1 = rng.normal(size=g.size)
    x2 = rng.integers(0, 2, size=g.size)
    eta = -0.5 + 0.8 * x1 - 0.6 * x2 + rng.normal(0.0, 1.0, n_g)[g - 1]
    y = _logistic_draw(rng, eta)
    return pd.DataFrame({"y": y, "x1": x1.round(6), "x2": x2, "g": g})


@cached("three100k.csv")
def three100k() -> pd.DataFrame:
    """100,000 observations: 500 top clusters x 10 mid clusters x 20 observations.

    Random intercepts at both levels (variances .5 top, .8 mid); ``mid`` ids are unique
    across the data, so ``(1|top) + (1|mid)`` equals ``(1|top/mid)``.
    """
    rng = np.random.default_rng(20240202)
    n_top, n_mid, per = 500, 10, 20
    mid = np.repeat(np.arange(1, n_top * n_mid + 1), per)
    top = (mid - 1) // n_mid + 1
    x1 = rng.normal(size=mid.size)
    x2 = rng.integers(0, 2, size=mid.size)
    u3 = rng.normal(0.0, np.sqrt(0.5), n_top)
    u2 = rng.normal(0.0, np.sqrt(0.8), n_top * n_mid)
    eta = -0.3 + 0.7 * x1 - 0.5 * x2 + u3[top - 1] + u2[mid - 1]
    y = _logistic_draw(rng, eta)
    return pd.DataFrame({"y": y, "x1": x1.round(6), "x2": x2, "top": top, "mid": mid})


@cached("slope1m.csv")
def slope1m() -> pd.DataFrame:
    """1,000,000 observations in 20,000 clusters of 50; correlated random intercept and
    slope on ``x`` (variances 1 and .5, covariance .3)."""
    rng = np.random.default_rng(20240303)
    n_g, per = 20_000, 50
    g = np.repeat(np.arange(1, n_g + 1), per)
    x = rng.normal(size=g.size)
    z = rng.integers(0, 2, size=g.size)
    cov = np.array([[1.0, 0.3], [0.3, 0.5]])
    u = rng.normal(size=(n_g, 2)) @ np.linalg.cholesky(cov).T
    eta = -0.5 + 0.8 * x - 0.4 * z + u[g - 1, 0] + u[g - 1, 1] * x
    y = _logistic_draw(rng, eta)
    return pd.DataFrame({"y": y, "x": x.round(6), "z": z, "g": g})
