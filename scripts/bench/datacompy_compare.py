"""datacompy (polars) peer of `cutover bench reconcile`: joins on account and period, compares the
amount with an absolute tolerance of 0.01, and writes the mismatching and one-sided rows to OUT.

Amounts are read as Float64: datacompy compares numbers as floats (it is its normal use).
"""
import sys

import datacompy
import polars as pl

legacy, new, out = sys.argv[1:4]
schema = {"account_number": pl.Utf8, "period": pl.Utf8, "amount": pl.Float64}
l = pl.read_csv(legacy, schema=schema)
n = pl.read_csv(new, schema=schema)
c = datacompy.PolarsCompare(l, n, join_columns=["account_number", "period"], abs_tol=0.01, df1_name="legacy", df2_name="new")
mismatch = c.all_mismatch()
only_legacy = c.df1_unq_rows
only_new = c.df2_unq_rows
mismatch.write_csv(out)
print({"mismatch": mismatch.height, "missing_new": only_legacy.height, "missing_legacy": only_new.height})
