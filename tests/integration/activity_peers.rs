//! Differential test: `activity_lifecycle`, `stickiness` and `funnel_correlation` give the
//! tables DuckDB computes in plain SQL (`tests/peers/activity_reference.py`) on rows built to
//! be hard: exact duplicate rows, several rows a day, NULL people, days and items, people
//! active in one week only, at 1, 2 and 8 partitions. USERLAKE_SKIP_PEERS=1 skips.

use datafusion::arrow::util::display::array_value_to_string;
use serde_json::Value;

use crate::common::{peer_reference, peers_skipped, session_with_parquet, write_rows_parquet};

/// 20,000 pseudo-random rows over 150 days from 2026-01-01 and their first 2,000 again; a
/// person converts when their id is a multiple of 3.
const ROWS: &str = "
  WITH numbered AS (
    SELECT value AS i, (value * 2654435761) % 4294967296 AS h FROM range(0, 20000)
  ), hard AS (
    SELECT
      CASE WHEN h % 29 = 0 THEN NULL ELSE (h / 13) % 900 END AS person,
      CASE WHEN h % 31 = 0 THEN NULL
           ELSE DATE '2026-01-01' + CAST(((h / 7) % 150) * ((h / 11) % 3 + 1) / 3 AS INT) END AS day,
      CASE WHEN h % 23 = 0 THEN NULL
           ELSE 'e' || CAST((h / 5) % 9 + ((h / 13) % 900) % 3 AS VARCHAR) END AS item
    FROM numbered
  )
  SELECT person, day, person % 3 = 0 AS converted, item FROM hard
  UNION ALL SELECT * FROM (SELECT person, day, person % 3 = 0, item FROM hard LIMIT 2000)";

const AS_OF: &str = "2026-06-10";

/// Every row of `sql`'s result as text, the way the reference prints it.
async fn rows_of(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Vec<Vec<String>> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut rows = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| array_value_to_string(c, row).unwrap())
                    .collect(),
            );
        }
    }
    rows
}

fn same(ours: &str, theirs: &Value) -> bool {
    match (ours.parse::<f64>(), theirs.as_f64()) {
        (Ok(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        _ => match theirs {
            Value::String(text) => ours == text,
            other => other == &Value::from(ours) || ours == other.to_string().as_str(),
        },
    }
}

fn assert_rows(case: &str, ours: &[Vec<String>], theirs: &Value, least: usize) {
    let theirs = theirs.as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "{case}");
    assert!(ours.len() >= least, "{case}: {} rows", ours.len());
    for (ours, theirs) in ours.iter().zip(theirs) {
        let theirs = theirs.as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{case}");
        for (a, b) in ours.iter().zip(theirs) {
            assert!(same(a, b), "{case}: {ours:?} vs {theirs:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn activity_functions_agree_with_duckdb() {
    if peers_skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rows = write_rows_parquet(dir.path(), ROWS).await;
    let reference = peer_reference(
        "activity_reference.py",
        &[rows.as_os_str(), std::ffi::OsStr::new(AS_OF)],
    );
    for partitions in [1, 2, 8] {
        let ctx = session_with_parquet(dir.path(), &["rows"], partitions).await;
        let at = |case: &str| format!("{case}, {partitions} partitions");
        let lifecycle = rows_of(
            &ctx,
            &format!(
                "SELECT CAST(l['period'] AS VARCHAR), l['new'], l['returning'], l['resurrecting'], \
                 l['dormant'] FROM (SELECT unnest(activity_lifecycle(person, day, 'week', NULL, \
                 DATE '{AS_OF}')) AS l FROM rows)"
            ),
        )
        .await;
        assert_rows(&at("lifecycle"), &lifecycle, &reference["lifecycle"], 20);
        for unit in ["week", "month"] {
            let stickiness = rows_of(
                &ctx,
                &format!(
                    "SELECT CAST(s['period'] AS VARCHAR), s['days'], s['people'], \
                     s['people_at_least'], s['active_people'] FROM (SELECT unnest(stickiness(\
                     person, day, '{unit}', DATE '{AS_OF}')) AS s FROM rows)"
                ),
            )
            .await;
            let case = format!("stickiness_{unit}");
            assert_rows(&at(&case), &stickiness, &reference[&case], 100);
        }
        let correlation = rows_of(
            &ctx,
            "SELECT c['item'], c['success_count'], c['failure_count'], c['success_total'], \
             c['failure_total'], c['odds_ratio'], c['ci_low'], c['ci_high'], c['small_counts'] \
             FROM (SELECT unnest(funnel_correlation(person, converted, item)) AS c FROM rows) \
             ORDER BY 1",
        )
        .await;
        assert_rows(
            &at("correlation"),
            &correlation,
            &reference["correlation"],
            9,
        );
        // strongest first: |ln odds ratio| never grows down the list
        let strengths = rows_of(
            &ctx,
            "SELECT abs(ln(c['odds_ratio'])) FROM (SELECT unnest(funnel_correlation(person, \
             converted, item)) AS c FROM rows)",
        )
        .await;
        let strengths: Vec<f64> = strengths.iter().map(|r| r[0].parse().unwrap()).collect();
        assert!(
            strengths.windows(2).all(|w| w[0] >= w[1] - 1e-12),
            "{strengths:?}"
        );
    }
}
