"""The one table of ``melogit``'s options: a row per option.

A row gives the option as Stata's help writes it (``l:evel()``: the part before ``:`` is
the minimal abbreviation, ``()`` a required argument, ``[()]`` an optional one), where it
may be typed (``fe``: the fixed equation's options; ``re``: a random-effects equation's;
``global``: the fixed equation's or the last random-effects equation's), what it sets
(an attribute of :class:`~melogit_cli.syntax.spec.Options`, of the
:class:`~melogit_cli.syntax.spec.ModelSpec` for ``fe`` rows, of the
:class:`~melogit_cli.syntax.spec.REEquation` for ``re`` rows) and how its argument is read.

Parsing, abbreviation checks, the ``option ... not allowed`` refusals
(:mod:`melogit_cli.syntax.options`) and the README's option list (``readme_lines``;
``python -m melogit_cli.syntax.option_table`` rewrites it) all come from ``ROWS``.
Adding an option is one row here plus its effect where the fit or the display reads
the attribute.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from melogit_cli.errors import StataError
from melogit_cli.syntax import optargs as oa
from melogit_cli.syntax.fvops import parse_numlist

Where = Literal["fe", "re", "global"]
Apply = Callable[[Any, str | None], None]


@dataclass(frozen=True)
class Row:
    """One option: how it is typed, where, what it sets, and the help text."""

    spec: str  # "l:evel()", "or", "startg:rid[()]"
    where: Where
    sets: str  # the attribute it sets
    apply: Apply
    doc: str

    @property
    def definition(self) -> oa.OptDef:
        """Name, minimal abbreviation and argument kind."""
        return oa.table(self.spec)[0]

    @property
    def name(self) -> str:
        return self.definition.name


def flag(attr: str, value: object = True) -> Apply:
    """An option without argument that sets ``attr`` to ``value``."""

    def apply(target: Any, _arg: str | None) -> None:
        setattr(target, attr, value)

    return apply


def typed(attr: str, parse: Callable[[str], object]) -> Apply:
    """An option whose argument ``parse`` turns into the value of ``attr``."""

    def apply(target: Any, arg: str | None) -> None:
        setattr(target, attr, parse(arg or ""))

    return apply


def _nonneg(name: str) -> Callable[[str], float]:
    def parse(arg: str) -> float:
        value = oa.number(arg, name)
        if value < 0:
            raise oa.invalid(name)
        return value

    return parse


def _fvwrap(arg: str) -> int:
    a = arg.strip()
    if not oa.INT_RE.fullmatch(a):
        raise oa.invalid("fvwrap")
    if int(a) < 0:
        raise StataError(f"invalid option fvwrap({a}); nonnegative integer required", 198)
    return int(a)


def _fvwrapon(arg: str) -> str:
    return oa.keyword(arg, oa.WRAPON, StataError("invalid fvwrapon() option", 198)).name


def _startgrid(target: Any, arg: str | None) -> None:
    """``startgrid`` given more than once keeps every grid, joined by ``"; "``."""
    grid = oa.parse_startgrid(arg or "")
    if target.startgrid:
        target.startgrid = f"{target.startgrid}; {grid}" if grid else target.startgrid
    else:
        target.startgrid = grid


def _varname(name: str) -> Callable[[str], str]:
    return lambda arg: oa.varname_arg(arg, name)


def _fmt(name: str) -> Callable[[str], str]:
    return lambda arg: oa.numeric_format(arg, name)


def _row(spec: str, where: Where, sets: str, apply: Apply, doc: str) -> Row:
    return Row(spec, where, sets, apply, doc)


ROWS: tuple[Row, ...] = (
    # fe_options
    _row("noc:onstant", "fe", "noconstant", flag("noconstant"), "suppress the constant term"),
    _row("off:set()", "fe", "offset", typed("offset", _varname("offset")),
         "include varname in the model with coefficient constrained to 1"),
    _row("asis", "fe", "asis", flag("asis"), "retain perfect predictor variables"),
    # re_options
    _row("cov:ariance()", "re", "covariance", typed("covariance", oa.parse_covariance),
         "variance-covariance structure of the random effects"),
    _row("noc:onstant", "re", "noconstant", flag("noconstant"),
         "suppress the constant term from the random-effects equation"),
    _row("fw:eight()", "re", "fweight", typed("fweight", _varname("fweight")),
         "frequency weights at higher levels"),
    _row("iw:eight()", "re", "iweight", typed("iweight", _varname("iweight")),
         "importance weights at higher levels"),
    _row("pw:eight()", "re", "pweight", typed("pweight", _varname("pweight")),
         "sampling weights at higher levels"),
    # Model
    _row("bin:omial()", "global", "binomial", typed("binomial", oa.parse_binomial),
         "number of binomial trials (varname or #)"),
    _row("const:raints()", "global", "constraints", typed("constraints", parse_numlist),
         "apply specified linear constraints"),
    # SE/Robust
    _row("vce()", "global", "vce", lambda o, a: _set_vce(o, a or ""),
         "vcetype: oim, opg, robust, cluster clustvar"),
    # Reporting
    _row("l:evel()", "global", "level", typed("level", oa.parse_level),
         "set confidence level; default is level(95)"),
    _row("or", "global", "or_", flag("or_"), "report fixed-effects coefficients as odds ratios"),
    _row("nocnsr:eport", "global", "nocnsreport", flag("nocnsreport"),
         "do not display constraints"),
    _row("notab:le", "global", "notable", flag("notable"), "suppress coefficient table"),
    _row("nohead:er", "global", "noheader", flag("noheader"), "suppress output header"),
    _row("nogr:oup", "global", "nogroup", flag("nogroup"), "suppress table summarizing groups"),
    _row("noci", "global", "noci", flag("noci"), "do not display confidence intervals"),
    _row("nopv:alues", "global", "nopvalues", flag("nopvalues"),
         "do not display p-values and test statistics"),
    _row("noomit:ted", "global", "noomitted", flag("noomitted"),
         "do not display omitted collinear variables"),
    _row("vsquish", "global", "vsquish", flag("vsquish"),
         "suppress blank space separating factor variables"),
    _row("noempty:cells", "global", "noemptycells", flag("noemptycells"),
         "do not display empty interaction cells"),
    _row("base:levels", "global", "baselevels", flag("baselevels"), "report base levels"),
    _row("allbase:levels", "global", "allbaselevels", flag("allbaselevels"),
         "display all base levels"),
    _row("nofvlab:el", "global", "nofvlabel", flag("nofvlabel"),
         "display factor-variable level values rather than value labels"),
    _row("fvwrap()", "global", "fvwrap", typed("fvwrap", _fvwrap),
         "allow # lines when wrapping long value labels"),
    _row("fvwrapon()", "global", "fvwrapon", typed("fvwrapon", _fvwrapon),
         "wrap value labels on word boundaries or on the width"),
    _row("cformat()", "global", "cformat", typed("cformat", _fmt("cformat")),
         "format of coefficients, standard errors and confidence limits"),
    _row("pformat()", "global", "pformat", typed("pformat", _fmt("pformat")),
         "format of p-values"),
    _row("sformat()", "global", "sformat", typed("sformat", _fmt("sformat")),
         "format of test statistics"),
    _row("nolstretch", "global", "nolstretch", flag("nolstretch"),
         "do not widen the table for long variable names"),
    # Integration
    _row("intm:ethod()", "global", "intmethod", typed("intmethod", oa.parse_intmethod),
         "integration method"),
    _row("intp:oints()", "global", "intpoints",
         typed("intpoints", lambda a: oa.integer(a, "intpoints", 1, 128)),
         "integration points for each random effect (1 to 128)"),
    # Maximization
    _row("dif:ficult", "global", "difficult", flag("difficult"),
         "different stepping algorithm in nonconcave regions"),
    _row("tech:nique()", "global", "technique", typed("technique", oa.parse_technique),
         "maximization technique: nr, bhhh, dfp, bfgs, with switching"),
    _row("iter:ate()", "global", "iterate",
         typed("iterate", lambda a: oa.integer(a, "iterate", 0)),
         "maximum number of iterations"),
    _row("lo:g", "global", "log", flag("log", True), "display the iteration log"),
    _row("nolo:g", "global", "log", flag("log", False), "suppress the iteration log"),
    _row("tr:ace", "global", "trace", flag("trace"),
         "display the parameter vector in the iteration log"),
    _row("grad:ient", "global", "gradient", flag("gradient"),
         "display the gradient vector in the iteration log"),
    _row("showstep", "global", "showstep", flag("showstep"),
         "report the steps within an iteration"),
    _row("hess:ian", "global", "hessian", flag("hessian"),
         "display the Hessian matrix in the iteration log"),
    _row("showtol:erance", "global", "showtolerance", flag("showtolerance"),
         "report the value compared to the convergence criterion"),
    _row("tol:erance()", "global", "tolerance", typed("tolerance", _nonneg("tolerance")),
         "tolerance for the coefficient vector"),
    _row("ltol:erance()", "global", "ltolerance", typed("ltolerance", _nonneg("ltolerance")),
         "tolerance for the log likelihood"),
    _row("nrtol:erance()", "global", "nrtolerance",
         typed("nrtolerance", _nonneg("nrtolerance")), "tolerance for the scaled gradient"),
    _row("nonrtol:erance", "global", "nonrtolerance", flag("nonrtolerance"),
         "ignore the nrtolerance() criterion"),
    _row("from()", "global", "from_", typed("from_", oa.parse_from),
         "initial values: matname [, skip copy] or name=# ..."),
    _row("startv:alues()", "global", "startvalues", typed("startvalues", oa.parse_startvalues),
         "starting-value method: zero, constantonly, fixedonly, iv"),
    _row("startg:rid[()]", "global", "startgrid", _startgrid,
         "grid search over the variance components' starting values"),
    _row("noest:imate", "global", "noestimate", flag("noestimate"),
         "do not fit the model; show the starting values"),
    _row("dnum:erical", "global", "dnumerical", flag("dnumerical"),
         "numerical derivatives"),
    _row("col:linear", "global", "collinear", flag("collinear"),
         "keep collinear variables"),
    _row("coefl:egend", "global", "coeflegend", flag("coeflegend"),
         "display legend instead of statistics"),
)


def _set_vce(o: Any, arg: str) -> None:
    o.vce, o.vce_clustvar = oa.parse_vce(arg)


def rows(where: Where) -> tuple[Row, ...]:
    """The rows typed in one place."""
    return tuple(r for r in ROWS if r.where == where)


def definitions(where: Where) -> tuple[oa.OptDef, ...]:
    """The abbreviation table of one place."""
    return tuple(r.definition for r in rows(where))


_SECTIONS = {"fe": "fe_options", "re": "re_options", "global": "options"}


def _shown(spec: str) -> str:
    """``l:evel()`` -> ``**l**evel(...)``: the minimal abbreviation in bold, as Stata's
    help underlines it."""
    d = oa.table(spec)[0]
    short, rest = d.name[: d.minlen], d.name[d.minlen :]
    suffix = {"required": "(...)", "optional": "[(...)]", "none": ""}[d.arg]
    return f"**{short}**{rest}{suffix}"


def readme_lines() -> list[str]:
    """The README's option list: one line per row, the minimal abbreviation in bold."""
    lines: list[str] = []
    for where in ("fe", "re", "global"):
        lines.append(f"- {_SECTIONS[where]}:")
        for r in rows(where):  # type: ignore[arg-type]
            lines.append(f"  - {_shown(r.spec)}: {r.doc}")
    return lines


BEGIN = "<!-- option list: generated by python -m melogit_cli.syntax.option_table -->"
END = "<!-- end of option list -->"


def readme_block(text: str) -> str:
    """The generated block of README text ``text`` (between the markers)."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n")


def write_readme(path: Path) -> None:
    """Rewrite the option list in the README at ``path`` from ``ROWS``."""
    text = path.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    path.write_text(text[:start] + "\n" + "\n".join(readme_lines()) + "\n" + text[end:])


if __name__ == "__main__":  # pragma: no cover
    write_readme(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
