//! The state the order summaries share (`clv_summary` and `clv_holdout_summary`): for all groups
//! in one flat vector, the total amount of each period in which a customer ordered, plus the
//! per-group constants (as_of, the calibration and observation ends) that every row repeats.
//!
//! Entries start as one per order and are compacted (sorted, same-period entries summed) whenever
//! they double, so they stay within about twice the number of distinct customer-periods, with no
//! per-group allocation.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, GenericListArray, Int64Array, PrimitiveArray,
    StructArray, TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{
    DataType, Fields, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{Result, exec_datafusion_err, exec_err, plan_err};
use datafusion::logical_expr::EmitTo;
use datafusion::logical_expr::function::AccumulatorArgs;

use crate::arguments::check_argument_count;
use crate::flat_groups::list_array;
use crate::grouped_rows::{Sorted, counting_sort};
use crate::literals::literal_text;
use crate::strings::is_string_type;
use crate::time::Period;

/// One order, or one customer-period after compaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeriodEntry {
    pub group: u32,
    /// the period's tick (see `Period::tick`)
    pub period: i32,
    pub amount: f64,
}

/// Compaction does not pay below this many entries.
const MIN_COMPACTION: usize = 1 << 20;

/// Period totals of all groups of one aggregate (`function` names it in errors).
#[derive(Debug, Clone)]
pub struct PeriodTotals {
    function: &'static str,
    entries: Vec<PeriodEntry>,
    /// The entry count at which `push` compacts next.
    next_compaction: usize,
}

impl PeriodTotals {
    pub fn new(function: &'static str) -> Self {
        Self {
            function,
            entries: Vec::new(),
            next_compaction: MIN_COMPACTION,
        }
    }

    /// Adds an order of `group` (one of `groups`) in `period`.
    pub fn push(&mut self, group: usize, period: i64, amount: f64, groups: usize) -> Result<()> {
        let (Ok(group), Ok(period)) = (u32::try_from(group), i32::try_from(period)) else {
            return exec_err!(
                "{}: an order time or group is out of range (period {period}, group {group})",
                self.function
            );
        };
        if self.entries.len() >= u32::MAX as usize {
            return exec_err!(
                "{}: more than {} orders in one partition; raise target_partitions",
                self.function,
                u32::MAX
            );
        }
        self.entries.push(PeriodEntry {
            group,
            period,
            amount,
        });
        // Compaction before the end is only there to bound memory where customers buy several
        // times per period; it waits until the entries are several times the groups, and
        // `compact` spaces the next one by how much this one saved, so its cost stays linear
        // in the input and near nothing where there is little to merge.
        let len = self.entries.len();
        if len >= self.next_compaction && len >= groups.saturating_mul(4) {
            self.compact(groups);
        }
        Ok(())
    }

    /// Sorts by (group, period) and sums the entries of each customer-period: a counting sort
    /// by group (groups are dense indices), then each group's few entries by period.
    fn compact(&mut self, groups: usize) {
        let before = self.entries.len();
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

    /// Takes the compacted entries of the first `emitted` of `groups` groups, sorted by (group,
    /// period), renumbering the groups that stay.
    pub fn take(&mut self, groups: usize, emitted: usize) -> Vec<PeriodEntry> {
        self.compact(groups);
        let split = self
            .entries
            .partition_point(|e| (e.group as usize) < emitted);
        let mut rest = self.entries.split_off(split);
        for entry in &mut rest {
            entry.group -= emitted as u32;
        }
        std::mem::replace(&mut self.entries, rest)
    }

    pub fn heap_size(&self) -> usize {
        self.entries.capacity() * size_of::<PeriodEntry>()
    }
}

/// Taken entries (sorted by group) as two partial-state list columns, periods and amounts, one
/// list per group of `groups`.
pub fn period_lists(entries: &[PeriodEntry], groups: usize) -> Result<[ArrayRef; 2]> {
    let mut lengths = vec![0usize; groups];
    for entry in entries {
        lengths[entry.group as usize] += 1;
    }
    let offsets = OffsetBuffer::from_lengths(lengths);
    let periods = Int64Array::from_iter_values(entries.iter().map(|e| i64::from(e.period)));
    let amounts = Float64Array::from_iter_values(entries.iter().map(|e| e.amount));
    Ok([
        list_array(&offsets, Arc::new(periods))?,
        list_array(&offsets, Arc::new(amounts))?,
    ])
}

/// One order per row (`None` for a row without one) as the two list columns of
/// `period_lists`, for `rows_as_states`.
pub fn single_order_lists(orders: &[Option<(i64, f64)>]) -> Result<[ArrayRef; 2]> {
    let offsets = OffsetBuffer::from_lengths(orders.iter().map(|o| usize::from(o.is_some())));
    let periods = Int64Array::from_iter_values(orders.iter().flatten().map(|o| o.0));
    let amounts = Float64Array::from_iter_values(orders.iter().flatten().map(|o| o.1));
    Ok([
        list_array(&offsets, Arc::new(periods))?,
        list_array(&offsets, Arc::new(amounts))?,
    ])
}

/// The partial-state list columns of `period_lists`, read through their offsets: slicing a list
/// per row would allocate two arrays per state row, and states come one row per order when
/// DataFusion skips partial aggregation.
pub struct PeriodListsState<'a> {
    period_offsets: &'a [i32],
    amount_offsets: &'a [i32],
    periods: &'a [i64],
    amounts: &'a [f64],
}

