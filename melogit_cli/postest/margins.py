"""Predictive margins and marginal effects after ``melogit`` (Stata's ``margins``).

A margin is a (weighted) average over the estimation sample of a prediction with some
covariates set to given values.  The default prediction is Stata's for melogit: the mean
response *marginal* with respect to the random effects,

    m(x) = E_u[ invlogit(x'b + z'u) ],   u ~ N(0, Sigma),

whose random part ``z'u`` is normal with variance ``v = sum over levels of z'Sigma z``;
``v`` is linear in the variance parameters of e(b) (``var()``: ``z_a^2``; ``cov()``:
``2 z_a z_b``), so each observation needs one 1-D Gauss-Hermite integral.  Every
derivative the delta method needs is an expectation of a derivative of invlogit:
``dm/deta = E f'``, ``dm/dv = E f''/2`` (Stein's lemma), and so on.  Marginal effects of
continuous covariates are analytic derivatives; factor variables change discretely from
their base level.  The variance of the margins is ``J V J'``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from itertools import product

import numpy as np

from melogit_cli.design.factors import Part
from melogit_cli.errors import StataError, variable_not_found
from melogit_cli.results.eresults import EResults, Matrix
from melogit_cli.results.rtable import ROWS, critical_value
from melogit_cli.results.varcomp import check_level
from melogit_cli.special import expit, ndtr

MARGINAL_POINTS = 30  # Gauss-Hermite nodes of the 1-D marginal integral (error < 1e-9 for sd <= 3)
FACTOR_NOTE = "Note: dy/dx for factor levels is the discrete change from the base level."
EFFECTS = ("dydx", "eyex", "dyex", "eydx")


# ---------------------------------------------------------------------- the prediction


@dataclass(frozen=True)
class Prediction:
    """What is averaged: ``mu`` marginal over the random effects (Stata's default for
    margins after melogit), ``mu`` fixed portion only, or the linear predictor ``xb``."""

    stat: str = "mu"  # "mu" or "xb"
    marginal: bool = True
    text: str = ""  # what was typed inside predict()

    @property
    def expression(self) -> str:
        call = f"predict({self.text})"
        if self.stat == "xb":
            return f"Linear prediction, fixed portion only, {call}"
        if self.marginal:
            return f"Marginal predicted mean, {call}"
        return f"Predicted mean, fixed portion only, {call}"


_NOT_WITH_MARGINS = (
    "stdp", "density", "distribution", "pearson", "deviance", "anscombe", "reffects",
    "reses", "scores",
)


def parse_prediction(text: str | None) -> Prediction:
    """``predict()`` of margins: ``mu`` (default), ``mu fixedonly``, ``xb``, ``eta``
    (the marginal linear predictor, which is ``xb``); ``marginal`` is assumed unless
    ``conditional(fixedonly)``/``fixedonly`` is given, as Stata documents."""
    text = " ".join((text or "").split())
    words = re.findall(r"[A-Za-z_]+(?:\([^)]*\))?", text)
    if " ".join(words).replace(" ", "") != text.replace(" ", ""):
        raise StataError(f"predict({text}) invalid", 198)
    stat = None
    fixedonly = False
    for w in words:
        name, _, arg = w.partition("(")
        arg = arg.rstrip(")").strip()
        if name in ("mu", "xb", "eta"):
            if stat is not None and stat != name:
                raise StataError("only one statistic may be specified", 198)
            stat = name
        elif name == "fixedonly" or (name in ("conditional", "cond") and arg == "fixedonly"):
            fixedonly = True
        elif name in ("conditional", "cond"):
            raise StataError(f"option conditional({arg}) not allowed", 198)
        elif name in ("marginal", "marg", "nooffset"):
            continue
        elif name in _NOT_WITH_MARGINS or any(s.startswith(name) for s in ("density",)):
            raise StataError(f"option {name} not allowed", 198)
        else:
            raise StataError(f"option {name} not allowed", 198)
    stat = stat or "mu"
    if stat in ("xb", "eta"):
        return Prediction("xb", False, text)
    return Prediction("mu", not fixedonly, text)


def _gh_rule(points: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``points``-point rule for a standard normal (the engines' cached rule)."""
    from melogit_cli.engine.quadrature.rules import normal_rule

    rule = normal_rule(points, 1)
    return rule.nodes[:, 0], np.exp(rule.log_weights)


def _logistic_derivatives(eta: np.ndarray, order: int) -> list[np.ndarray]:
    """invlogit and its first ``order`` (<= 4) derivatives at ``eta``."""
    p = expit(eta)
    q = 1.0 - p
    pq = p * q
    out = [p, pq, pq * (1 - 2 * p), pq * (1 - 6 * p + 6 * p * p),
           pq * (1 - 2 * p) * (1 - 12 * p + 12 * p * p)]
    return out[: order + 1]


