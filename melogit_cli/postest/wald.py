"""Wald tests of linear hypotheses ``R b = r`` (Stata's ``test`` and ``testparm``).

``chi2 = (R b - r)' (R V R')^-1 (R b - r)`` on ``df`` = the number of constraints kept.
Constraints are taken in order; one whose variance ``R_i V R_i'``, given the constraints
kept before it, is zero (a base level, a repeated or linearly dependent constraint) is
dropped and reported as Stata reports it (``Constraint 2 dropped``).
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field

import numpy as np

from melogit_cli.errors import StataError
from melogit_cli.postest.coefs import CoefNames, linear_form
from melogit_cli.render.formats import fmt
from melogit_cli.results.eresults import EResults, Matrix
from melogit_cli.results.names import is_base_or_omitted, split_colname
from melogit_cli.special import chi2_tail
from melogit_cli.syntax.textscan import paren_groups, top_level_words

MTEST_METHODS = ("bonferroni", "holm", "sidak", "noadjust")


@dataclass(frozen=True)
class Constraint:
    """One linear constraint ``w . b = rhs`` on the columns of e(b)."""

    w: np.ndarray
    rhs: float


@dataclass
class WaldResult:
    """A joint Wald test: the constraints, which were dropped, chi2, df, p (and mtest)."""

    names: CoefNames
    constraints: list[Constraint]
    chi2: float
    df: int
    p: float
    dropped: list[int] = field(default_factory=list)  # 1-based, as Stata numbers them
    mtest: np.ndarray | None = None  # rows: chi2, df, p[, adjusted p]
    mtmethod: str = ""

    def constraint_lines(self) -> list[str]:
        """`` ( 1)  [c_use]1.urban = 0``, one per constraint."""
        return [
            f" ({i + 1:2d})  {constraint_text(c, self.names)}"
            for i, c in enumerate(self.constraints)
        ]

    def __repr__(self) -> str:
        lines = self.constraint_lines() + [f"       Constraint {k} dropped" for k in self.dropped]
        return "\n".join(
            [*lines, f"chi2({self.df}) = {fmt(self.chi2, '%8.2f').strip()}",
             f"Prob > chi2 = {fmt(self.p, '%8.4f').strip()}"]
        )


def _num(x: float) -> str:
    return fmt(x, "%10.0g").strip()


def constraint_text(c: Constraint, names: CoefNames) -> str:
    """``[c_use]1.urban - [c_use]age = 0``, ``- [c_use]1.children + [c_use]2.children = 0``,
    ``2*[c_use]age = .5``: terms in e(b) order, as Stata's ``test`` lists them."""
    text = ""
    for j, a in enumerate(c.w):
        if a == 0:
            continue
        coef = names.shown(j)
        term = coef if abs(a) == 1 else f"{_num(abs(a))}*{coef}"
        if not text:
            text = term if a > 0 else f"- {term}"
        else:
            text += f" + {term}" if a > 0 else f" - {term}"
    return f"{text or '0'} = {_num(c.rhs)}"


# ---------------------------------------------------------------------- parsing test specs


_EQ_SPEC_RE = re.compile(r"^\s*\[([^\[\]]*)\]\s*(?::(.*))?$")


def _top_level_split(text: str, sep: str) -> list[str]:
    parts, cur, depth = [], "", 0
    for ch in text:
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _equation_coefs(names: CoefNames, eq: str, constant: bool) -> list[int]:
    cols = []
    for j, col in enumerate(names.colnames):
        ceq, name = split_colname(col)
        if ceq != eq or (eq != "/" and is_base_or_omitted(name)):
            continue
        if name == "_cons" and not constant:
            continue
        cols.append(j)
    if not cols and eq not in names.equations:
        raise StataError(f"equation [{eq}] not found", 303)
    return cols


def _unit(k: int, j: int) -> np.ndarray:
    w = np.zeros(k)
    w[j] = 1.0
    return w


