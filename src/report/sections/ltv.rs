//! LTV: cumulative margin curves by acquisition month and channel (`ltv_cohort`), LTV/CAC
//! (`ltv_cac`) and ROI (`channel_roi`) by channel, the BG/NBD, Pareto/NBD and Gamma-Gamma fits
//! (`ltv_model`) with the BG/NBD and Pareto/NBD predictions over frequency and recency
//! (`ltv_matrix`), and the
//! models' holdout validation (`ltv_validation`, `ltv_validation_summary`).

use datafusion::prelude::SessionContext;

use super::{distinct, missing_table, no_rows, values_by};
use crate::error::Result;
use crate::report::charts::{Axis, Mark, Series, bars, categories, heatmap};
use crate::report::format::Kind;
use crate::report::page::{Block, Section, Table};
use crate::report::rows::{Row, has_table, query};

pub const ID: &str = "ltv";
pub const TITLE: &str = "LTV";

const INTRO: &[&str] = &[
    "A customer is acquired by their first paid order: its calendar month is the acquisition \
     month and its channel the acquisition channel. The curves are the cumulative gross \
     margin (of orders not refunded) per acquired customer by months since acquisition, from \
     table ltv_cohort, weighted by each cohort's customers. A month that has not ended within \
     the lake is left out, not drawn as 0.",
    "LTV/CAC divides the 1- and 2-month margin per customer by the channel's acquisition cost \
     (spend / customers acquired, table ltv_cac). ROI is (gross margin − spend) / spend of \
     the people each channel acquired (table channel_roi). The model fits are those behind \
     the predicted 12-month CLV, with Pareto/NBD beside BG/NBD (table ltv_model); the heatmaps \
     are the BG/NBD and Pareto/NBD predictions over a grid of frequency and recency (table \
     ltv_matrix), as lifetimes draws them.",
];

