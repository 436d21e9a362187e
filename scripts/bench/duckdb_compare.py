"""DuckDB peer of `cutover bench reconcile`: a FULL OUTER JOIN compare of two account-period CSVs.

Writes every account-period that does not match exactly to OUT (as cutover does) and prints the
counts. Amounts are read as DECIMAL(18,2): exact, like cutover's Decimal.
"""
import sys

import duckdb

legacy, new, out = sys.argv[1:4]
cols = "{'account_number': 'VARCHAR', 'period': 'VARCHAR', 'amount': 'DECIMAL(18,2)'}"
con = duckdb.connect()
con.execute(f"""
CREATE TEMP VIEW diff AS
SELECT coalesce(l.account_number, n.account_number) AS account_number,
       coalesce(l.period, n.period) AS period,
       l.amount AS legacy_amount, n.amount AS new_amount,
       CASE WHEN l.account_number IS NULL THEN 'missing_legacy'
            WHEN n.account_number IS NULL THEN 'missing_new'
            WHEN abs(n.amount - l.amount) <= 0.01 THEN 'within_tolerance'
            ELSE 'mismatch' END AS status
FROM read_csv('{legacy}', header = true, columns = {cols}) l
FULL OUTER JOIN read_csv('{new}', header = true, columns = {cols}) n
  ON l.account_number = n.account_number AND l.period = n.period
WHERE l.account_number IS NULL OR n.account_number IS NULL OR l.amount <> n.amount
""")
con.execute(f"COPY (SELECT * FROM diff) TO '{out}' (HEADER)")
counts = dict(con.execute(f"SELECT status, count(*) FROM read_csv('{out}', header = true) GROUP BY 1").fetchall())
print(counts)
