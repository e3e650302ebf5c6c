"""The melogit command grammar: text -> ModelSpec, and Stata-style errors."""

from __future__ import annotations

import json

import pytest

from melogit_cli.errors import StataError
from melogit_cli.syntax.expr import Binary, Num, Var
from melogit_cli.syntax.options import FE_OPTIONS, GLOBAL_OPTIONS, RE_OPTIONS, lookup
from melogit_cli.syntax.parser import parse_melogit
from melogit_cli.syntax.spec import Covariance, Factor, InRange, Term


def F(pattern: str, **kw: object) -> Factor:  # noqa: N802 - reads like a constructor
    return Factor(pattern, **kw)  # type: ignore[arg-type]


def T(*factors: Factor) -> Term:  # noqa: N802
    return Term(tuple(factors))


def err(text: str) -> StataError:
    with pytest.raises(StataError) as info:
        parse_melogit(text)
    return info.value


# ------------------------------------------------------------------ the manual's commands


def test_manual_example_1() -> None:
    s = parse_melogit("melogit c_use i.urban age i.children, nofvlabel || district:")
    assert s.cmdline == "melogit c_use i.urban age i.children, nofvlabel || district:"
    assert s.depvar == "c_use"
    assert s.fixed == [T(F("urban", kind="i")), T(F("age")), T(F("children", kind="i"))]
    assert s.options.nofvlabel is True
    assert len(s.re_equations) == 1
    eq = s.re_equations[0]
    assert (eq.level, eq.terms, eq.r_var, eq.noconstant, eq.covariance) == (
        "district", [], None, False, None)
    assert not s.replay


def test_random_slope_unstructured_and_or_in_last_equation() -> None:
    s = parse_melogit("melogit c_use i.urban age || district: i.urban, cov(unstruct) or")
    eq = s.re_equations[0]
    assert eq.terms == [T(F("urban", kind="i"))]
    assert eq.covariance == Covariance("unstructured")
    assert s.options.or_ is True


def test_three_level_with_global_options_after_last_equation() -> None:
    s = parse_melogit("melogit dtlm difficulty i.group || family: || subject: , or")
    assert [e.level for e in s.re_equations] == ["family", "subject"]
    assert s.options.or_


def test_empty_fe_options_before_equations() -> None:
    s = parse_melogit(
        "melogit c_use i.urban age i.children, || district: i.children, cov(exchangeable)"
        " || district:"
    )
    assert s.re_equations[0].covariance == Covariance("exchangeable")
    assert s.re_equations[0].terms == [T(F("children", kind="i"))]
    assert s.re_equations[1].terms == []


def test_crossed_effects_with_r_notation() -> None:
    s = parse_melogit("melogit attain_gt_6 sex || _all:R.sid || pid:, or")
    first, second = s.re_equations
    assert (first.level, first.r_var, first.terms) == ("_all", "sid", [])
    assert (second.level, second.r_var) == ("pid", None)
    s = parse_melogit("melogit attain_gt_6 sex || _all:R.pid || _all:R.sid, or")
    assert [e.r_var for e in s.re_equations] == ["pid", "sid"]
    assert s.options.or_


def test_leading_word_is_optional_and_cmdline_keeps_it() -> None:
    a = parse_melogit("y x || id:")
    b = parse_melogit("  melogit y x || id:  ")
    assert a.cmdline == b.cmdline == "melogit y x || id:"
    assert a.depvar == b.depvar == "y"


def test_noconstant_fe_vs_re() -> None:
    s = parse_melogit("melogit y ibn.urban age, noconstant || district: age, nocons")
    assert s.noconstant is True
    assert s.fixed[0] == T(F("urban", kind="i", base="none"))
    assert s.re_equations[0].noconstant is True
    s = parse_melogit("melogit y x, noc offset(lnexp) asis || id: x, noc")
    assert (s.noconstant, s.offset, s.asis) == (True, "lnexp", True)


# ------------------------------------------------------------------ replay


@pytest.mark.parametrize("text", ["melogit", "melogit, or", "melogit ,", "melogit, l(90) nohead"])
def test_replay(text: str) -> None:
    s = parse_melogit(text)
    assert s.replay is True
    assert s.depvar == ""
    assert s.fixed == [] and s.re_equations == []


