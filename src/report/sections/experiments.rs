//! Experiments: conversion and revenue per user of each arm with 95% intervals, and the test
//! of arm b against arm a, from `experiment_report`.

use datafusion::prelude::SessionContext;

use super::{missing_table, no_rows};
use crate::error::Result;
use crate::report::charts::intervals;
use crate::report::format::Kind;
use crate::report::page::{Block, Section, Table};
use crate::report::rows::query;

pub const ID: &str = "experiments";
pub const TITLE: &str = "Experiments";

const INTRO: &[&str] = &[
    "A/B experiments from table experiment_report. A user is a person who saw the \
     experiment; they convert with a paid order between their first exposure and the \
     experiment's end. People stitched across both arms are left out (column excluded).",
    "Each arm shows its estimate with a 95% interval: the Wilson score interval for \
     conversion, mean ± 1.96 standard errors for revenue per user. The tests compare arm b \
     with arm a: a two-proportion z-test on conversion and Welch's t-test on revenue per \
     user, with the p-value and the 95% interval of the difference. A p-value below 0.05 \
     with an interval that excludes 0 is a difference unlikely to be chance.",
];

pub async fn section(ctx: &SessionContext) -> Result<Section> {
    let mut section = Section::new(ID, TITLE, INTRO);
    if let Some(why) = missing_table(ctx, &["experiment_report"])? {
        return Ok(section.no_data(why));
    }
    let rows = query(
        ctx,
        "SELECT * FROM experiment_report ORDER BY experiment, arm",
    )
    .await?;
    if rows.is_empty() {
        return Ok(section.no_data(no_rows(
            "experiment_report",
            "no events carry an experiment and arm",
        )));
    }
    let arms: Vec<String> = rows
        .iter()
        .map(|r| format!("{} · {}", r.text("experiment"), r.text("arm")))
        .collect();
    let estimates = |value: &str, low: &str, high: &str| -> Vec<_> {
        rows.iter()
            .map(|r| (r.number(value), r.number(low), r.number(high)))
            .collect()
    };
    section.push(Block::Chart(Box::new(intervals(
        "Conversion rate per arm",
        "Bars: converters / users; the dark box across each bar is its 95% Wilson interval.",
        &arms,
        &estimates("conversion_rate", "conversion_ci_low", "conversion_ci_high"),
        Kind::Percent,
    ))));
    section.push(Block::Chart(Box::new(intervals(
        "Revenue per user per arm",
        "Bars: revenue per user (non-buyers count 0); the dark box is its 95% interval.",
        &arms,
        &estimates(
            "revenue_per_user",
            "revenue_per_user_ci_low",
            "revenue_per_user_ci_high",
        ),
        Kind::Money,
    ))));
    let interval = |kind: Kind, low: Option<f64>, high: Option<f64>| {
        format!("[{}, {}]", kind.print(low), kind.print(high))
    };
    let mut arms_table = Table::new(
        "Arms, with 95% intervals",
        &[
            "experiment",
            "arm",
            "users",
            "excluded",
            "converters",
            "conversion",
            "interval",
            "revenue per user",
            "interval",
        ],
        2,
    );
    for row in &rows {
        arms_table.rows.push(vec![
            row.text("experiment"),
            row.text("arm"),
            Kind::Count.print(row.number("users")),
            Kind::Count.print(row.number("excluded")),
            Kind::Count.print(row.number("converters")),
            Kind::Percent.print(row.number("conversion_rate")),
            interval(
                Kind::Percent,
                row.number("conversion_ci_low"),
                row.number("conversion_ci_high"),
            ),
            Kind::Money.print(row.number("revenue_per_user")),
            interval(
                Kind::Money,
                row.number("revenue_per_user_ci_low"),
                row.number("revenue_per_user_ci_high"),
            ),
        ]);
    }
    section.push(Block::Table(arms_table));
    let mut table = Table::new(
        "Tests of arm b against arm a",
        &[
            "experiment",
            "conversion lift",
            "difference in conversion (95%)",
            "p-value",
            "difference in revenue per user",
            "(95%)",
            "p-value",
        ],
        1,
    );
    // the test columns repeat on both arms' rows: one row per experiment
    for row in rows.iter().filter(|r| r.text("arm") == "b") {
        table.rows.push(vec![
            row.text("experiment"),
            Kind::Percent.print(row.number("conversion_lift")),
            interval(
                Kind::Percent,
                row.number("conversion_diff_ci_low"),
                row.number("conversion_diff_ci_high"),
            ),
            Kind::Decimal.print(row.number("conversion_p_value")),
            Kind::Money.print(row.number("revenue_per_user_diff")),
            interval(
                Kind::Money,
                row.number("revenue_diff_ci_low"),
                row.number("revenue_diff_ci_high"),
            ),
            Kind::Decimal.print(row.number("revenue_p_value")),
        ]);
    }
    section.push(Block::Table(table));
    Ok(section)
}
