//! `activity_lifecycle(person, time, period [, first_seen [, as_of]])`: each period's active
//! people split into new, returning and resurrecting, and the dormant ones who left, after
//! PostHog's lifecycle.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, BooleanBuilder, Date32Builder, Int64Builder};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::Documentation;

use super::{ActivityGroups, ActivityReport, Arguments, Group};
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::flat_groups::struct_lists;
use crate::time::{MICROS_PER_DAY, Period};

const NAME: &str = "activity_lifecycle";
const USAGE: &str = "activity_lifecycle(person, time, period [, first_seen [, as_of]])";

fn period_fields() -> Fields {
    Fields::from(vec![
        Field::new("period", DataType::Date32, false),
        Field::new("new", DataType::Int64, false),
        Field::new("returning", DataType::Int64, false),
        Field::new("resurrecting", DataType::Int64, false),
        Field::new("dormant", DataType::Int64, false),
        Field::new("active", DataType::Int64, false),
        Field::new("complete", DataType::Boolean, false),
    ])
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "The lifecycle of a group's people per period (PostHog's lifecycle): a list of \
         {period, new, returning, resurrecting, dormant, active, complete}, one per calendar \
         period (day, week from Monday, month) from the group's first active period to the \
         one the data ends in (unnest it). A person is active in a period with at least one \
         row in it. An active person is new in the period they were first seen in (the \
         earlier of first_seen and their first row), returning if also active in the period \
         before, and resurrecting otherwise (seen before, away in the previous period). A \
         person is dormant in the period after one they were active in, when they are not \
         active in it: dormant counts are positive here; charts usually draw them below zero. \
         active = new + returning + resurrecting. With first_seen earlier than a person's \
         first row (a sign-up date, or a first sighting before the rows given), their first \
         active period counts them as resurrecting, as PostHog does. complete says whether \
         the period ended by as_of (the last moment the data covers; a DATE covers its whole \
         day; without it, the group's latest time). Periods are of the time as given: pass \
         local dates for local days. Rows with a NULL person or time are skipped; any number \
         of partitions gives the same table.",
        USAGE,
    )
    .with_argument("person", "Integer person id (person_id).")
    .with_argument("time", "TIMESTAMP or DATE of an activity row (filter the rows that count as activity).")
    .with_argument("period", "String literal: 'day', 'week' or 'month'.")
    .with_argument("first_seen", "Optional TIMESTAMP or DATE: when the person was first seen (the earliest over their rows is used); NULL for their first row.")
    .with_argument("as_of", "Optional TIMESTAMP or DATE: the last moment the data covers.")
    .with_sql_example(
        "```sql\n-- weekly lifecycle of buyers: new, returning, resurrecting and dormant buyers\n\
         SELECT l['period'] AS week, l['new'] AS new, l['returning'] AS returning,\n\
         l['resurrecting'] AS resurrecting, -l['dormant'] AS dormant\n\
         FROM (SELECT unnest(activity_lifecycle(person_id, day, 'week')) AS l\n\
         FROM event_persons WHERE event_name = 'pay_order');\n```",
    )
    .with_related_udf("stickiness")
    .with_related_udf("retention_matrix")
    .build()
});

/// The report of `ActivityLifecycle` (see [`ActivityReport`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Lifecycle;

/// The counts of one period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counts {
    new: i64,
    returning: i64,
    resurrecting: i64,
    dormant: i64,
}

/// Each period's counts from `first` to `last` (indices).
fn lifecycle(group: &Group, period: Period, first: i64, last: i64) -> Vec<Counts> {
    let mut counts = vec![Counts::default(); (last - first + 1) as usize];
    let slot = |index: i64| {
        (first..=last)
            .contains(&index)
            .then(|| (index - first) as usize)
    };
    for (_, person) in group.people.iter() {
        let active = person.active_periods();
        let seen = (person.first_seen != i64::MAX).then(|| period.index(person.first_seen));
        for (j, &index) in active.iter().enumerate() {
            if let Some(s) = slot(index) {
                let c = &mut counts[s];
                if Some(index) == seen {
                    c.new += 1;
                } else if j > 0 && active[j - 1] == index - 1 {
                    c.returning += 1;
                } else {
                    c.resurrecting += 1;
                }
            }
            let next_active = active.get(j + 1) == Some(&(index + 1));
            if !next_active && let Some(s) = slot(index + 1) {
                counts[s].dormant += 1;
            }
        }
    }
    counts
}

impl ActivityReport for Lifecycle {
    const NAME: &'static str = NAME;
    const USAGE: &'static str = USAGE;
    const OPTIONAL_TIMES: &'static [&'static str] = &["first_seen", "as_of"];
    const PERIODS: &'static [Period] = &[Period::Day, Period::Week, Period::Month];
    const ARGUMENTS: Arguments = Arguments {
        first_seen: Some(3),
        as_of: Some(4),
    };

    fn item_fields() -> Fields {
        period_fields()
    }

    fn documentation() -> &'static Documentation {
        &DOCUMENTATION
    }

    fn results(&self, state: &ActivityGroups, groups: &[Group]) -> Result<ArrayRef> {
        let period = state.period;
        let (mut start, mut new, mut returning) = (
            Date32Builder::new(),
            Int64Builder::new(),
            Int64Builder::new(),
        );
        let (mut resurrecting, mut dormant, mut active) = (
            Int64Builder::new(),
            Int64Builder::new(),
            Int64Builder::new(),
        );
        let mut complete = BooleanBuilder::new();
        let mut lengths = Vec::with_capacity(groups.len());
        for group in groups {
            let Some((first, last)) = group.period_span(period) else {
                lengths.push(0);
                continue;
            };
            let end = group.data_end().unwrap_or(i64::MIN);
            let counts = lifecycle(group, period, first, last);
            lengths.push(counts.len());
            for (offset, c) in counts.iter().enumerate() {
                let index = first + offset as i64;
                start.append_value(period.index_start(index).div_euclid(MICROS_PER_DAY) as i32);
                new.append_value(c.new);
                returning.append_value(c.returning);
                resurrecting.append_value(c.resurrecting);
                dormant.append_value(c.dormant);
                active.append_value(c.new + c.returning + c.resurrecting);
                complete.append_value(period.index_start(index + 1) <= end);
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(start.finish()),
            Arc::new(new.finish()),
            Arc::new(returning.finish()),
            Arc::new(resurrecting.finish()),
            Arc::new(dormant.finish()),
            Arc::new(active.finish()),
            Arc::new(complete.finish()),
        ];
        struct_lists(period_fields(), columns, lengths)
    }
}
