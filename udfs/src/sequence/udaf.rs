//! `sequence_match`, `sequence_count` and `sequence_match_events`: ClickHouse's pattern
//! aggregates, `(pattern, timestamp, cond1, ..., condN)`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Expr, GroupsAccumulator, Signature, Volatility,
};

use super::matcher::{first_match, sequence_count, sequence_match, sort_events};
use super::pattern::Pattern;
use crate::arguments::{check_argument_count, check_string_literal, check_time_argument};
use crate::conditions::coerce_conditions;
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::event_list::{EventArguments, EventListGroups, EventsEvaluator, event_state_fields};
use crate::flat_groups::{GroupsOf, OneGroup};
use crate::literals::literal_argument;
use crate::literals::text_of;
use crate::time::ticks_per_second;

const MAX_CONDITIONS: usize = 64;
const SECONDS_PER_DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SequenceKind {
    Match,
    Count,
    Events,
}

impl SequenceKind {
    fn name(self) -> &'static str {
        match self {
            SequenceKind::Match => "sequence_match",
            SequenceKind::Count => "sequence_count",
            SequenceKind::Events => "sequence_match_events",
        }
    }
}

fn pattern_of(
    name: &str,
    pattern: Option<&ScalarValue>,
    conditions: usize,
    time_type: &DataType,
) -> Result<Pattern> {
    match text_of(pattern) {
        Some(p) => Ok(Pattern::parse(name, p, conditions)?.in_ticks(ticks_per_second(time_type))),
        None => plan_err!("{name}: the pattern must be a string literal such as '(?1).*(?2)'"),
    }
}

#[derive(Debug)]
struct SequenceEvaluator {
    kind: SequenceKind,
    pattern: Pattern,
    time_type: DataType,
}

