"""The random-effects structure as the engines see it: covariance parametrisations and the
arrays of nested and crossed designs."""