def test_replay_options_are_typed() -> None:
    s = parse_melogit("melogit, or level(90) noheader")
    assert (s.options.or_, s.options.level, s.options.noheader) == (True, 90.0, True)
    assert err("melogit, noconstant").message == "option noconstant not allowed"


# ------------------------------------------------------------------ varlists


def test_factor_variable_operators() -> None:
    s = parse_melogit(
        "melogit y ibn.a ib2.b ib(first).c ib(last).d ib(freq).e ib(#2).f i(1 3).g 2.h "
        "io(2).k c.m i(1/3).n"
    )
    assert s.fixed == [
        T(F("a", kind="i", base="none")),
        T(F("b", kind="i", base=2)),
        T(F("c", kind="i", base="first")),
        T(F("d", kind="i", base="last")),
        T(F("e", kind="i", base="freq")),
        T(F("f", kind="i", base="#2")),
        T(F("g", kind="i", levels=(1, 3))),
        T(F("h", kind="i", levels=(2,))),
        T(F("k", kind="i", omit=(2,))),
        T(F("m", kind="c")),
        T(F("n", kind="i", levels=(1, 2, 3))),
    ]


def test_wildcards_ranges_and_abbreviations_kept_as_text() -> None:
    s = parse_melogit("melogit c_use child* x? child1-child3 ag || district:")
    assert [t.factors[0].pattern for t in s.fixed] == ["child*", "x?", "child1-child3", "ag"]
    assert all(t.factors[0].kind is None for t in s.fixed)


def test_interactions() -> None:
    s = parse_melogit("melogit y a#b i.a#c.x")
    assert s.fixed == [T(F("a"), F("b")), T(F("a", kind="i"), F("x", kind="c"))]


def test_double_hash_expands_to_all_lower_order_terms() -> None:
    s = parse_melogit("melogit y a##b")
    assert s.fixed == [T(F("a")), T(F("b")), T(F("a"), F("b"))]
    s = parse_melogit("melogit y i.a##c.x##b")
    a, x, b = F("a", kind="i"), F("x", kind="c"), F("b")
    assert s.fixed == [T(a), T(x), T(a, x), T(b), T(a, b), T(x, b), T(a, x, b)]


def test_group_operator_distributes() -> None:
    s = parse_melogit("melogit y i.(a b) c")
    assert s.fixed == [T(F("a", kind="i")), T(F("b", kind="i")), T(F("c"))]
    s = parse_melogit("melogit y i.(a b)#c.x")
    assert s.fixed == [T(F("a", kind="i"), F("x", kind="c")), T(F("b", kind="i"), F("x", kind="c"))]


@pytest.mark.parametrize("text", ["melogit y L.x", "melogit y L2.x", "melogit y D.x || id:",
                                  "melogit y x || id: F.z", "melogit L.y x", "melogit y LD.x"])
def test_time_series_operators_refused(text: str) -> None:
    e = err(text)
    assert (e.message, e.rc) == ("time-series operators not allowed", 101)


@pytest.mark.parametrize("text", ["melogit i.y x", "melogit c.y x", "melogit 1.y x"])
def test_factor_depvar_refused(text: str) -> None:
    assert err(text).message == "depvar may not be a factor variable"


def test_bad_operator() -> None:
    e = err("melogit y q.x")
    assert e.rc == 198 and "invalid factor-variable operator" in e.message


# ------------------------------------------------------------------ if / in / weights


def test_if_in_weight_any_order() -> None:
    s = parse_melogit("melogit y x if age > 20 & urban in 1/100 [fw=wt] || id:")
    assert s.if_text == "age > 20 & urban"
    assert isinstance(s.if_expr, Binary) and s.if_expr.op == "&"
    assert s.in_range == InRange(1, 100)
    assert s.weight is not None and (s.weight.kind, s.weight.text) == ("fweight", "wt")
    assert s.weight.expr == Var("wt")
    s2 = parse_melogit("melogit y x [pweight = wt*2] in f/l if age>20")
    assert s2.weight is not None and s2.weight.kind == "pweight" and s2.weight.text == "wt*2"
    assert s2.weight.expr == Binary("*", Var("wt"), Num(2.0))
    assert s2.in_range == InRange("f", "l")
    assert s2.if_text == "age>20"


