//! Tables a job writes as it goes: a query's rows streamed into Parquet files under a
//! directory of the output location, then registered under the table's name, so that later
//! statements read the files. Nothing is held in memory past the writer's buffers, which is
//! what keeps a job within `--memory-limit` where a `CREATE TABLE` would hold every row in an
//! in-memory table the memory pool does not see.

use std::time::Instant;

use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::cluster::name_dead_workers;
use crate::error::{Error, Result};
use crate::lake::register_directory;
use crate::output::CsvWriter;
use crate::query::{QueryResult, statement_error};
use crate::script::Statement;
use crate::storage::Storage;

/// Writes `frame` as one CSV file at `file` of `storage`, with a header row, nested values
/// printed as `sql --format csv` prints them (DataFusion's CSV writer refuses them). Rows
/// stream through a local temporary file, then the file is uploaded (in parts when large).
pub async fn write_csv_file(frame: DataFrame, storage: &Storage, file: &str) -> Result<u64> {
    let local = tempfile::NamedTempFile::new().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let mut writer = CsvWriter::new(
        std::io::BufWriter::new(local.as_file()),
        frame.schema().inner(),
    );
    let mut stream = frame.execute_stream().await?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer.write(&batch)?;
    }
    std::io::Write::flush(&mut writer.finish()?).map_err(|e| Error::io(local.path(), e))?;
    storage.upload_file(local.path(), file).await?;
    Ok(rows)
}

/// Writes `frame` as Parquet under `directory` (ending in `/`) of `storage`, one file per
/// partition of its plan (one for an ordered result, whose plan merges into one), replacing
/// what was there, and returns the rows written. Rows stream from the plan into the files
/// (object-store uploads in parts), each file on a task of its own so encoding uses every
/// core, and only each writer's row group is held. The writers take nothing from the memory
/// pool: DataFusion's own Parquet sink does, and as an operator that cannot spill it fails
/// once spilling aggregates upstream have taken the whole pool (seen at 100M events under
/// `--memory-limit 4G`). A frame without rows still leaves files with the schema, so the
/// table exists for readers.
pub async fn write_frame(frame: DataFrame, storage: &Storage, directory: &str) -> Result<u64> {
    let schema = frame.schema().inner().clone();
    // a stale file from an interrupted attempt must not join the table
    storage.delete_all(directory).await?;
    let streams = frame.execute_stream_partitioned().await?;
    let mut writers = tokio::task::JoinSet::new();
    for (part, stream) in streams.into_iter().enumerate() {
        let path = storage.path(&format!("{directory}part-{part}.parquet"));
        let store = std::sync::Arc::clone(storage.store());
        let schema = schema.clone();
        writers.spawn(async move {
            let upload = object_store::buffered::BufWriter::new(store, path);
            write_stream(stream, upload, schema).await
        });
    }
    let mut rows = 0u64;
    while let Some(written) = writers.join_next().await {
        rows += written.map_err(|e| Error::context("a table writer stopped", e))??;
    }
    Ok(rows)
}

async fn write_stream(
    mut stream: datafusion::execution::SendableRecordBatchStream,
    upload: object_store::buffered::BufWriter,
    schema: arrow::datatypes::SchemaRef,
) -> Result<u64> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = AsyncArrowWriter::try_new(upload, schema, Some(properties))?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).await?;
    }
    writer.close().await?;
    Ok(rows)
}

/// Runs `statement` as a table written under `storage` when it is a `CREATE [OR REPLACE]
/// TABLE name AS query` of a bare name; `None` for any other statement (run it as usual).
pub async fn create_table_on_disk(
    ctx: &SessionContext,
    statement: &Statement,
    storage: &Storage,
) -> Result<Option<QueryResult>> {
    let started = Instant::now();
    // decided on the words, so that views and queries are not planned twice
    if !starts_create_table(&statement.text) {
        return Ok(None);
    }
    let plan = ctx
        .state()
        .create_logical_plan(&statement.text)
        .await
        .map_err(|e| statement_error(statement, e))?;
    let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) = plan else {
        return Ok(None);
    };
    let plain = create.name.schema().is_none()
        && create.constraints.is_empty()
        && create.column_defaults.is_empty();
    if !plain {
        return Ok(None);
    }
    let name = create.name.table().to_string();
    if ctx.table_exist(name.as_str())? {
        if create.if_not_exists {
            return Ok(Some(empty_result(started)));
        }
        if !create.or_replace {
            return Err(statement_error(
                statement,
                datafusion::error::DataFusionError::Plan(format!("table '{name}' already exists")),
            ));
        }
    }
    let frame = DataFrame::new(ctx.state(), create.input.as_ref().clone());
    let directory = format!("{name}/");
    let rows = match write_frame(frame, storage, &directory).await {
        Ok(rows) => rows,
        Err(Error::DataFusion(e)) => {
            let e = name_dead_workers(ctx, e).await;
            return Err(statement_error(statement, e));
        }
        Err(other) => return Err(other),
    };
    register_directory(ctx, &name, &storage.url(&directory)).await?;
    let mut result = empty_result(started);
    result.written = Some(rows);
    Ok(Some(result))
}

/// Whether `sql` begins `CREATE [OR REPLACE] [TEMPORARY] TABLE`.
fn starts_create_table(sql: &str) -> bool {
    let mut words = sql.split_whitespace().map(str::to_ascii_lowercase);
    if words.next().as_deref() != Some("create") {
        return false;
    }
    words
        .find(|w| !matches!(w.as_str(), "or" | "replace" | "temporary" | "temp"))
        .is_some_and(|w| w == "table")
}

fn empty_result(started: Instant) -> QueryResult {
    QueryResult {
        schema: std::sync::Arc::new(arrow::datatypes::Schema::empty()),
        batches: Vec::new(),
        elapsed: started.elapsed(),
        written: None,
    }
}

#[cfg(test)]
mod tests {
    use super::starts_create_table;

    #[test]
    fn recognises_create_table_statements_only() {
        assert!(starts_create_table("CREATE TABLE t AS SELECT 1"));
        assert!(starts_create_table("create or replace table t AS SELECT 1"));
        assert!(starts_create_table(
            "CREATE TEMPORARY\n TABLE t AS SELECT 1"
        ));
        assert!(!starts_create_table("CREATE VIEW t AS SELECT 1"));
        assert!(!starts_create_table(
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'x'"
        ));
        assert!(!starts_create_table("SELECT 1"));
    }
}
