"""display, matrix, scalar, constraint."""

from __future__ import annotations

import re

import numpy as np

from melogit_cli.data.evaluate import evaluate_scalar
from melogit_cli.errors import StataError, syntax_error
from melogit_cli.interp.parse import option_matches, parse_body
from melogit_cli.interp.registry import command
from melogit_cli.interp.session import Session
from melogit_cli.render.formats import fmt, parse_format
from melogit_cli.render.matrix_list import ListOptions, matrix_list_lines
from melogit_cli.results.eresults import Matrix
from melogit_cli.syntax.expr_parser import parse_expr
from melogit_cli.syntax.textscan import check_balance

_NUM_FMT_RE = re.compile(r"^%-?0?\d+\.\d+[gfe]c?$")
_STR_FMT_RE = re.compile(r"^%(-?)(\d+)s$")
_DIRECTIVE_RE = re.compile(r"^(_n|_newline|_col|_column|_skip|_dup)(?:\((\d+)\))?$")
_STYLES = {"text", "txt", "result", "res", "error", "err", "input", "inp"}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


def _chunks(text: str) -> list[str]:
    """Top-level blank-separated pieces; a string literal is a piece of its own."""
    out: list[str] = []
    cur = ""
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"`" and (ch == '"' or text.startswith('`"', i)):
            end = text.find('"', i + 1) if ch == '"' else text.find("\"'", i + 2)
            if end < 0:
                raise StataError("too few quotes", 132)
            end = end + 1 if ch == '"' else end + 2
            literal = text[i:end]
            if depth == 0 and not cur.strip():
                out.append(literal)
                cur = ""
            else:
                cur += literal
            i = end
            continue
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch.isspace() and depth == 0:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    if cur:
        out.append(cur)
    return out


def _format_value(value: float | str, spec: str | None) -> str:
    if isinstance(value, str):
        if spec:
            m = _STR_FMT_RE.match(spec)
            if m:
                width = int(m.group(2))
                return value.ljust(width) if m.group(1) else value.rjust(width)
        return value
    if spec and _NUM_FMT_RE.match(spec):
        return fmt(value, spec)
    return fmt(value, "%10.0g").strip()


def display_text(session: Session, text: str) -> tuple[str, bool]:
    """What ``display text`` shows, and whether ``_continue`` was given."""
    check_balance(text) if text.strip() else None
    pieces = _chunks(text)
    lines = [""]
    spec: str | None = None
    cont = False
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        d = _DIRECTIVE_RE.match(piece)
        if d:
            name, arg = d.group(1), int(d.group(2) or 1)
            if name in ("_n", "_newline"):
                lines += [""] * arg
            elif name in ("_col", "_column"):
                lines[-1] = lines[-1].ljust(arg - 1)
            elif name == "_skip":
                lines[-1] += " " * arg
            elif name == "_dup":
                if i + 1 >= len(pieces):
                    raise syntax_error()
                i += 1
                value = evaluate_scalar(parse_expr(pieces[i]), session.ds, session)
                lines[-1] += _format_value(value, None) * arg
            i += 1
            continue
        if piece == "_continue":
            cont = True
            i += 1
            continue
        if piece == "as" and i + 1 < len(pieces) and pieces[i + 1] in _STYLES:
            i += 2
            continue
        if piece == "in" and i + 1 < len(pieces) and pieces[i + 1] in (
            "gr", "green", "ye", "yellow", "w", "white", "red", "bl", "blue", "smcl"
        ):
            i += 2
            continue
        if piece.startswith("%") and (_NUM_FMT_RE.match(piece) or _STR_FMT_RE.match(piece)):
            if _NUM_FMT_RE.match(piece):
                try:
                    parse_format(piece)
                except ValueError:
                    raise StataError(f"invalid format {piece}", 120) from None
            spec = piece
            i += 1
            continue
        expr, j = _longest_expression(pieces, i)
        value = evaluate_scalar(expr, session.ds, session)
        lines[-1] += _format_value(value, spec)
        spec = None
        i = j
    return "\n".join(lines), cont


def _longest_expression(pieces: list[str], i: int) -> tuple[object, int]:
    stops = {"_continue", "as", "_n", "_newline"}
    end = len(pieces)
    for k in range(i + 1, len(pieces)):
        if pieces[k] in stops or _DIRECTIVE_RE.match(pieces[k]) or _STR_FMT_RE.match(pieces[k]):
            end = k
            break
        if _NUM_FMT_RE.match(pieces[k]):
            end = k
            break
    last_error: StataError | None = None
    for j in range(end, i, -1):
        try:
            return parse_expr(" ".join(pieces[i:j])), j
        except StataError as err:
            last_error = err if j == end else last_error or err
    raise last_error or syntax_error()


