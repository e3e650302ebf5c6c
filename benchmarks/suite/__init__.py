"""Benchmark suite: melogit_cli against glmm (PyPI), lme4's glmer and glmmTMB (R)."""
