"""Variables and observations: generate, replace, keep, drop, sort."""

from __future__ import annotations

import re

import numpy as np

from melogit_cli.data.dataset import Dataset
from melogit_cli.data.evaluate import evaluate
from melogit_cli.design.sample import in_range_mask
from melogit_cli.design.varlist import resolve_varlist as _resolve
from melogit_cli.errors import StataError, syntax_error
from melogit_cli.interp.parse import Body, parse_body
from melogit_cli.interp.registry import command
from melogit_cli.interp.session import Session
from melogit_cli.render.formats import fmt
from melogit_cli.syntax.expr_parser import parse_expr

NUMERIC_TYPES = ("byte", "int", "long", "float", "double")
_RANGES = {"byte": (-127, 100), "int": (-32767, 32740), "long": (-2147483647, 2147483620)}
_GEN_RE = re.compile(
    r"^\s*(?:(byte|int|long|float|double|str\d+|strL)\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)(.*)$",
    re.DOTALL,
)
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
RESERVED = frozenset(
    "_all _b _coef _cons _n _N _pi _pred _rc _se _skip byte double float if in int long "
    "using with".split()
)


def resolve_varlist(text: str, ds: Dataset) -> list[str]:
    return _resolve(text, ds)


def select_rows(session: Session, body: Body) -> np.ndarray:
    """The observations ``if``/``in`` select (all when neither is given)."""
    ds = session.data()
    rows = in_range_mask(body.in_range, ds.nobs)
    if body.if_expr is not None:
        value = evaluate(body.if_expr, ds, results=session)
        if value.dtype == object:
            raise StataError("type mismatch", 109)
        rows &= np.asarray(value, dtype=float) != 0
    return rows


def check_new_name(name: str, ds: Dataset) -> None:
    """A valid name that is not a variable yet (r(198) / r(110))."""
    if not _NAME_RE.match(name) or name in RESERVED:
        raise StataError(f"{name} invalid name", 198)
    if name in ds.varnames:
        raise StataError(f"variable {name} already defined", 110)


def store(values: np.ndarray, kind: str) -> np.ndarray:
    """Numbers as a variable of storage type ``kind`` holds them."""
    x = np.asarray(values, dtype=np.float64).copy()
    if kind == "float":
        with np.errstate(over="ignore", invalid="ignore"):
            x = x.astype(np.float32).astype(np.float64)
        x[~np.isfinite(x)] = np.nan
    elif kind in _RANGES:
        lo, hi = _RANGES[kind]
        with np.errstate(invalid="ignore"):
            x = np.trunc(x)
            x[(x < lo) | (x > hi)] = np.nan
    return x


def add_variable(session: Session, name: str, values: np.ndarray, kind: str) -> None:
    """Append a new variable (numbers already stored as ``kind``, or str)."""
    ds = session.data()
    ds.frame[name] = values
    ds.storage[name] = kind
    ds.formats.pop(name, None)
    session.changed = True


def _missing_note(session: Session, values: np.ndarray) -> None:
    if values.dtype == object:
        missing = int(np.sum(values == ""))
    else:
        missing = int(np.isnan(values).sum())
    if missing:
        session.out.line(f"({fmt(missing, '%12.0fc').strip()} missing values generated)")


def _parse_assignment(rest: str) -> tuple[str | None, str, Body]:
    body = parse_body(rest, ())
    m = _GEN_RE.match(body.anything)
    if not m:
        raise syntax_error()
    kind, name, text = m.group(1), m.group(2), m.group(3).strip()
    if not text:
        raise syntax_error()
    body.anything = text
    return kind, name, body


@command("generate", "g")
def generate(session: Session, rest: str) -> None:
    """``generate [type] newvar = exp [if] [in]``."""
    ds = session.data()
    kind, name, body = _parse_assignment(rest)
    check_new_name(name, ds)
    expr = parse_expr(body.anything)
    rows = select_rows(session, body)
    value = evaluate(expr, ds, results=session)
    if value.dtype == object:
        if kind is not None and not kind.startswith("str"):
            raise StataError("type mismatch", 109)
        out = np.where(rows, value, "").astype(object)
        width = max((len(s) for s in out), default=1)
        add_variable(session, name, out, kind or f"str{max(width, 1)}")
    else:
        if kind is not None and kind.startswith("str"):
            raise StataError("type mismatch", 109)
        kind = kind or session.settings.type
        out = store(np.where(rows, value, np.nan), kind)
        add_variable(session, name, out, kind)
    _missing_note(session, out)


