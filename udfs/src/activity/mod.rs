//! The state of the activity aggregates: per person of a group, when they were first seen and
//! on which days of which periods they were active. `activity_lifecycle` reads it as each
//! period's new, returning, resurrecting and dormant people (PostHog's lifecycle);
//! `stickiness` as the people active on exactly (and at least) N days of each week or month.
//!
//! The state grows with people x active periods, not with rows; partial states merge by
//! taking the earlier first sighting and the union of the active days.

pub mod lifecycle;
pub mod stickiness;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt32Array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, FieldRef, Fields, Int64Type, UInt32Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::arguments::{check_argument_count, check_person_argument, check_string_literal};
use crate::conditions::passes;
use crate::flat_groups::{
    FlatGroups, GroupsOf, OneGroup, list_array, state_field, struct_list_item,
};
use crate::literals::literal_text;
use crate::people::{People, PersonEntry};
use crate::time::{Period, end_micros, for_each_tick, to_micros};

/// A person of a group: their first sighting and their active days per period.
#[derive(Debug, Clone)]
pub struct Person {
    /// The earliest of the first_seen argument and their first activity (microseconds),
    /// `i64::MAX` for none yet.
    first_seen: i64,
    /// (period index, bit d set when active on day d of the period), one entry per period.
    periods: Vec<(i64, u32)>,
}

impl PersonEntry for Person {
    const EMPTY: Person = Person {
        first_seen: i64::MAX,
        periods: Vec::new(),
    };

    fn is_empty(&self) -> bool {
        self.first_seen == i64::MAX && self.periods.is_empty()
    }
}

impl Person {
    /// The indices of the periods the person was active in, ascending.
    fn active_periods(&self) -> Vec<i64> {
        let mut periods: Vec<i64> = self.periods.iter().map(|&(p, _)| p).collect();
        periods.sort_unstable();
        periods
    }
}

/// One group's people, and the span its periods cover.
#[derive(Debug, Clone)]
pub struct Group {
    people: People<Person>,
    /// Period entries of all people, for the memory estimate and the state's size.
    period_entries: usize,
    /// The end of the latest time seen (exclusive, microseconds), `i64::MIN` for none.
    latest_end: i64,
    /// The end of the latest as_of seen (exclusive), `i64::MIN` for none.
    as_of_end: i64,
}

impl Group {
    fn empty() -> Self {
        Self {
            people: People::default(),
            period_entries: 0,
            latest_end: i64::MIN,
            as_of_end: i64::MIN,
        }
    }

    fn entries(&self) -> usize {
        self.people.len() + self.period_entries
    }

    /// Records what a row (or a partial entry) says of `person`: seen at `first_seen`
    /// (`i64::MAX` for nothing) and active on the days `days` of period `period`.
    fn add(&mut self, person: i64, first_seen: i64, period: Option<(i64, u32)>) {
        if first_seen == i64::MAX && period.is_none() {
            return;
        }
        let entry = self.people.entry(person);
        entry.first_seen = entry.first_seen.min(first_seen);
        if let Some((period, days)) = period {
            // rows come roughly in time order: the period is usually the last one
            match entry.periods.iter_mut().rev().find(|(p, _)| *p == period) {
                Some((_, mask)) => *mask |= days,
                None => {
                    entry.periods.push((period, days));
                    self.period_entries += 1;
                }
            }
        }
    }

    /// The end of the data (exclusive): as_of if given, else the latest time; `None` when the
    /// group saw no row.
    fn data_end(&self) -> Option<i64> {
        if self.as_of_end != i64::MIN {
            Some(self.as_of_end)
        } else {
            (self.latest_end != i64::MIN).then_some(self.latest_end)
        }
    }

    /// The indices of the periods the output covers: from the earliest active period to the
    /// one the data ends in.
    fn period_span(&self, period: Period) -> Option<(i64, i64)> {
        let end = self.data_end()?;
        let first = self
            .people
            .iter()
            .flat_map(|(_, p)| p.periods.iter().map(|&(index, _)| index))
            .min()?;
        Some((first, period.index(end - 1).max(first)))
    }
}

