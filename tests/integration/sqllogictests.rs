//! Runs `tests/slt/*.slt` against the configured userlake session (our functions and the
//! sample lake registered), once per parallelism in `TARGET_PARTITIONS`, so every result is
//! also checked not to depend on how the input is partitioned.
//!
//! `USERLAKE_SLT=FILTER cargo test --test integration sqllogictest` runs only the files whose
//! name contains FILTER.

use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use userlake::lake::LakeLocation;
use userlake::{SessionOptions, build_session};

const TARGET_PARTITIONS: [usize; 3] = [1, 2, 8];

struct UserlakeDb {
    ctx: SessionContext,
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

impl From<DataFusionError> for SltError {
    fn from(e: DataFusionError) -> Self {
        SltError(e.to_string())
    }
}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => DefaultColumnType::Integer,
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

/// Cells as the .slt files spell them: NULL, (empty) for '', floats to 12 significant digits.
fn cell(array: &ArrayRef, row: usize) -> Result<String, SltError> {
    if array.is_null(row) {
        return Ok("NULL".to_string());
    }
    let float = match array.data_type() {
        DataType::Float64 => Some(
            array
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .map(|a| a.value(row)),
        ),
        DataType::Float32 => Some(
            array
                .as_any()
                .downcast_ref::<arrow::array::Float32Array>()
                .map(|a| a.value(row) as f64),
        ),
        _ => None,
    };
    if let Some(Some(value)) = float {
        if value.is_finite() {
            let rounded: f64 = format!("{value:.11e}").parse().unwrap_or(value);
            return Ok(format!("{rounded}"));
        }
        return Ok(format!("{value}"));
    }
    let options = FormatOptions::default().with_null("NULL");
    let formatter =
        ArrayFormatter::try_new(array.as_ref(), &options).map_err(|e| SltError(e.to_string()))?;
    let text = formatter.value(row).to_string();
    Ok(if text.is_empty() {
        "(empty)".to_string()
    } else {
        text
    })
}

#[async_trait]
impl AsyncDB for UserlakeDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let frame = self.ctx.sql(sql).await?;
        let schema = frame.schema().inner().clone();
        let batches: Vec<RecordBatch> = frame.collect().await?;
        let is_statement = schema.fields().is_empty()
            || (schema.fields().len() == 1 && schema.field(0).name() == "count" && {
                let upper = sql.trim_start().to_ascii_uppercase();
                upper.starts_with("COPY")
                    || upper.starts_with("INSERT")
                    || upper.starts_with("CREATE")
            });
        if is_statement {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let mut rows = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                rows.push(
                    batch
                        .columns()
                        .iter()
                        .map(|column| cell(column, row))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "userlake"
    }

    async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

fn slt_files(filter: Option<&str>) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "slt"));
    if let Some(filter) = filter {
        files.retain(|p| p.to_string_lossy().contains(filter));
    }
    files.sort();
    files
}

/// How a file's session is set up: its parallelism, and the workers it distributes over
/// (none: one process).
#[derive(Clone)]
struct Setup {
    partitions: usize,
    workers: Vec<url::Url>,
}

impl std::fmt::Display for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "target_partitions={}", self.partitions)?;
        if !self.workers.is_empty() {
            write!(f, ", over {} workers", self.workers.len())?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqllogictest_files_pass_at_every_parallelism() {
    let filter = std::env::var("USERLAKE_SLT").ok().filter(|f| !f.is_empty());
    let lake = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    let files = slt_files(filter.as_deref());
    let mut setups: Vec<Setup> = TARGET_PARTITIONS
        .iter()
        .map(|&partitions| Setup {
            partitions,
            workers: Vec::new(),
        })
        .collect();
    // and once over two workers, with the lake's files split so that its scans fan out (the
    // files' own in-memory tables are not split: datafusion-distributed runs them here)
    #[cfg(feature = "cluster")]
    let _workers = {
        let workers = [
            crate::cluster::Worker::start(&[]),
            crate::cluster::Worker::start(&[]),
        ];
        setups.push(Setup {
            partitions: 2,
            workers: workers
                .iter()
                .map(|w| url::Url::parse(&w.url).expect("a worker url"))
                .collect(),
        });
        workers
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        for setup in &setups {
            let lake = lake.clone();
            let session_setup = setup.clone();
            let mut runner = Runner::new(move || {
                let lake = lake.clone();
                let setup = session_setup.clone();
                async move {
                    let distributed = !setup.workers.is_empty();
                    let session = build_session(&SessionOptions {
                        lake: Some(LakeLocation::Local(lake)),
                        target_partitions: Some(setup.partitions),
                        workers: setup.workers,
                        bytes_per_task: distributed.then_some(1),
                        ..SessionOptions::default()
                    })
                    .await
                    .map_err(|e| SltError(e.to_string()))?;
                    Ok::<_, SltError>(UserlakeDb { ctx: session.ctx })
                }
            });
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            match runner.run_file_async(file).await {
                Ok(()) => {
                    passed += 1;
                    println!("ok      {name} ({setup})");
                }
                Err(e) => {
                    failed += 1;
                    println!("FAILED  {name} ({setup})\n{e}\n");
                }
            }
        }
    }
    println!("sqllogictest: {passed} passed, {failed} failed");
    assert!(!files.is_empty(), "no .slt file matches {filter:?}");
    assert_eq!(
        failed, 0,
        "{failed} sqllogictest runs failed (their errors are above)"
    );
}
