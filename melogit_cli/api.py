"""Python API: ``fit("melogit c_use i.urban age i.children || district:", "bangladesh.dta")``."""

from __future__ import annotations

import functools
import html
import inspect
import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from melogit_cli.data.columns import Columns
from melogit_cli.data.dataset import Dataset
from melogit_cli.data.loaders import as_dataset
from melogit_cli.engine.events import ignore
from melogit_cli.errors import StataError
from melogit_cli.estimate import Estimation, estimate
from melogit_cli.render import render_results
from melogit_cli.render.iterlog import IterationLog
from melogit_cli.results.eresults import EResults, Matrix
from melogit_cli.results.names import level_path
from melogit_cli.results.rtable import ROWS, coef_table
from melogit_cli.results.varcomp import check_level
from melogit_cli.syntax.parser import parse_melogit
from melogit_cli.syntax.spec import ModelSpec, Options

if TYPE_CHECKING:
    import pandas as pd

    from melogit_cli.postest.wald import WaldResult
    from melogit_cli.results.lrtest import LRTest

T = TypeVar("T")

run = estimate  # a parsed command fitted on a data set, under the name the API has used


def accepts(fn: Callable[..., T]) -> Callable[..., T]:
    """Keyword arguments ``fn`` does not take raise StataError r(198) naming the ones it
    does, instead of a TypeError."""
    sig = inspect.signature(fn)
    allowed = [
        p.name for p in sig.parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]

    @functools.wraps(fn)
    def checked(*args: object, **kwargs: object) -> T:
        unknown = [k for k in kwargs if k not in allowed]
        if unknown:
            raise StataError(
                f"option {unknown[0]} not allowed; {fn.__name__}() takes "
                f"{', '.join(allowed) or 'no options'}",
                198,
            )
        try:
            sig.bind(*args, **kwargs)
        except TypeError as err:
            raise StataError(f"{fn.__name__}(): {err}", 198) from None
        return fn(*args, **kwargs)

    return checked


ON_CLUSTER = (
    "{} after a fit on a cluster are not available: its rows stay in the source data; "
    "fit the model in memory"
)


