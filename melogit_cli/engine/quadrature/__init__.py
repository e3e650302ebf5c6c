"""Adaptive and non-adaptive Gauss-Hermite quadrature: the rules, the two-level engine and the
nested (tree) engine with its joint modes and analytic Hessian."""
