//! The state shared by the behavioural aggregates (funnels, sequences): per group, the list of
//! (time, condition mask) events of the rows that matched some condition.
//!
//! `EventListGroups` keeps three flat vectors (group, time, mask) for all groups, with no
//! per-group allocation; evaluation buckets them by group with one counting sort. It is a
//! `FlatGroups`, so the same state serves GROUP BY, global aggregates and windows, and one
//! `EventsEvaluator` turns a group's events into the result.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::EmitTo;
use datafusion::logical_expr::function::StateFieldsArgs;
use datafusion::logical_expr::utils::format_state_name;

use crate::conditions::{condition_masks, passes};
use crate::flat_groups::FlatGroups;
use crate::grouped_rows::{Buckets, GroupedRows};
use crate::time::for_each_tick;

/// Turns each group's events into the function's result.
pub trait EventsEvaluator: Debug + Send + Sync + 'static {
    /// The function's name, for messages.
    fn name(&self) -> &str;
    /// Whether rows that match no condition must be kept (they matter to `strict_order`).
    fn keeps_unmatched_rows(&self) -> bool {
        false
    }
    /// Whether the result never reads past the first row that matches no condition and is
    /// later than a row matching condition 1 (`strict_order` stops there). Events later than
    /// any such row are then dropped as they come, in every partition: whatever the other
    /// partitions hold, the first such row of the whole group is no later than this one.
    fn stops_at_unmatched_after_first_step(&self) -> bool {
        false
    }
    /// One result per group, in group order; each group's slice may be reordered.
    fn evaluate(&self, groups: &mut [&mut [(i64, u64)]]) -> Result<ArrayRef>;
}

/// Where the time and the conditions are among the function's arguments.
#[derive(Debug, Clone, Copy)]
pub struct EventArguments {
    pub time: usize,
    pub first_condition: usize,
}

impl EventArguments {
    /// Calls `f(row, time, mask)` for each event of a batch: rows with a time that matched a
    /// condition (or any row, when unmatched rows are kept).
    fn for_each_event(
        &self,
        values: &[ArrayRef],
        keep_unmatched: bool,
        name: &str,
        mut f: impl FnMut(usize, i64, u64),
    ) -> Result<()> {
        let rows = values.get(self.time).map_or(0, |a| a.len());
        let masks = condition_masks(&values[self.first_condition..], rows, name)?;
        for_each_tick(&values[self.time], name, |row, time| {
            if let Some(time) = time {
                let mask = masks[row];
                if mask != 0 || keep_unmatched {
                    f(row, time, mask);
                }
            }
        })
    }
}

/// The state offsets of a batch whose rows each become a state of their own: row r's state
/// holds one event when r is among `event_rows` (ascending, as batches are read), else none.
pub(crate) fn one_state_per_row(
    rows: usize,
    event_rows: impl IntoIterator<Item = usize>,
) -> Vec<usize> {
    let mut starts = Vec::with_capacity(rows + 1);
    starts.push(0);
    let mut next_event = event_rows.into_iter().peekable();
    for row in 0..rows {
        let has_event = next_event.next_if_eq(&row).is_some();
        starts.push(starts[row] + usize::from(has_event));
    }
    starts
}

pub fn event_state_fields(args: &StateFieldsArgs) -> Vec<FieldRef> {
    let item = |data_type| Arc::new(Field::new_list_field(data_type, false));
    vec![
        Arc::new(Field::new(
            format_state_name(args.name, "times"),
            DataType::List(item(DataType::Int64)),
            true,
        )),
        Arc::new(Field::new(
            format_state_name(args.name, "masks"),
            DataType::List(item(DataType::UInt64)),
            true,
        )),
    ]
}

/// The two state columns for groups whose events are `events[offsets[g]..offsets[g + 1]]`.
fn state_columns(offsets: Vec<usize>, events: &[(i64, u64)]) -> Result<Vec<ArrayRef>> {
    let offsets = OffsetBuffer::from_lengths(offsets.windows(2).map(|w| w[1] - w[0]));
    let times = Int64Array::from_iter_values(events.iter().map(|e| e.0));
    let masks = UInt64Array::from_iter_values(events.iter().map(|e| e.1));
    let times = ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Int64, false)),
        offsets.clone(),
        Arc::new(times),
        None,
    )?;
    let masks = ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::UInt64, false)),
        offsets,
        Arc::new(masks),
        None,
    )?;
    Ok(vec![Arc::new(times), Arc::new(masks)])
}