@dataclass
class Pieces:
    """A prediction ``g(eta, v)`` per observation and its partial derivatives."""

    g: np.ndarray
    g_e: np.ndarray
    g_v: np.ndarray
    g_ee: np.ndarray
    g_ev: np.ndarray
    g_vv: np.ndarray


def prediction_pieces(pred: Prediction, eta: np.ndarray, v: np.ndarray) -> Pieces:
    """``g`` and its derivatives with respect to the fixed linear predictor ``eta`` and the
    variance ``v`` of the random part (only the marginal mean depends on ``v``)."""
    zero = np.zeros_like(eta)
    if pred.stat == "xb":
        return Pieces(eta, np.ones_like(eta), zero, zero, zero, zero)
    if not pred.marginal:
        f = _logistic_derivatives(eta, 2)
        return Pieces(f[0], f[1], zero, f[2], zero, zero)
    x, w = _gh_rule(MARGINAL_POINTS)
    G = [d @ w for d in _logistic_derivatives(eta[:, None] + np.sqrt(v)[:, None] * x, 4)]
    return Pieces(G[0], G[1], G[2] / 2, G[2], G[3] / 2, G[4] / 4)



# ---------------------------------------------------------------------- the model


@dataclass
class VarTerm:
    """A variance parameter of e(b): its column and the random-effects terms it multiplies."""

    j: int
    left: tuple[Part, ...]
    right: tuple[Part, ...]
    factor: float  # 1 for var(), 2 for cov()


@dataclass
class MarginsModel:
    """What margins needs from a melogit fit: e(b), e(V), how the fixed columns and the
    random-effects variance are formed from the covariates."""

    b: np.ndarray
    V: np.ndarray
    fixed_j: list[int]
    fixed_parts: list[tuple[Part, ...]]
    var_terms: list[VarTerm]
    factors: dict[str, list[int]]  # factor variable -> its levels in the model
    bases: dict[str, int]
    continuous: list[str]
    covariates: list[str]  # in order of appearance
    offset_var: str
    depvar: str
    N: int
    vcetype: str
    value_labels: dict[str, dict[int, str]] = field(default_factory=dict)
    n_rows: int = 0  # observations of the estimation sample
    empty: tuple[int, ...] = ()  # positions in fixed_parts of e(b)'s empty-cell columns

    @property
    def variables(self) -> list[str]:
        return self.covariates + ([self.offset_var] if self.offset_var else [])


_RE_TERM = re.compile(r"^(?:var|cov)\((.*)\)$")
_RE_PART = re.compile(r"^(?:c\.)?([A-Za-z_][A-Za-z0-9_]*)$|^(\d+)[a-z]*\.([A-Za-z_][A-Za-z0-9_]*)$")


def _term_parts(text: str) -> tuple[Part, ...]:
    """``_cons`` -> (); ``urban`` / ``1.urban#c.age`` -> their parts."""
    if text == "_cons":
        return ()
    parts = []
    for piece in text.split("#"):
        m = _RE_PART.match(piece)
        if m is None:
            raise StataError(f"margins: cannot evaluate random-effects term {text}", 198)
        if m.group(1):
            parts.append(Part(m.group(1)))
        else:
            parts.append(Part(m.group(3), int(m.group(2))))
    return tuple(parts)


def _split_terms(inner: str) -> list[str]:
    """``urban[district],_cons[district]`` -> the two terms without their levels."""
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [re.sub(r"\[.*\]$", "", t.strip()) for t in out]


