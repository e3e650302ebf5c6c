"""The coefficient table, laid out as Stata's ``_coef_table`` prints it for ``meglm``.

Columns after the ``|``: coefficient 11, std. err. 11, z 9, P>|z| 8, lower 13, upper 12
(64 in all); the label column is 13 wide at line size 80 and stretches, when the line size
allows, to fit longer labels.  Row labels are right-aligned against ``" |"``; factor levels
end two columns before the ``|``; ``var()``/``cov()`` labels touch the ``|``; the level
headers of the variance components (``district``) are left-aligned.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass, field

import numpy as np

from melogit_cli.render.formats import FormatSpec, fmt, parse_format
from melogit_cli.render.terms import Term, VarComp, abbrev, parse_term, parse_varcomp
from melogit_cli.results.eresults import EResults, Matrix
from melogit_cli.results.names import split_colname
from melogit_cli.results.rtable import coef_table

_PREFIX_RE = re.compile(r"^(\d*)([a-z]*)\.(.+)$")
WIDTHS = {"b": 11, "se": 11, "z": 9, "p": 8, "ll": 13, "ul": 12}
PADS = {"b": 2, "se": 2, "z": 1, "p": 3, "ll": 4, "ul": 3}


@dataclass
class TableStyle:
    """Reporting options that shape the table (a subset of the command's Options)."""

    level: float = 95.0
    eform: bool = False
    cformat: str | None = None
    pformat: str | None = None
    sformat: str | None = None
    noci: bool = False
    nopvalues: bool = False
    coeflegend: bool = False
    vsquish: bool = False
    baselevels: bool = False
    allbaselevels: bool = False
    noomitted: bool = False
    noemptycells: bool = False
    nofvlabel: bool = False
    nolstretch: bool = False
    fvwrap: int | None = None
    fvwrapon: str | None = None
    linesize: int = 80
    formats: dict[str, FormatSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.formats = {
            "c": parse_format(self.cformat or "%9.0g"),
            "s": parse_format(self.sformat or "%8.2f"),
            "p": parse_format(self.pformat or "%5.3f"),
        }


@dataclass
class Row:
    """One line of the table: a label of some ``kind`` and, optionally, a column of values."""

    kind: str  # "right", "level", "vc", "left", "blank"
    label: str = ""
    j: int | None = None
    note: str = ""  # "(base)", "(omitted)", "(empty)", "(constrained)"
    vc: bool = False  # a var() row: no z and P


# ---------------------------------------------------------------------------
# Building rows
# ---------------------------------------------------------------------------


def _level_text(term: Term, labels: dict[str, dict[int, str]], nofvlabel: bool) -> str:
    parts = [p for p in term.parts if p.is_factor]
    labeled = [not nofvlabel and p.var in labels for p in parts]
    if any(labeled):
        return "#".join(
            labels[p.var].get(int(p.level), str(p.level)) if lab else str(p.level)  # type: ignore[arg-type]
            for p, lab in zip(parts, labeled, strict=True)
        )
    return " ".join(str(p.level) for p in parts)


def _visible(
    term: Term, style: TableStyle, main_effects: set[str], empty: bool = False
) -> tuple[bool, str]:
    """Whether a fixed-effect column is shown, and its note (``empty``: an empty cell)."""
    if term.base:
        if style.allbaselevels:
            return True, "(base)"
        if style.baselevels:
            factors = [p.var for p in term.parts if p.is_factor]
            inferable = term.is_interaction and all(v in main_effects for v in factors)
            return (not inferable), "(base)"
        return False, ""
    if empty or term.empty:
        return (not style.noemptycells), "(empty)"
    if term.omitted:
        return (not style.noomitted), "(omitted)"
    return True, ""


def fixed_rows(
    e: EResults, cols: list[int], style: TableStyle, width: int, constrained: set[int]
) -> list[Row]:
    """Rows of the fixed-effects equation, with factor blocks and their blank separators."""
    names = [split_colname(e.b.colnames[j])[1] for j in cols]
    terms = [parse_term(n) for n in names]
    main_effects = {t.parts[0].var for t in terms if t.is_factor and not t.is_interaction}
    groups: list[list[int]] = []
    for i, t in enumerate(terms):
        if groups and t.is_factor and terms[groups[-1][-1]].key == t.key:
            groups[-1].append(i)
        else:
            groups.append([i])
    rows: list[Row] = []
    pending_blank = False
    for g in groups:
        term = terms[g[0]]
        shown = []
        for i in g:
            empty = e.b.colnames[cols[i]] in e.empty_cells
            ok, note = _visible(terms[i], style, main_effects, empty)
            if ok:
                if not note and cols[i] in constrained:
                    note = "(constrained)"
                shown.append((i, note))
        if not shown:
            continue
        labeled = not style.nofvlabel and any(
            p.var in e.value_labels for p in term.parts if p.is_factor
        )
        single = not term.is_factor or (
            len(shown) == 1 and not labeled and len(terms[shown[0][0]].display) <= width - 1
        )
        if single:
            if pending_blank and not style.vsquish:
                rows.append(Row("blank"))
            pending_blank = False
            i, note = shown[0]
            label = abbrev(terms[i].display, width - 1) if not term.is_factor else terms[i].display
            rows.append(Row("right", label, cols[i], note))
            continue
        if rows and not style.vsquish:
            rows.append(Row("blank"))
        rows.append(Row("right", abbrev(term.header, width - 1)))
        for i, note in shown:
            text = _level_text(terms[i], e.value_labels, style.nofvlabel)
            pieces = _fit_level(text, width - 2, style.fvwrap or 1, style.fvwrapon or "word")
            rows += [Row("level", piece) for piece in pieces[:-1]]
            rows.append(Row("level", pieces[-1], cols[i], note))
        pending_blank = len(shown) > 1 or term.is_interaction
    return rows


def _fit_level(text: str, width: int, lines: int, on: str) -> list[str]:
    """A value label cut to ``width``, or wrapped over up to ``lines`` lines (``fvwrap()``)."""
    if len(text) <= width:
        return [text]
    if lines <= 1:
        return [text[:width]]
    if on == "width":
        pieces = [text[i : i + width] for i in range(0, len(text), width)]
    else:
        pieces = textwrap.wrap(text, width) or [text[:width]]
    return pieces[:lines]


def _wrap_level(path: str, width: int) -> list[str]:
    """``family>subject`` -> ``["family>", "subject"]`` when it does not fit in ``width``."""
    if len(path) <= width:
        return [path]
    pieces = [p + ">" for p in path.split(">")]
    pieces[-1] = pieces[-1][:-1]
    lines: list[str] = []
    for piece in pieces:
        if lines and len(lines[-1]) + len(piece) <= width:
            lines[-1] += piece
        else:
            lines.append(piece)
    return [abbrev(x, width) for x in lines]


def _wrap_label(label: str, width: int) -> list[str]:
    """Split a ``cov(a,b)`` label after its comma (or a long one after ``(``) to fit."""
    if len(label) <= width:
        return [label]
    pieces: list[str] = []
    cur = ""
    for ch in label:
        cur += ch
        if ch in ",(":
            pieces.append(cur)
            cur = ""
    if cur:
        pieces.append(cur)
    lines: list[str] = []
    for piece in pieces:
        if lines and len(lines[-1]) + len(piece) <= width:
            lines[-1] += piece
        else:
            lines.append(piece)
    out: list[str] = []
    for line in lines:
        while len(line) > width:
            out.append(line[:width])
            line = line[width:]
        out.append(line)
    return out


def varcomp_blocks(
    e: EResults, cols: list[int], width: int, constrained: set[int]
) -> list[list[Row]]:
    """Rows of the ``/`` equation, one block per level and kind (var rows, then cov rows)."""
    comps: list[tuple[int, VarComp]] = [
        (j, parse_varcomp(split_colname(e.b.colnames[j])[1])) for j in cols
    ]
    blocks: list[list[Row]] = []
    current: tuple[str, str] | None = None
    for j, vc in comps:
        key = (vc.level, vc.kind)
        if key != current:
            heads = _wrap_level(vc.level, width - 1) if vc.level else []
            blocks.append([Row("left", text) for text in heads])
            current = key
        lines = _wrap_label(vc.label, width)
        for text in lines[:-1]:
            blocks[-1].append(Row("vc", text))
        note = "(constrained)" if j in constrained else ""
        blocks[-1].append(Row("vc", lines[-1], j, note, vc=vc.kind == "var"))
    return blocks


# ---------------------------------------------------------------------------
# Formatting lines
# ---------------------------------------------------------------------------


def _label_cell(row: Row, width: int) -> str:
    if row.kind == "right":
        return row.label.rjust(width - 1) + " |"
    if row.kind == "level":
        return row.label.rjust(width - 2) + "  |"
    if row.kind == "vc":
        return row.label.rjust(width) + "|"
    if row.kind == "left":
        return row.label.ljust(width) + "|"
    return " " * width + "|"


def _columns(style: TableStyle) -> list[str]:
    keys = ["b", "se"]
    if not style.nopvalues:
        keys += ["z", "p"]
    if not style.noci:
        keys += ["ll", "ul"]
    return keys


def _cell(key: str, value: float, style: TableStyle) -> str:
    spec = style.formats["s" if key == "z" else "p" if key == "p" else "c"]
    base = {"z": 8, "p": 5}.get(key, 9)
    return " " * PADS[key] + fmt(value, spec).rjust(base)


def _legend(e: EResults, j: int) -> str:
    eq, name = split_colname(e.b.colnames[j])
    if eq == "/":
        return f"_b[/{name}]"
    return f"_b[{eq}:{name}]" if eq else f"_b[{name}]"


def _values(e: EResults, row: Row, table: Matrix, style: TableStyle) -> str:
    j = row.j
    assert j is not None
    t = table.data[:, j]
    b = float(t[0])
    if style.coeflegend:
        return _cell("b", b, style) + "  " + _legend(e, j)
    if row.note:
        return _cell("b", b, style) + "  " + row.note
    vals = {"b": b, "se": t[1], "z": t[2], "p": t[3], "ll": t[4], "ul": t[5]}
    out = ""
    for key in _columns(style):
        if row.vc and key in ("z", "p"):
            out += " " * WIDTHS[key]
        else:
            out += _cell(key, float(vals[key]), style)
    return out.rstrip()


def table_width(style: TableStyle) -> int:
    """Width of the part right of the ``|``."""
    if style.coeflegend:
        return 64
    return sum(WIDTHS[k] for k in _columns(style))


def column_header(style: TableStyle) -> str:
    """The text right of the ``|`` on the title line."""
    title = "Odds ratio" if style.eform and not style.coeflegend else "Coefficient"
    bse = f" {title.ljust(11)}  Std. err."
    if style.coeflegend:
        return " Coefficient  Legend"
    out = bse
    if not style.nopvalues:
        out += "      z    P>|z|"
    if not style.noci:
        level = fmt(style.level, "%9.0g").strip()
        ci = f"[{level}% conf. interval]"
        out += ci.rjust(25 if not style.nopvalues else 24)
    return out


def _vcetype_line(vcetype: str, width: int) -> str:
    left = (9 - len(vcetype)) // 2
    return " " * width + "|" + " " * (14 + max(left, 0)) + vcetype


def label_width(e: EResults, style: TableStyle) -> int:
    """The label column's width: 13, stretched for long labels when the line size allows."""
    cap = 13 if style.nolstretch else max(13, style.linesize - 67)
    need = 13
    depvar = e.macros.get("depvar", "")
    need = max(need, len(depvar) + 1)
    for col in e.b.colnames:
        eq, name = split_colname(col)
        if eq == "/":
            vc = parse_varcomp(name)
            need = max(need, len(vc.label), len(vc.level) + 1)
        else:
            term = parse_term(name)
            if term.base and not (style.baselevels or style.allbaselevels):
                continue
            need = max(need, len(term.display) + 1)
            if term.is_factor:
                need = max(need, len(term.header) + 1)
                text = _level_text(term, e.value_labels, style.nofvlabel)
                need = max(need, len(text) + 2)
    return min(need, cap)


def constrained_columns(e: EResults) -> set[int]:
    """Columns tied down by e(Cns) whose variance is zero."""
    cns = e.matrices.get("Cns")
    if cns is None or "V" not in e.matrices:
        return set()
    k = len(e.b.colnames)
    v = np.diag(np.asarray(e.V.data, dtype=float).reshape(k, k))
    data = np.atleast_2d(np.asarray(cns.data, dtype=float))
    hit = np.any(data[:, :k] != 0, axis=0)
    return {j for j in range(k) if hit[j] and v[j] == 0 and not _is_marked(e, j)}


def _is_marked(e: EResults, j: int) -> bool:
    eq, name = split_colname(e.b.colnames[j])
    if eq == "/":
        return False
    t = parse_term(name)
    return t.base or t.omitted or t.empty or e.b.colnames[j] in e.empty_cells


def table_lines(e: EResults, style: TableStyle) -> list[str]:
    """The whole table, from the top rule to the bottom rule."""
    width = label_width(e, style)
    w = table_width(style)
    header = column_header(style)
    if "df_r" in e.scalars:  # survey results: t on the design df
        header = header.replace("      z    P>|z|", "      t    P>|t|")
    w = max(w, len(header))
    table = coef_table(e, style.level, style.eform and not style.coeflegend)
    eqs = [split_colname(c)[0] for c in e.b.colnames]
    fixed = [j for j, q in enumerate(eqs) if q != "/"]
    free = [j for j, q in enumerate(eqs) if q == "/"]
    constrained = constrained_columns(e)
    depvar = e.macros.get("depvar") or next((q for q in eqs if q != "/"), "")
    rule = "-" * width + "+" + "-" * w
    lines = ["-" * (width + 1 + w)]
    vcetype = e.macros.get("vcetype", "")
    if vcetype and not style.coeflegend:
        lines.append(_vcetype_line(vcetype, width))
    lines += [abbrev(depvar, width - 1).rjust(width - 1) + " |" + header, rule]
    sections = [fixed_rows(e, fixed, style, width, constrained)] if fixed else []
    sections += varcomp_blocks(e, free, width, constrained)
    for n, rows in enumerate(sections):
        if n:
            lines.append(rule)
        for row in rows:
            cell = _label_cell(row, width)
            lines.append(cell + _values(e, row, table, style) if row.j is not None else cell)
    lines.append("-" * (width + 1 + w))
    return lines


def constraint_lines(e: EResults) -> list[str]:
    """`` ( 1)  [c_use]_cons = 0`` for each row of e(Cns)."""
    cns = e.matrices.get("Cns")
    if cns is None:
        return []
    data = np.atleast_2d(np.asarray(cns.data, dtype=float))
    names = list(e.b.colnames)
    out = []
    for r, row in enumerate(data):
        text = ""
        for j, a in enumerate(row[: len(names)]):
            if a == 0 or math.isnan(a):
                continue
            eq, name = split_colname(names[j])
            name = _drop_omit_marker(name) if eq != "/" else name
            coef = f"[{eq}]{name}" if eq else name
            mag = abs(a)
            term = coef if mag == 1 else f"{_num(mag)}*{coef}"
            if not text:
                text = term if a > 0 else f"-{term}"
            else:
                text += f" + {term}" if a > 0 else f" - {term}"
        rhs = row[len(names)] if row.size > len(names) else 0.0
        out.append(f" ({r + 1:2d})  {text or '0'} = {_num(rhs)}")
    return out


def _drop_omit_marker(name: str) -> str:
    """``o._cons`` -> ``_cons``, ``1o.x`` -> ``1.x`` (constraints are listed without them)."""
    parts = []
    for part in name.split("#"):
        m = _PREFIX_RE.match(part)
        if m:
            level, flags, var = m.groups()
            flags = flags.replace("o", "")
            part = f"{level}{flags}.{var}" if level or flags else var
        parts.append(part)
    return "#".join(parts)


def _num(x: float) -> str:
    return fmt(x, "%10.0g").strip()