def _promote(kind: str, values: np.ndarray) -> str:
    finite = values[~np.isnan(values)]
    if kind in _RANGES and finite.size:
        if np.any(finite != np.trunc(finite)):
            return "float" if kind != "long" else "double"
        for candidate in ("byte", "int", "long"):
            lo, hi = _RANGES[candidate]
            if NUMERIC_TYPES.index(candidate) >= NUMERIC_TYPES.index(kind) and (
                finite.min() >= lo and finite.max() <= hi
            ):
                return candidate
        return "double"
    return kind


@command("replace")
def replace(session: Session, rest: str) -> None:
    """``replace var = exp [if] [in]``."""
    ds = session.data()
    kind, name, body = _parse_assignment(rest)
    if kind is not None:
        raise syntax_error()
    if name not in ds.varnames:
        raise StataError(f"variable {name} not found", 111)
    expr = parse_expr(body.anything)
    rows = select_rows(session, body)
    value = evaluate(expr, ds, results=session)
    old = ds.frame[name].to_numpy()
    if ds.is_string(name) != (value.dtype == object):
        raise StataError("type mismatch", 109)
    if value.dtype == object:
        new = np.where(rows, value, old).astype(object)
        changed = int(np.sum(new != old))
        width = max((len(s) for s in new), default=1)
        current = ds.storage_type(name)
        if current.startswith("str") and current != "strL" and width > int(current[3:] or 1):
            ds.storage[name] = f"str{width}"
        to_missing = int(np.sum((new == "") & (old != "")))
    else:
        old = old.astype(np.float64)
        kind_now = ds.storage_type(name)
        proposed = np.where(rows, value, old)
        promoted = _promote(kind_now, proposed)
        if promoted != kind_now:
            session.out.line(f"(variable {name} was {kind_now} now {promoted})")
            ds.storage[name] = promoted
        new = store(proposed, promoted)
        same = (new == old) | (np.isnan(new) & np.isnan(old))
        changed = int(np.sum(~same))
        to_missing = int(np.sum(np.isnan(new) & ~np.isnan(old)))
    ds.frame[name] = new
    session.changed = True
    text = f"({fmt(changed, '%12.0fc').strip()} real change{'' if changed == 1 else 's'} made"
    if to_missing:
        text += f", {fmt(to_missing, '%12.0fc').strip()} to missing"
    session.out.line(text + ")")


def _drop_or_keep(session: Session, rest: str, keep: bool) -> None:
    ds = session.data()
    body = parse_body(rest)
    if body.anything and (body.if_expr is not None or body.in_range is not None):
        raise syntax_error()
    if body.options:
        raise syntax_error(f"option {body.options[0].name} not allowed")
    if body.anything:
        names = resolve_varlist(body.anything, ds)
        if keep:
            wanted = set(names)
            names = [v for v in ds.varnames if v not in wanted]
        for v in dict.fromkeys(names):
            ds.frame = ds.frame.drop(columns=v)
            for table in (ds.storage, ds.formats, ds.value_labels, ds.variable_labels):
                table.pop(v, None)
            if v in ds.sorted_by:
                ds.sorted_by = ds.sorted_by[: ds.sorted_by.index(v)]
        session.changed = True
        return
    if body.if_expr is None and body.in_range is None:
        raise StataError("varlist required", 100)
    rows = select_rows(session, body)
    mask = rows if keep else ~rows
    deleted = int((~mask).sum())
    session.keep_rows(mask)
    session.out.line(
        f"({fmt(deleted, '%12.0fc').strip()} observation{'' if deleted == 1 else 's'} deleted)"
    )


@command("drop")
def drop(session: Session, rest: str) -> None:
    """``drop varlist`` | ``drop if exp [in range]`` | ``drop in range``."""
    _drop_or_keep(session, rest, keep=False)


@command("keep")
def keep(session: Session, rest: str) -> None:
    """``keep varlist`` | ``keep if exp [in range]`` | ``keep in range``."""
    _drop_or_keep(session, rest, keep=True)


@command("sort")
def sort(session: Session, rest: str) -> None:
    """``sort varlist``: ascending, stable, missing values last."""
    ds = session.data()
    body = parse_body(rest, ())
    if not body.anything:
        raise StataError("varlist required", 100)
    names = resolve_varlist(body.anything, ds)
    keys = []
    for v in reversed(names):
        col = ds.frame[v].to_numpy()
        if ds.is_string(v):
            _, codes = np.unique(col.astype(str), return_inverse=True)
            keys.append(codes.reshape(-1))
        else:
            x = col.astype(np.float64)
            keys.append(np.where(np.isnan(x), np.inf, x))
            keys.append(np.isnan(x))  # more significant: missing values last
    order = np.lexsort(keys) if keys else np.arange(ds.nobs)
    session.reorder(order)
    ds.sorted_by = list(names)
