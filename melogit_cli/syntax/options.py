"""``melogit`` options: tables with Stata's minimal abbreviations, typed conversion.

An option is written ``name`` or ``name(argument)``; a typed word matches an option
when it is a prefix of the full name at least as long as the minimal abbreviation
(the underlined part in Stata's help; below, the part before ``:``).

fe_options (fixed-effects equation): ``noc:onstant``, ``off:set(varname)``, ``asis``.

re_options: ``cov:ariance(vartype)``, ``noc:onstant``, ``fw:eight(varname)``,
``iw:eight(varname)``, ``pw:eight(varname)``.  vartype: ``ind:ependent``,
``ex:changeable``, ``id:entity``, ``un:structured``, ``fix:ed(matname)``,
``pat:tern(matname)``.

Global options (allowed in the fixed equation's options and in the last
random-effects equation's options):

* Model: ``bin:omial(varname|#)``, ``const:raints(numlist)``
* SE: ``vce(oim | opg | r:obust | cl:uster clustvar)``
* Reporting: ``l:evel(#)``, ``or``, ``nocnsr:eport``, ``notab:le``, ``nohead:er``,
  ``nogr:oup``, ``noci``, ``nopv:alues``, ``noomit:ted``, ``vsquish``,
  ``noempty:cells``, ``base:levels``, ``allbase:levels``, ``nofvlab:el``,
  ``fvwrap(#)``, ``fvwrapon(wo:rd|wi:dth)``, ``cformat(%fmt)``, ``pformat(%fmt)``,
  ``sformat(%fmt)``, ``nolstretch``
* Integration: ``intm:ethod(mv:aghermite | mc:aghermite | pc:aghermite |
  g:hermite | l:aplace | pcl:aplace)``, ``intp:oints(#)`` (1 to 128)
* Maximization: ``dif:ficult``, ``tech:nique(nr|bhhh|dfp|bfgs [#] ...)``,
  ``iter:ate(#)``, ``lo:g``, ``nolo:g``, ``tr:ace``, ``grad:ient``, ``showstep``,
  ``hess:ian``, ``showtol:erance``, ``tol:erance(#)``, ``ltol:erance(#)``,
  ``nrtol:erance(#)``, ``nonrtol:erance``, ``from(init_specs)``,
  ``startv:alues(zero | constant:only | fixed:only [, iter:ate(#)] | iv [, iter:ate(#)])``,
  ``startg:rid[(gridspec)]``, ``noest:imate``, ``dnum:erical``, ``col:linear``,
  ``coefl:egend``

Argument parsing lives in :mod:`melogit_cli.syntax.optargs`.  The abbreviations
follow Stata's help files for melogit, maximize and the estimation
display options, except ``noc:onstant`` (Stata: ``nocon:stant``) and
``dnum:erical`` (Stata: no abbreviation), which accept a few more prefixes.
``startg:rid`` given more than once keeps every grid, joined by ``"; "``.
"""

from __future__ import annotations

from collections.abc import Callable

from melogit_cli.errors import StataError
from melogit_cli.syntax import optargs as oa
from melogit_cli.syntax.fvops import parse_numlist
from melogit_cli.syntax.optargs import OptDef, lookup, table
from melogit_cli.syntax.spec import ModelSpec, Options, REEquation

RawOption = tuple[str, str | None]  # (word as typed, argument text or None)

FE_OPTIONS = table("noc:onstant off:set() asis")
RE_OPTIONS = table("cov:ariance() noc:onstant fw:eight() iw:eight() pw:eight()")
GLOBAL_OPTIONS = table(
    "bin:omial() const:raints() vce() "
    "l:evel() or nocnsr:eport notab:le nohead:er nogr:oup "
    "noci nopv:alues noomit:ted vsquish noempty:cells base:levels allbase:levels "
    "nofvlab:el fvwrap() fvwrapon() cformat() pformat() sformat() nolstretch "
    "intm:ethod() intp:oints() "
    "dif:ficult tech:nique() iter:ate() lo:g nolo:g tr:ace grad:ient showstep hess:ian "
    "showtol:erance tol:erance() ltol:erance() nrtol:erance() nonrtol:erance from() "
    "startv:alues() startg:rid[()] noest:imate dnum:erical col:linear coefl:egend"
)
_AWEIGHT = table("aw:eight()")
_OFFSET = table("off:set()")

def split_option(token: str) -> RawOption:
    """``"level(90)"`` -> ``("level", "90")``; ``"or"`` -> ``("or", None)``."""
    name, paren, rest = token.partition("(")
    return name, (rest[:-1] if paren else None)


def _not_allowed(word: str, arg: str | None) -> StataError:
    return StataError(f"option {word}{'()' if arg is not None else ''} not allowed", 198)



# --------------------------------------------------------------- application

_FLAGS: dict[str, tuple[str, bool]] = {
    "or": ("or_", True),
    "log": ("log", True),
    "nolog": ("log", False),
    **{
        n: (n, True)
        for n in (
            "nocnsreport notable noheader nogroup noci nopvalues noomitted vsquish "
            "noemptycells baselevels allbaselevels nofvlabel nolstretch difficult trace "
            "gradient showstep hessian showtolerance nonrtolerance noestimate dnumerical "
            "collinear coeflegend"
        ).split()
    },
}


def _set_vce(o: Options, arg: str) -> None:
    o.vce, o.vce_clustvar = oa.parse_vce(arg)


def _set_fvwrap(o: Options, arg: str) -> None:
    a = arg.strip()
    if not oa.INT_RE.fullmatch(a):
        raise oa.invalid("fvwrap")
    if int(a) < 0:
        raise StataError(f"invalid option fvwrap({a}); nonnegative integer required", 198)
    o.fvwrap = int(a)


