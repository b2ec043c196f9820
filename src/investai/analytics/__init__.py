"""Quantitative analytics: pure numpy/pandas functions, numbers in and numbers out, no I/O.

Conventions for every public function: returns are simple (not log) periodic returns as fractions (0.01 is
1%); annualised figures use :mod:`investai.analytics.periods`; the NaN policy is stated in each docstring.
"""
