//! Differential tests against ClickHouse (PyPI `chdb`, in-process) on random data: ties,
//! repeated steps, rows matching several conditions, many users. Where ClickHouse's behaviour
//! is the intended one (window_funnel's default, strict_deduplication, strict_order and
//! allow_reentry modes; retention), userlake must give the same answer for every user.
//! On data with ties, strict_increase and strict_once are not compared: there ClickHouse loses
//! chains or depends on row order, which userlake fixes (see tests/slt/window_funnel.slt). On
//! data whose only ties are exact duplicate rows, where row order cannot matter, every mode but
//! strict_increase is compared (a duplicate of a step's row is a same-time step, and ClickHouse
//! still loses the chain to it).
//!
//! Set USERLAKE_SKIP_PEERS=1 to skip on a machine without the Python peers.

use crate::common::peers_skipped;
use crate::peer_engines as peers;

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use userlake::{SessionOptions, build_session};

/// Random events with distinct times within each user (ClickHouse orders ties by arrival).
fn random_events_without_ties(path: &std::path::Path, seed: u64, users: u32, per_user: u32) {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let (mut u, mut t, mut e, mut f) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for user in 0..users {
        let mut time = 0u32;
        for _ in 0..rng.random_range(0..per_user) {
            time += rng.random_range(1..6u32);
            u.push(user);
            t.push(time);
            e.push(rng.random_range(1..=5i64));
            f.push(rng.random_range(0..3i64));
        }
    }
    write_events(path, u, t, e, f);
}

/// Distinct times within each user, but rows repeated exactly (one row in three twice or
/// three times), matching one or several conditions.
fn random_events_with_duplicates(path: &std::path::Path, seed: u64, users: u32, per_user: u32) {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let (mut u, mut t, mut e, mut f) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for user in 0..users {
        let mut time = 0u32;
        for _ in 0..rng.random_range(0..per_user) {
            time += rng.random_range(1..6u32);
            let (code, flag) = (rng.random_range(1..=5i64), rng.random_range(0..3i64));
            let copies = if rng.random_bool(1.0 / 3.0) {
                rng.random_range(2..=3)
            } else {
                1
            };
            for _ in 0..copies {
                u.push(user);
                t.push(time);
                e.push(code);
                f.push(flag);
            }
        }
    }
    write_events(path, u, t, e, f);
}

