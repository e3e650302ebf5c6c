"""melogit-cli: Stata's ``melogit`` (multilevel mixed-effects logistic regression) in Python."""

import os

# One BLAS thread unless the user sets it: the engines' dense factorizations are of mid
# size, where a thread pool on a busy machine costs far more than it gains (a 3,000 x
# 1,000 crossed Laplace fit: 21 s with two contended threads, 2.3 s with one).  Each
# OpenBLAS reads the variable when it loads: numpy's if it is not loaded yet, scipy's
# (the large factorizations) when a fit first needs it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
