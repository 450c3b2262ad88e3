//! `sequence_next_node(direction, base, timestamp, value, base_cond, event1, ..., eventN)`:
//! the value of the event right after (forward) or before (backward) a chain of events, as
//! ClickHouse's `sequenceNextNode`. Every row with a time and a value is kept (any may be the
//! next node; as in ClickHouse, a row whose value is NULL is not); rows are ordered by (time,
//! value, conditions), so ties never depend on the order rows arrive in.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, StringArray, StringBuilder,
    UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, Expr, GroupsAccumulator, Signature,
    Volatility,
};

use crate::arguments::{check_argument_count, check_string_literal, check_time_argument};
use crate::conditions::{condition_masks, passes};
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::flat_groups::{FlatGroups, GroupsOf, OneGroup};
use crate::literals::literal_argument;
use crate::literals::text_of;
use crate::strings::for_each_str;
use crate::time::time_ticks;

const NAME: &str = "sequence_next_node";
const MAX_EVENTS: usize = 64;
/// The mask bit that records the base condition, above the 64 event conditions.
const BASE_BIT: u128 = 1 << 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Direction {
    Forward,
    Backward,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Base {
    Head,
    Tail,
    FirstMatch,
    LastMatch,
}

fn parse_options(
    direction: Option<&ScalarValue>,
    base: Option<&ScalarValue>,
    events: usize,
) -> Result<(Direction, Base)> {
    let text = |v: Option<&ScalarValue>| text_of(v).map(str::to_ascii_lowercase);
    let direction = match text(direction).as_deref() {
        Some("forward") => Direction::Forward,
        Some("backward") => Direction::Backward,
        _ => return plan_err!("{NAME}: the direction must be the literal 'forward' or 'backward'"),
    };
    let base = match text(base).as_deref() {
        Some("head") => Base::Head,
        Some("tail") => Base::Tail,
        Some("first_match") => Base::FirstMatch,
        Some("last_match") => Base::LastMatch,
        _ => {
            return plan_err!(
                "{NAME}: the base must be the literal 'head', 'tail', 'first_match' or 'last_match'"
            );
        }
    };
    match (direction, base) {
        (Direction::Forward, Base::Tail) => {
            return plan_err!(
                "{NAME}: 'forward' with base 'tail' has no next node; use 'backward'"
            );
        }
        (Direction::Backward, Base::Head) => {
            return plan_err!(
                "{NAME}: 'backward' with base 'head' has no next node; use 'forward'"
            );
        }
        _ => {}
    }
    if matches!(base, Base::FirstMatch | Base::LastMatch) && events == 0 {
        return plan_err!(
            "{NAME}: base '{}' needs at least one event condition",
            if base == Base::FirstMatch {
                "first_match"
            } else {
                "last_match"
            }
        );
    }
    Ok((direction, base))
}

/// One row: its time, its conditions (bit 64: the base condition) and its value.
type Node = (i64, u128, Option<String>);

/// The next node's value for one group, given its rows sorted.
fn next_node(nodes: &[Node], events: usize, direction: Direction, base: Base) -> Option<&str> {
    if nodes.len() <= events {
        return None;
    }
    let is_base = |n: &Node| n.1 & BASE_BIT != 0;
    let base_index = match base {
        Base::Head => is_base(&nodes[0]).then_some(0),
        Base::Tail => is_base(&nodes[nodes.len() - 1]).then_some(nodes.len() - 1),
        Base::FirstMatch => nodes.iter().position(|n| n.1 & 1 == 1 && is_base(n)),
        Base::LastMatch => nodes.iter().rposition(|n| n.1 & 1 == 1 && is_base(n)),
    }?;
    let index = match direction {
        Direction::Forward => {
            let chained =
                (0..events).all(|i| nodes.get(base_index + i).is_some_and(|n| n.1 >> i & 1 == 1));
            chained.then_some(base_index + events)?
        }
        Direction::Backward => {
            let chained =
                (0..events).all(|i| i <= base_index && nodes[base_index - i].1 >> i & 1 == 1);
            if !chained || base_index < events {
                return None;
            }
            base_index - events
        }
    };
    nodes.get(index).and_then(|n| n.2.as_deref())
}

fn sort_nodes(nodes: &mut [Node]) {
    nodes.sort_unstable_by(|a, b| (a.0, &a.2, a.1).cmp(&(b.0, &b.2, b.1)));
}

#[derive(Debug, Clone, Copy)]
struct Options {
    direction: Direction,
    base: Base,
    events: usize,
}

/// The rows of a batch as nodes (`None` for rows whose time or value is NULL: as in
/// ClickHouse, such a row takes no part, neither as a step of the chain nor as the next node).
fn read_nodes(values: &[ArrayRef]) -> Result<Vec<Option<Node>>> {
    let rows = values.first().map_or(0, |a| a.len());
    let times = time_ticks(&values[0], NAME)?;
    let masks = condition_masks(&values[3..], rows, NAME)?;
    let base = condition_masks(&values[2..3], rows, NAME)?;
    let mut texts: Vec<Option<String>> = Vec::with_capacity(rows);
    for_each_str(&values[1], "sequence_next_node's value", |_, v| {
        texts.push(v.map(str::to_string))
    })?;
    Ok(times
        .into_iter()
        .zip(masks.into_iter().zip(base))
        .zip(texts)
        .map(|((time, (mask, base)), text)| {
            let mask = mask as u128 | if base & 1 == 1 { BASE_BIT } else { 0 };
            Some((time?, mask, Some(text?)))
        })
        .collect())
}

fn state_columns(offsets: Vec<usize>, nodes: &[Node]) -> Result<Vec<ArrayRef>> {
    let lengths = OffsetBuffer::from_lengths(offsets.windows(2).map(|w| w[1] - w[0]));
    let list = |data_type: DataType, values: ArrayRef| -> Result<ArrayRef> {
        Ok(Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(data_type, true)),
            lengths.clone(),
            values,
            None,
        )?))
    };
    Ok(vec![
        list(
            DataType::Int64,
            Arc::new(Int64Array::from_iter_values(nodes.iter().map(|n| n.0))),
        )?,
        list(
            DataType::UInt64,
            Arc::new(UInt64Array::from_iter_values(
                nodes.iter().map(|n| n.1 as u64),
            )),
        )?,
        list(
            DataType::Boolean,
            Arc::new(BooleanArray::from_iter(
                nodes.iter().map(|n| Some(n.1 & BASE_BIT != 0)),
            )),
        )?,
        list(
            DataType::Utf8,
            Arc::new(
                nodes
                    .iter()
                    .map(|n| n.2.as_deref())
                    .collect::<StringArray>(),
            ),
        )?,
    ])
}

