"""The Engine protocol over engines kept on Dask workers.

Each bucket of top-level clusters is an engine on a worker (a future); an engine state
is the list of the buckets' states, futures too, kept where they were computed.  Every
evaluation sends (beta, theta) out and sums the buckets' results back with a tree
reduction in a fixed order, so that the same fit gives the same numbers every time.

Mean-variance adaptation stops when the *total* log likelihood settles (as in memory),
so its passes are driven from here, one distributed pass at a time; methods whose nodes
settle cluster by cluster (mode-curvature, Laplace, ghermite) leave it to the engines.

A lost worker costs nothing but time: Dask recomputes the lost futures from their
tasks (source partition, split, bucket, engine, the chain of states), and a gather
returns only when every bucket's result is in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from melogit_cli.cluster import partition as part
from melogit_cli.engine.integration import Integration
from melogit_cli.engine.model.covariance import LevelCovariance, NestedCovariance
from melogit_cli.engine.optimize.logit import irls_solution
from melogit_cli.engine.protocol import Objective
from melogit_cli.engine.quadrature.twolevel import Evaluation
from melogit_cli.engine.shared import adaptation

GATHERED = 4  # partial sums gathered from the workers and added here


@dataclass
class States:
    """An engine state: one future per bucket; ``moments``: the nested engine's carried
    means (its mean-variance adaptation starts from them when there are any)."""

    parts: list[Any]
    moments: bool = False


@dataclass
class DistributedData:
    """The problem's arrays as the fit sees them: kept on the workers, bucket by bucket."""

    layout: ClassVar[str] = "distributed"
    client: Any
    engines: list[Any]  # futures of PartitionEngine
    inner: str  # the buckets' layout: "clusters" or "nested"
    p: int
    cluster_weight: np.ndarray  # per top-level cluster, in the design's order
    busy: float = 0.0  # seconds spent waiting for the workers' results

    def gather(self, futures: Any) -> Any:
        """The futures' results (Stata's errors for a worker's), timed in ``busy``."""
        start = time.perf_counter()
        try:
            return gather(self.client, futures)
        finally:
            self.busy += time.perf_counter() - start

    @property
    def X(self) -> np.ndarray:
        """No rows here: only the number of columns is read from it."""
        return np.zeros((0, self.p))

    def logit_objective(self, constant_only: bool = False) -> DistributedLogit:
        """The fixed-effects (or constant-only) logit, summed over the buckets."""
        return DistributedLogit(self, constant_only)

    # ------------------------------------------------------------------ reductions
    def map(self, fn: Any, *args: Any, states: list[Any] | None = None) -> list[Any]:
        """``fn(engine, *args[, state])`` on every bucket (futures)."""
        submit = self.client.submit
        if states is None:
            return [submit(fn, e, *args, pure=False) for e in self.engines]
        return [
            submit(fn, e, *args, s, pure=False)
            for e, s in zip(self.engines, states, strict=True)
        ]

    def pick(self, futures: list[Any], i: int) -> list[Any]:
        return [self.client.submit(part.item, f, i, pure=False) for f in futures]

    def total(self, futures: list[Any]) -> Any:
        """The sum of the buckets' results, by a tree of additions on the workers whose
        last ``GATHERED`` (or fewer) partial sums are added here, in a fixed order (each
        level of the tree is a round trip: a few more numbers cost less)."""
        level = list(futures)
        while len(level) > GATHERED:
            pairs = [
                self.client.submit(part.add, level[i], level[i + 1], pure=False)
                for i in range(0, len(level) - 1, 2)
            ]
            level = pairs + ([level[-1]] if len(level) % 2 else [])
        pieces = self.gather(level)
        out = pieces[0]
        for piece in pieces[1:]:
            out = part.add(out, piece)
        return out


def gather(client: Any, futures: Any) -> Any:
    """The futures' results; a worker's Stata error is raised here as Stata's."""
    from melogit_cli.cluster.faults import remote_errors

    with remote_errors():
        return client.gather(futures)


class DaskEngine:
    """The Engine protocol over the buckets' engines."""

    layout: ClassVar[str] = "distributed"

    def __init__(
        self,
        data: DistributedData,
        cov: LevelCovariance | NestedCovariance,
        method: str,
        points: int,
    ) -> None:
        self.data = data
        self.cov = cov
        self.method = method
        self.points = Integration.of(method, points).points
        self.p = data.p
        self.adapt_tolerance = adaptation.TOLERANCE

    def start_state(self, beta: np.ndarray, theta: np.ndarray) -> States:
        return States(self.data.map(part.start_state, beta, theta))

    def loglik(
        self, beta: np.ndarray, theta: np.ndarray, state: States, *, floor: float | None = None
    ) -> tuple[float, States]:
        d = self.data
        if self.method != "mvaghermite":
            out = d.map(part.loglik, beta, theta, states=state.parts)
            return float(d.total(d.pick(out, 0))), States(d.pick(out, 1), state.moments)

        def one_pass(st: States) -> tuple[float, States]:
            out = d.map(part.one_pass, beta, theta, states=st.parts)
            return float(d.total(d.pick(out, 0))), States(d.pick(out, 1), True)

        def from_modes() -> States:
            return States(d.map(part.from_modes, beta, theta, states=state.parts), True)

        if d.inner == "clusters":
            return adaptation.adapt(
                one_pass,
                state,
                from_modes,
                floor=floor,
                tolerance=self.adapt_tolerance,
                sound=lambda st: all(d.gather(d.map(part.sound, theta, states=st.parts))),
            )
        carried = None
        if state.moments:
            carried = States(d.map(part.carried, theta, states=state.parts), True)
        return adaptation.adapt(
            one_pass, carried, from_modes, floor=floor, tolerance=self.adapt_tolerance
        )

    def derivatives(self, beta: np.ndarray, theta: np.ndarray, state: States) -> Evaluation:
        d = self.data
        ll, g, H = d.total(d.map(part.derivatives, beta, theta, states=state.parts))
        return Evaluation(float(ll), g, H)

    def cluster_scores(self, beta: np.ndarray, theta: np.ndarray, state: States) -> np.ndarray:
        d = self.data
        out = np.zeros((len(d.cluster_weight), self.p + self.cov.n_params))
        pieces = d.gather(d.map(part.cluster_scores, beta, theta, states=state.parts))
        for clusters, scores in pieces:
            out[clusters] = scores
        return out

    def objective(self, state: States) -> Objective:
        from melogit_cli.engine.fit import newton_objective

        return newton_objective(self, state)

    def refined_hessian(self, x: np.ndarray) -> None:
        """None: the buckets' engines refine no Hessian of their own."""
        del x


class DistributedLogit:
    """``LogitObjective`` summed over the buckets (the fixed-effects phase and start)."""

    def __init__(self, data: DistributedData, constant_only: bool) -> None:
        self.data = data
        self.constant_only = constant_only

    def value(self, b: np.ndarray, floor: float | None = None) -> float:
        del floor
        d = self.data
        return float(d.total(d.map(part.logit_value, b, self.constant_only)))

    def derivatives(self, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        d = self.data
        ll, g, H = d.total(d.map(part.logit_derivatives, b, self.constant_only))
        return float(ll), g, H

    def refined_hessian(self, b: np.ndarray) -> None:
        del b

    def irls_start(self) -> np.ndarray:
        d = self.data
        return irls_solution(*d.total(d.map(part.logit_irls, self.constant_only)))
