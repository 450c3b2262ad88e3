//! Funnel: people per step with step and overall conversion, by entry channel, and the time
//! from step to step, from `funnel_report` and `funnel_time_to_convert`.

use datafusion::prelude::SessionContext;

use super::{channels, distinct, missing_table, no_rows, values_by};
use crate::error::Result;
use crate::report::charts::{Axis, Mark, Series, categories};
use crate::report::format::Kind;
use crate::report::page::{Block, Section, Table};
use crate::report::rows::{Row, has_table, query};

pub const ID: &str = "funnel";
pub const TITLE: &str = "Funnel";

const INTRO: &[&str] = &[
    "The job's funnel (its steps are the job's `steps` variable) from table funnel_report: \
     window_funnel finds each person's longest chain of steps within the conversion window. A \
     person counts at every step up to the furthest they reached. Step conversion is the \
     share of the previous step's people who reached this one; overall conversion is the \
     share of the people who entered (step 1).",
    "By channel, a person counts under the channel of their entry step. Time to convert is \
     the time from the step taken before, from funnel_report (median, p90) and \
     funnel_time_to_convert (the histogram).",
];

pub async fn section(ctx: &SessionContext) -> Result<Section> {
    let mut section = Section::new(ID, TITLE, INTRO);
    if let Some(why) = missing_table(ctx, &["funnel_report"])? {
        return Ok(section.no_data(why));
    }
    let rows = query(
        ctx,
        "SELECT channel, step_number, step, CAST(step_number AS VARCHAR) || '. ' || step AS label, \
         users, step_conversion, overall_conversion, median_seconds_to_step, \
         p90_seconds_to_step FROM funnel_report \
         ORDER BY channel <> 'all', channel, step_number",
    )
    .await?;
    let entered: f64 = rows
        .iter()
        .filter(|r| r.text("channel") == "all" && r.number("step_number") == Some(1.0))
        .map(|r| r.count("users"))
        .sum();
    if rows.is_empty() || entered == 0.0 {
        return Ok(section.no_data(no_rows(
            "funnel_report",
            "nobody took the funnel's first step in the job's dates",
        )));
    }
    let overall = |row: &Row| row.text("channel") == "all";
    let all_rows: Vec<Row> = rows.iter().filter(|r| overall(r)).cloned().collect();
    // a step is its number and name ("2. view_content"): the same name may be two steps
    let steps: Vec<String> = all_rows.iter().map(|r| r.text("label")).collect();
    let keyed = |filter: &dyn Fn(&Row) -> bool, column: &str| {
        values_by(&rows, "label", &steps, column, filter)
    };
    section.push(Block::Chart(Box::new(categories(
        "People per step, all channels",
        "Bars: people who reached the step (left axis); lines: overall conversion from step 1 \
         (labelled) and step conversion from the step before (right axis).",
        &steps,
        &[
            Axis::new("people", Kind::Count),
            Axis::new("conversion", Kind::Percent),
        ],
        vec![
            Series::new("people", Mark::Bar, Kind::Count, keyed(&overall, "users")).labelled(),
            Series::new(
                "overall conversion",
                Mark::Line,
                Kind::Percent,
                keyed(&overall, "overall_conversion"),
            )
            .on_axis(1)
            .labelled(),
            Series::new(
                "step conversion",
                Mark::Line,
                Kind::Percent,
                keyed(&overall, "step_conversion"),
            )
            .on_axis(1),
        ],
        false,
    ))));

    let channels = channels(&rows);
    section.push(Block::Chart(Box::new(categories(
        "Overall conversion by entry channel",
        "One bar per channel at each step: the share of the channel's entrants who reached \
         the step.",
        &steps,
        &[Axis::new("conversion", Kind::Percent)],
        channels
            .iter()
            .map(|channel| {
                Series::new(
                    channel.as_str(),
                    Mark::Bar,
                    Kind::Percent,
                    keyed(
                        &|r: &Row| &r.text("channel") == channel,
                        "overall_conversion",
                    ),
                )
            })
            .collect(),
        false,
    ))));

    let mut table = Table::new(
        "All channels: people, conversion and time per step",
        &[
            "step",
            "people",
            "step conversion",
            "overall conversion",
            "median time from previous step",
            "p90 time",
        ],
        1,
    );
    for row in &all_rows {
        table.rows.push(vec![
            row.text("label"),
            Kind::Count.print(row.number("users")),
            Kind::Percent.print(row.number("step_conversion")),
            Kind::Percent.print(row.number("overall_conversion")),
            Kind::Seconds.print(row.number("median_seconds_to_step")),
            Kind::Seconds.print(row.number("p90_seconds_to_step")),
        ]);
    }
    section.push(Block::Table(table));

    // one row per channel: people at each step, with the overall conversion
    let mut columns = vec!["entry channel"];
    columns.extend(steps.iter().map(String::as_str));
    let mut table = Table::new(
        "By entry channel: people at each step (overall conversion)",
        &columns,
        1,
    );
    for channel in std::iter::once("all".to_string()).chain(channels.iter().cloned()) {
        let of_channel = |r: &Row| r.text("channel") == channel;
        let people = keyed(&of_channel, "users");
        let conversion = keyed(&of_channel, "overall_conversion");
        let mut cells = vec![channel.clone()];
        cells.extend(people.iter().zip(&conversion).map(|(people, conversion)| {
            format!(
                "{} ({})",
                Kind::Count.print(*people),
                Kind::Percent.print(*conversion)
            )
        }));
        table.rows.push(cells);
    }
    section.push(Block::Table(table));

    section.push(Block::Heading("Time to convert".to_string()));
    if !has_table(ctx, "funnel_time_to_convert")? {
        section.push(Block::NoData(
            "this run did not publish table funnel_time_to_convert".to_string(),
        ));
        return Ok(section);
    }
    let buckets = query(
        ctx,
        "SELECT step_number, step, bucket_order, bucket, users FROM funnel_time_to_convert \
         ORDER BY step_number, bucket_order",
    )
    .await?;
    if buckets.iter().all(|r| r.count("users") == 0.0) {
        section.push(Block::NoData(no_rows(
            "funnel_time_to_convert",
            "nobody went past the first step",
        )));
        return Ok(section);
    }
    let mut bucket_names: Vec<(f64, String)> = buckets
        .iter()
        .map(|r| (r.count("bucket_order"), r.text("bucket")))
        .collect();
    bucket_names.sort_by(|a, b| a.0.total_cmp(&b.0));
    bucket_names.dedup();
    let bucket_names: Vec<String> = bucket_names.into_iter().map(|(_, name)| name).collect();
    let later_steps = distinct(&buckets, "step");
    section.push(Block::Chart(Box::new(categories(
        "Time from the previous step",
        "People per step by the time they took from the step before; a bucket nobody fell \
         in is 0.",
        &bucket_names,
        &[Axis::new("people", Kind::Count)],
        later_steps
            .iter()
            .map(|step| {
                let values = values_by(&buckets, "bucket", &bucket_names, "users", |r| {
                    &r.text("step") == step
                })
                .into_iter()
                .map(|v| Some(v.unwrap_or(0.0)))
                .collect();
                Series::new(step.as_str(), Mark::Bar, Kind::Count, values)
            })
            .collect(),
        false,
    ))));
    Ok(section)
}