/// Calls `f(row, node)` for each node of each state row.
fn read_state(values: &[ArrayRef], mut f: impl FnMut(usize, Node)) -> Result<()> {
    let lists: Vec<&ListArray> = values
        .iter()
        .filter_map(|v| v.as_list_opt::<i32>())
        .collect();
    if lists.len() != 4 {
        return exec_err!("{NAME}: unexpected partial state");
    }
    let times = lists[0].values().as_primitive::<Int64Type>();
    let masks = lists[1].values().as_primitive::<UInt64Type>();
    let bases = lists[2].values().as_boolean();
    let texts = lists[3].values().as_string::<i32>();
    let offsets = lists[0].value_offsets();
    for row in 0..lists[0].len() {
        if lists[0].is_null(row) {
            continue;
        }
        for i in offsets[row] as usize..offsets[row + 1] as usize {
            let text = texts.is_valid(i).then(|| texts.value(i).to_string());
            let base = if bases.value(i) { BASE_BIT } else { 0 };
            f(row, (times.value(i), masks.value(i) as u128 | base, text));
        }
    }
    Ok(())
}

fn evaluate_groups(groups: &mut [Vec<Node>], options: Options) -> ArrayRef {
    let mut out = StringBuilder::new();
    for nodes in groups.iter_mut() {
        sort_nodes(nodes);
        out.append_option(next_node(
            nodes,
            options.events,
            options.direction,
            options.base,
        ));
    }
    Arc::new(out.finish())
}

/// Per group, its nodes (the values make rows variable-sized).
#[derive(Debug, Clone)]
struct NextNodeGroups {
    options: Options,
    groups: Vec<Vec<Node>>,
    bytes: usize,
}

/// Bytes one node holds (its string's heap included), for memory accounting.
fn node_bytes(node: &Node) -> usize {
    size_of::<Node>() + node.2.as_ref().map_or(0, String::capacity)
}

/// The arguments after (direction, base), which are literals read at planning.
fn data_arguments(values: &[ArrayRef]) -> &[ArrayRef] {
    &values[2..]
}

impl NextNodeGroups {
    fn new(options: Options) -> Self {
        Self {
            options,
            groups: Vec::new(),
            bytes: 0,
        }
    }

    fn push(&mut self, group: usize, node: Node) {
        self.bytes += node_bytes(&node);
        self.groups[group].push(node);
    }

