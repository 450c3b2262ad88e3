//! `window_funnel_totals(window, mode, timestamp, cond1, ..., condN)`: Mixpanel's Totals
//! counting, every attempt of a group through the funnel rather than its best one.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Int64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Documentation;

use super::level::{Entry, attempt_levels, ordered_entries};
use super::mode::FunnelMode;
use super::udaf::{FunnelAggregate, FunnelParams, FunnelResult, TOTALS_NAME};
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::event_list::EventsEvaluator;

const NAME: &str = TOTALS_NAME;

#[derive(Debug)]
pub struct TotalsEvaluator {
    steps: usize,
    window: i64,
    mode: FunnelMode,
}

fn result_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int64, false)))
}

impl EventsEvaluator for TotalsEvaluator {
    fn name(&self) -> &str {
        NAME
    }

    fn evaluate(&self, groups: &mut [&mut [(i64, u64)]]) -> Result<ArrayRef> {
        let mut counts: Vec<i64> = Vec::with_capacity(groups.len() * self.steps);
        let mut entries: Vec<Entry> = Vec::new();
        for events in groups.iter_mut() {
            ordered_entries(events, self.steps, &mut entries);
            let mut reached = vec![0i64; self.steps];
            for level in attempt_levels(&entries, self.steps, self.window, &self.mode) {
                for count in &mut reached[..level] {
                    *count += 1;
                }
            }
            counts.extend(reached);
        }
        let lengths = std::iter::repeat_n(self.steps, groups.len());
        Ok(Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(DataType::Int64, false)),
            OffsetBuffer::from_lengths(lengths),
            Arc::new(Int64Array::from(counts)),
            None,
        )?))
    }
}

/// `window_funnel_totals`: per step, how many of the group's attempts reached it.
#[derive(Debug)]
pub struct Totals;

impl FunnelResult for Totals {
    const NAME: &'static str = NAME;
    type Evaluator = TotalsEvaluator;

    fn evaluator(params: FunnelParams) -> TotalsEvaluator {
        TotalsEvaluator {
            steps: params.steps,
            window: params.window,
            mode: params.mode,
        }
    }

    fn return_type(_time_type: &DataType) -> DataType {
        result_type()
    }

    fn default_value(_data_type: &DataType) -> Result<ScalarValue> {
        // no rows, no attempts; the step count is not known here, so an empty list
        Ok(ScalarValue::List(ScalarValue::new_list_nullable(
            &[],
            &DataType::Int64,
        )))
    }

    fn documentation() -> &'static Documentation {
        &DOCUMENTATION
    }
}

pub type WindowFunnelTotals = FunnelAggregate<Totals>;

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "Mixpanel's Totals counting: every attempt of the group through the funnel, not only \
         its best chain. A list of N counts: element k is the number of attempts that reached \
         step k (element 1 is the number of attempts). The first attempt starts on the group's \
         earliest step 1 event and reaches the best level of the chains that start on it (as \
         window_funnel would with that start alone). An attempt that completes the funnel ends \
         at its last step (the reported chain's, each step at its earliest); one that does not \
         ends when its window does. The next attempt starts on the first step 1 event strictly \
         after that, so attempts never overlap, a buyer who comes back is counted again, and a \
         step 1 event inside an unfinished attempt's window does not start another. Same \
         arguments and modes as window_funnel, except strict_order, strict_deduplication and \
         unordered, which judge the whole group rather than one attempt. Cost: each attempt is \
         searched as chains are under exclusions (quadratic at worst in an attempt's events). \
         For view@0, cart@1, pay@2, view@5, pay@6 (window 10) the result is [2, 1, 1]; with \
         `optional 2`, [2, 2, 2]. To sum the lists per step over groups: CROSS JOIN \
         unnest(range(1, N + 1)) AS s(k) and sum(t[k]).",
        "window_funnel_totals(window, mode, timestamp, cond1, ..., condN)",
    )
    .with_argument("window", "As for window_funnel.")
    .with_argument("mode", "As for window_funnel, without strict_order, strict_deduplication and unordered.")
    .with_argument("timestamp", "As for window_funnel.")
    .with_argument("cond1, ..., condN", "As for window_funnel.")
    .with_sql_example(
        "```sql\n-- attempts and conversions over all users, per step\nSELECT k, sum(t[k]) AS attempts\nFROM (SELECT window_funnel_totals(INTERVAL '1 day', '', event_time,\n                 event_name = 'view', event_name = 'cart', event_name = 'pay') AS t\n      FROM events GROUP BY user_id)\nCROSS JOIN unnest(range(1, 4)) AS s(k)\nGROUP BY k ORDER BY k;\n```",
    )
    .with_related_udf("window_funnel")
    .build()
});
