"""Opening files for reading and writing, with Stata's messages for every failure.

Stata's return codes for files: ``file X not found`` r(601), ``file X could not be opened``
r(603), ``file X is read-only; cannot be modified or erased`` r(608), ``file I/O error on
read`` r(692), ``file I/O error on write`` r(693), ``insufficient disk space`` r(699).

A file is written whole or not at all: the text goes to a new file in the same folder,
which then takes the target's name (``os.replace``), so a failure never leaves a
half-written file nor spoils the one that was there.  Devices and pipes (``/dev/stdout``)
are written in place, as they cannot be replaced.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from melogit_cli.errors import StataError

_NOT_FOUND = (errno.ENOENT, errno.ENOTDIR)
_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


def read_error(exc: OSError, path: str | Path) -> StataError:
    """The Stata error for ``exc``, raised while opening or reading ``path``."""
    if exc.errno in _NOT_FOUND:
        return StataError(f"file {path} not found", 601)
    if exc.errno == errno.EIO:
        return StataError("file I/O error on read", 692)
    return StataError(f"file {path} could not be opened", 603)


def write_error(exc: OSError, path: str | Path) -> StataError:
    """The Stata error for ``exc``, raised while creating or writing ``path``."""
    if exc.errno in _DISK_FULL:
        return StataError("insufficient disk space", 699)
    if exc.errno == errno.EIO:
        return StataError("file I/O error on write", 693)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and _read_only_file(Path(path)):
        return read_only(path)
    return StataError(f"file {path} could not be opened", 603)


def read_only(path: str | Path) -> StataError:
    return StataError(f"file {path} is read-only; cannot be modified or erased", 608)


def _read_only_file(p: Path) -> bool:
    return p.is_file() and not os.access(p, os.W_OK)


# ---------------------------------------------------------------------- reading


def check_readable(path: str | Path) -> None:
    """Raise Stata's error unless ``path`` is a file this process can open for reading
    (a folder ``could not be opened``)."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise read_error(exc, path) from None


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn an OSError raised inside the block (while reading ``path``) into Stata's."""
    try:
        yield
    except OSError as exc:
        raise read_error(exc, path) from None


def open_text(path: str | Path, **kwargs: Any) -> IO[str]:
    """``path`` opened as UTF-8 text (a byte-order mark is skipped)."""
    kwargs.setdefault("encoding", "utf-8-sig")
    try:
        return open(path, **kwargs)  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise read_error(exc, path) from None


def read_text(path: str | Path) -> str:
    """The text of ``path``: UTF-8 without a leading byte-order mark; bytes that are not
    UTF-8 become U+FFFD."""
    with reading(path), open_text(path, errors="replace") as f:
        return f.read()


# ---------------------------------------------------------------------- writing


def _in_place(p: Path) -> bool:
    """A device or pipe: written where it is, since it cannot be replaced."""
    try:
        mode = p.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_writable(path: str | Path) -> None:
    """Raise Stata's error unless ``path`` can be written: a folder, a name in a missing
    or read-only folder, or a read-only file fail here, before any work is done."""
    p = Path(path)
    if p.is_dir():
        raise StataError(f"file {path} could not be opened", 603)
    if _in_place(p):
        if not os.access(p, os.W_OK):
            raise read_only(path)
        return
    if _read_only_file(p):
        raise read_only(path)
    fd, tmp = _temporary(p)
    os.close(fd)
    os.unlink(tmp)


def _temporary(p: Path) -> tuple[int, Path]:
    """A new, empty file beside ``p`` (the target's mode, or the default one)."""
    try:
        mode = stat.S_IMODE(p.stat().st_mode) if p.is_file() else 0o666
    except OSError:
        mode = 0o666
    tmp = p.with_name(f".{p.name}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise write_error(exc, p) from None
    return fd, tmp


def write_file(path: str | Path, write: Callable[[IO[Any]], None], binary: bool = False) -> None:
    """Write ``path`` through ``write(handle)``, whole or not at all (see the module note).

    OSErrors become Stata's errors; any other exception from ``write`` propagates, with
    the temporary file removed and ``path`` as it was.
    """
    p = Path(path)
    if p.is_dir():
        raise StataError(f"file {path} could not be opened", 603)
    mode = "wb" if binary else "w"
    text = {} if binary else {"encoding": "utf-8"}
    if _in_place(p):
        try:
            with open(p, mode, **text) as f:
                write(f)
        except OSError as exc:
            raise write_error(exc, path) from None
        return
    if _read_only_file(p):
        raise read_only(path)
    fd, tmp = _temporary(p)
    try:
        with os.fdopen(fd, mode, **text) as f:
            write(f)
        os.replace(tmp, p)
    except OSError as exc:
        _remove(tmp)
        raise write_error(exc, path) from None
    except BaseException:
        _remove(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, whole or not at all."""
    write_file(path, lambda f: f.write(text))


def _remove(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def with_default_suffix(name: str | Path, suffix: str) -> Path:
    """``name`` with ``suffix`` when it has none, as Stata adds a command's default
    extension; a name that is no file's (``.``, ``..``) is r(603), as a folder is."""
    p = Path(name)
    if p.suffix:
        return p
    # (Path drops a trailing "/" or "/.": the raw name tells a folder so written)
    if p.name in ("", "..", ".") or str(name).rstrip().endswith(("/", "/.", os.sep)):
        raise StataError(f"file {name} could not be opened", 603)
    return p.with_suffix(suffix)


def open_for_writing(path: str | Path, append: bool = False) -> IO[str]:
    """``path`` opened for UTF-8 text written as it goes (a log), with Stata's errors."""
    p = Path(path)
    if p.is_dir():
        raise StataError(f"file {path} could not be opened", 603)
    try:
        return open(p, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise write_error(exc, path) from None


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two names lead to one file (links and relative names resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()
