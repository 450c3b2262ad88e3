//! Differential test: `retention_matrix` gives the cohort tables DuckDB computes in plain SQL
//! (`tests/peers/retention_reference.py`) on rows built to be hard: exact duplicate rows,
//! returns on the start day and before the cohort, NULL people, days and amounts, people who
//! never start, at 1, 2 and 8 partitions, for 'on', 'on_or_after' and brackets, with values.
//! USERLAKE_SKIP_PEERS=1 skips.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use datafusion::arrow::util::display::array_value_to_string;
use serde_json::Value;

use crate::common::{peer_reference, peers_skipped, session_with_parquet, write_rows_parquet};

/// 30,000 pseudo-random rows over 120 days from 2026-01-01 and their first 3,000 again.
const ROWS: &str = "
  WITH numbered AS (
    SELECT value AS i, (value * 2654435761) % 4294967296 AS h FROM range(0, 30000)
  ), hard AS (
    SELECT
      CASE WHEN h % 29 = 0 THEN NULL ELSE (h / 13) % 1500 END AS person,
      CASE WHEN h % 31 = 0 THEN NULL
           ELSE DATE '2026-01-01' + CAST((h / 7) % 120 AS INT) END AS day,
      CASE (h / 3) % 4 WHEN 0 THEN 'visit' WHEN 1 THEN 'buy' WHEN 2 THEN 'buy' ELSE 'view' END AS event,
      CASE WHEN h % 5 = 0 THEN NULL ELSE CAST((h / 17) % 1000 AS DOUBLE) / 8 END AS amount
    FROM numbered
  )
  SELECT * FROM hard
  UNION ALL SELECT * FROM (SELECT * FROM hard LIMIT 3000)";

const AS_OF: &str = "2026-04-20";

#[tokio::test(flavor = "multi_thread")]
async fn retention_matrix_agrees_with_duckdb() {
    if peers_skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rows = write_rows_parquet(dir.path(), ROWS).await;
    let reference = peer_reference(
        "retention_reference.py",
        &[rows.as_os_str(), std::ffi::OsStr::new(AS_OF)],
    );
    let modes = [
        ("on", "8, 'on'"),
        ("on_or_after", "8, 'on_or_after'"),
        ("brackets", "8, '0,1,2-3,4-8'"),
    ];
    for partitions in [1, 2, 8] {
        let ctx = session_with_parquet(dir.path(), &["rows"], partitions).await;
        for (mode, arguments) in modes {
            let sql = format!(
                "SELECT CAST(m['cohort'] AS VARCHAR), m['cohort_size'], m['period'], \
                 m['period_label'], m['people'], m['value'] FROM (SELECT unnest(retention_matrix(\
                 person, day, event = 'visit', event = 'buy', 'week', {arguments}, amount, \
                 DATE '{AS_OF}')) AS m FROM rows)"
            );
            let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            let mut ours = Vec::new();
            for batch in &batches {
                let size = batch.column(1).as_primitive::<Int64Type>();
                let period = batch.column(2).as_primitive::<Int32Type>();
                let label = batch.column(3).as_string::<i32>();
                let people = batch.column(4).as_primitive::<Int64Type>();
                let value = batch.column(5).as_primitive::<Float64Type>();
                for row in 0..batch.num_rows() {
                    ours.push((
                        array_value_to_string(batch.column(0), row).unwrap(),
                        size.value(row),
                        period.value(row) as i64,
                        label.value(row).to_string(),
                        people.is_valid(row).then(|| people.value(row)),
                        value.is_valid(row).then(|| value.value(row)),
                    ));
                }
            }
            let theirs = reference[mode].as_array().unwrap();
            assert_eq!(ours.len(), theirs.len(), "{mode}, {partitions} partitions");
            assert!(ours.len() >= 18 * 4, "{mode}: {}", ours.len());
            let observed = ours.iter().filter(|r| r.4.is_some()).count();
            assert!(
                observed > 0 && observed < ours.len(),
                "{mode}: no NULL cells"
            );
            for (ours, theirs) in ours.iter().zip(theirs) {
                let context = format!("{mode}, {partitions} partitions: {ours:?} vs {theirs}");
                assert_eq!(Value::from(ours.0.clone()), theirs[0], "{context}");
                assert_eq!(Value::from(ours.1), theirs[1], "{context}");
                assert_eq!(Value::from(ours.2), theirs[2], "{context}");
                assert_eq!(Value::from(ours.3.clone()), theirs[3], "{context}");
                assert_eq!(
                    ours.4.map(Value::from).unwrap_or(Value::Null),
                    theirs[4],
                    "{context}"
                );
                match (ours.5, theirs[5].as_f64()) {
                    (Some(a), Some(b)) => {
                        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{context}")
                    }
                    (None, None) => {}
                    _ => panic!("{context}"),
                }
            }
        }
    }
}
