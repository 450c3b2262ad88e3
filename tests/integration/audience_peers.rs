//! Differential test: the audience bitmaps answer as DuckDB does in plain SQL (count DISTINCT,
//! per-person tag flags) on rows built to be hard: exact duplicate rows, people under several
//! tags, NULL people and NULL tags, a group of NULL people only, ids past 2^32; and the bitmaps
//! userlake stores are CRoaring's portable format both ways (pyroaring reads ours, we read
//! pyroaring's). `tests/peers/audience_reference.py`; USERLAKE_SKIP_PEERS=1 skips.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::common::{peer_reference, peers_skipped, session_with_parquet, write_rows_parquet};

/// 40,000 pseudo-random rows (a multiplicative hash of the row number) and their first 4,000
/// again, exactly: groups 0-6, where group 6 has only NULL people.
const ROWS: &str = "
  WITH numbered AS (
    SELECT value AS i, (value * 2654435761) % 4294967296 AS h FROM range(0, 40000)
  ), hard AS (
    SELECT
      i % 7 AS grp,
      CASE WHEN i % 7 = 6 OR h % 13 = 0 THEN NULL
           WHEN h % 17 = 0 THEN 5000000000 + h % 5
           ELSE (h / 7) % 3000 END AS person,
      CASE WHEN (h / 11) % 10 = 0 THEN NULL ELSE 't' || CAST((h / 3) % 6 AS VARCHAR) END AS tag
    FROM numbered
  )
  SELECT grp, person, tag FROM hard
  UNION ALL SELECT grp, person, tag FROM hard WHERE grp < 6 AND person < 600";

async fn column_i64(ctx: &SessionContext, sql: &str) -> Vec<(i64, i64)> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut rows = Vec::new();
    for batch in batches {
        let keys = batch.column(0).as_primitive::<Int64Type>();
        let values = batch.column(1).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            assert!(values.is_valid(row), "{sql}");
            rows.push((keys.value(row), values.value(row)));
        }
    }
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn audience_bitmaps_agree_with_duckdb_and_pyroaring() {
    if peers_skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rows = write_rows_parquet(dir.path(), ROWS).await;
    let bitmaps = dir.path().join("bitmaps.parquet");
    let writer = session_with_parquet(dir.path(), &["rows"], 2).await;
    let copy = format!(
        "COPY (SELECT grp, bitmap_agg(person) AS people FROM rows GROUP BY grp) TO '{}'",
        bitmaps.display()
    );
    writer.sql(&copy).await.unwrap().collect().await.unwrap();
    let reference = peer_reference(
        "audience_reference.py",
        &[
            rows.as_os_str(),
            bitmaps.as_os_str(),
            dir.path().as_os_str(),
        ],
    );
    let groups = reference.as_object().unwrap();
    assert_eq!(groups.len(), 7);
    assert_eq!(reference["6"]["distinct"], Value::from(0));

    let questions = [
        ("distinct", "bitmap_union_count(person)"),
        ("t1_and_t2", "intersect_count(person, tag, 't1', 't2')"),
        (
            "expression",
            "bitmap_expr_count(person, tag, '(t1 | t2) & t3 - t4')",
        ),
        (
            "odd_of_t1_t2_t5",
            "bitmap_count(bitmap_xor(bitmap_expr(person, tag, 't1'), \
             bitmap_expr(person, tag, 't2'), bitmap_expr(person, tag, 't5')))",
        ),
    ];
    for partitions in [1, 2, 8] {
        let ctx = session_with_parquet(dir.path(), &["rows", "pyroaring"], partitions).await;
        for (key, call) in questions {
            let ours =
                column_i64(&ctx, &format!("SELECT grp, {call} FROM rows GROUP BY grp")).await;
            assert_eq!(ours.len(), 7, "{call}");
            for (grp, value) in ours {
                assert_eq!(
                    reference[grp.to_string()][key],
                    Value::from(value),
                    "{call}, group {grp}, {partitions} partitions"
                );
            }
        }
        // the same from stored daily-style bitmaps: a bitmap per group and tag, combined later
        let stored = column_i64(
            &ctx,
            "WITH per_tag AS (SELECT grp, tag, bitmap_agg(person) AS people FROM rows \
             WHERE tag IS NOT NULL GROUP BY grp, tag) \
             SELECT grp, bitmap_expr_count(people, tag, '(t1 | t2) & t3 - t4') FROM per_tag \
             GROUP BY grp",
        )
        .await;
        for (grp, value) in stored {
            if let Some(expected) = reference.get(grp.to_string()) {
                assert_eq!(expected["expression"], Value::from(value), "stored, {grp}");
            }
        }
        // pyroaring's bitmaps of DuckDB's sets read here as the same sets
        let read = column_i64(
            &ctx,
            "SELECT grp, CAST(bitmap_count(people) = size AND \
             bitmap_to_string(people) = bitmap_to_string(bitmap_from_string(\
               array_to_string(bitmap_to_array(people), ','))) AS BIGINT) FROM pyroaring",
        )
        .await;
        assert_eq!(read.len(), 7);
        assert!(read.iter().all(|(_, same)| *same == 1), "{read:?}");
        let same_sets = column_i64(
            &ctx,
            "SELECT p.grp, CAST(bitmap_xor_count(p.people, r.people) AS BIGINT) FROM pyroaring p \
             JOIN (SELECT grp, bitmap_agg(person) AS people FROM rows GROUP BY grp) r \
             ON r.grp = p.grp",
        )
        .await;
        assert_eq!(same_sets.len(), 7);
        assert!(
            same_sets.iter().all(|(_, differ)| *differ == 0),
            "{same_sets:?}"
        );
    }
    for (grp, answers) in groups {
        assert_eq!(
            answers["pyroaring_reads_ours"],
            Value::Bool(true),
            "group {grp}"
        );
    }
}
