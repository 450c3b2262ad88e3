//! `retention_matrix(person, time, start_condition, return_condition, period, periods, mode
//! [, value [, as_of]])`: the cohort retention table of a group in one aggregate, after
//! PostHog's and Amplitude's retention: people join the cohort of the calendar period of their
//! first start event, and each cell counts the cohort's people with a return event in period
//! N after it ("on"), in period N or any later one ("on_or_after"), or in a bracket of periods
//! ("0,1,2-3,4-7"); with a value, each cell also sums the value of those return events (value
//! retention, whose ratio to period 0 is net revenue retention).
//!
//! The state keeps, per group, each person's first start time and the value of their returns
//! per period (so its size grows with people x active periods, not with rows); partial states
//! merge by taking the earlier start and adding the values.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Date32Builder, Float64Array,
    Float64Builder, Int32Builder, Int64Array, Int64Builder, StringBuilder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use hashbrown::HashMap;

use crate::arguments::{check_argument_count, check_person_argument, check_string_literal};
use crate::conditions::passes;
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::flat_groups::{
    FlatGroups, GroupsOf, OneGroup, list_array, state_field, struct_list_item, struct_lists,
};
use crate::literals::{literal_argument, literal_text};
use crate::people::{People, PersonEntry};
use crate::time::{MICROS_PER_DAY, Period, end_micros, for_each_tick, to_micros};

const NAME: &str = "retention_matrix";
const USAGE: &str = "retention_matrix(person, time, start_condition, return_condition, period, \
                     periods, mode [, value [, as_of]])";
/// The most periods a matrix spans (ten years of days).
const MAX_PERIODS: i64 = 3660;

fn cell_fields() -> Fields {
    Fields::from(vec![
        Field::new("cohort", DataType::Date32, false),
        Field::new("cohort_size", DataType::Int64, false),
        Field::new("period", DataType::Int32, false),
        Field::new("period_label", DataType::Utf8, false),
        Field::new("people", DataType::Int64, true),
        Field::new("value", DataType::Float64, true),
        Field::new("complete", DataType::Boolean, false),
    ])
}

fn cell_field() -> FieldRef {
    struct_list_item(cell_fields())
}

/// What a cell counts: returns in one period, in a bracket of periods, or in a period and any
/// later one.
#[derive(Debug, Clone, PartialEq)]
enum Cells {
    /// Brackets `(first, last)` of periods after the cohort's (`on` is one bracket per period).
    Brackets(Vec<(i64, i64)>),
    /// Periods `0..=periods`, each counting returns in it or later.
    OnOrAfter(i64),
}

impl Cells {
    fn parse(mode: &str, periods: i64) -> std::result::Result<Self, String> {
        match mode.trim() {
            "on" => Ok(Self::Brackets((0..=periods).map(|n| (n, n)).collect())),
            "on_or_after" => Ok(Self::OnOrAfter(periods)),
            brackets => {
                let mut parsed = Vec::new();
                for item in brackets.split(',') {
                    let item = item.trim();
                    let bounds = match item.split_once('-') {
                        Some((a, b)) => (a.trim().parse::<i64>(), b.trim().parse::<i64>()),
                        None => (item.parse::<i64>(), item.parse::<i64>()),
                    };
                    let (Ok(first), Ok(last)) = bounds else {
                        return Err(format!(
                            "it is not 'on', 'on_or_after' or brackets of periods such as \
                             '0,1,2-3,4-7': '{item}' is not a period or a range"
                        ));
                    };
                    if first > last {
                        return Err(format!("the bracket '{item}' ends before it starts"));
                    }
                    if let Some(&(_, previous)) = parsed.last()
                        && first <= previous
                    {
                        return Err(format!(
                            "the bracket '{item}' overlaps or comes before the one before it; \
                             brackets go up in order"
                        ));
                    }
                    if first < 0 || last > periods {
                        return Err(format!(
                            "the bracket '{item}' is outside periods 0 to {periods} (the \
                             periods argument)"
                        ));
                    }
                    parsed.push((first, last));
                }
                Ok(Self::Brackets(parsed))
            }
        }
    }

