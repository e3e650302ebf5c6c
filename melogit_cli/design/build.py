"""ModelSpec + Dataset -> Design: the estimation sample and every array the engine needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from melogit_cli.data.dataset import Dataset
from melogit_cli.design.factors import FixedColumns, expand_re_terms, expand_terms, term_variables
from melogit_cli.design.levels import LevelStructure, build_levels
from melogit_cli.design.perfect import check_outcome_varies, drop_perfect_predictors
from melogit_cli.design.sample import apply_if_in
from melogit_cli.design.varlist import resolve_pattern
from melogit_cli.errors import StataError, no_observations
from melogit_cli.syntax.spec import ModelSpec, REEquation


@dataclass
class Design:
    """The estimation problem in arrays, rows in the data set's order (``sample`` rows)."""

    spec: ModelSpec
    depvar: str
    sample: np.ndarray  # bool mask over the data set: e(sample)
    y: np.ndarray
    trials: np.ndarray
    fixed: FixedColumns
    offset: np.ndarray
    obs_weight: np.ndarray
    weight_type: str  # "", "fweight", "pweight", "iweight"
    weight_text: str
    levels: LevelStructure
    family: str  # bernoulli or binomial
    binomial_text: str = ""
    offset_var: str = ""
    notes: list[str] = field(default_factory=list)
    value_labels: dict[str, dict[int, str]] = field(default_factory=dict)
    # a design whose rows stay elsewhere (a Dask cluster): its arrays above have no rows,
    # these hold what is read of them here
    rows: int | None = None  # observations in the sample
    weight_sum: float = 0.0  # of the observation weights
    robust_groups: Callable[[], np.ndarray] | None = None  # as estimate's _robust_groups

    @property
    def n_rows(self) -> int:
        """Observations in the estimation sample."""
        return int(self.sample.sum()) if self.rows is None else self.rows

    @property
    def N(self) -> int:  # noqa: N802 - Stata's name
        """Number of observations; with frequency weights, the sum of the weights."""
        if self.weight_type == "fweight":
            total = self.weight_sum if self.rows is not None else float(self.obs_weight.sum())
            return int(round(total))
        return self.n_rows


@dataclass(frozen=True)
class ModelVariables:
    """The model's variables named in full: the outcome, every variable whose missing
    values leave the sample (``needed``), the offset and the trials variables."""

    depvar: str
    needed: list[str]
    offset_var: str
    trials_var: str


def model_outcome(spec: ModelSpec, ds: Dataset) -> str:
    """The dependent variable (and the checks Stata makes before reading any data)."""
    depvar = _single_variable(spec.depvar, ds)
    if ds.is_string(depvar):
        raise StataError(
            f"string variables not allowed in varlist;\n{depvar} is a string variable", 109
        )
    if spec.weight is not None and spec.weight.kind == "aweight":
        raise StataError("aweights not allowed", 101)
    return depvar


def model_variables(spec: ModelSpec, ds: Dataset, depvar: str) -> ModelVariables:
    """The variables of ``spec`` resolved against the names of ``ds``."""
    needed = [depvar]
    needed += term_variables(spec.fixed, ds)
    for eq in spec.re_equations:
        needed += term_variables(eq.terms, ds)
        if eq.r_var:
            needed.append(_single_variable(eq.r_var, ds))
        if eq.level != "_all":
            needed.append(_single_variable(eq.level, ds))
        for w in (eq.fweight, eq.iweight, eq.pweight):
            if w:
                needed.append(_single_variable(w, ds))
    offset_var = _single_variable(spec.offset, ds) if spec.offset else ""
    if offset_var:
        needed.append(offset_var)
    trials_var = ""
    if isinstance(spec.options.binomial, str):
        trials_var = _single_variable(spec.options.binomial, ds)
        needed.append(trials_var)
    return ModelVariables(depvar, list(dict.fromkeys(needed)), offset_var, trials_var)


