//! Attribution: revenue per channel under the five models side by side, from
//! `attribution_report`.

use datafusion::prelude::SessionContext;

use super::{distinct, missing_table, no_rows, values_by};
use crate::error::Result;
use crate::report::charts::{Axis, Mark, Series, categories};
use crate::report::format::Kind;
use crate::report::page::{Block, Section, Table};
use crate::report::rows::query;

pub const ID: &str = "attribution";
pub const TITLE: &str = "Attribution";

const INTRO: &[&str] = &[
    "The revenue of paid orders credited to the channels of the touches (ad clicks, pushes, \
     shares) that preceded each order within the lookback window, under five models: first \
     touch, last touch, linear (equal shares), time decay (halving with each half-life before \
     the order) and position-based (40% first, 40% last, 20% between), from table \
     attribution_report.",
    "Every model credits the same total; orders without a touch are on the (no touch) row. \
     Where the models disagree, a channel opens journeys (first touch) or closes them (last \
     touch).",
];

/// The row of the orders no touch preceded.
const NO_TOUCH: &str = "(no touch)";

/// The models, as attribution_report's column suffixes, with their names.
const MODELS: [(&str, &str); 5] = [
    ("first_touch", "first touch"),
    ("last_touch", "last touch"),
    ("linear", "linear"),
    ("time_decay", "time decay"),
    ("position_based", "position-based"),
];

pub async fn section(ctx: &SessionContext) -> Result<Section> {
    let mut section = Section::new(ID, TITLE, INTRO);
    if let Some(why) = missing_table(ctx, &["attribution_report"])? {
        return Ok(section.no_data(why));
    }
    let sums: Vec<String> = MODELS
        .iter()
        .map(|(model, _)| format!("sum(revenue_{model}) AS {model}"))
        .collect();
    let rows = query(
        ctx,
        &format!(
            "SELECT channel, {} FROM attribution_report GROUP BY channel \
             ORDER BY channel = '(no touch)', sum(revenue_last_touch) DESC, channel",
            sums.join(", ")
        ),
    )
    .await?;
    if rows.is_empty() {
        return Ok(section.no_data(no_rows("attribution_report", "no paid orders")));
    }
    // orders without a touch credit no channel: they are in the table, not the chart
    let channels: Vec<String> = distinct(&rows, "channel")
        .into_iter()
        .filter(|c| c != NO_TOUCH)
        .collect();
    let untouched = rows
        .iter()
        .find(|r| r.text("channel") == NO_TOUCH)
        .and_then(|r| r.number("last_touch"));
    if channels.is_empty() {
        section.push(Block::Note(
            "No order was preceded by a touch within the lookback window: all the revenue is \
             on the (no touch) row."
                .to_string(),
        ));
    } else {
        section.push(Block::Chart(Box::new(categories(
            "Revenue per channel under each model",
            format!(
                "One bar per model for each channel, all campaigns together. The revenue of \
                 orders without a touch ({}) is credited to no channel and left out.",
                Kind::Money.print(untouched.or(Some(0.0)))
            ),
            &channels,
            &[Axis::new("revenue", Kind::Money)],
            MODELS
                .iter()
                .map(|(model, name)| {
                    Series::new(
                        *name,
                        Mark::Bar,
                        Kind::Money,
                        values_by(&rows, "channel", &channels, model, |_| true),
                    )
                })
                .collect(),
            false,
        ))));
    }
    let mut columns = vec!["channel"];
    columns.extend(MODELS.iter().map(|(_, name)| *name));
    let mut table = Table::new("Revenue credited per channel", &columns, 1);
    for row in &rows {
        let mut cells = vec![row.text("channel")];
        cells.extend(
            MODELS
                .iter()
                .map(|(model, _)| Kind::Money.print(row.number(model))),
        );
        table.rows.push(cells);
    }
    section.push(Block::Table(table));
    Ok(section)
}
