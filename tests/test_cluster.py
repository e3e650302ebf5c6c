"""Fits on a Dask cluster (a local cluster of 2 worker processes) give the in-memory fit's
output, digit for digit, and e() to 1e-8; a worker lost during the fit is survived."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")
pytest.importorskip("dask.dataframe")
import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from melogit_cli.api import fit, parse  # noqa: E402
from melogit_cli.cluster.run import fit_on_cluster  # noqa: E402
from melogit_cli.engine.events import Iteration, PhaseStart  # noqa: E402
from melogit_cli.errors import StataError  # noqa: E402
from melogit_cli.results.eresults import EResults  # noqa: E402

pytestmark = pytest.mark.dask
EXAMPLE1 = "melogit c_use i.urban age i.children || district:"
THREE_LEVEL = "melogit y x || school: || class:, intpoints(5)"


@pytest.fixture(scope="session")
def client():
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def same_e(a: EResults, b: EResults, tol: float = 1e-8) -> None:
    """Every e() scalar, macro and matrix of ``a`` is ``b``'s (numbers to ``tol``)."""
    assert a.macros == b.macros
    assert a.scalars.keys() == b.scalars.keys()
    for k, v in a.scalars.items():
        assert np.isclose(v, b.scalars[k], rtol=tol, atol=tol, equal_nan=True), k
    assert a.matrices.keys() == b.matrices.keys()
    for k, m in a.matrices.items():
        other = b.matrices[k]
        assert (m.rownames, m.colnames) == (other.rownames, other.colnames), k
        x, y = np.asarray(m.data, dtype=float), np.asarray(other.data, dtype=float)
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol, err_msg=k)


def simulate(n_school: int = 400, n_class: int = 10, n_pupil: int = 50) -> pd.DataFrame:
    """Pupils in classes in schools (200,000 rows): y on x, school and class intercepts."""
    rng = np.random.default_rng(1)
    school = np.repeat(np.arange(n_school), n_class * n_pupil)
    klass = np.tile(np.repeat(np.arange(n_class), n_pupil), n_school)
    x = rng.normal(size=school.size)
    u = rng.normal(scale=0.8, size=n_school)[school]
    v = rng.normal(scale=0.5, size=(n_school, n_class))[school, klass]
    eta = -0.3 + 0.7 * x + u + v
    y = (rng.random(school.size) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"school": school, "class": klass, "x": x, "y": y})


def test_example_1_through_dask(client: Client) -> None:
    memory = fit(EXAMPLE1 + ", or", DATA / "bangladesh.dta")
    dask_fit = fit(EXAMPLE1 + ", or", DATA / "bangladesh.dta", client=client)
    assert dask_fit.summary() == memory.summary()
    same_e(dask_fit.e, memory.e)


def test_three_level_model_of_200000_rows(client: Client) -> None:
    df = simulate()
    assert len(df) == 200_000
    memory = fit(THREE_LEVEL, df)
    ddf = dd.from_pandas(df, npartitions=4, sort=False)
    dask_fit = fit(THREE_LEVEL, ddf, client=client)
    assert dask_fit.summary() == memory.summary()
    same_e(dask_fit.e, memory.e)


def test_a_worker_killed_in_the_third_newton_iteration(client: Client) -> None:
    memory = fit(EXAMPLE1, DATA / "bangladesh.dta")
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed: list[int] = []
    phase = [""]

    def sink(event: object) -> None:
        if isinstance(event, PhaseStart):
            phase[0] = event.title
        if (
            isinstance(event, Iteration)
            and phase[0] == "Fitting full model"
            and event.number == 2  # iteration 2 logged: the third is under way
            and not killed
        ):
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    est, _ = fit_on_cluster(parse(EXAMPLE1), str(DATA / "bangladesh.dta"), client, sink)
    assert killed == [victim]
    np.testing.assert_allclose(est.eresults.b.data, memory.e.b.data, rtol=0, atol=1e-8)
    same_e(est.eresults, memory.e)
    client.wait_for_workers(2, timeout=60)