def complete_rows(
    spec: ModelSpec, names: ModelVariables, ds: Dataset, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """``rows`` without observations missing a model variable or the weight (listwise
    deletion), and the weight's values over ``ds`` (``None`` without weights)."""
    rows = rows.copy()
    weight_values = None
    if spec.weight is not None:
        from melogit_cli.data.evaluate import evaluate

        weight_values = np.asarray(evaluate(spec.weight.expr, ds), dtype=float)
        rows &= ~np.isnan(weight_values)
    for v in names.needed:
        col = ds.frame[v]
        if ds.is_string(v):
            rows &= col.to_numpy() != ""
        else:
            rows &= ~np.isnan(col.to_numpy(dtype=float))
    return rows, weight_values


def outcome_and_trials(
    spec: ModelSpec, names: ModelVariables, ds: Dataset, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The outcome and the binomial trials on ``rows`` (successes as 1 for Bernoulli)."""
    y_all = ds.frame[names.depvar].to_numpy(dtype=float)
    n = int(rows.sum())
    if spec.options.binomial is None:
        return (y_all[rows] != 0).astype(float), np.ones(n)
    if names.trials_var:
        return y_all[rows], ds.frame[names.trials_var].to_numpy(dtype=float)[rows]
    return y_all[rows], np.full(n, float(spec.options.binomial))


def family_of(spec: ModelSpec, names: ModelVariables) -> tuple[str, str]:
    """The family and the text of ``binomial()``."""
    if spec.options.binomial is None:
        return "bernoulli", ""
    if names.trials_var:
        return "binomial", names.trials_var
    return "binomial", _number_text(float(spec.options.binomial))


def build_design(spec: ModelSpec, ds: Dataset) -> Design:
    """Select the sample, expand the terms and lay out the levels, as Stata does."""
    depvar = model_outcome(spec, ds)
    rows = apply_if_in(spec, ds)
    names = model_variables(spec, ds, depvar)
    offset_var = names.offset_var
    rows, weight_values = complete_rows(spec, names, ds, rows)
    if not rows.any():
        raise no_observations()

    family, binomial_text = family_of(spec, names)
    y, trials = outcome_and_trials(spec, names, ds, rows)
    if family == "binomial":
        raise_bad_outcome(binomial_flags(y, trials))

    obs_weight = np.ones(int(rows.sum()))
    weight_type = weight_text = ""
    if weight_values is not None and spec.weight is not None:
        weight_type, weight_text = spec.weight.kind, spec.weight.text
        obs_weight = weight_values[rows]
        raise_bad_weights(weight_flags(obs_weight, weight_type))
        keep = obs_weight != 0
        if not keep.all():  # zero weights drop out of the sample
            idx = np.flatnonzero(rows)
            rows[idx[~keep]] = False
            y, trials, obs_weight = y[keep], trials[keep], obs_weight[keep]
        if not rows.any():
            raise no_observations()

    if family == "bernoulli":
        check_outcome_varies(y)
    fixed = expand_terms(
        spec.fixed, ds, rows, constant=not spec.noconstant, collinear=spec.options.collinear,
        drop_empty=spec.options.emptycells == "drop",
    )
    if family == "bernoulli" and not spec.asis:
        perfect = drop_perfect_predictors(y, fixed, collinear=spec.options.collinear)
        if perfect.dropped:
            kept = perfect.rows[rows]
            y, trials, obs_weight = y[kept], trials[kept], obs_weight[kept]
            rows = perfect.rows
        fixed = perfect.columns
    equations = _normalize_equations([_resolved(eq, ds) for eq in spec.re_equations])
    re_columns = [
        expand_re_terms(eq.terms, ds, rows, constant=not eq.noconstant) for eq in equations
    ]
    levels = build_levels(equations, re_columns, ds, rows, obs_weight)
    offset = ds.frame[offset_var].to_numpy(dtype=float)[rows] if offset_var else np.zeros(len(y))
    return Design(
        spec=spec,
        depvar=depvar,
        sample=rows,
        y=y,
        trials=trials,
        fixed=fixed,
        offset=offset,
        obs_weight=obs_weight,
        weight_type=weight_type,
        weight_text=weight_text,
        levels=levels,
        family=family,
        binomial_text=binomial_text,
        offset_var=offset_var,
        notes=list(fixed.notes) + [note for cols in re_columns for note in cols.notes],
        value_labels=dict(ds.value_labels),
    )


def _resolved(eq: REEquation, ds: Dataset) -> REEquation:
    """``eq`` with its level, ``R.`` and weight variables named in full (Stata lets them be
    abbreviated: ``|| distric:`` is ``|| district:``)."""
    def full(name: str | None) -> str | None:
        return _single_variable(name, ds) if name else name

    level = eq.level if eq.level == "_all" else _single_variable(eq.level, ds)
    return replace(
        eq, level=level, r_var=full(eq.r_var), fweight=full(eq.fweight),
        iweight=full(eq.iweight), pweight=full(eq.pweight),
    )


def _single_variable(pattern: str, ds: Dataset) -> str:
    names = resolve_pattern(pattern, ds)
    if len(names) != 1:
        raise StataError("too many variables specified", 103)
    return names[0]


def _number_text(x: float) -> str:
    return str(int(x)) if x == int(x) else repr(x)


def binomial_flags(y: np.ndarray, trials: np.ndarray) -> tuple[bool, bool, bool]:
    """Which of the binomial outcome's checks fail (trials, successes, successes > trials):
    on a chunk of the sample, or-ed over the chunks."""
    return (
        bool(np.any(trials < 0) or np.any(trials != np.floor(trials))),
        bool(np.any(y < 0) or np.any(y != np.floor(y))),
        bool(np.any(y > trials)),
    )


def raise_bad_outcome(flags: tuple[bool, bool, bool]) -> None:
    if flags[0]:
        raise StataError("binomial trials must be nonnegative integers", 459)
    if flags[1]:
        raise StataError("depvar must be nonnegative integers (number of successes)", 459)
    if flags[2]:
        raise StataError("depvar must be less than or equal to the number of binomial trials", 459)


def weight_flags(w: np.ndarray, kind: str) -> tuple[bool, bool]:
    """Which of the weights' checks fail (negative, noninteger frequency weights)."""
    return bool(np.any(w < 0)), bool(kind == "fweight" and np.any(w != np.floor(w)))


def raise_bad_weights(flags: tuple[bool, bool]) -> None:
    if flags[0]:
        raise StataError("negative weights encountered", 402)
    if flags[1]:
        raise StataError("may not use noninteger frequency weights", 401)


def _normalize_equations(equations: list[REEquation]) -> list[REEquation]:
    """Stata's rule: among repeated equations of one level only the last has the constant."""
    out = []
    for i, eq in enumerate(equations):
        later_same = any(e.level == eq.level for e in equations[i + 1 :])
        if later_same and not eq.noconstant:
            eq = REEquation(
                level=eq.level,
                terms=eq.terms,
                r_var=eq.r_var,
                noconstant=True,
                covariance=eq.covariance,
                fweight=eq.fweight,
                iweight=eq.iweight,
                pweight=eq.pweight,
            )
        if eq.r_var is None and not eq.terms and eq.noconstant:
            raise StataError("random-effects equation contains no effects", 198)
        out.append(eq)
    return out


def check_supported(spec: ModelSpec) -> None:
    """Refuse what the engine cannot fit yet, with Stata-style messages."""
    if not spec.re_equations:
        raise StataError(
            "no random-effects equation specified; use logit for a model without random effects",
            198,
        )
