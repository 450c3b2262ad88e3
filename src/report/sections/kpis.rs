//! KPIs: DAU, MAU, stickiness, orders, GMV, AOV and refund rate by day, overall and per
//! acquisition channel, from `kpi_daily`.

use datafusion::prelude::SessionContext;

use super::{channels, distinct, missing_table, no_rows, values_by};
use crate::error::Result;
use crate::report::charts::{Axis, Mark, Series, categories};
use crate::report::format::Kind;
use crate::report::page::{Block, Section, Table, card};
use crate::report::rows::query;

pub const ID: &str = "kpis";
pub const TITLE: &str = "KPIs";

const INTRO: &[&str] = &[
    "Daily figures from table kpi_daily. DAU: people with any event that day; MAU: people with \
     an event in the 30 days ending that day; stickiness: DAU / MAU. Orders are the orders \
     placed (paid or later refunded), GMV their value, AOV = GMV / orders, refund rate = \
     refunded orders / orders.",
    "People are OneID persons: one person seen on WeChat, in the app and in a shop counts \
     once. A channel is the channel that acquired the person. The cards show the run's latest \
     day and its change against the same weekday one week earlier.",
];

/// The headline measures: column, label, kind.
const MEASURES: [(&str, &str, Kind); 7] = [
    ("dau", "DAU", Kind::Count),
    ("mau", "MAU", Kind::Count),
    ("stickiness", "Stickiness (DAU/MAU)", Kind::Percent),
    ("orders", "Orders", Kind::Count),
    ("gmv", "GMV", Kind::Money),
    ("aov", "AOV", Kind::Money),
    ("refund_rate", "Refund rate", Kind::Percent),
];

pub async fn section(ctx: &SessionContext) -> Result<Section> {
    let section = Section::new(ID, TITLE, INTRO);
    if let Some(why) = missing_table(ctx, &["kpi_daily"])? {
        return Ok(section.no_data(why));
    }
    let rows = query(
        ctx,
        "SELECT CAST(day AS VARCHAR) AS day, channel, dau, mau, stickiness, orders, gmv, aov, \
         refund_rate FROM kpi_daily WHERE day IS NOT NULL ORDER BY day, channel",
    )
    .await?;
    if rows.is_empty() {
        return Ok(section.no_data(no_rows("kpi_daily", "no events in the lake's days")));
    }
    Ok(build(section, &rows))
}

fn build(mut section: Section, rows: &[crate::report::rows::Row]) -> Section {
    let days = distinct(rows, "day");
    let latest = days.last().cloned().unwrap_or_default();
    let week_before = chrono::NaiveDate::parse_from_str(&latest, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.checked_sub_days(chrono::Days::new(7)))
        .map(|day| day.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let overall = |row: &crate::report::rows::Row| row.text("channel") == "all";
    let find = |day: &str, channel: &str| {
        rows.iter()
            .find(|row| row.text("day") == day && row.text("channel") == channel)
    };

    let now = find(&latest, "all");
    let before = find(&week_before, "all");
    let note = if before.is_some() {
        format!("vs {week_before}")
    } else {
        format!("no day {week_before} to compare with")
    };
    section.push(Block::Heading(format!("Latest day: {latest}")));
    section.push(Block::Cards(
        MEASURES
            .iter()
            .map(|(column, label, kind)| {
                card(
                    label,
                    *kind,
                    now.and_then(|r| r.number(column)),
                    before.and_then(|r| r.number(column)),
                    &note,
                )
            })
            .collect(),
    ));

    let overall_series = |column: &str, label: &str, kind: Kind, mark: Mark| {
        Series::new(
            label,
            mark,
            kind,
            values_by(rows, "day", &days, column, overall),
        )
    };
    section.push(Block::Chart(Box::new(categories(
        "Active people by day",
        "Lines: DAU and MAU of every channel together, per day.",
        &days,
        &[Axis::new("people", Kind::Count)],
        vec![
            overall_series("dau", "DAU", Kind::Count, Mark::Line),
            overall_series("mau", "MAU", Kind::Count, Mark::Line),
        ],
        false,
    ))));
    section.push(Block::Chart(Box::new(categories(
        "Orders and GMV by day",
        "Bars: orders placed (left axis); line: GMV in yuan (right axis).",
        &days,
        &[
            Axis::new("orders", Kind::Count),
            Axis::new("GMV", Kind::Money),
        ],
        vec![
            overall_series("orders", "orders", Kind::Count, Mark::Bar),
            overall_series("gmv", "GMV", Kind::Money, Mark::Line).on_axis(1),
        ],
        false,
    ))));
    section.push(Block::Chart(Box::new(categories(
        "Stickiness and refund rate by day",
        "Stickiness is DAU / MAU; the refund rate is refunded orders over orders placed that \
         day (no line on days without orders).",
        &days,
        &[Axis::new("share", Kind::Percent)],
        vec![
            overall_series("stickiness", "stickiness", Kind::Percent, Mark::Line),
            overall_series("refund_rate", "refund rate", Kind::Percent, Mark::Line),
        ],
        false,
    ))));

    let channels = channels(rows);
    let per_channel = |column: &str, kind: Kind| {
        channels
            .iter()
            .map(|channel| {
                Series::new(
                    channel.as_str(),
                    Mark::Bar,
                    kind,
                    values_by(rows, "day", &days, column, |row| {
                        &row.text("channel") == channel
                    }),
                )
                .stacked("channels")
            })
            .collect::<Vec<_>>()
    };
    section.push(Block::Chart(Box::new(categories(
        "DAU by acquisition channel",
        "Stacked bars: the people active that day by the channel that acquired them; each \
         person has one channel, so the bars add up to the day's DAU.",
        &days,
        &[Axis::new("people", Kind::Count)],
        per_channel("dau", Kind::Count),
        false,
    ))));
    section.push(Block::Chart(Box::new(categories(
        "GMV by acquisition channel",
        "Stacked bars: the value of the orders placed that day by the channel that acquired \
         the buyer; the bars add up to the day's GMV.",
        &days,
        &[Axis::new("GMV", Kind::Money)],
        per_channel("gmv", Kind::Money),
        false,
    ))));

    let mut table = Table::new(
        format!("Per channel on {latest}, with the change against {week_before}"),
        &[
            "channel",
            "DAU",
            "DAU change",
            "MAU",
            "stickiness",
            "orders",
            "GMV",
            "GMV change",
            "AOV",
            "refund rate",
        ],
        1,
    );
    for channel in std::iter::once("all".to_string()).chain(channels.iter().cloned()) {
        let Some(now) = find(&latest, &channel) else {
            continue;
        };
        let before = find(&week_before, &channel);
        let change = |column: &str, kind: Kind| {
            kind.change(now.number(column), before.and_then(|r| r.number(column)))
                .unwrap_or_else(|| crate::report::format::MISSING.to_string())
        };
        table.rows.push(vec![
            channel.clone(),
            Kind::Count.print(now.number("dau")),
            change("dau", Kind::Count),
            Kind::Count.print(now.number("mau")),
            Kind::Percent.print(now.number("stickiness")),
            Kind::Count.print(now.number("orders")),
            Kind::Money.print(now.number("gmv")),
            change("gmv", Kind::Money),
            Kind::Money.print(now.number("aov")),
            Kind::Percent.print(now.number("refund_rate")),
        ]);
    }
    section.push(Block::Table(table));
    section
}