@dataclass
class Results:
    """A fitted model, statsmodels-like: ``params``, ``bse``, ``conf_int()``,
    ``summary()``, ``predict()``, ``random_effects()`` ...; ``e`` holds Stata's e()."""

    e: EResults
    options: Options
    notes: list[str] = field(default_factory=list)
    log: str = ""
    estimation: Estimation | None = None  # the design and fit (for predictions)
    data: Dataset | None = None  # the data the model was fit on

    # ------------------------------------------------------------ coefficients
    def _series(self, values: object, name: str) -> pd.Series:
        import pandas as pd

        return pd.Series(np.asarray(values, dtype=float), index=list(self.e.b.colnames), name=name)

    def _rtable(self, level: float = 95.0) -> np.ndarray:
        return coef_table(self.e, check_level(level)).data

    @property
    def params(self) -> pd.Series:
        """e(b), indexed by Stata's full column names (``c_use:1.urban``,
        ``/:var(_cons[district])``)."""
        return self._series(self.e.b.data[0], "coef")

    @property
    def bse(self) -> pd.Series:
        """Standard errors: the square roots of e(V)'s diagonal."""
        return self._series(np.sqrt(np.diag(self.e.V.data)), "std err")

    @property
    def tvalues(self) -> pd.Series:
        """z statistics as the table prints them (missing for variances and base levels)."""
        return self._series(self._rtable()[ROWS.index("z")], "z")

    @property
    def pvalues(self) -> pd.Series:
        """P>|z| as the table prints them (missing for variances and base levels)."""
        return self._series(self._rtable()[ROWS.index("pvalue")], "P>|z|")

    @accepts
    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Confidence intervals, columns ``lower``/``upper``: Wald intervals, and for
        variances Stata's interval on the log scale, as the table prints them."""
        import pandas as pd

        table = self._rtable(100.0 * (1.0 - alpha))
        return pd.DataFrame(
            {"lower": table[ROWS.index("ll")], "upper": table[ROWS.index("ul")]},
            index=list(self.e.b.colnames),
        )

    def cov_params(self) -> pd.DataFrame:
        """e(V) with e(b)'s names on both axes."""
        import pandas as pd

        names = list(self.e.b.colnames)
        return pd.DataFrame(np.array(self.e.V.data, dtype=float), index=names, columns=names)

    # ------------------------------------------------------------ fit statistics
    @property
    def llf(self) -> float:
        """The log likelihood, e(ll)."""
        return float(self.e.scalars["ll"])

    @property
    def ll(self) -> float:
        return self.llf

    @property
    def nobs(self) -> int:
        return int(self.e.scalars["N"])

    @property
    def aic(self) -> float:
        """``-2 ll + 2 df`` with df = e(rank), as ``estat ic``."""
        from melogit_cli.render.estimates_table import statistic

        return float(statistic(self.e, "aic"))

    @property
    def bic(self) -> float:
        """``-2 ll + ln(N) df``, N the number of observations, as ``estat ic``."""
        from melogit_cli.render.estimates_table import statistic

        return float(statistic(self.e, "bic"))

    @property
    def converged(self) -> bool:
        return bool(self.e.scalars["converged"])

    # ------------------------------------------------------------ display
    def table(self, **display: object) -> str:
        """The output as Stata prints it; keyword options override the display options."""
        opts = Options(**{**vars(self.options), **display})
        return render_results(self.e, opts)

    def summary(self) -> str:
        """Stata's header and coefficient table, as ``melogit`` prints them."""
        return render_results(self.e, self.options)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>"

    def __str__(self) -> str:
        return self.summary()

    # ------------------------------------------------------------ variance components
    @accepts
    def icc(self, level: float = 95.0) -> pd.DataFrame:
        """``estat icc``: one row per level (``district``, ``mother|family``), columns
        ``icc``, ``se``, ``lower``, ``upper``; the title is in ``.attrs["title"]``."""
        import pandas as pd

        from melogit_cli.results.varcomp import icc

        table = icc(self.e, level)
        frame = pd.DataFrame(
            [(r.icc, r.se, r.lo, r.hi) for r in table.rows],
            index=pd.Index([r.label for r in table.rows], name="level"),
            columns=["icc", "se", "lower", "upper"],
        )
        frame.attrs["title"] = table.title
        return frame

    @accepts
    def sd(self, level: float = 95.0) -> pd.DataFrame:
        """``estat sd``: standard deviations and correlations of the random effects
        (``/:sd(_cons[district])``), columns ``coef``, ``se``, ``lower``, ``upper``."""
        import pandas as pd

        from melogit_cli.results.varcomp import sd

        t = sd(self.e, level)
        return pd.DataFrame(
            {"coef": t.b, "se": t.se, "lower": t.lo, "upper": t.hi}, index=t.names
        )

    @accepts
    def recovariance(
        self, level: str | None = None, correlation: bool = False
    ) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """``estat recovariance``: a level's covariance (or correlation) matrix of its
        random effects; without ``level``, the one level's, or a dict by level."""
        import pandas as pd

        from melogit_cli.results.varcomp import recovariance

        found = recovariance(self.e, correlation=correlation, blocks=self._blocks())
        frames = {
            m.level: pd.DataFrame(m.matrix, index=m.terms, columns=m.terms) for m in found
        }
        return _by_level(frames, level)

    def _blocks(self) -> dict[str, list[list[str]]] | None:
        """Per level, the effects of each covariance block (from the design)."""
        if self.estimation is None:
            return None
        out: dict[str, list[list[str]]] = {}
        path: list[str] = []
        for lv in self.estimation.design.levels.levels:
            path.append(lv.name)
            out[level_path(path)] = [b.names for b in lv.blocks if not b.is_r]
        return out

    # ------------------------------------------------------------ predictions
    def _fitted(self) -> tuple[Estimation, Dataset]:
        if self.estimation is not None and self.estimation.design.rows is not None:
            raise StataError(ON_CLUSTER.format("predictions"), 321)
        if self.estimation is None or self.data is None:
            raise StataError("predictions require the data of the estimation; refit the model", 321)
        return self.estimation, self.data

    @accepts
    def random_effects(
        self, level: str | None = None, se: bool = True, conditional: str = "ebmeans",
        intpoints: int | None = None, iterate: int | None = None,
        tolerance: float | None = None,
    ) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """Empirical Bayes means (``conditional="ebmodes"``: modes) of the random effects,
        one row per group indexed by its id, one column per effect, with ``se(...)``
        columns for the posterior standard deviations; without ``level``, the one level's
        frame, or a dict of frames by level.  ``iterate``/``tolerance`` are predict's
        ``iterate(#)``/``tolerance(#)``."""
        import pandas as pd

        from melogit_cli.postest.effects import random_effects

        if conditional not in ("ebmeans", "ebmodes"):
            raise StataError(f"conditional({conditional}) invalid", 198)
        if iterate is not None and not (isinstance(iterate, int) and iterate >= 0):
            raise StataError("iterate() must be a nonnegative integer", 198)
        if tolerance is not None and not (
            isinstance(tolerance, int | float) and tolerance > 0
        ):
            raise StataError("tolerance() invalid", 198)
        est, ds = self._fitted()
        sample_rows = np.flatnonzero(est.design.sample)
        frames = {}
        for lev in random_effects(
            est, estimator=conditional, points=intpoints, iterate=iterate, tolerance=tolerance
        ):
            # each unit's ids along its path, read at its first row
            _, first = np.unique(lev.unit, return_index=True)
            variables = [v for v in lev.level.split(">") if v != "_all"] or ["_all"]
            ids = [_id_values(ds, v, sample_rows[first]) for v in variables]
            index = (
                pd.Index(ids[0], name=variables[0]) if len(ids) == 1
                else pd.MultiIndex.from_arrays(ids, names=variables)
            )
            cols = {t: lev.mean[:, i] for i, t in enumerate(lev.names)}
            if se:
                cols.update({f"se({t})": lev.se[:, i] for i, t in enumerate(lev.names)})
            frames[lev.level] = pd.DataFrame(cols, index=index)
        return _by_level(frames, level)

    @accepts
    def predict(
        self, data: object = None, which: str = "mu", conditional: str | None = None,
        marginal: bool = False, offset: bool = True, intpoints: int | None = None,
        iterate: int | None = None, tolerance: float | None = None,
    ) -> pd.Series | pd.DataFrame:
        """Stata's ``predict`` on the fit's data (or on ``data``): ``which`` is the
        statistic (``mu``, ``eta``, ``xb``, ``stdp``, ``reffects``, ``reses`` ...),
        ``conditional`` one of ``ebmeans``, ``ebmodes``, ``fixedonly``; ``iterate`` and
        ``tolerance`` bound the empirical Bayes computations, as predict's options.  One statistic
        gives a Series; several variables (``reffects``) a DataFrame.  On other data
        no observation is in e(sample): use ``conditional="fixedonly"`` or ``marginal``.
        """
        import pandas as pd

        from melogit_cli.interp.registry import lookup
        from melogit_cli.interp.session import Estimate, Output, Session

        est, ds = self._fitted()
        if not (isinstance(which, str) and which.isidentifier()):
            raise StataError(f"option {which} not allowed", 198)
        words = [which]
        if conditional is not None:
            if conditional not in ("ebmeans", "ebmodes", "fixedonly"):
                raise StataError(f"conditional({conditional}) invalid", 198)
            words.append(f"conditional({conditional})")
        if marginal:
            words.append("marginal")
        if not offset:
            words.append("nooffset")
        if intpoints is not None:
            words.append(f"intpoints({int(intpoints)})")
        if iterate is not None:
            words.append(f"iterate({iterate})")
        if tolerance is not None:
            words.append(f"tolerance({tolerance!r})")
        target = ds if data is None else as_dataset(data)
        copy = replace(target, frame=_frame_copy(target.frame))
        session = Session(Output(io.StringIO()))
        session.set_data(copy)
        ids = (
            session.row_ids[est.design.sample] if data is None else np.zeros(0, dtype=np.int64)
        )
        session.current = Estimate(self.e, est, ids, self.options)
        stub = "_pred"
        lookup("predict").handler(session, f"double {stub}*, {' '.join(words)}")
        frame = session.data().frame
        new = [c for c in frame.columns if c not in target.varnames]
        index = data.index if isinstance(data, pd.DataFrame) else None
        labels = session.data().variable_labels
        out = pd.DataFrame(
            {_column_name(labels.get(c, ""), which, i): frame[c].to_numpy()
             for i, c in enumerate(new)},
        )
        if index is not None:
            out.index = index
        return out.iloc[:, 0] if out.shape[1] == 1 else out

    # ------------------------------------------------------------ tests and storage
    @accepts
    def lrtest(self, other: Results, df: float | None = None, force: bool = False) -> LRTest:
        """``lrtest``: this model against ``other``; the one with fewer parameters is
        the restricted one (``.restricted``/``.unrestricted`` are ``"self"``/``"other"``)."""
        from melogit_cli.results.lrtest import lrtest

        if not isinstance(other, Results):
            raise StataError("lrtest() needs another fitted model (a Results)", 198)
        return lrtest(self.e, other.e, ("self", "other"), df=df, force=force)

    # ------------------------------------------------------------ after the fit: tests
    def test(self, spec: str, *, mtest: str = "") -> WaldResult:
        """Stata's ``test``: ``r.test("1.urban = age")``, ``r.test("(1.urban) (age)")``;
        ``mtest`` = ``"noadjust"``, ``"bonferroni"``, ``"holm"`` or ``"sidak"``."""
        from melogit_cli.postest.coefs import CoefNames
        from melogit_cli.postest.wald import parse_test, wald

        return wald(self.e, parse_test(spec, CoefNames.of(self.e)), mtest)

    def testparm(self, varlist: str, *, equal: bool = False) -> WaldResult:
        """Stata's ``testparm``: ``r.testparm("i.children")``."""
        from melogit_cli.postest.coefs import CoefNames
        from melogit_cli.postest.wald import testparm_constraints, wald

        return wald(self.e, testparm_constraints(CoefNames.of(self.e), varlist, equal))

    def lincom(self, expr: str, *, eform: bool = False, level: float = 95.0):
        """Stata's ``lincom``: one row (estimate, se, z, p, ll, ul) as a pandas DataFrame;
        ``eform=True`` reports the odds ratio ``exp(estimate)``."""
        from melogit_cli.postest.combinations import lincom

        return lincom(self.e, expr, level, "or" if eform else "").to_frame()

    def nlcom(self, spec: str, *, level: float = 95.0):
        """Stata's ``nlcom``: ``r.nlcom("(ratio: _b[1.urban]/_b[age]) exp(_b[age])")`` gives
        one row per expression (estimate, se, z, p, ll, ul) by the delta method."""
        from melogit_cli.postest.combinations import nlcom

        return nlcom(self.e, spec, level).to_frame()

    # ------------------------------------------------------------ margins, marginsplot
    def margins_result(self, marginlist: str = "", **options: object):
        """Stata's ``margins`` as a :class:`melogit_cli.postest.margins.MarginsResult`.

        Options as in Stata: ``dydx="age"``, ``eyex=``, ``dyex=``, ``eydx=``,
        ``at="age=(-10(5)10)"`` (or ``{"age": [-10, 0, 10]}``), ``atmeans=True``,
        ``over="children"``, ``predict="mu fixedonly"``, ``level=90``,
        ``noestimcheck=True``, ``emptycells="strict"``.
        """
        from melogit_cli.postest import margins as lib

        if self.estimation is not None and self.estimation.design.rows is not None:
            raise StataError(ON_CLUSTER.format("margins"), 321)
        if self.estimation is None or self.data is None:
            raise StataError("margins requires the data of the estimation; refit the model", 321)
        request = lib.make_request(marginlist, **options)  # type: ignore[arg-type]
        design = self.estimation.design
        model = lib.margins_model(self.e, design)
        rows = np.flatnonzero(design.sample)
        sample = lib.sample_from(self.data.frame, rows, design.obs_weight, model,
                                 tuple(request.over))
        result = lib.compute_margins(model, sample, request)
        self._margins = result
        return result

    def margins(self, marginlist: str = "", **options: object):
        """Margins as a pandas DataFrame (estimate, se, z, p, ll, ul), indexed by margin;
        the options are those of :meth:`margins_result`."""
        return self.margins_result(marginlist, **options).frame()

    def margins_text(self, marginlist: str = "", **options: object) -> str:
        """The margins table as Stata prints it."""
        from melogit_cli.postest.margins_render import margins_lines

        return "\n".join(margins_lines(self.margins_result(marginlist, **options))) + "\n"

    def marginsplot(self, *, title: str | None = None, noci: bool = False,
                    saving: str | Path | None = None, replace: bool = False):
        """A matplotlib Figure of the last :meth:`margins` (Stata's default plot); with
        ``saving`` also written as PNG or SVG by the file's extension."""
        from melogit_cli.postest import marginsplot as plot

        result = getattr(self, "_margins", None)
        if result is None:
            raise StataError("previous command was not margins", 301)
        if saving is not None:
            plot.output_format(saving)
        fig = plot.figure(result, title=title, noci=noci)
        if saving is not None:
            plot.save(fig, saving, replace)
        return fig

    def to_json(self) -> dict:
        return self.e.to_json()

    def write_json(self, path: str | Path) -> None:
        self.e.write_json(path)


