"""``margins`` and ``marginsplot`` after melogit: parse, call the library, print."""

from __future__ import annotations

import numpy as np

from melogit_cli.errors import StataError
from melogit_cli.interp.parse import Body, Option, parse_body
from melogit_cli.interp.registry import command
from melogit_cli.interp.session import Estimate, Session
from melogit_cli.interp.variables import select_rows

_EFFECTS = ("dydx", "eyex", "dyex", "eydx")


def _arg(opt: Option) -> str:
    if opt.arg is None or not opt.arg.strip():
        if opt.name in _EFFECTS:
            raise StataError("varlist required", 100)
        raise StataError(f"option {opt.name}() invalid", 198)
    return opt.arg.strip()


def _request(body: Body, level: float):
    from melogit_cli.postest.margins import (
        MarginsRequest,
        parse_at,
        parse_emptycells,
        parse_marginlist,
        parse_prediction,
    )
    from melogit_cli.syntax.optargs import parse_level

    req = MarginsRequest(terms=parse_marginlist(body.anything), level=level)
    post = False
    for opt in body.options:
        name = opt.name
        if name in _EFFECTS:
            if req.effect and req.effect != name:
                raise StataError(f"options {req.effect}() and {name}() may not be combined", 198)
            req.effect = name
            req.wrt += _arg(opt).split()
        elif name == "at":
            req.at += parse_at(_arg(opt))
        elif name == "atmeans":
            req.atmeans = True
        elif name == "over":
            req.over += _arg(opt).split()
        elif name in ("predict", "pr", "pre", "pred", "predi", "predic"):
            req.prediction = parse_prediction(_arg(opt))
        elif name == "vce":
            if _arg(opt) != "delta":
                raise StataError(f"option vce({opt.arg}) not allowed", 198)
        elif name == "post":
            post = True
        elif name in ("level", "l", "le", "lev", "leve"):
            req.level = parse_level(_arg(opt))
        elif name == "noestimcheck":
            req.estimcheck = False
        elif name == "emptycells":
            req.emptycells = parse_emptycells(_arg(opt))
        else:
            shown = name + (f"({opt.arg})" if opt.arg is not None else "")
            raise StataError(f"option {shown} not allowed", 198)
    return req, post


@command("margins")
def margins(session: Session, rest: str) -> None:
    """``margins [marginlist] [if] [in] [, predict() dydx() eyex() dyex() eydx() at()
    atmeans over() vce(delta) post level() noestimcheck emptycells()]``."""
    from melogit_cli.interp.postestimation import positions
    from melogit_cli.postest import margins as lib
    from melogit_cli.postest.margins_render import margins_lines

    est = session.last()
    if est.e.macros.get("cmd2") != "melogit":
        raise StataError("last estimates not found", 301)
    if est.estimation is None:
        raise StataError("margins requires the data of the estimation; refit the model", 321)
    ds = session.data()
    body = parse_body(rest)
    req, post = _request(body, session.settings.level)
    design = est.estimation.design  # type: ignore[attr-defined]
    ids = est.sample_ids if est.sample_ids is not None else np.zeros(0, dtype=np.int64)
    design_row = positions(ids, session.row_ids)
    keep = (design_row >= 0) & select_rows(session, body)
    rows = np.flatnonzero(keep)
    if not rows.size:
        raise StataError("no observations", 2000)
    model = lib.margins_model(est.e, design)
    sample = lib.sample_from(ds.frame, rows, design.obs_weight[design_row[rows]], model,
                             tuple(req.over))
    res = lib.compute_margins(model, sample, req)
    session.out.lines(margins_lines(res))
    session.margins = res
    session.clear_r()
    session.r_matrices = res.matrices(table=True)
    session.r_scalars = {
        "N": float(res.N),
        "level": res.level,
        "k_margins": float(len(req.terms)),  # Stata: the terms of the marginlist
    }
    session.r_macros = {"cmd": "margins", "title": res.title, "expression": res.expression,
                        "model_vce": res.vcetype, "vce": "delta"}
    if req.emptycells:
        session.r_macros["emptycells"] = req.emptycells
    if post:
        e = lib.posted(res, f"margins {rest}".strip())
        session.current = Estimate(e)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    return text


@command("marginsplot")
def marginsplot(session: Session, rest: str) -> None:
    """``marginsplot [, saving(file.png|file.svg [, replace]) name(name [, replace])
    title("text") noci]``: draws the last margins results."""
    from melogit_cli.postest import marginsplot as lib

    body = parse_body(rest)
    if body.anything or body.if_text is not None or body.in_range is not None:
        raise StataError("invalid syntax", 198)
    saving = title = name = None
    replace = noci = False
    for opt in body.options:
        if opt.name in ("saving", "sav", "savi", "savin"):
            path, _, sub = _arg(opt).partition(",")
            saving = _unquote(path)
            if sub.strip() not in ("", "replace"):
                raise StataError(f"option {sub.strip()} not allowed", 198)
            replace = sub.strip() == "replace"
            lib.output_format(saving)
        elif opt.name == "name":
            name = _arg(opt).split(",")[0].strip()
        elif opt.name == "title":
            title = _unquote(_arg(opt))
        elif opt.name == "noci":
            noci = True
        else:
            shown = opt.name + (f"({opt.arg})" if opt.arg is not None else "")
            raise StataError(f"option {shown} not allowed", 198)
    res = getattr(session, "margins", None)
    if res is None:
        raise StataError("previous command was not margins", 301)
    fig = lib.figure(res, title=title, noci=noci)
    session.graphs[name or "Graph"] = fig
    if saving is not None:
        lib.save(fig, saving, replace)
        session.out.line(f"(file {saving} saved)")
