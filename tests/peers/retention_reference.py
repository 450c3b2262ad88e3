"""The reference for retention_matrix: the same cohort tables computed by DuckDB in plain SQL.

    retention_reference.py ROWS.parquet AS_OF

ROWS has columns person, day (DATE), event, amount. A person's cohort is the Monday of the
week of their first 'visit'; a return is a 'buy' in their cohort's week or later; period N is
the Nth week after the cohort's. Prints JSON: for each mode ('on' with 8 periods,
'on_or_after' with 8, the brackets '0,1,2-3,4-8'), the rows [cohort, cohort_size, period,
label, people, value] in cohort and period order; people and value are null where the
period's first week begins after AS_OF (a DATE, the last day the data covers).
"""
import json
import sys

import duckdb

rows, as_of = sys.argv[1:3]
con = duckdb.connect()
con.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet('{rows}')")
con.execute("""
  CREATE TABLE cohorts AS
  SELECT person, CAST(date_trunc('week', min(day)) AS DATE) AS cohort
  FROM r WHERE person IS NOT NULL AND day IS NOT NULL AND event = 'visit'
  GROUP BY person
""")
con.execute("""
  CREATE TABLE returns AS
  SELECT c.person, c.cohort,
         CAST((CAST(date_trunc('week', r.day) AS DATE) - c.cohort) / 7 AS INTEGER) AS k,
         r.amount
  FROM r JOIN cohorts c ON c.person = r.person
  WHERE r.event = 'buy' AND r.day IS NOT NULL
    AND CAST(date_trunc('week', r.day) AS DATE) >= c.cohort
""")

MODES = {
    "on": [(n, n, str(n)) for n in range(9)],
    "on_or_after": [(n, 1_000_000, f"{n}+") for n in range(9)],
    "brackets": [(0, 0, "0"), (1, 1, "1"), (2, 3, "2-3"), (4, 8, "4-8")],
}
answers = {}
for mode, cells in MODES.items():
    values = ", ".join(f"({a}, {b}, '{label}')" for a, b, label in cells)
    result = con.execute(f"""
      WITH sizes AS (SELECT cohort, count(*) AS size FROM cohorts GROUP BY cohort),
           cells AS (SELECT * FROM (VALUES {values}) t(first_period, last_period, label))
      SELECT CAST(s.cohort AS VARCHAR), s.size, c.first_period, c.label,
             CASE WHEN s.cohort + 7 * c.first_period <= DATE '{as_of}'
                  THEN count(DISTINCT x.person) END AS people,
             CASE WHEN s.cohort + 7 * c.first_period <= DATE '{as_of}'
                  THEN coalesce(sum(x.amount), 0) END AS value
      FROM sizes s CROSS JOIN cells c
      LEFT JOIN returns x ON x.cohort = s.cohort AND x.k BETWEEN c.first_period AND c.last_period
      GROUP BY s.cohort, s.size, c.first_period, c.label
      ORDER BY s.cohort, c.first_period
    """).fetchall()
    answers[mode] = [list(row) for row in result]
print(json.dumps(answers))
