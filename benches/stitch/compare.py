"""Identity stitching, userlake vs DuckDB vs networkx, on the same Parquet edges in one run.

    python3 benches/stitch/compare.py --userlake target/release/userlake --lake LAKE --work DIR

1. Writes the lake's identity_edges, normalised (normalize_id) and without placeholders, to
   DIR/clean/edges/: the one edge file every engine reads.
2. Runs, one process each, timing wall clock and peak memory (the child's max RSS):
   - userlake stitch with its default rules (hubs, limits: the real nightly job), writing
     id_graph, rejected_edges, merge_log and run_stats;
   - userlake stitch with the guard rails off, whose components must equal the peers';
   - DuckDB: iterative min-label propagation in SQL, writing an id_graph file;
   - networkx: connected_components, writing an id_graph file.
3. Prints a table with the ratios, and checks that the component counts agree.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import pyarrow.compute as pc
import pyarrow.dataset as ds

HERE = os.path.dirname(os.path.abspath(__file__))
NO_GUARDS = """[limits]
[hubs]
default = 4000000000
device_id = 4000000000
phone = 4000000000
member_id = 4000000000
"""
CLEAN_EDGES = """COPY (
  SELECT a_type, a_value, b_type, b_value, seen_at, source FROM (
    SELECT lower(trim(a_type)) AS a_type, normalize_id(a_type, a_value) AS a_value,
           lower(trim(b_type)) AS b_type, normalize_id(b_type, b_value) AS b_value,
           seen_at, source
    FROM identity_edges)
  WHERE a_value IS NOT NULL AND b_value IS NOT NULL
) TO '{out}' STORED AS PARQUET"""


def run(command):
    """Runs a command, failing the comparison if it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr}")
    return done.stdout


def run_measured(command):
    """Runs a command in a fresh child and returns (seconds, peak RSS MiB, stdout)."""
    wrapper = [
        sys.executable,
        "-c",
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "s = time.perf_counter() - t\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "sys.stderr.write(p.stderr)\n"
        "print(json.dumps({'rc': p.returncode, 'seconds': s, 'rss_mib': r, 'stdout': p.stdout}))\n",
    ] + command
    out = subprocess.run(wrapper, capture_output=True, text=True)
    report = json.loads(out.stdout)
    if report["rc"] != 0:
        sys.exit(f"failed: {' '.join(command)}\n{out.stderr}")
    return report["seconds"], report["rss_mib"], report["stdout"]


def same_partition(userlake_graph, peer_graph):
    """Whether two graphs group the identifiers identically (a bijection of labels)."""
    import duckdb

    con = duckdb.connect()
    pairs, left, right, matched = con.execute(
        f"""SELECT count(DISTINCT (u.unified_id, p.component)), count(DISTINCT u.unified_id),
                   count(DISTINCT p.component), count(*)
            FROM read_parquet('{userlake_graph}/*.parquet') u
            JOIN read_parquet('{peer_graph}') p USING (id_type, id_value)"""
    ).fetchone()
    total = con.execute(f"SELECT count(*) FROM read_parquet('{userlake_graph}/*.parquet')").fetchone()[0]
    return pairs == left == right and matched == total


def count_components(path, column):
    table = ds.dataset(path, format="parquet").to_table(columns=[column])
    return table.num_rows, len(pc.unique(table[column]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--userlake", required=True)
    parser.add_argument("--lake", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--skip", action="append", default=[], help="duckdb or networkx")
    args = parser.parse_args()
    work = os.path.abspath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "clean", "edges"))
    edges_file = os.path.join(work, "clean", "edges", "part-0.parquet")
    run([args.userlake, "sql", "--lake", args.lake, "-c", CLEAN_EDGES.format(out=edges_file)])
    edges = ds.dataset(edges_file, format="parquet").count_rows()
    rules = os.path.join(work, "no_guards.toml")
    with open(rules, "w") as f:
        f.write(NO_GUARDS)
    clean = os.path.join(work, "clean")
    partitions = ["--target-partitions", str(args.threads)]

    results = []
    seconds, rss, _ = run_measured(
        [args.userlake, "stitch", "--lake", clean, "--edges", "edges", "--out",
         os.path.join(work, "userlake")] + partitions
    )
    ids, comps = count_components(os.path.join(work, "userlake", "id_graph"), "unified_id")
    results.append(("userlake stitch (default rules: hubs, limits)", seconds, rss, ids, comps, None))
    seconds, rss, _ = run_measured(
        [args.userlake, "stitch", "--lake", clean, "--edges", "edges", "--rules", rules,
         "--out", os.path.join(work, "userlake_plain")] + partitions
    )
    ids, comps = count_components(os.path.join(work, "userlake_plain", "id_graph"), "unified_id")
    results.append(("userlake stitch (guard rails off)", seconds, rss, ids, comps, None))
    plain = results[-1]
    if "duckdb" not in args.skip:
        seconds, rss, out = run_measured(
            [sys.executable, os.path.join(HERE, "duckdb_components.py"), "--edges",
             os.path.join(clean, "edges"), "--out", os.path.join(work, "duckdb_id_graph.parquet"),
             "--threads", str(args.threads)]
        )
        summary = json.loads(out)
        results.append((f"DuckDB {__import__('duckdb').__version__} (min-label propagation, "
                        f"{summary['rounds']} rounds)", seconds, rss, summary["identifiers"],
                        summary["components"],
                        os.path.join(work, "duckdb_id_graph.parquet")))
    if "networkx" not in args.skip:
        seconds, rss, out = run_measured(
            [sys.executable, os.path.join(HERE, "networkx_components.py"), "--edges",
             os.path.join(clean, "edges"), "--out", os.path.join(work, "networkx_id_graph.parquet")]
        )
        summary = json.loads(out)
        results.append((f"networkx {__import__('networkx').__version__}", seconds, rss,
                        summary["identifiers"], summary["components"],
                        os.path.join(work, "networkx_id_graph.parquet")))

    print(f"\n{edges:,} edges from {args.lake}, {args.threads} threads\n")
    print("| engine | seconds | peak memory (MiB) | identifiers | components | time / userlake's (default rules) | same components as userlake (guard rails off) |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    plain_graph = os.path.join(work, "userlake_plain", "id_graph")
    for name, seconds, rss, ids, comps, graph in results:
        same = ""
        if graph is not None:
            same = "yes" if (ids, comps) == (plain[3], plain[4]) and same_partition(plain_graph, graph) else "NO"
        ok &= same != "NO"
        print(f"| {name} | {seconds:.2f} | {rss:,.0f} | {ids:,} | {comps:,} | "
              f"{seconds / results[0][1]:.2f} | {same} |")
    if not ok:
        sys.exit("the engines disagree on the components")


if __name__ == "__main__":
    main()
