//! The numeric arguments most functions take: any numeric type (or an untyped NULL), computed
//! in `Float64`.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};

/// `coerce_types` for functions whose first `count` arguments are numbers: those become
/// `Float64`, the rest keep their types; a non-numeric one is a planning error naming it.
pub fn coerce_numeric(name: &str, arg_types: &[DataType], count: usize) -> Result<Vec<DataType>> {
    arg_types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i >= count {
                Ok(t.clone())
            } else if t.is_numeric() || t.is_null() {
                Ok(DataType::Float64)
            } else {
                plan_err!("{name}: argument {} must be numeric, got {t}", i + 1)
            }
        })
        .collect()
}