/// Where the optional arguments of an activity aggregate are.
#[derive(Debug, Clone, Copy)]
pub struct Arguments {
    /// The argument giving a person's first sighting, if the function takes one.
    pub first_seen: Option<usize>,
    pub as_of: Option<usize>,
}

/// The state of all groups of an activity aggregate.
#[derive(Debug, Clone)]
pub struct ActivityGroups {
    pub name: &'static str,
    pub period: Period,
    arguments: Arguments,
    groups: Vec<Group>,
    /// People and period entries of all groups, for the memory estimate.
    entries: usize,
}

impl ActivityGroups {
    /// The state of `name`, its period read from argument 2 (one of `periods`).
    pub fn new(
        name: &'static str,
        args: &AccumulatorArgs,
        periods: &[Period],
        arguments: Arguments,
    ) -> Result<Self> {
        let allowed: Vec<String> = periods
            .iter()
            .map(|p| format!("'{}'", format!("{p:?}").to_lowercase()))
            .collect();
        let text = literal_text(args, 2);
        let period = text.as_deref().and_then(Period::parse);
        let Some(period) = period.filter(|p| periods.contains(p)) else {
            return plan_err!(
                "{name}: the period must be {}, got {}",
                allowed.join(" or "),
                text.map_or_else(|| "a non-literal".to_string(), |p| format!("'{p}'"))
            );
        };
        // an argument given as an untyped NULL is as if absent
        let present = |index: Option<usize>| {
            index.filter(|&i| args.exprs.len() > i && !args.expr_fields[i].data_type().is_null())
        };
        Ok(Self {
            name,
            period,
            arguments: Arguments {
                first_seen: present(arguments.first_seen),
                as_of: present(arguments.as_of),
            },
            groups: Vec::new(),
            entries: 0,
        })
    }

    /// Takes the groups `emit_to` names.
    pub fn take(&mut self, emit_to: EmitTo) -> Vec<Group> {
        let groups = emit_to.take_needed(&mut self.groups);
        self.entries -= groups.iter().map(Group::entries).sum::<usize>();
        groups
    }

    /// Calls `f(row, end)` with the exclusive end (microseconds) of argument `index`'s time.
    fn for_each_end(
        values: &[ArrayRef],
        index: usize,
        name: &str,
        mut f: impl FnMut(usize, i64),
    ) -> Result<()> {
        let column = &values[index];
        let data_type = column.data_type().clone();
        for_each_tick(column, name, |row, ticks| {
            if let Some(ticks) = ticks {
                f(row, end_micros(ticks, &data_type));
            }
        })
    }
}

/// Checks the (person, time, period) arguments every activity aggregate takes, and any
/// optional times after them; returns the coerced types.
fn coerce_activity_arguments(
    name: &str,
    usage: &str,
    arg_types: &[DataType],
    optional_times: &[&str],
) -> Result<Vec<DataType>> {
    check_argument_count(
        name,
        &usage[name.len()..],
        arg_types.len(),
        3..=3 + optional_times.len(),
    )?;
    let is_time = |t: &DataType| {
        matches!(
            t,
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Null
        )
    };
    check_person_argument(name, usage, &arg_types[0])?;
    check_string_literal(name, "period", Some("'week'"), &arg_types[2])?;
    let mut coerced = vec![DataType::Int64, DataType::Null, arg_types[2].clone()];
    for (index, what) in [(1, "time")]
        .into_iter()
        .chain(optional_times.iter().enumerate().map(|(i, w)| (3 + i, *w)))
    {
        let Some(data_type) = arg_types.get(index) else {
            continue;
        };
        if !is_time(data_type) {
            return plan_err!(
                "{name}: {what} must be a TIMESTAMP or a DATE, got {data_type}; usage: {usage}"
            );
        }
        let data_type = if data_type.is_null() {
            DataType::Date32
        } else {
            data_type.clone()
        };
        if index == 1 {
            coerced[1] = data_type;
        } else {
            coerced.push(data_type);
        }
    }
    Ok(coerced)
}