def test_parentheses_nest_to_any_depth() -> None:
    deep = "(" * 9 + "age > 20" + ")" * 9
    s = parse_melogit(f'melogit y x if {deep} & s != ")(" || id:, or')
    assert s.if_text == f'{deep} & s != ")("'
    assert parse_melogit("melogit y x || id:, intpoints(12)").options.intpoints == 12
    from melogit_cli.interp.parse import parse_body, parse_line

    body = parse_body(f"x if {deep}, opt({deep})")
    assert body.if_text == deep and body.options[0].arg == deep
    assert parse_line(f"quietly display {deep}").rest == f"display {deep}"[8:]


def test_paren_depth() -> None:
    from melogit_cli.syntax.textscan import check_balance, paren_depth

    assert check_balance('a((b)[c((d))]) "((((" `"((("\'') == 3  # brackets do not count
    assert check_balance("x") == 0
    assert paren_depth("f(((") == 3  # unbalanced: the number of "("


def test_text_without_parentheses_shares_the_one_level_parser() -> None:
    from melogit_cli.syntax.grammar_files import lalr_parser

    assert lalr_parser("melogit.lark", 0) is lalr_parser("melogit.lark", 1)
    assert lalr_parser("melogit.lark", 2) is not lalr_parser("melogit.lark", 1)


def test_analysed_grammar_kept_in_the_user_cache(tmp_path, monkeypatch) -> None:
    """The analysed grammar is written to the user's cache directory and read back from
    it; a cache directory that cannot be made still gives a parser."""
    from melogit_cli.syntax import grammar_files

    build = grammar_files._lalr_parser.__wrapped__  # past the per-process cache
    text = "melogit y (x) || id:"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = build("melogit.lark", 3)
    kept = list((tmp_path / "melogit_cli").glob("grammar-melogit-3-lark-*.cache"))
    assert len(kept) == 1 and kept[0].stat().st_size > 0
    written = kept[0].stat().st_mtime_ns
    again = build("melogit.lark", 3)
    assert kept[0].stat().st_mtime_ns == written  # read, not rebuilt and rewritten
    assert again.parse(text) == first.parse(text)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert build("melogit.lark", 3).parse(text) == first.parse(text)


def test_varlist_terminals_kept_in_the_user_cache(tmp_path, monkeypatch) -> None:
    """The token-by-token grammar's terminals that split a varlist are the variant parser's
    own patterns; they are written to the user's cache directory and read back from it, so
    a command that parses needs no parser of the variant; a damaged file is rebuilt."""
    from melogit_cli.syntax import grammar_files
    from melogit_cli.syntax.varlist import TERMINALS

    patterns = grammar_files.terminal_patterns.__wrapped__  # past the per-process cache
    variant = grammar_files.lalr_parser("melogit.lark", variant="tokenwise")
    expected = tuple(variant.get_terminal(n).pattern.to_regexp() for n in TERMINALS)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert patterns("melogit.lark", TERMINALS, "tokenwise") == expected
    kept = list((tmp_path / "melogit_cli").glob("grammar-melogit+tokenwise-1-*.terminals.json"))
    assert len(kept) == 1
    monkeypatch.setattr(grammar_files, "_lalr_parser", None)  # reading must not build it
    assert patterns("melogit.lark", TERMINALS, "tokenwise") == expected
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kept[0].write_text('{"FVOP": 1')
    assert patterns("melogit.lark", TERMINALS, "tokenwise") == expected
    assert json.loads(kept[0].read_text()) == dict(zip(TERMINALS, expected, strict=True))


def test_if_expression_with_commas_strings_subscripts() -> None:
    s = parse_melogit('melogit y x if inlist(z, 1, 2) & s != "a,b" & x[_n-1] < . || id:, or')
    assert s.if_text == 'inlist(z, 1, 2) & s != "a,b" & x[_n-1] < .'
    assert s.options.or_
    s = parse_melogit("melogit y x if a | b || id:")
    assert s.if_text == "a | b"
    assert [e.level for e in s.re_equations] == ["id"]


@pytest.mark.parametrize(
    "clause, expected",
    [("in 5", InRange(5, 5)), ("in 1/100", InRange(1, 100)), ("in f/l", InRange("f", "l")),
     ("in -10/l", InRange(-10, "l")), ("in 5/-1", InRange(5, -1)), ("in F/L", InRange("f", "l"))],
)
def test_in_ranges(clause: str, expected: InRange) -> None:
    assert parse_melogit(f"melogit y x {clause}").in_range == expected