    /// (first period, last period, label) of each cell.
    fn list(&self) -> Vec<(i64, i64, String)> {
        match self {
            Self::Brackets(brackets) => brackets
                .iter()
                .map(|&(a, b)| {
                    let label = if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    };
                    (a, b, label)
                })
                .collect(),
            Self::OnOrAfter(periods) => (0..=*periods)
                .map(|n| (n, i64::MAX, format!("{n}+")))
                .collect(),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RetentionMatrix {
    signature: Signature,
}

impl Default for RetentionMatrix {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "The cohort retention table of a group: a list of cells {cohort, cohort_size, period, \
         period_label, people, value, complete}, one per cohort and period (unnest it). A \
         person joins the cohort of the calendar period (day, week from Monday, month) of \
         their first row where start_condition is true; period N of a cohort is the Nth \
         period after its own. With mode 'on', a cell counts the cohort's people with a row \
         where return_condition is true in period N (N-day retention); with 'on_or_after', \
         in period N or any later one (unbounded retention); with brackets of periods such as \
         '0,1,2-3,4-7', in any period of the bracket. Period 0 is the cohort's own period \
         (its returns before and after the start). Returns before the cohort's period are not \
         counted. value sums the value of the counted return rows (value retention: its ratio \
         to period 0 is net revenue retention; NULL without a value argument). A cell whose \
         first period begins after as_of is not observable: people and value are NULL, never \
         0; complete says whether its last period ended by as_of. as_of is the last moment \
         the data covers (a DATE covers its whole day); without it, the group's latest time. \
         Periods are of the time as given: pass local dates (the job's day column) for local \
         days. Rows with a NULL person or time are skipped; any number of partitions gives the \
         same table.",
        USAGE,
    )
    .with_argument("person", "Integer person id (person_id).")
    .with_argument("time", "TIMESTAMP or DATE of the row.")
    .with_argument("start_condition", "Boolean: the rows that start the person's cohort (true: their first row).")
    .with_argument("return_condition", "Boolean: the rows that count as a return.")
    .with_argument("period", "String literal: 'day', 'week' or 'month'.")
    .with_argument("periods", "Integer literal from 0 to 3660: the last period after the cohort's.")
    .with_argument(
        "mode",
        "String literal: 'on', 'on_or_after', or ascending brackets of periods ('0,1,2-3,4-7').",
    )
    .with_argument("value", "Optional number summed over the counted return rows (GMV, margin); NULL for none.")
    .with_argument("as_of", "Optional TIMESTAMP or DATE: the last moment the data covers (the latest non-NULL value is used).")
    .with_sql_example(
        "```sql\n-- weekly cohorts of first activity, share of each returning to buy in week N,\n\
         -- and the revenue each cohort brings in week N\n\
         SELECT m['cohort'] AS cohort, m['period'] AS week, m['people'] * 1.0 / m['cohort_size'] AS retained,\n\
         m['value'] AS revenue\n\
         FROM (SELECT unnest(retention_matrix(person_id, day, true, event_name = 'pay_order',\n\
         'week', 8, 'on', amount, DATE '2026-03-01')) AS m FROM event_persons);\n```",
    )
    .with_related_udf("retention")
    .build()
});