/// The partial state fields of an activity aggregate called `name`.
fn activity_state_fields(args: StateFieldsArgs) -> Vec<FieldRef> {
    let name = args.name;
    vec![
        state_field(name, "people", DataType::Int64, true),
        state_field(name, "first_seen", DataType::Int64, true),
        state_field(name, "period_people", DataType::Int64, true),
        state_field(name, "periods", DataType::Int64, true),
        state_field(name, "days", DataType::UInt32, true),
        state_field(name, "latest_end", DataType::Int64, false),
        state_field(name, "as_of_end", DataType::Int64, false),
    ]
}

/// The partial states of `groups`, as [`activity_state_fields`] declares them.
fn group_states(groups: &[Group]) -> Result<Vec<ArrayRef>> {
    let (mut people, mut first_seen) = (Vec::new(), Vec::new());
    let (mut period_people, mut periods, mut days) = (Vec::new(), Vec::new(), Vec::new());
    for group in groups {
        for (id, person) in group.people.iter() {
            people.push(id);
            first_seen.push(person.first_seen);
            for &(period, mask) in &person.periods {
                period_people.push(id);
                periods.push(period);
                days.push(mask);
            }
        }
    }
    let by_person = OffsetBuffer::from_lengths(groups.iter().map(|g| g.people.len()));
    let by_period = OffsetBuffer::from_lengths(groups.iter().map(|g| g.period_entries));
    Ok(vec![
        list_array(&by_person, Arc::new(Int64Array::from(people)))?,
        list_array(&by_person, Arc::new(Int64Array::from(first_seen)))?,
        list_array(&by_period, Arc::new(Int64Array::from(period_people)))?,
        list_array(&by_period, Arc::new(Int64Array::from(periods)))?,
        list_array(&by_period, Arc::new(UInt32Array::from(days)))?,
        Arc::new(Int64Array::from_iter_values(
            groups.iter().map(|g| g.latest_end),
        )),
        Arc::new(Int64Array::from_iter_values(
            groups.iter().map(|g| g.as_of_end),
        )),
    ])
}

/// What an activity aggregate is: its call, and what it makes of its groups' state (the list
/// column of its results). [`ActivityAggregate`] is the aggregate of each.
pub trait ActivityReport:
    Clone + std::fmt::Debug + Default + PartialEq + Eq + std::hash::Hash + Send + Sync + 'static
{
    const NAME: &'static str;
    const USAGE: &'static str;
    /// The optional time arguments after (person, time, period), by name.
    const OPTIONAL_TIMES: &'static [&'static str];
    /// The periods the function takes.
    const PERIODS: &'static [Period];
    /// Where its optional arguments are.
    const ARGUMENTS: Arguments;
    /// The fields of each item of the result list.
    fn item_fields() -> Fields;
    fn documentation() -> &'static Documentation;
    fn results(&self, state: &ActivityGroups, groups: &[Group]) -> Result<ArrayRef>;
}

/// An activity aggregate function (`activity_lifecycle`, `stickiness`): the same signature,
/// state and accumulators, its report deciding the rest.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ActivityAggregate<R> {
    report: R,
    signature: Signature,
}