@pytest.mark.parametrize(
    "w, kind",
    [("fweight", "fweight"), ("fw", "fweight"), ("pw", "pweight"), ("pweight", "pweight"),
     ("iw", "iweight"), ("iweight", "iweight"), ("aw", "aweight"), ("aweight", "aweight")],
)
def test_weight_kinds(w: str, kind: str) -> None:
    s = parse_melogit(f"melogit y x [{w}=v] || id:")
    assert s.weight is not None and s.weight.kind == kind


def test_higher_level_weights() -> None:
    s = parse_melogit("melogit y x [pw=wvar1] || psu:, pw(wvar3) || ssu:, pweight(wvar2)")
    assert s.weight is not None and s.weight.kind == "pweight"
    assert [e.pweight for e in s.re_equations] == ["wvar3", "wvar2"]
    s = parse_melogit("melogit y x [iw=w1] || school:, iweight(w2) || class:, iw(w3)")
    assert s.re_equations[0].iweight == "w2" and s.re_equations[1].iweight == "w3"
    s = parse_melogit("melogit y x || school:, fw(w2)")
    assert s.re_equations[0].fweight == "w2"


# ------------------------------------------------------------------ options


def test_global_options_typed() -> None:
    s = parse_melogit(
        "melogit y x, binomial(n) constraints(1/3 5) vce(cl district) level(90) or "
        "nocnsr notab nohead nogr noci nopv noomit vsquish noempty base allbase nofvlab "
        "fvwrap(2) fvwrapon(wi) cformat(%9.3f) pformat(%5.2f) sformat(%8.2fc) nolstretch"
    )
    o = s.options
    assert o.binomial == "n" and o.constraints == [1, 2, 3, 5]
    assert (o.vce, o.vce_clustvar, o.level, o.or_) == ("cluster", "district", 90.0, True)
    assert all([o.nocnsreport, o.notable, o.noheader, o.nogroup, o.noci, o.nopvalues,
                o.noomitted, o.vsquish, o.noemptycells, o.baselevels, o.allbaselevels,
                o.nofvlabel, o.nolstretch])
    assert (o.fvwrap, o.fvwrapon) == (2, "width")
    assert (o.cformat, o.pformat, o.sformat) == ("%9.3f", "%5.2f", "%8.2fc")


def test_maximize_options_typed() -> None:
    s = parse_melogit(
        "melogit y x || id:, dif tech(nr 5 bfgs 10) iter(50) nolog tr grad showstep hess "
        "showtol tol(1e-8) ltol(1e-9) nrtol(1e-6) nonrtol startv(iv, iter(5)) "
        "startg(.1 1 10 _cons[id]) noest dnum col coefl intm(mc) intp(12)"
    )
    o = s.options
    assert (o.difficult, o.technique, o.iterate, o.log) == (True, "nr 5 bfgs 10", 50, False)
    assert all([o.trace, o.gradient, o.showstep, o.hessian, o.showtolerance, o.nonrtolerance,
                o.noestimate, o.dnumerical, o.collinear, o.coeflegend])
    assert (o.tolerance, o.ltolerance, o.nrtolerance) == (1e-8, 1e-9, 1e-6)
    assert o.startvalues == "iv, iterate(5)"
    assert o.startgrid == ".1 1 10 _cons[id]"
    assert (o.intmethod, o.intpoints) == ("mcaghermite", 12)


def test_binomial_constant_and_vce_variants() -> None:
    assert parse_melogit("melogit y x, bin(10)").options.binomial == 10.0
    assert parse_melogit("melogit y x, vce(r)").options.vce == "robust"
    assert parse_melogit("melogit y x, vce(robust)").options.vce == "robust"
    assert parse_melogit("melogit y x, vce(opg)").options.vce == "opg"
    assert parse_melogit("melogit y x, vce(oim) log").options.log is True


@pytest.mark.parametrize(
    "word, method",
    [("mv", "mvaghermite"), ("mvag", "mvaghermite"), ("mc", "mcaghermite"),
     ("pc", "pcaghermite"), ("pca", "pcaghermite"), ("pcl", "pclaplace"),
     ("pclaplace", "pclaplace"), ("g", "ghermite"), ("gh", "ghermite"), ("l", "laplace"),
     ("lap", "laplace"), ("laplace", "laplace")],
)
def test_intmethod_abbreviations(word: str, method: str) -> None:
    assert parse_melogit(f"melogit y x || id:, intmethod({word})").options.intmethod == method