pub async fn section(ctx: &SessionContext) -> Result<Section> {
    let mut section = Section::new(ID, TITLE, INTRO);
    if let Some(why) = missing_table(ctx, &["ltv_cohort"])? {
        return Ok(section.no_data(why));
    }
    // cohort cells weighted by their customers; unobserved cells (NULL) are left out
    let curve = |group: &str| {
        format!(
            "SELECT CAST({group} AS VARCHAR) AS series, month, 'month ' || month AS label, \
             sum(cumulative_margin_per_customer * customers) / sum(customers) AS margin \
             FROM ltv_cohort WHERE cumulative_margin_per_customer IS NOT NULL \
             GROUP BY {group}, month ORDER BY {group}, month"
        )
    };
    let by_month = query(ctx, &curve("acquisition_month")).await?;
    if by_month.is_empty() {
        section.push(Block::NoData(no_rows(
            "ltv_cohort",
            "no paid orders, or no acquisition month observed yet",
        )));
    } else {
        let by_channel = query(ctx, &curve("channel")).await?;
        section.push(curves(
            "Cumulative margin per customer by acquisition month",
            "One line per acquisition month (all channels): margin per customer after N months.",
            &by_month,
        ));
        section.push(curves(
            "Cumulative margin per customer by acquisition channel",
            "One line per channel (all acquisition months): margin per customer after N months.",
            &by_channel,
        ));
    }

    section.push(Block::Heading("LTV/CAC and ROI by channel".to_string()));
    if has_table(ctx, "ltv_cac")? {
        let rows = query(
            ctx,
            "SELECT channel, spend, customers, cac, margin_per_customer_to_date, \
             ltv_cac_month_1, ltv_cac_month_2 FROM ltv_cac ORDER BY channel",
        )
        .await?;
        if rows.is_empty() {
            section.push(Block::NoData(no_rows("ltv_cac", "no customers acquired")));
        } else {
            let channels = distinct(&rows, "channel");
            let column = |name: &str| values_by(&rows, "channel", &channels, name, |_| true);
            section.push(Block::Chart(Box::new(categories(
                "LTV/CAC by channel",
                "Margin per customer after 1 and 2 months over the channel's CAC; above 1× the \
                 customers have paid back what acquiring them cost. Missing: no cohort has \
                 reached that month, or the channel had no spend.",
                &channels,
                &[Axis::new("LTV / CAC", Kind::Ratio)],
                vec![
                    Series::new("month 1", Mark::Bar, Kind::Ratio, column("ltv_cac_month_1"))
                        .labelled(),
                    Series::new("month 2", Mark::Bar, Kind::Ratio, column("ltv_cac_month_2"))
                        .labelled(),
                ],
                false,
            ))));
        }
    } else {
        section.push(Block::NoData(
            "this run did not publish table ltv_cac".to_string(),
        ));
    }
    if has_table(ctx, "channel_roi")? {
        let rows = query(
            ctx,
            "SELECT channel, sum(spend) AS spend, sum(new_people) AS new_people, \
             sum(buyers) AS buyers, sum(gmv) AS gmv, sum(gross_margin) AS margin, \
             CASE WHEN sum(spend) > 0 THEN (sum(gross_margin) - sum(spend)) / sum(spend) END AS roi, \
             CASE WHEN sum(spend) > 0 THEN sum(ltv * new_people) / sum(spend) END AS ltv_cac \
             FROM channel_roi GROUP BY channel ORDER BY channel",
        )
        .await?;
        if rows.is_empty() {
            section.push(Block::NoData(no_rows("channel_roi", "nobody acquired")));
        } else {
            let channels = distinct(&rows, "channel");
            section.push(Block::Chart(Box::new(bars(
                "ROI by channel",
                "(Gross margin − spend) / spend of the people each channel acquired, all \
                 campaigns together; missing for channels without spend.",
                &channels,
                Axis::new("ROI", Kind::Percent),
                values_by(&rows, "channel", &channels, "roi", |_| true),
            ))));
            let mut table = Table::new(
                "Channels: spend, people acquired, revenue and return (table channel_roi)",
                &[
                    "channel",
                    "spend",
                    "new people",
                    "buyers",
                    "GMV",
                    "gross margin",
                    "ROI",
                    "LTV/CAC (with predicted CLV)",
                ],
                1,
            );
            for row in &rows {
                table.rows.push(vec![
                    row.text("channel"),
                    Kind::Money.print(row.number("spend")),
                    Kind::Count.print(row.number("new_people")),
                    Kind::Count.print(row.number("buyers")),
                    Kind::Money.print(row.number("gmv")),
                    Kind::Money.print(row.number("margin")),
                    Kind::Percent.print(row.number("roi")),
                    Kind::Ratio.print(row.number("ltv_cac")),
                ]);
            }
            section.push(Block::Table(table));
        }
    }

    section.push(Block::Heading("Repeat-buying model fits".to_string()));
    if !has_table(ctx, "ltv_model")? {
        section.push(Block::NoData(
            "this run did not publish table ltv_model".to_string(),
        ));
        return Ok(section);
    }
    let fits = query(
        ctx,
        "SELECT model, parameter, value FROM ltv_model ORDER BY model, parameter",
    )
    .await?;
    if fits.is_empty() {
        section.push(Block::NoData(no_rows("ltv_model", "no buyers to fit")));
        return Ok(section);
    }
    section.push(Block::Note(
        "BG/NBD: purchases while alive follow a Poisson rate with Gamma(r, α) heterogeneity; \
         after each purchase a customer drops out with probability p ~ Beta(a, b). \
         Pareto/NBD: the same purchases, but a customer's lifetime is exponential at any \
         moment, with Gamma(s, β) heterogeneity. Gamma-Gamma: spend per order with shape p and Gamma(q, v) heterogeneity. A fit that \
         did not converge shows converged = 0; its predictions should not be used."
            .to_string(),
    ));
    let mut table = Table::new(
        "Fitted parameters (table ltv_model)",
        &["model", "parameter", "value"],
        2,
    );
    for row in &fits {
        let parameter = row.text("parameter");
        let value = row.number("value");
        let printed = match parameter.as_str() {
            "customers" | "converged" => Kind::Count.print(value),
            _ => Kind::Decimal.print(value),
        };
        table
            .rows
            .push(vec![model_name(&row.text("model")), parameter, printed]);
    }
    section.push(Block::Table(table));
    if has_table(ctx, "ltv_matrix")? {
        for block in matrices(ctx, &fits).await? {
            section.push(block);
        }
    }
    if has_table(ctx, "ltv_validation")? && has_table(ctx, "ltv_validation_summary")? {
        for block in validation(ctx).await? {
            section.push(block);
        }
    }
    Ok(section)
}

