//! Identity: the OneID graph of the run: component sizes, hubs, rejected edges by rule, and
//! the merges and splits since the previous run, from `run_stats`, `rejected_edges` and
//! `merge_log`.

use datafusion::prelude::SessionContext;

use super::{distinct, missing_table, no_rows, values_by};
use crate::error::Result;
use crate::report::ReportRun;
use crate::report::charts::{Axis, Mark, Series, bars, categories};
use crate::report::format::Kind;
use crate::report::page::{Block, Card, Section, Table};
use crate::report::rows::{has_table, query};

pub const ID: &str = "identity";
pub const TITLE: &str = "Identity";

const INTRO: &[&str] = &[
    "OneID links the identifiers seen together (phone, unionid, openid, device, member id, \
     ...) into people. A component is one person's identifiers; a hub is an identifier \
     linked to too many others (a shared store iPad), whose edges are rejected so it does not \
     join strangers. Figures from tables run_stats, rejected_edges and merge_log.",
    "Merges and splits compare this run's graph with the previous committed run's: merged \
     (two people found to be one; the survivor keeps its id), absorbed (the other side of a \
     merge), split (a person whose identifiers no longer connect), created (a new person) and \
     retired (none of the person's identifiers is in this run's graph any more).",
];

/// Hubs listed by name; the rest are counted.
const HUBS_LISTED: usize = 10;

/// merge_log's events, in the order the report lists them.
const EVENTS: [&str; 5] = ["created", "merged", "absorbed", "split", "retired"];

pub async fn section(ctx: &SessionContext, run: &ReportRun) -> Result<Section> {
    let mut section = Section::new(ID, TITLE, INTRO);
    if let Some(why) = missing_table(ctx, &["run_stats"])? {
        return Ok(section.no_data(why));
    }
    let stats = query(ctx, "SELECT stat, key, value FROM run_stats").await?;
    if stats.is_empty() {
        return Ok(section.no_data(no_rows("run_stats", "the identity step stitched nothing")));
    }
    let stat = |name: &str, key: &str| {
        stats
            .iter()
            .find(|r| r.text("stat") == name && r.text("key") == key)
            .and_then(|r| r.number("value"))
    };
    let events = if has_table(ctx, "merge_log")? {
        query(
            ctx,
            "SELECT event, count(*) AS people FROM merge_log GROUP BY event",
        )
        .await?
    } else {
        Vec::new()
    };
    let event_count = |event: &str| {
        events
            .iter()
            .find(|r| r.text("event") == event)
            .map_or(0.0, |r| r.count("people"))
    };
    let since = match &run.previous_run {
        // runs/<date>/<run-id>: the date says enough on a card
        Some(previous) => match previous.split('/').nth(1) {
            Some(date) => format!("since the run of {date}"),
            None => format!("since {previous}"),
        },
        None => "first run: no earlier graph".to_string(),
    };
    let plain = |label: &str, kind: Kind, value: Option<f64>, note: &str| Card {
        label: label.to_string(),
        value: kind.print(value),
        change: None,
        note: note.to_string(),
    };
    section.push(Block::Cards(vec![
        plain(
            "Identifiers",
            Kind::Count,
            stat("identifiers", ""),
            "linked",
        ),
        plain("People", Kind::Count, stat("components", ""), "components"),
        plain("Hubs", Kind::Count, stat("hubs", ""), "excluded"),
        plain("Edges accepted", Kind::Count, stat("edges", "accepted"), ""),
        plain("Merges", Kind::Count, Some(event_count("merged")), &since),
        plain("Splits", Kind::Count, Some(event_count("split")), &since),
    ]));

    let sizes: Vec<_> = stats
        .iter()
        .filter(|r| r.text("stat") == "component_size")
        .collect();
    let size_labels: Vec<String> = sizes.iter().map(|r| r.text("key")).collect();
    section.push(Block::Chart(Box::new(bars(
        "People by component size",
        "Bars: people whose component has that many identifiers. Very large components are \
         worth a look: they may join strangers.",
        &size_labels,
        Axis::new("people", Kind::Count),
        sizes.iter().map(|r| r.number("value")).collect(),
    ))));

    if has_table(ctx, "rejected_edges")? {
        let rejected = query(
            ctx,
            "SELECT rule, count(*) AS edges, sum(occurrences) AS occurrences \
             FROM rejected_edges GROUP BY rule ORDER BY count(*) DESC, rule",
        )
        .await?;
        if rejected.is_empty() {
            section.push(Block::Note(
                "No edge was rejected by the guard rails in this run.".to_string(),
            ));
        } else {
            let rules = distinct(&rejected, "rule");
            section.push(Block::Chart(Box::new(categories(
                "Rejected edges by rule",
                "Distinct edges the guard rails kept out of the graph, and the rows they came \
                 from, per rule (hub, placeholder, limits).",
                &rules,
                &[Axis::new("edges", Kind::Count)],
                vec![
                    Series::new(
                        "distinct edges",
                        Mark::Bar,
                        Kind::Count,
                        values_by(&rejected, "rule", &rules, "edges", |_| true),
                    )
                    .labelled(),
                    Series::new(
                        "rows",
                        Mark::Bar,
                        Kind::Count,
                        values_by(&rejected, "rule", &rules, "occurrences", |_| true),
                    )
                    .labelled(),
                ],
                false,
            ))));
        }
    }

    let mut hubs: Vec<_> = stats.iter().filter(|r| r.text("stat") == "hub").collect();
    hubs.sort_by(|a, b| b.count("value").total_cmp(&a.count("value")));
    if !hubs.is_empty() {
        let caption = if hubs.len() > HUBS_LISTED {
            format!(
                "The {HUBS_LISTED} most linked of the {} hubs found (identifiers linked to too \
                 many others; run_stats lists them all)",
                hubs.len()
            )
        } else {
            "Hubs found (identifiers linked to too many others)".to_string()
        };
        let mut table = Table::new(caption, &["identifier", "identifiers linked"], 1);
        for hub in hubs.into_iter().take(HUBS_LISTED) {
            table.rows.push(vec![
                hub.text("key"),
                Kind::Count.print(hub.number("value")),
            ]);
        }
        section.push(Block::Table(table));
    }

    section.push(Block::Chart(Box::new(bars(
        "Changes to people since the previous run",
        "People per change in merge_log.",
        &EVENTS.map(str::to_string),
        Axis::new("people", Kind::Count),
        EVENTS.iter().map(|e| Some(event_count(e))).collect(),
    ))));
    if has_table(ctx, "merge_log")? {
        let changes = query(
            ctx,
            "SELECT event, unified_id, other_ids, component_size, cause FROM merge_log \
             WHERE event IN ('merged', 'absorbed', 'split') \
             ORDER BY component_size DESC, unified_id, event LIMIT 12",
        )
        .await?;
        if !changes.is_empty() {
            let mut table = Table::new(
                "The largest merges and splits, and the edges that caused them (absorbed rows show the path)",
                &["change", "person", "other people", "identifiers", "cause"],
                3,
            )
            .with_text_column(4);
            for change in &changes {
                table.rows.push(vec![
                    change.text("event"),
                    change.text("unified_id"),
                    change.text("other_ids"),
                    Kind::Count.print(change.number("component_size")),
                    change.text("cause"),
                ]);
            }
            section.push(Block::Table(table));
        }
    }
    Ok(section)
}
