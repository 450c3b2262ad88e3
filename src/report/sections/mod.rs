//! The report's sections, one module each, in the order the page shows them. A section reads
//! the run's tables it names, and says "No data" (with the reason) when the run did not
//! publish one or it has no rows.

mod attribution;
mod audiences;
mod behaviour;
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

/// Every section. One that cannot read its tables (a job that changed a report's columns)
/// says so and why, and the others are drawn: the report never fails a run.
pub async fn all(ctx: &SessionContext, run: &ReportRun) -> Vec<Section> {
    vec![
        guarded(kpis::ID, kpis::TITLE, kpis::section(ctx).await),
        guarded(funnel::ID, funnel::TITLE, funnel::section(ctx).await),
        guarded(
            retention::ID,
            retention::TITLE,
            retention::section(ctx).await,
        ),
        guarded(layers::ID, layers::TITLE, layers::section(ctx).await),
        guarded(
            audiences::ID,
            audiences::TITLE,
            audiences::section(ctx).await,
        ),
        guarded(
            behaviour::ID,
            behaviour::TITLE,
            behaviour::section(ctx).await,
        ),
        guarded(ltv::ID, ltv::TITLE, ltv::section(ctx).await),
        guarded(fission::ID, fission::TITLE, fission::section(ctx).await),
        guarded(
            attribution::ID,
            attribution::TITLE,
            attribution::section(ctx).await,
        ),
        guarded(
            experiments::ID,
            experiments::TITLE,
            experiments::section(ctx).await,
        ),
        guarded(
            identity::ID,
            identity::TITLE,
            identity::section(ctx, run).await,
        ),
    ]
}

fn guarded(id: &'static str, title: &'static str, section: Result<Section>) -> Section {
    section.unwrap_or_else(|error| {
        log::warn!("report section {title}: {error}");
        Section::new(id, title, &[]).no_data(format!(
            "the report could not read this run's tables for this section: {error}"
        ))
    })
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
