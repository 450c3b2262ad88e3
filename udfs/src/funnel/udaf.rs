//! The funnel aggregates (`window_funnel`, `window_funnel_detail`, `window_funnel_totals`):
//! their shared arguments, checks and DataFusion aggregate, and `window_funnel`'s level.

use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Expr, GroupsAccumulator, Signature, Volatility,
};

use super::level::{entries_level, ordered_entries};
use super::mode::FunnelMode;
use crate::arguments::{check_argument_count, check_string_literal, check_time_argument};
use crate::conditions::coerce_conditions;
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::event_list::{EventArguments, EventListGroups, EventsEvaluator, event_state_fields};
use crate::flat_groups::{GroupsOf, OneGroup};
use crate::literals::literal_argument;
use crate::literals::text_of;
use crate::time::{is_interval, ticks_per_second, window_ticks};

pub const MAX_CONDITIONS: usize = 64;
const NAME: &str = "window_funnel";
pub(crate) const DETAIL_NAME: &str = "window_funnel_detail";
pub(crate) const TOTALS_NAME: &str = "window_funnel_totals";
pub(crate) const VALUES_NAME: &str = "window_funnel_values";

/// The argument types a funnel accepts: a window, a mode string, a time, and 1..=64 booleans.
pub(crate) fn check_funnel_arguments(name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    check_argument_count(
        name,
        "(window, mode, timestamp, cond1, ..., condN) with at least one condition",
        arg_types.len(),
        4..,
    )?;
    let conditions = arg_types.len() - 3;
    if conditions > MAX_CONDITIONS {
        return plan_err!("{name} accepts at most {MAX_CONDITIONS} conditions, got {conditions}");
    }
    if !(arg_types[0].is_integer() || is_interval(&arg_types[0])) {
        return plan_err!(
            "{name}: the window must be an integer or an INTERVAL, got {}",
            arg_types[0]
        );
    }
    check_string_literal(name, "mode", Some("'' or 'strict_order'"), &arg_types[1])?;
    check_time_argument(name, "the timestamp", &arg_types[2])?;
    let mut coerced = arg_types[..3].to_vec();
    coerced.extend(coerce_conditions(name, &arg_types[3..])?);
    Ok(coerced)
}

/// The literal window and mode, read at planning from logical and at execution from physical
/// arguments, and the number of steps among the `conditions` (the conditions an exclusion
/// names are not steps).
pub(crate) fn funnel_literals(
    name: &str,
    window: Option<&ScalarValue>,
    mode: Option<&ScalarValue>,
    time_type: &DataType,
    conditions: usize,
) -> Result<(i64, FunnelMode, usize)> {
    let Some(window) = window else {
        return plan_err!("{name}: the window must be a literal");
    };
    let window = window_ticks(name, window, time_type)?;
    let mode = match text_of(mode) {
        Some(m) => FunnelMode::parse(name, m)?,
        None => {
            return plan_err!(
                "{name}: the mode must be a string literal such as '' or 'strict_order'"
            );
        }
    };
    if mode.unordered && name == DETAIL_NAME {
        return plan_err!(
            "{name}: unordered steps have no chain to report (steps in any order are counted, \
             not timed); use window_funnel"
        );
    }
    if name == TOTALS_NAME && (mode.strict_order || mode.strict_deduplication || mode.unordered) {
        return plan_err!(
            "{name}: strict_order, strict_deduplication and unordered judge a whole group, not \
             one attempt; use window_funnel"
        );
    }
    if name != VALUES_NAME && !mode.links.is_empty() {
        return plan_err!(
            "{name}: same value compares the rows' values; use window_funnel_values, which \
             takes the value after the timestamp"
        );
    }
    let steps = mode.steps(name, conditions)?;
    Ok((window, mode.in_ticks(ticks_per_second(time_type)), steps))
}

/// What a funnel aggregate needs from its call: the step count, the window in ticks, the
/// mode and the time type. Shared by `window_funnel` and `window_funnel_detail`.
pub struct FunnelParams {
    pub steps: usize,
    pub window: i64,
    pub mode: FunnelMode,
    pub time_type: DataType,
}

