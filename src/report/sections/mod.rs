//! The report's sections, one module each, in the order the page shows them. A section reads
//! the run's tables it names, and says "No data" (with the reason) when the run did not
//! publish one or it has no rows.

mod attribution;
mod experiments;
mod fission;
mod funnel;
mod identity;
mod kpis;
mod layers;
mod ltv;
mod retention;

use datafusion::prelude::SessionContext;

use super::ReportRun;
use super::page::Section;
use super::rows::{Row, has_table};
use crate::error::Result;

pub async fn all(ctx: &SessionContext, run: &ReportRun) -> Result<Vec<Section>> {
    Ok(vec![
        kpis::section(ctx).await?,
        funnel::section(ctx).await?,
        retention::section(ctx).await?,
        layers::section(ctx).await?,
        ltv::section(ctx).await?,
        fission::section(ctx).await?,
        attribution::section(ctx).await?,
        experiments::section(ctx).await?,
        identity::section(ctx, run).await?,
    ])
}

/// Why a section has no data when the run lacks one of `tables`; `None` when it has them all.
fn missing_table(ctx: &SessionContext, tables: &[&str]) -> Result<Option<String>> {
    for table in tables {
        if !has_table(ctx, table)? {
            return Ok(Some(format!(
                "this run did not publish table {table} (its job has no step that does)"
            )));
        }
    }
    Ok(None)
}

/// Why a section has no data when its table has no rows.
fn no_rows(table: &str, meaning: &str) -> String {
    format!("table {table} has no rows: {meaning}")
}

/// The distinct values of `column` in the order the rows first show them.
fn distinct(rows: &[Row], column: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for row in rows {
        let value = row.text(column);
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}

/// The channels of rows that break a figure down by channel, in row order, without the
/// `all` rows (every channel together).
fn channels(rows: &[Row]) -> Vec<String> {
    distinct(rows, "channel")
        .into_iter()
        .filter(|channel| channel != "all")
        .collect()
}

/// For each of `categories`, the value of `value` on the row where `key` equals it and
/// `filter` holds; missing where there is no such row.
fn values_by(
    rows: &[Row],
    key: &str,
    categories: &[String],
    value: &str,
    filter: impl Fn(&Row) -> bool,
) -> Vec<Option<f64>> {
    categories
        .iter()
        .map(|category| {
            rows.iter()
                .find(|row| filter(row) && &row.text(key) == category)
                .and_then(|row| row.number(value))
        })
        .collect()
}
