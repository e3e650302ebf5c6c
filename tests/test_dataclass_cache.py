"""The dataclass code cache: our classes get the very methods ``dataclasses`` would compile,
read back from the user's cache directory in later runs; other classes are left alone."""

from __future__ import annotations

import dataclasses
import sys
import types

import pytest

from melogit_cli import dataclass_cache

SOURCE = '''
from __future__ import annotations
from dataclasses import dataclass, field

@dataclass(frozen=True)
class Point:
    """A point."""
    x: int
    y: tuple[int, ...] = ()

@dataclass
class Box:
    items: list[int] = field(default_factory=list)
    name: str = "box"
'''

METHODS = ("__init__", "__repr__", "__eq__", "__setattr__", "__delattr__", "__hash__")


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """A fresh cache in ``tmp_path``, the hook installed; the probe modules removed after."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    dataclass_cache._folder.cache_clear()
    fresh(monkeypatch)
    dataclass_cache.install()
    yield tmp_path
    for name in [m for m in sys.modules if "cache_probe" in m]:
        del sys.modules[name]
    dataclass_cache._folder.cache_clear()


def fresh(monkeypatch) -> None:
    """Forget what this process has read and compiled, as a new process would."""
    monkeypatch.setattr(dataclass_cache, "_stored", {})
    monkeypatch.setattr(dataclass_cache, "_used", {})
    monkeypatch.setattr(dataclass_cache, "_compiled", set())


def define(name: str) -> types.ModuleType:
    """A module ``name`` holding SOURCE's classes, defined now."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(SOURCE, name, "exec"), module.__dict__)
    return module


def assert_same_methods(ours: type, plain: type) -> None:
    for name in METHODS:
        a, b = ours.__dict__.get(name), plain.__dict__.get(name)
        assert (a is None) == (b is None), name
        if a is None or not hasattr(a, "__code__"):
            continue
        a, b = getattr(a, "__wrapped__", a), getattr(b, "__wrapped__", b)
        for attr in ("co_code", "co_consts", "co_names", "co_varnames", "co_filename"):
            assert getattr(a.__code__, attr) == getattr(b.__code__, attr), (name, attr)
        assert a.__annotations__ == b.__annotations__, name
        assert a.__defaults__ == b.__defaults__ and a.__kwdefaults__ == b.__kwdefaults__


def assert_behaves(module: types.ModuleType) -> None:
    p = module.Point(1, (2,))
    assert repr(p) == "Point(x=1, y=(2,))"
    assert p == module.Point(1, (2,)) and hash(p) == hash(module.Point(1, (2,)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 3  # type: ignore[misc]
    a, b = module.Box(), module.Box()
    a.items.append(1)
    assert b.items == [] and repr(a) == "Box(items=[1], name='box')"
    assert [f.name for f in dataclasses.fields(module.Box)] == ["items", "name"]


def test_our_classes_compile_once_then_read_back(cache, monkeypatch) -> None:
    with monkeypatch.context() as m:  # the standard library's own
        m.delattr(dataclasses, "exec")
        plain = define("cache_probe_plain")
    other = define("cache_probe_other")  # not ours: compiled as usual, not kept
    compiled = define("melogit_cli.cache_probe")
    dataclass_cache.save()
    folder = dataclass_cache._folder()
    assert [p.name for p in folder.iterdir()] == ["melogit_cli.cache_probe.marshal"]

    fresh(monkeypatch)  # a later run: nothing may be compiled
    monkeypatch.setattr(dataclass_cache, "_compile", _no_compile)
    stored = define("melogit_cli.cache_probe")
    assert not dataclass_cache._compiled
    for module in (other, compiled, stored):
        assert_behaves(module)
        for cls in ("Point", "Box"):
            assert_same_methods(getattr(module, cls), getattr(plain, cls))


@pytest.mark.parametrize(
    "content",
    [
        b"\x00not marshal",
        # marshal would build a list of 2**31 items from these five bytes: the checksum
        # rejects them before marshal reads them
        b"(" + b"\xff\xff\xff\x7f",
    ],
)
def test_unreadable_file_is_compiled_afresh(cache, monkeypatch, content: bytes) -> None:
    folder = dataclass_cache._folder()
    folder.mkdir(parents=True)
    (folder / "melogit_cli.cache_probe.marshal").write_bytes(content)
    assert_behaves(define("melogit_cli.cache_probe"))
    assert dataclass_cache._compiled == {"melogit_cli.cache_probe"}
    dataclass_cache.save()
    fresh(monkeypatch)
    assert_behaves(define("melogit_cli.cache_probe"))
    assert not dataclass_cache._compiled


def test_cache_that_cannot_be_made_costs_only_the_compilation(cache, monkeypatch) -> None:
    blocker = cache / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    dataclass_cache._folder.cache_clear()
    assert_behaves(define("melogit_cli.cache_probe"))
    dataclass_cache.save()  # nothing written, nothing raised
    assert not (blocker.parent / "melogit_cli").exists()


def _no_compile(*args: object, **kwargs: object) -> None:
    raise AssertionError("compiled although the cache holds the code")