impl FunnelParams {
    /// The parameters of a call whose conditions start at argument `first_condition`.
    pub(crate) fn from_args(
        name: &str,
        args: &AccumulatorArgs,
        first_condition: usize,
    ) -> Result<Self> {
        let time_type = args
            .expr_fields
            .get(2)
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
        let (window, mode, steps) = funnel_literals(
            name,
            literal_argument(args, 0).as_ref(),
            literal_argument(args, 1).as_ref(),
            &time_type,
            args.exprs.len().saturating_sub(first_condition),
        )?;
        Ok(Self {
            steps,
            window,
            mode,
            time_type,
        })
    }
}

/// Checks the literal arguments when the query is planned, so that a bad mode or window is
/// an error before anything runs.
pub(crate) fn planning_check(
    name: &'static str,
    first_condition: usize,
) -> AggregateFunctionSimplification {
    Box::new(move |function: AggregateFunction, info: &SimplifyContext| {
        let args = &function.params.args;
        let literal = |i: usize| match args.get(i) {
            Some(Expr::Literal(value, _)) => Some(value.clone()),
            _ => None,
        };
        let time_type = match args.get(2) {
            Some(expr) => info.get_data_type(expr)?,
            None => return plan_err!("{name}: missing arguments"),
        };
        funnel_literals(
            name,
            literal(0).as_ref(),
            literal(1).as_ref(),
            &time_type,
            args.len().saturating_sub(first_condition),
        )?;
        Ok(Expr::AggregateFunction(function))
    })
}

#[derive(Debug)]
pub struct FunnelEvaluator {
    steps: usize,
    window: i64,
    mode: FunnelMode,
}

impl EventsEvaluator for FunnelEvaluator {
    fn name(&self) -> &str {
        NAME
    }

    fn keeps_unmatched_rows(&self) -> bool {
        self.mode.strict_order
    }

    fn stops_at_unmatched_after_first_step(&self) -> bool {
        self.mode.strict_order
    }

    fn evaluate(&self, groups: &mut [&mut [(i64, u64)]]) -> Result<ArrayRef> {
        // One entries buffer for all groups: no allocation per group.
        let mut entries = Vec::new();
        let levels: Int64Array = groups
            .iter_mut()
            .map(|events| {
                ordered_entries(events, self.steps, &mut entries);
                entries_level(&entries, self.steps, self.window, &self.mode).level as i64
            })
            .collect();
        Ok(Arc::new(levels))
    }
}

/// What one funnel aggregate returns from the parsed call: `window_funnel`'s level,
/// `window_funnel_detail`'s chain, `window_funnel_totals`' attempts. The arguments, their
/// checks and the event state are the same for all of them ([`FunnelAggregate`]).
pub trait FunnelResult: Debug + Send + Sync + 'static {
    const NAME: &'static str;
    type Evaluator: EventsEvaluator;
    fn evaluator(params: FunnelParams) -> Self::Evaluator;
    fn return_type(time_type: &DataType) -> DataType;
    /// The result DataFusion uses for a group with no rows.
    fn default_value(data_type: &DataType) -> Result<ScalarValue> {
        ScalarValue::try_from(data_type)
    }
    fn documentation() -> &'static Documentation;
}

/// A funnel aggregate: `window_funnel(window, mode, timestamp, cond1, ..., condN)` and its
/// siblings, one per [`FunnelResult`].
#[derive(Debug)]
pub struct FunnelAggregate<R: FunnelResult> {
    signature: Signature,
    result: PhantomData<R>,
}

impl<R: FunnelResult> Default for FunnelAggregate<R> {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            result: PhantomData,
        }
    }
}

// By hand: derived impls would ask R itself to be comparable.
impl<R: FunnelResult> PartialEq for FunnelAggregate<R> {
    fn eq(&self, other: &Self) -> bool {
        self.signature == other.signature
    }
}

impl<R: FunnelResult> Eq for FunnelAggregate<R> {}

impl<R: FunnelResult> Hash for FunnelAggregate<R> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        R::NAME.hash(state);
        self.signature.hash(state);
    }
}

impl<R: FunnelResult> FunnelAggregate<R> {
    fn evaluator(args: &AccumulatorArgs) -> Result<Arc<R::Evaluator>> {
        Ok(Arc::new(R::evaluator(FunnelParams::from_args(
            R::NAME,
            args,
            ARGUMENTS.first_condition,
        )?)))
    }
}

/// `window_funnel`: the level.
#[derive(Debug)]
pub struct Level;