@pytest.mark.parametrize("name", ["b.parquet", "parts/*.csv"])
def test_parquet_and_csv_parts_give_the_single_csv_fit(
    client: Client, stored: Path, name: str
) -> None:
    memory = fit(EXAMPLE1, DATA / "bangladesh.csv")
    dask_fit = fit(EXAMPLE1, str(stored / name), client=client)
    assert dask_fit.summary() == memory.summary()
    same_e(dask_fit.e, memory.e)


@pytest.mark.parametrize("names", [("a", "b"), ("p2", "p10")])
def test_parquet_files_whose_categories_differ_in_order(
    client: Client, tmp_path: Path, names: tuple[str, str]
) -> None:
    """Each file's dictionary lists the categories in its own order, and the second file
    has one the first lacks: every partition codes them alike, as the in-memory loader
    does after joining the files (village 0, town 1, city 2), and the fits agree; files
    join in natural order (p2 before p10) in memory as on the cluster."""
    df = pd.read_csv(DATA / "bangladesh.csv")
    df["place"] = np.where(df["urban"] == 1, "town", "village")
    half = len(df) // 2
    first, second = df.iloc[:half].copy(), df.iloc[half:].copy()
    second.loc[(second["urban"] == 1) & (second["age"] > 10), "place"] = "city"
    first["place"] = pd.Categorical(first["place"], categories=["village", "town"])
    second["place"] = pd.Categorical(second["place"], categories=["town", "city", "village"])
    first.to_parquet(tmp_path / f"{names[0]}.parquet")
    second.to_parquet(tmp_path / f"{names[1]}.parquet")
    command = "melogit c_use i.place age || district:"
    memory = fit(command, str(tmp_path))
    assert memory.e.b.colnames[:3] == ["c_use:0b.place", "c_use:1.place", "c_use:2.place"]
    dask_fit = fit(command, str(tmp_path), client=client)
    assert dask_fit.summary() == memory.summary()
    same_e(dask_fit.e, memory.e)


def test_crossed_models_are_refused(client: Client) -> None:
    with pytest.raises(StataError) as info:
        fit("melogit c_use age || _all: R.district", DATA / "bangladesh.dta", client=client)
    assert info.value.rc == 198
    assert info.value.message == (
        "crossed random effects (R.varname) cannot be fitted on a cluster: their "
        "clusters do not split into independent parts; fit the model in memory"
    )


def test_a_file_that_vanished(client: Client, tmp_path: Path) -> None:
    df = pd.read_csv(DATA / "bangladesh.csv")
    for i, rows in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[rows].to_csv(tmp_path / f"p{i}.csv", index=False)
    ddf = dd.read_csv(str(tmp_path / "*.csv"))
    (tmp_path / "p1.csv").unlink()
    with pytest.raises(StataError) as info:
        fit(EXAMPLE1, ddf, client=client)
    assert info.value.rc == 601
    assert info.value.message == f"file {tmp_path}/p1.csv not found"


def test_an_unreachable_scheduler() -> None:
    from melogit_cli.cluster.connect import client_for

    with pytest.raises(StataError) as info:
        with client_for("tcp://127.0.0.1:9", None, False, io.StringIO(), timeout="1s"):
            pass
    assert info.value.rc == 677
    assert info.value.message.startswith(
        "could not connect to the Dask scheduler at tcp://127.0.0.1:9 ("
    )


def test_a_worker_without_the_package() -> None:
    import importlib.metadata

    from melogit_cli.cluster.connect import check_workers
    from melogit_cli.cluster.faults import remote_errors

    message = (
        "a Dask worker cannot import melogit_cli: install melogit-cli on every worker "
        "(pip install 'melogit-cli[dask]')"
    )
    with pytest.raises(StataError) as info, remote_errors():
        raise ModuleNotFoundError("No module named 'melogit_cli'", name="melogit_cli")
    assert (info.value.rc, info.value.message) == (199, message)

    class Missing:
        def run(self, *args: object) -> None:
            raise importlib.metadata.PackageNotFoundError("melogit-cli")

    with pytest.raises(StataError) as info:
        check_workers(Missing())
    assert (info.value.rc, info.value.message) == (199, message)


