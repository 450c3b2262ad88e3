//! `clv_summary(order_time, amount, as_of [, period [, unit]])`: the per-customer summary
//! (frequency, recency, t, monetary_value) that repeat-buying models take, with the conventions
//! of `lifetimes.utils.summary_data_from_transaction_data`.
//!
//! The state is `period_totals`' flat period totals of all groups.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
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
pub use crate::time::Period;

const NAME: &str = "clv_summary";
fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("frequency", DataType::Float64, true),
        Field::new("recency", DataType::Float64, true),
        Field::new("t", DataType::Float64, true),
        Field::new("monetary_value", DataType::Float64, true),
    ])
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ClvSummary {
    signature: Signature,
}

impl Default for ClvSummary {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "The per-customer summary repeat-buying models take, with the conventions of lifetimes' \
         summary_data_from_transaction_data. Orders are counted once per `period` (all orders of a \
         period are one purchase, their amounts summed); periods are cut in UTC, weeks start on \
         Monday. Orders in a period after as_of's period are ignored. Returns {frequency, \
         recency, t, monetary_value}: frequency = periods with a purchase minus one; recency = \
         last minus first purchase period; t = as_of's period minus the first purchase period, \
         both in `unit` (a month unit is 30.436875 days, as numpy's); monetary_value = mean total \
         of the repeat periods (the first period excluded), 0 without repeats. A NULL order_time \
         is skipped, a NULL amount counts as a purchase of 0. NULL for a customer without orders \
         up to as_of. as_of must be the same on every row of a group.",
        "clv_summary(order_time, amount, as_of [, period [, unit]])",
    )
    .with_argument("order_time", "Timestamp (any unit or time zone) or date of the order.")
    .with_argument("amount", "Order value (or margin).")
    .with_argument("as_of", "End of observation: a timestamp, date or a string such as '2026-03-01'.")
    .with_argument("period", "'hour', 'day' (default), 'week' or 'month': a string literal.")
    .with_argument("unit", "Unit of recency and t: as period, default the period itself. 'day' periods in 'week' units give lifetimes' freq='D', freq_multiplier=7.")
    .with_sql_example(
        "```sql\nSELECT member_id,\n       clv_summary(order_time, amount, TIMESTAMP '2026-03-01 00:00:00', 'day', 'week') AS s\nFROM orders WHERE status = 'paid' GROUP BY member_id;\n-- s['frequency'], s['recency'], s['t'], s['monetary_value']\n```",
    )
    .build()
});

/// The (order_time, amount, as_of) columns, as `coerce_types` made them.
fn order_columns(
    values: &[ArrayRef],
) -> Result<(
    &TimestampMicrosecondArray,
    &Float64Array,
    &TimestampMicrosecondArray,
)> {
    let (times, amounts, [as_ofs]) = order_and_end_columns(NAME, values)?;
    Ok((times, amounts, as_ofs))
}

/// as_of's period (its tick) for each row of a batch. as_of is nearly always one value (a
/// literal), so that value's period is found once per batch.
struct AsOfPeriods<'a> {
    period: Period,
    column: &'a TimestampMicrosecondArray,
    constant: Option<i64>,
}

impl<'a> AsOfPeriods<'a> {
    fn new(period: Period, column: &'a TimestampMicrosecondArray) -> Self {
        let values = column.values();
        let constant = match values.first() {
            Some(&first) if column.null_count() == 0 && values.iter().all(|v| *v == first) => {
                Some(period.tick(first))
            }
            _ => None,
        };
        Self {
            period,
            column,
            constant,
        }
    }

    fn at(&self, row: usize) -> Result<i64> {
        match self.constant {
            Some(as_of) => Ok(as_of),
            None if self.column.is_null(row) => exec_err!("{NAME}: as_of is NULL"),
            None => Ok(self.period.tick(self.column.value(row))),
        }
    }
}

impl AggregateUDFImpl for ClvSummary {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_order_arguments(
            NAME,
            "(order_time, amount, as_of [, period [, unit]])",
            arg_types,
            1,
        )
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            state_field(args.name, "as_of", DataType::Int64, false),
            state_field(args.name, "periods", DataType::Int64, true),
            state_field(args.name, "amounts", DataType::Float64, true),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(self.groups(&args)?)))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsOf(self.groups(&args)?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

impl ClvSummary {
    fn groups(&self, args: &AccumulatorArgs) -> Result<ClvGroups> {
        let period = literal_period(NAME, args, 3, "period", Period::Day)?;
        let unit = literal_period(NAME, args, 4, "unit", period)?;
        Ok(ClvGroups::new(period, unit))
    }
}

#[derive(Debug, Clone)]
struct ClvGroups {
    period: Period,
    unit: Period,
    /// as_of's period (tick) per group
    as_of: GroupConstant,
    totals: PeriodTotals,
}

impl ClvGroups {
    fn new(period: Period, unit: Period) -> Self {
        Self {
            period,
            unit,
            as_of: GroupConstant::new(NAME, "as_of"),
            totals: PeriodTotals::new(NAME),
        }
    }

    /// Takes the compacted entries and as_of values of the groups `emit_to` names.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<Option<i64>>, Vec<PeriodEntry>) {
        let groups = self.as_of.groups();
        let as_of = self.as_of.take(emit_to);
        let entries = self.totals.take(groups, as_of.len());
        (as_of, entries)
    }
}

