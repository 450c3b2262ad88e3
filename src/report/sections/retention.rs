//! Retention: the cohort heatmap (join week x day N) from `retention_cohort`.

use datafusion::prelude::SessionContext;

use super::{distinct, missing_table, no_rows};
use crate::error::Result;
use crate::report::charts::heatmap;
use crate::report::format::Kind;
use crate::report::page::{Block, Section};
use crate::report::rows::{has_table, query};

pub const ID: &str = "retention";
pub const TITLE: &str = "Retention";

const INTRO: &[&str] = &[
    "Each row is a cohort: the people who joined (were first active) in that week; each \
     column a day N after joining. A cell is the share of the cohort active on their day N, \
     from table retention_cohort (the retention function).",
    "The weekly grids (retention_matrix) count calendar weeks: week N is the Nth week after \
     the cohort's. Activity: the share of the week's new people active in week N \
     (retention_weekly). Revenue: buyers by the week of their first paid order, and the \
     revenue the cohort brings in week N as a share of its week 0 revenue, the net revenue \
     retention (value_retention).",
    "A blank cell is not zero: the lake cannot observe it yet, because some of the cohort \
     joined fewer than N days before the lake's last day.",
];

pub async fn section(ctx: &SessionContext) -> Result<Section> {
    let mut section = Section::new(ID, TITLE, INTRO);
    if let Some(why) = missing_table(ctx, &["retention_cohort"])? {
        return Ok(section.no_data(why));
    }
    // the day columns as the table has them (day_1, day_3, ...), in their numeric order
    let columns = query(
        ctx,
        "SELECT column_name FROM information_schema.columns \
         WHERE table_name = 'retention_cohort' AND column_name LIKE 'day\\_%' ESCAPE '\\'",
    )
    .await?;
    let mut days: Vec<(u32, String)> = columns
        .iter()
        .filter_map(|r| {
            let name = r.text("column_name");
            let n = name.strip_prefix("day_")?.parse().ok()?;
            Some((n, name))
        })
        .collect();
    days.sort();
    let rows = query(
        ctx,
        "SELECT *, CAST(cohort_week AS VARCHAR) AS week FROM retention_cohort \
         ORDER BY cohort_week",
    )
    .await?;
    if rows.is_empty() || days.is_empty() {
        return Ok(section.no_data(no_rows(
            "retention_cohort",
            "nobody joined in the lake's days",
        )));
    }
    let labels: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} ({} people)",
                r.text("week"),
                Kind::Count.print(r.number("cohort_size"))
            )
        })
        .collect();
    let columns: Vec<String> = days.iter().map(|(n, _)| format!("day {n}")).collect();
    let mut cells = Vec::new();
    for (y, row) in rows.iter().enumerate() {
        for (x, (_, column)) in days.iter().enumerate() {
            if let Some(share) = row.number(column) {
                cells.push((x, y, share));
            }
        }
    }
    if cells.is_empty() {
        return Ok(section.no_data(
            "no cohort has reached its first day column yet: the lake's days are too few to \
             observe any return",
        ));
    }
    section.push(Block::Chart(Box::new(heatmap(
        "Retention by join week",
        "Share of each week's new people active on day N after joining; blank: not observable yet.",
        &columns,
        &labels,
        &cells,
        Kind::Percent,
    ))));
    section.push(
        weekly_grid(
            ctx,
            "retention_weekly",
            "cohort_size",
            "people",
            "retained",
            "Active again in week N, by first-active week",
            "Share of each week's new people active in the Nth week after; blank: not begun yet.",
        )
        .await?,
    );
    section.push(
        weekly_grid(
            ctx,
            "value_retention",
            "buyers",
            "buyers",
            "net_revenue_retention",
            "Net revenue retention, by first-order week",
            "Revenue each cohort of first buyers brings in week N, as a share of its week 0 \
             revenue; blank: not begun yet.",
        )
        .await?,
    );
    Ok(section)
}

/// A heatmap of a weekly retention matrix `table` (cohort_week x week): `share` of each
/// cohort, labelled with its `size` column (`unit` in the label).
async fn weekly_grid(
    ctx: &SessionContext,
    table: &str,
    size: &str,
    unit: &str,
    share: &str,
    title: &str,
    caption: &str,
) -> Result<Block> {
    if !has_table(ctx, table)? {
        return Ok(Block::NoData(format!(
            "this run did not publish table {table} (its job has no step that does)"
        )));
    }
    let rows = query(
        ctx,
        &format!(
            "SELECT CAST(cohort_week AS VARCHAR) AS cohort, {size} AS size, week, {share} AS share \
             FROM {table} ORDER BY cohort_week, week"
        ),
    )
    .await?;
    let cohorts = distinct(&rows, "cohort");
    let mut weeks: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.number("week").map(|w| w as i64))
        .collect();
    weeks.sort_unstable();
    weeks.dedup();
    let mut cells = Vec::new();
    for row in &rows {
        let (Some(y), Some(x), Some(value)) = (
            cohorts.iter().position(|c| *c == row.text("cohort")),
            row.number("week")
                .and_then(|w| weeks.iter().position(|&n| n == w as i64)),
            row.number("share"),
        ) else {
            continue;
        };
        cells.push((x, y, value));
    }
    if cells.is_empty() {
        return Ok(Block::NoData(no_rows(
            table,
            "no cohort in the lake's weeks",
        )));
    }
    let labels: Vec<String> = cohorts
        .iter()
        .map(|cohort| {
            let people = rows
                .iter()
                .find(|r| &r.text("cohort") == cohort)
                .and_then(|r| r.number("size"));
            format!("{cohort} ({} {unit})", Kind::Count.print(people))
        })
        .collect();
    let columns: Vec<String> = weeks.iter().map(|w| format!("week {w}")).collect();
    Ok(Block::Chart(Box::new(heatmap(
        title,
        caption,
        &columns,
        &labels,
        &cells,
        Kind::Percent,
    ))))
}