def test_without_dask(monkeypatch: pytest.MonkeyPatch) -> None:
    from melogit_cli.cluster import require_dask

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(StataError) as info:
        require_dask()
    assert (info.value.rc, info.value.message) == (
        199,
        "fitting on a cluster requires dask: pip install 'melogit-cli[dask]'",
    )


def test_cluster_options_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from melogit_cli.commandline import ClusterOptions, _run, run_command

    out = io.StringIO()
    rc = run_command(EXAMPLE1, str(DATA / "bangladesh.dta"), None, out, ClusterOptions(workers=0))
    assert rc == 198
    assert capsys.readouterr().err == "--workers must be a positive integer\nr(198);\n"
    assert _run(None, None, False, ("do", "x.do"), ClusterOptions(workers=2)) == 1
    assert capsys.readouterr().err == (
        "--scheduler and --workers apply to one melogit command\nr(198);\n"
    )


def test_the_progress_line_shows_the_cluster_time(client: Client) -> None:
    class Status:
        note = ""
        events: list[object] = []

        def __call__(self, event: object) -> None:
            self.events.append(event)

    status = Status()
    fit_on_cluster(parse(EXAMPLE1), str(DATA / "bangladesh.dta"), client, progress=status)
    assert any(isinstance(e, Iteration) for e in status.events)
    assert re.fullmatch(r"cluster \d+\.\ds/iteration", status.note)


def test_the_dashboard_link(capsys: pytest.CaptureFixture[str]) -> None:
    from melogit_cli.cluster.connect import client_for

    out = io.StringIO()
    with client_for(None, 1, True, out) as c:
        link = c.dashboard_link
    assert out.getvalue() == f"(Dask dashboard: {link})\n"


@pytest.fixture(scope="module")
def bangladesh() -> pd.DataFrame:
    df = pd.read_csv(DATA / "bangladesh.csv")
    df["w"] = 1 + (df.index % 3) * 0.5
    df["region"] = df["district"] // 10
    return df


@pytest.mark.parametrize(
    "command",
    [
        "melogit c_use i.urban age i.children [pw=w] || district:, vce(robust)",
        "melogit c_use i.urban age || district: urban, cov(unstructured) intmethod(mcaghermite)",
        "melogit c_use age || region: || district:, intmethod(laplace)",
        "melogit y i.urban || district:, binomial(n)",
    ],
)
def test_weights_scores_slopes_nesting_and_trials(
    client: Client, bangladesh: pd.DataFrame, command: str
) -> None:
    data = bangladesh
    if "binomial" in command:
        data = bangladesh.groupby(["district", "urban"], as_index=False).agg(
            y=("c_use", "sum"), n=("c_use", "size")
        )
    memory = fit(command, data)
    dask_fit = fit(command, dd.from_pandas(data, npartitions=3, sort=False), client=client)
    assert dask_fit.summary() == memory.summary()
    same_e(dask_fit.e, memory.e)


def test_dnumerical_is_refused(client: Client) -> None:
    with pytest.raises(StataError) as info:
        fit(EXAMPLE1 + ", dnumerical", DATA / "bangladesh.dta", client=client)
    assert (info.value.rc, info.value.message) == (
        198,
        "option dnumerical not allowed with a fit on a cluster",
    )


