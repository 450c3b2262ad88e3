//! `active_people(day, person, window_days)`: for every day of a group, the people active that
//! day and in the `window_days` days ending that day (DAU and MAU, or WAU, in one pass).
//!
//! Each day's people are kept as a compressed bitmap of person numbers (roaring), so the state
//! grows with the people active per day, not with the rows, and partial states merge by OR.
//! The rolling count sweeps the days once, counting for each person the active days inside the
//! window: its cost grows with people x active days, whatever the window.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Date32Array, Int32Builder, Int64Array, ListArray,
    ListBuilder, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, FieldRef, Fields, Int32Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};
use hashbrown::HashMap;
use roaring::RoaringTreemap;

use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::literals::literal_argument;

const NAME: &str = "active_people";
const USAGE: &str = "active_people(day, person, window_days)";
/// The longest window: ten years of days.
const MAX_WINDOW_DAYS: i64 = 3660;

fn entry_fields() -> Fields {
    Fields::from(vec![
        Field::new("day", DataType::Date32, false),
        Field::new("active", DataType::Int64, false),
        Field::new("rolling", DataType::Int64, false),
    ])
}

fn entry_field() -> FieldRef {
    Arc::new(Field::new_list_field(
        DataType::Struct(entry_fields()),
        false,
    ))
}

/// Person numbers are signed; the bitmaps hold unsigned ones. Flipping the sign bit keeps
/// every i64 distinct.
fn bitmap_key(person: i64) -> u64 {
    (person as u64) ^ (1 << 63)
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ActivePeople {
    signature: Signature,
}

impl Default for ActivePeople {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "Daily and rolling active people of a group in one pass: a list with one entry per day \
         from the group's first active day to its last, each a struct {day, active, rolling}: \
         active = the distinct people active that day, rolling = the distinct people active in \
         the window_days days ending that day (the day itself included). With window_days = 30 \
         these are DAU and MAU; their ratio is stickiness. Days inside the range with nobody \
         active have active = 0. Rows whose day or person is NULL are ignored; a group without \
         such rows gives an empty list. The state keeps one compressed bitmap of people per \
         day, so its size grows with people x active days, not with rows, and any number of \
         partitions gives the same answer.",
        USAGE,
    )
    .with_argument("day", "DATE: the day of the activity (to_date(event_time AT TIME ZONE '...') for local days).")
    .with_argument("person", "Integer person number (person_id). Any integer type.")
    .with_argument(
        "window_days",
        "Integer literal from 1 to 3660: the length of the rolling window in days (7 for WAU, 30 for MAU).",
    )
    .with_sql_example(
        "```sql\nSELECT channel, a['day'] AS day, a['active'] AS dau, a['rolling'] AS mau\nFROM (SELECT channel, unnest(active_people(to_date(event_time), person_id, 30)) AS a\n      FROM events GROUP BY channel);\n```",
    )
    .build()
});

