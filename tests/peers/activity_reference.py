"""The reference for activity_lifecycle, stickiness and funnel_correlation: the same tables
computed by DuckDB in plain SQL.

    activity_reference.py ROWS.parquet AS_OF

ROWS has columns person, day (DATE), converted (BOOLEAN, the same for all of a person's rows)
and item. Prints JSON:
  lifecycle     [week, new, returning, resurrecting, dormant] per week (Monday) from the first
                active week to AS_OF's
  stickiness_week, stickiness_month
                [period, days, people, people_at_least, active_people] per period and N
  correlation   [item, s, f, S, F, odds_ratio, ci_low, ci_high, small_counts] by item
"""
import json
import sys

import duckdb

rows, as_of = sys.argv[1:3]
con = duckdb.connect()
con.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet('{rows}')")
con.execute("""
  CREATE TABLE a AS SELECT DISTINCT person, CAST(date_trunc('week', day) AS DATE) AS w
  FROM r WHERE person IS NOT NULL AND day IS NOT NULL
""")
answers = {}
answers["lifecycle"] = con.execute(f"""
  WITH firsts AS (SELECT person, min(w) AS fw FROM a GROUP BY person),
  weeks AS (
    SELECT CAST(unnest(generate_series(min(w), CAST(date_trunc('week', DATE '{as_of}') AS DATE),
                                       INTERVAL 7 DAY)) AS DATE) AS w FROM a
  ),
  kinds AS (
    SELECT a.w,
           CASE WHEN a.w = f.fw THEN 'new'
                WHEN EXISTS (SELECT 1 FROM a p WHERE p.person = a.person AND p.w = a.w - 7) THEN 'returning'
                ELSE 'resurrecting' END AS kind
    FROM a JOIN firsts f ON f.person = a.person
    UNION ALL
    SELECT a.w + 7, 'dormant' FROM a
    WHERE NOT EXISTS (SELECT 1 FROM a n WHERE n.person = a.person AND n.w = a.w + 7)
  )
  SELECT CAST(weeks.w AS VARCHAR),
         count(k.kind) FILTER (WHERE k.kind = 'new'),
         count(k.kind) FILTER (WHERE k.kind = 'returning'),
         count(k.kind) FILTER (WHERE k.kind = 'resurrecting'),
         count(k.kind) FILTER (WHERE k.kind = 'dormant')
  FROM weeks LEFT JOIN kinds k ON k.w = weeks.w
  GROUP BY weeks.w ORDER BY weeks.w
""").fetchall()

for unit, step, length in [
    ("week", "INTERVAL 7 DAY", "7"),
    ("month", "INTERVAL 1 MONTH", "day(last_day(p.p))"),
]:
    answers[f"stickiness_{unit}"] = con.execute(f"""
      WITH d AS (
        SELECT person, CAST(date_trunc('{unit}', day) AS DATE) AS p, count(DISTINCT day) AS days
        FROM r WHERE person IS NOT NULL AND day IS NOT NULL GROUP BY 1, 2
      ),
      periods AS (
        SELECT CAST(unnest(generate_series(min(p), CAST(date_trunc('{unit}', DATE '{as_of}') AS DATE),
                                           {step})) AS DATE) AS p FROM d
      ),
      cells AS (SELECT p.p, k FROM periods p, range(1, {length} + 1) t(k))
      SELECT CAST(c.p AS VARCHAR), c.k,
             count(d.person) FILTER (WHERE d.days = c.k),
             count(d.person) FILTER (WHERE d.days >= c.k),
             count(d.person)
      FROM cells c LEFT JOIN d ON d.p = c.p
      GROUP BY c.p, c.k ORDER BY c.p, c.k
    """).fetchall()

answers["correlation"] = con.execute("""
  WITH people AS (
    SELECT person, bool_or(converted) AS c FROM r
    WHERE person IS NOT NULL AND converted IS NOT NULL GROUP BY person
  ),
  totals AS (SELECT count(*) FILTER (WHERE c) AS s_total, count(*) FILTER (WHERE NOT c) AS f_total FROM people),
  pairs AS (
    SELECT DISTINCT person, item FROM r
    WHERE person IS NOT NULL AND converted IS NOT NULL AND item IS NOT NULL
  ),
  counts AS (
    SELECT item, count(*) FILTER (WHERE p.c) AS s, count(*) FILTER (WHERE NOT p.c) AS f
    FROM pairs JOIN people p ON p.person = pairs.person GROUP BY item
  ),
  cells AS (
    SELECT item, s, f, s_total, f_total,
           s + 1.0 AS a, s_total - s + 1.0 AS b, f + 1.0 AS c, f_total - f + 1.0 AS d
    FROM counts, totals
  )
  SELECT item, s, f, s_total, f_total, (a / b) / (c / d) AS odds,
         exp(ln((a / b) / (c / d)) - 1.959963984540054 * sqrt(1 / a + 1 / b + 1 / c + 1 / d)),
         exp(ln((a / b) / (c / d)) + 1.959963984540054 * sqrt(1 / a + 1 / b + 1 / c + 1 / d)),
         least(s, s_total - s, f, f_total - f) < 5
  FROM cells ORDER BY item
""").fetchall()
print(json.dumps(answers, default=str))
