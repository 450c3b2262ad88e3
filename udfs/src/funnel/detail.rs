//! `window_funnel_detail(window, mode, timestamp, cond1, ..., condN)`: the funnel level and
//! the times of the reported chain's steps, which no other SQL engine returns.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature, Volatility,
};

use super::level::{Entry, funnel_chain, ordered_entries};
use super::mode::FunnelMode;
use super::udaf::{
    BEHAVIOUR_SECTION, DETAIL_NAME, FunnelParams, check_funnel_arguments, planning_check,
};
use crate::event_list::{
    EventArguments, EventListAccumulator, EventListGroups, EventsEvaluator, event_state_fields,
};
use crate::time::ticks_per_second;

const NAME: &str = DETAIL_NAME;
const SECONDS_PER_DAY: i64 = 86_400;

fn result_fields(time_type: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("level", DataType::Int64, false),
        Field::new(
            "step_times",
            DataType::List(Arc::new(Field::new_list_field(time_type.clone(), false))),
            false,
        ),
        Field::new(
            "step_seconds",
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, false))),
            false,
        ),
        Field::new("dropped_level", DataType::Int64, false),
        Field::new("dropped_by", DataType::Int64, true),
    ])
}

#[derive(Debug)]
struct DetailEvaluator {
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
        let mut time_values: Vec<i64> = Vec::new();
        let mut time_lengths = Vec::with_capacity(groups.len());
        let mut seconds: Vec<f64> = Vec::new();
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
            for pair in times.windows(2) {
                seconds.push((pair[1] - pair[0]) as f64 / per_second);
            }
            // Dates were read as seconds since the epoch; give them back as days.
            let native = |t: i64| match self.time_type {
                DataType::Date32 => t / SECONDS_PER_DAY,
                _ => t,
            };
            time_values.extend(times.into_iter().map(native));
        }
        let times = cast(&Int64Array::from(time_values), &self.time_type)?;
        let step_times = ListArray::try_new(
            Arc::new(Field::new_list_field(self.time_type.clone(), false)),
            OffsetBuffer::from_lengths(time_lengths),
            times,
            None,
        )?;
        let step_seconds = ListArray::try_new(
            Arc::new(Field::new_list_field(DataType::Float64, false)),
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

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowFunnelDetail {
    signature: Signature,
}

impl Default for WindowFunnelDetail {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl WindowFunnelDetail {
    fn evaluator(args: &AccumulatorArgs) -> Result<Arc<DetailEvaluator>> {
        let params = FunnelParams::from_args(NAME, args)?;
        Ok(Arc::new(DetailEvaluator {
            steps: params.steps,
            window: params.window,
            mode: params.mode,
            time_type: params.time_type,
        }))
    }
}

const ARGUMENTS: EventArguments = EventArguments {
    time: 2,
    first_condition: 3,
};

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "window_funnel's level, with the chain behind it: a struct {level, step_times, \
         step_seconds, dropped_level, dropped_by}. step_times lists the times of steps 1..level \
         of the reported chain (in the timestamp's own type); step_seconds lists the seconds \
         from each step to the next (level - 1 values, fractions kept). The reported chain is \
         one that reaches the maximum level; among those, the one that starts earliest, with \
         each step at its earliest possible time under the mode (so step_seconds are the \
         fastest conversions that chain allows), and no excluded event inside it. \
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

impl AggregateUDFImpl for WindowFunnelDetail {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_funnel_arguments(NAME, arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let time_type = arg_types.get(2).cloned().unwrap_or(DataType::Null);
        Ok(DataType::Struct(result_fields(&time_type)))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(event_state_fields(&args))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(EventListAccumulator::new(
            Self::evaluator(&args)?,
            ARGUMENTS,
        )))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(EventListGroups::new(
            Self::evaluator(&args)?,
            ARGUMENTS,
        )))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        Some(planning_check(NAME))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}
