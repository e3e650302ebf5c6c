"""Constraints of a fit: ``constraints(numlist)`` and ``covariance(fixed()|pattern())``.

Both are constraints on e(b)'s columns (coefficients, ``var()``, ``cov()``), listed in
e(Cns).  On the coefficients they are linear in the optimizer's parameters as typed.
Variances and covariances are constrained in the metric of log standard deviations and
atanh correlations (``SdCorrMetric``), where fixing a variance, making two variances
proportional, fixing a covariance at 0 (or at a value when both its variances are
fixed) and equating two covariances whose variances are tied pairwise are all linear.
Other constraints on variance components are not linear in any metric the optimizer
can use and are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from melogit_cli.design.build import Design
from melogit_cli.engine.model.covariance import LevelCovariance, NestedCovariance
from melogit_cli.engine.model.sdcorr import SdCorrMetric
from melogit_cli.engine.optimize.constraints import LinearConstraints, solve_constraints
from melogit_cli.errors import StataError
from melogit_cli.results import names
from melogit_cli.results.build import re_parameters
from melogit_cli.results.eresults import Matrix

if TYPE_CHECKING:  # the expression parser is loaded only for a fit with constraints
    from melogit_cli.postest.coefs import CoefNames

TOL = 1e-12


@dataclass
class ModelConstraints:
    """The feasible set in the optimizer's metric and e(Cns)'s rows in Stata's."""

    linear: LinearConstraints
    rows: np.ndarray  # one row per kept constraint: weights on e(b), then the right side
    dropped: list[str]

    def cns(self, colnames: list[str]) -> Matrix:
        return Matrix(
            [f"_ce_{i + 1}" for i in range(len(self.rows))], colnames + ["_r"], self.rows
        )


@dataclass
class _Param:
    """One var() or cov() column: its position in ``s`` and the variances it involves."""

    kind: str  # "var" or "cov"
    s: int
    variances: tuple[int, ...] = field(default=())  # for a cov: the ``s`` of its variances


def colnames(design: Design, cov: LevelCovariance | NestedCovariance) -> list[str]:
    """e(b)'s column names (as ``build_eresults`` posts them)."""
    fixed_names = list(design.fixed.names)
    if design.spec.noconstant:
        fixed_names.append("o._cons")
    return [str(names.fixed(design.depvar, n)) for n in fixed_names] + [
        str(p) for p in re_parameters(design, cov)
    ]


def _re_params(
    cov: LevelCovariance | NestedCovariance, p: int
) -> tuple[list[_Param], list[dict[tuple[int, int], int]]]:
    """The var()/cov() columns in e(b) order, and for each block its ``(a, b)`` -> the
    column's position among them."""
    levels = cov.levels if isinstance(cov, NestedCovariance) else (cov,)
    params: list[_Param] = []
    blocks: list[dict[tuple[int, int], int]] = []
    j = p
    for lv in levels:
        variances: list[tuple[int, _Param]] = []
        covariances: list[tuple[int, _Param]] = []
        for blk in lv.blocks:
            local = {ab: j + i for i, ab in enumerate(blk.reported())}
            where: dict[tuple[int, int], int] = {}
            for (a, b), s in local.items():
                if a == b:
                    variances.append((len(blocks), _Param("var", s)))
                else:
                    va = local.get((a, a), local[(0, 0)])  # exchangeable: one variance
                    vb = local.get((b, b), local[(0, 0)])
                    covariances.append((len(blocks), _Param("cov", s, (va, vb))))
                where[(a, b)] = s
            blocks.append(where)
            j += blk.n_params
        for _, prm in variances + covariances:
            params.append(prm)
    # each block's (a, b) -> index among the var()/cov() columns
    by_s = {prm.s: i for i, prm in enumerate(params)}
    return params, [{ab: by_s[s] for ab, s in where.items()} for where in blocks]


