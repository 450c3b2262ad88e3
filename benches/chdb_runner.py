"""Runs a ClickHouse query in-process (PyPI `chdb`) and reports its timings and rows as JSON.

The query reads Parquet with ClickHouse's own table functions, e.g.
`file('/lake/events/*/*.parquet', Parquet)`.

    python3 benches/chdb_runner.py --query-file Q.sql --runs 5 [--threads N]
"""

import argparse
import json
import os
import sys
import time


def cell(value):
    if value is None or value == "\\N":
        return "NULL"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(cell(v) for v in value) + "]"
    return str(value)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--query-file", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    try:
        import chdb
        from chdb import session
    except ImportError:
        sys.exit("chdb is not installed: pip install -r tests/requirements.txt")

    with open(args.query_file) as f:
        query = f.read()
    sess = session.Session()
    # sequenceNextNode is behind this setting in ClickHouse
    settings = f" SETTINGS max_threads = {args.threads}, allow_experimental_funnel_functions = 1"
    times = []
    rows = []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = sess.query(query.rstrip().rstrip(";") + settings, "JSONCompact")
        times.append(time.perf_counter() - started)
        rows = json.loads(result.bytes() or b'{"data": []}')["data"]
    print(json.dumps({
        "engine": f"clickhouse (chdb {chdb.__version__})",
        "times": times,
        "rows": [[cell(v) for v in row] for row in rows],
    }))


if __name__ == "__main__":
    main()
