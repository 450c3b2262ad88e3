"""The reference for path_edges: the same edges computed by DuckDB in plain SQL.

    paths_reference.py ROWS.parquet

ROWS has columns person, t (TIMESTAMP) and event. For each case of CASES, the rows are ordered
per person by (t, event, anchor first), cut into sessions where the time since the previous
row is over the gap, repeats collapsed if asked, and each session's path taken from its first
anchor step. Prints JSON: for each case, the rows [depth, from, to, people, paths,
median_seconds] ordered by depth, people and paths descending, from and to (NULL first).
"""
import json
import sys

import duckdb

# name: (anchor, direction, steps, gap seconds or None, collapse, excluded events)
CASES = {
    "from_session_start": ("true", "after", 4, 1800, False, []),
    "after_item_collapsed": ("event = 'item'", "after", 3, 1800, True, ["heartbeat"]),
    "before_pay": ("event = 'pay'", "before", 3, 1800, False, ["heartbeat"]),
    "before_cart_no_gap": ("event = 'cart'", "before", 2, None, True, []),
}


def case_sql(anchor, direction, steps, gap, collapse, excluded):
    kept = f"event NOT IN ({', '.join(repr(e) for e in excluded)})" if excluded else "true"
    new_session = "prev_t IS NULL" if gap is None else f"prev_t IS NULL OR epoch(t) - epoch(prev_t) > {gap}"
    # a step starts at each row, or (collapsing) where the event differs from the row before
    new_step = (
        "CASE WHEN lag(event) OVER (PARTITION BY person, session ORDER BY rn) IS NOT DISTINCT FROM event THEN 0 ELSE 1 END"
        if collapse
        else "1"
    )
    if direction == "after":
        offset = "s.step - f.a"
        keep = f"s.step BETWEEN f.a AND f.a + {steps}"
        edges = f"""
          SELECT p.person, p.k + 1 AS depth, p.event AS src, n.event AS dst, epoch(n.t) - epoch(p.t) AS secs
          FROM path p LEFT JOIN path n ON n.person = p.person AND n.session = p.session AND n.k = p.k + 1
          WHERE p.k < {steps}"""
    else:
        offset = "f.a - s.step"
        keep = f"s.step BETWEEN f.a - {steps} AND f.a"
        edges = f"""
          SELECT n.person, -(n.k + 1) AS depth, p.event AS src, n.event AS dst, epoch(n.t) - epoch(p.t) AS secs
          FROM path n LEFT JOIN path p ON p.person = n.person AND p.session = n.session AND p.k = n.k + 1
          WHERE n.k < {steps}"""
    return f"""
      WITH ev AS (
        SELECT person, t, event, coalesce({anchor}, false) AS anchor FROM r
        WHERE person IS NOT NULL AND t IS NOT NULL AND event IS NOT NULL
          AND {kept}
      ), ordered AS (
        SELECT *, row_number() OVER w AS rn, lag(t) OVER w AS prev_t
        FROM ev WINDOW w AS (PARTITION BY person ORDER BY t, event, anchor DESC)
      ), sessions AS (
        SELECT *, sum(CASE WHEN {new_session} THEN 1 ELSE 0 END)
                    OVER (PARTITION BY person ORDER BY rn) AS session
        FROM ordered
      ), runs AS (
        SELECT *, {new_step} AS new_step FROM sessions
      ), numbered AS (
        SELECT *, sum(new_step) OVER (PARTITION BY person, session ORDER BY rn) AS step FROM runs
      ), steps AS (
        SELECT person, session, step, min(event) AS event, min(t) AS t, bool_or(anchor) AS anchor
        FROM numbered GROUP BY person, session, step
      ), firsts AS (
        SELECT person, session, min(step) AS a FROM steps WHERE anchor GROUP BY person, session
      ), path AS (
        SELECT s.person, s.session, {offset} AS k, s.event, s.t
        FROM steps s JOIN firsts f ON f.person = s.person AND f.session = s.session
        WHERE {keep}
      ), edges AS ({edges})
      SELECT depth, src, dst, count(DISTINCT person) AS people, count(*) AS paths, median(secs)
      FROM edges GROUP BY depth, src, dst
      ORDER BY depth, people DESC, paths DESC, src NULLS FIRST, dst NULLS FIRST
    """


rows = sys.argv[1]
con = duckdb.connect()
con.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet('{rows}')")
answers = {}
for name, case in CASES.items():
    answers[name] = [list(row) for row in con.execute(case_sql(*case)).fetchall()]
print(json.dumps(answers))