impl<'a> PeriodListsState<'a> {
    pub fn new(function: &str, periods: &'a ArrayRef, amounts: &'a ArrayRef) -> Result<Self> {
        let list = |array: &'a ArrayRef| {
            array
                .as_any()
                .downcast_ref::<GenericListArray<i32>>()
                .map(|l| (l.value_offsets(), l.values()))
        };
        let (Some((period_offsets, period_values)), Some((amount_offsets, amount_values))) =
            (list(periods), list(amounts))
        else {
            return exec_err!("{function}: unexpected partial state");
        };
        let (Some(periods), Some(amounts)) = (
            period_values
                .as_any()
                .downcast_ref::<PrimitiveArray<Int64Type>>(),
            amount_values
                .as_any()
                .downcast_ref::<PrimitiveArray<Float64Type>>(),
        ) else {
            return exec_err!("{function}: unexpected partial state");
        };
        if period_offsets.len() != amount_offsets.len() {
            return exec_err!("{function}: unexpected partial state");
        }
        Ok(Self {
            period_offsets,
            amount_offsets,
            periods: periods.values(),
            amounts: amounts.values(),
        })
    }

    /// The (period, amount) entries of state row `row`.
    pub fn row(&self, function: &str, row: usize) -> Result<impl Iterator<Item = (i64, f64)>> {
        let (start, end) = (
            self.period_offsets[row] as usize,
            self.period_offsets[row + 1] as usize,
        );
        let amount_start = self.amount_offsets[row] as usize;
        if self.amount_offsets[row + 1] as usize - amount_start != end - start {
            return exec_err!("{function}: unexpected partial state");
        }
        Ok(
            (0..end - start)
                .map(move |i| (self.periods[start + i], self.amounts[amount_start + i])),
        )
    }
}

/// A value every row of a group must repeat (as_of, a calibration end), kept once for all groups
/// while it is one value (nearly always: a literal), with a byte per group saying whether the
/// group has had a row (small enough to stay in cache); values per group are kept only once two
/// differ.
#[derive(Debug, Clone)]
pub struct GroupConstant {
    function: &'static str,
    argument: &'static str,
    common: Option<i64>,
    seen: Vec<bool>,
    per_group: Option<Vec<Option<i64>>>,
}

impl GroupConstant {
    pub fn new(function: &'static str, argument: &'static str) -> Self {
        Self {
            function,
            argument,
            common: None,
            seen: Vec::new(),
            per_group: None,
        }
    }

    /// The number of groups.
    pub fn groups(&self) -> usize {
        self.seen.len()
    }

    pub fn resize(&mut self, groups: usize) {
        if self.seen.len() < groups {
            self.seen.resize(groups, false);
            if let Some(per_group) = &mut self.per_group {
                per_group.resize(groups, None);
            }
        }
    }

    #[inline]
    pub fn set(&mut self, group: usize, value: i64) -> Result<()> {
        if let Some(per_group) = &mut self.per_group {
            match per_group[group] {
                None => per_group[group] = Some(value),
                Some(existing) if existing == value => {}
                Some(_) => {
                    return exec_err!(
                        "{}: {} must be the same for every row of a group",
                        self.function,
                        self.argument
                    );
                }
            }
            self.seen[group] = true;
            return Ok(());
        }
        match self.common {
            Some(common) if common != value => {
                self.per_group = Some(self.seen.iter().map(|&s| s.then_some(common)).collect());
                self.set(group, value)
            }
            _ => {
                self.common = Some(value);
                self.seen[group] = true;
                Ok(())
            }
        }
    }

