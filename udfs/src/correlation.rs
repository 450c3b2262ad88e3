//! `funnel_correlation(person, converted, item)`: which events or property values are over-
//! or under-represented among a funnel's converters against its drop-offs (PostHog's
//! correlation analysis): per item, the converters and drop-offs who had it, the odds ratio
//! with a 95% confidence interval, and a flag for counts too small to trust.
//!
//! The state keeps each person's outcome and the distinct (person, item) pairs, so a person
//! counts once per item however many rows they have.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Float64Builder, Int64Array,
    Int64Builder, ListArray, StringBuilder, UInt8Array, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Int64Type, UInt8Type, UInt32Type,
};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use hashbrown::{HashMap, HashSet};

use crate::arguments::{check_argument_count, check_person_argument};
use crate::conditions::passes;
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::flat_groups::{
    FlatGroups, GroupsOf, OneGroup, list_array, state_field, struct_list_item, struct_lists,
};
use crate::names::Names;
use crate::strings::{StrColumn, is_string_type};

const NAME: &str = "funnel_correlation";
const USAGE: &str = "funnel_correlation(person, converted, item)";
/// Smoothing added to each cell of the 2x2 table, as PostHog's prior.
const PRIOR: f64 = 1.0;
/// A cell below this many people makes the item's figures unreliable.
const SMALL_COUNT: i64 = 5;
/// The normal quantile of a two-sided 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;
/// Outcome flags of a person.
const CONVERTED: u8 = 1;
const DROPPED: u8 = 2;

fn item_fields() -> Fields {
    Fields::from(vec![
        Field::new("item", DataType::Utf8, false),
        Field::new("success_count", DataType::Int64, false),
        Field::new("failure_count", DataType::Int64, false),
        Field::new("success_total", DataType::Int64, false),
        Field::new("failure_total", DataType::Int64, false),
        Field::new("odds_ratio", DataType::Float64, false),
        Field::new("ci_low", DataType::Float64, false),
        Field::new("ci_high", DataType::Float64, false),
        Field::new("correlation", DataType::Utf8, false),
        Field::new("small_counts", DataType::Boolean, false),
    ])
}

fn item_field() -> FieldRef {
    struct_list_item(item_fields())
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FunnelCorrelation {
    signature: Signature,
}

impl Default for FunnelCorrelation {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "Which items (events, property values) go with converting in a funnel, after \
         PostHog's correlation analysis: a list of {item, success_count, failure_count, \
         success_total, failure_total, odds_ratio, ci_low, ci_high, correlation, \
         small_counts}, one per item (unnest it). Each row says a person's funnel outcome \
         (converted true, or false for a drop-off) and an item they had; a person counts once \
         per item however many rows. success_total and failure_total count the converters and \
         drop-offs (give a row with a NULL item for people without items). odds_ratio = \
         ((s + 1) / (S - s + 1)) / ((f + 1) / (F - f + 1)) with s, f the converters and \
         drop-offs who had the item and S, F the totals: PostHog's estimate, 1 added to each \
         cell so that no cell is 0. ci_low and ci_high are its 95% interval (Woolf's, on the \
         same cells: exp(ln OR +- 1.96 sqrt(sum of 1 / cell))). correlation is 'success' when \
         the odds ratio is above 1, else 'failure'. small_counts is true when a cell of the \
         2x2 table (s, S - s, f, F - f) is under 5 people: treat that item's figures as \
         unreliable. Items come ordered by the strength of the association (|ln odds_ratio|), \
         strongest first, then by name. Rows with a NULL person or outcome are skipped; a \
         person given both outcomes is an error.",
        USAGE,
    )
    .with_argument("person", "Integer person id (person_id).")
    .with_argument("converted", "Boolean: whether the person converted (their funnel outcome, the same on all their rows).")
    .with_argument("item", "String: an event name or property value the person had (NULL: none, the person still counts in the totals).")
    .with_sql_example(
        "```sql\n-- which events before paying set payers apart from those who dropped off\n\
         SELECT c['item'], c['odds_ratio'], c['ci_low'], c['ci_high'], c['small_counts']\n\
         FROM (SELECT unnest(funnel_correlation(f.person_id, f.level = 3, e.event_name)) AS c\n\
         FROM funnel_people f LEFT JOIN event_persons e ON e.person_id = f.person_id);\n```",
    )
    .with_related_udf("window_funnel")
    .build()
});

impl AggregateUDFImpl for FunnelCorrelation {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(NAME, &USAGE[NAME.len()..], arg_types.len(), 3..=3)?;
        check_person_argument(NAME, USAGE, &arg_types[0])?;
        if !matches!(arg_types[1], DataType::Boolean | DataType::Null) {
            return plan_err!(
                "{NAME}: converted must be a boolean, got {}; usage: {USAGE}",
                arg_types[1]
            );
        }
        if !(is_string_type(&arg_types[2]) || arg_types[2].is_null()) {
            return plan_err!(
                "{NAME}: item must be a string (an event name or property value), got {}; \
                 usage: {USAGE}",
                arg_types[2]
            );
        }
        let item = if arg_types[2].is_null() {
            DataType::Utf8
        } else {
            arg_types[2].clone()
        };
        Ok(vec![DataType::Int64, DataType::Boolean, item])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(item_field()))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = args.name;
        Ok(vec![
            state_field(name, "people", DataType::Int64, true),
            state_field(name, "outcomes", DataType::UInt8, true),
            state_field(name, "names", DataType::Utf8, true),
            state_field(name, "item_people", DataType::Int64, true),
            state_field(name, "items", DataType::UInt32, true),
        ])
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(CorrelationGroups::default())))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsOf(CorrelationGroups::default())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

