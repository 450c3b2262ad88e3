//! `clv_holdout_summary(order_time, amount, calibration_end, observation_end [, period [,
//! unit]])`: a customer's orders split at a calibration end into the summary a repeat-buying
//! model is fitted on and what the customer then did in the holdout, with the conventions of
//! `lifetimes.utils.calibration_and_holdout_data`, so that a model's predictions for the holdout
//! can be set against what happened.
//!
//! The state is two sets of `period_totals`' flat period totals (calibration and holdout), the
//! two ends, and a count of holdout orders per group (lifetimes' holdout monetary value is a
//! mean over orders, not over periods).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type, UInt64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use super::period_totals::{
    GroupConstant, PeriodEntry, PeriodListsState, PeriodTotals, by_group, coerce_order_arguments,
    customer_summary, literal_period, order_amount, order_and_end_columns, period_lists,
    single_order_lists, summary_struct,
};
use crate::conditions::passes;
use crate::doc_sections::VALUE_SECTION;
use crate::flat_groups::{FlatGroups, GroupsOf, OneGroup, state_field};
use crate::time::{Period, format_micros};

const NAME: &str = "clv_holdout_summary";
const USAGE: &str = "(order_time, amount, calibration_end, observation_end [, period [, unit]])";

fn result_fields() -> Fields {
    Fields::from(
        [
            "frequency_cal",
            "recency_cal",
            "t_cal",
            "monetary_value_cal",
            "frequency_holdout",
            "monetary_value_holdout",
            "duration_holdout",
        ]
        .map(|name| Field::new(name, DataType::Float64, true))
        .to_vec(),
    )
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ClvHoldoutSummary {
    signature: Signature,
}

impl Default for ClvHoldoutSummary {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "A customer's orders split into a calibration part and a holdout part, with the \
         conventions of lifetimes' calibration_and_holdout_data, to check a repeat-buying \
         model's predictions against what customers did next. Orders at or before \
         calibration_end are calibration; orders after it and at or before observation_end are \
         holdout; later orders are ignored (the ends are instants: an order later on \
         calibration_end's day is a holdout order, as in lifetimes). Returns {frequency_cal, \
         recency_cal, t_cal, monetary_value_cal} (clv_summary of the calibration orders as of \
         calibration_end), frequency_holdout (holdout periods with an order), \
         monetary_value_holdout (mean amount of the holdout orders, 0 without any) and \
         duration_holdout (observation_end's period minus calibration_end's, in `unit`). NULL for \
         a customer without calibration orders (lifetimes leaves them out). Errors: \
         observation_end before calibration_end, an end NULL or not the same on every row of a \
         group.",
        "clv_holdout_summary(order_time, amount, calibration_end, observation_end [, period [, unit]])",
    )
    .with_argument("order_time", "Timestamp (any unit or time zone) or date of the order.")
    .with_argument("amount", "Order value (or margin); NULL counts as 0.")
    .with_argument("calibration_end", "End of the calibration part, inclusive: a timestamp, date or string.")
    .with_argument("observation_end", "End of the holdout part, inclusive.")
    .with_argument("period", "'hour', 'day' (default), 'week' or 'month': a string literal.")
    .with_argument("unit", "Unit of recency, t and duration: as period, default the period itself.")
    .with_sql_example(
        "```sql\nSELECT member_id,\n       clv_holdout_summary(order_time, amount, TIMESTAMP '2026-01-01 00:00:00',\n                           TIMESTAMP '2026-03-01 00:00:00', 'day', 'week') AS s\nFROM orders GROUP BY member_id;\n-- s['frequency_cal'], s['recency_cal'], s['t_cal'], s['frequency_holdout'], s['duration_holdout']\n```",
    )
    .build()
});

