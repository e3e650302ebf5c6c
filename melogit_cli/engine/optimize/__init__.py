"""Maximization: Newton-Raphson with Stata ml's rules, the fixed-effects logit start, and
Hessians as differences of an exact gradient."""
