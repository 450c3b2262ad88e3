//! `path_edges(person, time, event, anchor, direction, steps, gap [, collapse_repeats
//! [, excluded_events]])`: the user flows (Sankey edges) of a group in one aggregate, after
//! PostHog's Paths and Mixpanel's Flows. Each person's events are ordered and cut into
//! sessions by an inactivity gap; in each session the path runs from the first anchor event
//! `steps` steps on ('after') or leads `steps` steps up to it ('before'); the paths' steps are
//! counted as edges `(depth, from, to)` with the people and paths crossing them and the median
//! time the step took.
//!
//! A path needs a person's events in order, so the state keeps every row of the group (its
//! event name as a code into the group's dictionary of names): a partial state is that
//! dictionary and the rows, and the paths are walked once at the end.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Builder, Int32Builder, Int64Array, Int64Builder,
    ListArray, StringBuilder, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type, UInt32Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use hashbrown::HashMap;

use crate::arguments::{
    check_argument_count, check_person_argument, check_string_literal, check_time_argument,
};
use crate::conditions::passes;
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::flat_groups::{
    FlatGroups, GroupsOf, OneGroup, list_array, state_field, struct_list_item, struct_lists,
};
use crate::literals::{literal_argument, literal_text};
use crate::names::Names;
use crate::strings::{StrColumn, is_string_type};
use crate::time::{for_each_tick, is_interval, ticks_to_seconds, window_ticks};

const NAME: &str = "path_edges";
const USAGE: &str = "path_edges(person, time, event, anchor, direction, steps, gap \
                     [, collapse_repeats [, excluded_events]])";
/// The most steps a path may take from (or to) its anchor.
const MAX_STEPS: i64 = 100;
/// The code of the session boundary (`NULL` in the output): the session's end after the
/// anchor, its start before it.
const BOUNDARY: u32 = u32::MAX;

fn edge_fields() -> Fields {
    Fields::from(vec![
        Field::new("depth", DataType::Int32, false),
        Field::new("from", DataType::Utf8, true),
        Field::new("to", DataType::Utf8, true),
        Field::new("people", DataType::Int64, false),
        Field::new("paths", DataType::Int64, false),
        Field::new("median_seconds", DataType::Float64, true),
    ])
}

fn edge_field() -> FieldRef {
    struct_list_item(edge_fields())
}

/// Which way a path runs from its anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// The anchor and the steps after it (depths 1, 2, ...).
    After,
    /// The steps leading to the anchor (depths ..., -2, -1; -1 ends at the anchor).
    Before,
}

/// The literal arguments, read once when the accumulator is made.
#[derive(Debug)]
struct Options {
    direction: Direction,
    steps: usize,
    /// The inactivity (in ticks of the time argument) that starts a new session; `None`: the
    /// person's whole history is one session.
    gap: Option<i64>,
    collapse_repeats: bool,
    excluded: HashSet<String>,
    time_type: DataType,
}