    /// The values of the groups `emit_to` names (`None` for a group without rows), which are
    /// removed.
    pub fn take(&mut self, emit_to: EmitTo) -> Vec<Option<i64>> {
        let seen = emit_to.take_needed(&mut self.seen);
        match &mut self.per_group {
            Some(per_group) => emit_to.take_needed(per_group),
            None => seen
                .into_iter()
                .map(|s| if s { self.common } else { None })
                .collect(),
        }
    }

    pub fn heap_size(&self) -> usize {
        self.seen.capacity() + self.per_group.as_ref().map_or(0, |p| p.capacity() * 16)
    }
}

/// An order's amount: NULL counts as 0 (the order still counts), NaN and infinity are errors.
pub fn order_amount(function: &str, amounts: &Float64Array, row: usize) -> Result<f64> {
    let amount = if amounts.is_null(row) {
        0.0
    } else {
        amounts.value(row)
    };
    if !amount.is_finite() {
        return exec_err!("{function}: amount must be a number, got {amount}");
    }
    Ok(amount)
}

/// The optional period argument `index` (`what` is its name): a string literal such as 'day'.
pub fn literal_period(
    function: &str,
    args: &AccumulatorArgs,
    index: usize,
    what: &str,
    default: Period,
) -> Result<Period> {
    if args.exprs.len() <= index {
        return Ok(default);
    }
    match literal_text(args, index) {
        Some(text) => match Period::parse(&text) {
            Some(period) => Ok(period),
            None => exec_err!(
                "{function}: unknown {what} '{text}': use 'hour', 'day', 'week' or 'month'"
            ),
        },
        _ => exec_err!("{function}: {what} must be a string literal such as 'day'"),
    }
}

/// lifetimes' summary of one customer's period totals (sorted by period, at least one) observed
/// up to the period `end`: [frequency, recency, t, monetary_value], time converted from periods
/// (`period`) to `unit`, dividing last as lifetimes does.
pub fn customer_summary(
    periods: &[PeriodEntry],
    end: i64,
    period: Period,
    unit: Period,
) -> [f64; 4] {
    let (tick, unit) = (period.tick_micros(), unit.unit_micros());
    let (first, last) = (periods[0], periods[periods.len() - 1]);
    let repeats = (periods.len() - 1) as f64;
    let repeat_total: f64 = periods[1..].iter().map(|e| e.amount).sum();
    [
        repeats,
        (i64::from(last.period - first.period) * tick) as f64 / unit,
        ((end - i64::from(first.period)) * tick) as f64 / unit,
        if repeats > 0.0 {
            repeat_total / repeats
        } else {
            0.0
        },
    ]
}

/// The summaries' result: a struct of Float64 `fields` per group, NULL (the struct and its
/// fields, so that s['frequency'] reads NULL) for a group without one.
pub fn summary_struct<const N: usize>(
    fields: Fields,
    rows: impl Iterator<Item = Option<[f64; N]>>,
) -> Result<ArrayRef> {
    let groups = rows.size_hint().0;
    let mut columns: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(groups));
    let mut valid = Vec::with_capacity(groups);
    for row in rows {
        valid.push(row.is_some());
        let values = row.unwrap_or([0.0; N]);
        columns.iter_mut().zip(values).for_each(|(c, v)| c.push(v));
    }
    let nulls = NullBuffer::from(valid);
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .map(|c| Arc::new(Float64Array::new(c.into(), Some(nulls.clone()))) as ArrayRef)
        .collect();
    Ok(Arc::new(StructArray::try_new(fields, arrays, Some(nulls))?))
}

/// Each group's slice of taken entries (sorted by group), for groups `0..groups`.
pub fn by_group(entries: &[PeriodEntry], groups: usize) -> impl Iterator<Item = &[PeriodEntry]> {
    let mut next = 0;
    (0..groups).map(move |group| {
        let start = next;
        while next < entries.len() && entries[next].group as usize == group {
            next += 1;
        }
        &entries[start..next]
    })
}