fn state_lists<'a>(values: &'a [ArrayRef], name: &str) -> Result<(&'a ListArray, &'a ListArray)> {
    match (
        values.first().and_then(|a| a.as_list_opt::<i32>()),
        values.get(1).and_then(|a| a.as_list_opt::<i32>()),
    ) {
        (Some(times), Some(masks)) => Ok((times, masks)),
        _ => exec_err!("{name}: unexpected partial state"),
    }
}

/// The events of all groups, kept flat: a [`FlatGroups`], so [`GroupsOf`] and [`OneGroup`]
/// make it the aggregate's accumulators.
///
/// [`GroupsOf`]: crate::flat_groups::GroupsOf
/// [`OneGroup`]: crate::flat_groups::OneGroup
#[derive(Debug)]
pub struct EventListGroups<E: EventsEvaluator> {
    evaluator: Arc<E>,
    arguments: EventArguments,
    rows: GroupedRows<u64>,
    num_groups: usize,
    /// Present when the evaluator stops at the first unmatched row after step 1.
    stop: Option<StopTimes>,
}

// Not derived: that would ask for `E: Clone`, and the evaluator is shared, not copied.
impl<E: EventsEvaluator> Clone for EventListGroups<E> {
    fn clone(&self) -> Self {
        Self {
            evaluator: Arc::clone(&self.evaluator),
            arguments: self.arguments,
            rows: self.rows.clone(),
            num_groups: self.num_groups,
            stop: self.stop.clone(),
        }
    }
}

/// Per group: the earliest time of a row matching condition 1, and the earliest time of an
/// unmatched row later than such a row (`i64::MAX` while there is none). The evaluation never
/// reads an event later than the second, so those events are not kept.
#[derive(Debug, Default, Clone)]
struct StopTimes {
    first_start: Vec<i64>,
    last_read: Vec<i64>,
}

impl StopTimes {
    fn grow(&mut self, groups: usize) {
        if self.first_start.len() < groups {
            self.first_start.resize(groups, i64::MAX);
            self.last_read.resize(groups, i64::MAX);
        }
    }

    /// Whether to keep an event; notes what it tells of where the evaluation will stop.
    fn keep(&mut self, group: usize, time: i64, mask: u64) -> bool {
        if time > self.last_read[group] {
            return false;
        }
        if mask & 1 != 0 {
            self.first_start[group] = self.first_start[group].min(time);
        } else if mask == 0 && time > self.first_start[group] {
            // Unmatched rows sort before matched ones of the same time, so only a strictly
            // later unmatched row stops a chain started at `first_start`.
            self.last_read[group] = time;
        }
        true
    }

    /// Forgets the first `emitted` groups (their rows were taken).
    fn drain(&mut self, emitted: usize) {
        self.first_start.drain(..emitted);
        self.last_read.drain(..emitted);
    }

    fn size(&self) -> usize {
        (self.first_start.capacity() + self.last_read.capacity()) * size_of::<i64>()
    }
}

impl<E: EventsEvaluator> EventListGroups<E> {
    pub fn new(evaluator: Arc<E>, arguments: EventArguments) -> Self {
        let stop = evaluator
            .stops_at_unmatched_after_first_step()
            .then(StopTimes::default);
        Self {
            evaluator,
            arguments,
            rows: GroupedRows::new(),
            num_groups: 0,
            stop,
        }
    }

    fn push(&mut self, group: usize, time: i64, mask: u64) {
        if self
            .stop
            .as_mut()
            .is_none_or(|stop| stop.keep(group, time, mask))
        {
            self.rows.push(group, time, mask);
        }
    }

    /// Removes the groups `emit_to` asks for and returns their events bucketed by group
    /// (`starts` has one more entry than there are groups).
    fn take(&mut self, emit_to: EmitTo) -> Result<Buckets<u64>> {
        let emitted = match emit_to {
            EmitTo::All => self.num_groups,
            EmitTo::First(n) => n.min(self.num_groups),
        };
        let buckets = match &mut self.stop {
            Some(stop) => {
                // rows kept before a group's stop was found are dropped now
                let buckets = self
                    .rows
                    .take_until(emitted, Some(&stop.last_read[..emitted]))?;
                stop.drain(emitted);
                buckets
            }
            None => self.rows.take(emitted)?,
        };
        self.num_groups -= emitted;
        Ok(buckets)
    }
}