impl FunnelResult for Level {
    const NAME: &'static str = NAME;
    type Evaluator = FunnelEvaluator;

    fn evaluator(params: FunnelParams) -> FunnelEvaluator {
        FunnelEvaluator {
            steps: params.steps,
            window: params.window,
            mode: params.mode,
        }
    }

    fn return_type(_time_type: &DataType) -> DataType {
        DataType::Int64
    }

    fn default_value(_data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }

    fn documentation() -> &'static Documentation {
        &DOCUMENTATION
    }
}

pub type WindowFunnel = FunnelAggregate<Level>;

/// Where the time and the conditions are among a funnel's arguments.
pub(crate) const ARGUMENTS: EventArguments = EventArguments {
    time: 2,
    first_condition: 3,
};

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "The length of the longest prefix of steps 1..N that the group completes in order, \
         within `window` of its step 1 (inclusive: t <= t1 + window). ClickHouse's windowFunnel \
         semantics, with results that never depend on row order. Events are ordered by \
         (timestamp, condition index); rows matching no condition are ignored; one row may fill \
         several steps; a NULL condition is false; rows with a NULL timestamp are skipped; a \
         later repeat of step 1 starts a new chain without destroying an older chain's \
         progress. Modes (comma-separated): strict_deduplication (a repeat of a step already \
         reached, step 2 or later, stops the search), strict_order (once a chain has started, \
         any other event or a step out of order stops the search), allow_reentry (with \
         strict_order: a step arriving before its predecessor is skipped instead), \
         strict_increase (each step strictly later than the previous; unlike ClickHouse, no \
         valid chain is lost to a same-time step of a later chain), strict_once (each row fills \
         at most one step). Exclusions (PostHog's): `exclude C from I to J` makes condition C \
         an excluded event instead of a step, and drops every chain in which such an event \
         comes after the chain's step I and before its step J, or, for a chain that never \
         reaches J, before its window ends; excluded conditions are the last ones, so steps \
         keep their numbers; an excluded event at the same time as a step counts as before it. \
         Step windows: `step J within S` (at most S seconds, raw units for integer timestamps, \
         after step J - 1) and `step J after S` (at least S), besides the window from step 1. \
         Exclusions and step windows do not combine with strict_order or strict_deduplication. \
         Optional steps (PostHog's): `optional J` lets a chain skip step J; a chain takes steps \
         in order, skipping only optional ones, and each step it takes is checked (order, step \
         window) against the step it took before, which is the last required step when the \
         optional steps between were skipped; the level is the last step of the best chain, \
         so reaching step J + 1 counts step J whether or not it was taken. Step 1 is never \
         optional; optional steps do not combine with strict_order, strict_deduplication, \
         unordered or exclusions. \
         unordered (PostHog's unordered funnel): the level is the most distinct steps with an \
         event in one window, in any order; it combines with no other option, and \
         window_funnel_detail refuses it. Ties are broken by a total order on (timestamp, condition, row \
         content), so results are the same whatever the row order or partitioning. Up to 64 \
         conditions. An empty group gives 0.",
        "window_funnel(window, mode, timestamp, cond1, ..., condN)",
    )
    .with_argument("window", "Integer seconds (raw units for integer timestamps) or an INTERVAL of days/hours/minutes/seconds; a literal.")
    .with_argument("mode", "A string literal: '' or a comma-separated combination of strict_deduplication, strict_order, strict_increase, strict_once, allow_reentry, unordered, exclusions `exclude C from I to J`, step windows `step J within S`, `step J after S` and optional steps `optional J`.")
    .with_argument("timestamp", "Any timestamp unit (with or without time zone), DATE, or an integer.")
    .with_argument("cond1, ..., condN", "Boolean conditions (1 to 64): one per funnel step, then the excluded events the mode names.")
    .with_sql_example(
        "```sql\nSELECT user_id,\n       window_funnel(INTERVAL '7 days', '', event_time,\n                     event_name = 'view', event_name = 'cart', event_name = 'pay') AS level\nFROM events GROUP BY user_id;\n-- the same funnel, dropping chains with a refund between the cart and the payment\nSELECT user_id,\n       window_funnel(INTERVAL '7 days', 'exclude 4 from 2 to 3', event_time,\n                     event_name = 'view', event_name = 'cart', event_name = 'pay',\n                     event_name = 'refund') AS level\nFROM events GROUP BY user_id;\n-- a coupon step that buyers may skip: a view then a payment reaches level 3\nSELECT user_id,\n       window_funnel(INTERVAL '7 days', 'optional 2', event_time,\n                     event_name = 'view', event_name = 'claim_coupon', event_name = 'pay') AS level\nFROM events GROUP BY user_id;\n```",
    )
    .with_related_udf("window_funnel_detail")
    .build()
});