@command("display", "di")
def display(session: Session, rest: str) -> None:
    """``display [directives]``: strings, expressions (with _b[], _se[], e(), r()),
    ``%fmt``, ``_n``, ``_col()``, ``_skip()``, ``_dup()``, ``as style``, ``_continue``."""
    text, cont = display_text(session, rest)
    session.out.write(text + ("" if cont else "\n"))


# ---------------------------------------------------------------------- scalar


@command("scalar", "sca")
def scalar(session: Session, rest: str) -> None:
    """``scalar [define] name = exp``, ``scalar list [names]``, ``scalar drop names``."""
    words = rest.split(None, 1)
    if words and words[0] in ("list", "l", "dir"):
        names = words[1].split() if len(words) > 1 else sorted(session.scalars)
        for name in names:
            if name not in session.scalars:
                raise StataError(f"scalar {name} not found", 111)
            value = session.scalars[name]
            shown = value if isinstance(value, str) else fmt(value, "%10.0g").strip()
            session.out.line(f"{name:>12} = {shown}")
        return
    if words and words[0] == "drop":
        for name in (words[1].split() if len(words) > 1 else []):
            if name == "_all":
                session.scalars.clear()
            elif session.scalars.pop(name, None) is None:
                raise StataError(f"scalar {name} not found", 111)
        return
    if words and words[0] in ("define", "de", "def"):
        rest = words[1] if len(words) > 1 else ""
    name, eq, text = rest.partition("=")
    name = name.strip()
    if not eq or not _NAME_RE.match(name) or not text.strip():
        raise syntax_error()
    session.scalars[name] = evaluate_scalar(parse_expr(text), session.ds, session)


# ---------------------------------------------------------------------- matrix


def _matrix_source(session: Session, text: str) -> Matrix:
    text = text.strip()
    transpose = text.endswith("'")
    if transpose:
        text = text[:-1].strip()
    m = re.fullmatch(r"([er])\((\w+)\)", text)
    if m:
        table = session.last().e.matrices if m.group(1) == "e" else session.r_matrices
        if m.group(2) not in table:
            raise StataError(f"matrix {text} not found", 111)
        src = table[m.group(2)]
        mat = Matrix(list(src.rownames), list(src.colnames), np.array(src.data, dtype=float))
    elif re.fullmatch(r"[A-Za-z_]\w*", text):
        if text not in session.matrices:
            raise StataError(f"matrix {text} not found", 111)
        src = session.matrices[text]
        mat = Matrix(list(src.rownames), list(src.colnames), np.array(src.data, dtype=float))
    elif re.fullmatch(r"I\((.+)\)", text):
        n = int(evaluate_scalar(parse_expr(text[2:-1]), session.ds, session))  # type: ignore[arg-type]
        mat = _plain(np.eye(n))
    elif re.fullmatch(r"J\((.+)\)", text):
        args = [a.strip() for a in text[2:-1].split(",")]
        if len(args) != 3:
            raise syntax_error()
        r, c, v = (float(evaluate_scalar(parse_expr(a), session.ds, session)) for a in args)  # type: ignore[arg-type]
        mat = _plain(np.full((int(r), int(c)), v))
    elif text.startswith("(") and text.endswith(")"):
        rows = [r for r in text[1:-1].split("\\")]
        data = []
        for row in rows:
            cells = [c for c in row.split(",")]
            values = []
            for cell in cells:
                value = evaluate_scalar(parse_expr(cell), session.ds, session)
                if isinstance(value, str):
                    raise StataError("type mismatch", 109)
                values.append(value)
            data.append(values)
        if len({len(r) for r in data}) != 1:
            raise StataError("conformability error", 503)
        mat = _plain(np.array(data, dtype=float))
    else:
        raise syntax_error()
    if transpose:
        mat = Matrix(mat.colnames, mat.rownames, mat.data.T.copy())
    return mat


def _plain(data: np.ndarray) -> Matrix:
    r, c = data.shape
    return Matrix([f"r{i + 1}" for i in range(r)], [f"c{j + 1}" for j in range(c)], data)


def matrix_lines(name: str, mat: Matrix, opts: ListOptions | None = None) -> list[str]:
    """``matrix list``: the title, then the (lower triangle of a symmetric) matrix."""
    return matrix_list_lines(name, mat, opts)


