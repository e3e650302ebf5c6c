"""Numba-compiled row-by-node loops of the two-level quadrature (imported only for large data)."""
