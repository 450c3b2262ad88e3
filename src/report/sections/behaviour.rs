//! Behaviour beyond funnels: user flows as Sankey diagrams (`user_paths`), the weekly
//! lifecycle of active people and payers (`activity_lifecycle`), stickiness (`stickiness`),
//! and which events go with converting in the funnel (`funnel_correlation`).

use datafusion::prelude::SessionContext;

use super::{distinct, missing_table, no_rows};
use crate::error::Result;
use crate::report::charts::{Axis, Mark, Series, categories, sankey};
use crate::report::format::Kind;
use crate::report::page::{Block, Section, Table};
use crate::report::rows::{Row, has_table, query};

pub const ID: &str = "behaviour";
pub const TITLE: &str = "Behaviour";

/// The most edges of a flow shown per depth (the busiest); the table holds them all.
const EDGES_PER_DEPTH: usize = 6;
/// The most correlated items listed.
const CORRELATED_ITEMS: usize = 12;

const INTRO: &[&str] = &[
    "Flows (path_edges, table user_paths): each person's events of the lake's last days cut \
     into sessions at 30 minutes of inactivity, repeats collapsed; a band's width is the \
     people taking that step. '(session ended)' and '(session began)' are where paths stop. \
     The busiest steps of each column are drawn; the table has every edge.",
    "Lifecycle (activity_lifecycle): each week's active people are new (first seen that \
     week), returning (active the week before too) or resurrecting (back after a week or \
     more away); dormant people, drawn below zero, were active the week before but not \
     this one. For payers, new means a first purchase.",
    "Stickiness (stickiness): of each period's active people, the share active on exactly \
     N days of it, for the last complete week and month. Correlation (funnel_correlation): \
     the events and entry properties most over- or under-represented among the funnel's \
     converters against its drop-offs, by odds ratio; 'few' marks counts too small to \
     trust.",
];

pub async fn section(ctx: &SessionContext) -> Result<Section> {
    let mut section = Section::new(ID, TITLE, INTRO);
    if let Some(why) = missing_table(ctx, &["user_paths", "activity_lifecycle", "stickiness"])? {
        return Ok(section.no_data(why));
    }
    let paths = query(
        ctx,
        "SELECT flow, flow_order, depth, source, target, people FROM user_paths \
         ORDER BY flow_order, depth, people DESC, paths DESC, source NULLS FIRST, target NULLS FIRST",
    )
    .await?;
    if paths.is_empty() {
        section.push(Block::NoData(no_rows(
            "user_paths",
            "no session of the lake's last days has a path",
        )));
    }
    for flow in distinct(&paths, "flow") {
        let edges: Vec<&Row> = paths.iter().filter(|r| r.text("flow") == flow).collect();
        section.push(Block::Chart(Box::new(flow_chart(&flow, &edges))));
    }
    let lifecycle = query(
        ctx,
        "SELECT population, CAST(week AS VARCHAR) AS week, new_people, returning_people, \
         resurrecting_people, dormant_people FROM activity_lifecycle ORDER BY population, week",
    )
    .await?;
    for population in distinct(&lifecycle, "population") {
        let rows: Vec<&Row> = lifecycle
            .iter()
            .filter(|r| r.text("population") == population)
            .collect();
        section.push(Block::Chart(Box::new(lifecycle_chart(&population, &rows))));
    }
    if lifecycle.is_empty() {
        section.push(Block::NoData(no_rows(
            "activity_lifecycle",
            "the lake has no events of known people",
        )));
    }
    for (period_type, noun) in [("week", "week"), ("month", "month")] {
        let rows = query(
            ctx,
            &format!(
                "SELECT CAST(period AS VARCHAR) AS period, days, share FROM stickiness \
                 WHERE period_type = '{period_type}' AND complete AND period = \
                 (SELECT max(period) FROM stickiness WHERE period_type = '{period_type}' AND complete) \
                 ORDER BY days"
            ),
        )
        .await?;
        if let Some(first) = rows.first() {
            let labels: Vec<String> = rows.iter().map(|r| r.text("days")).collect();
            let shares = rows.iter().map(|r| r.number("share")).collect();
            section.push(Block::Chart(Box::new(categories(
                format!("Days active in the {noun} of {}", first.text("period")),
                format!("Share of the {noun}'s active people active on exactly N of its days."),
                &labels,
                &[Axis::new("share of active people", Kind::Percent)],
                vec![
                    Series::new("active on exactly N days", Mark::Bar, Kind::Percent, shares)
                        .labelled(),
                ],
                false,
            ))));
        } else {
            section.push(Block::NoData(format!(
                "table stickiness has no complete {noun}: the lake covers less than one"
            )));
        }
    }
    if has_table(ctx, "funnel_correlation")? {
        section.push(correlation_table(ctx).await?);
    }
    Ok(section)
}