def margins_model(e: EResults, design: object) -> MarginsModel:
    """The pieces of a melogit fit that margins uses (``design``: the fit's Design)."""
    names = list(e.b.colnames)
    b = np.asarray(e.b.data, dtype=float).reshape(-1)
    V = np.asarray(e.V.data, dtype=float).reshape(len(b), len(b))
    depvar = e.macros.get("depvar", "")
    fixed_j = [j for j, c in enumerate(names) if c.startswith(f"{depvar}:")]
    fx = design.fixed  # type: ignore[attr-defined]
    if len(fx.columns) != len(fixed_j):
        raise StataError("margins: the fixed-effects design does not match e(b)", 498)
    fixed_parts = [tuple(info.parts) for info in fx.columns]
    empty = tuple(k for k, j in enumerate(fixed_j) if names[j] in e.empty_cells)
    var_terms = []
    for j, c in enumerate(names):
        if not c.startswith("/:"):
            continue
        m = _RE_TERM.match(c[2:])
        if m is None:
            continue
        terms = _split_terms(m.group(1))
        left = _term_parts(terms[0])
        right = _term_parts(terms[1]) if len(terms) > 1 else left
        var_terms.append(VarTerm(j, left, right, 2.0 if len(terms) > 1 else 1.0))
    factors: dict[str, list[int]] = {}
    bases: dict[str, int] = {}
    covariates: list[str] = []
    continuous: list[str] = []
    all_parts = [p for parts in fixed_parts for p in parts]
    all_parts += [p for t in var_terms for p in t.left + t.right]
    for p in all_parts:
        if p.var not in covariates:
            covariates.append(p.var)
        if p.level is None:
            if p.var not in continuous:
                continuous.append(p.var)
        else:
            levels = factors.setdefault(p.var, [])
            if p.level not in levels:
                levels.append(p.level)
            if p.base:
                bases[p.var] = p.level
    for var, levels in factors.items():
        levels.sort()
        bases.setdefault(var, levels[0])
    return MarginsModel(
        b=b, V=V, fixed_j=fixed_j, fixed_parts=fixed_parts, var_terms=var_terms,
        factors=factors, bases=bases, continuous=continuous, covariates=covariates,
        offset_var=getattr(design, "offset_var", "") or "", depvar=depvar,
        N=int(e.scalars.get("N", 0)), vcetype=e.macros.get("vcetype", "") or "OIM",
        value_labels=dict(e.value_labels), n_rows=len(getattr(design, "y", ())),
        empty=empty,
    )


# ---------------------------------------------------------------------- the request


@dataclass
class MarginsRequest:
    """A parsed ``margins`` command (see :func:`parse_request` for the text form)."""

    terms: list[tuple[str, ...]] = field(default_factory=list)  # marginlist: factor terms
    effect: str = ""  # "", "dydx", "eyex", "dyex", "eydx"
    wrt: list[str] = field(default_factory=list)  # variables, "*" for all
    at: list[dict[str, float]] = field(default_factory=list)
    atmeans: bool = False
    over: list[str] = field(default_factory=list)
    prediction: Prediction = field(default_factory=Prediction)
    level: float = 95.0
    estimcheck: bool = True  # False: noestimcheck
    emptycells: str = ""  # "strict" or "reweight" as typed; "" when not given


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_numlist(text: str) -> list[float]:
    """A numeric numlist: ``-10(5)10``, ``1/3``, ``20 30 40``, ``0 1``."""
    out: list[float] = []
    tokens = re.findall(rf"{_NUM}\s*\(\s*{_NUM}\s*\)\s*{_NUM}|{_NUM}\s*/\s*{_NUM}|\S+",
                        text.replace(",", " "))
    for tok in tokens:
        tok = tok.replace(" ", "")
        m = re.fullmatch(rf"({_NUM})\(({_NUM})\)({_NUM})", tok)
        m2 = re.fullmatch(rf"({_NUM})/({_NUM})", tok)
        if m:
            a, step, c = (float(g) for g in m.groups())
            if step == 0 or (c - a) / step < 0:
                raise StataError("invalid numlist", 121)
            n = int(math.floor((c - a) / step + 1e-9)) + 1
            out += [a + k * step for k in range(n)]
        elif m2:
            a, c = (float(g) for g in m2.groups())
            if c < a:
                raise StataError("invalid numlist has elements out of order", 124)
            out += [a + k for k in range(int(math.floor(c - a + 1e-9)) + 1)]
        elif re.fullmatch(_NUM, tok):
            out.append(float(tok))
        else:
            raise StataError("invalid numlist", 121)
    if not out:
        raise StataError("invalid numlist", 121)
    return out


def parse_at(text: str) -> list[dict[str, float]]:
    """``age=(-10(5)10) urban=1`` -> one setting per combination of the values."""
    text = text.strip()
    items = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\([^)]*(?:\)[^)]*)*\)|\S+)", text)
    rebuilt = re.sub(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\([^)]*(?:\)[^)]*)*\)|\S+)", "", text)
    if not items or rebuilt.strip():
        raise StataError("at() invalid", 198)
    names, values = [], []
    for name, val in items:
        val = val.strip()
        if val.startswith("(") and val.endswith(")"):
            val = val[1:-1]
        names.append(name)
        values.append(parse_numlist(val))
    return [dict(zip(names, combo, strict=True)) for combo in product(*values)]


# ---------------------------------------------------------------------- the result


@dataclass
class MarginRow:
    """One margin: where it sits in the table and what it describes."""

    wrt: str  # "" for a predictive margin, else the variable (``age``) or level (``1.urban``)
    term: tuple[str, ...]  # dimensions: "_at", over variables, marginlist variables
    values: tuple[int, ...]  # the level of each dimension (the _at number for "_at")
    labels: tuple[str, ...]  # the text of each level in the table
    wrt_label: str = ""  # a factor level's text (``urban`` for ``1.urban``)