impl AggregateUDFImpl for ClvHoldoutSummary {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_order_arguments(NAME, USAGE, arg_types, 2)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            state_field(args.name, "calibration_end", DataType::Int64, false),
            state_field(args.name, "observation_end", DataType::Int64, false),
            state_field(args.name, "calibration_periods", DataType::Int64, true),
            state_field(args.name, "calibration_amounts", DataType::Float64, true),
            state_field(args.name, "holdout_periods", DataType::Int64, true),
            state_field(args.name, "holdout_amounts", DataType::Float64, true),
            state_field(args.name, "holdout_orders", DataType::UInt64, false),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(HoldoutGroups::new(&args)?)))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsOf(HoldoutGroups::new(&args)?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

#[derive(Debug, Clone)]
struct HoldoutGroups {
    period: Period,
    unit: Period,
    /// the ends as instants (microseconds), per group
    calibration_end: GroupConstant,
    observation_end: GroupConstant,
    calibration: PeriodTotals,
    holdout: PeriodTotals,
    holdout_orders: Vec<u64>,
}

/// Where an order falls.
enum Part {
    Calibration,
    Holdout,
    After,
}

/// The two ends of row `row`, checked.
fn ends_at(
    calibration_ends: &TimestampMicrosecondArray,
    observation_ends: &TimestampMicrosecondArray,
    row: usize,
) -> Result<(i64, i64)> {
    if calibration_ends.is_null(row) || observation_ends.is_null(row) {
        return exec_err!("{NAME}: calibration_end and observation_end must not be NULL");
    }
    let (calibration, observation) = (calibration_ends.value(row), observation_ends.value(row));
    if observation < calibration {
        return exec_err!(
            "{NAME}: observation_end ({}) is before calibration_end ({})",
            format_micros(observation),
            format_micros(calibration)
        );
    }
    Ok((calibration, observation))
}

fn part_of(time: i64, calibration_end: i64, observation_end: i64) -> Part {
    if time <= calibration_end {
        Part::Calibration
    } else if time <= observation_end {
        Part::Holdout
    } else {
        Part::After
    }
}

impl HoldoutGroups {
    fn new(args: &AccumulatorArgs) -> Result<Self> {
        let period = literal_period(NAME, args, 4, "period", Period::Day)?;
        let unit = literal_period(NAME, args, 5, "unit", period)?;
        Ok(Self {
            period,
            unit,
            calibration_end: GroupConstant::new(NAME, "calibration_end"),
            observation_end: GroupConstant::new(NAME, "observation_end"),
            calibration: PeriodTotals::new(NAME),
            holdout: PeriodTotals::new(NAME),
            holdout_orders: Vec::new(),
        })
    }

    fn set_ends(&mut self, group: usize, calibration_end: i64, observation_end: i64) -> Result<()> {
        self.calibration_end.set(group, calibration_end)?;
        self.observation_end.set(group, observation_end)
    }

    fn add(&mut self, group: usize, part: Part, time: i64, amount: f64) -> Result<()> {
        let groups = self.holdout_orders.len();
        let period = self.period.tick(time);
        match part {
            Part::Calibration => self.calibration.push(group, period, amount, groups),
            Part::Holdout => {
                self.holdout_orders[group] += 1;
                self.holdout.push(group, period, amount, groups)
            }
            Part::After => Ok(()),
        }
    }

    /// Everything of the groups `emit_to` names, removed from the state.
    fn take(&mut self, emit_to: EmitTo) -> Taken {
        let groups = self.holdout_orders.len();
        let calibration_end = self.calibration_end.take(emit_to);
        let observation_end = self.observation_end.take(emit_to);
        let emitted = calibration_end.len();
        Taken {
            calibration: self.calibration.take(groups, emitted),
            holdout: self.holdout.take(groups, emitted),
            holdout_orders: emit_to.take_needed(&mut self.holdout_orders),
            calibration_end,
            observation_end,
        }
    }
}

struct Taken {
    calibration_end: Vec<Option<i64>>,
    observation_end: Vec<Option<i64>>,
    calibration: Vec<PeriodEntry>,
    holdout: Vec<PeriodEntry>,
    holdout_orders: Vec<u64>,
}

impl FlatGroups for HoldoutGroups {
    fn resize(&mut self, groups: usize) {
        self.calibration_end.resize(groups);
        self.observation_end.resize(groups);
        if self.holdout_orders.len() < groups {
            self.holdout_orders.resize(groups, 0);
        }
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.take(emit_to);
        let groups = taken.calibration_end.len();
        let (tick, unit) = (self.period.tick_micros(), self.unit.unit_micros());
        let customers = by_group(&taken.calibration, groups)
            .zip(by_group(&taken.holdout, groups))
            .zip(taken.calibration_end.iter().zip(&taken.observation_end))
            .zip(&taken.holdout_orders);
        let rows = customers.map(|(((calibration, holdout), ends), &orders)| match ends {
            (Some(calibration_end), Some(observation_end)) if !calibration.is_empty() => {
                let (calibration_end, observation_end) = (
                    self.period.tick(*calibration_end),
                    self.period.tick(*observation_end),
                );
                let [frequency, recency, t, monetary_value] =
                    customer_summary(calibration, calibration_end, self.period, self.unit);
                let holdout_total: f64 = holdout.iter().map(|e| e.amount).sum();
                Some([
                    frequency,
                    recency,
                    t,
                    monetary_value,
                    holdout.len() as f64,
                    if orders > 0 {
                        holdout_total / orders as f64
                    } else {
                        0.0
                    },
                    ((observation_end - calibration_end) * tick) as f64 / unit,
                ])
            }
            _ => None,
        });
        summary_struct(result_fields(), rows)
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.take(emit_to);
        let groups = taken.calibration_end.len();
        let [calibration_periods, calibration_amounts] = period_lists(&taken.calibration, groups)?;
        let [holdout_periods, holdout_amounts] = period_lists(&taken.holdout, groups)?;
        Ok(vec![
            Arc::new(Int64Array::from(taken.calibration_end)),
            Arc::new(Int64Array::from(taken.observation_end)),
            calibration_periods,
            calibration_amounts,
            holdout_periods,
            holdout_amounts,
            Arc::new(UInt64Array::from(taken.holdout_orders)),
        ])
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let (times, amounts, [calibration_ends, observation_ends]) =
            order_and_end_columns::<2>(NAME, values)?;
        for row in 0..times.len() {
            if !keep(row) || times.is_null(row) {
                continue;
            }
            let (calibration_end, observation_end) =
                ends_at(calibration_ends, observation_ends, row)?;
            let group = group_of(row);
            self.set_ends(group, calibration_end, observation_end)?;
            let time = times.value(row);
            let part = part_of(time, calibration_end, observation_end);
            if !matches!(part, Part::After) {
                let amount = order_amount(NAME, amounts, row)?;
                self.add(group, part, time, amount)?;
            }
        }
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let (Some(calibration_ends), Some(observation_ends), Some(holdout_orders)) = (
            states[0].as_primitive_opt::<Int64Type>(),
            states[1].as_primitive_opt::<Int64Type>(),
            states[6].as_primitive_opt::<UInt64Type>(),
        ) else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        let calibration = PeriodListsState::new(NAME, &states[2], &states[3])?;
        let holdout = PeriodListsState::new(NAME, &states[4], &states[5])?;
        let groups = self.holdout_orders.len();
        for row in 0..calibration_ends.len() {
            if calibration_ends.is_null(row) || observation_ends.is_null(row) {
                continue;
            }
            let group = group_of(row);
            self.set_ends(
                group,
                calibration_ends.value(row),
                observation_ends.value(row),
            )?;
            for (period, amount) in calibration.row(NAME, row)? {
                self.calibration.push(group, period, amount, groups)?;
            }
            for (period, amount) in holdout.row(NAME, row)? {
                self.holdout.push(group, period, amount, groups)?;
            }
            self.holdout_orders[group] += holdout_orders.value(row);
        }
        Ok(())
    }

    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row becomes its own one-order state, built column by column (DataFusion takes
        // this path for every row once partial aggregation does not pay).
        let (times, amounts, [calibration_ends, observation_ends]) =
            order_and_end_columns::<2>(NAME, values)?;
        let rows = times.len();
        let mut ends: [Vec<Option<i64>>; 2] = [Vec::with_capacity(rows), Vec::with_capacity(rows)];
        let mut calibration: Vec<Option<(i64, f64)>> = Vec::with_capacity(rows);
        let mut holdout: Vec<Option<(i64, f64)>> = Vec::with_capacity(rows);
        for row in 0..rows {
            let (mut in_calibration, mut in_holdout) = (None, None);
            if !passes(opt_filter, row) || times.is_null(row) {
                ends[0].push(None);
                ends[1].push(None);
            } else {
                let (calibration_end, observation_end) =
                    ends_at(calibration_ends, observation_ends, row)?;
                ends[0].push(Some(calibration_end));
                ends[1].push(Some(observation_end));
                let time = times.value(row);
                let order = || -> Result<(i64, f64)> {
                    let period = self.period.tick(time);
                    if i32::try_from(period).is_err() {
                        return exec_err!(
                            "{NAME}: an order time is out of range (period {period})"
                        );
                    }
                    Ok((period, order_amount(NAME, amounts, row)?))
                };
                match part_of(time, calibration_end, observation_end) {
                    Part::Calibration => in_calibration = Some(order()?),
                    Part::Holdout => in_holdout = Some(order()?),
                    Part::After => {}
                }
            }
            calibration.push(in_calibration);
            holdout.push(in_holdout);
        }
        let holdout_orders =
            UInt64Array::from_iter_values(holdout.iter().map(|o| u64::from(o.is_some())));
        let [calibration_periods, calibration_amounts] = single_order_lists(&calibration)?;
        let [holdout_periods, holdout_amounts] = single_order_lists(&holdout)?;
        let [calibration_ends, observation_ends] = ends;
        Ok(vec![
            Arc::new(Int64Array::from(calibration_ends)),
            Arc::new(Int64Array::from(observation_ends)),
            calibration_periods,
            calibration_amounts,
            holdout_periods,
            holdout_amounts,
            Arc::new(holdout_orders),
        ])
    }

    fn heap_size(&self) -> usize {
        self.calibration.heap_size()
            + self.holdout.heap_size()
            + self.holdout_orders.capacity() * 8
            + self.calibration_end.heap_size()
            + self.observation_end.heap_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MICROS_PER_DAY;
    use crate::value::period_totals::test_orders::{
        RandomOrders, assert_same_summaries, random_orders,
    };
    use datafusion::arrow::array::Float64Array;

    #[test]
    fn converted_states_merge_to_the_same_summaries() {
        // split at day 120 noon and day 200: some orders NULL, some after the observation end,
        // some filtered out
        let RandomOrders {
            times,
            amounts,
            groups: group_indices,
            filter,
        } = random_orders(54321);
        let rows = times.len();
        let (calibration_end, observation_end) = (
            120 * MICROS_PER_DAY + MICROS_PER_DAY / 2,
            200 * MICROS_PER_DAY,
        );
        let values: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(times)),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(TimestampMicrosecondArray::from(vec![calibration_end; rows])),
            Arc::new(TimestampMicrosecondArray::from(vec![observation_end; rows])),
        ];
        let groups = || {
            GroupsOf(HoldoutGroups {
                period: Period::Day,
                unit: Period::Week,
                calibration_end: GroupConstant::new(NAME, "calibration_end"),
                observation_end: GroupConstant::new(NAME, "observation_end"),
                calibration: PeriodTotals::new(NAME),
                holdout: PeriodTotals::new(NAME),
                holdout_orders: Vec::new(),
            })
        };
        let mut direct = groups();
        direct
            .update_batch(&values, &group_indices, Some(&filter), 200)
            .unwrap();
        let mut converted = groups();
        let states = converted.convert_to_state(&values, Some(&filter)).unwrap();
        converted.merge_batch(&states, &group_indices, 200).unwrap();
        let holdout_buyers = assert_same_summaries(
            &direct.evaluate(EmitTo::All).unwrap(),
            &converted.evaluate(EmitTo::All).unwrap(),
            4,
        );
        assert!(
            holdout_buyers > 100,
            "{holdout_buyers} customers bought in the holdout"
        );
    }
}