def _by_level(frames: dict[str, T], level: str | None) -> T | dict[str, T]:
    """The frame of ``level``; without it, the only one, or all by level."""
    if level is None:
        return next(iter(frames.values())) if len(frames) == 1 else frames
    if level not in frames:
        raise StataError(
            f"level({level}) invalid: the levels are {', '.join(frames)}", 198
        )
    return frames[level]


def _id_values(ds: Dataset, var: str, rows: np.ndarray) -> np.ndarray:
    """The ids of the groups: strings as they are, whole numbers as integers."""
    if var == "_all":
        return np.ones(len(rows), dtype=np.int64)
    values = ds.frame[var].to_numpy()[rows]
    if values.dtype != object and np.all(np.isfinite(values)):
        if np.all(values == np.round(values)):
            return values.astype(np.int64)
    return values


def _frame_copy(frame: object) -> object:
    """A frame predict may add variables to without touching the caller's data."""
    copy = getattr(frame, "copy", None)
    return copy() if callable(copy) and not isinstance(frame, Columns) else frame


def _column_name(label: str, which: str, i: int) -> str:
    """``_cons[district]`` from predict's label ``empirical Bayes' means for
    _cons[district]``; else the statistic's name (numbered when there are several)."""
    head, sep, tail = label.rpartition(" for ")
    return tail if sep and tail else (which if i == 0 else f"{which}{i + 1}")


