//! The generator: same seed, same rows; different seed, different rows; the committed sample
//! is exactly what the generator makes; bad arguments are refused.

use std::path::Path;

use crate::common::{entry_names, error_of, generate, sample_lake, userlake};
use arrow::array::RecordBatch;
use userlake::generator::TABLES;
use userlake::lake::LakeLocation;
use userlake::{SessionOptions, build_session};

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

#[tokio::test]
async fn a_lake_grown_a_day_at_a_time_has_the_rows_of_one_generated_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let grown = dir.path().join("grown");
    let plan = ["--users", "300", "--seed", "5", "--start", "2026-03-01"];
    generate(&grown, &[&plan[..], &["--days", "20"]].concat());
    // Options left out come from the lake's record; given again, they must match it.
    generate(&grown, &["--days", "21", "--from-day", "21"]);
    generate(
        &grown,
        &[&plan[..], &["--days", "23", "--from-day", "22"]].concat(),
    );
    // The same append again replaces its own files: no duplicate rows.
    generate(&grown, &["--days", "23", "--from-day", "22"]);
    let at_once = dir.path().join("at_once");
    generate(
        &at_once,
        &[&plan[..], &["--days", "23", "--plan-days", "20"]].concat(),
    );
    assert_same_rows(&lake_rows(&grown).await, &lake_rows(&at_once).await);
    let events = std::fs::read_dir(grown.join("events")).unwrap().count();
    assert_eq!(events, 23, "one partition a day");

    // A lake of a longer plan differs: the plan, not the lake's length, says who arrives when.
    let other_plan = dir.path().join("other_plan");
    generate(&other_plan, &[&plan[..], &["--days", "23"]].concat());
    let a = lake_rows(&at_once).await;
    let b = lake_rows(&other_plan).await;
    assert!(a[0].1 != b[0].1, "events should differ under another plan");
}

#[test]
fn appending_days_is_checked_against_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let err = error_of(
        userlake()
            .args(["gen", "--quiet", "--days", "5", "--from-day", "5", "--out"])
            .arg(&lake),
    );
    assert!(
        err.contains("_generator.json") && err.contains("--from-day 5"),
        "{err}"
    );
    generate(&lake, &["--users", "50", "--days", "5", "--seed", "3"]);
    let err = error_of(
        userlake()
            .args(["gen", "--quiet", "--days", "8", "--from-day", "7", "--out"])
            .arg(&lake),
    );
    assert!(
        err.contains("holds days 1 to 5") && err.contains("is 6"),
        "{err}"
    );
    let err = error_of(
        userlake()
            .args([
                "gen",
                "--quiet",
                "--days",
                "6",
                "--from-day",
                "6",
                "--seed",
                "4",
            ])
            .arg("--out")
            .arg(&lake),
    );
    assert!(
        err.contains("--seed 4") && err.contains("--seed 3"),
        "{err}"
    );
    let err = error_of(
        userlake()
            .args(["gen", "--quiet", "--days", "6", "--from-day", "7", "--out"])
            .arg(&lake),
    );
    assert!(
        err.contains("--from-day 7") && err.contains("--days (6)"),
        "{err}"
    );
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

/// Events and orders are written sorted within each day: by the first of unionid, device_id
/// and cookie_id (rows with none last), then time; so each identifier's rows of a day are
/// together. Checked on the files themselves, in the order they hold their rows.
#[test]
fn events_and_orders_are_sorted_by_person_then_time_within_each_day() {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMicrosecondType;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        &["--users", "400", "--days", "8", "--seed", "3"],
    );
    for (table, time) in [("events", "event_time"), ("orders", "order_time")] {
        let mut files = 0;
        for partition in std::fs::read_dir(dir.path().join(table)).unwrap() {
            let path = partition.unwrap().path().join("part-0.parquet");
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
            let mut keys: Vec<(bool, String, i64)> = Vec::new();
            for batch in reader {
                let batch = batch.unwrap();
                let ids: Vec<_> = ["unionid", "device_id", "cookie_id"]
                    .map(|c| batch.column_by_name(c).unwrap().as_string::<i32>().clone())
                    .into();
                let times = batch
                    .column_by_name(time)
                    .unwrap()
                    .as_primitive::<TimestampMicrosecondType>();
                for row in 0..batch.num_rows() {
                    let person = ids.iter().find(|c| c.is_valid(row)).map(|c| c.value(row));
                    keys.push((
                        person.is_none(),
                        person.unwrap_or_default().to_string(),
                        times.value(row),
                    ));
                }
            }
            assert!(
                keys.windows(2).all(|pair| pair[0] <= pair[1]),
                "{} is not sorted by person, then time",
                path.display()
            );
            let people: std::collections::HashSet<&String> = keys.iter().map(|k| &k.1).collect();
            assert!(
                table == "orders" || keys.len() > 2 * people.len(),
                "{}: too few rows per person for the test to mean anything",
                path.display()
            );
            files += 1;
        }
        assert!(files > 0, "{table}: no files");
        if table == "events" {
            assert_eq!(files, 8, "events: one file per day");
        }
    }
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
