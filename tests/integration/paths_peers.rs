//! Differential test: `path_edges` gives the edges DuckDB computes in plain SQL
//! (`tests/peers/paths_reference.py`) on rows built to be hard: exact duplicate rows, many
//! rows at the same second, NULL people, times and events, excluded events between the rows
//! of a session, at 1, 2 and 8 partitions, both directions, with and without collapsing.
//! USERLAKE_SKIP_PEERS=1 skips.

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use serde_json::Value;

use crate::common::{peer_reference, peers_skipped, session_with_parquet, write_rows_parquet};

/// 30,000 pseudo-random rows of 400 people over 1,500 minutes, and their first 3,000 again.
const ROWS: &str = "
  WITH numbered AS (
    SELECT value AS i, (value * 2654435761) % 4294967296 AS h FROM range(0, 30000)
  ), hard AS (
    SELECT
      CASE WHEN h % 37 = 0 THEN NULL ELSE (h / 13) % 400 END AS person,
      CASE WHEN h % 41 = 0 THEN NULL
           ELSE CAST(to_timestamp_seconds(1772409600 + ((h / 7) % 1500) * 60) AS TIMESTAMP) END AS t,
      CASE (h / 3) % 7 WHEN 0 THEN 'home' WHEN 1 THEN 'list' WHEN 2 THEN 'item'
           WHEN 3 THEN 'cart' WHEN 4 THEN 'pay' WHEN 5 THEN 'heartbeat' ELSE
           CASE WHEN h % 2 = 0 THEN 'item' ELSE NULL END END AS event
    FROM numbered
  )
  SELECT * FROM hard
  UNION ALL SELECT * FROM (SELECT * FROM hard LIMIT 3000)";

/// The cases of the reference, as path_edges arguments after (person, t, event).
const CASES: [(&str, &str); 4] = [
    ("from_session_start", "true, 'after', 4, 1800"),
    (
        "after_item_collapsed",
        "event = 'item', 'after', 3, INTERVAL '30 minutes', true, ['heartbeat']",
    ),
    (
        "before_pay",
        "event = 'pay', 'before', 3, 1800, false, ['heartbeat']",
    ),
    (
        "before_cart_no_gap",
        "event = 'cart', 'before', 2, NULL, true",
    ),
];

type EdgeRow = (i64, Option<String>, Option<String>, i64, i64, Option<f64>);

#[tokio::test(flavor = "multi_thread")]
async fn path_edges_agree_with_duckdb() {
    if peers_skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rows = write_rows_parquet(dir.path(), ROWS).await;
    let reference = peer_reference("paths_reference.py", &[rows.as_os_str()]);
    for partitions in [1, 2, 8] {
        let ctx = session_with_parquet(dir.path(), &["rows"], partitions).await;
        for (case, arguments) in CASES {
            let sql = format!(
                "SELECT e['depth'], e['from'], e['to'], e['people'], e['paths'], \
                 e['median_seconds'] FROM (SELECT unnest(path_edges(person, t, event, \
                 {arguments})) AS e FROM rows)"
            );
            let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            let mut ours: Vec<EdgeRow> = Vec::new();
            for batch in &batches {
                let depth = batch.column(0).as_primitive::<Int32Type>();
                let from = batch.column(1).as_string::<i32>();
                let to = batch.column(2).as_string::<i32>();
                let people = batch.column(3).as_primitive::<Int64Type>();
                let paths = batch.column(4).as_primitive::<Int64Type>();
                let seconds = batch.column(5).as_primitive::<Float64Type>();
                let text =
                    |a: &StringArray, row: usize| a.is_valid(row).then(|| a.value(row).to_string());
                for row in 0..batch.num_rows() {
                    ours.push((
                        depth.value(row) as i64,
                        text(from, row),
                        text(to, row),
                        people.value(row),
                        paths.value(row),
                        seconds.is_valid(row).then(|| seconds.value(row)),
                    ));
                }
            }
            let theirs = reference[case].as_array().unwrap();
            let context = format!("{case}, {partitions} partitions");
            assert_eq!(ours.len(), theirs.len(), "{context}");
            assert!(ours.len() >= 20, "{context}: only {} edges", ours.len());
            assert!(
                ours.iter().any(|e| e.1.is_none() || e.2.is_none()),
                "{context}: no boundary edge"
            );
            // without a gap a person has one session, so one path
            let one_session = arguments.contains("NULL");
            assert!(
                one_session || ours.iter().any(|e| e.4 > e.3),
                "{context}: no person with two paths"
            );
            for (ours, theirs) in ours.iter().zip(theirs) {
                let context = format!("{context}: {ours:?} vs {theirs}");
                assert_eq!(Value::from(ours.0), theirs[0], "{context}");
                assert_eq!(Value::from(ours.1.clone()), theirs[1], "{context}");
                assert_eq!(Value::from(ours.2.clone()), theirs[2], "{context}");
                assert_eq!(Value::from(ours.3), theirs[3], "{context}");
                assert_eq!(Value::from(ours.4), theirs[4], "{context}");
                match (ours.5, theirs[5].as_f64()) {
                    (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-6, "{context}"),
                    (None, None) => {}
                    _ => panic!("{context}"),
                }
            }
        }
    }
}