def test_parts_whose_types_differ(client: Client, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("y,x,g\n1,2,1\n0,3,1\n")
    (tmp_path / "b.csv").write_text("y,x,g\n1,two,2\n0,3,2\n")
    with pytest.raises(StataError) as info:
        fit("melogit y x || g:", str(tmp_path / "*.csv"), client=client)
    assert info.value.rc == 610
    assert info.value.message.startswith(
        f"file {tmp_path}/*.csv could not be read as one data set ("
    )


def test_only_the_models_columns_are_read() -> None:
    from melogit_cli.cluster.run import model_columns

    names = ["district", "c_use", "urban", "age", "child1", "child2", "children", "w"]
    command = "melogit c_use i.urban age child* if w > 0 || distr:, or"
    assert model_columns("melogit c_use age || district:", names) == ["district", "c_use", "age"]
    assert model_columns(command, names + ["unused"]) == names


# ------------------------------------------------- the design decided by passes over partitions


@pytest.fixture(scope="module")
def by_children(bangladesh: pd.DataFrame) -> pd.DataFrame:
    """Sorted by the number of children: each partition holds only some of its levels; with
    a collinear column, a perfect predictor and a cluster variable."""
    df = bangladesh.sort_values(["children", "district"], kind="stable").reset_index(drop=True)
    df["age2"] = 2 * df["age"] - 3
    df["pp"] = ((df["c_use"] == 1) & (df["district"] % 7 == 0)).astype(float)
    df["f"] = 1 + df.index % 2
    return df


@pytest.mark.parametrize(
    ("command", "note"),
    [
        (
            "melogit c_use i.urban age ib(freq).children#c.age if age > -9 in 40/1900 "
            "|| district:",
            "",
        ),
        (
            "melogit c_use age age2 i.children || district:",
            "note: age2 omitted because of collinearity.",
        ),
        (
            "melogit c_use pp age i.urban [fw=f] || district:",
            "note: pp != 0 predicts success perfectly;",
        ),
        ("melogit c_use age i.urban || district:, vce(cluster region)", ""),
    ],
)
def test_the_design_from_partitions(
    client: Client, by_children: pd.DataFrame, command: str, note: str
) -> None:
    memory = fit(command, by_children)
    ddf = dd.from_pandas(by_children, npartitions=4, sort=False)
    levels = [set(p["children"].unique()) for p in ddf.partitions]
    assert len({frozenset(s) for s in levels}) > 1  # the partitions' levels differ
    dask_fit = fit(command, ddf, client=client)
    assert dask_fit.summary() == memory.summary()
    same_e(dask_fit.e, memory.e)
    assert dask_fit.notes == memory.notes
    assert not note or any(n.startswith(note) for n in memory.notes)


def test_positional_expressions_are_refused(client: Client, bangladesh: pd.DataFrame) -> None:
    ddf = dd.from_pandas(bangladesh, npartitions=2, sort=False)
    for expr, word in [("_n > 5", "_n"), ("age[_n-1] < 0", "subscript"), ("sum(age) < 0", "sum()")]:
        with pytest.raises(StataError) as info:
            fit(f"melogit c_use age if {expr} || district:", ddf, client=client)
        assert (info.value.rc, info.value.message) == (
            198,
            f"{word} not allowed in if or weights of a fit on a cluster "
            "(its rows are split among partitions)",
        )


def test_no_rows_are_kept_on_the_client(client: Client, bangladesh: pd.DataFrame) -> None:
    ddf = dd.from_pandas(bangladesh, npartitions=2, sort=False)
    results = fit(EXAMPLE1, ddf, client=client)
    assert results.estimation is not None and results.data is None
    design = results.estimation.design
    assert design.sample.size == design.y.size == design.fixed.X.shape[0] == 0
    assert design.n_rows == 1934
    assert [lv.codes.size for lv in design.levels.levels] == [0]
    for call, what in [(results.predict, "predictions"), (results.margins, "margins")]:
        with pytest.raises(StataError) as info:
            call()
        assert (info.value.rc, info.value.message) == (
            321,
            f"{what} after a fit on a cluster are not available: its rows stay in the "
            "source data; fit the model in memory",
        )


@pytest.mark.parametrize(
    "command",
    [
        "melogit c_use age if c_use == 1 || district:",
        "melogit c_use age if age > 100 || district:",
        "melogit c_use age in 1/99999 || district:",
        "melogit c_use i.age || district:",
        "melogit c_use age [fw=w] || district:",
        "melogit c_use age || district:, pweight(w)",
    ],
)
def test_the_design_errors_from_partitions(
    client: Client, bangladesh: pd.DataFrame, command: str
) -> None:
    with pytest.raises(StataError) as memory:
        fit(command, bangladesh)
    with pytest.raises(StataError) as dask_fit:
        fit(command, dd.from_pandas(bangladesh, npartitions=3, sort=False), client=client)
    assert (dask_fit.value.rc, dask_fit.value.message) == (memory.value.rc, memory.value.message)
