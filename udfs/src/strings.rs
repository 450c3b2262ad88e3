//! Reading any of Arrow's string layouts (`Utf8`, `LargeUtf8`, `Utf8View`) without copying.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};

/// Calls `f(row, value)` for every row of a string array.
pub fn for_each_str(
    array: &ArrayRef,
    argument: &str,
    mut f: impl FnMut(usize, Option<&str>),
) -> Result<()> {
    match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .enumerate()
            .for_each(|(i, v)| f(i, v)),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .enumerate()
            .for_each(|(i, v)| f(i, v)),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .enumerate()
            .for_each(|(i, v)| f(i, v)),
        DataType::Null => (0..array.len()).for_each(|i| f(i, None)),
        other => return exec_err!("{argument} must be a string, got {other}"),
    }
    Ok(())
}