impl Options {
    fn new(args: &AccumulatorArgs) -> Result<Self> {
        let direction = match literal_text(args, 4).as_deref().map(str::trim) {
            Some("after") => Direction::After,
            Some("before") => Direction::Before,
            other => {
                return plan_err!(
                    "{NAME}: the direction must be 'after' or 'before', got {}",
                    other.map_or_else(|| "a non-literal".to_string(), |d| format!("'{d}'"))
                );
            }
        };
        let steps = match literal_argument(args, 5) {
            Some(ScalarValue::Int64(Some(n))) if (1..=MAX_STEPS).contains(&n) => n as usize,
            Some(other) => {
                return plan_err!("{NAME}: steps must be from 1 to {MAX_STEPS}, got {other}");
            }
            None => return plan_err!("{NAME}: steps must be an integer literal"),
        };
        let time_type = args.expr_fields[1].data_type().clone();
        let gap = match literal_argument(args, 6) {
            Some(gap) if gap.is_null() => None,
            Some(gap) => Some(window_ticks(NAME, &gap, &time_type)?),
            None => {
                return plan_err!(
                    "{NAME}: the gap must be a literal: an INTERVAL, integer seconds, or NULL for \
                     no session split"
                );
            }
        };
        let collapse_repeats = match literal_argument(args, 7) {
            None if args.exprs.len() <= 7 => false,
            Some(ScalarValue::Boolean(value)) => value.unwrap_or(false),
            Some(ScalarValue::Null) => false,
            _ => return plan_err!("{NAME}: collapse_repeats must be a boolean literal"),
        };
        let excluded = match literal_argument(args, 8) {
            None if args.exprs.len() <= 8 => HashSet::new(),
            Some(value) => excluded_names(&value)?,
            None => {
                return plan_err!(
                    "{NAME}: excluded_events must be a literal array of event names such as \
                     ['app_open', 'heartbeat']"
                );
            }
        };
        Ok(Self {
            direction,
            steps,
            gap,
            collapse_repeats,
            excluded,
            time_type,
        })
    }
}

/// The names of an `excluded_events` literal: an array of strings, one string, or NULL.
fn excluded_names(value: &ScalarValue) -> Result<HashSet<String>> {
    if value.is_null() {
        return Ok(HashSet::new());
    }
    if let Some(Some(name)) = value.try_as_str() {
        return Ok(HashSet::from([name.to_string()]));
    }
    let items = match value {
        ScalarValue::List(list) => list.value(0),
        ScalarValue::LargeList(list) => list.value(0),
        ScalarValue::FixedSizeList(list) => list.value(0),
        other => {
            return plan_err!(
                "{NAME}: excluded_events must be an array of event names such as \
                 ['app_open', 'heartbeat'], got {other}"
            );
        }
    };
    if items.data_type().is_null() {
        return Ok(HashSet::new());
    }
    let names = StrColumn::new(&items, "excluded_events").or_else(|_| {
        plan_err!(
            "{NAME}: excluded_events must hold strings, got {}",
            items.data_type()
        )
    })?;
    Ok((0..items.len())
        .filter_map(|i| names.get(i).map(str::to_string))
        .collect())
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PathEdges {
    signature: Signature,
}

impl Default for PathEdges {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "User flows (Sankey edges) of a group: a list of edges {depth, from, to, people, \
         paths, median_seconds} (unnest it). Each person's rows are ordered by time (ties by \
         event name, anchors first) and cut into sessions where the time since the previous \
         row is larger than gap (a gap exactly equal stays in the session; NULL: no split). \
         With collapse_repeats, a run of equal consecutive events is one step, at the time of \
         its first row, an anchor if any of its rows is. Events named in excluded_events are \
         dropped before sessions are cut, as if they never happened. A session's path starts \
         at its first step where anchor is true (sessions without one have no path); with \
         anchor true, at the session's first step. 'after': the anchor and up to `steps` \
         steps after it, the edge of depth d going from step d-1 to step d (step 0 is the \
         anchor). 'before': up to `steps` steps leading to the anchor, depth -1 ending at the \
         anchor, -2 before it, and so on. A path that reaches the session's end ('after') or \
         start ('before') in fewer than `steps` steps gets one more edge to (from) NULL: the \
         drop-off, so that the paths of each depth add up to the paths reaching it. people \
         counts the distinct people with a path crossing the edge, paths the sessions; \
         median_seconds is the median time between the edge's two steps (NULL at a \
         boundary). Edges come ordered by depth, then most people first. Rows with a NULL \
         person, time or event are skipped; any number of partitions gives the same edges.",
        USAGE,
    )
    .with_argument("person", "Integer person id (person_id).")
    .with_argument("time", "Any timestamp unit, DATE, or an integer.")
    .with_argument("event", "String: the step's name (an event name, a page, or any label such as event_name || ':' || channel).")
    .with_argument("anchor", "Boolean: the rows a path starts at ('after') or ends at ('before'); true for the session's first step.")
    .with_argument("direction", "String literal: 'after' or 'before'.")
    .with_argument("steps", "Integer literal from 1 to 100: the most steps from (or to) the anchor.")
    .with_argument("gap", "The inactivity that ends a session: an INTERVAL or integer seconds (raw units for integer times), a literal; NULL for none.")
    .with_argument("collapse_repeats", "Optional boolean literal (default false): a run of equal consecutive events is one step.")
    .with_argument("excluded_events", "Optional literal array of event names to drop, such as ['heartbeat'].")
    .with_sql_example(
        "```sql\n-- where do people go after viewing a product, within 30-minute sessions?\n\
         SELECT e['depth'] AS depth, e['from'] AS source, coalesce(e['to'], '(left)') AS target,\n\
         e['people'] AS people, e['median_seconds'] AS median_seconds\n\
         FROM (SELECT unnest(path_edges(person_id, event_time, event_name,\n\
         event_name = 'view_item', 'after', 4, INTERVAL '30 minutes', true)) AS e FROM event_persons)\n\
         ORDER BY depth, people DESC;\n```",
    )
    .with_related_udf("sequence_next_node")
    .with_related_udf("sessionize")
    .build()
});