/// The models' names in the validation tables, as the page prints them.
fn model_name(model: &str) -> String {
    match model {
        "bgnbd" => "BG/NBD".to_string(),
        "mbgnbd" => "MBG/NBD".to_string(),
        "pareto_nbd" => "Pareto/NBD".to_string(),
        "gamma_gamma" => "Gamma-Gamma".to_string(),
        "calibration_rate" => "calibration rate".to_string(),
        other => other.to_string(),
    }
}

/// The holdout check of the models (`ltv_validation`, `ltv_validation_summary`): actual and
/// predicted holdout purchases by calibration frequency, as lifetimes'
/// plot_calibration_purchases_vs_holdout_purchases, and each model's errors.
async fn validation(ctx: &SessionContext) -> Result<Vec<Block>> {
    let mut blocks = vec![Block::Heading(
        "Do the models predict? Holdout validation".to_string(),
    )];
    let summary = query(
        ctx,
        "SELECT model, to_char(calibration_end, '%Y-%m-%d %H:%M') AS calibration_end, \
         to_char(observation_end, '%Y-%m-%d %H:%M') AS observation_end, holdout_weeks, customers, \
         actual_purchases, predicted_purchases, mean_absolute_error, bias, \
         CASE WHEN converged THEN 'yes' WHEN NOT converged THEN 'no' ELSE '—' END AS converged \
         FROM ltv_validation_summary ORDER BY model",
    )
    .await?;
    let Some(first) = summary.first() else {
        blocks.push(Block::NoData(no_rows(
            "ltv_validation_summary",
            "no customer bought before the calibration end",
        )));
        return Ok(blocks);
    };
    let weeks = Kind::Count.print(first.number("holdout_weeks"));
    blocks.push(Block::Note(format!(
        "The models are fitted again on the orders up to {} alone and predict each customer's \
         purchases in the {weeks} weeks that follow (to {}), which the lake has seen. \
         'Calibration rate' predicts each customer's own repeat rate before the split times the \
         holdout's length: a model whose error is not below it adds nothing. Tables \
         ltv_validation and ltv_validation_summary.",
        first.text("calibration_end"),
        first.text("observation_end"),
    )));
    let rows = query(
        ctx,
        "SELECT model, CASE WHEN frequency_cal >= 10 THEN '10+' \
         ELSE CAST(frequency_cal AS VARCHAR) END AS frequency, customers, actual_purchases, \
         predicted_purchases FROM ltv_validation ORDER BY frequency_cal, model",
    )
    .await?;
    let frequencies = distinct(&rows, "frequency");
    // every model has the same customers and actual purchases: the first model's are the
    // actual line
    let actual = values_by(&rows, "frequency", &frequencies, "actual_purchases", |_| {
        true
    });
    let mut series = vec![Series::new("actual", Mark::Bar, Kind::Decimal, actual)];
    for model in distinct(&summary, "model") {
        let values = values_by(
            &rows,
            "frequency",
            &frequencies,
            "predicted_purchases",
            |r| r.text("model") == model,
        );
        series.push(Series::new(
            model_name(&model),
            Mark::Line,
            Kind::Decimal,
            values,
        ));
    }
    blocks.push(Block::Chart(Box::new(categories(
        "Holdout purchases by calibration frequency: actual and predicted",
        format!(
            "Mean purchases per customer in the {weeks}-week holdout, by repeat purchases before \
             it (10+ = ten or more): what customers did (bars) and what each model predicted \
             (lines)."
        ),
        &frequencies,
        &[Axis::new("purchases per customer", Kind::Decimal)],
        series,
        false,
    ))));
    let mut table = Table::new(
        "Holdout errors per customer (table ltv_validation_summary)",
        &[
            "model",
            "customers",
            "actual purchases",
            "predicted purchases",
            "mean absolute error",
            "bias (predicted − actual)",
            "converged",
        ],
        1,
    );
    for row in &summary {
        table.rows.push(vec![
            model_name(&row.text("model")),
            Kind::Count.print(row.number("customers")),
            Kind::Count.print(row.number("actual_purchases")),
            Kind::Decimal.print(row.number("predicted_purchases")),
            Kind::Decimal.print(row.number("mean_absolute_error")),
            Kind::Decimal.print(row.number("bias")),
            row.text("converged"),
        ]);
    }
    blocks.push(Block::Table(table));
    Ok(blocks)
}

