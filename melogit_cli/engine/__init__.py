"""The likelihood engines and the fit around them.

Map (who owns what):

- ``fit``: Stata's three phases (fixed-effects logit, start values, Newton-Raphson) and
  the quadrature and numerical Newton objectives.
- ``protocol``: the ``Engine`` and ``Objective`` protocols every engine implements.
- ``registry``: what each engine fits; ``select`` picks the engine once per estimation.
- ``integration``: the ``Integration`` value (method as computed, points per effect, node
  placement): the one place where Laplace means one point; ``PlacedNodes``, what the
  quadrature engines share (the nodes their method places, their Newton objective).
- ``events``: what the fit reports (the iteration log is rendered elsewhere).
- ``predict``: empirical Bayes means and modes after a two-level fit.
- ``allocator``: keeps freed memory for reuse during a fit.
- ``model/``: covariance parametrisations and the arrays of nested and crossed designs.
- ``optimize/``: Newton-Raphson, the fixed-effects logit, Hessians as gradient differences.
- ``quadrature/``: Gauss-Hermite rules, the two-level engine, the nested (tree) engine,
  and their per-cluster, per-node sums over rows in numpy (``rows``).
- ``laplace/``: the joint sparse Laplace engine (every Laplace fit, weighted or not:
  likelihood, gradient, per-top-cluster scores), the Laplace Newton objective (exact
  gradient, differenced Hessian) and dense SPD factors.
- ``start_iv``: ``startvalues(iv)``, variances from the fixed-effects logit's residuals.
- ``shared/``: pieces the engines share: the safe Cholesky factor, the mode search and
  mean-variance adaptation.
- ``compiled/``: numba loops of the per-cluster, per-node row sums, for large data (the
  nested engine's bottom units at their paths are clusters at nodes).

A fit on a Dask cluster (``melogit_cli.cluster``) offers the same ``Engine`` protocol over
buckets of top-level clusters kept on the workers.
"""
