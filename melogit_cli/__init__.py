"""melogit-cli: Stata's ``melogit`` (multilevel mixed-effects logistic regression) in Python."""

__version__ = "0.1.0"