@pytest.mark.parametrize(
    "cov, expected",
    [("ind", Covariance("independent")), ("independent", Covariance("independent")),
     ("ex", Covariance("exchangeable")), ("exc", Covariance("exchangeable")),
     ("id", Covariance("identity")), ("un", Covariance("unstructured")),
     ("fix(M)", Covariance("fixed", "M")), ("fixed(M)", Covariance("fixed", "M")),
     ("pat(P)", Covariance("pattern", "P")), ("pattern(P)", Covariance("pattern", "P"))],
)
def test_covariance_abbreviations(cov: str, expected: Covariance) -> None:
    s = parse_melogit(f"melogit y x || id: x, cov({cov})")
    assert s.re_equations[0].covariance == expected
    s = parse_melogit(f"melogit y x || id: x, covariance({cov})")
    assert s.re_equations[0].covariance == expected


def test_from_specifications() -> None:
    o = parse_melogit("melogit y x || id:, from(b0)").options
    assert o.from_ is not None and o.from_.matname == "b0" and not o.from_.skip
    o = parse_melogit("melogit y x || id:, from(b0, skip)").options
    assert o.from_ is not None and o.from_.skip and not o.from_.copy
    o = parse_melogit(
        "melogit c_use age || district:, from(c_use:age=0.1 /:var(_cons[district])=0.5, copy)"
    ).options
    assert o.from_ is not None
    assert o.from_.values == [("c_use:age", 0.1), ("/:var(_cons[district])", 0.5)]
    assert o.from_.copy and o.from_.matname is None


def test_startvalues_and_startgrid_forms() -> None:
    for text, expected in [("zero", "zero"), ("constant", "constantonly"),
                           ("constantonly", "constantonly"), ("fixed", "fixedonly"),
                           ("fixedonly, iterate(3)", "fixedonly, iterate(3)"), ("iv", "iv"),
                           ("iter(4)", "iterate(4)")]:
        assert parse_melogit(f"melogit y x || id:, startv({text})").options.startvalues == expected
    assert parse_melogit("melogit y x || id:, startgrid").options.startgrid == ""
    o = parse_melogit("melogit y x || id: x, startg(1 2) startg(_cons[id]*x[id])").options
    assert o.startgrid == "1 2; _cons[id]*x[id]"


def test_abbreviation_tables_are_unambiguous() -> None:
    contexts = [FE_OPTIONS + GLOBAL_OPTIONS, RE_OPTIONS + GLOBAL_OPTIONS]
    for table in contexts:
        for d in table:
            for k in range(d.minlen, len(d.name) + 1):
                word = d.name[:k]
                matches = [e for e in table if len(word) >= e.minlen and e.name.startswith(word)]
                exact = [e for e in matches if e.name == word]
                assert len(matches) == 1 or exact, (word, [m.name for m in matches])
                assert lookup(word, table) is not None


