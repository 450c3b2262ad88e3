//! The condition and filter arguments of the aggregates: boolean columns read as one bit mask
//! per row, their coercion at planning, and the rows an aggregate's FILTER clause keeps.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};

/// Reads the boolean condition columns into one bit mask per row (bit i = condition i+1);
/// NULL counts as false.
pub fn condition_masks(conditions: &[ArrayRef], rows: usize, function: &str) -> Result<Vec<u64>> {
    let mut masks = vec![0u64; rows];
    for (index, condition) in conditions.iter().enumerate() {
        let bit = 1u64 << index;
        match condition.data_type() {
            DataType::Boolean => {
                let values = condition.as_boolean();
                // Only the rows that are true and not NULL: conditions are usually sparse, so
                // walking the set bits beats reading every row.
                let true_rows = match values.nulls() {
                    Some(nulls) => values.values() & nulls.inner(),
                    None => values.values().clone(),
                };
                for row in true_rows.set_indices() {
                    masks[row] |= bit;
                }
            }
            DataType::Null => {}
            other => {
                return exec_err!(
                    "{function}: condition {} must be a boolean, got {other}",
                    index + 1
                );
            }
        }
    }
    Ok(masks)
}

/// Whether an aggregate's FILTER clause keeps `row` (no filter keeps every row).
pub fn passes(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

/// The coerced types of boolean condition arguments (`NULL` literals become booleans), or an
/// error naming the first argument that is not a boolean.
pub fn coerce_conditions(function: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    arg_types
        .iter()
        .enumerate()
        .map(|(index, data_type)| match data_type {
            DataType::Boolean | DataType::Null => Ok(DataType::Boolean),
            other => plan_err!(
                "{function}: condition {} must be a boolean, got {other}",
                index + 1
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};

    use super::condition_masks;

    #[test]
    fn masks_from_sliced_and_nullable_conditions() {
        let first: BooleanArray =
            vec![Some(true), None, Some(true), Some(false), Some(true)].into();
        let second: BooleanArray =
            vec![Some(false), Some(true), None, Some(true), Some(true)].into();
        // a slice, as DataFusion may pass after filtering: rows 1..5
        let conditions: Vec<ArrayRef> =
            vec![Arc::new(first.slice(1, 4)), Arc::new(second.slice(1, 4))];
        assert_eq!(conditions[0].len(), 4);
        let masks = condition_masks(&conditions, 4, "test").unwrap();
        assert_eq!(masks, vec![0b10, 0b01, 0b10, 0b11]);
    }
}