def _list_options(session: Session, text: str) -> ListOptions:
    """The options of ``matrix list``: nob[lank] noha[lf] noh[eader] non[ames]
    f[ormat](%fmt) t[itle](string) nodotz."""
    opts = ListOptions(linesize=session.linesize)
    for opt in parse_body("x, " + text).options if text.strip() else []:
        name, arg = opt.name, opt.arg
        if arg is None and option_matches(name, "noblank", 3):
            opts.blank = False
        elif arg is None and option_matches(name, "nohalf", 4):
            opts.half = False
        elif arg is None and option_matches(name, "noheader", 3):
            opts.header = False
        elif arg is None and option_matches(name, "nonames", 3):
            opts.names = False
        elif arg is None and name == "nodotz":
            pass  # .z cannot be stored in these matrices, so there is nothing to blank
        elif arg is not None and option_matches(name, "format", 1):
            try:
                parse_format(arg)
            except ValueError:
                raise StataError(f"invalid format {arg}", 120) from None
            opts.format = arg
        elif arg is not None and option_matches(name, "title", 1):
            opts.title = _unquote(arg)
        else:
            shown = name + (f"({arg})" if arg is not None else "")
            raise StataError(f"option {shown} not allowed", 198)
    return opts


def _unquote(text: str) -> str:
    if text.startswith('`"') and text.endswith("\"'"):
        return text[2:-2]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


@command("matrix", "mat")
def matrix(session: Session, rest: str) -> None:
    """``matrix [define] A = (1,2\\3,4) | e(b) | B' | I(n) | J(r,c,v)``, ``matrix list A``,
    ``matrix drop A``, ``matrix dir``."""
    words = rest.split(None, 1)
    if not words:
        raise syntax_error()
    sub = words[0]
    arg = words[1].strip() if len(words) > 1 else ""
    if sub in ("list", "l", "li", "lis"):
        name, _, options = arg.partition(",")
        name = name.strip()
        mat = _matrix_source(session, name)
        session.out.lines(matrix_lines(name, mat, _list_options(session, options)))
        return
    if sub == "drop":
        for name in arg.split():
            if name == "_all":
                session.matrices.clear()
            elif session.matrices.pop(name, None) is None:
                raise StataError(f"matrix {name} not found", 111)
        return
    if sub == "dir":
        for name, mat in session.matrices.items():
            r, c = np.atleast_2d(mat.data).shape
            session.out.line(f"{name:>12}[{r},{c}]")
        return
    if sub in ("rownames", "colnames", "rown", "coln"):
        name, _, names = arg.partition("=")
        name = name.strip()
        if name not in session.matrices:
            raise StataError(f"matrix {name} not found", 111)
        mat = session.matrices[name]
        new = names.split()
        which = "rownames" if sub.startswith("row") else "colnames"
        if len(new) != len(getattr(mat, which)):
            raise StataError("conformability error", 503)
        setattr(mat, which, new)
        return
    if sub in ("define", "def", "de", "input"):
        rest = arg
    name, eq, text = rest.partition("=")
    name = name.strip()
    if not eq or not _NAME_RE.match(name) or not text.strip():
        raise syntax_error()
    session.matrices[name] = _matrix_source(session, text)


# ---------------------------------------------------------------------- constraint


@command("constraint", "cons")
def constraint(session: Session, rest: str) -> None:
    """``constraint [define] # exp``, ``constraint list``, ``constraint drop #|_all``."""
    words = rest.split(None, 1)
    if not words:
        raise syntax_error()
    sub = words[0]
    arg = words[1] if len(words) > 1 else ""
    if sub in ("list", "l", "dir"):
        for k in sorted(session.constraints):
            session.out.line(f"{k:>6}:  {session.constraints[k]}")
        return
    if sub == "drop":
        for w in arg.split():
            if w == "_all":
                session.constraints.clear()
            else:
                session.constraints.pop(_constraint_number(w), None)
        return
    if sub in ("define", "def", "de"):
        words = arg.split(None, 1)
        if not words:
            raise syntax_error()
        sub, arg = words[0], (words[1] if len(words) > 1 else "")
    k = _constraint_number(sub)
    if not arg.strip() or "=" not in arg:
        raise syntax_error()
    session.constraints[k] = " ".join(arg.split())


def _constraint_number(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        raise syntax_error() from None
    if not 1 <= k <= 1999:
        raise StataError("constraint number must be between 1 and 1,999", 198)
    return k