impl AggregateUDFImpl for RetentionMatrix {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(NAME, &USAGE[NAME.len()..], arg_types.len(), 7..=9)?;
        let is_time = |t: &DataType| {
            matches!(
                t,
                DataType::Timestamp(_, _) | DataType::Date32 | DataType::Null
            )
        };
        check_person_argument(NAME, USAGE, &arg_types[0])?;
        if !is_time(&arg_types[1]) {
            return plan_err!(
                "{NAME}: time must be a TIMESTAMP or a DATE, got {}; usage: {USAGE}",
                arg_types[1]
            );
        }
        for (index, what) in [(2, "start_condition"), (3, "return_condition")] {
            if !matches!(arg_types[index], DataType::Boolean | DataType::Null) {
                return plan_err!(
                    "{NAME}: {what} must be a boolean, got {}; usage: {USAGE}",
                    arg_types[index]
                );
            }
        }
        check_string_literal(NAME, "period", Some("'week'"), &arg_types[4])?;
        if !arg_types[5].is_integer() {
            return plan_err!(
                "{NAME}: periods must be an integer literal, got {}; usage: {USAGE}",
                arg_types[5]
            );
        }
        check_string_literal(NAME, "mode", Some("'on'"), &arg_types[6])?;
        let mut coerced = vec![
            DataType::Int64,
            if arg_types[1].is_null() {
                DataType::Date32
            } else {
                arg_types[1].clone()
            },
            DataType::Boolean,
            DataType::Boolean,
            arg_types[4].clone(),
            DataType::Int64,
            arg_types[6].clone(),
        ];
        if let Some(value) = arg_types.get(7) {
            if !(value.is_numeric() || value.is_null()) {
                return plan_err!("{NAME}: value must be a number, got {value}; usage: {USAGE}");
            }
            coerced.push(DataType::Float64);
        }
        if let Some(as_of) = arg_types.get(8) {
            if !is_time(as_of) {
                return plan_err!(
                    "{NAME}: as_of must be a TIMESTAMP or a DATE, got {as_of}; usage: {USAGE}"
                );
            }
            coerced.push(if as_of.is_null() {
                DataType::Date32
            } else {
                as_of.clone()
            });
        }
        Ok(coerced)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(cell_field()))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = args.name;
        Ok(vec![
            state_field(name, "start_people", DataType::Int64, true),
            state_field(name, "start_micros", DataType::Int64, true),
            state_field(name, "return_people", DataType::Int64, true),
            state_field(name, "return_periods", DataType::Int64, true),
            state_field(name, "return_values", DataType::Float64, true),
            state_field(name, "latest_end", DataType::Int64, false),
            state_field(name, "as_of_end", DataType::Int64, false),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(MatrixGroups::new(&args)?)))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsOf(MatrixGroups::new(&args)?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

/// A person of a group: their first start, and their returns' value per period index.
#[derive(Debug, Clone)]
struct Person {
    /// The first start (microseconds), `i64::MAX` for none yet.
    start: i64,
    /// (period index, value), one entry per period.
    returns: Vec<(i64, f64)>,
}

impl PersonEntry for Person {
    const EMPTY: Person = Person {
        start: i64::MAX,
        returns: Vec::new(),
    };

    fn is_empty(&self) -> bool {
        self.start == i64::MAX && self.returns.is_empty()
    }
}

/// One group's people, looked up once per row.
#[derive(Debug, Clone, Default)]
struct Group {
    people: People<Person>,
    /// Return entries of all people, for the memory estimate and the state's size.
    return_entries: usize,
    /// The end of the latest time seen (exclusive, microseconds), `i64::MIN` for none.
    latest_end: i64,
    /// The end of the latest as_of seen (exclusive), `i64::MIN` for none.
    as_of_end: i64,
}

impl Group {
    fn empty() -> Self {
        Self {
            latest_end: i64::MIN,
            as_of_end: i64::MIN,
            ..Self::default()
        }
    }

    /// Adds what one row (or one partial entry) says of `person`: a start at `start`
    /// (`i64::MAX` for none) and a return of `value` in `period` (`None` for none).
    fn add(&mut self, person: i64, start: i64, period: Option<i64>, value: f64) {
        if start == i64::MAX && period.is_none() {
            return;
        }
        let entry = self.people.entry(person);
        entry.start = entry.start.min(start);
        if let Some(period) = period {
            // rows come roughly in time order: the period is usually the last one
            match entry.returns.iter_mut().rev().find(|(p, _)| *p == period) {
                Some((_, total)) => *total += value,
                None => {
                    entry.returns.push((period, value));
                    self.return_entries += 1;
                }
            }
        }
    }

    fn entries(&self) -> usize {
        self.people.len() + self.return_entries
    }
}

#[derive(Debug, Clone)]
struct MatrixGroups {
    period: Period,
    cells: Cells,
    has_value: bool,
    groups: Vec<Group>,
    /// People and return entries of all groups, for the memory estimate.
    entries: usize,
}

impl MatrixGroups {
    fn new(args: &AccumulatorArgs) -> Result<Self> {
        let period_text = literal_text(args, 4);
        let Some(period) = period_text.as_deref().and_then(Period::parse) else {
            return plan_err!(
                "{NAME}: the period must be 'day', 'week' or 'month', got {}",
                period_text.map_or_else(|| "a non-literal".to_string(), |p| format!("'{p}'"))
            );
        };
        if period == Period::Hour {
            return plan_err!("{NAME}: the period must be 'day', 'week' or 'month', got 'hour'");
        }
        let periods = match literal_argument(args, 5) {
            Some(ScalarValue::Int64(Some(n))) if (0..=MAX_PERIODS).contains(&n) => n,
            Some(other) => {
                return plan_err!("{NAME}: periods must be from 0 to {MAX_PERIODS}, got {other}");
            }
            None => return plan_err!("{NAME}: periods must be an integer literal"),
        };
        let Some(mode) = literal_text(args, 6) else {
            return plan_err!("{NAME}: the mode must be a string literal such as 'on'");
        };
        let cells = Cells::parse(&mode, periods)
            .or_else(|problem| plan_err!("{NAME}: the mode '{mode}' is not valid: {problem}"))?;
        Ok(Self {
            period,
            cells,
            has_value: args.exprs.len() > 7,
            groups: Vec::new(),
            entries: 0,
        })
    }

    /// The cells of one group.
    fn matrix(&self, group: &Group) -> Vec<Cell> {
        let as_of_end = if group.as_of_end != i64::MIN {
            group.as_of_end
        } else {
            group.latest_end
        };
        if as_of_end == i64::MIN {
            return Vec::new();
        }
        // the period the data ends in
        let last_index = self.period.index(as_of_end - 1);
        let cells = self.cells.list();
        let mut sizes: std::collections::BTreeMap<i64, i64> = Default::default();
        // people and value per (cohort, cell)
        let mut people: HashMap<(i64, usize), i64> = HashMap::new();
        let mut values: HashMap<(i64, usize), f64> = HashMap::new();
        let mut counted = vec![false; cells.len()];
        for (_, person) in group.people.iter() {
            if person.start == i64::MAX {
                continue;
            }
            let cohort = self.period.index(person.start);
            *sizes.entry(cohort).or_insert(0) += 1;
            counted.iter_mut().for_each(|c| *c = false);
            for &(period, value) in &person.returns {
                // returns before the cohort's period are not counted
                let offset = period - cohort;
                if offset < 0 {
                    continue;
                }
                for (n, &(first, last, _)) in cells.iter().enumerate() {
                    if offset >= first && offset <= last {
                        counted[n] = true;
                        *values.entry((cohort, n)).or_insert(0.0) += value;
                    }
                }
            }
            for (n, hit) in counted.iter().enumerate() {
                if *hit {
                    *people.entry((cohort, n)).or_insert(0) += 1;
                }
            }
        }
        let mut out = Vec::with_capacity(sizes.len() * cells.len());
        for (&cohort, &size) in &sizes {
            for (n, (first, last, label)) in cells.iter().enumerate() {
                let observable = cohort + first <= last_index;
                let complete =
                    *last != i64::MAX && self.period.index_start(cohort + last + 1) <= as_of_end;
                out.push(Cell {
                    cohort_day: (self.period.index_start(cohort).div_euclid(MICROS_PER_DAY)) as i32,
                    cohort_size: size,
                    period: *first as i32,
                    label: label.clone(),
                    people: observable.then(|| people.get(&(cohort, n)).copied().unwrap_or(0)),
                    value: (observable && self.has_value)
                        .then(|| values.get(&(cohort, n)).copied().unwrap_or(0.0)),
                    complete: observable && complete,
                });
            }
        }
        out
    }
}

struct Cell {
    cohort_day: i32,
    cohort_size: i64,
    period: i32,
    label: String,
    people: Option<i64>,
    value: Option<f64>,
    complete: bool,
}

/// The list column of each group's cells.
fn matrices(groups: &[Vec<Cell>]) -> Result<ArrayRef> {
    let total: usize = groups.iter().map(Vec::len).sum();
    let mut cohort = Date32Builder::with_capacity(total);
    let mut size = Int64Builder::with_capacity(total);
    let mut period = Int32Builder::with_capacity(total);
    let mut label = StringBuilder::new();
    let mut people = Int64Builder::with_capacity(total);
    let mut value = Float64Builder::with_capacity(total);
    let mut complete = BooleanBuilder::with_capacity(total);
    for cell in groups.iter().flatten() {
        cohort.append_value(cell.cohort_day);
        size.append_value(cell.cohort_size);
        period.append_value(cell.period);
        label.append_value(&cell.label);
        people.append_option(cell.people);
        value.append_option(cell.value);
        complete.append_value(cell.complete);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(cohort.finish()),
        Arc::new(size.finish()),
        Arc::new(period.finish()),
        Arc::new(label.finish()),
        Arc::new(people.finish()),
        Arc::new(value.finish()),
        Arc::new(complete.finish()),
    ];
    struct_lists(cell_fields(), columns, groups.iter().map(Vec::len))
}

impl FlatGroups for MatrixGroups {
    fn resize(&mut self, groups: usize) {
        if self.groups.len() < groups {
            self.groups.resize_with(groups, Group::empty);
        }
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let Some(persons) = values[0].as_primitive_opt::<Int64Type>() else {
            return exec_err!("{NAME}: expected integer person ids");
        };
        let (Some(starts), Some(returns)) =
            (values[2].as_boolean_opt(), values[3].as_boolean_opt())
        else {
            return exec_err!("{NAME}: expected boolean conditions");
        };
        let amounts = match values.get(7) {
            Some(v) => match v.as_primitive_opt::<Float64Type>() {
                Some(a) => Some(a),
                None => return exec_err!("{NAME}: expected a numeric value"),
            },
            None => None,
        };
        let time_type = values[1].data_type().clone();
        let period = self.period;
        let groups = &mut self.groups;
        let mut added = 0;
        // one pass over the times, without collecting them
        for_each_tick(&values[1], NAME, |row, ticks| {
            let Some(ticks) = ticks else { return };
            if persons.is_null(row) || !keep(row) {
                return;
            }
            let is_start = starts.is_valid(row) && starts.value(row);
            let is_return = returns.is_valid(row) && returns.value(row);
            let group = &mut groups[group_of(row)];
            group.latest_end = group.latest_end.max(end_micros(ticks, &time_type));
            if !is_start && !is_return {
                return;
            }
            let micros = to_micros(ticks, &time_type);
            let value = amounts
                .filter(|a| a.is_valid(row))
                .map_or(0.0, |a| a.value(row));
            let before = group.entries();
            group.add(
                persons.value(row),
                if is_start { micros } else { i64::MAX },
                is_return.then(|| period.index(micros)),
                value,
            );
            added += group.entries() - before;
        })?;
        self.entries += added;
        if let Some(as_of) = values.get(8) {
            let as_of_type = as_of.data_type().clone();
            let mut ends = vec![None; as_of.len()];
            for_each_tick(as_of, NAME, |row, ticks| {
                ends[row] = ticks.map(|t| end_micros(t, &as_of_type))
            })?;
            for (row, end) in ends.into_iter().enumerate() {
                if let Some(end) = end
                    && keep(row)
                {
                    let group = &mut self.groups[group_of(row)];
                    group.as_of_end = group.as_of_end.max(end);
                }
            }
        }
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let list = |n: usize| match states.get(n).and_then(|s| s.as_list_opt::<i32>()) {
            Some(list) => Ok(list),
            None => exec_err!("{NAME}: unexpected partial state"),
        };
        let (start_people, start_micros) = (list(0)?, list(1)?);
        let (return_people, return_periods, return_values) = (list(2)?, list(3)?, list(4)?);
        let (Some(latest), Some(as_of)) = (
            states[5].as_primitive_opt::<Int64Type>(),
            states[6].as_primitive_opt::<Int64Type>(),
        ) else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        let int64 = |a: &ArrayRef| a.as_primitive_opt::<Int64Type>().cloned();
        let (Some(sp), Some(sm), Some(rp), Some(rq), Some(rv)) = (
            int64(start_people.values()),
            int64(start_micros.values()),
            int64(return_people.values()),
            int64(return_periods.values()),
            return_values
                .values()
                .as_primitive_opt::<Float64Type>()
                .cloned(),
        ) else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        for row in 0..latest.len() {
            let group = &mut self.groups[group_of(row)];
            let before = group.entries();
            let range = start_people.value_offsets();
            for i in range[row] as usize..range[row + 1] as usize {
                group.add(sp.value(i), sm.value(i), None, 0.0);
            }
            let range = return_people.value_offsets();
            for i in range[row] as usize..range[row + 1] as usize {
                group.add(rp.value(i), i64::MAX, Some(rq.value(i)), rv.value(i));
            }
            group.latest_end = group.latest_end.max(latest.value(row));
            group.as_of_end = group.as_of_end.max(as_of.value(row));
            self.entries += group.entries() - before;
        }
        Ok(())
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = emit_to.take_needed(&mut self.groups);
        self.entries -= groups.iter().map(Group::entries).sum::<usize>();
        let cells: Vec<Vec<Cell>> = groups.iter().map(|g| self.matrix(g)).collect();
        matrices(&cells)
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = emit_to.take_needed(&mut self.groups);
        self.entries -= groups.iter().map(Group::entries).sum::<usize>();
        group_states(&groups)
    }

    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values[0].len();
        let mut one = self.clone();
        one.groups = Vec::new();
        one.entries = 0;
        one.resize(rows);
        one.update_rows(values, |row| row, |row| passes(opt_filter, row))?;
        group_states(&one.groups)
    }

    fn heap_size(&self) -> usize {
        // a person takes a 32-byte slot (and up to 3 empty ones beside it) or a map entry, a
        // return period 16 bytes: about 80 bytes an entry on average
        self.groups.capacity() * size_of::<Group>() + self.entries * 80
    }
}