impl<E: EventsEvaluator> FlatGroups for EventListGroups<E> {
    fn resize(&mut self, groups: usize) {
        self.num_groups = self.num_groups.max(groups);
        if let Some(stop) = &mut self.stop {
            stop.grow(self.num_groups);
        }
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let keep_unmatched = self.evaluator.keeps_unmatched_rows();
        let evaluator = Arc::clone(&self.evaluator);
        let arguments = self.arguments;
        arguments.for_each_event(
            values,
            keep_unmatched,
            evaluator.name(),
            |row, time, mask| {
                if keep(row) {
                    self.push(group_of(row), time, mask);
                }
            },
        )
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let (times, masks) = state_lists(states, self.evaluator.name())?;
        let time_values = times.values().as_primitive::<Int64Type>();
        let mask_values = masks.values().as_primitive::<UInt64Type>();
        let offsets = times.value_offsets();
        for row in 0..times.len() {
            if times.is_null(row) {
                continue;
            }
            let group = group_of(row);
            for i in offsets[row] as usize..offsets[row + 1] as usize {
                self.push(group, time_values.value(i), mask_values.value(i));
            }
        }
        Ok(())
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let Buckets {
            starts: offsets,
            rows: mut events,
        } = self.take(emit_to)?;
        let mut slices = Vec::with_capacity(offsets.len().saturating_sub(1));
        let mut rest: &mut [(i64, u64)] = &mut events;
        for window in offsets.windows(2) {
            let (head, tail) = rest.split_at_mut(window[1] - window[0]);
            slices.push(head);
            rest = tail;
        }
        self.evaluator.evaluate(&mut slices)
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let Buckets {
            starts: offsets,
            rows: events,
        } = self.take(emit_to)?;
        state_columns(offsets, &events)
    }

    /// Each input row as a state of its own: a list of its one event, or an empty list.
    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let keep = self.evaluator.keeps_unmatched_rows();
        let rows = values.get(self.arguments.time).map_or(0, |a| a.len());
        let mut event_rows = Vec::new();
        let mut kept: Vec<(i64, u64)> = Vec::new();
        self.arguments
            .for_each_event(values, keep, self.evaluator.name(), |row, time, mask| {
                if passes(opt_filter, row) {
                    event_rows.push(row);
                    kept.push((time, mask));
                }
            })?;
        state_columns(one_state_per_row(rows, event_rows), &kept)
    }

    fn heap_size(&self) -> usize {
        self.rows.size() + self.stop.as_ref().map_or(0, StopTimes::size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DataFusion converts rows to states when partial aggregation does not pay: each row's
    /// state is its event, or an empty list when it matched nothing, and a FILTER drops rows.
    #[test]
    fn each_row_becomes_a_state_of_its_own() {
        assert_eq!(one_state_per_row(5, [1, 2, 4]), vec![0, 0, 1, 2, 2, 3]);
        assert_eq!(one_state_per_row(2, []), vec![0, 0, 0]);

        #[derive(Debug)]
        struct Count;
        impl EventsEvaluator for Count {
            fn name(&self) -> &str {
                "count"
            }
            fn evaluate(&self, groups: &mut [&mut [(i64, u64)]]) -> Result<ArrayRef> {
                Ok(Arc::new(Int64Array::from_iter_values(
                    groups.iter().map(|g| g.len() as i64),
                )))
            }
        }
        let groups = EventListGroups::new(
            Arc::new(Count),
            EventArguments {
                time: 0,
                first_condition: 1,
            },
        );
        let times: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(6), None, Some(8)]));
        let condition: ArrayRef = Arc::new(BooleanArray::from(vec![true, false, true, true]));
        let filter = BooleanArray::from(vec![true, true, true, false]);
        let states = groups
            .rows_as_states(&[times, condition], Some(&filter))
            .unwrap();
        let (times, masks) = state_lists(&states, "count").unwrap();
        // row 0 matches; row 1 matches nothing; row 2 has no time; row 3 is filtered out
        assert_eq!(times.value_offsets(), &[0, 1, 1, 1, 1]);
        assert_eq!(times.values().as_primitive::<Int64Type>().values(), &[5]);
        assert_eq!(masks.values().as_primitive::<UInt64Type>().values(), &[1]);
    }
}
