//! Audiences: how each layer's people overlap the recent behaviour segments (a heatmap from
//! `audience_overlap`), and the stored segments' sizes (`audience_segments`).

use datafusion::prelude::SessionContext;

use super::{distinct, missing_table, no_rows};
use crate::error::Result;
use crate::report::charts::heatmap;
use crate::report::format::Kind;
use crate::report::page::{Block, Section, Table};
use crate::report::rows::query;

pub const ID: &str = "audiences";
pub const TITLE: &str = "Audiences";

const INTRO: &[&str] = &[
    "Each segment is stored as one bitmap of person_id (table audience_segments, made with \
     bitmap_agg, bitmap_union and bitmap_expr), so any later query can combine them with \
     bitmap_and, bitmap_or and bitmap_andnot without reading the events again; \
     audience_daily keeps each day's active people the same way.",
    "The grid crosses the RFM classes and lifecycle layers with what people did in the lake's \
     last 7 and 30 days: a cell is the share of the row's people who are in the column's \
     segment (bitmap_and_count over the two bitmaps), from table audience_overlap.",
];

pub async fn section(ctx: &SessionContext) -> Result<Section> {
    let mut section = Section::new(ID, TITLE, INTRO);
    if let Some(why) = missing_table(ctx, &["audience_overlap", "audience_segments"])? {
        return Ok(section.no_data(why));
    }
    let overlap = query(
        ctx,
        "SELECT segment, behaviour, people, in_behaviour, share FROM audience_overlap \
         ORDER BY segment_order, segment, behaviour_order",
    )
    .await?;
    let segments = query(
        ctx,
        "SELECT family, segment, size FROM audience_segments ORDER BY segment_order, segment",
    )
    .await?;
    if segments.is_empty() {
        return Ok(section.no_data(no_rows(
            "audience_segments",
            "the lake has no events of known people",
        )));
    }
    let layers = distinct(&overlap, "segment");
    let behaviours = distinct(&overlap, "behaviour");
    let labels: Vec<String> = layers
        .iter()
        .map(|layer| {
            let size = overlap
                .iter()
                .find(|r| &r.text("segment") == layer)
                .and_then(|r| r.number("people"));
            format!("{layer} ({} people)", Kind::Count.print(size))
        })
        .collect();
    let mut cells = Vec::new();
    for row in &overlap {
        let (Some(y), Some(x)) = (
            layers.iter().position(|l| *l == row.text("segment")),
            behaviours.iter().position(|b| *b == row.text("behaviour")),
        ) else {
            continue;
        };
        if let Some(share) = row.number("share") {
            cells.push((x, y, share));
        }
    }
    if cells.is_empty() {
        section.push(Block::NoData(no_rows(
            "audience_overlap",
            "no RFM class or lifecycle layer has people (customer_layers is empty)",
        )));
    } else {
        section.push(Block::Chart(Box::new(heatmap(
            "Layers against recent behaviour",
            "Share of each layer's people in each behaviour segment of the lake's last days.",
            &behaviours,
            &labels,
            &cells,
            Kind::Percent,
        ))));
    }
    let mut table = Table::new("Stored segments", &["family", "segment", "people"], 2);
    for row in &segments {
        table.rows.push(vec![
            row.text("family"),
            row.text("segment"),
            Kind::Count.print(row.number("size")),
        ]);
    }
    section.push(Block::Table(table));
    Ok(section)
}
