//! Running the same query in userlake and in a peer engine on the same Parquet files, and
//! comparing answers and timings. Shared by the `peer_comparison` bench and the `peers` test.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, Float64Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;

pub struct Run {
    pub engine: String,
    pub seconds: Vec<f64>,
    pub rows: Vec<Vec<String>>,
}

impl Run {
    pub fn median(&self) -> f64 {
        let mut sorted = self.seconds.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        if n == 0 {
            return f64::NAN;
        }
        if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        }
    }

    pub fn min(&self) -> f64 {
        self.seconds.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn max(&self) -> f64 {
        self.seconds
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// `median (min–max)` in seconds, as the benchmark tables print a timing.
    pub fn median_and_range(&self) -> String {
        format!("{:.3} ({:.3}–{:.3})", self.median(), self.min(), self.max())
    }
}

/// Cells as Python prints them (`repr` for floats), so both engines' rows compare as text.
fn cell(array: &ArrayRef, row: usize) -> String {
    if array.is_null(row) {
        return "NULL".to_string();
    }
    if let DataType::Float64 = array.data_type()
        && let Some(values) = array.as_any().downcast_ref::<Float64Array>()
    {
        let text = values.value(row).to_string();
        return if text.contains(['.', 'e', 'N', 'i']) {
            text
        } else {
            format!("{text}.0")
        };
    }
    let options = FormatOptions::default();
    ArrayFormatter::try_new(array.as_ref(), &options)
        .map(|f| f.value(row).to_string())
        .unwrap_or_else(|e| format!("<{e}>"))
}

pub fn rows_of(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            rows.push(batch.columns().iter().map(|c| cell(c, row)).collect());
        }
    }
    rows
}

pub async fn run_userlake(ctx: &SessionContext, query: &str, runs: usize) -> Run {
    let mut seconds = Vec::with_capacity(runs);
    let mut rows = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let batches = match ctx.sql(query).await {
            Ok(frame) => frame.collect().await,
            Err(e) => Err(e),
        };
        let batches = match batches {
            Ok(batches) => batches,
            Err(e) => panic!("userlake failed on {query}: {e}"),
        };
        seconds.push(started.elapsed().as_secs_f64());
        rows = rows_of(&batches);
    }
    Run {
        engine: "userlake".to_string(),
        seconds,
        rows,
    }
}

/// Runs `benches/duckdb_runner.py` (DuckDB from PyPI) on the same lake and query file.
pub fn run_duckdb(
    lake: &Path,
    query_file: &Path,
    runs: usize,
    threads: usize,
) -> Result<Run, String> {
    let mut args = vec![
        "--lake".to_string(),
        lake.display().to_string(),
        "--query-file".to_string(),
        query_file.display().to_string(),
    ];
    args.extend([
        "--runs".to_string(),
        runs.to_string(),
        "--threads".to_string(),
        threads.to_string(),
    ]);
    run_python_peer("duckdb_runner.py", &args)
}

/// Runs ClickHouse SQL in `benches/chdb_runner.py` (ClickHouse in-process, PyPI `chdb`).
pub fn run_clickhouse(query: &str, runs: usize, threads: usize) -> Result<Run, String> {
    let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(file.path(), query).map_err(|e| e.to_string())?;
    let args = vec![
        "--query-file".to_string(),
        file.path().display().to_string(),
        "--runs".to_string(),
        runs.to_string(),
        "--threads".to_string(),
        threads.to_string(),
    ];
    run_python_peer("chdb_runner.py", &args)
}

/// Runs a peer's runner script and reads its JSON report (engine, times, rows).
fn run_python_peer(script: &str, args: &[String]) -> Result<Run, String> {
    let runner = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(script);
    let output = Command::new("python3")
        .arg(runner)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).to_string());
    }
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("{script} printed no JSON: {e}"))?;
    let seconds = report["times"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
        .unwrap_or_default();
    let rows = report["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    row.as_array()
                        .map(|cells| {
                            cells
                                .iter()
                                .map(|c| c.as_str().unwrap_or("").to_string())
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Run {
        engine: report["engine"].as_str().unwrap_or(script).to_string(),
        seconds,
        rows,
    })
}

/// A UTC time as each engine prints it (`2026-01-01T00:00:00Z`, `2026-01-01 00:00:00+00:00`,
/// `2026-01-01 00:00:00`), as `2026-01-01 00:00:00`; other text unchanged.
fn utc_time(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let looks_like_time = bytes.len() >= 19
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && matches!(bytes[10], b'T' | b' ')
        && bytes[13] == b':'
        && bytes[16] == b':';
    if !looks_like_time {
        return text.into();
    }
    let without_zone = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))
        .unwrap_or(text);
    without_zone.replacen('T', " ", 1).into()
}

