//! `clv_summary(order_time, amount, as_of [, period [, unit]])`: the per-customer summary
//! (frequency, recency, t, monetary_value) that repeat-buying models take, with the conventions
//! of `lifetimes.utils.summary_data_from_transaction_data`.
//!
//! The state is flat: one (group, period start, amount) entry per order for all groups, compacted
//! (sorted, same-period entries summed) whenever it doubles, so it stays within about twice the
//! number of distinct customer-periods, with no per-group allocation.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StructArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::arguments::check_argument_count;
use crate::conditions::passes;
use crate::doc_sections::VALUE_SECTION;
use crate::flat_groups::{FlatGroups, GroupsOf, OneGroup, list_array, state_field};
use crate::grouped_rows::{Sorted, counting_sort};
use crate::literals::literal_text;
use crate::strings::is_string_type;
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

fn literal_period(args: &AccumulatorArgs, index: usize, default: Period) -> Result<Period> {
    if args.exprs.len() <= index {
        return Ok(default);
    }
    let what = if index == 3 { "period" } else { "unit" };
    match literal_text(args, index) {
        Some(text) => match Period::parse(&text) {
            Some(period) => Ok(period),
            None => {
                exec_err!("{NAME}: unknown {what} '{text}': use 'hour', 'day', 'week' or 'month'")
            }
        },
        _ => exec_err!("{NAME}: {what} must be a string literal such as 'day'"),
    }
}

/// The (order_time, amount, as_of) columns, as `coerce_types` made them.
fn order_columns(
    values: &[ArrayRef],
) -> Result<(
    &TimestampMicrosecondArray,
    &Float64Array,
    &TimestampMicrosecondArray,
)> {
    match (
        values[0].as_primitive_opt::<TimestampMicrosecondType>(),
        values[1].as_primitive_opt::<Float64Type>(),
        values[2].as_primitive_opt::<TimestampMicrosecondType>(),
    ) {
        (Some(times), Some(amounts), Some(as_ofs)) => Ok((times, amounts, as_ofs)),
        _ => exec_err!("{NAME}: unexpected argument types"),
    }
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

/// An order's amount: NULL counts as 0 (the order still counts), NaN and infinity are errors.
fn order_amount(amounts: &Float64Array, row: usize) -> Result<f64> {
    let amount = if amounts.is_null(row) {
        0.0
    } else {
        amounts.value(row)
    };
    if !amount.is_finite() {
        return exec_err!("{NAME}: amount must be a number, got {amount}");
    }
    Ok(amount)
}

impl AggregateUDFImpl for ClvSummary {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(
            NAME,
            "(order_time, amount, as_of [, period [, unit]])",
            arg_types.len(),
            3..=5,
        )?;
        let time_zone = match &arg_types[0] {
            DataType::Timestamp(_, tz) => tz.clone(),
            DataType::Date32 | DataType::Date64 => None,
            other => {
                return plan_err!("{NAME}: order_time must be a timestamp or date, got {other}");
            }
        };
        let time = DataType::Timestamp(TimeUnit::Microsecond, time_zone);
        if !(arg_types[1].is_numeric() || arg_types[1].is_null()) {
            return plan_err!("{NAME}: amount must be numeric, got {}", arg_types[1]);
        }
        let mut types = vec![time.clone(), DataType::Float64, time];
        for t in &arg_types[3..] {
            if !is_string_type(t) {
                return plan_err!("{NAME}: period and unit must be strings such as 'day', got {t}");
            }
            types.push(t.clone());
        }
        Ok(types)
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
        let period = literal_period(args, 3, Period::Day)?;
        let unit = literal_period(args, 4, period)?;
        Ok(ClvGroups {
            period,
            unit,
            as_of: AsOfByGroup::default(),
            entries: Vec::new(),
            next_compaction: MIN_COMPACTION,
        })
    }
}

/// One order, or one customer-period after compaction.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    group: u32,
    /// the period's tick (see `Period::tick`)
    period: i32,
    amount: f64,
}

/// as_of's period start for each group. It is nearly always one value for every row (a
/// literal), so that value is kept once, with a byte per group saying whether the group has had
/// a row (small enough to stay in cache); values per group are kept only once two differ.
#[derive(Debug, Default, Clone)]
struct AsOfByGroup {
    common: Option<i64>,
    seen: Vec<bool>,
    per_group: Option<Vec<Option<i64>>>,
}

impl AsOfByGroup {
    fn len(&self) -> usize {
        self.seen.len()
    }