/// Each model's predictions over the frequency × recency grid (`ltv_matrix`) as heatmaps:
/// P(alive) and the expected purchases in the next 4 weeks, frequency down the side, recency
/// across; `fits` are the rows of `ltv_model`, whose converged flags the captions repeat.
async fn matrices(ctx: &SessionContext, fits: &[Row]) -> Result<Vec<Block>> {
    let rows = query(
        ctx,
        "SELECT model, frequency, recency, t, expected_purchases_4w, p_alive FROM ltv_matrix \
         ORDER BY model, frequency, recency",
    )
    .await?;
    let Some(first) = rows.first() else {
        return Ok(vec![Block::NoData(no_rows(
            "ltv_matrix",
            "no buyers to fit",
        ))]);
    };
    let age = Kind::Decimal.print(first.number("t"));
    let frequencies = distinct(&rows, "frequency");
    let recencies = distinct(&rows, "recency");
    let columns: Vec<String> = recencies.iter().map(|r| format!("{r} wk")).collect();
    let labels: Vec<String> = frequencies.iter().map(|f| format!("{f} repeat")).collect();
    // the fits' rows of ltv_model, already read for the parameter table
    let unconverged: Vec<String> = fits
        .iter()
        .filter(|r| r.text("parameter") == "converged" && r.number("value") == Some(0.0))
        .map(|r| r.text("model"))
        .collect();
    let mut blocks = Vec::new();
    for model in distinct(&rows, "model") {
        let name = model_name(&model);
        let warning = if unconverged.contains(&model) {
            format!(" The {name} fit did not converge (table ltv_model): do not act on these.")
        } else {
            String::new()
        };
        let cells = |column: &str| -> Vec<(usize, usize, f64)> {
            rows.iter()
                .filter(|r| r.text("model") == model)
                .filter_map(|r| {
                    let x = recencies.iter().position(|v| *v == r.text("recency"))?;
                    let y = frequencies.iter().position(|v| *v == r.text("frequency"))?;
                    Some((x, y, r.number(column)?))
                })
                .collect()
        };
        blocks.push(Block::Chart(Box::new(heatmap(
            format!("{name}: P(alive) by frequency and recency"),
            format!(
                "{name} probability that a customer of age {age} weeks is still active, by \
                 repeat purchases (rows) and weeks from first to last purchase (columns).{warning}"
            ),
            &columns,
            &labels,
            &cells("p_alive"),
            Kind::Percent,
        ))));
        blocks.push(Block::Chart(Box::new(heatmap(
            format!("{name}: expected purchases in the next 4 weeks by frequency and recency"),
            format!(
                "{name} expected repeat purchases in the next 4 weeks of a customer of age \
                 {age} weeks, by repeat purchases (rows) and recency (columns).{warning}"
            ),
            &columns,
            &labels,
            &cells("expected_purchases_4w"),
            Kind::Decimal,
        ))));
    }
    Ok(blocks)
}

/// Lines of margin per customer by month since acquisition, one per `series` value.
fn curves(title: &str, caption: &str, rows: &[Row]) -> Block {
    let mut months: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.number("month"))
        .map(|m| m as i64)
        .collect();
    months.sort_unstable();
    months.dedup();
    let labels: Vec<String> = months.iter().map(|m| format!("month {m}")).collect();
    let series = distinct(rows, "series")
        .into_iter()
        .map(|name| {
            let values = values_by(rows, "label", &labels, "margin", |r| {
                r.text("series") == name
            });
            Series::new(name, Mark::Line, Kind::Money, values)
        })
        .collect();
    Block::Chart(Box::new(categories(
        title,
        caption,
        &labels,
        &[Axis::new("margin per customer", Kind::Money)],
        series,
        false,
    )))
}