impl EventsEvaluator for SequenceEvaluator {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn evaluate(&self, groups: &mut [&mut [(i64, u64)]]) -> Result<ArrayRef> {
        if self.pattern.steps.is_empty() {
            return self.evaluate_empty_pattern(groups);
        }
        let used = self.pattern.conditions_used;
        // A group that never met a condition the pattern names cannot match: skip the work.
        let possible =
            |events: &[(i64, u64)]| events.iter().fold(0u64, |seen, e| seen | e.1) & used == used;
        Ok(match self.kind {
            SequenceKind::Match => Arc::new(
                groups
                    .iter_mut()
                    .map(|events| {
                        if !possible(events) {
                            return Some(false);
                        }
                        sort_events(events);
                        Some(sequence_match(&self.pattern, events))
                    })
                    .collect::<BooleanArray>(),
            ),
            SequenceKind::Count => Arc::new(
                groups
                    .iter_mut()
                    .map(|events| {
                        if !possible(events) {
                            return 0;
                        }
                        sort_events(events);
                        sequence_count(&self.pattern, events) as i64
                    })
                    .collect::<Int64Array>(),
            ),
            SequenceKind::Events => {
                let mut values = Vec::new();
                let mut lengths = Vec::with_capacity(groups.len());
                for events in groups.iter_mut() {
                    let chain = if possible(events) {
                        sort_events(events);
                        first_match(&self.pattern, events).unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    // As ClickHouse does, only the events of (?N) steps, not those of '.'.
                    let chain: Vec<usize> = chain
                        .into_iter()
                        .zip(&self.pattern.steps)
                        .filter(|(_, step)| matches!(step.atom, super::pattern::Atom::Condition(_)))
                        .map(|(index, _)| index)
                        .collect();
                    lengths.push(chain.len());
                    values.extend(chain.into_iter().map(|i| match self.time_type {
                        DataType::Date32 => events[i].0 / SECONDS_PER_DAY,
                        _ => events[i].0,
                    }));
                }
                let times = cast(&Int64Array::from(values), &self.time_type)?;
                Arc::new(ListArray::try_new(
                    Arc::new(Field::new_list_field(self.time_type.clone(), false)),
                    OffsetBuffer::from_lengths(lengths),
                    times,
                    None,
                )?)
            }
        })
    }
}

impl SequenceEvaluator {
    /// A pattern of no steps (`''`, `'.*'`) matches at every event taking part (a row meeting
    /// a condition), as in ClickHouse: it matches a group with such an event, counts one
    /// match per event, and has no events to list.
    fn evaluate_empty_pattern(&self, groups: &mut [&mut [(i64, u64)]]) -> Result<ArrayRef> {
        Ok(match self.kind {
            SequenceKind::Match => Arc::new(
                groups
                    .iter()
                    .map(|events| Some(!events.is_empty()))
                    .collect::<BooleanArray>(),
            ),
            SequenceKind::Count => Arc::new(
                groups
                    .iter()
                    .map(|events| events.len() as i64)
                    .collect::<Int64Array>(),
            ),
            SequenceKind::Events => Arc::new(ListArray::try_new(
                Arc::new(Field::new_list_field(self.time_type.clone(), false)),
                OffsetBuffer::from_lengths(groups.iter().map(|_| 0)),
                datafusion::arrow::array::new_empty_array(&self.time_type),
                None,
            )?),
        })
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SequenceFunction {
    kind: SequenceKind,
    signature: Signature,
}

impl SequenceFunction {
    pub fn new(kind: SequenceKind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn evaluator(&self, args: &AccumulatorArgs) -> Result<Arc<SequenceEvaluator>> {
        let time_type = args
            .expr_fields
            .get(1)
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
        let pattern = literal_argument(args, 0);
        Ok(Arc::new(SequenceEvaluator {
            kind: self.kind,
            pattern: pattern_of(
                self.kind.name(),
                pattern.as_ref(),
                args.exprs.len().saturating_sub(2),
                &time_type,
            )?,
            time_type,
        }))
    }
}

const ARGUMENTS: EventArguments = EventArguments {
    time: 1,
    first_condition: 2,
};

const PATTERN_HELP: &str = "The pattern language is ClickHouse's: (?N) an event matching condition N; \
     '.' any one event; '.*' any number of events; (?t op S) with op in <, <=, >, >=, ==, != the \
     time between the events matched just before and just after it (by (?N) or '.'; '.*' between \
     them is transparent), in seconds (raw units for integer timestamps); as in ClickHouse, any \
     number of events may lie between the two events a time constraint relates. Only rows that match at \
     least one condition take part; a match may start at any event. A pattern of no steps ('' or \
     '.*') matches at every such event. Events are ordered by (time, \
     conditions matched), so ties never depend on row order. Matching simulates all partial \
     matches at once: linear in the events for a given pattern, with no backtracking and no \
     iteration limit. Differences from ClickHouse: deterministic ties; (?1).*(?t>0)(?2) matches \
     A@1,B@5 (ClickHouse measures from the wrong event after .* and returns 0).";

static DOCS: LazyLock<[Documentation; 3]> = LazyLock::new(|| {
    let build = |kind: SequenceKind, returns: &str, example: &str| {
        Documentation::builder(
            BEHAVIOUR_SECTION,
            format!("{returns} {PATTERN_HELP}"),
            format!("{}(pattern, timestamp, cond1, ..., condN)", kind.name()),
        )
        .with_argument("pattern", "A string literal in the pattern language below.")
        .with_argument("timestamp", "Any timestamp unit, DATE, or an integer.")
        .with_argument(
            "cond1, ..., condN",
            "Boolean conditions (1 to 64) that the pattern refers to as (?1)..(?N).",
        )
        .with_sql_example(example.to_string())
        .build()
    };
    [
        build(
            SequenceKind::Match,
            "True when the group's events contain the pattern.",
            "```sql\nSELECT user_id, sequence_match('(?1).*(?t<=3600)(?2)', event_time,\n       event_name = 'cart', event_name = 'pay') FROM events GROUP BY user_id;\n```",
        ),
        build(
            SequenceKind::Count,
            "The number of non-overlapping matches, found left to right: each is the earliest-ending match after the previous one's last event.",
            "```sql\nSELECT user_id, sequence_count('(?1).*(?2)', event_time,\n       event_name = 'view', event_name = 'pay') FROM events GROUP BY user_id;\n```",
        ),
        build(
            SequenceKind::Events,
            "The timestamps of the events of the first match to complete, one per (?N) of the pattern (as in ClickHouse, '.' events are not listed), each earlier step at the latest event that still completes the match; an empty list when nothing matches. Unlike ClickHouse's sequenceMatchEvents, which reports the leftmost-starting match with its earliest events and a partial chain when nothing matches, userlake reports the first match to complete, and nothing for no match.",
            "```sql\nSELECT user_id, sequence_match_events('(?1).*(?2).*(?3)', event_time,\n       event_name = 'view', event_name = 'cart', event_name = 'pay') FROM events GROUP BY user_id;\n```",
        ),
    ]
});

impl AggregateUDFImpl for SequenceFunction {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.kind.name();
        check_argument_count(
            name,
            "(pattern, timestamp, cond1, ..., condN) with at least one condition",
            arg_types.len(),
            3..,
        )?;
        if arg_types.len() - 2 > MAX_CONDITIONS {
            return plan_err!(
                "{name} accepts at most {MAX_CONDITIONS} conditions, got {}",
                arg_types.len() - 2
            );
        }
        check_string_literal(name, "pattern", None, &arg_types[0])?;
        check_time_argument(name, "the timestamp", &arg_types[1])?;
        let mut coerced = arg_types[..2].to_vec();
        coerced.extend(coerce_conditions(name, &arg_types[2..])?);
        Ok(coerced)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            SequenceKind::Match => DataType::Boolean,
            SequenceKind::Count => DataType::Int64,
            SequenceKind::Events => {
                let time_type = arg_types.get(1).cloned().unwrap_or(DataType::Null);
                DataType::List(Arc::new(Field::new_list_field(time_type, false)))
            }
        })
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        Ok(match self.kind {
            SequenceKind::Match => ScalarValue::Boolean(Some(false)),
            SequenceKind::Count => ScalarValue::Int64(Some(0)),
            SequenceKind::Events => ScalarValue::try_from(data_type)?,
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(event_state_fields(&args))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(EventListGroups::new(
            self.evaluator(&args)?,
            ARGUMENTS,
        ))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsOf(EventListGroups::new(
            self.evaluator(&args)?,
            ARGUMENTS,
        ))))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        let name = self.kind.name();
        Some(Box::new(
            move |function: AggregateFunction, info: &SimplifyContext| {
                let args = &function.params.args;
                let pattern = match args.first() {
                    Some(Expr::Literal(value, _)) => Some(value.clone()),
                    _ => None,
                };
                let time_type = match args.get(1) {
                    Some(expr) => info.get_data_type(expr)?,
                    None => return plan_err!("{name}: missing arguments"),
                };
                pattern_of(
                    name,
                    pattern.as_ref(),
                    args.len().saturating_sub(2),
                    &time_type,
                )?;
                Ok(Expr::AggregateFunction(function))
            },
        ))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCS[self.kind as usize])
    }
}
