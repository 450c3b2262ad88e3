//! `window_funnel_detail(window, mode, timestamp, cond1, ..., condN)`: the funnel level and
//! the times of the reported chain's steps, which no other SQL engine returns.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::Documentation;

use super::level::{Entry, funnel_chain, ordered_entries};
use super::mode::FunnelMode;
use super::udaf::{DETAIL_NAME, FunnelAggregate, FunnelParams, FunnelResult};
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::event_list::EventsEvaluator;
use crate::time::ticks_per_second;

const NAME: &str = DETAIL_NAME;
const SECONDS_PER_DAY: i64 = 86_400;

/// The fields of a reported chain: its level, step times and seconds between steps (shared
/// with window_funnel_values).
pub(super) fn chain_fields(time_type: &DataType) -> Vec<Field> {
    vec![
        Field::new("level", DataType::Int64, false),
        Field::new(
            "step_times",
            // NULL for an optional step the chain skipped
            DataType::List(Arc::new(Field::new_list_field(time_type.clone(), true))),
            false,
        ),
        Field::new(
            "step_seconds",
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
            false,
        ),
    ]
}

fn result_fields(time_type: &DataType) -> Fields {
    let mut fields = chain_fields(time_type);
    fields.push(Field::new("dropped_level", DataType::Int64, false));
    fields.push(Field::new("dropped_by", DataType::Int64, true));
    Fields::from(fields)
}

/// For steps 2.. of a chain: the seconds from the step the chain took before (`None` for a
/// skipped step).
pub(super) fn push_step_seconds(
    times: &[Option<i64>],
    per_second: f64,
    out: &mut Vec<Option<f64>>,
) {
    let mut previous = times.first().copied().flatten();
    for time in times.iter().skip(1) {
        out.push(time.zip(previous).map(|(t, p)| (t - p) as f64 / per_second));
        previous = time.or(previous);
    }
}

/// A time in the timestamp's own ticks: dates were read as seconds since the epoch, and go
/// back as days.
pub(super) fn native_time(time_type: &DataType, time: i64) -> i64 {
    match time_type {
        DataType::Date32 => time / SECONDS_PER_DAY,
        _ => time,
    }
}

#[derive(Debug)]
pub struct DetailEvaluator {
    steps: usize,
    window: i64,
    mode: FunnelMode,
    time_type: DataType,
}

impl EventsEvaluator for DetailEvaluator {
    fn name(&self) -> &str {
        NAME
    }

    fn keeps_unmatched_rows(&self) -> bool {
        self.mode.strict_order
    }

    fn stops_at_unmatched_after_first_step(&self) -> bool {
        self.mode.strict_order
    }

    fn evaluate(&self, groups: &mut [&mut [(i64, u64)]]) -> Result<ArrayRef> {
        let per_second = ticks_per_second(&self.time_type) as f64;
        let mut levels = Vec::with_capacity(groups.len());
        let mut time_values: Vec<Option<i64>> = Vec::new();
        let mut time_lengths = Vec::with_capacity(groups.len());
        let mut seconds: Vec<Option<f64>> = Vec::new();
        let mut second_lengths = Vec::with_capacity(groups.len());
        let mut dropped_levels = Vec::with_capacity(groups.len());
        let mut dropped_by = Vec::with_capacity(groups.len());
        let mut entries: Vec<Entry> = Vec::new();
        for events in groups.iter_mut() {
            ordered_entries(events, self.steps, &mut entries);
            let (reached, times) = funnel_chain(&entries, self.steps, self.window, &self.mode);
            let level = reached.level;
            levels.push(level as i64);
            // only a dropped chain that got further than the reported one is news
            let dropped = reached.dropped.filter(|d| d.level > level);
            dropped_levels.push(dropped.map_or(0, |d| d.level as i64));
            dropped_by.push(dropped.map(|d| d.exclusion as i64 + 1));
            time_lengths.push(times.len());
            second_lengths.push(times.len().saturating_sub(1));
            push_step_seconds(&times, per_second, &mut seconds);
            time_values.extend(
                times
                    .into_iter()
                    .map(|t| t.map(|t| native_time(&self.time_type, t))),
            );
        }
        let times = cast(&Int64Array::from(time_values), &self.time_type)?;
        let step_times = ListArray::try_new(
            Arc::new(Field::new_list_field(self.time_type.clone(), true)),
            OffsetBuffer::from_lengths(time_lengths),
            times,
            None,
        )?;
        let step_seconds = ListArray::try_new(
            Arc::new(Field::new_list_field(DataType::Float64, true)),
            OffsetBuffer::from_lengths(second_lengths),
            Arc::new(Float64Array::from(seconds)),
            None,
        )?;
        Ok(Arc::new(StructArray::try_new(
            result_fields(&self.time_type),
            vec![
                Arc::new(Int64Array::from(levels)),
                Arc::new(step_times),
                Arc::new(step_seconds),
                Arc::new(Int64Array::from(dropped_levels)),
                Arc::new(Int64Array::from(dropped_by)),
            ],
            None,
        )?))
    }
}

/// `window_funnel_detail`: the level and the chain behind it.
#[derive(Debug)]
pub struct Detail;

impl FunnelResult for Detail {
    const NAME: &'static str = NAME;
    type Evaluator = DetailEvaluator;

    fn evaluator(params: FunnelParams) -> DetailEvaluator {
        DetailEvaluator {
            steps: params.steps,
            window: params.window,
            mode: params.mode,
            time_type: params.time_type,
        }
    }

    fn return_type(time_type: &DataType) -> DataType {
        DataType::Struct(result_fields(time_type))
    }

    fn documentation() -> &'static Documentation {
        &DOCUMENTATION
    }
}

pub type WindowFunnelDetail = FunnelAggregate<Detail>;

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "window_funnel's level, with the chain behind it: a struct {level, step_times, \
         step_seconds, dropped_level, dropped_by}. step_times lists the times of steps 1..level \
         of the reported chain (in the timestamp's own type; NULL for an optional step the \
         chain skipped); step_seconds lists, for steps 2..level, the seconds from the step the \
         chain took before it (level - 1 values, fractions kept; NULL for a skipped step). The \
         reported chain is one that reaches the maximum level; among those, the one that \
         starts earliest, with each step at its earliest possible time under the mode (an \
         optional step taken counts as earlier than skipped; so step_seconds are the fastest \
         conversions that chain allows), and no excluded event inside it. \
         dropped_level is the highest level of a chain that an exclusion dropped when it is \
         above level (else 0), and dropped_by the number of that exclusion in the mode, \
         counting from 1 (else NULL). Same arguments, modes and errors as window_funnel. Level \
         0 gives empty lists.",
        "window_funnel_detail(window, mode, timestamp, cond1, ..., condN)",
    )
    .with_argument("window", "As for window_funnel.")
    .with_argument("mode", "As for window_funnel.")
    .with_argument("timestamp", "As for window_funnel.")
    .with_argument("cond1, ..., condN", "As for window_funnel.")
    .with_sql_example(
        "```sql\nSELECT user_id, f['level'], f['step_seconds']\nFROM (SELECT user_id,\n             window_funnel_detail(INTERVAL '1 day', '', event_time,\n                 event_name = 'view', event_name = 'cart', event_name = 'pay') AS f\n      FROM events GROUP BY user_id);\n```",
    )
    .with_related_udf("window_funnel")
    .build()
});