/// One group: each person's outcome flags, and the distinct (person, item) pairs.
#[derive(Debug, Clone, Default)]
struct Group {
    outcomes: HashMap<i64, u8>,
    names: Names,
    pairs: HashSet<(i64, u32)>,
}

impl Group {
    fn heap_size(&self) -> usize {
        self.outcomes.capacity() * 24 + self.pairs.capacity() * 24 + self.names.heap_size()
    }
}

#[derive(Debug, Clone, Default)]
struct CorrelationGroups {
    groups: Vec<Group>,
    bytes: usize,
}

impl CorrelationGroups {
    fn take(&mut self, emit_to: EmitTo) -> Vec<Group> {
        let groups = emit_to.take_needed(&mut self.groups);
        self.bytes -= groups.iter().map(Group::heap_size).sum::<usize>();
        groups
    }
}

impl FlatGroups for CorrelationGroups {
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
        let (Some(people), Some(converted)) = (
            values[0].as_primitive_opt::<Int64Type>(),
            values[1].as_boolean_opt(),
        ) else {
            return exec_err!("{NAME}: expected integer people and a boolean outcome");
        };
        let items = StrColumn::new(&values[2], "item")?;
        for row in 0..people.len() {
            if people.is_null(row) || converted.is_null(row) || !keep(row) {
                continue;
            }
            let group = &mut self.groups[group_of(row)];
            let before = group.heap_size();
            let person = people.value(row);
            let flag = if converted.value(row) {
                CONVERTED
            } else {
                DROPPED
            };
            *group.outcomes.entry(person).or_insert(0) |= flag;
            if let Some(item) = items.get(row) {
                let code = group.names.code(item);
                group.pairs.insert((person, code));
            }
            self.bytes = self.bytes + group.heap_size() - before;
        }
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let lists: Option<Vec<&ListArray>> =
            states.iter().map(|s| s.as_list_opt::<i32>()).collect();
        let Some(lists) = lists.filter(|l| l.len() == 5) else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        let (Some(people), Some(outcomes), Some(names), Some(item_people), Some(items)) = (
            lists[0].values().as_primitive_opt::<Int64Type>(),
            lists[1].values().as_primitive_opt::<UInt8Type>(),
            lists[2].values().as_string_opt::<i32>(),
            lists[3].values().as_primitive_opt::<Int64Type>(),
            lists[4].values().as_primitive_opt::<UInt32Type>(),
        ) else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        let mut codes = Vec::new();
        for row in 0..lists[0].len() {
            let group = &mut self.groups[group_of(row)];
            let before = group.heap_size();
            let range = lists[0].value_offsets();
            for i in range[row] as usize..range[row + 1] as usize {
                *group.outcomes.entry(people.value(i)).or_insert(0) |= outcomes.value(i);
            }
            codes.clear();
            let range = lists[2].value_offsets();
            for i in range[row] as usize..range[row + 1] as usize {
                codes.push(group.names.code(names.value(i)));
            }
            let range = lists[3].value_offsets();
            for i in range[row] as usize..range[row + 1] as usize {
                let Some(&code) = codes.get(items.value(i) as usize) else {
                    return exec_err!("{NAME}: unexpected partial state");
                };
                group.pairs.insert((item_people.value(i), code));
            }
            self.bytes = self.bytes + group.heap_size() - before;
        }
        Ok(())
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        let mut rows = Vec::with_capacity(groups.len());
        for group in &groups {
            rows.push(correlations(group)?);
        }
        item_lists(&rows)
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        group_states(&self.take(emit_to))
    }

    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut one = Self::default();
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
    let (mut people, mut outcomes) = (Vec::new(), Vec::new());
    let mut names = StringBuilder::new();
    let (mut item_people, mut items) = (Vec::new(), Vec::new());
    for group in groups {
        for (&person, &outcome) in &group.outcomes {
            people.push(person);
            outcomes.push(outcome);
        }
        group.names.append_to(&mut names);
        for &(person, item) in &group.pairs {
            item_people.push(person);
            items.push(item);
        }
    }
    let by_person = OffsetBuffer::from_lengths(groups.iter().map(|g| g.outcomes.len()));
    let by_name = OffsetBuffer::from_lengths(groups.iter().map(|g| g.names.len()));
    let by_pair = OffsetBuffer::from_lengths(groups.iter().map(|g| g.pairs.len()));
    Ok(vec![
        list_array(&by_person, Arc::new(Int64Array::from(people)))?,
        list_array(&by_person, Arc::new(UInt8Array::from(outcomes)))?,
        list_array(&by_name, Arc::new(names.finish()))?,
        list_array(&by_pair, Arc::new(Int64Array::from(item_people)))?,
        list_array(&by_pair, Arc::new(UInt32Array::from(items)))?,
    ])
}