def parse(command: str) -> ModelSpec:
    """The ModelSpec of a ``melogit`` command (the leading word is optional)."""
    return parse_melogit(command)


@accepts
def fit(
    command: str,
    data: str | Path | Dataset | object,
    *,
    log: bool = False,
    constraints: dict[int, str] | None = None,
    matrices: dict[str, Matrix] | None = None,
    client: object | None = None,
) -> Results:
    """Fit a ``melogit`` command on a .dta/.csv/.parquet path or glob, a pandas DataFrame
    (numeric, string, bool and categorical columns) or a dict of arrays; with
    ``log=True`` the iteration log is kept in ``.log``.  With a Dask ``client`` (or a
    Dask DataFrame, on the default client) the fit runs on that cluster.
    ``constraints`` defines the constraints ``constraints(numlist)``
    names (``{1: "[c_use]1.children = [c_use]2.children"}``, as ``constraint define``);
    ``matrices`` the matrices ``covariance(fixed())``/``pattern()`` and ``from()`` name.
    Errors raise StataError with Stata's message and code."""
    spec = parse(command)
    buffer = io.StringIO()
    sink = IterationLog(buffer) if log else ignore
    if client is not None or _is_dask_frame(data):
        from melogit_cli.cluster.run import default_client, fit_on_cluster

        if spec.replay:
            raise StataError("last estimates not found", 301)
        est, ds = fit_on_cluster(
            spec, data, client or default_client(), sink, ignore, constraints, matrices
        )
        return Results(est.eresults, spec.options, est.notes, buffer.getvalue(), est, ds)
    ds = as_dataset(data)
    est = estimate(spec, ds, sink, ignore, constraints, matrices)
    return Results(est.eresults, spec.options, est.notes, buffer.getvalue(), est, ds)


