//! Reading any of Arrow's string layouts (`Utf8`, `LargeUtf8`, `Utf8View`) without copying.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};

/// True for Arrow's string types (not `Null`: callers say whether they accept an untyped NULL).
pub fn is_string_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
    )
}

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

/// Random access to one string column of any of Arrow's string layouts.
pub enum StrColumn<'a> {
    Utf8(&'a datafusion::arrow::array::StringArray),
    LargeUtf8(&'a datafusion::arrow::array::LargeStringArray),
    Utf8View(&'a datafusion::arrow::array::StringViewArray),
    Null,
}

impl<'a> StrColumn<'a> {
    /// The column `name` of a batch's `array`, or an error naming the column and its type.
    pub fn new(array: &'a ArrayRef, name: &str) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => Self::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Self::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => Self::Utf8View(array.as_string_view()),
            DataType::Null => Self::Null,
            other => return exec_err!("column {name} must be a string, got {other}"),
        })
    }

    pub fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            Self::Utf8(a) => a.is_valid(row).then(|| a.value(row)),
            Self::LargeUtf8(a) => a.is_valid(row).then(|| a.value(row)),
            Self::Utf8View(a) => a.is_valid(row).then(|| a.value(row)),
            Self::Null => None,
        }
    }
}
