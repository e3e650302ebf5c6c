"""Which engine fits which model: each engine registers what it can fit, and ``select``
picks the first that fits, once, for the estimation.

The joint sparse Laplace engine fits every Laplace model; the quadrature engines the
rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from melogit_cli.engine.integration import LAPLACE, QUADRATURE
from melogit_cli.engine.protocol import Engine


@dataclass(frozen=True)
class Registration:
    """An engine and what it fits."""

    name: str
    layout: str  # the arrays it takes: "clusters", "nested", "crossed"
    engine: str  # its class, as "package.module.Class"
    kinds: frozenset[str]  # model kinds: "two-level", "nested" (crossed models are either)
    methods: frozenset[str]  # integration methods as the engines compute them
    scores: bool  # gives per-top-cluster scores (vce opg, robust, cluster)
    weights: bool  # takes frequency, importance or sampling weights

    def fits(self, kind: str, method: str, *, scores: bool, weighted: bool) -> bool:
        return (
            kind in self.kinds
            and method in self.methods
            and (self.scores or not scores)
            and (self.weights or not weighted)
        )

    def engine_class(self) -> type[Engine]:
        """The engine's class (imported on first use: the joint engine needs scipy)."""
        module, _, name = self.engine.rpartition(".")
        return getattr(import_module(module), name)


REGISTRY: tuple[Registration, ...] = (
    Registration(
        "joint Laplace",
        "crossed",
        "melogit_cli.engine.laplace.crossed.CrossedLaplace",
        frozenset({"two-level", "nested"}),
        LAPLACE,
        scores=True,
        weights=True,
    ),
    Registration(
        "two-level quadrature",
        "clusters",
        "melogit_cli.engine.quadrature.twolevel.TwoLevelQuadrature",
        frozenset({"two-level"}),
        QUADRATURE,
        scores=True,
        weights=True,
    ),
    Registration(
        "nested quadrature",
        "nested",
        "melogit_cli.engine.quadrature.nested.NestedQuadrature",
        frozenset({"nested"}),
        QUADRATURE,
        scores=True,
        weights=True,
    ),
)


# arrays kept on a Dask cluster (melogit_cli.cluster): laid out on request only, never
# selected for a model (no kinds), its buckets fitted by the engines above
DISTRIBUTED = Registration(
    "Dask cluster",
    "distributed",
    "melogit_cli.cluster.engine.DaskEngine",
    frozenset(),
    QUADRATURE | LAPLACE,
    scores=True,
    weights=True,
)


def select(kind: str, method: str, *, scores: bool, weighted: bool) -> Registration:
    """The first registered engine that fits a model of ``kind`` by ``method``."""
    for registration in REGISTRY:
        if registration.fits(kind, method, scores=scores, weighted=weighted):
            return registration
    raise LookupError(f"no engine fits a {kind} model by {method}")


def engine_for(layout: str) -> type[Engine]:
    """The engine that takes arrays of ``layout``."""
    for registration in (*REGISTRY, DISTRIBUTED):
        if registration.layout == layout:
            return registration.engine_class()
    raise LookupError(f"no engine takes {layout} arrays")