def restriction_rows(
    design: Design,
    cov: LevelCovariance | NestedCovariance,
    matrices: dict[str, Matrix],
) -> list[tuple[str, np.ndarray, float]]:
    """``covariance(fixed(M))`` and ``covariance(pattern(M))`` as rows on e(b).

    Only the lower triangle of ``M`` is used; a missing element is unrestricted.
    """
    p_all = len(colnames(design, cov)) - len(cov.reported())
    k = p_all + len(cov.reported())
    _, where = _re_params(cov, 0)
    out: list[tuple[str, np.ndarray, float]] = []
    b = 0
    for lv in design.levels.levels:
        for blk in lv.blocks:
            cols = where[b]
            b += 1
            if blk.restriction is None:
                continue
            kind, name = blk.restriction
            label = f"covariance({kind}({name}))"
            if name not in matrices:
                raise StataError(f"matrix {name} not found", 111)
            M = np.atleast_2d(np.asarray(matrices[name].data, dtype=float))
            q = len(blk.names)
            if M.shape != (q, q):
                raise StataError(f"{label}: matrix {name} must be {q} x {q}", 503)
            entries = [
                (M[a, c], p_all + cols[(a, c)])
                for a in range(q)
                for c in range(a + 1)
                if not np.isnan(M[a, c])
            ]
            if kind == "fixed":
                for value, j in entries:
                    w = np.zeros(k)
                    w[j] = 1.0
                    out.append((label, w, float(value)))
                continue
            groups: dict[float, list[int]] = {}
            for value, j in entries:
                groups.setdefault(float(value), []).append(j)
            for js in groups.values():
                for j1, j2 in zip(js, js[1:], strict=False):
                    w = np.zeros(k)
                    w[j1], w[j2] = 1.0, -1.0
                    out.append((label, w, 0.0))
    return out


def model_constraints(
    numbers: list[int],
    texts: dict[int, str],
    design: Design,
    cov: LevelCovariance | NestedCovariance,
    restrictions: list[tuple[str, np.ndarray, float]] | None = None,
) -> ModelConstraints:
    """The constraints ``numbers`` (defined in ``texts``), then ``restrictions``."""
    from melogit_cli.postest.coefs import CoefNames
    cols = colnames(design, cov)
    coef_names = CoefNames(tuple(cols))
    rows: list[tuple[str, np.ndarray, float]] = []
    for k in numbers:
        if k not in texts:
            raise StataError(f"constraint {k} not defined", 111)
        w, rhs = _parse(texts[k], coef_names)
        rows.append((f"({k})", w, rhs))
    rows += restrictions or []

    keep = list(design.fixed.keep) + ([False] if design.spec.noconstant else [])
    p_all = len(keep)
    internal = np.cumsum(keep) - 1  # column -> position in x, for kept columns
    p = int(sum(keep))
    params, _ = _re_params(cov, p)
    n = p + cov.n_params
    fixed_var, tie = _variance_facts(rows, params, p_all)
    C_rows, d, labels = [], [], []
    any_re = False
    for label, w, rhs in rows:
        if np.any(w[p_all:] != 0):
            if np.any(w[:p_all] != 0):
                raise _refused(label)
            c, rhs = _variance_row(label, w[p_all:], rhs, params, n, fixed_var, tie)
            any_re = True
        else:
            c = np.zeros(n)
            for j in np.flatnonzero(w):
                if keep[j]:
                    c[internal[j]] = w[j]
        C_rows.append(c)
        d.append(rhs)
        labels.append(label)
    metric = SdCorrMetric(cov, p) if any_re else None
    linear = solve_constraints(np.array(C_rows).reshape(-1, n), np.array(d), labels, metric)
    kept = [np.append(w, r) for (lab, w, r) in rows if lab not in linear.dropped]
    user_dropped = [lab for lab in linear.dropped if lab.startswith("(")]
    return ModelConstraints(linear, np.array(kept).reshape(-1, len(cols) + 1), user_dropped)