impl<R: FunnelResult> AggregateUDFImpl for FunnelAggregate<R> {
    fn name(&self) -> &str {
        R::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_funnel_arguments(R::NAME, arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let time_type = arg_types.get(2).cloned().unwrap_or(DataType::Null);
        Ok(R::return_type(&time_type))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        R::default_value(data_type)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(event_state_fields(&args))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(EventListGroups::new(
            Self::evaluator(&args)?,
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
            Self::evaluator(&args)?,
            ARGUMENTS,
        ))))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        Some(planning_check(R::NAME, ARGUMENTS.first_condition))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(R::documentation())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, BooleanArray};
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::logical_expr::EmitTo;

    use super::super::level::funnel_level;
    use super::*;

    /// `strict_order` drops events it will never read, in partial and final phases alike:
    /// over random groups split across three partitions, the levels must equal those of all
    /// the events evaluated at once.
    #[test]
    fn strict_order_levels_survive_dropping_unread_events() {
        let mut random = crate::TestRandom::new(0x2545_f491_4f6c_dd1d);
        for mode in [
            "strict_order",
            "strict_order,allow_reentry",
            "strict_order,strict_increase",
        ] {
            let mode = FunnelMode::parse(NAME, mode).unwrap();
            let evaluator = Arc::new(FunnelEvaluator {
                steps: 3,
                window: 20,
                mode: mode.clone(),
            });
            let groups = 60usize;
            // (partition, group, time, mask): few times so that ties are common
            let events: Vec<(u64, usize, i64, u64)> = (0..1500)
                .map(|_| {
                    let mask = [0, 0, 1, 2, 4, 3, 6, 1][random.below(8) as usize];
                    (
                        random.below(3),
                        random.below(groups as u64) as usize,
                        random.below(60) as i64,
                        mask,
                    )
                })
                .collect();
            let mut finals = GroupsOf(EventListGroups::new(Arc::clone(&evaluator), ARGUMENTS));
            for partition in 0..3 {
                let mut partial = GroupsOf(EventListGroups::new(Arc::clone(&evaluator), ARGUMENTS));
                let mine: Vec<_> = events.iter().filter(|e| e.0 == partition).collect();
                for batch in mine.chunks(97) {
                    let times: ArrayRef =
                        Arc::new(Int64Array::from_iter_values(batch.iter().map(|e| e.2)));
                    let condition = |bit: u64| -> ArrayRef {
                        Arc::new(BooleanArray::from_iter(
                            batch.iter().map(|e| Some(e.3 & bit != 0)),
                        ))
                    };
                    let values = vec![
                        Arc::clone(&times),
                        Arc::clone(&times),
                        times,
                        condition(1),
                        condition(2),
                        condition(4),
                    ];
                    let group_indices: Vec<usize> = batch.iter().map(|e| e.1).collect();
                    partial
                        .update_batch(&values, &group_indices, None, groups)
                        .unwrap();
                }
                let states = partial.state(EmitTo::All).unwrap();
                let rows = states[0].len();
                finals
                    .merge_batch(&states, &(0..rows).collect::<Vec<_>>(), groups)
                    .unwrap();
            }
            let first = finals.evaluate(EmitTo::First(7)).unwrap();
            let rest = finals.evaluate(EmitTo::All).unwrap();
            let levels: Vec<i64> = [first, rest]
                .iter()
                .flat_map(|a| a.as_primitive::<Int64Type>().values().to_vec())
                .collect();
            for (group, level) in levels.iter().enumerate() {
                let mut all: Vec<(i64, u64)> = events
                    .iter()
                    .filter(|e| e.1 == group && (e.3 != 0 || mode.strict_order))
                    .map(|e| (e.2, e.3))
                    .collect();
                let expected = funnel_level(&mut all, 3, 20, &mode) as i64;
                assert_eq!(*level, expected, "group {group}, mode {mode:?}");
            }
        }
    }
}