def parse_spec(text: str, names: CoefNames, constant: bool = False) -> list[Constraint]:
    """The constraints of one ``test`` specification (Stata's syntaxes 1 to 4)."""
    k = len(names.colnames)
    text = text.replace("==", "=")
    if "===" in text:
        raise StataError("=== invalid operator", 198)
    m = _EQ_SPEC_RE.match(text)
    if m and "=" not in m.group(1):  # [eq] or [eq]: coeflist
        eq = m.group(1).strip()
        if m.group(2) is None or not m.group(2).strip():
            return [Constraint(_unit(k, j), 0.0) for j in _equation_coefs(names, eq, constant)]
        return [
            Constraint(linear_form(f"[{eq}]{w}", names).w, 0.0) for w in top_level_words(m.group(2))
        ]
    if m:  # [eq1 = eq2]: coeflist
        eqs = [q.strip() for q in m.group(1).split("=")]
        words = top_level_words(m.group(2) or "")
        if not words:
            common = [split_colname(names.colnames[j])[1]
                      for j in _equation_coefs(names, eqs[0], constant)]
            words = [w for w in common
                     if all(f"{q}:{w}" in names.colnames for q in eqs[1:])]
        out = []
        for w in words:
            first = linear_form(f"[{eqs[0]}]{w}", names)
            for q in eqs[1:]:
                out.append(Constraint(first.w - linear_form(f"[{q}]{w}", names).w, 0.0))
        return out
    if "=" in text:
        sides = _top_level_split(text, "=")
        if any(not s.strip() for s in sides):
            raise StataError("invalid syntax", 198)
        forms = [linear_form(s, names) for s in sides]
        first = forms[0]
        return [Constraint(first.w - f.w, f.const - first.const) for f in forms[1:]]
    out = []
    for word in top_level_words(text):
        form = linear_form(word, names)
        out.append(Constraint(form.w, -form.const))
    if not out:
        raise StataError("invalid syntax", 198)
    return out


def parse_test(text: str, names: CoefNames, constant: bool = False) -> list[Constraint]:
    """All constraints of ``test (spec) (spec) ...`` or ``test spec``."""
    specs = paren_groups(text) or [text]
    out: list[Constraint] = []
    for spec in specs:
        out += parse_spec(spec, names, constant)
    return out


# ---------------------------------------------------------------------- testparm


def _factor_match(pattern: str, name: str) -> bool:
    """Whether coefficient ``name`` (``2.children``, ``1.urban#c.age``) belongs to the
    varlist item ``pattern`` (``i.children``, ``i.urban#c.age``, ``age``, ``c.age``)."""
    pparts = pattern.split("#")
    nparts = name.split("#")
    if len(pparts) != len(nparts):
        return False
    for p, n in zip(pparts, nparts, strict=True):
        head, dot, var = n.rpartition(".")
        flags = head.lstrip("0123456789")
        level = head[: len(head) - len(flags)]
        pop, pdot, pvar = p.rpartition(".")
        if not fnmatch.fnmatchcase(var if dot else n, pvar):
            return False
        if not dot:  # continuous in the model
            if pdot and pop not in ("c", ""):
                return False
            continue
        if not level:
            return False
        if not pdot:
            if len(nparts) == 1:
                return False
            continue
        if pop in ("i", "ib", "ibn") or pop.startswith(("i", "b")):
            continue
        if pop == "c":
            return False
        if pop.isdigit() and pop != level:
            return False
    return True


def testparm_constraints(
    names: CoefNames, varlist: str, equal: bool = False, equation: str | None = None
) -> list[Constraint]:
    """``testparm varlist [, equal equation()]``: every coefficient of the varlist is zero
    (``equal``: all equal to the first)."""
    k = len(names.colnames)
    eq = equation if equation is not None else names.first_equation
    if eq not in names.equations:
        raise StataError(f"equation [{eq}] not found", 303)
    items = top_level_words(varlist)
    if not items:
        raise StataError("varlist required", 100)
    cols: list[int] = []
    for item in items:
        for j, col in enumerate(names.colnames):
            ceq, name = split_colname(col)
            if ceq != eq or is_base_or_omitted(name) or j in cols:
                continue
            if _factor_match(item, name):
                cols.append(j)
    if not cols:
        msg = (
            "no such variables;\n"
            "the specified varlist does not identify any testable coefficients"
        )
        if equation is not None:
            msg += f" from equation({equation})"
        raise StataError(msg, 111)
    cols.sort()
    if not equal:
        return [Constraint(_unit(k, j), 0.0) for j in cols]
    if len(cols) < 2:
        raise StataError("too few variables specified", 102)
    first = cols[0]
    return [Constraint(_unit(k, j) - _unit(k, first), 0.0) for j in cols[1:]]