def _set_fvwrapon(o: Options, arg: str) -> None:
    o.fvwrapon = oa.keyword(arg, oa.WRAPON, StataError("invalid fvwrapon() option", 198)).name


def _set_startgrid(o: Options, arg: str | None) -> None:
    grid = oa.parse_startgrid(arg or "")
    if o.startgrid:
        o.startgrid = f"{o.startgrid}; {grid}" if grid else o.startgrid
    else:
        o.startgrid = grid


def _nonneg(name: str) -> Callable[[str], float]:
    def parse(arg: str) -> float:
        value = oa.number(arg, name)
        if value < 0:
            raise oa.invalid(name)
        return value

    return parse


_SETTERS: dict[str, Callable[[Options, str], None]] = {
    "binomial": lambda o, a: setattr(o, "binomial", oa.parse_binomial(a)),
    "constraints": lambda o, a: setattr(o, "constraints", parse_numlist(a)),
    "vce": _set_vce,
    "level": lambda o, a: setattr(o, "level", oa.parse_level(a)),
    "fvwrap": _set_fvwrap,
    "fvwrapon": _set_fvwrapon,
    "cformat": lambda o, a: setattr(o, "cformat", oa.numeric_format(a, "cformat")),
    "pformat": lambda o, a: setattr(o, "pformat", oa.numeric_format(a, "pformat")),
    "sformat": lambda o, a: setattr(o, "sformat", oa.numeric_format(a, "sformat")),
    "intmethod": lambda o, a: setattr(o, "intmethod", oa.parse_intmethod(a)),
    "intpoints": lambda o, a: setattr(o, "intpoints", oa.integer(a, "intpoints", 1, 128)),
    "technique": lambda o, a: setattr(o, "technique", oa.parse_technique(a)),
    "iterate": lambda o, a: setattr(o, "iterate", oa.integer(a, "iterate", 0)),
    "tolerance": lambda o, a: setattr(o, "tolerance", _nonneg("tolerance")(a)),
    "ltolerance": lambda o, a: setattr(o, "ltolerance", _nonneg("ltolerance")(a)),
    "nrtolerance": lambda o, a: setattr(o, "nrtolerance", _nonneg("nrtolerance")(a)),
    "from": lambda o, a: setattr(o, "from_", oa.parse_from(a)),
    "startvalues": lambda o, a: setattr(o, "startvalues", oa.parse_startvalues(a)),
}


def _check_arity(d: OptDef, arg: str | None) -> None:
    if d.arg == "none" and arg is not None:
        raise StataError(f"option {d.name}() not allowed", 198)
    if d.arg == "required" and (arg is None or not arg.strip()):
        raise StataError(f"option {d.shown} incorrectly specified", 198)


def apply_global(d: OptDef, arg: str | None, o: Options) -> None:
    """Set the :class:`Options` field for one global option."""
    _check_arity(d, arg)
    if d.name in _FLAGS:
        attr, value = _FLAGS[d.name]
        setattr(o, attr, value)
    elif d.name == "startgrid":
        _set_startgrid(o, arg)
    else:
        _SETTERS[d.name](o, arg or "")


def _try_global(word: str, arg: str | None, options: Options | None) -> bool:
    d = lookup(word, GLOBAL_OPTIONS)
    if d is None:
        return False
    if options is None:
        raise StataError(f"option {d.shown} not allowed", 198)
    apply_global(d, arg, options)
    return True


def apply_fe_options(raw: list[RawOption], spec: ModelSpec) -> None:
    """Options after the fixed equation's comma: fe_options and global options."""
    for word, arg in raw:
        d = lookup(word, FE_OPTIONS)
        if d is not None:
            _check_arity(d, arg)
            if d.name == "noconstant":
                spec.noconstant = True
            elif d.name == "offset":
                spec.offset = oa.varname_arg(arg or "", "offset")
            else:
                spec.asis = True
            continue
        if _try_global(word, arg, spec.options):
            continue
        misplaced = lookup(word, RE_OPTIONS)
        if misplaced is not None and misplaced.name.endswith("weight"):
            raise StataError(
                f"option {misplaced.shown} not allowed with fixed-effects equation", 198
            )
        if misplaced is not None or lookup(word, _AWEIGHT) is not None:
            shown = misplaced.shown if misplaced is not None else "aweight()"
            raise StataError(f"option {shown} not allowed", 198)
        raise _not_allowed(word, arg)


def apply_re_options(raw: list[RawOption], eq: REEquation, options: Options | None) -> None:
    """Options of one random-effects equation; ``options`` is None unless it is the last."""
    for word, arg in raw:
        d = lookup(word, RE_OPTIONS)
        if d is not None:
            _check_arity(d, arg)
            if d.name == "covariance":
                eq.covariance = oa.parse_covariance(arg or "")
            elif d.name == "noconstant":
                eq.noconstant = True
            else:
                setattr(eq, d.name, oa.varname_arg(arg or "", d.name))
            continue
        if _try_global(word, arg, options):
            continue
        if lookup(word, _OFFSET) is not None:
            raise StataError(
                "option offset() allowed only in the fixed-effects equation", 198
            )
        if lookup(word, _AWEIGHT) is not None:
            raise StataError("option aweight() not allowed", 198)
        raise _not_allowed(word, arg)


def apply_replay_options(raw: list[RawOption], options: Options) -> None:
    """Options typed on replay (``melogit, or``): global options only."""
    for word, arg in raw:
        if not _try_global(word, arg, options):
            raise _not_allowed(word, arg)
