"""ModelSpec: what a ``melogit`` command says, as plain data.

The parser builds these objects from text; it never looks at a data set. Variable
patterns (``child*``, ``child1-child3``) and factor-variable levels are resolved later,
against the data, by :mod:`melogit_cli.design`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # only commands with an if or weight expression import its classes
    from melogit_cli.syntax.expr import Expr

# ---------------------------------------------------------------------------
# Factor-variable terms
# ---------------------------------------------------------------------------

BaseSpec = int | Literal["first", "last", "freq", "none"] | str | None
"""Base level of a factor: ``None`` = default (lowest level), an int (``ib2.``),
``"first"``/``"last"``/``"freq"`` (``ib(first).`` ...), ``"none"`` (``ibn.``),
``"#k"`` (``ib(#k).``: the k-th level in sorted order, e.g. ``"#2"``)."""


@dataclass(frozen=True)
class Factor:
    """One variable inside a term, with its factor-variable operator.

    ``kind``: ``"i"`` factor, ``"c"`` continuous (explicit ``c.``), ``None`` plain
    variable (continuous unless it sits in an interaction, where Stata treats it as
    a factor).  ``pattern`` may be a name, an abbreviation, a wildcard (``child*``,
    ``x?``) or a range (``child1-child3``).  ``levels`` restricts the levels kept:
    ``2.children`` -> ``(2,)``, ``i(1 3).children`` -> ``(1, 3)``.
    """

    pattern: str
    kind: Literal["i", "c"] | None = None
    base: BaseSpec = None
    levels: tuple[int, ...] | None = None
    omit: tuple[int, ...] = ()  # io(2 3).x : levels omitted


@dataclass(frozen=True)
class Term:
    """A product (``#``) of factors; a single factor for a main effect.

    ``a##b`` is expanded by the parser into the terms ``a``, ``b``, ``a#b``.
    """

    factors: tuple[Factor, ...]


# ---------------------------------------------------------------------------
# if / in / weights
# ---------------------------------------------------------------------------

InBound = int | Literal["f", "l"]


@dataclass(frozen=True)
class InRange:
    """``in first/last``: 1-based observation numbers, negative counts from the end."""

    first: InBound
    last: InBound


WeightType = Literal["fweight", "iweight", "pweight", "aweight"]


@dataclass(frozen=True)
class Weight:
    """``[fweight=exp]``; the type is stored in full (``fw`` -> ``fweight``)."""

    kind: WeightType
    expr: Expr
    text: str  # the expression as typed, for e(wexp)


# ---------------------------------------------------------------------------
# Random-effects equations and options
# ---------------------------------------------------------------------------

CovKind = Literal["independent", "exchangeable", "identity", "unstructured", "fixed", "pattern"]


@dataclass(frozen=True)
class Covariance:
    """``covariance(vartype)``; ``matname`` for ``fixed()``/``pattern()``."""

    kind: CovKind
    matname: str | None = None


@dataclass
class REEquation:
    """One ``|| levelvar: [varlist] [, re_options]`` or ``|| levelvar: R.varname``."""

    level: str  # a variable name or "_all"
    terms: list[Term] = field(default_factory=list)
    r_var: str | None = None  # R.varname
    noconstant: bool = False
    covariance: Covariance | None = None  # None = the default for this equation
    fweight: str | None = None
    iweight: str | None = None
    pweight: str | None = None


IntMethod = Literal["mvaghermite", "mcaghermite", "pcaghermite", "ghermite", "laplace", "pclaplace"]


@dataclass
class FromSpec:
    """``from()``: a matrix name, or a list of ``name=value`` pairs; ``skip``/``copy``."""

    matname: str | None = None
    values: list[tuple[str, float]] = field(default_factory=list)
    skip: bool = False
    copy: bool = False


@dataclass
class Options:
    """Every option of the manual's tables, canonical names, typed values.

    ``None`` means "not given" where Stata's default depends on the model.
    """

    # Model
    binomial: str | float | None = None  # varname or #
    constraints: list[int] = field(default_factory=list)
    # SE/Robust
    vce: str = "oim"  # oim, opg, robust, cluster
    vce_clustvar: str | None = None
    # Reporting
    level: float = 95.0
    or_: bool = False
    nocnsreport: bool = False
    notable: bool = False
    noheader: bool = False
    nogroup: bool = False
    noci: bool = False
    nopvalues: bool = False
    noomitted: bool = False
    vsquish: bool = False
    noemptycells: bool = False
    baselevels: bool = False
    allbaselevels: bool = False
    nofvlabel: bool = False
    fvwrap: int | None = None
    fvwrapon: str | None = None  # "word" or "width"
    cformat: str | None = None
    pformat: str | None = None
    sformat: str | None = None
    nolstretch: bool = False
    # Integration
    intmethod: IntMethod | None = None
    intpoints: int | None = None
    # Maximization
    difficult: bool = False
    technique: str | None = None  # e.g. "nr", "bhhh 5 nr 10"
    iterate: int | None = None
    log: bool = True  # nolog -> False
    trace: bool = False
    gradient: bool = False
    showstep: bool = False
    hessian: bool = False
    showtolerance: bool = False
    tolerance: float = 1e-6
    ltolerance: float = 1e-7
    nrtolerance: float = 1e-5
    nonrtolerance: bool = False
    from_: FromSpec | None = None
    startvalues: str | None = None  # zero, constantonly, fixedonly, iv (+ args as typed)
    startgrid: str | None = None  # "" when given without arguments
    noestimate: bool = False
    dnumerical: bool = False
    collinear: bool = False
    coeflegend: bool = False
    # Not an option: Stata's ``set emptycells keep|drop``; ``drop`` leaves the empty cells of
    # interactions out of e(b)
    emptycells: str = "keep"


@dataclass
class ModelSpec:
    """A whole ``melogit`` command."""

    cmdline: str
    depvar: str
    fixed: list[Term] = field(default_factory=list)
    if_expr: Expr | None = None
    if_text: str | None = None
    in_range: InRange | None = None
    weight: Weight | None = None
    noconstant: bool = False
    offset: str | None = None
    asis: bool = False
    re_equations: list[REEquation] = field(default_factory=list)
    options: Options = field(default_factory=Options)
    replay: bool = False  # "melogit" or "melogit, or" with no depvar: replay the last fit