@pytest.mark.parametrize(
    "word, name",
    [("l", "level"), ("lo", "log"), ("nolo", "nolog"), ("nocnsr", "nocnsreport"),
     ("notab", "notable"), ("nohead", "noheader"), ("nogr", "nogroup"), ("nopv", "nopvalues"),
     ("noomit", "noomitted"), ("noempty", "noemptycells"), ("base", "baselevels"),
     ("allbase", "allbaselevels"), ("nofvlab", "nofvlabel"), ("intm", "intmethod"),
     ("intp", "intpoints"), ("dif", "difficult"), ("tech", "technique"), ("iter", "iterate"),
     ("tr", "trace"), ("grad", "gradient"), ("hess", "hessian"), ("showtol", "showtolerance"),
     ("tol", "tolerance"), ("ltol", "ltolerance"), ("nrtol", "nrtolerance"),
     ("nonrtol", "nonrtolerance"), ("startv", "startvalues"), ("startg", "startgrid"),
     ("noest", "noestimate"), ("dnum", "dnumerical"), ("col", "collinear"),
     ("coefl", "coeflegend"), ("bin", "binomial"), ("const", "constraints")],
)
def test_minimal_abbreviations(word: str, name: str) -> None:
    d = lookup(word, GLOBAL_OPTIONS)
    assert d is not None and d.name == name
    assert lookup(word[:-1], GLOBAL_OPTIONS) is None or lookup(word[:-1], GLOBAL_OPTIONS) != d


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "text, message, rc",
    [
        ("melogit y x, foo", "option foo not allowed", 198),
        ("melogit y x || id:, levl(90)", "option levl() not allowed", 198),
        ("melogit y x, nol", "option nol not allowed", 198),
        ("melogit y x, Or", "option Or not allowed", 198),
        ("melogit y x, 5", "option 5 not allowed", 198),
        ("melogit y x || district", "only one fixed-effects equation allowed", 198),
        ("melogit y x || district, or", "only one fixed-effects equation allowed", 198),
        ("melogit y x || district x:", "district x invalid level specification", 198),
        ("melogit y x, level(90", "too few ')' or ']'", 132),
        ("melogit y x, level(90))", "too many ')' or ']'", 132),
        ("melogit y (x", "too few ')' or ']'", 132),
        ('melogit y x if s == "a', "unmatched quote", 132),
        ("", "empty command", 198),
        ("   ", "empty command", 198),
        ("melogit y x if x >", "invalid syntax", 198),
        ("melogit y x if x = 1", "invalid syntax", 198),
        ("melogit y x if", "invalid syntax", 198),
        ("melogit y x [xw=w]", "unknown weight type xw", 198),
        ("melogit y x [fw w]", "invalid syntax", 198),
        ("melogit y x, intpoints(abc)", "intpoints() invalid", 198),
        ("melogit y x, intp(0)", "intpoints() invalid -- must be an integer between 1 and 128",
         198),
        ("melogit y x, intp(129)",
         "intpoints() invalid -- must be an integer between 1 and 128", 198),
        ("melogit y x, intp(2.5)", "intpoints() invalid", 198),
        ("melogit y x, level", "option level() incorrectly specified", 198),
        ("melogit y x, level()", "option level() incorrectly specified", 198),
        ("melogit y x, or(2)", "option or() not allowed", 198),
        ("melogit y x, level(5)", "level() must be between 10 and 99.99 inclusive", 198),
        ("melogit y x, level(99.995)", "level() must be between 10 and 99.99 inclusive", 198),
        ("melogit y x, level(abc)", "level() must be between 10 and 99.99 inclusive", 198),
        ("melogit y x, intmethod(foo)", "intmethod() invalid", 198),
        ("melogit y x || id:, intmethod(laplace) intpoints(3)",
         "option intpoints() not allowed with intmethod(laplace)", 198),
        ("melogit y x, intp(3) || id:, intm(pcl)",
         "option intpoints() not allowed with intmethod(pclaplace)", 198),
        ("melogit y x || id: x, cov(foo)", "covariance structure foo invalid", 198),
        ("melogit y x || id: x, cov(fixed)", "covariance structure fixed invalid", 198),
        ("melogit y x || id: x, cov(un(M))", "covariance structure un(M) invalid", 198),
        ("melogit y x || id: x, or || b:", "option or not allowed", 198),
        ("melogit y x || id: x, level(90) || b:", "option level() not allowed", 198),
        ("melogit y x, cov(un)", "option covariance() not allowed", 198),
        ("melogit y x, pweight(w)", "option pweight() not allowed with fixed-effects equation",
         198),
        ("melogit y x || id:, offset(o)",
         "option offset() allowed only in the fixed-effects equation", 198),
        ("melogit y x || id:, aweight(w)", "option aweight() not allowed", 198),
        ("melogit y x, vce(foo)", "vcetype foo not allowed", 198),
        ("melogit y x, vce(cluster)", "option vce() incorrectly specified", 198),
        ("melogit y x, vce(robust x)", "option vce() incorrectly specified", 198),
        ("melogit y x, cformat(9.3f)", "'9.3f' found where numeric format expected", 7),
        ("melogit y x, sformat(%9s)", "'%9s' found where numeric format expected", 7),
        ("melogit y x, fvwrap(-1)", "invalid option fvwrap(-1); nonnegative integer required",
         198),
        ("melogit y x, fvwrapon(wide)", "invalid fvwrapon() option", 198),
        ("melogit y x, technique(foo)", "technique() invalid", 198),
        ("melogit y x, technique(5 nr)", "technique() invalid", 198),
        ("melogit y x, iterate(-1)", "iterate() invalid -- must be an integer 0 or larger", 198),
        ("melogit y x, tolerance(x)", "tolerance() invalid", 198),
        ("melogit y x, constraints(a b)", "invalid numlist", 121),
        ("melogit y x, binomial(0)", "binomial() invalid -- # must be a positive integer", 198),
        ("melogit y x, from(1 2 3)", "from() invalid -- a list of values is not allowed", 198),
        ("melogit y x, from(b, foo)", "from() invalid", 198),
        ("melogit y x, startvalues(foo)", "startvalues() invalid", 198),
        ("melogit y x, startgrid(a b)", "startgrid() invalid", 198),
        ("melogit y x, offset(a b)", "too many variables specified", 103),
        ("melogit || id:", "varlist required", 100),
        ("melogit y x || : x", "invalid random-effects specification: levelvar required", 198),
        ("melogit y x || id: x if z > 1", "if not allowed", 101),
        ("melogit y x || id: x in 1/5", "in range not allowed", 101),
        ("melogit y x || id: x [fw=w]", "weights not allowed", 101),
        ("melogit y x || id: R.a R.b", "R.a R.b invalid level specification", 198),
        ("melogit y x || id: R.a x", "R.a x invalid level specification", 198),
        ("melogit y x || id: R.a, cov(un)", "option covariance() not allowed with R.a", 198),
        ("melogit y R.x", "R.x: R. notation allowed only as levelvar: R.varname", 198),
        ("melogit y x || id:, noconstant", "random effects level id is empty", 198),
        ("melogit y x || id: || _all: R.a", "_all cannot be nested within levels", 198),
        ("melogit y x [fw=f] || id:, pw(w)",
         "only one weight type allowed; you specified fweights and pweights", 198),
        ("melogit y x || a:, pw(w1) || a: x, pw(w2)",
         "you cannot have multiple weight specifications within the same model level", 198),
        ("melogit y x in abc", "'abc' invalid obs no", 198),
        ("melogit y x in 0", "Obs. nos. out of range", 198),
        ("melogit y x in 10/5", "Obs. nos. out of range", 198),
        ("melogit y x @ z", "@ invalid name", 198),
        ("melogit y x if a if b", "invalid syntax", 198),
        ("melogit y i.x#", "invalid syntax", 198),
        ("melogit y x ||", "invalid syntax", 198),
        ("melogit y#x z", "depvar may not be an interaction", 198),
        ("melogit y ib(second).x", "ib(second).: invalid base specification", 198),
    ],
)
def test_errors(text: str, message: str, rc: int) -> None:
    e = err(text)
    assert (e.message, e.rc) == (message, rc)


