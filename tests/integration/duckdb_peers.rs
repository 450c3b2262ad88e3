//! Differential test: every query of `benches/queries/` gives the same answer in userlake, in
//! DuckDB (PyPI `duckdb`) and, where it has a ClickHouse twin, in ClickHouse (PyPI `chdb`) on
//! the sample lake. Set USERLAKE_SKIP_PEERS=1 to skip on a
//! machine without the Python peers; otherwise a missing peer fails the test.

use crate::peer_engines as peers;

use userlake::lake::LakeLocation;
use userlake::{SessionOptions, build_session};

#[tokio::test(flavor = "multi_thread")]
async fn benchmark_queries_agree_with_duckdb_and_clickhouse() {
    if crate::common::peers_skipped() {
        return;
    }
    let lake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    let session = build_session(&SessionOptions {
        lake: Some(LakeLocation::Local(lake.clone())),
        target_partitions: Some(2),
        ..SessionOptions::default()
    })
    .await
    .unwrap();
    let files = peers::query_files();
    assert!(files.len() >= 4);
    let mut twins = 0;
    for file in files {
        let query = std::fs::read_to_string(&file).unwrap();
        let ours = peers::run_userlake(&session.ctx, &query, 1).await;
        let theirs = peers::run_duckdb(&lake, &file, 1, 2)
            .unwrap_or_else(|e| panic!("DuckDB (pip install -r tests/requirements.txt): {e}"));
        assert!(!ours.rows.is_empty(), "{}", file.display());
        if let Err(difference) = peers::compare_rows(&ours.rows, &theirs.rows) {
            panic!("{}: {difference}", file.display());
        }
        if let Some(clickhouse_sql) = peers::clickhouse_twin(&file, &lake) {
            twins += 1;
            let clickhouse = peers::run_clickhouse(&clickhouse_sql, 1, 2)
                .unwrap_or_else(|e| panic!("chdb (pip install -r tests/requirements.txt): {e}"));
            if let Err(difference) = peers::compare_rows(&ours.rows, &clickhouse.rows) {
                panic!("{} against ClickHouse: {difference}", file.display());
            }
        }
    }
    assert!(twins >= 5, "{twins} queries have a ClickHouse twin");
}