/// Equal rows, with floats equal to a relative 1e-9 (sums in another order differ in the
/// last bits) and UTC times equal however each engine prints them. Returns the first
/// difference.
pub fn compare_rows(ours: &[Vec<String>], theirs: &[Vec<String>]) -> Result<(), String> {
    if ours.len() != theirs.len() {
        return Err(format!("{} rows vs {} rows", ours.len(), theirs.len()));
    }
    for (index, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let same = a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x == y
                    || utc_time(x) == utc_time(y)
                    || match (x.parse::<f64>(), y.parse::<f64>()) {
                        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
                        _ => false,
                    }
            });
        if !same {
            return Err(format!("row {index}: {a:?} vs {b:?}"));
        }
    }
    Ok(())
}

/// The plain queries of `benches/queries/`: `NAME.sql`, which userlake and DuckDB both run, by
/// name (without the ClickHouse twins, see [`clickhouse_twin`]).
pub fn query_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/queries");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| {
        p.extension().is_some_and(|e| e == "sql")
            && !p.to_string_lossy().ends_with(".clickhouse.sql")
    });
    files.sort();
    files
}

/// The ClickHouse text of a query of `benches/queries/` (`NAME.clickhouse.sql`, reading the
/// lake's files with `file('{lake}/...')`), with `lake` filled in; `None` when it has none.
pub fn clickhouse_twin(query_file: &Path, lake: &Path) -> Option<String> {
    let twin = query_file.with_extension("clickhouse.sql");
    let text = std::fs::read_to_string(twin).ok()?;
    Some(text.replace("{lake}", &lake.display().to_string()))
}

/// Runs `query_file` `runs` times as users do, each a fresh `userlake sql` process on the lake
/// (start-up, opening the lake and printing the result as CSV to a pipe included); the rows are
/// not read back (the in-process run checks them).
pub fn run_userlake_process(
    lake: &Path,
    query_file: &Path,
    runs: usize,
    threads: usize,
) -> Result<Run, String> {
    let mut seconds = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_userlake"))
            .args(["sql", "--format", "csv", "--target-partitions"])
            .arg(threads.to_string())
            .arg("--lake")
            .arg(lake)
            .arg("-f")
            .arg(query_file)
            .output()
            .map_err(|e| format!("cannot run userlake: {e}"))?;
        seconds.push(started.elapsed().as_secs_f64());
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).to_string());
        }
    }
    Ok(Run {
        engine: "userlake".to_string(),
        seconds,
        rows: Vec::new(),
    })
}

/// The pairs of `benches/<folder>/`: each NAME with a `NAME.userlake.sql` and a
/// `NAME.<other>` file, as (name, the userlake SQL, the other file's path), by name.
fn pairs(folder: &str, other: &str) -> Vec<(String, String, std::path::PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(folder);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .strip_suffix(".userlake.sql")
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let ours = std::fs::read_to_string(dir.join(format!("{name}.userlake.sql"))).ok()?;
            let theirs = dir.join(format!("{name}.{other}"));
            theirs.is_file().then_some((name, ours, theirs))
        })
        .collect()
}

/// The queries of `benches/behaviour/`: (name, userlake SQL, ClickHouse SQL with `{lake}`).
pub fn behaviour_pairs() -> Vec<(String, String, String)> {
    pairs("behaviour", "clickhouse.sql")
        .into_iter()
        .filter_map(|(name, ours, theirs)| {
            Some((name, ours, std::fs::read_to_string(theirs).ok()?))
        })
        .collect()
}

/// The analyses of `benches/analyses/`: (name, userlake SQL with its functions, the path of the
/// same analysis in plain SQL, which userlake and DuckDB both run).
pub fn analysis_pairs() -> Vec<(String, String, std::path::PathBuf)> {
    pairs("analyses", "plain.sql")
}
