"""Runs a query on a userlake lake in DuckDB and reports its timings and rows as JSON.

Each table directory of the lake becomes a view over its Parquet files (Hive partitions
included), so the query text is the same one userlake runs.

    python3 benches/duckdb_runner.py --lake DIR --query-file Q.sql --runs 5 [--threads N]
"""

import argparse
import json
import os
import sys
import time


def cell(value):
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", required=True)
    parser.add_argument("--query-file", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    try:
        import duckdb
    except ImportError:
        sys.exit("duckdb is not installed: pip install -r tests/requirements.txt")

    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    # the lake's times are UTC; date_trunc on them truncates in the session's zone
    con.execute("SET TimeZone = 'UTC'")
    for table in sorted(os.listdir(args.lake)):
        path = os.path.join(args.lake, table)
        if not os.path.isdir(path) or table.startswith("."):
            continue
        files = []
        for root, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
            files += [os.path.join(root, n) for n in names if n.endswith(".parquet")]
        if not files:
            continue
        partitioned = any("=" in os.path.relpath(f, path) for f in files)
        pattern = os.path.join(path, "*", "*.parquet") if partitioned else os.path.join(path, "*.parquet")
        con.execute(
            f"CREATE VIEW \"{table}\" AS SELECT * FROM read_parquet('{pattern}', "
            f"hive_partitioning = {str(partitioned).lower()})"
        )

    with open(args.query_file) as f:
        query = f.read()
    times = []
    rows = None
    for _ in range(args.runs):
        started = time.perf_counter()
        rows = con.execute(query).fetchall()
        times.append(time.perf_counter() - started)
    print(json.dumps({
        "engine": f"duckdb {duckdb.__version__}",
        "times": times,
        "rows": [[cell(v) for v in row] for row in rows or []],
    }))


if __name__ == "__main__":
    main()
