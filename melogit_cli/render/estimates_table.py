"""``estimates table`` and ``estimates stats``: stored models side by side, as Stata lays them out.

The table follows Stata's ``est_table`` (style ``oneline``): a label column of ``varwidth``
(12) characters, then one column per model of width ``cw`` -- 10 by default, else the widest
of the numeric formats given (``b(%9.4f)`` gives 9), at least 7 (9 when a coefficient is
omitted), at least ``modelwidth`` -- each written as `` {value:>cw}  ``; ``star`` adds three
columns for the stars.  Rules are ``vw + ncol*(cw+3) + 2`` dashes with ``+`` after the label
column between panels; model names are centred, ``Active`` names the current results; the
legend (``Legend: b/se``) is right-aligned to the rule.  Models that do not fit the line
size are continued in further tables, as Stata does.

``estimates stats`` is the ``Akaike's information criterion and Bayesian information
criterion`` table with AIC = -2 ll + 2 df and BIC = -2 ll + ln(N) df, df = rank of e(V).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from melogit_cli.errors import StataError
from melogit_cli.render.coeftable import _fit_level
from melogit_cli.render.formats import FormatSpec, fmt, parse_format
from melogit_cli.render.terms import abbrev, parse_term
from melogit_cli.results.eresults import EResults
from melogit_cli.special import ndtr

ACTIVE = "Active"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MARKER_RE = re.compile(r"(?<![A-Za-z0-9_])(\d+)[bnoe]+\.")
_OMIT_RE = re.compile(r"(?<![A-Za-z0-9_])o\.")

# a coefficient's state in one model (Stata's .z, .b, .o, .e and ordinary values)
MISSING, BASE, OMITTED, EMPTY, VALUE = "missing", "base", "omitted", "empty", "value"
NOTES = {BASE: "(base)", OMITTED: "(omitted)", EMPTY: "(empty)"}


@dataclass
class TableOptions:
    """The options of ``estimates table`` (formats as Stata's ``%fmt`` strings)."""

    b: str | None = None
    se: bool = False
    se_fmt: str | None = None
    t: bool = False
    t_fmt: str | None = None
    p: bool = False
    p_fmt: str | None = None
    star: bool = False
    star_levels: Sequence[float] | None = None
    stats: Sequence[str] = ()
    stfmt: str | None = None
    eform: bool = False
    keep: Sequence[str] | None = None
    drop: Sequence[str] | None = None
    equations: str | None = None
    varwidth: int | None = None
    modelwidth: int | None = None
    varlabel: bool = False
    title: str | None = None
    newpanel: bool = False
    nofvlabel: bool = False
    baselevels: bool = False
    noomitted: bool = False
    noemptycells: bool = False
    linesize: int = 80
    variable_labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Cell:
    """One model's estimate of one coefficient: ``b`` and its variance, or a state."""

    state: str = MISSING
    b: float = math.nan
    var: float = math.nan


@dataclass
class CoefRow:
    eq: str
    name: str  # without base/omitted markers: ``0.urban``, ``var(_cons[district])``
    cells: list[Cell]


@dataclass
class EstimatesTable:
    """The assembled table: coefficient rows, statistics and the resolved formats."""

    names: list[str]
    rows: list[CoefRow]
    stats: list[tuple[str, list[float]]]
    opts: TableOptions
    value_labels: dict[str, dict[int, str]]
    star_levels: tuple[float, float, float] | None = None

    # ------------------------------------------------------------------ values
    def value(self, row: CoefRow, j: int, what: str) -> float:
        """``b``, ``se``, ``t`` or ``p`` of row ``row`` in model ``j`` (eform applied)."""
        c = row.cells[j]
        if c.state != VALUE:
            return math.nan
        se = math.sqrt(c.var) if c.var >= 0 else math.nan
        exp = self.opts.eform and row.eq != "/"
        if what == "b":
            return math.exp(c.b) if exp else c.b
        if what == "se":
            return se * math.exp(c.b) if exp else se
        z = c.b / se if se > 0 else math.nan
        if what == "t":
            return z
        return 2.0 * float(ndtr(-abs(z))) if not math.isnan(z) else math.nan

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame: rows (equation, coefficient, b|se|t|p) and, for the
        statistics, ("Statistics", name, ""); one column per model; blanks are NaN."""
        index, data = [], []
        for row in self.rows:
            for what in ["b", *self.shown()]:
                index.append((row.eq, row.name, what))
                data.append([self.value(row, j, what) for j in range(len(self.names))])
        for name, vals in self.stats:
            index.append(("Statistics", name, ""))
            data.append(list(vals))
        mi = pd.MultiIndex.from_tuples(index, names=["equation", "coefficient", "statistic"])
        return pd.DataFrame(data, index=mi, columns=list(self.names), dtype=float)

    def shown(self) -> list[str]:
        return [k for k in ("se", "t", "p") if getattr(self.opts, k)]


class EstimatesFrame(pd.DataFrame):
    """A DataFrame of an estimates table whose ``to_string()`` is Stata's layout."""

    _metadata = ["stata_text"]

    @property
    def _constructor(self):  # derived frames are plain DataFrames
        return pd.DataFrame

    def to_string(self, *args, **kwargs) -> str:  # type: ignore[override]
        text = getattr(self, "stata_text", None)
        if not args and not kwargs and text is not None:
            return text
        return pd.DataFrame(self).to_string(*args, **kwargs)


# ---------------------------------------------------------------------------
# Assembling
# ---------------------------------------------------------------------------


def _state(name: str, b: float, var: float, empty: bool = False) -> str:
    parts = [p for p in name.split("#")]
    term = parse_term(name) if "(" not in name else None
    if term is not None:
        if term.base and b == 0:
            return BASE
        if (empty or term.empty) and b == 0:
            return EMPTY
        if (term.omitted or any(p.startswith("o.") for p in parts)) and b == 0:
            return OMITTED
    return VALUE


def _plain(name: str) -> str:
    """``0b.urban`` -> ``0.urban``, ``o.x`` -> ``x``: the name rows are matched by."""
    return _OMIT_RE.sub("", _MARKER_RE.sub(r"\1.", name))


def _equation_names(colnames: list[str]) -> list[str]:
    out: list[str] = []
    for c in colnames:
        eq = c.rpartition(":")[0]
        if eq not in out:
            out.append(eq)
    return out


def _parse_matchlist(spec: str, nmodels: int) -> list[tuple[str, list[str]]]:
    """``equations()``: terms ``[name =] #[:#...]``, comma-separated; returns each term's
    name and its equation number (or ``.``) per model."""
    terms: list[tuple[str, list[str]]] = []
    for k, raw in enumerate(spec.split(","), start=1):
        name, eqsign, rest = raw.partition("=")
        if eqsign:
            name = name.strip()
            if not _NAME_RE.match(name):
                raise StataError(f"{name} invalid name", 198)
        else:
            name, rest = f"#{k}", raw
        words = rest.replace(":", " ").replace("#", "").split()
        if len(words) not in (1, nmodels):
            raise StataError(
                "option equations() invalid\n"
                f"a term should consist of either 1 or {nmodels} equation numbers",
                198,
            )
        terms.append((name, words * nmodels if len(words) == 1 else words))
    names = [t[0] for t in terms]
    if len(set(names)) < len(names):
        raise StataError("duplicate matched equation names", 198)
    return terms


def _eq_renames(colnames: list[str], i: int, terms: list[tuple[str, list[str]]]) -> dict[str, str]:
    eqs = _equation_names(colnames)
    renames: dict[str, str] = {}
    for name, words in terms:
        if name in eqs:
            raise StataError(
                f"option equations() invalid\nspecified equation name already occurs in model {i}",
                198,
            )
        w = words[i - 1]
        if w == ".":
            continue
        if not w.isdigit():
            raise StataError(
                f"option equations() invalid\n{w} was found, while an integer equation "
                "number was expected",
                198,
            )
        n = int(w)
        if not 1 <= n <= len(eqs):
            raise StataError(
                f"option equations() invalid\nequation number {n} for model {i} out of range",
                198,
            )
        renames[eqs[n - 1]] = name
    return renames


def _merge_rows(models: list[tuple[str, EResults]], opts: TableOptions) -> list[CoefRow]:
    terms = _parse_matchlist(opts.equations, len(models)) if opts.equations else []
    order: dict[str, list[str]] = {}
    cells: dict[tuple[str, str], list[Cell]] = {}
    for i, (_, e) in enumerate(models):
        cols = e.b.colnames
        renames = _eq_renames(cols, i + 1, terms) if terms else {}
        V = np.atleast_2d(e.V.data)
        for j, col in enumerate(cols):
            eq, _, raw = col.rpartition(":")
            eq = renames.get(eq, eq)
            name = _plain(raw)
            b, var = float(e.b.data[0, j]), float(V[j, j])
            rows = order.setdefault(eq, [])
            if name not in rows:
                rows.append(name)
                cells[(eq, name)] = [Cell() for _ in models]
            cells[(eq, name)][i] = Cell(_state(raw, b, var, col in e.empty_cells), b, var)
    out: list[CoefRow] = []
    for eq, names in order.items():
        names = [n for n in names if n != "_cons"] + [n for n in names if n == "_cons"]
        out += [CoefRow(eq, n, cells[(eq, n)]) for n in names]
    return out


def _matches(spec: str, row: CoefRow) -> bool:
    if spec.startswith("/") and ":" not in spec:
        return row.eq == "/" and row.name == spec[1:]
    eq, colon, name = spec.rpartition(":")
    if colon and eq != row.eq:
        return False
    if not name:
        return True
    if name == row.name:
        return True
    if name.startswith("i.") and "(" not in row.name:
        term = parse_term(row.name)
        return term.is_factor and not term.is_interaction and term.parts[0].var == name[2:]
    return False


def _not_found(spec: str) -> StataError:
    return StataError(f"coefficient {spec} does not occur in any of the models", 198)


def _select(rows: list[CoefRow], opts: TableOptions) -> list[CoefRow]:
    if opts.keep:
        kept: list[CoefRow] = []
        for spec in opts.keep:
            hits = [r for r in rows if _matches(spec, r)]
            if not hits:
                raise _not_found(spec)
            kept += [r for r in hits if r not in kept]
        rows = kept
    if opts.drop:
        for spec in opts.drop:
            hits = [r for r in rows if _matches(spec, r)]
            if not hits:
                raise _not_found(spec)
            rows = [r for r in rows if r not in hits]
    if opts.eform:  # the intercept is not shown in exponentiated form
        rows = [r for r in rows if not (r.name == "_cons" and r.eq != "/")]
    return rows


def _rank(e: EResults) -> float:
    if "rank" in e.scalars:
        return float(e.scalars["rank"])
    V = np.atleast_2d(e.V.data)
    return float(np.linalg.matrix_rank(V)) if V.size else 0.0


def statistic(e: EResults, name: str) -> float:
    """A statistic of ``stats()``: an e() scalar, or ``aic``, ``bic``, ``rank``."""
    if name in ("aic", "bic", "rank"):
        k = _rank(e)
        if name == "rank":
            return k
        ll = e.scalars.get("ll", math.nan)
        if name == "aic":
            return -2.0 * ll + 2.0 * k
        return -2.0 * ll + math.log(e.scalars.get("N", math.nan)) * k
    return float(e.scalars.get(name, math.nan))


def _star_levels(opts: TableOptions) -> tuple[float, float, float] | None:
    if opts.star and opts.star_levels is not None:
        raise StataError("options star and star() may not be combined", 198)
    if opts.star_levels is not None:
        levels = sorted(set(float(x) for x in opts.star_levels))
        if len(levels) != 3 or not all(0 < x < 1 for x in levels):
            raise StataError("invalid specification of star()", 198)
        return (levels[2], levels[1], levels[0])
    if opts.star:
        return (0.05, 0.01, 0.001)
    return None


def build(models: Sequence[tuple[str, EResults]], opts: TableOptions) -> EstimatesTable:
    """Assemble the table of ``models`` (name, e()) under ``opts``; raises Stata's errors."""
    if not models:
        raise StataError("last estimates not found", 301)
    stars = _star_levels(opts)
    if stars is not None and (opts.se or opts.t or opts.p):
        raise StataError("option star may not be combined with se, t, or p", 198)
    for s in opts.stats:
        if not _NAME_RE.match(s):
            raise StataError(f"{s} invalid name", 198)
    rows = _select(_merge_rows(list(models), opts), opts)
    stats = list(dict.fromkeys(opts.stats))
    table = EstimatesTable(
        [n for n, _ in models],
        rows,
        [(s, [statistic(e, s) for _, e in models]) for s in stats],
        opts,
        {k: v for _, e in models for k, v in e.value_labels.items()},
        stars,
    )
    _Layout(table)  # checks the formats and widths
    return table


# ---------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------


def _check_format(spec: str, probe: float) -> tuple[FormatSpec, int]:
    try:
        f = parse_format(spec)
    except ValueError:
        raise StataError(f"invalid display format {spec}", 120) from None
    return f, len(fmt(probe, f))


def _width(value: int | None, option: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise StataError(f"option {option}() incorrectly specified", 198)
    return value


def _abbrev(text: str, n: int) -> str:
    return text[:n] if n > 32 else abbrev(text, n)


def _center(text: str, width: int) -> str:
    pad = max(width - len(text), 0)
    return " " * (pad // 2) + text + " " * (pad - pad // 2)


class _Layout:
    """Widths and formats of Stata's ``est_table`` display."""

    def __init__(self, table: EstimatesTable) -> None:
        o = table.opts
        self.table = table
        self.vw = max(8, _width(o.varwidth, "varwidth", 24 if o.varlabel else 12))
        modelwidth = _width(o.modelwidth, "modelwidth", 0)
        has_omit = any(c.state == OMITTED for r in table.rows for c in r.cells)
        cw = 9 if has_omit else 7
        if o.b:
            self.bfmt, n = _check_format(o.b, 1.0)
            cw = max(cw, n)
        else:
            self.bfmt, cw = parse_format("%10.0g"), 10
        self.fmts = {"b": self.bfmt}
        for key, probe, default in (
            ("se", 1.0, None),
            ("t", -123.45, "%7.2f"),
            ("p", 1.0, "%7.4f"),
        ):
            spec = getattr(o, f"{key}_fmt")
            if spec:
                self.fmts[key], n = _check_format(spec, probe)
                cw = max(cw, n)
            else:
                self.fmts[key] = parse_format(default) if default else self.bfmt
        if table.stats and o.stfmt:
            self.stfmt, n = _check_format(o.stfmt, 1.0)
            cw = max(cw, n)
        else:
            self.stfmt = self.bfmt
        self.cw = max(cw, modelwidth)
        self.lsym = 3 if table.star_levels else 0
        self.ccw = self.cw + self.lsym  # Stata's T_ET_cw
        self.hcolr = self.ccw + 3
        per_block = max((o.linesize - 1 - (self.vw + 1)) // self.hcolr, 1)
        n = len(table.names)
        self.blocks = [list(range(i, min(i + per_block, n))) for i in range(0, n, per_block)]

    # -------------------------------------------------------------- lines
    def rule(self, ncol: int, mid: str = "-") -> str:
        return "-" * self.vw + "-" + mid + "-" * (ncol * self.hcolr - 1) + "-"

    def line(self, label: str, cells: list[str], align: str = "right") -> str:
        text = label.rjust(self.vw) if align == "right" else label.ljust(self.vw)
        return text + " |" + "".join(cells)

    def cell(self, text: str, sym: str = "") -> str:
        if self.lsym:
            return " " + text.rjust(self.cw) + sym.ljust(self.lsym) + "  "
        return " " + text.rjust(self.ccw) + "  "

    def header(self, label: str, cols: list[int]) -> list[str]:
        names = [_abbrev(self.table.names[j], self.ccw) for j in cols]
        return [
            "",
            self.rule(len(cols)),
            self.line(label, [" " + _center(n, self.ccw) + "  " for n in names]),
            self.rule(len(cols), "+"),
        ]

    def number(self, x: float, f: FormatSpec) -> str:
        return "" if math.isnan(x) else fmt(x, f).strip()

    def stars(self, p: float) -> str:
        p1, p2, p3 = self.table.star_levels or (0, 0, 0)
        if math.isnan(p):
            return ""
        return "***" if p < p3 else "**" if p < p2 else "*" if p < p1 else ""

    def coef_lines(self, row: CoefRow, label: str, level: bool, cols: list[int]) -> list[str]:
        t = self.table
        cells = []
        for j in cols:
            c = row.cells[j]
            if c.state in NOTES:
                cells.append(self.cell(NOTES[c.state]))
            elif c.state == MISSING:
                cells.append(self.cell(""))
            else:
                p = t.value(row, j, "p")
                cells.append(self.cell(self.number(t.value(row, j, "b"), self.bfmt), self.stars(p)))
        first = label.rjust(self.vw - 1) + "  |" if level else label.rjust(self.vw) + " |"
        lines = [first + "".join(cells)]
        for what in t.shown():
            vals = [self.number(t.value(row, j, what), self.fmts[what]) for j in cols]
            lines.append(self.line("", [self.cell(v) for v in vals]))
        return lines

    def row_labels(self) -> list[tuple[CoefRow | None, str, bool, str]]:
        """(row or None for a heading, label, is-a-factor-level, equation) in display order."""
        t = self.table
        o = t.opts
        visible = [r for r in t.rows if self._visible(r)]
        out: list[tuple[CoefRow | None, str, bool, str]] = []
        i = 0
        while i < len(visible):
            r = visible[i]
            if r.eq == "/" or "(" in r.name:
                out.append((r, _abbrev(r.name, self.vw), False, r.eq))
                i += 1
                continue
            term = parse_term(r.name)
            if o.varlabel and not term.is_factor:
                text = "Constant" if r.name == "_cons" else o.variable_labels.get(r.name, r.name)
                out.append((r, _abbrev(text, self.vw), False, r.eq))
                i += 1
                continue
            if not term.is_factor:
                out.append((r, _abbrev(r.name, self.vw), False, r.eq))
                i += 1
                continue
            group = [r]
            while (
                i + len(group) < len(visible)
                and visible[i + len(group)].eq == r.eq
                and "(" not in visible[i + len(group)].name
                and parse_term(visible[i + len(group)].name).key == term.key
            ):
                group.append(visible[i + len(group)])
            labeled = not o.nofvlabel and any(
                p.var in t.value_labels for p in term.parts if p.is_factor
            )
            if len(group) == 1 and not labeled and len(r.name) <= self.vw and not o.varlabel:
                out.append((r, r.name, False, r.eq))
            else:
                head = term.header
                if o.varlabel and not term.is_interaction:
                    head = o.variable_labels.get(head, head)
                out.append((None, _abbrev(head, self.vw), False, r.eq))
                for g in group:
                    text = _level_text(parse_term(g.name), t.value_labels, o.nofvlabel)
                    out.append((g, _fit_level(text, self.vw - 1, 1, "word")[0], True, r.eq))
            i += len(group)
        return out

    def _visible(self, row: CoefRow) -> bool:
        o = self.table.opts
        hidden = {MISSING}
        if not o.baselevels:
            hidden.add(BASE)
        if o.noomitted:
            hidden.add(OMITTED)
        if o.noemptycells:
            hidden.add(EMPTY)
        return not all(c.state in hidden for c in row.cells)

    def legend(self) -> str | None:
        t = self.table
        if t.star_levels:
            p1, p2, p3 = (_num(x) for x in t.star_levels)
            return f"Legend: * p<{p1}; ** p<{p2}; *** p<{p3}"
        if t.shown():
            return "Legend: " + "/".join(["b", *t.shown()])
        return None

    def lines(self) -> list[str]:
        t = self.table
        out: list[str] = []
        if t.opts.title:
            out += ["", t.opts.title]
        labels = self.row_labels()
        equations = list(dict.fromkeys(r.eq for r in t.rows))
        multi = len(equations) > 1
        for b, cols in enumerate(self.blocks):
            if b:
                out.append("")
            out += self.header("Variable", cols)
            eq_seen: str | None = None
            for row, label, level, eq in labels:
                if multi and eq != eq_seen:
                    if eq_seen is not None:
                        out.append(self.rule(len(cols), "+"))
                    out.append(_abbrev(eq, self.vw).ljust(self.vw) + " |")
                    eq_seen = eq
                if row is None:
                    out.append(label.rjust(self.vw) + " |")
                else:
                    out += self.coef_lines(row, label, level, cols)
            if t.stats:
                if t.opts.newpanel:
                    out.append(self.rule(len(cols)))
                    out += self.header("Statistics", cols)
                else:
                    out.append(self.rule(len(cols), "+"))
                    if multi:
                        out.append(self.line("Statistics", [self.cell("") for _ in cols], "left"))
                for name, vals in t.stats:
                    f = parse_format(f"%{self.cw}.0f") if name == "N" else self.stfmt
                    cells = [self.cell(self.number(vals[j], f)) for j in cols]
                    out.append(self.line(_abbrev(name, self.vw), cells))
            out.append(self.rule(len(cols)))
            legend = self.legend()
            if legend:
                out.append(legend.rjust(len(self.rule(len(cols)))))
        return out


def _level_text(term, labels: dict[str, dict[int, str]], nofvlabel: bool) -> str:
    from melogit_cli.render.coeftable import _level_text as level_text

    return level_text(term, labels, nofvlabel)


def _num(x: float) -> str:
    return f"{x:g}"


def table_lines(table: EstimatesTable) -> list[str]:
    """The printed lines of an assembled table."""
    return _Layout(table).lines()


def estimates_table(models: Sequence[tuple[str, EResults]], opts: TableOptions) -> str:
    """``estimates table``: the text Stata prints (lines joined, ending in a newline)."""
    return "\n".join(table_lines(build(models, opts))) + "\n"


def estimates_frame(models: Sequence[tuple[str, EResults]], opts: TableOptions) -> EstimatesFrame:
    """The table as an :class:`EstimatesFrame` (``.to_string()`` gives Stata's layout)."""
    table = build(models, opts)
    frame = EstimatesFrame(table.to_frame())
    frame.stata_text = "\n".join(table_lines(table)) + "\n"
    return frame


# ---------------------------------------------------------------------------
# estimates stats
# ---------------------------------------------------------------------------

IC_TITLE = "Akaike's information criterion and Bayesian information criterion"
IC_NOTE = "Note: BIC uses N = number of observations. See [R] IC note."
IC_COLUMNS = ["N", "ll(null)", "ll(model)", "df", "AIC", "BIC"]


def information_criteria(models: Sequence[tuple[str, EResults]]) -> pd.DataFrame:
    """N, ll(null), ll(model), df, AIC and BIC of each model (rows by name)."""
    if not models:
        raise StataError("last estimates not found", 301)
    rows = []
    for _, e in models:
        n = e.scalars.get("N", math.nan)
        ll = e.scalars.get("ll", math.nan)
        df = _rank(e)
        rows.append(
            [
                n,
                e.scalars.get("ll_0", math.nan),
                ll,
                df,
                -2 * ll + 2 * df,
                -2 * ll + math.log(n) * df,
            ]
        )
    return pd.DataFrame(rows, index=[name for name, _ in models], columns=IC_COLUMNS, dtype=float)


def estimates_stats(models: Sequence[tuple[str, EResults]]) -> str:
    """``estimates stats``: Stata's table of AIC and BIC, with its note."""
    frame = information_criteria(models)
    rule = "-" * 77
    lines = ["", IC_TITLE, "", rule]
    lines.append("       Model |          N   ll(null)  ll(model)      df        AIC        BIC")
    lines.append("-------------+" + "-" * 63)
    for name, r in frame.iterrows():
        lines.append(
            f"{abbrev(str(name), 12):>12} |"
            f"{fmt(r['N'], '%10.0fc'):>11}"
            + "".join(f"{fmt(r[k], '%9.0g'):>11}" for k in ("ll(null)", "ll(model)"))
            + f"{fmt(r['df'], '%7.0g'):>8}"
            + "".join(f"{fmt(r[k], '%9.0g'):>11}" for k in ("AIC", "BIC"))
        )
    lines += [rule, IC_NOTE]
    return "\n".join(lines) + "\n"
