"""Python API: ``fit("melogit c_use i.urban age i.children || district:", "bangladesh.dta")``."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from melogit_cli.data.dataset import Dataset
from melogit_cli.data.loaders import load, load_frame
from melogit_cli.engine.events import EventSink, ignore
from melogit_cli.errors import StataError
from melogit_cli.estimate import Estimation, estimate
from melogit_cli.render import render_results
from melogit_cli.render.iterlog import IterationLog
from melogit_cli.results.eresults import EResults
from melogit_cli.syntax.parser import parse_melogit
from melogit_cli.syntax.spec import ModelSpec, Options

if TYPE_CHECKING:
    from melogit_cli.postest.wald import WaldResult


@dataclass
class Results:
    """A fitted model: ``e()`` results, the printed output and the notes."""

    e: EResults
    options: Options
    notes: list[str] = field(default_factory=list)
    log: str = ""
    estimation: Estimation | None = field(default=None, repr=False)
    data: Dataset | None = field(default=None, repr=False)

    @property
    def ll(self) -> float:
        return self.e.scalars["ll"]

    @property
    def converged(self) -> bool:
        return bool(self.e.scalars["converged"])

    @property
    def params(self) -> dict[str, float]:
        """e(b) by Stata's full column names."""
        return dict(zip(self.e.b.colnames, map(float, self.e.b.data[0]), strict=False))

    @property
    def bse(self) -> dict[str, float]:
        """Standard errors by Stata's full column names."""
        return dict(
            zip(self.e.b.colnames, map(float, np.sqrt(np.diag(self.e.V.data))), strict=False)
        )

    def table(self, **display: object) -> str:
        """The output as Stata prints it; keyword options override the display options."""
        opts = Options(**{**vars(self.options), **display})
        return render_results(self.e, opts)

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

    def to_json(self) -> dict:
        return self.e.to_json()

    def write_json(self, path: str | Path) -> None:
        self.e.write_json(path)

    # ------------------------------------------------------------ margins, marginsplot
    def margins_result(self, marginlist: str = "", **options: object):
        """Stata's ``margins`` as a :class:`melogit_cli.postest.margins.MarginsResult`.

        Options as in Stata: ``dydx="age"``, ``eyex=``, ``dyex=``, ``eydx=``,
        ``at="age=(-10(5)10)"`` (or ``{"age": [-10, 0, 10]}``), ``atmeans=True``,
        ``over="children"``, ``predict="mu fixedonly"``, ``level=90``.
        """
        from melogit_cli.postest import margins as lib

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


def as_dataset(data: str | Path | Dataset | object) -> Dataset:
    """A path (.dta/.csv), a Dataset, or a pandas DataFrame."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, Path)):
        return load(data)
    return load_frame(data)


def parse(command: str) -> ModelSpec:
    """The ModelSpec of a ``melogit`` command (the leading word is optional)."""
    return parse_melogit(command)


def run(
    spec: ModelSpec, ds: Dataset, sink: EventSink = ignore, progress: EventSink = ignore
) -> Estimation:
    """Fit a parsed command on a data set: ``sink`` gets the iteration log, ``progress``
    every event of the fit (even under ``nolog``)."""
    if spec.replay:
        raise StataError("last estimates not found", 301)
    return estimate(spec, ds, sink, progress)


def fit(command: str, data: str | Path | Dataset | object, *, log: bool = False) -> Results:
    """Fit a ``melogit`` command; with ``log=True`` the iteration log is kept in ``.log``."""
    spec = parse(command)
    ds = as_dataset(data)
    buffer = io.StringIO()
    est = run(spec, ds, IterationLog(buffer) if log else ignore)
    return Results(est.eresults, spec.options, est.notes, buffer.getvalue(), est, ds)


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
