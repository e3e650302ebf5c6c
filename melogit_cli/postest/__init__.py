"""After the fit: Wald tests (``test``, ``testparm``), linear and nonlinear combinations
(``lincom``, ``nlcom``), margins and marginsplot, computed from stored estimation results."""
