//! The generator: same seed, same rows; different seed, different rows; the committed sample
//! is exactly what the generator makes; bad arguments are refused.

mod common;

use std::path::Path;

use arrow::array::RecordBatch;
use common::{entry_names, error_of, sample_lake, userlake};
use userlake::generator::TABLES;
use userlake::lake::LakeLocation;
use userlake::{SessionOptions, build_session};

fn generate(out: &Path, args: &[&str]) {
    userlake()
        .args(["gen", "--quiet", "--out"])
        .arg(out)
        .args(args)
        .assert()
        .success();
}

/// Every table's rows, sorted by all columns, printed: equal strings mean equal rows.
async fn lake_rows(lake: &Path) -> Vec<(String, String)> {
    let session = build_session(&SessionOptions {
        lake: Some(LakeLocation::Local(lake.to_path_buf())),
        target_partitions: Some(2),
        ..SessionOptions::default()
    })
    .await
    .unwrap();
    let mut out = Vec::new();
    for table in TABLES {
        let frame = session.ctx.table(table).await.unwrap();
        let columns = frame.schema().fields().len();
        let order: Vec<String> = (1..=columns).map(|i| i.to_string()).collect();
        let sql = format!("SELECT * FROM {table} ORDER BY {}", order.join(", "));
        let batches: Vec<RecordBatch> = session
            .ctx
            .sql(&sql)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        out.push((table.to_string(), text));
    }
    out
}

fn assert_same_rows(a: &[(String, String)], b: &[(String, String)]) {
    for ((table, left), (_, right)) in a.iter().zip(b) {
        assert!(left == right, "table {table} differs");
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_rows_and_another_seed_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--users", "300", "--days", "20", "--start", "2026-03-01"];
    generate(
        &dir.path().join("a"),
        &[&args[..], &["--seed", "5"]].concat(),
    );
    generate(
        &dir.path().join("b"),
        &[&args[..], &["--seed", "5"]].concat(),
    );
    generate(
        &dir.path().join("c"),
        &[&args[..], &["--seed", "6"]].concat(),
    );
    let a = lake_rows(&dir.path().join("a")).await;
    let b = lake_rows(&dir.path().join("b")).await;
    let c = lake_rows(&dir.path().join("c")).await;
    assert_same_rows(&a, &b);
    for ((table, left), (_, right)) in a.iter().zip(&c) {
        assert!(
            left != right,
            "table {table} is the same under another seed"
        );
    }
}

#[tokio::test]
async fn regenerating_the_sample_gives_the_committed_rows() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        &[
            "--users",
            "1000",
            "--days",
            "60",
            "--start",
            "2026-01-01",
            "--seed",
            "42",
        ],
    );
    let fresh = lake_rows(dir.path()).await;
    let committed = lake_rows(&sample_lake()).await;
    assert_same_rows(&fresh, &committed);
}

#[test]
fn regenerating_replaces_tables_whole_and_leaves_others() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("mine")).unwrap();
    std::fs::write(dir.path().join("mine/keep.txt"), "x").unwrap();
    generate(dir.path(), &["--users", "50", "--days", "5"]);
    generate(dir.path(), &["--users", "60", "--days", "3"]);
    assert!(dir.path().join("mine/keep.txt").exists());
    let partitions = std::fs::read_dir(dir.path().join("events"))
        .unwrap()
        .count();
    assert_eq!(partitions, 3, "the older run's partitions are gone");
    let hidden: Vec<String> = entry_names(dir.path())
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "staging left behind: {hidden:?}");
}

#[test]
fn bad_generator_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let err = error_of(
        userlake()
            .args(["gen", "--users", "0", "--out"])
            .arg(dir.path()),
    );
    assert!(err.contains("--users 0"), "{err}");
    let err = error_of(
        userlake()
            .args(["gen", "--days", "0", "--out"])
            .arg(dir.path()),
    );
    assert!(err.contains("--days 0"), "{err}");
    let err = error_of(
        userlake()
            .args(["gen", "--start", "2026-13-01", "--out"])
            .arg(dir.path()),
    );
    assert!(err.contains("not a date"), "{err}");
}
