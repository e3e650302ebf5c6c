"""``constraints(numlist)``: the user's constraints on e(b) -> constraints on the optimizer.

Constraints are typed on e(b)'s columns (coefficients, ``var()``, ``cov()``).  On the
fixed effects they are linear in the optimizer's parameters as typed.  The engines
optimize log standard deviations (and log-Cholesky factors), in which a constraint on
variances stays linear only when it fixes a variance (``var = c``: ``log sd = log(c)/2``)
or ties two (``a var1 = b var2``: ``log sd1 - log sd2 = log(b/a)/2``), and a constraint on
a covariance only when it sets it to 0 (a covariance with the first effect of an
unstructured block).  Other constraints on variance parameters are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melogit_cli.design.build import Design
from melogit_cli.engine.model.covariance import CovBlock, LevelCovariance, NestedCovariance
from melogit_cli.engine.optimize.constraints import LinearConstraints, solve_constraints
from melogit_cli.errors import StataError
from melogit_cli.postest.coefs import CoefNames, linear_form
from melogit_cli.results import names
from melogit_cli.results.build import re_parameters
from melogit_cli.results.eresults import Matrix

TOL = 1e-12


@dataclass
class ModelConstraints:
    """The feasible set in the optimizer's metric and e(Cns)'s rows in Stata's."""

    linear: LinearConstraints
    rows: np.ndarray  # one row per kept constraint: weights on e(b), then the right side
    dropped: list[int]

    def cns(self, colnames: list[str]) -> Matrix:
        return Matrix(
            [f"_ce_{i + 1}" for i in range(len(self.rows))], colnames + ["_r"], self.rows
        )


def colnames(design: Design, cov: LevelCovariance | NestedCovariance) -> list[str]:
    """e(b)'s column names (as ``build_eresults`` posts them)."""
    fixed_names = list(design.fixed.names)
    if design.spec.noconstant:
        fixed_names.append("o._cons")
    return [str(names.fixed(design.depvar, n)) for n in fixed_names] + [
        str(p) for p in re_parameters(design, cov)
    ]


def _re_roles(cov: LevelCovariance | NestedCovariance) -> list[tuple[str, int | None]]:
    """For each reported var/cov, in e(b) order: ``("var", theta)`` when the variance is
    ``exp(2 theta)``, ``("cov", theta)`` when the covariance is 0 exactly where ``theta``
    is, else ``(kind, None)``."""
    levels = cov.levels if isinstance(cov, NestedCovariance) else (cov,)
    out: list[tuple[str, int | None]] = []
    j = 0
    for lv in levels:
        variances: list[tuple[str, int | None]] = []
        covariances: list[tuple[str, int | None]] = []
        for blk in lv.blocks:
            for a, b in blk.reported():
                if a == b:
                    variances.append(("var", _log_sd(blk, a, j)))
                else:
                    zero = j + a * (a + 1) // 2 if blk.kind == "unstructured" and b == 0 else None
                    covariances.append(("cov", zero))
            j += blk.n_params
        out += variances + covariances
    return out


def _log_sd(blk: CovBlock, a: int, j: int) -> int | None:
    if blk.kind == "independent":
        return j + a
    if blk.kind == "identity" or blk.size == 1:
        return j
    if blk.kind == "unstructured" and a == 0:
        return j  # the first diagonal of the log-Cholesky factor
    return None


def model_constraints(
    numbers: list[int],
    texts: dict[int, str],
    design: Design,
    cov: LevelCovariance | NestedCovariance,
) -> ModelConstraints:
    """The constraints ``numbers`` (defined in ``texts``) for this model."""
    cols = colnames(design, cov)
    coef_names = CoefNames(tuple(cols))
    keep = list(design.fixed.keep) + ([False] if design.spec.noconstant else [])
    p_all = len(keep)
    internal = np.cumsum(keep) - 1  # column -> position in x, for kept columns
    p = int(sum(keep))
    roles = _re_roles(cov)
    n = p + cov.n_params
    C_rows, d, labels, rows = [], [], [], []
    for k in numbers:
        if k not in texts:
            raise StataError(f"constraint {k} not defined", 111)
        w, rhs = _parse(texts[k], coef_names)
        c = np.zeros(n)
        for j in np.flatnonzero(w[:p_all]):
            if keep[j]:
                c[internal[j]] = w[j]
        re = np.flatnonzero(w[p_all:])
        if re.size:
            if np.any(w[:p_all] != 0):
                raise _refused(k)
            c, rhs_internal = _variance_row(k, w[p_all:], rhs, roles, p, n)
        else:
            rhs_internal = rhs
        C_rows.append(c)
        d.append(rhs_internal)
        labels.append(k)
        rows.append(np.append(w, rhs))
    linear = solve_constraints(np.array(C_rows).reshape(-1, n), np.array(d), labels)
    kept_rows = [r for r, k in zip(rows, labels, strict=True) if k not in linear.dropped]
    return ModelConstraints(linear, np.array(kept_rows).reshape(-1, len(cols) + 1), linear.dropped)


def _parse(text: str, coef_names: CoefNames) -> tuple[np.ndarray, float]:
    """``lhs = rhs`` -> weights on e(b) and the right side."""
    lhs, _, rhs = text.partition("=")
    if not lhs.strip() or not rhs.strip() or "=" in rhs:
        raise StataError("invalid syntax", 198)
    left, right = linear_form(lhs, coef_names), linear_form(rhs, coef_names)
    return left.w - right.w, right.const - left.const


def _refused(k: int) -> StataError:
    return StataError(
        f"constraint ({k}) not allowed: constraints on variance components may fix a "
        "variance, make two variances proportional, or set a covariance to 0",
        198,
    )


def _variance_row(
    k: int, w: np.ndarray, rhs: float, roles: list[tuple[str, int | None]], p: int, n: int
) -> tuple[np.ndarray, float]:
    """One constraint on var()/cov() parameters in the log-SD metric."""
    terms = [(roles[i], float(w[i])) for i in np.flatnonzero(w)]
    c = np.zeros(n)
    if len(terms) == 1:
        (kind, t), a = terms[0]
        if t is None:
            raise _refused(k)
        if kind == "cov":
            if abs(rhs) > TOL:
                raise _refused(k)
            c[p + t] = 1.0
            return c, 0.0
        if rhs / a <= 0:
            raise StataError(f"constraint ({k}) invalid: a variance must be positive", 198)
        c[p + t] = 1.0
        return c, 0.5 * float(np.log(rhs / a))
    if len(terms) == 2 and abs(rhs) <= TOL:
        ((k1, t1), a1), ((k2, t2), a2) = terms
        if k1 == k2 == "var" and t1 is not None and t2 is not None and a1 * a2 < 0:
            # a1 var1 = -a2 var2: log sd1 - log sd2 = log(-a2 / a1) / 2
            c[p + t1] += 1.0
            c[p + t2] -= 1.0
            return c, 0.5 * float(np.log(-a2 / a1))
    raise _refused(k)