    fn resize(&mut self, groups: usize) {
        if self.seen.len() < groups {
            self.seen.resize(groups, false);
            if let Some(per_group) = &mut self.per_group {
                per_group.resize(groups, None);
            }
        }
    }

    #[inline]
    fn set(&mut self, group: usize, as_of: i64) -> Result<()> {
        if let Some(per_group) = &mut self.per_group {
            match per_group[group] {
                None => per_group[group] = Some(as_of),
                Some(existing) if existing == as_of => {}
                Some(_) => {
                    return exec_err!("{NAME}: as_of must be the same for every row of a group");
                }
            }
            self.seen[group] = true;
            return Ok(());
        }
        match self.common {
            Some(common) if common != as_of => {
                self.per_group = Some(self.seen.iter().map(|&s| s.then_some(common)).collect());
                self.set(group, as_of)
            }
            _ => {
                self.common = Some(as_of);
                self.seen[group] = true;
                Ok(())
            }
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Option<i64>> {
        let seen = emit_to.take_needed(&mut self.seen);
        match &mut self.per_group {
            Some(per_group) => emit_to.take_needed(per_group),
            None => seen
                .into_iter()
                .map(|s| if s { self.common } else { None })
                .collect(),
        }
    }

    fn heap_size(&self) -> usize {
        self.seen.capacity() + self.per_group.as_ref().map_or(0, |p| p.capacity() * 16)
    }
}

#[derive(Debug, Clone)]
struct ClvGroups {
    period: Period,
    unit: Period,
    as_of: AsOfByGroup,
    entries: Vec<Entry>,
    /// The entry count at which `push` compacts next.
    next_compaction: usize,
}

/// Compaction does not pay below this many entries.
const MIN_COMPACTION: usize = 1 << 20;

impl ClvGroups {
    fn set_as_of(&mut self, group: usize, as_of: i64) -> Result<()> {
        self.as_of.set(group, as_of)
    }

    fn push(&mut self, group: usize, period: i64, amount: f64) -> Result<()> {
        let (Ok(group), Ok(period)) = (u32::try_from(group), i32::try_from(period)) else {
            return exec_err!(
                "{NAME}: an order time or group is out of range (period {period}, group {group})"
            );
        };
        if self.entries.len() >= u32::MAX as usize {
            return exec_err!(
                "{NAME}: more than {} orders in one partition; raise target_partitions",
                u32::MAX
            );
        }
        self.entries.push(Entry {
            group,
            period,
            amount,
        });
        // Compaction before the end is only there to bound memory where customers buy several
        // times per period; it waits until the entries are several times the groups, and
        // `compact` spaces the next one by how much this one saved, so its cost stays linear
        // in the input and near nothing where there is little to merge.
        let len = self.entries.len();
        if len >= self.next_compaction && len >= self.as_of.len().saturating_mul(4) {
            self.compact();
        }
        Ok(())
    }

    /// Sorts by (group, period) and sums the entries of each customer-period: a counting sort
    /// by group (groups are dense indices), then each group's few entries by period.
    fn compact(&mut self) {
        let before = self.entries.len();
        let groups = self.as_of.len();
        let entries = std::mem::take(&mut self.entries);
        let Sorted {
            starts,
            items: mut sorted,
        } = counting_sort(
            entries.len(),
            groups,
            |i| Some(entries[i].group as usize),
            |i| entries[i],
        );
        drop(entries);
        self.entries = Vec::with_capacity(sorted.len());
        for g in 0..groups {
            let slice = &mut sorted[starts[g] as usize..starts[g + 1] as usize];
            // by amount too, so that a customer-period's total is summed in the same order
            // however its orders arrived
            slice.sort_unstable_by(|x, y| {
                x.period.cmp(&y.period).then(x.amount.total_cmp(&y.amount))
            });
            for entry in slice.iter() {
                match self.entries.last_mut() {
                    Some(last) if last.group == entry.group && last.period == entry.period => {
                        last.amount += entry.amount;
                    }
                    _ => self.entries.push(*entry),
                }
            }
        }
        // Twice the entries left when a quarter or more merged away; eight times when less did,
        // since then the entries are nearly all distinct customer-periods already.
        let left = self.entries.len();
        let growth = if left.saturating_mul(4) <= before.saturating_mul(3) {
            2
        } else {
            8
        };
        self.next_compaction = left.saturating_mul(growth).max(MIN_COMPACTION);
    }

    /// Takes the compacted entries and as_of values of the groups `emit_to` names, renumbering
    /// the groups that stay.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<Option<i64>>, Vec<Entry>) {
        self.compact();
        let as_of = self.as_of.take(emit_to);
        let emitted = as_of.len();
        let split = self
            .entries
            .partition_point(|e| (e.group as usize) < emitted);
        let mut rest = self.entries.split_off(split);
        for entry in &mut rest {
            entry.group -= emitted as u32;
        }
        let taken = std::mem::replace(&mut self.entries, rest);
        (as_of, taken)
    }
}

impl FlatGroups for ClvGroups {
    fn resize(&mut self, groups: usize) {
        self.as_of.resize(groups);
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (as_of, entries) = self.take(emit_to);
        let groups = as_of.len();
        let mut columns: [Vec<f64>; 4] = std::array::from_fn(|_| Vec::with_capacity(groups));
        let mut valid = Vec::with_capacity(groups);
        // ticks to microseconds, then to units (dividing last, as lifetimes does)
        let (tick, unit) = (self.period.tick_micros(), self.unit.unit_micros());
        let mut next = 0;
        for (group, as_of) in as_of.iter().enumerate() {
            let start = next;
            while next < entries.len() && entries[next].group as usize == group {
                next += 1;
            }
            let periods = &entries[start..next];
            match (periods.first(), periods.last(), as_of) {
                (Some(first), Some(last), Some(as_of)) => {
                    let repeats = (periods.len() - 1) as f64;
                    let repeat_total: f64 = periods[1..].iter().map(|e| e.amount).sum();
                    columns[0].push(repeats);
                    columns[1].push((i64::from(last.period - first.period) * tick) as f64 / unit);
                    columns[2].push(((as_of - i64::from(first.period)) * tick) as f64 / unit);
                    columns[3].push(if repeats > 0.0 {
                        repeat_total / repeats
                    } else {
                        0.0
                    });
                    valid.push(true);
                }
                _ => {
                    columns.iter_mut().for_each(|c| c.push(0.0));
                    valid.push(false);
                }
            }
        }
        // The fields are NULL too where the struct is, so that s['frequency'] reads NULL.
        let nulls = NullBuffer::from(valid);
        let arrays: Vec<ArrayRef> = columns
            .into_iter()
            .map(|c| Arc::new(Float64Array::new(c.into(), Some(nulls.clone()))) as ArrayRef)
            .collect();
        Ok(Arc::new(StructArray::try_new(
            result_fields(),
            arrays,
            Some(nulls),
        )?))
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (as_of, entries) = self.take(emit_to);
        let mut lengths = vec![0usize; as_of.len()];
        for entry in &entries {
            lengths[entry.group as usize] += 1;
        }
        let offsets = OffsetBuffer::from_lengths(lengths);
        let periods = Int64Array::from_iter_values(entries.iter().map(|e| i64::from(e.period)));
        let amounts = Float64Array::from_iter_values(entries.iter().map(|e| e.amount));
        Ok(vec![
            Arc::new(Int64Array::from(as_of)),
            list_array(&offsets, Arc::new(periods))?,
            list_array(&offsets, Arc::new(amounts))?,
        ])
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let (times, amounts, as_ofs) = order_columns(values)?;
        let as_of_periods = AsOfPeriods::new(self.period, as_ofs);
        for row in 0..times.len() {
            if !keep(row) || times.is_null(row) {
                continue;
            }
            let as_of = as_of_periods.at(row)?;
            let group = group_of(row);
            self.set_as_of(group, as_of)?;
            let period = self.period.tick(times.value(row));
            if period > as_of {
                continue;
            }
            let amount = order_amount(amounts, row)?;
            self.push(group, period, amount)?;
        }
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let (Some(as_ofs), Some(periods), Some(amounts)) = (
            states[0].as_primitive_opt::<Int64Type>(),
            states[1].as_list_opt::<i32>(),
            states[2].as_list_opt::<i32>(),
        ) else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        // read the lists' values through their offsets: slicing a list per row would allocate
        // two arrays per state row, and states come one row per order when DataFusion skips
        // partial aggregation
        let (Some(period_values), Some(amount_values)) = (
            periods.values().as_primitive_opt::<Int64Type>(),
            amounts.values().as_primitive_opt::<Float64Type>(),
        ) else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        let (period_offsets, amount_offsets) = (periods.value_offsets(), amounts.value_offsets());
        let (period_values, amount_values) = (period_values.values(), amount_values.values());
        for row in 0..as_ofs.len() {
            if as_ofs.is_null(row) {
                continue;
            }
            let group = group_of(row);
            self.set_as_of(group, as_ofs.value(row))?;
            let (start, end) = (
                period_offsets[row] as usize,
                period_offsets[row + 1] as usize,
            );
            let amount_start = amount_offsets[row] as usize;
            if amount_offsets[row + 1] as usize - amount_start != end - start {
                return exec_err!("{NAME}: unexpected partial state");
            }
            for i in 0..end - start {
                self.push(
                    group,
                    period_values[start + i],
                    amount_values[amount_start + i],
                )?;
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
        let mut lengths: Vec<usize> = Vec::with_capacity(rows);
        let mut periods: Vec<i64> = Vec::with_capacity(rows);
        let mut values_out: Vec<f64> = Vec::with_capacity(rows);
        for row in 0..rows {
            if !passes(opt_filter, row) || times.is_null(row) {
                as_of_ticks.push(None);
                lengths.push(0);
                continue;
            }
            let as_of = as_of_periods.at(row)?;
            let period = self.period.tick(times.value(row));
            as_of_ticks.push(Some(as_of));
            if period > as_of {
                lengths.push(0);
                continue;
            }
            if i32::try_from(period).is_err() {
                return exec_err!("{NAME}: an order time is out of range (period {period})");
            }
            let amount = order_amount(amounts, row)?;
            lengths.push(1);
            periods.push(period);
            values_out.push(amount);
        }
        let offsets = OffsetBuffer::from_lengths(lengths);
        Ok(vec![
            Arc::new(Int64Array::from(as_of_ticks)),
            list_array(&offsets, Arc::new(Int64Array::from(periods)))?,
            list_array(&offsets, Arc::new(Float64Array::from(values_out)))?,
        ])
    }

    fn heap_size(&self) -> usize {
        self.entries.capacity() * size_of::<Entry>() + self.as_of.heap_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MICROS_PER_DAY;
    use datafusion::arrow::array::TimestampMicrosecondArray;

    fn groups() -> GroupsOf<ClvGroups> {
        GroupsOf(ClvGroups {
            period: Period::Day,
            unit: Period::Week,
            as_of: AsOfByGroup::default(),
            entries: Vec::new(),
            next_compaction: MIN_COMPACTION,
        })
    }

    #[test]
    fn converted_states_merge_to_the_same_summaries() {
        // 3,000 orders of 200 customers, some NULL, some after as_of, some filtered out
        let rows = 3000;
        let mut random = crate::TestRandom::new(12345);
        let as_of = 200 * MICROS_PER_DAY;
        let times: Vec<Option<i64>> = (0..rows)
            .map(|_| {
                (!random.next_u64().is_multiple_of(13)).then(|| {
                    (random.next_u64() % 230) as i64 * MICROS_PER_DAY
                        + (random.next_u64() % 86_400_000_000) as i64
                })
            })
            .collect();
        let amounts: Vec<Option<f64>> = (0..rows)
            .map(|_| {
                (!random.next_u64().is_multiple_of(17))
                    .then(|| (random.next_u64() % 1000) as f64 / 10.0)
            })
            .collect();
        let group_indices: Vec<usize> = (0..rows)
            .map(|_| (random.next_u64() % 200) as usize)
            .collect();
        let filter: BooleanArray = (0..rows)
            .map(|_| Some(!random.next_u64().is_multiple_of(9)))
            .collect();
        let values: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(times)),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(TimestampMicrosecondArray::from(vec![as_of; rows])),
        ];
        let mut direct = groups();
        direct
            .update_batch(&values, &group_indices, Some(&filter), 200)
            .unwrap();
        let mut converted = groups();
        let states = converted.convert_to_state(&values, Some(&filter)).unwrap();
        converted.merge_batch(&states, &group_indices, 200).unwrap();
        let (a, b) = (
            direct.evaluate(EmitTo::All).unwrap(),
            converted.evaluate(EmitTo::All).unwrap(),
        );
        assert_eq!(a.len(), 200);
        let (a, b) = (a.as_struct(), b.as_struct());
        for column in 0..4 {
            let (x, y) = (
                a.column(column).as_primitive::<Float64Type>(),
                b.column(column).as_primitive::<Float64Type>(),
            );
            for row in 0..200 {
                assert_eq!(x.is_null(row), y.is_null(row));
                if !x.is_null(row) {
                    assert!(
                        (x.value(row) - y.value(row)).abs() < 1e-9,
                        "column {column} row {row}"
                    );
                }
            }
        }
    }
}