@dataclass
class MarginsResult:
    """Margins, their delta-method variance, and what the table prints."""

    rows: list[MarginRow]
    b: np.ndarray
    V: np.ndarray
    level: float
    title: str
    expression: str
    effect: str
    wrt_text: str
    at_legend: list[tuple[str, list[tuple[str, str, str]]]]  # (prefix, [(name, value, note)])
    at_values: list[dict[str, float]]
    N: int
    vcetype: str
    factor_note: bool
    continuous: list[str]
    # margins found not estimable: 0 in b and in their rows and columns of V, as Stata's
    # r(b)/r(V) (which ``post`` turns into e(b)/e(V)), flagged 8 in r(error)
    not_estimable: frozenset[int] = frozenset()

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.maximum(np.diag(self.V), 0.0))

    @property
    def error(self) -> np.ndarray:
        """Stata's ``r(error)``: 0 for an estimable margin, 8 for one not estimable."""
        out = np.zeros(len(self.b))
        out[sorted(self.not_estimable)] = 8.0
        return out

    def table(self) -> np.ndarray:
        """Stata's ``r(table)`` rows b se z pvalue ll ul df crit eform (9 x k); a margin
        not estimable has b 0 and se, z, pvalue, ll and ul missing."""
        se = self.se
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, self.b / se, np.nan)
        p = np.array([2 * ndtr(-abs(x)) if np.isfinite(x) else np.nan for x in z])
        crit = critical_value(self.level)
        ll, ul = self.b - crit * se, self.b + crit * se
        k = len(self.b)
        out = np.vstack([self.b, se, z, p, ll, ul, np.full(k, np.nan), np.full(k, crit),
                         np.zeros(k)])
        out[1:6, sorted(self.not_estimable)] = np.nan
        return out

    def matrices(self, table: bool = False) -> dict[str, Matrix]:
        """r(b), r(V) (exactly symmetric), r(table) when ``table``, and r(error)."""
        names = self.colnames
        out = {
            "b": Matrix(["y1"], names, self.b.reshape(1, -1)),
            "V": Matrix(names, names, 0.5 * (self.V + self.V.T)),
        }
        if table:
            out["table"] = Matrix(ROWS, names, self.table())
        out["error"] = Matrix(["r1"], names, self.error.reshape(1, -1))
        return out

    @property
    def colnames(self) -> list[str]:
        out = []
        for r in self.rows:
            dims = "#".join(
                f"{v}._at" if t == "_at" else f"{v}.{t}" for t, v in zip(r.term, r.values,
                                                                         strict=True)
            )
            if r.wrt:
                out.append(f"{r.wrt}:{dims}" if dims else r.wrt)
            else:
                out.append(dims or "_cons")
        return out

    def frame(self):
        """A pandas DataFrame: margin, se, z, p, ll, ul; indexed by the margin labels."""
        import pandas as pd

        t = self.table()
        t[0, sorted(self.not_estimable)] = np.nan  # a frame has no r(error) beside it
        index = [label_of(r) for r in self.rows]
        return pd.DataFrame(
            {"estimate": t[0], "se": t[1], "z": t[2], "p": t[3], "ll": t[4], "ul": t[5]},
            index=pd.Index(index, name="margin"),
        )


def label_of(row: MarginRow) -> str:
    """``age``, ``1.urban``, ``_at=2#urban=1``-style text naming one margin."""
    dims = "#".join(f"{t}={lab}" for t, lab in zip(row.term, row.labels, strict=True))
    if row.wrt:
        return f"{row.wrt} @ {dims}" if dims else row.wrt
    return dims or "_cons"


# ---------------------------------------------------------------------- computing


@dataclass
class Sample:
    """The covariates of the estimation sample as they are now, and the weights."""

    values: dict[str, np.ndarray]
    weight: np.ndarray
    data_vars: frozenset[str] = frozenset()  # every variable of the data set


@dataclass
class Scenario:
    """Covariates held fixed: a value, or (atmeans) each factor level's indicator mean."""

    values: dict[str, float] = field(default_factory=dict)
    indicators: dict[str, dict[int, float]] = field(default_factory=dict)

    def with_value(self, var: str, value: float) -> Scenario:
        values = dict(self.values)
        values[var] = value
        indicators = {k: v for k, v in self.indicators.items() if k != var}
        return Scenario(values, indicators)


def _part_value(part: Part, data: Sample, scen: Scenario, n: int) -> np.ndarray:
    if part.var in scen.indicators and part.level is not None:
        return np.full(n, scen.indicators[part.var].get(part.level, 0.0))
    x = scen.values.get(part.var)
    x = np.full(n, x) if x is not None else data.values[part.var]
    if part.level is None:
        return x
    return np.where(np.isnan(x), np.nan, (x == part.level).astype(float))