/// `coerce_types` of an order summary taking (order_time, amount, `ends` end times [, period [,
/// unit]]): times become microsecond timestamps in order_time's zone (strings and dates cast),
/// amounts Float64.
pub fn coerce_order_arguments(
    function: &str,
    usage: &str,
    arg_types: &[DataType],
    ends: usize,
) -> Result<Vec<DataType>> {
    check_argument_count(function, usage, arg_types.len(), 2 + ends..=4 + ends)?;
    let time_zone = match &arg_types[0] {
        DataType::Timestamp(_, tz) => tz.clone(),
        DataType::Date32 | DataType::Date64 => None,
        other => {
            return plan_err!("{function}: order_time must be a timestamp or date, got {other}");
        }
    };
    let time = DataType::Timestamp(TimeUnit::Microsecond, time_zone);
    if !(arg_types[1].is_numeric() || arg_types[1].is_null()) {
        return plan_err!("{function}: amount must be numeric, got {}", arg_types[1]);
    }
    let mut types = vec![time.clone(), DataType::Float64];
    types.extend(std::iter::repeat_n(time, ends));
    for t in &arg_types[2 + ends..] {
        if !is_string_type(t) {
            return plan_err!("{function}: period and unit must be strings such as 'day', got {t}");
        }
        types.push(t.clone());
    }
    Ok(types)
}

/// The (order_time, amount, end times...) columns, as `coerce_order_arguments` made them.
pub fn order_and_end_columns<'a, const ENDS: usize>(
    function: &str,
    values: &'a [ArrayRef],
) -> Result<(
    &'a TimestampMicrosecondArray,
    &'a Float64Array,
    [&'a TimestampMicrosecondArray; ENDS],
)> {
    let unexpected = || exec_datafusion_err!("{function}: unexpected argument types");
    let times = values[0]
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(unexpected)?;
    let amounts = values[1]
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(unexpected)?;
    let ends: Vec<&TimestampMicrosecondArray> = values[2..2 + ENDS]
        .iter()
        .map(|v| v.as_primitive_opt::<TimestampMicrosecondType>())
        .collect::<Option<_>>()
        .ok_or_else(unexpected)?;
    let ends: [&TimestampMicrosecondArray; ENDS] = ends.try_into().map_err(|_| unexpected())?;
    Ok((times, amounts, ends))
}

/// Random orders for the summaries' tests, and the check that two results agree.
#[cfg(test)]
pub(crate) mod test_orders {
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
    use datafusion::arrow::datatypes::Float64Type;

    use crate::time::MICROS_PER_DAY;

    /// Orders of customers (groups), with the FILTER clause's values.
    pub struct RandomOrders {
        pub times: Vec<Option<i64>>,
        pub amounts: Vec<Option<f64>>,
        pub groups: Vec<usize>,
        pub filter: BooleanArray,
    }

    /// 3,000 orders of 200 customers over 230 days at any time of day: some times and amounts
    /// NULL, some rows filtered out.
    pub fn random_orders(seed: u64) -> RandomOrders {
        let rows = 3000;
        let mut random = crate::TestRandom::new(seed);
        let times = (0..rows)
            .map(|_| {
                (!random.next_u64().is_multiple_of(13)).then(|| {
                    (random.next_u64() % 230) as i64 * MICROS_PER_DAY
                        + (random.next_u64() % 86_400_000_000) as i64
                })
            })
            .collect();
        let amounts = (0..rows)
            .map(|_| {
                (!random.next_u64().is_multiple_of(17))
                    .then(|| (random.next_u64() % 1000) as f64 / 10.0)
            })
            .collect();
        let groups = (0..rows)
            .map(|_| (random.next_u64() % 200) as usize)
            .collect();
        let filter = (0..rows)
            .map(|_| Some(!random.next_u64().is_multiple_of(9)))
            .collect();
        RandomOrders {
            times,
            amounts,
            groups,
            filter,
        }
    }

    /// Asserts that two struct results of Float64 fields agree (to 1e-9, NULL where the other
    /// is NULL); returns the first one's rows with a positive value in field `count_field`.
    pub fn assert_same_summaries(a: &ArrayRef, b: &ArrayRef, count_field: usize) -> usize {
        assert_eq!(a.len(), b.len());
        let (a, b) = (a.as_struct(), b.as_struct());
        let mut positive = 0;
        for column in 0..a.num_columns() {
            let (x, y) = (
                a.column(column).as_primitive::<Float64Type>(),
                b.column(column).as_primitive::<Float64Type>(),
            );
            for row in 0..x.len() {
                assert_eq!(x.is_null(row), y.is_null(row), "column {column} row {row}");
                if !x.is_null(row) {
                    assert!(
                        (x.value(row) - y.value(row)).abs() < 1e-9,
                        "column {column} row {row}"
                    );
                    if column == count_field && x.value(row) > 0.0 {
                        positive += 1;
                    }
                }
            }
        }
        positive
    }
}
