//! The order of the rows inside each `dt=` file of a table keyed by person: by the person's
//! best identifier, then time. Queries that group by person then read each person's rows
//! together, and run faster in userlake and in DuckDB (docs/benchmarks.md, "Lake layout", has
//! the measurements). The rows are those of the simulation, only moved.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::TimestampMicrosecondType;

use crate::error::{Error, Result};

/// The order of the rows inside each `dt=` file: by the first non-NULL of `identifiers` (a
/// person's best identifier; rows with none come last), then by `time`, then as simulated.
#[derive(Debug, Clone, Copy)]
pub struct RowOrder {
    pub identifiers: &'static [&'static str],
    pub time: &'static str,
}

impl RowOrder {
    /// The rows of `batches` (one partition) in this order, as one batch.
    pub fn sort(&self, batches: Vec<RecordBatch>) -> Result<Option<RecordBatch>> {
        let Some(schema) = batches.first().map(RecordBatch::schema) else {
            return Ok(None);
        };
        let rows = concat_batches(&schema, &batches)?;
        drop(batches);
        let column = |name: &str| -> Result<&ArrayRef> {
            rows.column_by_name(name).ok_or_else(|| {
                Error::usage(format!(
                    "the generator's row order names a column `{name}` its table does not have"
                ))
            })
        };
        let identifiers = self
            .identifiers
            .iter()
            .map(|name| {
                column(name)?.as_string_opt::<i32>().ok_or_else(|| {
                    Error::usage(format!("the generator's identifier `{name}` is not text"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let times = column(self.time)?
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| {
                Error::usage(format!(
                    "the generator's time column `{}` is not a timestamp in microseconds",
                    self.time
                ))
            })?;
        let persons: Vec<Option<&str>> = (0..rows.num_rows())
            .map(|row| {
                identifiers
                    .iter()
                    .find(|values| values.is_valid(row))
                    .map(|values| values.value(row))
            })
            .collect();
        // identifiers mostly differ in their first bytes: comparing 16 of them as one number
        // spares most comparisons a visit to the strings themselves

        let prefixes: Vec<(bool, u128)> = persons
            .iter()
            .map(|person| match person {
                None => (true, 0),
                Some(text) => {
                    let mut bytes = [0u8; 16];
                    let head = &text.as_bytes()[..text.len().min(16)];
                    bytes[..head.len()].copy_from_slice(head);
                    (false, u128::from_be_bytes(bytes))
                }
            })
            .collect();
        let mut order: Vec<u32> = (0..rows.num_rows() as u32).collect();
        // the position breaks ties, so the order is total: the simulated order among equal rows
        order.sort_unstable_by(|&x, &y| {
            let (x, y) = (x as usize, y as usize);
            prefixes[x]
                .cmp(&prefixes[y])
                .then_with(|| persons[x].cmp(&persons[y]))
                .then_with(|| times.value(x).cmp(&times.value(y)))
                .then_with(|| x.cmp(&y))
        });
        Ok(Some(take_record_batch(&rows, &UInt32Array::from(order))?))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;

    const ORDER: RowOrder = RowOrder {
        identifiers: &["unionid", "device_id"],
        time: "at",
    };

    fn batch(rows: &[(Option<&str>, Option<&str>, i64, &str)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("unionid", DataType::Utf8, true),
            Field::new("device_id", DataType::Utf8, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new("label", DataType::Utf8, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.2),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    fn labels(batch: &RecordBatch) -> Vec<String> {
        let labels = batch.column_by_name("label").unwrap().as_string::<i32>();
        labels.iter().map(|l| l.unwrap().to_string()).collect()
    }

    #[test]
    fn rows_go_by_best_identifier_then_time_then_arrival() {
        // identifiers sharing their first 16 bytes, a person known only by device, ties in
        // time kept in arrival order, rows with no identifier last, across two batches
        let first = batch(&[
            (None, None, 5, "anonymous-late"),
            (Some("o-shared-prefix-0000-b"), None, 9, "b-9"),
            (None, Some("dev-1"), 3, "dev-3"),
            (
                Some("o-shared-prefix-0000-a"),
                Some("dev-9"),
                7,
                "a-7-first",
            ),
        ]);
        let second = batch(&[
            (Some("o-shared-prefix-0000-a"), None, 7, "a-7-second"),
            (None, None, 1, "anonymous-early"),
            (Some("o-shared-prefix-0000-a"), None, 2, "a-2"),
            (Some("o-shared-prefix-0000-b"), Some("dev-0"), 1, "b-1"),
        ]);
        let sorted = ORDER.sort(vec![first, second]).unwrap().unwrap();
        assert_eq!(
            labels(&sorted),
            [
                "dev-3",
                "a-2",
                "a-7-first",
                "a-7-second",
                "b-1",
                "b-9",
                "anonymous-early",
                "anonymous-late"
            ]
        );
    }

    #[test]
    fn nothing_to_sort_and_misnamed_columns() {
        assert!(ORDER.sort(Vec::new()).unwrap().is_none());
        let wrong = RowOrder {
            identifiers: &["unionid"],
            time: "event_time",
        };
        let error = wrong
            .sort(vec![batch(&[(None, None, 1, "x")])])
            .unwrap_err()
            .to_string();
        assert!(error.contains("`event_time`"), "{error}");
    }
}