impl FlatGroups for ClvGroups {
    fn resize(&mut self, groups: usize) {
        self.as_of.resize(groups);
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (as_of, entries) = self.take(emit_to);
        let rows =
            by_group(&entries, as_of.len())
                .zip(&as_of)
                .map(|(periods, as_of)| match as_of {
                    Some(as_of) if !periods.is_empty() => {
                        Some(customer_summary(periods, *as_of, self.period, self.unit))
                    }
                    _ => None,
                });
        summary_struct(result_fields(), rows)
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (as_of, entries) = self.take(emit_to);
        let [periods, amounts] = period_lists(&entries, as_of.len())?;
        Ok(vec![Arc::new(Int64Array::from(as_of)), periods, amounts])
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let (times, amounts, as_ofs) = order_columns(values)?;
        let as_of_periods = AsOfPeriods::new(self.period, as_ofs);
        let groups = self.as_of.groups();
        for row in 0..times.len() {
            if !keep(row) || times.is_null(row) {
                continue;
            }
            let as_of = as_of_periods.at(row)?;
            let group = group_of(row);
            self.as_of.set(group, as_of)?;
            let period = self.period.tick(times.value(row));
            if period > as_of {
                continue;
            }
            let amount = order_amount(NAME, amounts, row)?;
            self.totals.push(group, period, amount, groups)?;
        }
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let Some(as_ofs) = states[0].as_primitive_opt::<Int64Type>() else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        let lists = PeriodListsState::new(NAME, &states[1], &states[2])?;
        let groups = self.as_of.groups();
        for row in 0..as_ofs.len() {
            if as_ofs.is_null(row) {
                continue;
            }
            let group = group_of(row);
            self.as_of.set(group, as_ofs.value(row))?;
            for (period, amount) in lists.row(NAME, row)? {
                self.totals.push(group, period, amount, groups)?;
            }
        }
        Ok(())
    }

    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row becomes its own one-order state, as its own group would have it, built
        // column by column: DataFusion takes this path for every row once it decides partial
        // aggregation does not pay (many customers), so it must cost little more than a copy.
        let (times, amounts, as_ofs) = order_columns(values)?;
        let as_of_periods = AsOfPeriods::new(self.period, as_ofs);
        let rows = times.len();
        let mut as_of_ticks: Vec<Option<i64>> = Vec::with_capacity(rows);
        let mut orders: Vec<Option<(i64, f64)>> = Vec::with_capacity(rows);
        for row in 0..rows {
            if !passes(opt_filter, row) || times.is_null(row) {
                as_of_ticks.push(None);
                orders.push(None);
                continue;
            }
            let as_of = as_of_periods.at(row)?;
            let period = self.period.tick(times.value(row));
            as_of_ticks.push(Some(as_of));
            if period > as_of {
                orders.push(None);
                continue;
            }
            if i32::try_from(period).is_err() {
                return exec_err!("{NAME}: an order time is out of range (period {period})");
            }
            orders.push(Some((period, order_amount(NAME, amounts, row)?)));
        }
        let [periods, amounts] = single_order_lists(&orders)?;
        Ok(vec![
            Arc::new(Int64Array::from(as_of_ticks)),
            periods,
            amounts,
        ])
    }

    fn heap_size(&self) -> usize {
        self.totals.heap_size() + self.as_of.heap_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MICROS_PER_DAY;
    use crate::value::period_totals::test_orders::{
        RandomOrders, assert_same_summaries, random_orders,
    };
    use datafusion::arrow::array::TimestampMicrosecondArray;

    #[test]
    fn converted_states_merge_to_the_same_summaries() {
        // some orders NULL, some after as_of, some filtered out
        let RandomOrders {
            times,
            amounts,
            groups: group_indices,
            filter,
        } = random_orders(12345);
        let rows = times.len();
        let values: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(times)),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(TimestampMicrosecondArray::from(vec![
                200 * MICROS_PER_DAY;
                rows
            ])),
        ];
        let groups = || GroupsOf(ClvGroups::new(Period::Day, Period::Week));
        let mut direct = groups();
        direct
            .update_batch(&values, &group_indices, Some(&filter), 200)
            .unwrap();
        let mut converted = groups();
        let states = converted.convert_to_state(&values, Some(&filter)).unwrap();
        converted.merge_batch(&states, &group_indices, 200).unwrap();
        let repeat_buyers = assert_same_summaries(
            &direct.evaluate(EmitTo::All).unwrap(),
            &converted.evaluate(EmitTo::All).unwrap(),
            0,
        );
        assert!(
            repeat_buyers > 100,
            "{repeat_buyers} customers bought again"
        );
    }
}