/// The partial states of `groups`, as `state_fields` declares them.
fn group_states(groups: &[Group]) -> Result<Vec<ArrayRef>> {
    let mut start_people = Vec::new();
    let mut start_micros = Vec::new();
    let mut return_people = Vec::new();
    let mut return_periods = Vec::new();
    let mut return_values = Vec::new();
    for group in groups {
        for (id, person) in group.people.iter() {
            // people without a start yet are kept: another partition may have it
            start_people.push(id);
            start_micros.push(person.start);
            for &(period, value) in &person.returns {
                return_people.push(id);
                return_periods.push(period);
                return_values.push(value);
            }
        }
    }
    let starts = OffsetBuffer::from_lengths(groups.iter().map(|g| g.people.len()));
    let returns = OffsetBuffer::from_lengths(groups.iter().map(|g| g.return_entries));
    Ok(vec![
        list_array(&starts, Arc::new(Int64Array::from(start_people)))?,
        list_array(&starts, Arc::new(Int64Array::from(start_micros)))?,
        list_array(&returns, Arc::new(Int64Array::from(return_people)))?,
        list_array(&returns, Arc::new(Int64Array::from(return_periods)))?,
        list_array(&returns, Arc::new(Float64Array::from(return_values)))?,
        Arc::new(Int64Array::from_iter_values(
            groups.iter().map(|g| g.latest_end),
        )),
        Arc::new(Int64Array::from_iter_values(
            groups.iter().map(|g| g.as_of_end),
        )),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_or_say_what_is_wrong() {
        assert_eq!(
            Cells::parse("on", 2).unwrap(),
            Cells::Brackets(vec![(0, 0), (1, 1), (2, 2)])
        );
        assert_eq!(Cells::parse("on_or_after", 3).unwrap(), Cells::OnOrAfter(3));
        assert_eq!(
            Cells::parse("0, 1,2-3,4-7", 7).unwrap(),
            Cells::Brackets(vec![(0, 0), (1, 1), (2, 3), (4, 7)])
        );
        assert!(
            Cells::parse("1,2-3,4-7", 5)
                .unwrap_err()
                .contains("outside periods 0 to 5")
        );
        assert!(Cells::parse("2-3,3-4", 9).unwrap_err().contains("overlaps"));
        assert!(Cells::parse("3-2", 9).unwrap_err().contains("ends before"));
        assert!(
            Cells::parse("weekly", 9)
                .unwrap_err()
                .contains("'weekly' is not a period")
        );
    }
}
