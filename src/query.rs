//! Runs one statement and collects its result; errors carry the statement's number, its line,
//! and, where DataFusion knows it, the line and column of the offending SQL in the script.

use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use crate::cluster::{
    explain_distributed, is_distributed, name_dead_workers, plain_explain, refused_with_workers,
};
use crate::error::{Error, Result};
use crate::script::Statement;

pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub elapsed: Duration,
    /// Rows a statement wrote where it says so otherwise than by a `count` row (a table a
    /// job wrote to files).
    pub written: Option<u64>,
}

impl QueryResult {
    pub fn row_count(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// For `COPY` and `INSERT`, the rows written, which DataFusion reports as a one-row `count`.
    pub fn written_rows(&self) -> Option<u64> {
        if self.written.is_some() {
            return self.written;
        }
        let is_count = self.schema.fields().len() == 1 && self.schema.field(0).name() == "count";
        if !is_count || self.row_count() != 1 {
            return None;
        }
        let batch = self.batches.iter().find(|b| b.num_rows() == 1)?;
        batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::UInt64Array>()
            .map(|a| a.value(0))
    }
}

pub async fn execute(ctx: &SessionContext, statement: &Statement) -> Result<QueryResult> {
    let started = Instant::now();
    let distributed = is_distributed(ctx);
    if let Some(reason) = refused_with_workers(distributed, &statement.text) {
        return Err(statement_error(statement, DataFusionError::Plan(reason)));
    }
    let run = async {
        if distributed && let Some(query) = plain_explain(&statement.text) {
            let batch = explain_distributed(ctx, query).await?;
            return Ok((batch.schema(), vec![batch]));
        }
        let frame = ctx.sql(&statement.text).await?;
        let schema = frame.schema().inner().clone();
        let batches = frame.collect().await?;
        Ok::<_, DataFusionError>((schema, batches))
    };
    match run.await {
        Ok((schema, batches)) => Ok(QueryResult {
            schema,
            batches,
            elapsed: started.elapsed(),
            written: None,
        }),
        Err(error) => {
            let error = name_dead_workers(ctx, error).await;
            Err(statement_error(statement, error))
        }
    }
}

/// A DataFusion error of `statement`, with its number, line and the SQL's position.
pub fn statement_error(statement: &Statement, error: DataFusionError) -> Error {
    Error::Statement {
        number: statement.number,
        line: statement.line,
        source: Box::new(locate(error, statement.line)),
    }
}

/// Attaches the script line and column of the SQL that DataFusion blames, when it says.
fn locate(error: DataFusionError, statement_line: usize) -> Error {
    let span = error
        .iter()
        .find_map(|e| e.diagnostic().and_then(|d| d.span));
    match span {
        Some(span) if span.start.line > 0 => Error::Located {
            line: span.start.line + statement_line as u64 - 1,
            column: span.start.column,
            source: error,
        },
        _ => Error::DataFusion(error),
    }
}