fn write_events(path: &std::path::Path, u: Vec<u32>, t: Vec<u32>, e: Vec<i64>, f: Vec<i64>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("u", DataType::UInt32, false),
        Field::new("t", DataType::UInt32, false),
        Field::new("e", DataType::Int64, false),
        Field::new("f", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt32Array::from(u)),
            Arc::new(UInt32Array::from(t)),
            Arc::new(Int64Array::from(e)),
            Arc::new(Int64Array::from(f)),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// Random events: `users` users, times in a small range (many ties), event codes 1..=5 and a
/// flag, so rows often match several conditions.
fn random_events(path: &std::path::Path, seed: u64, users: u32, rows: usize) {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut u = Vec::with_capacity(rows);
    let mut t = Vec::with_capacity(rows);
    let mut e = Vec::with_capacity(rows);
    let mut f = Vec::with_capacity(rows);
    for _ in 0..rows {
        u.push(rng.random_range(0..users));
        t.push(rng.random_range(0..40u32));
        e.push(rng.random_range(1..=5i64));
        f.push(rng.random_range(0..3i64));
    }
    write_events(path, u, t, e, f);
}

async fn session_with(path: &std::path::Path, partitions: usize) -> SessionContext {
    let session = build_session(&SessionOptions {
        target_partitions: Some(partitions),
        ..SessionOptions::default()
    })
    .await
    .unwrap();
    session
        .ctx
        .register_parquet("ev", path.to_str().unwrap(), ParquetReadOptions::default())
        .await
        .unwrap();
    session.ctx
}

/// Runs `ours` in userlake and `theirs` in ClickHouse (chdb, reading the events file for
/// `{file}`), and fails naming `case` unless both give the same rows, at least `min_rows` of
/// them.
async fn assert_agrees(
    ctx: &SessionContext,
    path: &std::path::Path,
    ours: &str,
    theirs: &str,
    min_rows: usize,
    case: &str,
) {
    let userlake = peers::run_userlake(ctx, ours, 1).await;
    let theirs = theirs.replace("{file}", &format!("file('{}', Parquet)", path.display()));
    let clickhouse = peers::run_clickhouse(&theirs, 1, 2)
        .unwrap_or_else(|e| panic!("chdb (pip install -r tests/requirements.txt): {e}"));
    assert!(
        userlake.rows.len() >= min_rows,
        "{case}: {} rows",
        userlake.rows.len()
    );
    if let Err(difference) = peers::compare_rows(&userlake.rows, &clickhouse.rows) {
        panic!("{case}: {difference}");
    }
}

/// `window_funnel` against ClickHouse's `windowFunnel` at every window and in every mode (ours,
/// theirs as the extra parameters), grouped by user.
async fn window_funnel_agrees(
    ctx: &SessionContext,
    path: &std::path::Path,
    windows: &[i64],
    modes: &[(&str, &str)],
    conditions: &str,
    min_rows: usize,
    case: &str,
) {
    for window in windows {
        for (ours, theirs) in modes {
            assert_agrees(
                ctx,
                path,
                &format!(
                    "SELECT u, window_funnel({window}, '{ours}', t, {conditions}) FROM ev GROUP BY u ORDER BY u"
                ),
                &format!(
                    "SELECT u, windowFunnel({window}{theirs})(t, {conditions}) FROM {{file}} GROUP BY u ORDER BY u"
                ),
                min_rows,
                &format!("{case}, window {window}, mode '{ours}'"),
            )
            .await;
        }
    }
}

const CONDITIONS: &str = "e = 1, e = 2 OR f = 1, e = 3, e = 4 OR f = 2, e = 5";

#[tokio::test(flavor = "multi_thread")]
async fn window_funnel_matches_clickhouse_where_clickhouse_is_right() {
    if peers_skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (seed, users, rows) in [(1u64, 50u32, 2_000usize), (2, 400, 6_000), (3, 5, 3_000)] {
        let path = dir.path().join(format!("events-{seed}.parquet"));
        random_events(&path, seed, users, rows);
        let ctx = session_with(&path, 4).await;
        window_funnel_agrees(
            &ctx,
            &path,
            &[0, 3, 10, 100],
            &[
                ("", ""),
                ("strict_deduplication", ", 'strict_deduplication'"),
                ("strict_order", ", 'strict_order'"),
                (
                    "strict_order,allow_reentry",
                    ", 'strict_order', 'allow_reentry'",
                ),
            ],
            CONDITIONS,
            (users as usize).min(10),
            &format!("seed {seed}"),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn window_funnel_matches_clickhouse_in_every_mode_on_exact_duplicates() {
    if peers_skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    random_events_with_duplicates(&path, 5, 400, 30);
    let ctx = session_with(&path, 4).await;
    // every condition holds for e = 5 rows with f = 1 or 2 as well, so duplicates of such rows
    // could fill several steps
    let conditions = "e = 1 OR e = 5, e = 2 OR f = 1, e = 3 OR e = 5, e = 4 OR f = 2";
    window_funnel_agrees(
        &ctx,
        &path,
        &[0, 4, 12, 100],
        &[
            ("", ""),
            ("strict_once", ", 'strict_once'"),
            ("strict_deduplication", ", 'strict_deduplication'"),
            ("strict_order", ", 'strict_order'"),
            (
                "strict_once,strict_order",
                ", 'strict_once', 'strict_order'",
            ),
        ],
        conditions,
        350,
        "exact duplicates",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_matches_clickhouse() {
    if peers_skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    random_events(&path, 9, 300, 4_000);
    let ctx = session_with(&path, 3).await;
    let conditions = "e = 1, e = 2 AND f = 0, t > 30, f = 2";
    assert_agrees(
        &ctx,
        &path,
        &format!("SELECT u, retention({conditions}) FROM ev GROUP BY u ORDER BY u"),
        &format!("SELECT u, retention({conditions}) FROM {{file}} GROUP BY u ORDER BY u"),
        300,
        "retention",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sequence_functions_match_clickhouse_without_ties() {
    if peers_skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    random_events_without_ties(&path, 21, 300, 40);
    let ctx = session_with(&path, 4).await;
    let conditions = "e = 1, e = 2 OR f = 1, e = 3";
    for pattern in [
        "(?1)(?2)",
        "(?1).*(?2)",
        "(?1).(?2)",
        "(?1).*(?2).*(?3)",
        "(?2)(?1)(?3)",
        "(?1)(?t<=4)(?2)",
        "(?1)(?t<3)(?2)(?t<=5)(?3)",
        "(?1)(?t>6)(?2)",
        "(?2)(?t>=5)(?3)",
        ".*(?3)",
    ] {
        for (ours, theirs) in [
            ("sequence_match", "sequenceMatch"),
            ("sequence_count", "sequenceCount"),
        ] {
            assert_agrees(
                &ctx,
                &path,
                &format!("SELECT u, CAST({ours}('{pattern}', t, {conditions}) AS BIGINT) FROM ev GROUP BY u ORDER BY u"),
                &format!("SELECT u, toInt64({theirs}('{pattern}')(t, {conditions})) FROM {{file}} GROUP BY u ORDER BY u"),
                250,
                &format!("{ours}('{pattern}')"),
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sequence_next_node_matches_clickhouse_without_ties() {
    if peers_skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    random_events_without_ties(&path, 33, 300, 30);
    let ctx = session_with(&path, 4).await;
    for (direction, base) in [
        ("forward", "head"),
        ("forward", "first_match"),
        ("forward", "last_match"),
        ("backward", "tail"),
        ("backward", "first_match"),
        ("backward", "last_match"),
    ] {
        // values NULL on one row in five or so: ClickHouse leaves such rows out
        for ((events, ours_value), theirs_value) in [
            ("e = 1", "CAST(e AS VARCHAR)"),
            ("e = 1, e = 2 OR f = 1", "CAST(e AS VARCHAR)"),
            (
                "e = 1",
                "CASE WHEN e = 3 AND f = 0 THEN NULL ELSE CAST(e AS VARCHAR) END",
            ),
            (
                "e = 1, e = 2 OR f = 1",
                "CASE WHEN e = 3 AND f = 0 THEN NULL ELSE CAST(e AS VARCHAR) END",
            ),
        ]
        .into_iter()
        .zip([
            "toString(e)",
            "toString(e)",
            "if(e = 3 AND f = 0, NULL, toString(e))",
            "if(e = 3 AND f = 0, NULL, toString(e))",
        ]) {
            assert_agrees(
                &ctx,
                &path,
                &format!(
                    "SELECT u, sequence_next_node('{direction}', '{base}', t, {ours_value}, f <> 2, {events}) FROM ev GROUP BY u ORDER BY u"
                ),
                &format!(
                    "SELECT u, sequenceNextNode('{direction}', '{base}')(t, {theirs_value}, f != 2, {events}) FROM {{file}} GROUP BY u ORDER BY u"
                ),
                250,
                &format!("sequence_next_node('{direction}', '{base}', {ours_value}, {events})"),
            )
            .await;
        }
    }
}
