//! `stickiness(person, time, period [, as_of])`: how many days of each week or month people
//! come back on: the people active on exactly N days, and on at least N, with their shares of
//! the period's active people (PostHog's stickiness, Mixpanel's frequency).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::Documentation;

use super::{ActivityGroups, ActivityReport, Arguments, Group};
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::flat_groups::struct_lists;
use crate::time::{MICROS_PER_DAY, Period};

const NAME: &str = "stickiness";
const USAGE: &str = "stickiness(person, time, period [, as_of])";

fn cell_fields() -> Fields {
    Fields::from(vec![
        Field::new("period", DataType::Date32, false),
        Field::new("days", DataType::Int32, false),
        Field::new("people", DataType::Int64, false),
        Field::new("people_at_least", DataType::Int64, false),
        Field::new("active_people", DataType::Int64, false),
        Field::new("share", DataType::Float64, true),
        Field::new("share_at_least", DataType::Float64, true),
        Field::new("complete", DataType::Boolean, false),
    ])
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "How sticky a group's people are (PostHog's stickiness, Mixpanel's frequency): a list \
         of {period, days, people, people_at_least, active_people, share, share_at_least, \
         complete}, one per calendar period (week from Monday, or month) from the group's \
         first active period to the one the data ends in, and per N from 1 to the period's \
         length in days (7, or 28 to 31) (unnest it). people counts those active on exactly \
         N days of the period (a day with at least one row), people_at_least on N days or \
         more; active_people those active on at least one day; share and share_at_least are \
         their shares of active_people (NULL when nobody was active). complete says whether \
         the period ended by as_of (the last moment the data covers; a DATE covers its whole \
         day; without it, the group's latest time): an incomplete period has had fewer days \
         to be active on. Days are of the time as given: pass local dates for local days. \
         Rows with a NULL person or time are skipped; any number of partitions gives the \
         same table.",
        USAGE,
    )
    .with_argument("person", "Integer person id (person_id).")
    .with_argument("time", "TIMESTAMP or DATE of an activity row.")
    .with_argument("period", "String literal: 'week' or 'month'.")
    .with_argument(
        "as_of",
        "Optional TIMESTAMP or DATE: the last moment the data covers.",
    )
    .with_sql_example(
        "```sql\n-- share of each week's active people who came on at least 3 days\n\
         SELECT s['period'] AS week, s['share_at_least'] AS three_days_or_more\n\
         FROM (SELECT unnest(stickiness(person_id, day, 'week')) AS s FROM event_persons)\n\
         WHERE s['days'] = 3;\n```",
    )
    .with_related_udf("activity_lifecycle")
    .build()
});

/// The report of `Stickiness` (see [`ActivityReport`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StickinessReport;

/// People per number of active days (index N - 1), per period from `first` to `last`.
fn day_counts(group: &Group, first: i64, last: i64) -> Vec<[i64; 32]> {
    let mut counts = vec![[0i64; 32]; (last - first + 1) as usize];
    for (_, person) in group.people.iter() {
        for &(index, days) in &person.periods {
            if (first..=last).contains(&index) && days != 0 {
                counts[(index - first) as usize][days.count_ones() as usize - 1] += 1;
            }
        }
    }
    counts
}

impl ActivityReport for StickinessReport {
    const NAME: &'static str = NAME;
    const USAGE: &'static str = USAGE;
    const OPTIONAL_TIMES: &'static [&'static str] = &["as_of"];
    const PERIODS: &'static [Period] = &[Period::Week, Period::Month];
    const ARGUMENTS: Arguments = Arguments {
        first_seen: None,
        as_of: Some(3),
    };

    fn item_fields() -> Fields {
        cell_fields()
    }

    fn documentation() -> &'static Documentation {
        &DOCUMENTATION
    }

    fn results(&self, state: &ActivityGroups, groups: &[Group]) -> Result<ArrayRef> {
        let period = state.period;
        let mut start = Date32Builder::new();
        let mut days = Int32Builder::new();
        let (mut people, mut at_least, mut active) = (
            Int64Builder::new(),
            Int64Builder::new(),
            Int64Builder::new(),
        );
        let (mut share, mut share_at_least) = (Float64Builder::new(), Float64Builder::new());
        let mut complete = BooleanBuilder::new();
        let mut lengths = Vec::with_capacity(groups.len());
        for group in groups {
            let Some((first, last)) = group.period_span(period) else {
                lengths.push(0);
                continue;
            };
            let end = group.data_end().unwrap_or(i64::MIN);
            let mut cells = 0;
            for (offset, counts) in day_counts(group, first, last).iter().enumerate() {
                let index = first + offset as i64;
                let (from, to) = (period.index_start(index), period.index_start(index + 1));
                let length = ((to - from) / MICROS_PER_DAY) as usize;
                let total: i64 = counts.iter().sum();
                let mut remaining = total;
                for n in 1..=length {
                    let exactly = counts[n - 1];
                    start.append_value(from.div_euclid(MICROS_PER_DAY) as i32);
                    days.append_value(n as i32);
                    people.append_value(exactly);
                    at_least.append_value(remaining);
                    active.append_value(total);
                    let of_total = |count: i64| (total > 0).then(|| count as f64 / total as f64);
                    share.append_option(of_total(exactly));
                    share_at_least.append_option(of_total(remaining));
                    complete.append_value(to <= end);
                    remaining -= exactly;
                }
                cells += length;
            }
            lengths.push(cells);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(start.finish()),
            Arc::new(days.finish()),
            Arc::new(people.finish()),
            Arc::new(at_least.finish()),
            Arc::new(active.finish()),
            Arc::new(share.finish()),
            Arc::new(share_at_least.finish()),
            Arc::new(complete.finish()),
        ];
        struct_lists(cell_fields(), columns, lengths)
    }
}
