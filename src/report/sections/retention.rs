//! Retention: the cohort heatmap (join week x day N) from `retention_cohort`.

use datafusion::prelude::SessionContext;

use super::{missing_table, no_rows};
use crate::error::Result;
use crate::report::charts::heatmap;
use crate::report::format::Kind;
use crate::report::page::{Block, Section};
use crate::report::rows::query;

pub const ID: &str = "retention";
pub const TITLE: &str = "Retention";

const INTRO: &[&str] = &[
    "Each row is a cohort: the people who joined (were first active) in that week; each \
     column a day N after joining. A cell is the share of the cohort active on their day N, \
     from table retention_cohort (the retention function).",
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
    Ok(section)
}