impl AggregateUDFImpl for PathEdges {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(NAME, &USAGE[NAME.len()..], arg_types.len(), 7..=9)?;
        check_person_argument(NAME, USAGE, &arg_types[0])?;
        check_time_argument(NAME, "time", &arg_types[1])?;
        if !(is_string_type(&arg_types[2]) || arg_types[2].is_null()) {
            return plan_err!(
                "{NAME}: event must be a string (an event name or label), got {}; usage: {USAGE}",
                arg_types[2]
            );
        }
        if !matches!(arg_types[3], DataType::Boolean | DataType::Null) {
            return plan_err!(
                "{NAME}: anchor must be a boolean, got {}; usage: {USAGE}",
                arg_types[3]
            );
        }
        check_string_literal(NAME, "direction", Some("'after'"), &arg_types[4])?;
        if !arg_types[5].is_integer() {
            return plan_err!(
                "{NAME}: steps must be an integer literal, got {}; usage: {USAGE}",
                arg_types[5]
            );
        }
        let gap = &arg_types[6];
        if !(gap.is_integer() || is_interval(gap) || gap.is_null()) {
            return plan_err!(
                "{NAME}: the gap must be an INTERVAL, integer seconds or NULL, got {gap}; \
                 usage: {USAGE}"
            );
        }
        let mut coerced = vec![
            DataType::Int64,
            arg_types[1].clone(),
            if arg_types[2].is_null() {
                DataType::Utf8
            } else {
                arg_types[2].clone()
            },
            DataType::Boolean,
            arg_types[4].clone(),
            DataType::Int64,
            if gap.is_integer() {
                DataType::Int64
            } else {
                gap.clone()
            },
        ];
        if let Some(collapse) = arg_types.get(7) {
            if !matches!(collapse, DataType::Boolean | DataType::Null) {
                return plan_err!(
                    "{NAME}: collapse_repeats must be a boolean literal, got {collapse}; \
                     usage: {USAGE}"
                );
            }
            coerced.push(DataType::Boolean);
        }
        if let Some(excluded) = arg_types.get(8) {
            coerced.push(excluded.clone());
        }
        Ok(coerced)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(edge_field()))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = args.name;
        Ok(vec![
            state_field(name, "names", DataType::Utf8, true),
            state_field(name, "people", DataType::Int64, true),
            state_field(name, "ticks", DataType::Int64, true),
            state_field(name, "events", DataType::UInt32, true),
            state_field(name, "anchors", DataType::Boolean, true),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(PathGroups::new(&args)?)))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsOf(PathGroups::new(&args)?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

/// One row of a group: who, when, which event (a code into the group's names), and whether
/// it is an anchor.
#[derive(Debug, Clone, Copy)]
struct Row {
    person: i64,
    ticks: i64,
    event: u32,
    anchor: bool,
}

/// One group's rows, with the dictionary of their event names.
#[derive(Debug, Clone, Default)]
struct Group {
    names: Names,
    rows: Vec<Row>,
}

impl Group {
    fn heap_size(&self) -> usize {
        self.rows.capacity() * size_of::<Row>() + self.names.heap_size()
    }
}

#[derive(Debug, Clone)]
struct PathGroups {
    options: Arc<Options>,
    groups: Vec<Group>,
    /// Heap bytes of all groups, for the memory estimate.
    bytes: usize,
}

impl PathGroups {
    fn new(args: &AccumulatorArgs) -> Result<Self> {
        Ok(Self {
            options: Arc::new(Options::new(args)?),
            groups: Vec::new(),
            bytes: 0,
        })
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Group> {
        let groups = emit_to.take_needed(&mut self.groups);
        self.bytes -= groups.iter().map(Group::heap_size).sum::<usize>();
        groups
    }
}

impl FlatGroups for PathGroups {
    fn resize(&mut self, groups: usize) {
        if self.groups.len() < groups {
            self.groups.resize_with(groups, Group::default);
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
        let events = StrColumn::new(&values[2], "event")?;
        let Some(anchors) = values[3].as_boolean_opt() else {
            return exec_err!("{NAME}: expected a boolean anchor");
        };
        let excluded = &self.options.excluded;
        let groups = &mut self.groups;
        let mut bytes = 0isize;
        for_each_tick(&values[1], NAME, |row, ticks| {
            let Some(ticks) = ticks else { return };
            let Some(event) = events.get(row) else { return };
            if persons.is_null(row) || !keep(row) || excluded.contains(event) {
                return;
            }
            let group = &mut groups[group_of(row)];
            let before = group.heap_size() as isize;
            let event = group.names.code(event);
            group.rows.push(Row {
                person: persons.value(row),
                ticks,
                event,
                anchor: anchors.is_valid(row) && anchors.value(row),
            });
            bytes += group.heap_size() as isize - before;
        })?;
        self.bytes = (self.bytes as isize + bytes) as usize;
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let lists: Vec<&ListArray> = states
            .iter()
            .map(|s| s.as_list_opt::<i32>())
            .collect::<Option<_>>()
            .filter(|l: &Vec<_>| l.len() == 5)
            .map_or_else(|| exec_err!("{NAME}: unexpected partial state"), Ok)?;
        let (Some(names), Some(people), Some(ticks), Some(events), Some(anchors)) = (
            lists[0].values().as_string_opt::<i32>(),
            lists[1].values().as_primitive_opt::<Int64Type>(),
            lists[2].values().as_primitive_opt::<Int64Type>(),
            lists[3].values().as_primitive_opt::<UInt32Type>(),
            lists[4].values().as_boolean_opt(),
        ) else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        let mut codes = Vec::new();
        for row in 0..lists[0].len() {
            let group = &mut self.groups[group_of(row)];
            let before = group.heap_size();
            let name_range = lists[0].value_offsets();
            codes.clear();
            for i in name_range[row] as usize..name_range[row + 1] as usize {
                codes.push(group.names.code(names.value(i)));
            }
            let range = lists[1].value_offsets();
            for i in range[row] as usize..range[row + 1] as usize {
                let Some(&event) = codes.get(events.value(i) as usize) else {
                    return exec_err!("{NAME}: unexpected partial state");
                };
                group.rows.push(Row {
                    person: people.value(i),
                    ticks: ticks.value(i),
                    event,
                    anchor: anchors.value(i),
                });
            }
            self.bytes += group.heap_size() - before;
        }
        Ok(())
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let options = Arc::clone(&self.options);
        let edges: Vec<Vec<Edge>> = self
            .take(emit_to)
            .into_iter()
            .map(|g| group_edges(g, &options))
            .collect();
        edge_lists(&edges)
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        group_states(&groups)
    }

    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut one = Self {
            options: Arc::clone(&self.options),
            groups: Vec::new(),
            bytes: 0,
        };
        one.resize(values[0].len());
        one.update_rows(values, |row| row, |row| passes(opt_filter, row))?;
        group_states(&one.groups)
    }

    fn heap_size(&self) -> usize {
        self.bytes + self.groups.capacity() * size_of::<Group>()
    }
}

/// The partial states of `groups`, as `state_fields` declares them.
fn group_states(groups: &[Group]) -> Result<Vec<ArrayRef>> {
    let rows: usize = groups.iter().map(|g| g.rows.len()).sum();
    let mut names = StringBuilder::new();
    let mut people = Vec::with_capacity(rows);
    let mut ticks = Vec::with_capacity(rows);
    let mut events = Vec::with_capacity(rows);
    let mut anchors = Vec::with_capacity(rows);
    for group in groups {
        group.names.append_to(&mut names);
        for row in &group.rows {
            people.push(row.person);
            ticks.push(row.ticks);
            events.push(row.event);
            anchors.push(Some(row.anchor));
        }
    }
    let name_offsets = OffsetBuffer::from_lengths(groups.iter().map(|g| g.names.len()));
    let row_offsets = OffsetBuffer::from_lengths(groups.iter().map(|g| g.rows.len()));
    Ok(vec![
        list_array(&name_offsets, Arc::new(names.finish()))?,
        list_array(&row_offsets, Arc::new(Int64Array::from(people)))?,
        list_array(&row_offsets, Arc::new(Int64Array::from(ticks)))?,
        list_array(&row_offsets, Arc::new(UInt32Array::from(events)))?,
        list_array(&row_offsets, Arc::new(BooleanArray::from(anchors)))?,
    ])
}

/// One edge of the output, its names resolved.
struct Edge {
    depth: i32,
    from: Option<Box<str>>,
    to: Option<Box<str>>,
    people: i64,
    paths: i64,
    median_seconds: Option<f64>,
}

/// What has crossed one edge so far.
#[derive(Default)]
struct Crossings {
    people: i64,
    /// The last person counted: rows are walked person by person, so a person is counted once.
    last_person: Option<i64>,
    paths: i64,
    seconds: Vec<f64>,
}

/// A step of a session's path: its event code, time, and whether it is an anchor.
#[derive(Debug, Clone, Copy)]
struct Step {
    event: u32,
    ticks: i64,
    anchor: bool,
}

/// The edges of one group's paths.
fn group_edges(mut group: Group, options: &Options) -> Vec<Edge> {
    // order ties by event name (not by code, which depends on the order rows arrived in)
    let rank = group.names.ranks();
    group
        .rows
        .sort_unstable_by_key(|r| (r.person, r.ticks, rank[r.event as usize], !r.anchor));

    let mut crossings: HashMap<(i32, u32, u32), Crossings> = HashMap::new();
    let mut session: Vec<Step> = Vec::new();
    let rows = &group.rows;
    let mut start = 0;
    while start < rows.len() {
        let person = rows[start].person;
        session.clear();
        let mut previous_ticks = rows[start].ticks;
        let mut end = start;
        while end < rows.len() && rows[end].person == person {
            let row = rows[end];
            if options
                .gap
                .is_some_and(|gap| row.ticks - previous_ticks > gap)
            {
                add_session_paths(&session, person, options, &mut crossings);
                session.clear();
            }
            previous_ticks = row.ticks;
            match session.last_mut() {
                Some(last) if options.collapse_repeats && last.event == row.event => {
                    last.anchor |= row.anchor;
                }
                _ => session.push(Step {
                    event: row.event,
                    ticks: row.ticks,
                    anchor: row.anchor,
                }),
            }
            end += 1;
        }
        add_session_paths(&session, person, options, &mut crossings);
        start = end;
    }

    let name = |code: u32| (code != BOUNDARY).then(|| Box::from(group.names.name(code)));
    let mut edges: Vec<Edge> = crossings
        .into_iter()
        .map(|((depth, from, to), mut c)| Edge {
            depth,
            from: name(from),
            to: name(to),
            people: c.people,
            paths: c.paths,
            median_seconds: median(&mut c.seconds),
        })
        .collect();
    edges.sort_unstable_by(|a, b| {
        (a.depth, -a.people, -a.paths, &a.from, &a.to)
            .cmp(&(b.depth, -b.people, -b.paths, &b.from, &b.to))
    });
    edges
}

/// Adds the path of one session of `person` to the crossings.
fn add_session_paths(
    session: &[Step],
    person: i64,
    options: &Options,
    crossings: &mut HashMap<(i32, u32, u32), Crossings>,
) {
    let Some(anchor) = session.iter().position(|s| s.anchor) else {
        return;
    };
    let mut cross = |depth: i32, from: Option<&Step>, to: Option<&Step>| {
        let code = |s: Option<&Step>| s.map_or(BOUNDARY, |s| s.event);
        let edge = crossings.entry((depth, code(from), code(to))).or_default();
        if edge.last_person != Some(person) {
            edge.last_person = Some(person);
            edge.people += 1;
        }
        edge.paths += 1;
        if let (Some(from), Some(to)) = (from, to) {
            edge.seconds
                .push(ticks_to_seconds(to.ticks - from.ticks, &options.time_type));
        }
    };
    let steps = options.steps;
    match options.direction {
        Direction::After => {
            let path = &session[anchor..session.len().min(anchor + steps + 1)];
            for (d, pair) in path.windows(2).enumerate() {
                cross(d as i32 + 1, Some(&pair[0]), Some(&pair[1]));
            }
            if path.len() <= steps {
                cross(path.len() as i32, path.last(), None);
            }
        }
        Direction::Before => {
            let path = &session[anchor.saturating_sub(steps)..=anchor];
            let edges = path.len() - 1;
            for (i, pair) in path.windows(2).enumerate() {
                cross(-((edges - i) as i32), Some(&pair[0]), Some(&pair[1]));
            }
            if anchor < steps {
                cross(-(edges as i32 + 1), None, path.first());
            }
        }
    }
}

/// The median of `values` (the mean of the two middle ones for an even count), `None` if empty.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let (count, middle) = (values.len(), values.len() / 2);
    let (below, upper, _) = values.select_nth_unstable_by(middle, f64::total_cmp);
    let upper = *upper;
    if count % 2 == 1 {
        return Some(upper);
    }
    let lower = below
        .iter()
        .copied()
        .max_by(f64::total_cmp)
        .unwrap_or(upper);
    Some((lower + upper) / 2.0)
}

/// The list column of each group's edges.
fn edge_lists(groups: &[Vec<Edge>]) -> Result<ArrayRef> {
    let total: usize = groups.iter().map(Vec::len).sum();
    let mut depth = Int32Builder::with_capacity(total);
    let mut from = StringBuilder::new();
    let mut to = StringBuilder::new();
    let mut people = Int64Builder::with_capacity(total);
    let mut paths = Int64Builder::with_capacity(total);
    let mut seconds = Float64Builder::with_capacity(total);
    for edge in groups.iter().flatten() {
        depth.append_value(edge.depth);
        from.append_option(edge.from.as_deref());
        to.append_option(edge.to.as_deref());
        people.append_value(edge.people);
        paths.append_value(edge.paths);
        seconds.append_option(edge.median_seconds);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(depth.finish()),
        Arc::new(from.finish()),
        Arc::new(to.finish()),
        Arc::new(people.finish()),
        Arc::new(paths.finish()),
        Arc::new(seconds.finish()),
    ];
    struct_lists(edge_fields(), columns, groups.iter().map(Vec::len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0]), Some(3.0));
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 10.0]), Some(3.5));
    }
}
