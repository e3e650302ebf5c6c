"""Every option of the manual's syntax tables changes what is computed or printed, or is
refused with r(198): a walk over the option table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from melogit_cli.api import fit
from melogit_cli.errors import StataError
from melogit_cli.render import render_results
from melogit_cli.syntax.option_table import ROWS

FE = "c_use age i.urban"
RE = "district:"


def _data() -> pd.DataFrame:
    df = pd.read_stata(DATA / "bangladesh.dta", convert_categoricals=False)
    df = df[df["district"] <= 12].copy()
    df["w"] = 1.0 + (df["district"] % 3 == 0)
    df["half"] = 0.5 * df["age"] / 10
    df["a_long_variable_name_x"] = df["age"]
    df["pp"] = ((df["c_use"] == 1) & (df["district"] == 1) & (df["urban"] == 1)).astype(float)
    return df.reset_index(drop=True)


DF = _data()
CONSTRAINTS = {1: "[c_use]age = -0.02"}  # what constraints(1) names

# option row (place, name) -> (command with the option, command without it)
CASES: dict[tuple[str, str], tuple[str, str]] = {
    ("fe", "noconstant"): (f"{FE}, noconstant || {RE}", f"{FE} || {RE}"),
    ("fe", "offset"): (f"{FE}, offset(half) || {RE}", f"{FE} || {RE}"),
    ("fe", "asis"): (f"{FE} pp, asis || {RE}", f"{FE} pp || {RE}"),
    ("re", "covariance"): (f"{FE} || {RE} age, cov(unstructured)", f"{FE} || {RE} age"),
    ("re", "noconstant"): (f"{FE} || {RE} age, noconstant", f"{FE} || {RE} age"),
    ("re", "fweight"): (f"{FE} || {RE}, fweight(w)", f"{FE} || {RE}"),
    ("re", "iweight"): (f"{FE} || {RE}, iweight(w)", f"{FE} || {RE}"),
    ("re", "pweight"): (f"{FE} || {RE}, pweight(w)", f"{FE} || {RE}"),
}
GLOBAL = {
    "binomial": "binomial(2)",
    "constraints": "constraints(1)",
    "vce": "vce(robust)",
    "level": "level(90)",
    "or": "or",
    "nocnsreport": "nocnsreport",  # with constraints(1)
    "notable": "notable",
    "noheader": "noheader",
    "nogroup": "nogroup",
    "noci": "noci",
    "nopvalues": "nopvalues",
    "noomitted": "noomitted",
    "vsquish": "vsquish",
    "noemptycells": "noemptycells",
    "baselevels": "baselevels",
    "allbaselevels": "allbaselevels",
    "nofvlabel": "nofvlabel",
    "fvwrap": "fvwrap(2)",
    "fvwrapon": "fvwrapon(width)",
    "cformat": "cformat(%9.2f)",
    "pformat": "pformat(%5.2f)",
    "sformat": "sformat(%8.3f)",
    "nolstretch": "nolstretch",
    "intmethod": "intmethod(laplace)",
    "intpoints": "intpoints(3)",
    "difficult": "difficult",
    "technique": "technique(bhhh 2 nr)",
    "iterate": "iterate(1)",
    "log": "log",
    "nolog": "nolog",
    "trace": "trace",
    "gradient": "gradient",
    "showstep": "showstep",
    "hessian": "hessian",
    "showtolerance": "showtolerance",
    "tolerance": "tolerance(0.5)",
    "ltolerance": "ltolerance(0.5)",
    "nrtolerance": "nrtolerance(1e-20)",
    "nonrtolerance": "nonrtolerance",
    "from": "from(c_use:age=0.5)",
    "startvalues": "startvalues(zero)",
    "startgrid": "startgrid",
    "noestimate": "noestimate",
    "dnumerical": "dnumerical",
    "collinear": "collinear",
    "coeflegend": "coeflegend",
}
# options whose effect needs a companion option or a particular model
BASELINE = {
    "log": "nolog",  # log is the default: it is compared with nolog
    "nonrtolerance": "ltolerance(1e-2) tolerance(1e-2)",
    "nocnsreport": "constraints(1)",
    "collinear": "",
    "fvwrapon": "fvwrap(2)",
    "difficult": "iterate(3)",
}
MODEL = {
    "noomitted": f"{FE} i.urban#c.age age || {RE}",
    "vsquish": f"c_use i.urban i.children age || {RE}",
    "noemptycells": f"c_use i.urban#i.children || {RE}",
    "allbaselevels": f"c_use i.urban#i.children || {RE}",
    "fvwrap": f"c_use i.children || {RE}",
    "fvwrapon": f"c_use i.children || {RE}",
    "nolstretch": f"c_use a_long_variable_name_x || {RE}",
    "difficult": f"{FE} || {RE} age, cov(unstructured)",
    "collinear": f"c_use age age2 || {RE}",
    "dnumerical": f"c_use age || {RE}",
}


LABELLED = ("nofvlabel", "fvwrap", "fvwrapon")  # value labels: the .dta file itself


def _output(command: str, name: str) -> tuple[str, np.ndarray] | int:
    """The log and the results (linesize 120, so that nolstretch matters) of ``command``."""
    data: object = DF.assign(age2=DF["age"] * 2)
    if name in LABELLED:
        data = DATA / "bangladesh.dta"
    elif name == "noemptycells":  # no urban woman with 3 or more children: an empty cell
        data = DF[~((DF["urban"] == 1) & (DF["children"] == 3))]
    try:
        res = fit(f"melogit {command}", data, log=True, constraints=CONSTRAINTS)
    except StataError as err:
        return err.rc
    linesize = 80 if name in LABELLED else 120
    return res.log + render_results(res.e, res.options, linesize), res.params.to_numpy()


def _case(row) -> tuple[str, str]:
    if (row.where, row.name) in CASES:
        return CASES[(row.where, row.name)]
    model = MODEL.get(row.name, f"{FE} || {RE}")
    base = BASELINE.get(row.name, "")
    with_option = f"{model}, {base} {GLOBAL[row.name]}"
    base_option = BASELINE.get(row.name, "")
    if row.name == "log":
        with_option, base_option = f"{model}, log", "nolog"
    return with_option, f"{model}, {base_option}" if base_option else model


PARAMS = [pytest.param(r, id=f"{r.where}:{r.name}") for r in ROWS]


@pytest.mark.parametrize("row", PARAMS)
def test_option_has_an_effect_or_is_refused(row) -> None:
    with_option, without = _case(row)
    got = _output(with_option, row.name)
    if isinstance(got, int):
        assert got == 198, (with_option, got)
        return
    base = _output(without, row.name)
    assert not isinstance(base, int), (without, base)
    text, params = got
    base_text, base_params = base
    changed = text != base_text or params.shape != base_params.shape
    changed = changed or not np.array_equal(params, base_params)
    assert changed, f"{with_option!r} changes nothing"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("startvalues(iv, iterate(5))", "option startvalues(iv, iterate(5)) not allowed"),
        ("startvalues(fixedonly, iterate(5))",
         "option startvalues(fixedonly, iterate(5)) not allowed"),
    ],
)
def test_unimplemented_options_are_refused(option, message) -> None:
    with pytest.raises(StataError) as err:
        fit(f"melogit {FE} || {RE}, {option}", DF)
    assert (err.value.message, err.value.rc) == (message, 198)
