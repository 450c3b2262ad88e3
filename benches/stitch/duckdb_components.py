"""Connected components of an edge table in DuckDB SQL: iterative min-label propagation with
pointer jumping, from the same Parquet files userlake reads, written to an id_graph file.

python3 duckdb_components.py --edges DIR --out FILE --threads N  -> prints a JSON summary
"""
import argparse
import json
import time

import duckdb


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--edges", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute(
        f"""CREATE TABLE e AS SELECT a_type || ':' || a_value AS a, b_type || ':' || b_value AS b
            FROM read_parquet('{args.edges}/*.parquet')"""
    )
    con.execute(
        """CREATE TABLE nodes AS
           SELECT v, CAST(row_number() OVER () AS BIGINT) AS id
           FROM (SELECT a AS v FROM e UNION SELECT b FROM e)"""
    )
    con.execute(
        """CREATE TABLE ei AS
           SELECT DISTINCT least(na.id, nb.id) AS s, greatest(na.id, nb.id) AS d
           FROM e JOIN nodes na ON na.v = e.a JOIN nodes nb ON nb.v = e.b
           WHERE na.id <> nb.id"""
    )
    con.execute("DROP TABLE e")
    con.execute("CREATE TABLE lbl AS SELECT id, id AS l FROM nodes")
    rounds = 0
    while True:
        rounds += 1
        # each node takes the smallest label among itself and its neighbours ...
        con.execute(
            """CREATE OR REPLACE TABLE nl AS
               SELECT id, min(l) AS l FROM (
                 SELECT id, l FROM lbl
                 UNION ALL SELECT ei.s, lbl.l FROM ei JOIN lbl ON lbl.id = ei.d
                 UNION ALL SELECT ei.d, lbl.l FROM ei JOIN lbl ON lbl.id = ei.s
               ) GROUP BY id"""
        )
        # ... then jumps to its label's label
        con.execute(
            """CREATE OR REPLACE TABLE nl AS
               SELECT n.id, least(n.l, p.l) AS l FROM nl n JOIN nl p ON p.id = n.l"""
        )
        changed = con.execute(
            "SELECT count(*) FROM nl JOIN lbl USING (id) WHERE nl.l <> lbl.l"
        ).fetchone()[0]
        con.execute("CREATE OR REPLACE TABLE lbl AS SELECT * FROM nl")
        if changed == 0:
            break
    con.execute(
        f"""COPY (SELECT split_part(n.v, ':', 1) AS id_type,
                         substr(n.v, length(split_part(n.v, ':', 1)) + 2) AS id_value,
                         l.l AS component
                  FROM nodes n JOIN lbl l USING (id))
            TO '{args.out}' (FORMAT PARQUET)"""
    )
    identifiers, components = con.execute(
        "SELECT count(*), count(DISTINCT l) FROM lbl"
    ).fetchone()
    print(
        json.dumps(
            {
                "identifiers": identifiers,
                "components": components,
                "rounds": rounds,
                "seconds": time.perf_counter() - started,
            }
        )
    )


if __name__ == "__main__":
    main()