def _columns(parts_list: list[tuple[Part, ...]], data: Sample, scen: Scenario, n: int,
             wrt: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Columns (products of parts) and, when ``wrt`` names a continuous variable, their
    derivatives with respect to it (product rule)."""
    cols = np.ones((n, len(parts_list)))
    dcols = np.zeros((n, len(parts_list))) if wrt else None
    for k, parts in enumerate(parts_list):
        vals = [_part_value(p, data, scen, n) for p in parts]
        for v in vals:
            cols[:, k] *= v
        if wrt:
            for i, p in enumerate(parts):
                if p.var == wrt and p.level is None:
                    prod = np.ones(n)
                    for m, v in enumerate(vals):
                        if m != i:
                            prod = prod * v
                    dcols[:, k] += prod  # type: ignore[index]
    return cols, dcols


def _evaluate(model: MarginsModel, pred: Prediction, data: Sample, scen: Scenario,
              wrt: str | None = None):
    """Per observation: X, C (variance coefficients), eta, v, and their d/d(wrt)."""
    n = len(data.weight)
    X, dX = _columns(model.fixed_parts, data, scen, n, wrt)
    bf = model.b[model.fixed_j]
    eta = X @ bf
    if model.offset_var:
        eta = eta + data.values[model.offset_var]
    kv = len(model.var_terms)
    C = np.zeros((n, kv))
    dC = np.zeros((n, kv)) if wrt else None
    if pred.marginal and pred.stat == "mu" and kv:
        L, dL = _columns([t.left for t in model.var_terms], data, scen, n, wrt)
        R, dR = _columns([t.right for t in model.var_terms], data, scen, n, wrt)
        f = np.array([t.factor for t in model.var_terms])
        C = f * L * R
        if wrt:
            dC = f * (dL * R + L * dR)  # type: ignore[operator]
    theta = model.b[[t.j for t in model.var_terms]] if kv else np.zeros(0)
    v = np.maximum(C @ theta, 0.0)
    return X, dX, C, dC, eta, v, theta


def _average(w: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return (w @ rows) / w.sum() if rows.ndim > 1 else float(w @ rows / w.sum())


def _estimable(model: MarginsModel, *columns: np.ndarray | None) -> bool:
    """False when some observation's fixed-effects columns (or their derivatives) put
    weight on an empty cell of e(b): the prediction then rests on a coefficient the data
    cannot identify (Stata's z = zH fails, H having zero rows for empty cells)."""
    if not model.empty:
        return True
    idx = list(model.empty)
    return not any(c is not None and np.any(c[:, idx] != 0) for c in columns)


def _predictive(model: MarginsModel, pred: Prediction, data: Sample, scen: Scenario):
    """The average prediction, its gradient with respect to e(b), and whether it is
    estimable."""
    X, _, C, _, eta, v, _ = _evaluate(model, pred, data, scen)
    pc = prediction_pieces(pred, eta, v)
    grad = np.zeros(len(model.b))
    w = data.weight
    grad[model.fixed_j] = _average(w, pc.g_e[:, None] * X)
    if C.shape[1]:
        grad[[t.j for t in model.var_terms]] = _average(w, pc.g_v[:, None] * C)
    return _average(w, pc.g), grad, _estimable(model, X)


def _effect(model: MarginsModel, pred: Prediction, data: Sample, scen: Scenario, var: str,
            effect: str):
    """Average of d g/d var (scaled for elasticities), its gradient w.r.t. e(b), and
    whether it is estimable."""
    X, dX, C, dC, eta, v, theta = _evaluate(model, pred, data, scen, var)
    bf = model.b[model.fixed_j]
    pc = prediction_pieces(pred, eta, v)
    eta_x = dX @ bf
    v_x = dC @ theta if C.shape[1] else np.zeros_like(eta)
    d = pc.g_e * eta_x + pc.g_v * v_x
    d_b = (pc.g_ee * eta_x + pc.g_ev * v_x)[:, None] * X + pc.g_e[:, None] * dX
    d_t = (pc.g_ev * eta_x + pc.g_vv * v_x)[:, None] * C + pc.g_v[:, None] * dC
    if effect != "dydx":
        x = scen.values.get(var)
        x = np.full(len(eta), x) if x is not None else data.values[var]
        scale = x if effect[2:] == "ex" else np.ones_like(x)
        g_b, g_t = pc.g_e[:, None] * X, pc.g_v[:, None] * C
        if effect[:2] == "ey":
            d_b = (d_b * pc.g[:, None] - d[:, None] * g_b) / pc.g[:, None] ** 2
            d_t = (d_t * pc.g[:, None] - d[:, None] * g_t) / pc.g[:, None] ** 2
            d = d / pc.g
        d, d_b, d_t = d * scale, d_b * scale[:, None], d_t * scale[:, None]
    w = data.weight
    grad = np.zeros(len(model.b))
    grad[model.fixed_j] = _average(w, d_b)
    if C.shape[1]:
        grad[[t.j for t in model.var_terms]] = _average(w, d_t)
    return _average(w, d), grad, _estimable(model, X, dX)


def _check_covariate(model: MarginsModel, available: set[str], var: str) -> None:
    if var not in available:
        raise variable_not_found(var)
    if var not in model.covariates:
        raise StataError(f"'{var}' not found in list of covariates", 322)


def _wrt_list(model: MarginsModel, wrt: list[str], available: set[str]) -> list[str]:
    out: list[str] = []
    for w in wrt:
        w = w[2:] if w.startswith(("i.", "c.")) else w
        if w in ("*", "_all"):
            names = model.covariates
        elif "*" in w or "?" in w:
            pat = re.compile("^" + re.escape(w).replace(r"\*", ".*").replace(r"\?", ".") + "$")
            names = [c for c in model.covariates if pat.match(c)]
            if not names:
                raise StataError(f"'{w}' not found in list of covariates", 322)
        else:
            _check_covariate(model, available, w)
            names = [w]
        out += [n for n in names if n not in out]
    return out


def _level_label(model: MarginsModel, var: str, level: int) -> str:
    return model.value_labels.get(var, {}).get(level, str(level))


def _fmt_value(x: float) -> str:
    from melogit_cli.render.formats import fmt

    return fmt(x, "%9.0g").strip()


def compute_margins(model: MarginsModel, sample: Sample, req: MarginsRequest) -> MarginsResult:
    """Margins of ``req`` over ``sample`` (the estimation sample's covariates as now)."""
    available = set(sample.values) | set(sample.data_vars)
    for term in req.terms:
        for var in term:
            if var not in available:
                raise variable_not_found(var)
            if var not in model.factors:
                raise StataError(f"factor '{var}' not found in list of covariates", 322)
    for setting in req.at:
        for var in setting:
            _check_covariate(model, available, var)
            if var in model.factors and setting[var] not in model.factors[var]:
                raise StataError(f"{var} = {_fmt_value(setting[var])} is not a level of "
                                 f"factor {var} in the model", 198)
    over_levels: list[list[int]] = []
    for var in req.over:
        if var not in available:
            raise variable_not_found(var)
        x = sample.values[var]
        x = x[np.isfinite(x)]
        if np.any(x != np.round(x)) or np.any(x < 0):
            raise StataError("factor variables may not contain noninteger values", 452)
        over_levels.append(sorted(int(v) for v in np.unique(x)))
    check_level(req.level)
    wrt = _wrt_list(model, req.wrt, available) if req.effect else []
    for w in wrt:
        if w in model.factors and req.effect != "dydx":
            raise StataError(f"factor variable {w} not allowed in {req.effect}()", 198)
    pred = req.prediction

    at_list = req.at or [{}]
    multi_at = len(req.at) > 1
    fixed_terms = req.terms or [()]
    rows: list[MarginRow] = []
    values: list[float] = []
    grads: list[np.ndarray] = []
    not_estimable: set[int] = set()
    legend: list[tuple[str, list[tuple[str, str, str]]]] = []

    # which effects: (label, variable, level or None)
    effects: list[tuple[str, str, int | None]] = []
    for w in wrt:
        if w in model.factors:
            effects += [(f"{lev}.{w}", w, lev) for lev in model.factors[w]
                        if lev != model.bases[w]]
        else:
            effects.append((w, w, None))
    if not req.effect:
        effects = [("", "", None)]

    dims_base = (["_at"] if multi_at else []) + list(req.over)
    means_cache: dict[tuple, Scenario] = {}
    for a, setting in enumerate(at_list):
        entries = [(k, _fmt_value(v), "") for k, v in setting.items()]
        if req.atmeans:
            varying = {v for t in fixed_terms for v in t}
            means = _means(model, sample, np.ones(len(sample.weight), bool), setting, varying)
            for var in model.covariates:
                if var in setting or var in varying:
                    continue
                if var in means.indicators:
                    entries += [(f"{lev}.{var}", _fmt_value(m), "(mean)")
                                for lev, m in means.indicators[var].items()]
                if var in means.values:
                    entries.append((var, _fmt_value(means.values[var]), "(mean)"))
        if entries:
            legend.append(((f"{a + 1}._at: " if multi_at else "At: "), entries))
    for label, var, lev in effects:
        for term in fixed_terms:
            dims = dims_base + list(term)
            for a, setting in enumerate(at_list):
                for over_combo in product(*over_levels):
                    mask = np.ones(len(sample.weight), bool)
                    for ov, val in zip(req.over, over_combo, strict=True):
                        mask &= sample.values[ov] == val
                    if not mask.any():
                        continue
                    sub = Sample({k: v[mask] for k, v in sample.values.items()},
                                 sample.weight[mask], sample.data_vars)
                    key = (a, over_combo, term)
                    if req.atmeans:
                        if key not in means_cache:
                            means_cache[key] = _means(model, sub, np.ones(mask.sum(), bool),
                                                      setting, set(term))
                        scen = means_cache[key]
                    else:
                        scen = Scenario(dict(setting))
                    for combo in product(*[model.factors[t] for t in term]):
                        s = scen
                        for t, level in zip(term, combo, strict=True):
                            s = s.with_value(t, float(level))
                        if not req.effect:
                            val, grad, ok = _predictive(model, pred, sub, s)
                        elif lev is not None:
                            v1, g1, ok1 = _predictive(model, pred, sub,
                                                      s.with_value(var, lev))
                            v0, g0, ok0 = _predictive(model, pred, sub,
                                                      s.with_value(var, model.bases[var]))
                            val, grad, ok = v1 - v0, g1 - g0, ok1 and ok0
                        else:
                            val, grad, ok = _effect(model, pred, sub, s, var, req.effect)
                        if req.estimcheck and not ok:
                            not_estimable.add(len(values))
                            val, grad = 0.0, np.zeros_like(grad)
                        vals = ([a + 1] if multi_at else []) + list(over_combo) + list(combo)
                        labels = [str(a + 1)] if multi_at else []
                        labels += [_level_label(model, ov, x)
                                   for ov, x in zip(req.over, over_combo, strict=True)]
                        labels += [_level_label(model, t, x)
                                   for t, x in zip(term, combo, strict=True)]
                        wrt_label = _level_label(model, var, lev) if lev is not None else ""
                        rows.append(MarginRow(label, tuple(dims), tuple(vals), tuple(labels),
                                              wrt_label))
                        values.append(val)
                        grads.append(grad)
    J = np.array(grads)
    Vm = J @ model.V @ J.T
    if req.effect:
        title = "Conditional marginal effects" if req.atmeans else "Average marginal effects"
    else:
        title = "Adjusted predictions" if req.atmeans or (
            set(model.covariates) <= {v for s in at_list for v in s}
        ) else "Predictive margins"
    wrt_text = " ".join(lab for lab, _, _ in effects) if req.effect else ""
    return MarginsResult(
        rows=rows, b=np.array(values, dtype=float), V=Vm, level=req.level, title=title,
        expression=pred.expression, effect=req.effect, wrt_text=wrt_text, at_legend=legend,
        at_values=list(req.at), vcetype=model.vcetype,
        # e(N) for the whole sample (it counts frequency weights); else the rows used
        N=model.N if len(sample.weight) == model.n_rows else len(sample.weight),
        factor_note=any(lev is not None for _, _, lev in effects),
        continuous=list(model.continuous), not_estimable=frozenset(not_estimable),
    )


def _means(model: MarginsModel, data: Sample, mask: np.ndarray, setting: dict[str, float],
           varying: set[str]) -> Scenario:
    """atmeans: covariates not set by at() or varied by the marginlist at their
    (weighted) means; a factor's level indicators at their means."""
    w = data.weight[mask]
    scen = Scenario(dict(setting))
    for var in model.covariates:
        if var in setting or var in varying:
            continue
        x = data.values[var][mask]
        if var in model.factors:
            scen.indicators[var] = {
                lev: float(w @ (x == lev) / w.sum()) for lev in model.factors[var]
            }
        if var not in model.factors or var in model.continuous:
            scen.values[var] = float(w @ x / w.sum())
    return scen


# ---------------------------------------------------------------------- entry points


def parse_marginlist(text: str) -> list[tuple[str, ...]]:
    """``i.urban children#urban a##b`` -> factor terms (``a##b`` is ``a b a#b``)."""
    terms: list[tuple[str, ...]] = []
    for word in (text or "").split():
        full = "##" in word
        names = []
        for piece in re.split(r"##|#", word):
            m = re.fullmatch(r"(?:i\.)?([A-Za-z_][A-Za-z0-9_]*)", piece)
            if m is None:
                if re.fullmatch(r"c\.([A-Za-z_][A-Za-z0-9_]*)", piece):
                    raise StataError(f"factor '{piece[2:]}' not found in list of covariates",
                                     322)
                raise StataError(f"{piece}: invalid factor-variable term", 198)
            names.append(m.group(1))
        if full:
            combos: list[tuple[str, ...]] = []
            for mask in range(1, 2 ** len(names)):
                combos.append(tuple(n for k, n in enumerate(names) if mask >> k & 1))
            combos.sort(key=len)
            terms += [c for c in combos if c not in terms]
        elif tuple(names) not in terms:
            terms.append(tuple(names))
    return terms


def _at_settings(at: object) -> list[dict[str, float]]:
    """``at`` as text (``age=(-10(5)10)``), a mapping of name -> value(s), or a list."""
    if at is None:
        return []
    if isinstance(at, str):
        return parse_at(at)
    if isinstance(at, dict):
        names = list(at)
        values = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v]
                  for v in at.values()]
        return [dict(zip(names, map(float, c), strict=True)) for c in product(*values)]
    out: list[dict[str, float]] = []
    for item in at:  # type: ignore[attr-defined]
        out += _at_settings(item)
    return out


