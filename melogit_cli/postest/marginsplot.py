"""``marginsplot``: Stata's default plot of margins results, drawn with matplotlib.

The x axis is the ``at()`` variable that varies (a continuous axis), else the first
factor dimension of the margins, else the margins themselves; the other dimensions make
one connected series each, with a legend.  Confidence intervals are capped spikes.
matplotlib is an optional dependency, imported only when a plot is drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from melogit_cli.errors import StataError
from melogit_cli.postest.margins import MarginsResult
from melogit_cli.render.formats import fmt

FORMATS = {".png": "png", ".svg": "svg"}
MISSING = "marginsplot requires matplotlib: pip install 'melogit-cli[plot]'"


@dataclass
class Series:
    """One connected set of points: its legend text and (x, margin, ll, ul) rows."""

    label: str
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)


@dataclass
class PlotData:
    """What the plot shows, independent of matplotlib."""

    series: list[Series]
    xtitle: str
    ytitle: str
    title: str
    ticks: list[tuple[float, str]]  # categorical x: positions and labels; empty if continuous
    connect: bool


def _varying_at(res: MarginsResult) -> str | None:
    if len(res.at_values) < 2:
        return None
    for name in res.at_values[0]:
        if len({a.get(name) for a in res.at_values}) > 1:
            return name
    return None


def plot_data(res: MarginsResult, title: str | None = None) -> PlotData:
    """Series, axes and titles of Stata's default marginsplot for ``res``."""
    table = res.table()
    level = fmt(res.level, "%9.0g").strip()
    what = res.expression.split(", predict(")[0]
    if res.effect:
        names = sorted({r.wrt for r in res.rows}, key=[r.wrt for r in res.rows].index)
        effect = "marginal effects" if res.effect == "dydx" else "elasticities"
        head = res.title.replace("marginal effects", effect)
        of = f" of {names[0]}" if len(names) == 1 else ""
        default_title = f"{head}{of} with {level}% CIs"
        ytitle = f"Effects on {what}"
    else:
        default_title = f"{res.title} with {level}% CIs"
        ytitle = what
    at_var = _varying_at(res)
    series: dict[str, Series] = {}
    ticks: dict[float, str] = {}
    xtitle = ""
    for i, row in enumerate(res.rows):
        dims = list(zip(row.term, row.values, row.labels, strict=True))
        key_parts = [row.wrt] if res.effect and len({r.wrt for r in res.rows}) > 1 else []
        if at_var is not None:
            at_index = next(v for d, v, _ in dims if d == "_at")
            setting = res.at_values[at_index - 1]
            x = float(setting[at_var])
            xtitle = at_var
            key_parts += [f"{k}={fmt(v, '%9.0g').strip()}" for k, v in setting.items()
                          if k != at_var]
            key_parts += [f"{d}={lab}" if d != "_at" else "" for d, _, lab in dims
                          if d != "_at"]
        else:
            rest = [d for d in dims if d[0] != "_at"]
            at_dims = [d for d in dims if d[0] == "_at"]
            if rest:
                d, v, lab = rest[0]
                x, xtitle = float(v), d
                ticks[x] = lab
                key_parts += [f"{dd}={ll}" for dd, _, ll in at_dims + rest[1:]]
            elif at_dims:
                d, v, lab = at_dims[0]
                x, xtitle = float(v), "_at"
                ticks[x] = lab
            else:
                x = float(i)
                ticks[x] = row.wrt_label and f"{row.wrt}" or (row.wrt or "_cons")
                key_parts = []
        key = ", ".join(p for p in key_parts if p)
        s = series.setdefault(key, Series(key))
        s.x.append(x)
        # a margin not estimable has no point (NaN leaves a gap in the line)
        s.y.append(math.nan if i in res.not_estimable else float(table[0, i]))
        s.lo.append(float(table[4, i]))
        s.hi.append(float(table[5, i]))
    connect = at_var is not None or any(len(s.x) > 1 for s in series.values()) and not (
        res.effect and all(not r.term for r in res.rows)
    )
    return PlotData(
        series=list(series.values()), xtitle=xtitle, ytitle=ytitle,
        title=title if title is not None else default_title,
        ticks=sorted(ticks.items()), connect=connect,
    )


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise StataError(MISSING, 199) from None
    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure


def figure(res: MarginsResult, *, title: str | None = None, noci: bool = False):
    """A matplotlib Figure of Stata's default plot of ``res``."""
    Figure = _pyplot()
    data = plot_data(res, title)
    fig = Figure(figsize=(7.0, 5.0), dpi=100)
    ax = fig.add_subplot()
    for s in data.series:
        x, y = np.array(s.x), np.array(s.y)
        order = np.argsort(x, kind="stable")
        style = "-o" if data.connect else "o"
        (line,) = ax.plot(x[order], y[order], style, markersize=5, label=s.label or None)
        if not noci:
            err = np.vstack([y - np.array(s.lo), np.array(s.hi) - y])
            ax.errorbar(x, y, yerr=err, fmt="none", ecolor=line.get_color(), capsize=4,
                        elinewidth=1, alpha=0.8)
    if data.ticks:
        ax.set_xticks([t for t, _ in data.ticks], [lab for _, lab in data.ticks])
        lo, hi = data.ticks[0][0], data.ticks[-1][0]
        pad = max((hi - lo) * 0.1, 0.5)
        ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(data.xtitle)
    ax.set_ylabel(data.ytitle)
    ax.set_title(data.title)
    ax.grid(True, axis="y", color="0.85", linewidth=0.8)
    ax.set_axisbelow(True)
    if sum(1 for s in data.series if s.label) > 1:
        ax.legend(frameon=False, loc="best")
    fig.tight_layout()
    return fig


def output_format(path: str | Path) -> str:
    """png or svg from the file's extension; other types are refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        shown = suffix or "(none)"
        raise StataError(f"file type {shown} not supported by marginsplot; use .png or .svg",
                         198)
    return FORMATS[suffix]


def save(fig: object, path: str | Path, replace: bool = False) -> None:
    """Write ``fig`` to ``path`` (png or svg by extension); Stata's r(602) when it exists."""
    kind = output_format(path)
    if Path(path).exists() and not replace:
        raise StataError(f"file {path} already exists", 602)
    try:
        fig.savefig(path, format=kind)  # type: ignore[attr-defined]
    except OSError:
        raise StataError(f"file {path} could not be opened", 603) from None
