"""The reference for userlake's audience bitmaps: the same questions answered by DuckDB in plain
SQL on the same Parquet file, and the bitmaps userlake stored read back by pyroaring (CRoaring's
portable 64-bit format).

    audience_reference.py ROWS.parquet BITMAPS.parquet OUT_DIR

ROWS has columns grp, person, tag. BITMAPS is what userlake wrote: grp and people (bitmap_agg).
Prints JSON: per group, the distinct people, the people with both tags t1 and t2, the people
of (t1 | t2) & t3 - t4, the people in an odd number of t1, t2, t5, and whether pyroaring read
userlake's bitmap as DuckDB's set of people. Writes OUT_DIR/pyroaring.parquet: DuckDB's sets
serialised by pyroaring, for userlake to read.
"""
import json
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pyroaring import BitMap64

rows, bitmaps, out_dir = sys.argv[1:4]
con = duckdb.connect()
con.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet('{rows}')")

# one row per group and person: which tags they have (a NULL tag is none of them)
per_person = """
  SELECT grp, person,
         bool_or(tag = 't1') IS TRUE AS t1, bool_or(tag = 't2') IS TRUE AS t2,
         bool_or(tag = 't3') IS TRUE AS t3, bool_or(tag = 't4') IS TRUE AS t4,
         bool_or(tag = 't5') IS TRUE AS t5
  FROM r WHERE person IS NOT NULL GROUP BY grp, person
"""
answers = {}
for grp, distinct, both, expression, odd in con.execute(f"""
  SELECT g.grp,
         count(p.person),
         count(p.person) FILTER (WHERE p.t1 AND p.t2),
         count(p.person) FILTER (WHERE (p.t1 OR p.t2) AND p.t3 AND NOT p.t4),
         count(p.person) FILTER (WHERE (p.t1::INT + p.t2::INT + p.t5::INT) % 2 = 1)
  FROM (SELECT DISTINCT grp FROM r) g LEFT JOIN ({per_person}) p ON p.grp = g.grp
  GROUP BY g.grp ORDER BY g.grp
""").fetchall():
    answers[str(grp)] = {
        "distinct": distinct,
        "t1_and_t2": both,
        "expression": expression,
        "odd_of_t1_t2_t5": odd,
    }

members = {
    grp: sorted(people or [])
    for grp, people in con.execute(
        "SELECT grp, list(DISTINCT person) FILTER (WHERE person IS NOT NULL) FROM r GROUP BY grp"
    ).fetchall()
}
stored = pq.read_table(bitmaps).to_pylist()
for row in stored:
    read = list(BitMap64.deserialize(row["people"]))
    answers[str(row["grp"])]["pyroaring_reads_ours"] = read == members[row["grp"]]

# DuckDB's sets, serialised by pyroaring, for userlake to read
pq.write_table(
    pa.table({
        "grp": pa.array(list(members), pa.int64()),
        "people": pa.array([BitMap64(m).serialize() for m in members.values()], pa.binary()),
        "size": pa.array([len(m) for m in members.values()], pa.int64()),
    }),
    f"{out_dir}/pyroaring.parquet",
)
print(json.dumps(answers, sort_keys=True))