EMPTYCELLS = ("strict", "reweight")


def parse_emptycells(text: str) -> str:
    """``emptycells(strict|reweight)``.  Stata documents both as relevant only with
    ``asbalanced`` (not supported here): without it they change nothing, and a margin
    that involves an empty cell stays not estimable under either."""
    word = text.strip()
    if word not in EMPTYCELLS:
        raise StataError("option emptycells() invalid", 198)
    return word


def make_request(
    marginlist: str | list[str] = "", *, dydx: str | list[str] | None = None,
    eyex: str | list[str] | None = None, dyex: str | list[str] | None = None,
    eydx: str | list[str] | None = None, at: object = None, atmeans: bool = False,
    over: str | list[str] | None = None, predict: str | None = None, level: float = 95.0,
    noestimcheck: bool = False, emptycells: str | None = None,
) -> MarginsRequest:
    """A request from Python arguments (strings as typed in Stata, or lists)."""
    given = [(k, v) for k, v in zip(EFFECTS, (dydx, eyex, dyex, eydx), strict=True)
             if v is not None]
    if len(given) > 1:
        raise StataError(f"options {given[0][0]}() and {given[1][0]}() may not be combined", 198)
    effect, wrt = (given[0][0], _words(given[0][1])) if given else ("", [])
    if effect and not wrt:
        raise StataError("varlist required", 100)
    text = " ".join(marginlist) if isinstance(marginlist, list) else marginlist
    return MarginsRequest(
        terms=parse_marginlist(text), effect=effect, wrt=wrt, at=_at_settings(at),
        atmeans=atmeans, over=_words(over), prediction=parse_prediction(predict),
        level=float(level), estimcheck=not noestimcheck,
        emptycells=parse_emptycells(emptycells) if emptycells is not None else "",
    )


