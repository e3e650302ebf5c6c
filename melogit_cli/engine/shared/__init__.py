"""Numerical pieces the engines share, written once: the safe batched Cholesky factor and
the per-cluster posterior-mode search."""
