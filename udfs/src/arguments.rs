//! The checks a function makes of its call at planning: how many arguments, and those that
//! must be a literal string or a time. Their messages name the function and the argument.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};

use crate::strings::is_string_type;
use crate::time::is_time_type;

/// Checks at planning that `function` was called with a number of arguments in `expected`;
/// `syntax` is what it takes, as the message shows it (`(timestamp, gap)`).
pub fn check_argument_count(
    function: &str,
    syntax: &str,
    count: usize,
    expected: impl std::ops::RangeBounds<usize>,
) -> Result<()> {
    if expected.contains(&count) {
        return Ok(());
    }
    plan_err!("{function} takes {syntax}, got {count} arguments")
}

/// Checks at planning that argument `what` of `function` is a string (it must be a literal,
/// read when the plan is made); `example` shows a valid one in the message.
pub fn check_string_literal(
    function: &str,
    what: &str,
    example: Option<&str>,
    data_type: &DataType,
) -> Result<()> {
    if is_string_type(data_type) {
        return Ok(());
    }
    let example = example.map(|e| format!(" such as {e}")).unwrap_or_default();
    plan_err!("{function}: the {what} must be a string literal{example}, got {data_type}")
}

/// Checks at planning that the person argument of `function` is an integer id (`person_id`),
/// as the aggregates that keep state per person need; `usage` shows the call in the message.
pub fn check_person_argument(function: &str, usage: &str, data_type: &DataType) -> Result<()> {
    if data_type.is_integer() || data_type.is_null() {
        return Ok(());
    }
    plan_err!(
        "{function}: person must be an integer id (number string ids with dense_rank first), \
         got {data_type}; usage: {usage}"
    )
}

/// Checks at planning that argument `what` of `function` is a time (see [`is_time_type`]).
pub fn check_time_argument(function: &str, what: &str, data_type: &DataType) -> Result<()> {
    if is_time_type(data_type) {
        return Ok(());
    }
    plan_err!("{function}: {what} must be a timestamp, a date or an integer, got {data_type}")
}