def _words(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return value.split() if isinstance(value, str) else list(value)


def sample_from(frame: object, rows: np.ndarray, weight: np.ndarray, model: MarginsModel,
                extra: list[str] | tuple[str, ...] = ()) -> Sample:
    """The estimation sample's covariates (and the ``extra`` variables, e.g. ``over()``'s)
    from a pandas frame: ``rows`` are its positions of the e(sample) observations,
    ``weight`` their weights; rows with a covariate now missing drop out."""
    values: dict[str, np.ndarray] = {}
    columns = set(frame.columns)  # type: ignore[attr-defined]
    for var in [*model.variables, *extra]:
        if var not in columns:
            raise variable_not_found(var)
        col = frame[var]  # type: ignore[index]
        if col.dtype.kind not in "biuf":
            raise StataError("type mismatch", 109)
        values[var] = col.to_numpy(dtype=float)[rows]
    ok = np.ones(len(rows), bool)
    for var in model.variables:
        ok &= np.isfinite(values[var])
    if not ok.any():
        raise StataError("no observations", 2000)
    return Sample({k: v[ok] for k, v in values.items()}, np.asarray(weight, float)[ok],
                  frozenset(columns))


def margins(e: EResults, design: object, sample: Sample, request: MarginsRequest
            ) -> MarginsResult:
    """Stata's ``margins`` after a melogit fit."""
    return compute_margins(margins_model(e, design), sample, request)


def posted(res: MarginsResult, cmdline: str = "margins") -> EResults:
    """``margins, post``: the margins as e(b) and e(V)."""
    e = EResults()
    e.matrices.update(res.matrices())
    e.scalars["N"] = float(res.N)
    e.macros.update({"cmd": "margins", "title": res.title, "cmdline": cmdline,
                     "expression": res.expression, "vcetype": "Delta-method",
                     "model_vce": res.vcetype})
    return e