# ---------------------------------------------------------------------- the test


def _arrays(e: EResults) -> tuple[np.ndarray, np.ndarray]:
    k = len(e.b.colnames)
    b = np.asarray(e.b.data, dtype=float).reshape(-1)
    v = np.asarray(e.V.data, dtype=float).reshape(k, k)
    return b, v


def wald(e: EResults, constraints: list[Constraint], mtest: str = "") -> WaldResult:
    """The joint Wald test of ``constraints``; ``mtest``: also each one alone, with its
    p-value adjusted by ``bonferroni``, ``holm``, ``sidak`` or not (``noadjust``)."""
    names = CoefNames.of(e)
    b, v = _arrays(e)
    kept: list[int] = []
    dropped: list[int] = []
    for i, c in enumerate(constraints):
        rows = np.array([constraints[t].w for t in kept + [i]])
        a = rows @ v @ rows.T
        aii = a[-1, -1]
        if not np.all(np.isfinite(a)):
            kept.append(i)
            continue
        if aii <= 0 or np.all(c.w == 0):
            dropped.append(i + 1)
            continue
        if kept:
            akk = a[:-1, :-1]
            aki = a[:-1, -1]
            try:
                resid = aii - aki @ np.linalg.solve(akk, aki)
            except np.linalg.LinAlgError:
                resid = 0.0
            if resid <= 1e-10 * aii:
                dropped.append(i + 1)
                continue
        kept.append(i)
    df = len(kept)
    chi2 = p = math.nan
    rr = np.array([c.w for c in constraints]) if constraints else np.zeros((0, b.size))
    d_all = rr @ b - np.array([c.rhs for c in constraints])
    if df:
        r = rr[kept]
        a = r @ v @ r.T
        d = d_all[kept]
        if np.all(np.isfinite(a)) and np.all(np.isfinite(d)):
            chi2 = float(d @ np.linalg.solve(a, d))
            p = float(chi2_tail(df, chi2))
    result = WaldResult(names, list(constraints), chi2, df, p, dropped)
    if mtest:
        result.mtest = _mtest(rr, v, d_all, mtest)
        result.mtmethod = mtest
    return result


def _mtest(rr: np.ndarray, v: np.ndarray, d: np.ndarray, method: str) -> np.ndarray:
    var = np.einsum("ij,jk,ik->i", rr, v, rr)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = np.where(var > 0, d * d / var, np.nan)
    p = np.array([chi2_tail(1, x) if np.isfinite(x) else math.nan for x in chi2])
    cols = [chi2, np.ones_like(chi2), p]
    if method != "noadjust":
        ok = np.isfinite(p)
        m = int(ok.sum())
        adj = np.full_like(p, math.nan)
        if method == "bonferroni":
            adj[ok] = np.minimum(1.0, m * p[ok])
        elif method == "sidak":
            adj[ok] = 1.0 - (1.0 - p[ok]) ** m
        else:  # holm, with Stata's tolerance for ties
            pv = p[ok]
            n_le = np.array([sum(pv[i] <= pv[j] * (1 + 1e-8) for j in range(m) if j != i)
                             for i in range(m)])
            adj[ok] = np.minimum(1.0, (1 + n_le) * pv)
        cols.append(adj)
    return np.column_stack(cols)


def mtest_matrix(result: WaldResult) -> Matrix:
    """``r(mtest)``: one row per constraint, columns ``chi2 df p`` (and ``adjustp``)."""
    assert result.mtest is not None
    cols = ["chi2", "df", "p"] + (["adjustp"] if result.mtest.shape[1] == 4 else [])
    rows = [f"r{i + 1}" for i in range(result.mtest.shape[0])]
    return Matrix(rows, cols, result.mtest.copy())