/// One flow's Sankey diagram: the busiest edges of each depth, columns in time order.
fn flow_chart(flow: &str, edges: &[&Row]) -> crate::report::charts::Chart {
    let before = edges
        .iter()
        .any(|r| r.number("depth").is_some_and(|d| d < 0.0));
    let mut shown: Vec<&Row> = Vec::new();
    let mut depths_seen: Vec<String> = Vec::new();
    for edge in edges {
        let depth = edge.text("depth");
        if !depths_seen.contains(&depth) {
            depths_seen.push(depth);
        }
    }
    for depth in depths_seen {
        // the rows come busiest first within a depth
        shown.extend(
            edges
                .iter()
                .filter(|r| r.text("depth") == depth)
                .take(EDGES_PER_DEPTH),
        );
    }
    let depths: Vec<i64> = shown
        .iter()
        .filter_map(|r| r.number("depth").map(|d| d as i64))
        .collect();
    let lowest = depths.iter().copied().min().unwrap_or(0);
    let mut nodes: Vec<(String, usize)> = Vec::new();
    let mut node = |label: String, column: usize| match nodes
        .iter()
        .position(|n| n.0 == label && n.1 == column)
    {
        Some(i) => i,
        None => {
            nodes.push((label, column));
            nodes.len() - 1
        }
    };
    let mut links = Vec::new();
    for edge in &shown {
        let Some(depth) = edge.number("depth").map(|d| d as i64) else {
            continue;
        };
        // an edge of depth d goes from column d - 1 to d ('after': d >= 1), or from column
        // d - lowest to the next ('before': d <= -1, the anchor in the last column)
        let from_column = if before { depth - lowest } else { depth - 1 } as usize;
        let label = |column: &str, boundary: &str| {
            let text = edge.text(column);
            if text.is_empty() {
                boundary.to_string()
            } else {
                text
            }
        };
        let source = node(label("source", "(session began)"), from_column);
        let target = node(label("target", "(session ended)"), from_column + 1);
        links.push((source, target, edge.count("people")));
    }
    sankey(
        format!("Flow: {flow}"),
        "Band width: the people who took the step (each person once per step); the columns are the steps in time order.",
        &nodes,
        &links,
        Kind::Count,
    )
}

fn lifecycle_chart(population: &str, rows: &[&Row]) -> crate::report::charts::Chart {
    let weeks: Vec<String> = rows.iter().map(|r| r.text("week")).collect();
    let series_of = |column: &str, sign: f64| -> Vec<Option<f64>> {
        rows.iter()
            .map(|r| r.number(column).map(|v| sign * v))
            .collect()
    };
    let series = vec![
        Series::new("new", Mark::Bar, Kind::Count, series_of("new_people", 1.0)).stacked("people"),
        Series::new(
            "returning",
            Mark::Bar,
            Kind::Count,
            series_of("returning_people", 1.0),
        )
        .stacked("people"),
        Series::new(
            "resurrecting",
            Mark::Bar,
            Kind::Count,
            series_of("resurrecting_people", 1.0),
        )
        .stacked("people"),
        Series::new(
            "dormant",
            Mark::Bar,
            Kind::Count,
            series_of("dormant_people", -1.0),
        )
        .stacked("people"),
    ];
    let who = if population == "paying" {
        "payers"
    } else {
        "active people"
    };
    categories(
        format!("Lifecycle of {who} by week"),
        "Bars above zero: the week's active people by kind; below zero: those who went dormant that week.",
        &weeks,
        &[Axis::new("people", Kind::Count)],
        series,
        false,
    )
}

async fn correlation_table(ctx: &SessionContext) -> Result<Block> {
    let rows = query(
        ctx,
        &format!(
            "SELECT kind, item, converters_with_item, dropoffs_with_item, converters, dropoffs, \
             odds_ratio, ci_low, ci_high, small_counts FROM funnel_correlation \
             WHERE converters_with_item + dropoffs_with_item > 0 \
             ORDER BY small_counts, strength DESC, item LIMIT {CORRELATED_ITEMS}"
        ),
    )
    .await?;
    if rows.is_empty() {
        return Ok(Block::NoData(no_rows(
            "funnel_correlation",
            "nobody entered the funnel, or the entered users had no events besides its steps",
        )));
    }
    let mut table = Table::new(
        "What goes with converting in the funnel",
        &[
            "kind",
            "item",
            "converters with it",
            "drop-offs with it",
            "odds ratio",
            "95% interval",
            "few",
        ],
        2,
    );
    for row in &rows {
        let share = |count: &str, total: &str| {
            format!(
                "{} ({})",
                Kind::Count.print(row.number(count)),
                Kind::Percent.print(
                    row.number(count)
                        .zip(row.number(total))
                        .map(|(c, t)| if t > 0.0 { c / t } else { 0.0 })
                )
            )
        };
        table.rows.push(vec![
            row.text("kind"),
            row.text("item"),
            share("converters_with_item", "converters"),
            share("dropoffs_with_item", "dropoffs"),
            Kind::Ratio.print(row.number("odds_ratio")),
            format!(
                "{} – {}",
                Kind::Ratio.print(row.number("ci_low")),
                Kind::Ratio.print(row.number("ci_high"))
            ),
            if row.text("small_counts") == "true" {
                "few".to_string()
            } else {
                String::new()
            },
        ]);
    }
    Ok(Block::Table(table))
}