impl AggregateUDFImpl for ActivePeople {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [day, person, window] = arg_types else {
            return plan_err!(
                "{NAME} takes 3 arguments, got {}; usage: {USAGE}",
                arg_types.len()
            );
        };
        if !matches!(day, DataType::Date32 | DataType::Null) {
            return plan_err!(
                "{NAME}: day must be a DATE, got {day}; for timestamps pass \
                 to_date(event_time AT TIME ZONE '...'); usage: {USAGE}"
            );
        }
        if !(person.is_integer() || *person == DataType::Null) {
            return plan_err!("{NAME}: person must be an integer, got {person}; usage: {USAGE}");
        }
        if !(window.is_integer() || *window == DataType::Null) {
            return plan_err!(
                "{NAME}: window_days must be an integer literal, got {window}; usage: {USAGE}"
            );
        }
        Ok(vec![DataType::Date32, DataType::Int64, DataType::Int64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(entry_field()))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "days"),
                DataType::List(Arc::new(Field::new_list_field(DataType::Int32, false))),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "people"),
                DataType::List(Arc::new(Field::new_list_field(DataType::Binary, false))),
                true,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let window = match literal_argument(&args, 2) {
            Some(ScalarValue::Int64(Some(days))) if (1..=MAX_WINDOW_DAYS).contains(&days) => days,
            Some(other) => {
                return plan_err!(
                    "{NAME}: window_days must be from 1 to {MAX_WINDOW_DAYS}, got {other}; \
                     usage: {USAGE}"
                );
            }
            None => {
                return plan_err!("{NAME}: window_days must be a literal; usage: {USAGE}");
            }
        };
        Ok(Box::new(ActivePeopleAccumulator::new(window as i32)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

#[derive(Debug)]
struct ActivePeopleAccumulator {
    window: i32,
    /// day (days since the epoch) → the people active that day
    days: BTreeMap<i32, RoaringTreemap>,
    /// People not yet in `days`: inserting sorted runs into a bitmap is several times
    /// cheaper than inserting rows one by one in the order they come.
    pending: PendingPeople,
}

/// The people of the rows read since the last flush, by day. Rows mostly come a day at a
/// time (lakes are partitioned by day), so the current day's people go to one vector without
/// a lookup.
#[derive(Debug, Default)]
struct PendingPeople {
    day: Option<i32>,
    current: Vec<u64>,
    others: HashMap<i32, Vec<u64>>,
    len: usize,
}

/// How many pending people trigger a flush: enough for long sorted runs, small enough to
/// stay in cache.
const FLUSH_AT: usize = 1 << 16;

impl ActivePeopleAccumulator {
    fn new(window: i32) -> Self {
        Self {
            window,
            days: BTreeMap::new(),
            pending: PendingPeople::default(),
        }
    }

    fn add(&mut self, day: i32, person: u64) {
        let pending = &mut self.pending;
        if pending.day != Some(day) {
            if let Some(previous) = pending.day {
                pending
                    .others
                    .entry(previous)
                    .or_default()
                    .append(&mut pending.current);
            }
            pending.current = pending.others.remove(&day).unwrap_or_default();
            pending.day = Some(day);
        }
        pending.current.push(person);
        pending.len += 1;
        if pending.len >= FLUSH_AT {
            self.flush();
        }
    }

    /// Moves the pending people into the days' bitmaps, each day's as one sorted run.
    fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let runs = pending
            .day
            .map(|day| (day, pending.current))
            .into_iter()
            .chain(pending.others);
        for (day, mut people) in runs {
            if people.is_empty() {
                continue;
            }
            people.sort_unstable();
            people.dedup();
            // sorted and deduplicated, so the fast path takes every value; were it ever to
            // refuse them, inserting one by one keeps the count right
            let run = RoaringTreemap::from_sorted_iter(people.iter().copied())
                .unwrap_or_else(|_| people.iter().copied().collect());
            *self.days.entry(day).or_default() |= run;
        }
    }

    /// (day, active, rolling) for every day from the first active day to the last.
    fn counts(&mut self) -> Vec<(i32, i64, i64)> {
        self.flush();
        let (Some((&first, _)), Some((&last, _))) =
            (self.days.first_key_value(), self.days.last_key_value())
        else {
            return Vec::new();
        };
        // for each person, the active days inside the window ending on the current day
        let mut in_window: HashMap<u64, u32> = HashMap::new();
        let mut counts = Vec::with_capacity((last - first + 1) as usize);
        for day in first..=last {
            let today = self.days.get(&day);
            for person in today.into_iter().flatten() {
                *in_window.entry(person).or_insert(0) += 1;
            }
            if let Some(gone) = self.days.get(&(day - self.window)) {
                for person in gone {
                    if let Some(count) = in_window.get_mut(&person) {
                        *count -= 1;
                        if *count == 0 {
                            in_window.remove(&person);
                        }
                    }
                }
            }
            let active = today.map_or(0, |people| people.len() as i64);
            counts.push((day, active, in_window.len() as i64));
        }
        counts
    }
}

impl Accumulator for ActivePeopleAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (Some(days), Some(people)) = (
            values
                .first()
                .and_then(|a| a.as_primitive_opt::<Date32Type>()),
            values
                .get(1)
                .and_then(|a| a.as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()),
        ) else {
            return exec_err!("{NAME}: expected DATE and BIGINT arguments");
        };
        for row in 0..days.len() {
            if days.is_null(row) || people.is_null(row) {
                continue;
            }
            self.add(days.value(row), bitmap_key(people.value(row)));
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let counts = self.counts();
        let days = Date32Array::from_iter_values(counts.iter().map(|c| c.0));
        let active = Int64Array::from_iter_values(counts.iter().map(|c| c.1));
        let rolling = Int64Array::from_iter_values(counts.iter().map(|c| c.2));
        let entries = StructArray::try_new(
            entry_fields(),
            vec![Arc::new(days), Arc::new(active), Arc::new(rolling)],
            None,
        )?;
        let list = ListArray::try_new(
            entry_field(),
            OffsetBuffer::from_lengths([counts.len()]),
            Arc::new(entries),
            None,
        )?;
        Ok(ScalarValue::List(Arc::new(list)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self
                .days
                .values()
                .map(|people| people.serialized_size() + 48)
                .sum::<usize>()
            + self.pending.len * size_of::<u64>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.flush();
        let mut days = ListBuilder::new(Int32Builder::new())
            .with_field(Arc::new(Field::new_list_field(DataType::Int32, false)));
        let mut people = ListBuilder::new(BinaryBuilder::new())
            .with_field(Arc::new(Field::new_list_field(DataType::Binary, false)));
        let mut bytes = Vec::new();
        for (day, bitmap) in &self.days {
            days.values().append_value(*day);
            bytes.clear();
            bitmap
                .serialize_into(&mut bytes)
                .map_err(|e| datafusion::common::DataFusionError::External(Box::new(e)))?;
            people.values().append_value(&bytes);
        }
        days.append(true);
        people.append(true);
        Ok(vec![
            ScalarValue::List(Arc::new(days.finish())),
            ScalarValue::List(Arc::new(people.finish())),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (Some(days), Some(people)) = (
            states.first().and_then(|a| a.as_list_opt::<i32>()),
            states.get(1).and_then(|a| a.as_list_opt::<i32>()),
        ) else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        for row in 0..days.len() {
            if days.is_null(row) || people.is_null(row) {
                continue;
            }
            let day_values = days.value(row);
            let bitmaps = people.value(row);
            let (Some(day_values), Some(bitmaps)) = (
                day_values.as_primitive_opt::<Int32Type>(),
                bitmaps.as_binary_opt::<i32>(),
            ) else {
                return exec_err!("{NAME}: unexpected partial state");
            };
            for (day, bytes) in day_values.values().iter().zip(bitmaps.iter()) {
                let Some(bytes) = bytes else { continue };
                let bitmap = RoaringTreemap::deserialize_from(bytes)
                    .map_err(|e| datafusion::common::DataFusionError::External(Box::new(e)))?;
                *self.days.entry(*day).or_default() |= bitmap;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accumulator(window: i32) -> ActivePeopleAccumulator {
        ActivePeopleAccumulator::new(window)
    }

    fn feed(acc: &mut ActivePeopleAccumulator, rows: &[(Option<i32>, Option<i64>)]) {
        let days: ArrayRef = Arc::new(Date32Array::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        ));
        let people: ArrayRef = Arc::new(Int64Array::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        ));
        acc.update_batch(&[days, people]).unwrap();
    }

    /// The same counts by brute force: distinct people per day and per window.
    fn brute(rows: &[(Option<i32>, Option<i64>)], window: i32) -> Vec<(i32, i64, i64)> {
        let valid: Vec<(i32, i64)> = rows.iter().filter_map(|r| Some((r.0?, r.1?))).collect();
        let Some(first) = valid.iter().map(|r| r.0).min() else {
            return Vec::new();
        };
        let last = valid.iter().map(|r| r.0).max().unwrap();
        (first..=last)
            .map(|day| {
                let active: std::collections::BTreeSet<i64> =
                    valid.iter().filter(|r| r.0 == day).map(|r| r.1).collect();
                let rolling: std::collections::BTreeSet<i64> = valid
                    .iter()
                    .filter(|r| r.0 <= day && r.0 > day - window)
                    .map(|r| r.1)
                    .collect();
                (day, active.len() as i64, rolling.len() as i64)
            })
            .collect()
    }

    #[test]
    fn counts_daily_and_rolling_people() {
        let rows = [
            (Some(10), Some(1)),
            (Some(10), Some(1)),
            (Some(10), Some(-5)),
            (Some(12), Some(1)),
            (Some(13), Some(2)),
            (None, Some(3)),
            (Some(13), None),
            (Some(14), Some(i64::MIN)),
            (Some(14), Some(i64::MAX)),
        ];
        let mut acc = accumulator(3);
        feed(&mut acc, &rows);
        assert_eq!(
            acc.counts(),
            vec![(10, 2, 2), (11, 0, 2), (12, 1, 2), (13, 1, 2), (14, 2, 4)]
        );
        assert_eq!(acc.counts(), brute(&rows, 3));
        assert!(accumulator(30).counts().is_empty());
    }

    /// More rows than one flush holds, with the days interleaved, so runs of one day are
    /// flushed several times and OR-ed into the same bitmap.
    #[test]
    fn flushes_of_interleaved_days_keep_every_person() {
        let rows: Vec<(Option<i32>, Option<i64>)> = (0..3 * FLUSH_AT as i64 + 17)
            .map(|i| {
                (
                    Some((i % 7 + i / 5000 % 3) as i32),
                    Some(i * 7919 % 100_003 - 50_000),
                )
            })
            .collect();
        let mut acc = accumulator(4);
        for chunk in rows.chunks(8192) {
            feed(&mut acc, chunk);
        }
        assert_eq!(acc.counts(), brute(&rows, 4));
    }

    #[test]
    fn agrees_with_brute_force_across_partitions_and_merges() {
        let mut seed = 7u64;
        let mut next = |bound: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % bound
        };
        for case in 0..200 {
            let window = 1 + next(10) as i32;
            let rows: Vec<(Option<i32>, Option<i64>)> = (0..next(80))
                .map(|_| {
                    let day = (next(20) != 0).then(|| next(25) as i32 - 5);
                    let person = (next(20) != 0).then(|| next(12) as i64 - 3);
                    (day, person)
                })
                .collect();
            // split the rows over three partial states and merge them
            let mut merged = accumulator(window);
            for chunk in rows.chunks(rows.len() / 3 + 1) {
                let mut partial = accumulator(window);
                feed(&mut partial, chunk);
                let state: Vec<ArrayRef> = partial
                    .state()
                    .unwrap()
                    .into_iter()
                    .map(|s| s.to_array().unwrap())
                    .collect();
                merged.merge_batch(&state).unwrap();
            }
            assert_eq!(merged.counts(), brute(&rows, window), "case {case}");
        }
    }
}
