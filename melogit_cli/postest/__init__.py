"""After the fit: Wald tests (``test``, ``testparm``) and linear and nonlinear combinations
of the coefficients (``lincom``, ``nlcom``), computed from ``e(b)`` and ``e(V)`` alone."""
