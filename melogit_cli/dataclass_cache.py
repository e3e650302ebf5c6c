"""Keep the code that :mod:`dataclasses` compiles for our classes between runs.

``@dataclass`` writes its methods (``__init__``, ``__repr__``, ``__eq__``; for a frozen
class also ``__setattr__``, ``__delattr__`` and ``__hash__``) as source text and compiles
each one whenever the class is defined, that is at every import: before Python 3.13 one
compilation per method, for the 80-odd dataclasses a small fit imports 35-40 ms of every
command's start-up, about as long as the fit.  The compiled code of the classes of each
``melogit_cli`` module is kept in the user's cache directory, as Python keeps a module's own
code in ``__pycache__``: an entry is the exact generated text with its code, in a folder
named by Python's bytecode version, so a class whose text changes is compiled afresh.
Classes of other modules are compiled as usual; an unreadable or unwritable cache only
costs the compilation.

Only the command line installs the cache (once its Ctrl-C handler is in place; importing
``dataclasses`` takes 12 ms): the hook replaces ``dataclasses.exec`` for the whole
process, which a command's own process may do but importing the package must not do to a
program that uses the Python API (there the classes are compiled once per session anyway).
"""

# No ``from __future__`` import in this module: ``exec`` of text called from here compiles
# with this module's future flags, and text must be compiled as in ``dataclasses``, which
# has none (``annotations`` would turn the generated methods' annotations into strings).

import atexit
import builtins
import dataclasses
import marshal
import os
import sys
import zlib
from functools import cache
from pathlib import Path
from types import CodeType
from typing import Any

from melogit_cli.user_cache import user_cache_dir

_PACKAGE = "melogit_cli"
_stored: dict[str, dict[str, CodeType]] = {}  # module -> text -> code, as read from its file
_used: dict[str, dict[str, CodeType]] = {}  # module -> text -> code, this process's classes
_compiled: set[str] = set()  # modules with a class compiled here: their files are rewritten


def install() -> None:
    """Let ``dataclasses`` compile the methods of our classes through :func:`_exec`
    (``dataclasses`` calls ``exec`` by its module-level name)."""
    if getattr(dataclasses, "exec", None) is not _exec:
        dataclasses.exec = _exec  # type: ignore[attr-defined]


def _exec(source: Any, globals: Any = None, locals: Any = None, /, **options: Any) -> None:
    """``exec`` as ``dataclasses`` calls it, with the code of our classes' methods looked up
    before it is compiled."""
    if globals is None:  # exec's own default: the caller's namespaces, not this module's
        caller = sys._getframe(1)
        globals, locals = caller.f_globals, caller.f_locals if locals is None else locals
    module = globals.get("__name__") if isinstance(globals, dict) else None
    if isinstance(source, str) and isinstance(module, str) and _ours(module):
        source = _code(module, source)
    return builtins.exec(source, globals, locals, **options)


def _ours(module: str) -> bool:
    return module == _PACKAGE or module.startswith(_PACKAGE + ".")


def _compile(text: str) -> CodeType:
    """``text`` compiled as ``exec`` compiles it in ``dataclasses``: without ``__future__``
    flags."""
    return compile(text, "<string>", "exec", dont_inherit=True)


def _code(module: str, text: str) -> CodeType:
    """The code of ``text`` (a function-making snippet of ``dataclasses``) for ``module``."""
    used = _used.setdefault(module, {})
    code = used.get(text)
    if code is None:
        code = _stored_for(module).get(text)
        if code is None:
            code = _compile(text)
            if not _compiled:
                atexit.register(save)
            _compiled.add(module)
        used[text] = code
    return code


@cache
def _folder() -> Path:
    """The cache's folder for this Python's bytecode (and optimisation level)."""
    from importlib.util import MAGIC_NUMBER

    tag = f"{sys.implementation.cache_tag}-{MAGIC_NUMBER.hex()}-O{sys.flags.optimize}"
    return user_cache_dir() / f"dataclasses-{tag}"


def _stored_for(module: str) -> dict[str, CodeType]:
    """The codes kept for ``module``'s classes; none when its file is missing or unreadable."""
    stored = _stored.get(module)
    if stored is None:
        stored = {}
        try:
            kept = marshal.loads(_checked((_folder() / f"{module}.marshal").read_bytes()))
            if isinstance(kept, dict) and all(
                isinstance(k, str) and isinstance(v, CodeType) for k, v in kept.items()
            ):
                stored = kept
        except (OSError, EOFError, ValueError, TypeError):
            pass
        _stored[module] = stored
    return stored


def _digest(payload: bytes) -> bytes:
    """The payload's length and CRC-32, 12 bytes."""
    return len(payload).to_bytes(8, "little") + zlib.crc32(payload).to_bytes(4, "little")


def _checked(data: bytes) -> bytes:
    """The payload of a cache file whose length and checksum match (``marshal`` trusts
    the lengths inside its input: a damaged file could make it allocate without end)."""
    digest, payload = data[:12], data[12:]
    if digest != _digest(payload):
        raise ValueError("damaged cache file")
    return payload


def save() -> None:
    """Write the codes of the modules that compiled a class in this process: each file then
    holds the classes of its module as they are now.  Run at exit; failures are ignored."""
    if not _compiled:
        return
    folder = _folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    for module in sorted(_compiled):
        path = folder / f"{module}.marshal"
        temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            # the classes other runs kept stay, those compiled here replace theirs
            payload = marshal.dumps({**_stored_for(module), **_used[module]})
            temp.write_bytes(_digest(payload) + payload)
            os.replace(temp, path)
        except (OSError, ValueError):
            try:
                temp.unlink(missing_ok=True)
            except OSError:
                pass
    _stored.update({m: {**_stored_for(m), **_used[m]} for m in _compiled})
    _compiled.clear()
