"""After the fit: predictions and empirical Bayes effects, Wald tests (``test``, ``testparm``),
linear and nonlinear combinations (``lincom``, ``nlcom``), margins and marginsplot, and the
estat statistics, computed from the stored estimation results."""