def _parse(text: str, coef_names: CoefNames) -> tuple[np.ndarray, float]:
    """``lhs = rhs`` -> weights on e(b) and the right side."""
    from melogit_cli.postest.coefs import linear_form
    lhs, _, rhs = text.partition("=")
    if not lhs.strip() or not rhs.strip() or "=" in rhs:
        raise StataError("invalid syntax", 198)
    left, right = linear_form(lhs, coef_names), linear_form(rhs, coef_names)
    return left.w - right.w, right.const - left.const


def _refused(label: str) -> StataError:
    return StataError(
        f"constraint {label} not allowed: constraints on variance components may fix "
        "variances and covariances, make two variances proportional, or make two "
        "covariances of pairwise equal variances equal",
        198,
    )


class _Ties:
    """Union-find over the ``s`` of variances constrained equal."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, i: int) -> int:
        while self.parent.get(i, i) != i:
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)


def _variance_facts(
    rows: list[tuple[str, np.ndarray, float]], params: list[_Param], p_all: int
) -> tuple[dict[int, float], _Ties]:
    """Variances fixed at a value, and variances tied equal, by the constraints."""
    fixed: dict[int, float] = {}
    tie = _Ties()
    for _, w, rhs in rows:
        nz = np.flatnonzero(w[p_all:])
        kinds = [params[i].kind for i in nz]
        if np.any(w[:p_all] != 0) or not nz.size or any(kd != "var" for kd in kinds):
            continue
        if nz.size == 1 and rhs / w[p_all + nz[0]] > 0:
            fixed[params[nz[0]].s] = rhs / w[p_all + nz[0]]
        elif nz.size == 2 and abs(rhs) <= TOL and w[p_all + nz[0]] == -w[p_all + nz[1]]:
            tie.union(params[nz[0]].s, params[nz[1]].s)
    by_value: dict[float, int] = {}
    for s, v in fixed.items():
        if v in by_value:
            tie.union(s, by_value[v])
        by_value.setdefault(v, s)
    return fixed, tie


def _variance_row(
    label: str,
    w: np.ndarray,
    rhs: float,
    params: list[_Param],
    n: int,
    fixed_var: dict[int, float],
    tie: _Ties,
) -> tuple[np.ndarray, float]:
    """One constraint on var()/cov() parameters as a row on ``s``."""
    terms = [(params[i], float(w[i])) for i in np.flatnonzero(w)]
    c = np.zeros(n)
    if len(terms) == 1:
        prm, a = terms[0]
        c[prm.s] = 1.0
        if prm.kind == "var":
            if rhs / a <= 0:
                raise StataError(f"constraint {label} invalid: a variance must be positive", 198)
            return c, 0.5 * float(np.log(rhs / a))
        if abs(rhs) <= TOL:
            return c, 0.0
        va, vb = prm.variances
        if va in fixed_var and vb in fixed_var:
            r = rhs / a / np.sqrt(fixed_var[va] * fixed_var[vb])
            if abs(r) >= 1:
                raise StataError(
                    f"constraint {label} invalid: a correlation must be between -1 and 1", 198
                )
            return c, float(np.arctanh(r))
        raise _refused(label)
    if len(terms) == 2 and abs(rhs) <= TOL:
        (p1, a1), (p2, a2) = terms
        if p1.kind == p2.kind == "var" and a1 * a2 < 0:
            # a1 var1 = -a2 var2: log sd1 - log sd2 = log(-a2 / a1) / 2
            c[p1.s], c[p2.s] = 1.0, -1.0
            return c, 0.5 * float(np.log(-a2 / a1))
        if p1.kind == p2.kind == "cov" and a1 == -a2 and _tied(p1, p2, tie):
            c[p1.s], c[p2.s] = 1.0, -1.0
            return c, 0.0
    raise _refused(label)


def _tied(p1: _Param, p2: _Param, tie: _Ties) -> bool:
    """Whether the variances of two covariances are equal pairwise (then equal
    covariances are equal correlations)."""
    a, b = (tie.find(v) for v in p1.variances)
    c, d = (tie.find(v) for v in p2.variances)
    return (a, b) == (c, d) or (a, b) == (d, c)
