//! The report's reading of a run's tables: a query's rows as JSON objects, which the sections
//! turn into charts and tables. The tables are small (reports, not events), so every query
//! is collected whole.

use arrow::json::ArrayWriter;
use datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// One row of a query's result; a NULL is an absent column.
#[derive(Debug, Clone)]
pub struct Row(Map<String, Value>);

impl Row {
    /// The column as text: a string as it is, a number or boolean printed, NULL as "".
    pub fn text(&self, column: &str) -> String {
        match self.0.get(column) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    /// The column as a number; `None` for NULL (an unobserved cell stays unobserved).
    pub fn number(&self, column: &str) -> Option<f64> {
        match self.0.get(column)? {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => text.parse().ok(),
            Value::Bool(flag) => Some(if *flag { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    /// The column as a number, NULL as 0 (for counts that a LEFT JOIN left empty).
    pub fn count(&self, column: &str) -> f64 {
        self.number(column).unwrap_or(0.0)
    }
}

/// Whether the session has table `name` (the run published it).
pub fn has_table(ctx: &SessionContext, name: &str) -> Result<bool> {
    Ok(ctx.table_exist(name)?)
}

/// The rows of `sql`. A failing query names the report section's SQL, so a run whose tables
/// lack a column the report reads says which.
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<Row>> {
    let frame = ctx
        .sql(sql)
        .await
        .map_err(|e| Error::context(format!("the report's query {sql}"), e))?;
    let batches = frame
        .collect()
        .await
        .map_err(|e| Error::context(format!("the report's query {sql}"), e))?;
    let mut writer = ArrayWriter::new(Vec::new());
    for batch in &batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Map<String, Value>> = serde_json::from_slice(&bytes)
        .map_err(|e| Error::context("the report's rows as JSON", e))?;
    Ok(rows.into_iter().map(Row).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_keep_nulls_apart_from_zeros() {
        let ctx = SessionContext::new();
        let rows = query(
            &ctx,
            "SELECT * FROM (VALUES ('a', 1.5, CAST(NULL AS DOUBLE)), ('b', 0.0, 2.0)) AS t(k, x, y)",
        )
        .await
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].text("k"), "a");
        assert_eq!(rows[0].number("x"), Some(1.5));
        assert_eq!(rows[0].number("y"), None);
        assert_eq!(rows[0].count("y"), 0.0);
        assert_eq!(rows[1].number("x"), Some(0.0));
        let none = query(&ctx, "SELECT 1 AS one WHERE false").await.unwrap();
        assert!(none.is_empty());
    }
}
