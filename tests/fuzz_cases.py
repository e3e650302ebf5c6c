"""Fuzz cases: valid melogit commands and do-files, mutated as a careless or hostile user would.

Every case is a dict ``{"name", "argv", "command"}``: ``argv`` goes to the command line's entry
point, ``command`` (a melogit command, or None for a do-file) is also timed through the parser.
The generator is deterministic for a given seed.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

# Valid commands on the small bangladesh extract (district, c_use, urban, age, child1-3, children).
COMMANDS = [
    "melogit c_use i.urban age i.children || district:",
    "melogit c_use i.urban age i.children || district:, or",
    "melogit c_use i.urban##c.age || district: urban, cov(un)",
    "melogit c_use urban age if age > 0 & children != 2 || district:, intpoints(3)",
    "melogit c_use urban age in 1/300 || district:, intmethod(laplace)",
    "melogit c_use urban c.age#c.age || district: age, cov(ind) vce(robust)",
    "melogit c_use ibn.children, noconstant || district:, binomial(1) offset(age)",
    "melogit c_use urban || _all:R.district",
    "melogit c_use urban age || district: || urban:",
    "melogit c_use urban age || district:, intmethod(mcaghermite) intpoints(5) iterate(20)",
    "melogit c_use i.urban age child* || district:, level(90) nolog",
    "melogit c_use urban-age || district:, startvalues(zero) tolerance(1e-5)",
    "c_use urban [fweight=children] || district:, ltolerance(1e-6)",
    "melogit c_use i(1 2).children urban || district:, vce(cluster district) cformat(%8.3f)",
    "melogit c_use urban age if (age > -5 & (urban == 1 | children >= 2)) || district:",
]

# Do-file lines (each base do-file is a list of lines).
DOFILES = [
    [
        "webuse bangladesh, clear",
        "keep if district <= 12",
        "generate incomeofhouseholdpercapita2023 = age * 2",
        "melogit c_use urban incomeofhouseholdpercapita2023 || district:",
        "estimates store a",
        "predict p, mu",
        "estat icc",
        "display _b[urban] + 1",
        "test urban incomeofhouseholdpercapita2023",
        "lincom urban + incomeofhouseholdpercapita2023, or",
        "nlcom (ratio: _b[urban] / _b[incomeofhouseholdpercapita2023])",
    ],
    [
        "webuse hospital, clear",
        "quietly melogit dropout loginc || hosp:",
        "estimates store small",
        "capture noisily melogit dropout loginc distance || hosp:",
        "lrtest small .",
        "predict u, reffects",
        "summarize u",
        "estat group",
        "estimates table small ., se stats(N ll aic bic) b(%9.4f)",
        "estimates stats _all",
        "testparm loginc, equal",
    ],
    [
        "use bangladesh, clear",
        "keep in 1/400",
        "local covs urban age",
        "melogit c_use `covs' || district:, or",
        "replace age = age / 10",
        "predict xb, xb",
        "drop age",
        "predict fixed, xb",
        "estat ic",
    ],
]

SPECIAL_TOKENS = [
    "||", "|", ",", "(", ")", "((", "))", "#", "##", "i.", "c.", "ib2.", "ib(last).", "R.",
    "_all:", ":", "if", "in", "[pw=age]", "[fw=urban]", "[", "]", "=", "==", "&", "!", "-",
    "*", "?", "~", "/", "1/0", "0", "-1", "1e308", "1e-300", ".", ".a", "\"", "`", "'",
    "`\"x\"'", "intpoints(1)", "intpoints(2)", "intpoints(0)", "intpoints(129)",
    "intpoints(3.5)", "iterate(0)", "iterate(-1)", "cov(foo)", "cov(un)", "cov(exch)",
    "level(101)", "level(10)", "vce(robust)", "vce(opg)", "vce(oops)", "binomial(0)",
    "binomial(children)", "offset(nosuch)", "from(1)", "or", "noconstant", "intmethod(laplace)",
    "intmethod(ghermite)", "intmethod(x)", "technique(bfgs)", "difficult", "nolog", "é",
    "\u00a0", "\u200b", "\t", "nosuchvar", "_cons", "_n", "age[_n-1]",
    "abcdefghijklmnopqrstuvwxyzabcdef", "x" * 33,
]

GARBAGE_LINES = [
    "", "*", "// a comment", "/* open comment", "*/", "///", "#delimit ;", "#delimit cr",
    "display", "display 1/0", "display \"unclosed", "foreach x in a b {", "}", "{",
    "capture", "quietly:", "melogit", "melogit ,", "predict", "estat", "estat nonsense",
    "estimates restore nosuch", "lrtest", "drop _all", "clear", "use nosuch.dta",
    "import delimited nosuch.csv", "log using", "log close", "generate = 1",
    "replace nosuch = 1", "local", "global x = (", "display `undefined'", "exit",
    "set seed", "scalar s = .", "matrix list e(b)", "ereturn list", "return list",
    "test", "test nosuch", "test [c_use]", "testparm i.nosuch", "lincom", "lincom 1/0",
    "nlcom exp(", "nlcom ln(_b[_cons] - 100)", "estimates table", "estimates table nosuch",
    "estimates table ., star se", "estimates stats", "ereturn display", "matrix b = e(b)",
]


def _tokens(text: str) -> list[str]:
    return re.findall(r"\|\||\S+?(?=\|\||,|\s|$)|,", text)


def mutate_command(text: str, rng: random.Random) -> str:
    """One to three random edits of a command, by token or by character."""
    for _ in range(rng.randint(1, 3)):
        toks = _tokens(text) or [text]
        op = rng.randrange(7)
        i = rng.randrange(len(toks))
        if op == 0 and len(toks) > 1:
            del toks[i]
        elif op == 1:
            toks.insert(i, toks[rng.randrange(len(toks))])
        elif op == 2:
            j = rng.randrange(len(toks))
            toks[i], toks[j] = toks[j], toks[i]
        elif op in (3, 4):
            toks.insert(i, rng.choice(SPECIAL_TOKENS))
        elif op == 5 and text:
            pos = rng.randrange(len(text))
            char = rng.choice("()[]|,:#.\"'`{}$!=&<>-+*/^@~ \taZ09_é")
            text = text[:pos] + rng.choice(["", char, char * 2]) + text[pos + 1 :]
            continue
        else:
            text = text[: rng.randrange(len(text) + 1)]
            continue
        text = " ".join(toks)
    return text


def long_commands() -> list[str]:
    """Commands of up to 10,000 characters that are the parser's worst cases."""
    name32 = "abcdefghijklmnopqrstuvwxyzabcdef"
    return [
        f"melogit c_use {name32} || district:",
        "melogit c_use " + "a" * 9_000 + " || district:",
        "melogit c_use urban if " + "(" * 2_000 + "age" + ")" * 2_000 + " || district:",
        "melogit c_use urban if " + "(" * 4_000 + " || district:",
        "melogit c_use urban if " + " & ".join(["age > 0"] * 900) + " || district:",
        "melogit c_use urban if " + "-" * 9_000 + "age > 0 || district:",
        "melogit c_use urban if " + "!" * 9_000 + "age || district:",
        "melogit c_use " + " ".join(["urban"] * 1_600) + " || district:",
        "melogit c_use " + "#".join(["urban"] * 1_600) + " || district:",
        "melogit c_use urban " + "|| district: " * 600,
        "melogit c_use urban || district:, " + "or " * 3_000,
        "melogit c_use urban || district:, level(" + "9" * 9_000 + ")",
        'melogit c_use urban if "' + "x" * 9_000 + '" == "" || district:',
        "melogit c_use " + "i." * 4_000 + "urban || district:",
        "melogit c_use " + "(" * 3_000 + "urban" + ")" * 3_000 + " || district:",
    ]