impl<R: ActivityReport> Default for ActivityAggregate<R> {
    fn default() -> Self {
        Self {
            report: R::default(),
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl<R: ActivityReport> ActivityAggregate<R> {
    fn groups(&self, args: &AccumulatorArgs) -> Result<Activity<R>> {
        Ok(Activity {
            state: ActivityGroups::new(R::NAME, args, R::PERIODS, R::ARGUMENTS)?,
            report: self.report.clone(),
        })
    }
}

impl<R: ActivityReport> AggregateUDFImpl for ActivityAggregate<R> {
    fn name(&self) -> &str {
        R::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_activity_arguments(R::NAME, R::USAGE, arg_types, R::OPTIONAL_TIMES)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(struct_list_item(R::item_fields())))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(activity_state_fields(args))
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
        Some(R::documentation())
    }
}

/// An activity aggregate: its state and what it reports.
#[derive(Debug, Clone)]
pub(crate) struct Activity<R> {
    pub state: ActivityGroups,
    pub report: R,
}

impl<R: ActivityReport> FlatGroups for Activity<R> {
    fn resize(&mut self, groups: usize) {
        if self.state.groups.len() < groups {
            self.state.groups.resize_with(groups, Group::empty);
        }
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let state = &mut self.state;
        let name = state.name;
        let Some(persons) = values[0].as_primitive_opt::<Int64Type>() else {
            return exec_err!("{name}: expected integer person ids");
        };
        let mut first_seen = vec![i64::MAX; persons.len()];
        if let Some(index) = state.arguments.first_seen {
            let data_type = values[index].data_type().clone();
            for_each_tick(&values[index], name, |row, ticks| {
                if let Some(ticks) = ticks {
                    first_seen[row] = to_micros(ticks, &data_type);
                }
            })?;
        }
        let time_type = values[1].data_type().clone();
        let period = state.period;
        let mut added = 0;
        let mut rows = Vec::with_capacity(persons.len());
        for_each_tick(&values[1], name, |row, ticks| {
            if let Some(ticks) = ticks
                && persons.is_valid(row)
                && keep(row)
            {
                rows.push((row, ticks));
            }
        })?;
        for (row, ticks) in rows {
            let micros = to_micros(ticks, &time_type);
            let (index, day) = period.index_and_day(micros);
            let group = &mut state.groups[group_of(row)];
            group.latest_end = group.latest_end.max(end_micros(ticks, &time_type));
            let before = group.entries();
            group.add(
                persons.value(row),
                first_seen[row].min(micros),
                Some((index, 1u32 << day.min(31))),
            );
            added += group.entries() - before;
        }
        state.entries += added;
        if let Some(index) = state.arguments.as_of {
            let groups = &mut state.groups;
            ActivityGroups::for_each_end(values, index, name, |row, end| {
                if keep(row) {
                    let group = &mut groups[group_of(row)];
                    group.as_of_end = group.as_of_end.max(end);
                }
            })?;
        }
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let name = self.state.name;
        let list = |n: usize| match states.get(n).and_then(|s| s.as_list_opt::<i32>()) {
            Some(list) => Ok(list),
            None => exec_err!("{name}: unexpected partial state"),
        };
        let (people, first_seen) = (list(0)?, list(1)?);
        let (period_people, periods, days) = (list(2)?, list(3)?, list(4)?);
        let int64 = |a: &ArrayRef| a.as_primitive_opt::<Int64Type>().cloned();
        let (Some(pp), Some(fs), Some(qp), Some(qi), Some(qd), Some(latest), Some(as_of)) = (
            int64(people.values()),
            int64(first_seen.values()),
            int64(period_people.values()),
            int64(periods.values()),
            days.values().as_primitive_opt::<UInt32Type>().cloned(),
            states[5].as_primitive_opt::<Int64Type>(),
            states[6].as_primitive_opt::<Int64Type>(),
        ) else {
            return exec_err!("{name}: unexpected partial state");
        };
        for row in 0..latest.len() {
            let group = &mut self.state.groups[group_of(row)];
            let before = group.entries();
            let range = people.value_offsets();
            for i in range[row] as usize..range[row + 1] as usize {
                group.add(pp.value(i), fs.value(i), None);
            }
            let range = period_people.value_offsets();
            for i in range[row] as usize..range[row + 1] as usize {
                group.add(qp.value(i), i64::MAX, Some((qi.value(i), qd.value(i))));
            }
            group.latest_end = group.latest_end.max(latest.value(row));
            group.as_of_end = group.as_of_end.max(as_of.value(row));
            self.state.entries += group.entries() - before;
        }
        Ok(())
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.state.take(emit_to);
        self.report.results(&self.state, &groups)
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        group_states(&self.state.take(emit_to))
    }

    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut one = self.clone();
        one.state.groups = Vec::new();
        one.state.entries = 0;
        one.resize(values[0].len());
        one.update_rows(values, |row| row, |row| passes(opt_filter, row))?;
        group_states(&one.state.groups)
    }

    fn heap_size(&self) -> usize {
        // a person takes a 32-byte slot (and up to 3 empty ones beside it) or a map entry, a
        // period 16 bytes: about 80 bytes an entry on average, as retention_matrix's
        self.state.groups.capacity() * size_of::<Group>() + self.state.entries * 80
    }
}