/// The figures of one item.
#[derive(Debug, Clone, PartialEq)]
struct Correlation {
    item: Box<str>,
    success_count: i64,
    failure_count: i64,
    success_total: i64,
    failure_total: i64,
    odds_ratio: f64,
    ci_low: f64,
    ci_high: f64,
    small_counts: bool,
}

impl Correlation {
    fn new(item: Box<str>, success: (i64, i64), failure: (i64, i64)) -> Self {
        let (s, s_total) = success;
        let (f, f_total) = failure;
        let cells = [s, s_total - s, f, f_total - f].map(|c| c as f64 + PRIOR);
        let odds_ratio = (cells[0] / cells[1]) / (cells[2] / cells[3]);
        let spread = Z_95 * cells.iter().map(|c| 1.0 / c).sum::<f64>().sqrt();
        Self {
            item,
            success_count: s,
            failure_count: f,
            success_total: s_total,
            failure_total: f_total,
            odds_ratio,
            ci_low: (odds_ratio.ln() - spread).exp(),
            ci_high: (odds_ratio.ln() + spread).exp(),
            small_counts: [s, s_total - s, f, f_total - f]
                .iter()
                .any(|&c| c < SMALL_COUNT),
        }
    }
}

/// Every item's figures in one group, strongest association first.
fn correlations(group: &Group) -> Result<Vec<Correlation>> {
    let (mut success_total, mut failure_total) = (0, 0);
    for (&person, &outcome) in &group.outcomes {
        match outcome {
            CONVERTED => success_total += 1,
            DROPPED => failure_total += 1,
            _ => {
                return exec_err!(
                    "{NAME}: person {person} is given as both converted and not; pass one \
                     outcome per person (their funnel result)"
                );
            }
        }
    }
    let mut counts = vec![(0i64, 0i64); group.names.len()];
    for &(person, item) in &group.pairs {
        match group.outcomes.get(&person) {
            Some(&CONVERTED) => counts[item as usize].0 += 1,
            Some(_) => counts[item as usize].1 += 1,
            None => {}
        }
    }
    let mut items: Vec<Correlation> = group
        .names
        .iter()
        .zip(counts)
        .map(|(name, (s, f))| Correlation::new(name.into(), (s, success_total), (f, failure_total)))
        .collect();
    items.sort_by(|a, b| {
        b.odds_ratio
            .ln()
            .abs()
            .total_cmp(&a.odds_ratio.ln().abs())
            .then_with(|| a.item.cmp(&b.item))
    });
    Ok(items)
}

/// The list column of each group's items.
fn item_lists(groups: &[Vec<Correlation>]) -> Result<ArrayRef> {
    let mut item = StringBuilder::new();
    let (mut s, mut f, mut s_total, mut f_total) = (
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
    );
    let (mut odds, mut low, mut high) = (
        Float64Builder::new(),
        Float64Builder::new(),
        Float64Builder::new(),
    );
    let mut correlation = StringBuilder::new();
    let mut small = BooleanBuilder::new();
    for c in groups.iter().flatten() {
        item.append_value(&c.item);
        s.append_value(c.success_count);
        f.append_value(c.failure_count);
        s_total.append_value(c.success_total);
        f_total.append_value(c.failure_total);
        odds.append_value(c.odds_ratio);
        low.append_value(c.ci_low);
        high.append_value(c.ci_high);
        correlation.append_value(if c.odds_ratio > 1.0 {
            "success"
        } else {
            "failure"
        });
        small.append_value(c.small_counts);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(item.finish()),
        Arc::new(s.finish()),
        Arc::new(f.finish()),
        Arc::new(s_total.finish()),
        Arc::new(f_total.finish()),
        Arc::new(odds.finish()),
        Arc::new(low.finish()),
        Arc::new(high.finish()),
        Arc::new(correlation.finish()),
        Arc::new(small.finish()),
    ];
    struct_lists(item_fields(), columns, groups.iter().map(Vec::len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odds_ratio_and_interval_by_hand() {
        // 30 of 40 converters and 10 of 60 drop-offs had the item: cells 31, 11, 11, 51
        let c = Correlation::new("x".into(), (30, 40), (10, 60));
        let odds = (31.0 / 11.0) / (11.0 / 51.0);
        assert!((c.odds_ratio - odds).abs() < 1e-12);
        let spread =
            1.959_963_984_540_054 * (1.0 / 31.0 + 1.0 / 11.0 + 1.0 / 11.0 + 1.0 / 51.0_f64).sqrt();
        assert!((c.ci_low - (odds.ln() - spread).exp()).abs() < 1e-12);
        assert!((c.ci_high - (odds.ln() + spread).exp()).abs() < 1e-12);
        assert!(!c.small_counts);
        assert!(Correlation::new("y".into(), (4, 40), (10, 60)).small_counts);
    }
}
