//! Last run's `id_graph`, read so that unified ids carry forward.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, TimestampMicrosecondType};
use datafusion::common::{DataFusionError, Result, exec_err};

use super::ingest::{identifier_key, micros_column};
use crate::strings::StrColumn;

/// The columns a previous graph must have.
pub const PREVIOUS_COLUMNS: [&str; 5] = [
    "id_type",
    "id_value",
    "unified_id",
    "first_seen",
    "is_anchor",
];

/// The previous graph's person numbers, read when it has them.
pub const PERSON_ID_COLUMN: &str = "person_id";

/// One identifier of the previous graph.
#[derive(Debug, Clone, Copy)]
pub struct PreviousRow {
    pub key: u128,
    pub id: u32,
    pub first_seen: i64,
    pub is_anchor: bool,
}

/// Last run's graph: identifiers (by key) and the unified id each had.
#[derive(Debug, Default)]
pub struct PreviousGraph {
    rows: Vec<PreviousRow>,
    ids: Vec<String>,
    id_numbers: HashMap<String, u32>,
    /// The person number of each unified id (by its number), where the graph has one.
    person_ids: Vec<Option<i64>>,
}

impl PreviousGraph {
    pub fn add_batch(&mut self, batch: &RecordBatch, table: &str) -> Result<()> {
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "stitch: the previous graph {table} has no column {name}; it needs {}",
                    PREVIOUS_COLUMNS.join(", ")
                ))
            })
        };
        let id_type = StrColumn::new(column("id_type")?, "id_type")?;
        let id_value = StrColumn::new(column("id_value")?, "id_value")?;
        let unified_id = StrColumn::new(column("unified_id")?, "unified_id")?;
        let first_seen = micros_column(column("first_seen")?, "first_seen")?;
        let first_seen = first_seen.as_primitive::<TimestampMicrosecondType>();
        let is_anchor = column("is_anchor")?;
        if is_anchor.data_type() != &DataType::Boolean {
            return exec_err!(
                "stitch: column is_anchor of {table} must be a boolean, got {}",
                is_anchor.data_type()
            );
        }
        let is_anchor = is_anchor.as_boolean();
        let person_id = match batch.column_by_name(PERSON_ID_COLUMN) {
            Some(column) => Some(
                datafusion::arrow::compute::cast(column, &DataType::Int64).map_err(|e| {
                    DataFusionError::Plan(format!(
                        "stitch: column person_id of {table} must be an integer: {e}"
                    ))
                })?,
            ),
            None => None,
        };
        let person_id = person_id
            .as_ref()
            .map(|c| c.as_primitive::<datafusion::arrow::datatypes::Int64Type>());
        for row in 0..batch.num_rows() {
            let (Some(t), Some(v), Some(u)) =
                (id_type.get(row), id_value.get(row), unified_id.get(row))
            else {
                return exec_err!(
                    "stitch: the previous graph {table} has a row with a NULL id_type, id_value \
                     or unified_id ({:?}:{:?} -> {:?})",
                    id_type.get(row),
                    id_value.get(row),
                    unified_id.get(row)
                );
            };
            let id = match self.id_numbers.get(u) {
                Some(&id) => id,
                None => {
                    let id = self.ids.len() as u32;
                    self.ids.push(u.to_string());
                    self.id_numbers.insert(u.to_string(), id);
                    self.person_ids.push(None);
                    id
                }
            };
            if let Some(numbers) = person_id
                && numbers.is_valid(row)
            {
                self.person_ids[id as usize] = Some(numbers.value(row));
            }
            self.rows.push(PreviousRow {
                key: identifier_key(t, v),
                id,
                first_seen: if first_seen.is_valid(row) {
                    first_seen.value(row)
                } else {
                    i64::MAX
                },
                is_anchor: is_anchor.is_valid(row) && is_anchor.value(row),
            });
        }
        Ok(())
    }

    pub fn rows(&self) -> &[PreviousRow] {
        &self.rows
    }

    /// The person number of a unified id (by its number), if the graph had one.
    pub fn person_id(&self, id: u32) -> Option<i64> {
        self.person_ids.get(id as usize).copied().flatten()
    }

    /// The largest person number in the graph (0 for none).
    pub fn max_person_id(&self) -> i64 {
        self.person_ids.iter().flatten().copied().max().unwrap_or(0)
    }

    /// The unified ids, by number.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}