def test_errors_are_never_lark_exceptions() -> None:
    junk = ["melogit ((", "melogit y x ,,", "melogit y x || id: ,, ", "melogit : :",
            "melogit y x [", "melogit y x []", "melogit y x [fw=w", "melogit y x, from(",
            "melogit y x || id: i.(a", "melogit y ## x", "melogit y x || id: R.", "melogit y .",
            "melogit y x if (a", "melogit y x, cov(un) ||", "melogit y 2..x", "melogit y x, ()"]
    for text in junk:
        with pytest.raises(StataError):
            parse_melogit(text)


def test_aweight_parses_for_the_engine_to_refuse() -> None:
    s = parse_melogit("melogit y x [aw=w] || id:")
    assert s.weight is not None and s.weight.kind == "aweight"


def test_intpoints_with_adaptive_methods_is_fine() -> None:
    s = parse_melogit("melogit y x || id:, intm(ghermite) intp(30)")
    assert (s.options.intmethod, s.options.intpoints) == ("ghermite", 30)


def test_global_option_in_fixed_part_and_last_equation_last_wins() -> None:
    s = parse_melogit("melogit y x, level(90) || id:, level(80)")
    assert s.options.level == 80.0


def test_r_notation_with_noconstant_and_global_options() -> None:
    s = parse_melogit("melogit y x || _all: R.a, or intm(mv)")
    assert s.re_equations[0].r_var == "a"
    assert s.options.or_ and s.options.intmethod == "mvaghermite"
