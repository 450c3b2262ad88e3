//! Layers: the RFM segments, the 8-class RFM layers (Chinese and English labels) and the
//! lifecycle layers, with their sizes and value, from `layer_summary` (and the Chinese
//! labels from `customer_layers`).

use datafusion::prelude::SessionContext;

use super::{missing_table, no_rows};
use crate::error::Result;
use crate::report::charts::{Axis, Mark, Series, categories};
use crate::report::format::Kind;
use crate::report::page::{Block, Section, Table};
use crate::report::rows::{Row, has_table, query};

pub const ID: &str = "layers";
pub const TITLE: &str = "Layers";

const INTRO: &[&str] = &[
    "Every buyer's recency, frequency and money are scored 1-5 by quintile (table \
     customer_layers). RFM segments name score patterns (Champions, At Risk, ...); the 8 RFM \
     classes (RFM 八类客户) split each of R, F and M into high (1) and low (0) against the \
     mean; the lifecycle layers place every person, buyer or not (new, active, potential, \
     high value, churn risk).",
    "Bars: people per layer (bottom axis) and the money of their paid orders (top axis), from \
     table layer_summary.",
];

/// The layerings, as layer_summary names them, with their headings.
const LAYERINGS: [(&str, &str); 3] = [
    ("rfm_segment", "RFM segments"),
    ("rfm_8class", "RFM 8 classes (八类客户)"),
    ("lifecycle", "Lifecycle layers"),
];

pub async fn section(ctx: &SessionContext) -> Result<Section> {
    let mut section = Section::new(ID, TITLE, INTRO);
    if let Some(why) = missing_table(ctx, &["layer_summary"])? {
        return Ok(section.no_data(why));
    }
    let rows = query(
        ctx,
        "SELECT layering, layer, people, buyers, monetary FROM layer_summary \
         ORDER BY layering, people DESC, layer",
    )
    .await?;
    if rows.is_empty() {
        return Ok(section.no_data(no_rows("layer_summary", "no people in the lake")));
    }
    // "111 important value" -> "111 重要价值客户 important value"
    let chinese: Vec<Row> = if has_table(ctx, "customer_layers")? {
        query(
            ctx,
            "SELECT DISTINCT rfm_class_code AS code, rfm_class_cn AS cn FROM customer_layers \
             WHERE rfm_class_code IS NOT NULL",
        )
        .await?
    } else {
        Vec::new()
    };
    let label = |layering: &str, layer: String| -> String {
        if layering != "rfm_8class" {
            return layer;
        }
        let Some((code, english)) = layer.split_once(' ') else {
            return layer;
        };
        match chinese.iter().find(|r| r.text("code") == code) {
            Some(row) => format!("{code} {} {english}", row.text("cn")),
            None => layer,
        }
    };
    for (layering, heading) in LAYERINGS {
        let of_layering: Vec<&Row> = rows
            .iter()
            .filter(|r| r.text("layering") == layering)
            .collect();
        section.push(Block::Heading(heading.to_string()));
        if of_layering.is_empty() {
            section.push(Block::NoData(format!(
                "layer_summary has no {layering} rows (no buyers to score)"
            )));
            continue;
        }
        let names: Vec<String> = of_layering
            .iter()
            .map(|r| label(layering, r.text("layer")))
            .collect();
        let column = |name: &str| of_layering.iter().map(|r| r.number(name)).collect();
        section.push(Block::Chart(Box::new(categories(
            "People and money per layer",
            "Bars per layer: people (bottom axis) and the money of their paid orders (top axis).",
            &names,
            &[
                Axis::new("people", Kind::Count),
                Axis::new("money", Kind::Money),
            ],
            vec![
                Series::new("people", Mark::Bar, Kind::Count, column("people")).labelled(),
                Series::new("money", Mark::Bar, Kind::Money, column("monetary")).on_axis(1),
            ],
            true,
        ))));
        let total_money: f64 = of_layering.iter().map(|r| r.count("monetary")).sum();
        let mut table = Table::new(
            format!("{heading}: sizes and value"),
            &[
                "layer",
                "people",
                "buyers",
                "money",
                "money per person",
                "share of money",
            ],
            1,
        );
        for (row, name) in of_layering.iter().zip(&names) {
            let people = row.count("people");
            let money = row.count("monetary");
            table.rows.push(vec![
                name.clone(),
                Kind::Count.print(Some(people)),
                Kind::Count.print(row.number("buyers")),
                Kind::Money.print(Some(money)),
                Kind::Money.print((people > 0.0).then(|| money / people)),
                Kind::Percent.print((total_money > 0.0).then(|| money / total_money)),
            ]);
        }
        section.push(Block::Table(table));
    }
    Ok(section)
}