def _is_dask_frame(data: object) -> bool:
    """A Dask DataFrame (told without importing dask)."""
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(
        data, "npartitions"
    )


def run_dofile(path: str | Path, *, data: str | Path | Dataset | object | None = None):
    """Run a do-file; returns ``(session, failure)`` where ``session.out.stream`` holds the
    log text and ``failure`` is None or the line, command and StataError it stopped at."""
    from melogit_cli.interp.runner import run_dofile as _run
    from melogit_cli.interp.session import Output, Session

    session = Session(Output(io.StringIO()))
    if data is not None:
        session.set_data(as_dataset(data))
    return _run(path, session.out.stream, session)


# ---------------------------------------------------------------------- estimates tables


def _named(results: Results | dict[str, Results] | list[Results]) -> list[tuple[str, EResults]]:
    """Models as (name, e()): a dict keeps its keys; a list is named (1), (2), ..."""
    if isinstance(results, Results):
        results = [results]
    if isinstance(results, dict):
        return [(str(k), r.e) for k, r in results.items()]
    return [(f"({i})", r.e) for i, r in enumerate(results, start=1)]


def _table_options(options: dict) -> object:
    """Keyword options of :func:`compare` as the table's options: ``se=True`` or
    ``se="%9.3f"`` (likewise ``t``, ``p``), ``star=True`` or ``star=(.1, .05, .01)``."""
    from melogit_cli.render.estimates_table import TableOptions

    opts = dict(options)
    for key in ("se", "t", "p"):
        if isinstance(opts.get(key), str):
            opts[f"{key}_fmt"], opts[key] = opts[key], True
    if isinstance(opts.get("star"), (tuple, list)):
        opts["star_levels"], opts["star"] = opts["star"], False
    for key in ("stats", "keep", "drop"):
        if isinstance(opts.get(key), str):
            opts[key] = opts[key].split()
    try:
        return TableOptions(**opts)
    except TypeError as err:
        raise StataError(f"option {str(err).split()[-1]} not allowed", 198) from None