    /// Removes the groups `emit_to` asks for; only their bytes leave the account.
    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<Node>> {
        let taken = emit_to.take_needed(&mut self.groups);
        let taken_bytes: usize = taken.iter().flatten().map(node_bytes).sum();
        self.bytes = self.bytes.saturating_sub(taken_bytes);
        taken
    }
}

impl FlatGroups for NextNodeGroups {
    fn resize(&mut self, groups: usize) {
        if self.groups.len() < groups {
            self.groups.resize_with(groups, Vec::new);
        }
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        for (row, node) in read_nodes(data_arguments(values))?.into_iter().enumerate() {
            if let Some(node) = node
                && keep(row)
            {
                self.push(group_of(row), node);
            }
        }
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let mut pending = Vec::new();
        read_state(states, |row, node| pending.push((group_of(row), node)))?;
        for (group, node) in pending {
            self.push(group, node);
        }
        Ok(())
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut groups = self.take(emit_to);
        Ok(evaluate_groups(&mut groups, self.options))
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        let mut offsets = vec![0];
        let mut nodes = Vec::new();
        for group in groups {
            nodes.extend(group);
            offsets.push(nodes.len());
        }
        state_columns(offsets, &nodes)
    }

    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut offsets = vec![0];
        let mut nodes = Vec::new();
        for (row, node) in read_nodes(data_arguments(values))?.into_iter().enumerate() {
            if let Some(node) = node
                && passes(opt_filter, row)
            {
                nodes.push(node);
            }
            offsets.push(nodes.len());
        }
        state_columns(offsets, &nodes)
    }

    fn heap_size(&self) -> usize {
        self.bytes + self.groups.capacity() * size_of::<Vec<Node>>()
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SequenceNextNode {
    signature: Signature,
}

impl Default for SequenceNextNode {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl SequenceNextNode {
    fn options(args: &AccumulatorArgs) -> Result<Options> {
        let events = args.exprs.len().saturating_sub(5);
        let (direction, base) = parse_options(
            literal_argument(args, 0).as_ref(),
            literal_argument(args, 1).as_ref(),
            events,
        )?;
        Ok(Options {
            direction,
            base,
            events,
        })
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "The value of the event right after (forward) or right before (backward) a chain of \
         events, as ClickHouse's sequenceNextNode. The base point is the group's first event \
         (head), last event (tail), first event matching event1 (first_match) or last one \
         (last_match), and it must satisfy base_cond. Going forward from the base, consecutive \
         events must match event1, event2, ...; the result is the value of the event after the \
         last of them (backward: the events before the base match event1, event2, ... going \
         back, and the result is the value before them). NULL when there is no such chain or \
         no such event. With no event conditions, the base's own value. Every row with a time \
         and a value takes part (as in ClickHouse, a row whose value is NULL does not); rows \
         are ordered by (time, value, conditions), so ties never depend on row order. \
         'forward' with 'tail' and 'backward' with 'head' are errors.",
        "sequence_next_node(direction, base, timestamp, value, base_cond, event1, ..., eventN)",
    )
    .with_argument("direction", "'forward' or 'backward' (a literal).")
    .with_argument("base", "'head', 'tail', 'first_match' or 'last_match' (a literal).")
    .with_argument("timestamp", "Any timestamp unit, DATE, or an integer.")
    .with_argument("value", "The string column whose value is returned (e.g. the page or event name).")
    .with_argument("base_cond", "A boolean the base point must satisfy.")
    .with_argument("event1, ..., eventN", "Boolean conditions of the chain (0 to 64).")
    .with_sql_example(
        "```sql\n-- what do people do right after adding to cart, then viewing?\nSELECT sequence_next_node('forward', 'first_match', event_time, event_name, true,\n         event_name = 'add_to_cart', event_name = 'view_content') AS next, count(*)\nFROM events GROUP BY user_id;\n```",
    )
    .build()
});

impl AggregateUDFImpl for SequenceNextNode {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(
            NAME,
            "(direction, base, timestamp, value, base_cond, event1, ..., eventN)",
            arg_types.len(),
            5..,
        )?;
        if arg_types.len() - 5 > MAX_EVENTS {
            return plan_err!(
                "{NAME} accepts at most {MAX_EVENTS} event conditions, got {}",
                arg_types.len() - 5
            );
        }
        check_string_literal(NAME, "direction", None, &arg_types[0])?;
        check_string_literal(NAME, "base", None, &arg_types[1])?;
        check_time_argument(NAME, "the timestamp", &arg_types[2])?;
        let value = match &arg_types[3] {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
                arg_types[3].clone()
            }
            other => return plan_err!("{NAME}: the value must be a string, got {other}"),
        };
        let mut coerced = vec![
            arg_types[0].clone(),
            arg_types[1].clone(),
            arg_types[2].clone(),
            value,
        ];
        for (index, data_type) in arg_types[4..].iter().enumerate() {
            match data_type {
                DataType::Boolean | DataType::Null => coerced.push(DataType::Boolean),
                other if index == 0 => {
                    return plan_err!("{NAME}: base_cond must be a boolean, got {other}");
                }
                other => return plan_err!("{NAME}: event {index} must be a boolean, got {other}"),
            }
        }
        Ok(coerced)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: &str, data_type: DataType| {
            Arc::new(Field::new(
                format_state_name(args.name, name),
                DataType::List(Arc::new(Field::new_list_field(data_type, true))),
                true,
            ))
        };
        Ok(vec![
            list("times", DataType::Int64),
            list("masks", DataType::UInt64),
            list("bases", DataType::Boolean),
            list("values", DataType::Utf8),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(NextNodeGroups::new(Self::options(
            &args,
        )?))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsOf(NextNodeGroups::new(Self::options(
            &args,
        )?))))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        Some(Box::new(
            |function: AggregateFunction, _info: &SimplifyContext| {
                let args = &function.params.args;
                let literal = |i: usize| match args.get(i) {
                    Some(Expr::Literal(value, _)) => Some(value.clone()),
                    _ => None,
                };
                parse_options(
                    literal(0).as_ref(),
                    literal(1).as_ref(),
                    args.len().saturating_sub(5),
                )?;
                Ok(Expr::AggregateFunction(function))
            },
        ))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(rows: &[(i64, u128, &str)]) -> Vec<Node> {
        let mut nodes: Vec<Node> = rows
            .iter()
            .map(|&(t, m, v)| (t, m | BASE_BIT, Some(v.to_string())))
            .collect();
        sort_nodes(&mut nodes);
        nodes
    }

    #[test]
    fn forward_and_backward() {
        // Home(1) Gift(2) Exit(0) Home(1) Basket(0)
        let n = nodes(&[
            (1, 1, "Home"),
            (2, 2, "Gift"),
            (3, 0, "Exit"),
            (4, 1, "Home"),
            (5, 0, "Basket"),
        ]);
        assert_eq!(
            next_node(&n, 2, Direction::Forward, Base::Head),
            Some("Exit")
        );
        assert_eq!(
            next_node(&n, 1, Direction::Forward, Base::FirstMatch),
            Some("Gift")
        );
        assert_eq!(
            next_node(&n, 1, Direction::Forward, Base::LastMatch),
            Some("Basket")
        );
        assert_eq!(
            next_node(&n, 1, Direction::Backward, Base::LastMatch),
            Some("Exit")
        );
        assert_eq!(next_node(&n, 2, Direction::Forward, Base::LastMatch), None);
        assert_eq!(
            next_node(&n, 0, Direction::Backward, Base::Tail),
            Some("Basket")
        );
        assert_eq!(
            next_node(&n, 1, Direction::Backward, Base::FirstMatch),
            None
        );
        assert_eq!(
            next_node(&nodes(&[(1, 1, "Home")]), 1, Direction::Forward, Base::Head),
            None
        );
    }

    #[test]
    fn the_base_must_meet_its_condition() {
        let mut n = nodes(&[(1, 1, "Home"), (2, 0, "Exit")]);
        n[0].1 &= !BASE_BIT;
        assert_eq!(next_node(&n, 1, Direction::Forward, Base::Head), None);
    }

    #[test]
    fn options() {
        let s = |v: &str| ScalarValue::Utf8(Some(v.to_string()));
        assert!(
            parse_options(Some(&s("forward")), Some(&s("tail")), 1)
                .unwrap_err()
                .to_string()
                .contains("no next node")
        );
        assert!(parse_options(Some(&s("backward")), Some(&s("head")), 1).is_err());
        assert!(
            parse_options(Some(&s("sideways")), Some(&s("head")), 1)
                .unwrap_err()
                .to_string()
                .contains("direction")
        );
        assert!(
            parse_options(Some(&s("forward")), Some(&s("first_match")), 0)
                .unwrap_err()
                .to_string()
                .contains("at least one event")
        );
        assert_eq!(
            parse_options(Some(&s("Forward")), Some(&s("head")), 0).unwrap(),
            (Direction::Forward, Base::Head)
        );
    }
}
