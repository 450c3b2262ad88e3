//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample_lake() -> PathBuf {
    repo().join("data/sample")
}

/// The `userlake` binary, run from the repository root with no lake from the environment.
pub fn userlake() -> Command {
    let mut command = Command::cargo_bin("userlake").expect("the userlake binary is built");
    command.current_dir(repo()).env_remove("USERLAKE_LAKE");
    command
}

/// The output of a process that must succeed; `what` names it in the failure, with its stderr.
pub fn succeeded(
    output: std::io::Result<std::process::Output>,
    what: &str,
) -> std::process::Output {
    let output = output.unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs userlake expecting success; returns stdout.
pub fn stdout_of(command: &mut Command) -> String {
    String::from_utf8(succeeded(command.output(), "userlake").stdout).expect("utf-8 output")
}

/// Runs userlake expecting success; returns stderr (its progress lines and notes).
pub fn stderr_of(command: &mut Command) -> String {
    String::from_utf8_lossy(&succeeded(command.output(), "userlake").stderr).to_string()
}

/// Runs userlake expecting failure; returns stderr, checked to be a clean one-line error.
pub fn error_of(command: &mut Command) -> String {
    let output = command.output().expect("userlake runs");
    assert!(!output.status.success(), "userlake unexpectedly succeeded");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "a backtrace hint: {stderr}"
    );
    stderr
}

/// `userlake gen --quiet --out OUT ARGS...`, which must succeed: makes or grows a lake.
pub fn generate(out: &Path, args: &[&str]) {
    userlake()
        .args(["gen", "--quiet", "--out"])
        .arg(out)
        .args(args)
        .assert()
        .success();
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The names in a directory, sorted.
pub fn entry_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

/// Whether the tests that need `what` are skipped on this machine (`variable=1`); says so on
/// stderr. CI never sets these variables, so there the tests always run.
pub fn skipped(variable: &str, what: &str) -> bool {
    let skipped = std::env::var(variable).is_ok_and(|v| v == "1");
    if skipped {
        eprintln!("{variable}=1: {what} skipped");
    }
    skipped
}

/// Whether the peer comparisons are skipped (`USERLAKE_SKIP_PEERS=1`, for a machine without the
/// Python peers).
pub fn peers_skipped() -> bool {
    skipped("USERLAKE_SKIP_PEERS", "peer comparisons")
}

/// A server process the test started, killed and reaped when the test ends, passed or failed.
pub struct KilledOnDrop(pub std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `tests/peers/<script>` with python3 and `args`, and parses what it prints as JSON;
/// a failing script fails the test with its stderr.
pub fn peer_reference(script: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let path = repo().join("tests/peers").join(script);
    let output = succeeded(
        std::process::Command::new("python3")
            .arg(&path)
            .args(args)
            .output(),
        &format!("{script} (pip install -r tests/requirements.txt)"),
    );
    serde_json::from_slice(&output.stdout).expect("the reference prints JSON")
}

/// A userlake session (functions, no lake) at `partitions`, with `dir/<table>.parquet`
/// registered as each of `tables`.
pub async fn session_with_parquet(
    dir: &Path,
    tables: &[&str],
    partitions: usize,
) -> datafusion::prelude::SessionContext {
    let session = userlake::build_session(&userlake::SessionOptions {
        target_partitions: Some(partitions),
        ..userlake::SessionOptions::default()
    })
    .await
    .expect("a session");
    for table in tables {
        let path = dir.join(format!("{table}.parquet"));
        session
            .ctx
            .register_parquet(
                *table,
                path.to_str().expect("a UTF-8 path"),
                datafusion::prelude::ParquetReadOptions::default(),
            )
            .await
            .expect("the reference's Parquet file");
    }
    session.ctx
}

/// Writes the rows of the query `rows` to `dir/rows.parquet` (the hard pseudo-random rows a
/// differential test hands its peer and userlake alike); that file's path.
pub async fn write_rows_parquet(dir: &Path, rows: &str) -> PathBuf {
    let path = dir.join("rows.parquet");
    let writer = session_with_parquet(dir, &[], 2).await;
    let copy = format!("COPY ({rows}) TO '{}'", path.display());
    writer.sql(&copy).await.unwrap().collect().await.unwrap();
    path
}

/// Two CSV rows are the same when their texts are, field by field, except that rounded
/// numbers may differ by one unit of their last decimal: floating-point sums depend on the
/// order partitions finish in, which can move a value across a rounding boundary
/// (119.925 -> 119.92 or 119.93), in any run. Numbers printed to full precision (model fits)
/// may differ by one part in 10^9 for the same reason (0.3962720982468769 and ...765).
pub fn same_csv_row(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split(',').collect(), b.split(',').collect());
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            if x == y {
                return true;
            }
            let decimals = x.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => {
                    (x - y).abs() <= 10f64.powi(-decimals) * 1.000_001
                        || (x - y).abs() <= x.abs().max(y.abs()) * 1e-9
                }
                _ => false,
            }
        })
}

/// `same_csv_row` over every row of two CSV texts, and the same number of rows.
pub fn same_csv(a: &str, b: &str) -> bool {
    a.lines().count() == b.lines().count()
        && a.lines().zip(b.lines()).all(|(x, y)| same_csv_row(x, y))
}