def compare(results: Results | dict[str, Results] | list[Results], **options: object):
    """Stored models side by side as a DataFrame (rows equation, coefficient, b|se|t|p and
    the statistics); its ``.to_string()`` is Stata's ``estimates table`` layout.
    ``compare({"r_int": r1, "r_urban": r2}, se=True, stats=["N", "ll", "aic", "bic"])``."""
    from melogit_cli.render.estimates_table import estimates_frame

    return estimates_frame(_named(results), _table_options(options))


def estimates_table(
    results: Results | dict[str, Results] | list[Results], **options: object
) -> str:
    """Stata's ``estimates table`` of the models (options as :func:`compare`)."""
    from melogit_cli.render.estimates_table import estimates_table as table

    return table(_named(results), _table_options(options))


def estimates_stats(results: Results | dict[str, Results] | list[Results]) -> str:
    """Stata's ``estimates stats``: N, ll, df, AIC and BIC of each model."""
    from melogit_cli.render.estimates_table import estimates_stats as stats

    return stats(_named(results))


def information_criteria(results: Results | dict[str, Results] | list[Results]):
    """The numbers of :func:`estimates_stats` as a DataFrame, one row per model."""
    from melogit_cli.render.estimates_table import information_criteria as ic

    return ic(_named(results))


def _compare_with(
    self: Results, others: dict[str, Results] | None = None, *, name: str = "Active",
    **options: object,
):
    """This model (as ``name``) and ``others`` side by side: :func:`compare`."""
    return compare({name: self, **(others or {})}, **options)


Results.compare = _compare_with  # type: ignore[attr-defined]