def command_cases(data: Path, rng: random.Random, count: int) -> list[dict]:
    """Mutated commands on ``data``, the unmutated ones, and the long worst cases."""
    texts = list(COMMANDS)
    texts += [mutate_command(rng.choice(COMMANDS), rng) for _ in range(count)]
    texts += long_commands()
    return [
        {"name": f"command {i}", "argv": ["--data", str(data), "--", t], "command": t}
        for i, t in enumerate(texts)
    ]


def mutate_dofile(lines: list[str], rng: random.Random) -> list[str]:
    """Drop, repeat, swap or garble lines, or add junk lines."""
    lines = list(lines)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(5)
        i = rng.randrange(len(lines))
        if op == 0 and len(lines) > 1:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:
            lines[i] = mutate_command(lines[i], rng)
        else:
            lines.insert(i, rng.choice(GARBAGE_LINES))
    return lines


def dofile_cases(folder: Path, rng: random.Random, count: int) -> list[dict]:
    """Mutated do-files written into ``folder`` (a bangladesh copy sits there for ``use``)."""
    scripts = [list(d) for d in DOFILES]
    scripts += [mutate_dofile(rng.choice(DOFILES), rng) for _ in range(count)]
    scripts.append(["\ufeffdisplay 1", "webuse hospital, clear", "melogit dropout || hosp:"])
    cases = []
    for i, lines in enumerate(scripts):
        path = folder / f"case_{i}.do"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cases.append({"name": f"do-file {path.name}", "argv": ["do", str(path)], "command": None})
    selfcall = folder / "selfcall.do"
    selfcall.write_text("display 1\ndo selfcall.do\n", encoding="utf-8")
    cases.append({"name": "do-file calling itself", "argv": ["do", str(selfcall)], "command": None})
    return cases
