"""The benchmark cases: our command, the peers' formula and integration points, the data."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from suite import data

PEERS = ("glmm", "glmer", "glmmtmb")


@dataclass(frozen=True)
class Case:
    """One model fitted by every runner on the same CSV.

    ``formula`` is the lme4-style formula that glmm, glmer and glmmTMB all read;
    ``factors`` are the columns they turn into factors (covariates written ``i.`` in our
    command, and the grouping variables). ``nagq`` gives each peer's adaptive quadrature
    points (1 = Laplace; glmmTMB has only Laplace); ``dims`` is the number of random
    effects integrated jointly, for the method label (7 points x 2 dims = "AGQ 7x7").
    """

    name: str
    title: str
    build: Callable[[Path], Path]
    command: str
    formula: str
    factors: tuple[str, ...]
    nagq: dict[str, int]
    dims: int = 1
    slow: bool = False
    slow_peers: frozenset[str] = field(default_factory=frozenset)
    note: str = ""

    @property
    def laplace_command(self) -> str | None:
        """Our command with ``intmethod(laplace)``, for a same-method comparison with the
        peers that fit by Laplace; None when ours is Laplace already (crossed models)."""
        if "R." in self.command:
            return None
        command = re.sub(r",?\s*intpoints\(\d+\)", "", self.command)  # not with Laplace
        sep = " " if "," in command else ", "
        return f"{command}{sep}intmethod(laplace)"


def method_label(points: int, dims: int = 1) -> str:
    """'Laplace' for one point, else 'AGQ 7' or 'AGQ 7x7'."""
    return "Laplace" if points <= 1 else "AGQ " + "x".join([str(points)] * dims)


BANGLA_X = "c_use ~ urban + age + children"
GUIM_X = "immun ~ kid2p + mom25p + orderc + eth + wed + hed + everwork + rural + pcind81"

CASES: tuple[Case, ...] = (
    Case(
        "ex1",
        "manual example 1: bangladesh, random intercept",
        data.bangladesh,
        "melogit c_use i.urban age i.children || district:",
        f"{BANGLA_X} + (1 | district)",
        ("urban", "children", "district"),
        {"glmm": 7, "glmer": 7, "glmmtmb": 1},
    ),
    Case(
        "ex2",
        "manual example 2: bangladesh, correlated intercept and urban slope",
        data.bangladesh,
        "melogit c_use i.urban age i.children || district: i.urban, covariance(unstructured)",
        f"{BANGLA_X} + (1 + urban | district)",
        ("urban", "children", "district"),
        {"glmm": 7, "glmer": 1, "glmmtmb": 1},
        dims=2,
        note="glmer: nAGQ > 1 needs a single scalar random effect, so Laplace",
    ),
    Case(
        "hospital",
        "lr2 hospital deliveries, 12 points",
        data.hospital,
        "melogit hosp loginc distance dropout college || mother:, intpoints(12)",
        "hosp ~ loginc + distance + dropout + college + (1 | mother)",
        ("mother",),
        {"glmm": 13, "glmer": 12, "glmmtmb": 1},
        note="glmm takes odd nagq only: 13 points",
    ),
    Case(
        "guimmun",
        "lr3 Guatemalan immunization, 3 levels",
        data.guimmun,
        "melogit immun kid2p mom25p i.orderc i.eth i.wed i.hed everwork rural pcind81"
        " || cluster: || mom:",
        f"{GUIM_X} + (1 | cluster) + (1 | cluster:mom)",
        ("orderc", "eth", "wed", "hed", "cluster", "mom"),
        {"glmm": 1, "glmer": 1, "glmmtmb": 1},
        slow_peers=frozenset({"glmer"}),
        note="peers: Laplace (no quadrature for nested effects)",
    ),
    Case(
        "fifeschool",
        "manual example 5: fifeschool, crossed sid x pid",
        data.fifeschool,
        "melogit attain_gt_6 sex || _all:R.sid || pid:",
        "attain_gt_6 ~ sex + (1 | sid) + (1 | pid)",
        ("sid", "pid"),
        {"glmm": 1, "glmer": 1, "glmmtmb": 1},
    ),
    Case(
        "verbagg",
        "lme4 VerbAgg: 316 subjects x 24 items, crossed",
        data.verbagg,
        "melogit r2 Anger i.Gender i.btype i.situ || _all:R.item || id:",
        "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
        ("Gender", "btype", "situ", "id", "item"),
        {"glmm": 1, "glmer": 1, "glmmtmb": 1},
    ),
    Case(
        "ri100k",
        "simulated: 100,000 obs in 5,000 clusters, random intercept",
        data.ri100k,
        "melogit y x1 x2 || g:",
        "y ~ x1 + x2 + (1 | g)",
        ("g",),
        {"glmm": 7, "glmer": 7, "glmmtmb": 1},
        slow_peers=frozenset({"glmer"}),
    ),
    Case(
        "three100k",
        "simulated: 100,000 obs, 500 x 10 nested clusters of 20",
        data.three100k,
        "melogit y x1 x2 || top: || mid:",
        "y ~ x1 + x2 + (1 | top) + (1 | mid)",
        ("top", "mid"),
        {"glmm": 1, "glmer": 1, "glmmtmb": 1},
        slow_peers=frozenset({"glmer", "glmmtmb"}),
        note="peers: Laplace (no quadrature for nested effects)",
    ),
    Case(
        "slope1m",
        "simulated: 1,000,000 obs in 20,000 clusters, correlated intercept and slope",
        data.slope1m,
        "melogit y x z || g: x, covariance(unstructured)",
        "y ~ x + z + (1 + x | g)",
        ("g",),
        {"glmm": 7, "glmer": 1, "glmmtmb": 1},
        dims=2,
        slow=True,
        note="glmer: Laplace (vector random effect)",
    ),
)


def select(names: list[str] | None, quick: bool) -> list[Case]:
    """The cases named (all by default); ``quick`` drops the slow ones unless named."""
    if names:
        known = {c.name: c for c in CASES}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SystemExit(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(known)}")
        return [known[n] for n in names]
    return [c for c in CASES if not (quick and c.slow)]
