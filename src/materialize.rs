//! Tables a job writes as it goes: a query's rows streamed into Parquet files under a
//! directory of the output location, then registered under the table's name, so that later
//! statements read the files. Nothing is held in memory past the writer's buffers, which is
//! what keeps a job within `--memory-limit` where a `CREATE TABLE` would hold every row in an
//! in-memory table the memory pool does not see.

use std::time::Instant;

use datafusion::config::TableParquetOptions;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::lake::register_directory;
use crate::query::{QueryResult, statement_error};
use crate::script::Statement;
use crate::storage::Storage;

/// Writes `frame` as Parquet under `directory` (ending in `/`) of `storage`, replacing what
/// was there, and returns the rows written. A frame without rows still leaves one (empty)
/// file, so the table exists for readers.
pub async fn write_frame(frame: DataFrame, storage: &Storage, directory: &str) -> Result<u64> {
    let schema = frame.schema().inner().clone();
    // a stale file from an interrupted attempt must not join the table
    storage.delete_all(directory).await?;
    let counts = frame
        .write_parquet(
            &storage.url(directory),
            DataFrameWriteOptions::new(),
            Some(TableParquetOptions::default()),
        )
        .await?;
    if storage.list(directory).await?.is_empty() {
        // DataFusion writes no file for no rows
        let mut bytes = Vec::new();
        let writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None)?;
        writer.close()?;
        storage
            .put(&format!("{directory}part-0.parquet"), bytes)
            .await?;
    }
    Ok(counts
        .iter()
        .filter(|b| b.num_rows() == 1 && b.num_columns() == 1)
        .filter_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::UInt64Array>()
                .map(|a| a.value(0))
        })
        .sum())
}

/// Runs `statement` as a table written under `storage` when it is a `CREATE [OR REPLACE]
/// TABLE name AS query` of a bare name; `None` for any other statement (run it as usual).
pub async fn create_table_on_disk(
    ctx: &SessionContext,
    statement: &Statement,
    storage: &Storage,
) -> Result<Option<QueryResult>> {
    let started = Instant::now();
    let text = statement.text.trim_start();
    if !text
        .get(..6)
        .is_some_and(|word| word.eq_ignore_ascii_case("create"))
    {
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
    let rows = write_frame(frame, storage, &directory)
        .await
        .map_err(|e| match e {
            Error::DataFusion(e) => statement_error(statement, e),
            other => other,
        })?;
    register_directory(ctx, &name, &storage.url(&directory)).await?;
    let mut result = empty_result(started);
    result.written = Some(rows);
    Ok(Some(result))
}

fn empty_result(started: Instant) -> QueryResult {
    QueryResult {
        schema: std::sync::Arc::new(arrow::datatypes::Schema::empty()),
        batches: Vec::new(),
        elapsed: started.elapsed(),
        written: None,
    }
}
