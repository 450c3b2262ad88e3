//! Prepared statements: the statement text, the parameter values last bound to it, and the user
//! who prepared it (no other user may run or close it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;
use tonic::Status;

/// Clients that never close their statements must not grow the server without bound.
pub const MAX_PREPARED_STATEMENTS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct PreparedStatement {
    pub owner: String,
    /// With `?` already numbered `$1`, `$2`, ...
    pub sql: String,
    pub parameters: Option<Vec<ScalarValue>>,
}

#[derive(Debug)]
pub struct PreparedStatements {
    statements: Mutex<HashMap<Vec<u8>, PreparedStatement>>,
    /// Handles only need to be unique: a handle is useless to anyone but its owner.
    next: AtomicU64,
    prefix: String,
}

impl PreparedStatements {
    pub fn new() -> Self {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        PreparedStatements {
            statements: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            prefix: format!("{started:x}"),
        }
    }

    pub fn insert(&self, statement: PreparedStatement) -> Result<Vec<u8>, Status> {
        let handle = format!(
            "{}-{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let mut statements = self.lock()?;
        if statements.len() >= MAX_PREPARED_STATEMENTS {
            return Err(Status::resource_exhausted(format!(
                "{MAX_PREPARED_STATEMENTS} prepared statements are open; close some first"
            )));
        }
        statements.insert(handle.clone().into_bytes(), statement);
        Ok(handle.into_bytes())
    }

    pub fn get(&self, handle: &[u8], user: &str) -> Result<PreparedStatement, Status> {
        let statements = self.lock()?;
        match statements.get(handle) {
            Some(statement) if statement.owner == user => Ok(statement.clone()),
            _ => Err(unknown_handle(handle)),
        }
    }

    pub fn bind(&self, handle: &[u8], user: &str, values: Vec<ScalarValue>) -> Result<(), Status> {
        let mut statements = self.lock()?;
        match statements.get_mut(handle) {
            Some(statement) if statement.owner == user => {
                statement.parameters = Some(values);
                Ok(())
            }
            _ => Err(unknown_handle(handle)),
        }
    }

    pub fn close(&self, handle: &[u8], user: &str) -> Result<(), Status> {
        let mut statements = self.lock()?;
        match statements.get(handle) {
            Some(statement) if statement.owner == user => {
                statements.remove(handle);
                Ok(())
            }
            _ => Err(unknown_handle(handle)),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().map(|s| s.len()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<Vec<u8>, PreparedStatement>>, Status> {
        self.statements
            .lock()
            .map_err(|_| Status::internal("the prepared statement registry is poisoned"))
    }
}

impl Default for PreparedStatements {
    fn default() -> Self {
        Self::new()
    }
}

fn unknown_handle(handle: &[u8]) -> Status {
    Status::not_found(format!(
        "no open prepared statement {:?} for this user (closed, or prepared by someone else)",
        String::from_utf8_lossy(handle)
    ))
}

/// The parameter values in a bound batch: one row, one column per parameter.
pub fn parameters_of(batches: &[RecordBatch]) -> Result<Vec<ScalarValue>, Status> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Vec::new());
    };
    if rows > 1 {
        return Err(Status::invalid_argument(format!(
            "{rows} rows of parameters were bound; a prepared query runs with one row of parameters at a time"
        )));
    }
    batch
        .columns()
        .iter()
        .enumerate()
        .map(|(index, column)| {
            ScalarValue::try_from_array(column, 0)
                .map_err(|e| Status::invalid_argument(format!("parameter ${}: {e}", index + 1)))
        })
        .collect()
}

/// Binds values to a planned statement. Clients send the Arrow type their language has (a
/// Python `str` is `Utf8`, an `int` is `Int64`); where the statement expects another type
/// (`Utf8View` for a string column, `Int32`, a timestamp) the value is cast to it.
pub fn bind_parameters(plan: LogicalPlan, values: &[ScalarValue]) -> Result<LogicalPlan, Status> {
    let expected = plan
        .get_parameter_types()
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    if expected.len() != values.len() {
        return Err(Status::invalid_argument(format!(
            "the statement has {} parameter(s) but {} value(s) were bound",
            expected.len(),
            values.len()
        )));
    }
    let cast = values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let name = format!("${}", index + 1);
            match expected.get(&name) {
                None => Err(Status::invalid_argument(format!(
                    "the statement has no parameter {name} (parameters are numbered from $1 without gaps)"
                ))),
                Some(Some(wanted)) if wanted != &value.data_type() && wanted != &DataType::Null => {
                    value.cast_to(wanted).map_err(|_| {
                        Status::invalid_argument(format!(
                            "parameter {name}: cannot use {value:?} where {wanted} is expected"
                        ))
                    })
                }
                Some(_) => Ok(value.clone()),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    plan.with_param_values(cast)
        .map_err(|e| Status::invalid_argument(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(owner: &str) -> PreparedStatement {
        PreparedStatement {
            owner: owner.into(),
            sql: "SELECT $1".into(),
            parameters: None,
        }
    }

    #[test]
    fn statements_belong_to_their_owner() {
        let registry = PreparedStatements::new();
        let handle = registry.insert(statement("alice")).expect("room");
        assert!(registry.get(&handle, "alice").is_ok());
        assert_eq!(
            registry.get(&handle, "bob").expect_err("not bob's").code(),
            tonic::Code::NotFound
        );
        assert!(registry.close(&handle, "bob").is_err());
        registry
            .bind(&handle, "alice", vec![ScalarValue::Int64(Some(3))])
            .expect("bound");
        assert_eq!(
            registry.get(&handle, "alice").expect("open").parameters,
            Some(vec![ScalarValue::Int64(Some(3))])
        );
        registry.close(&handle, "alice").expect("closed");
        assert!(registry.is_empty());
        let other = registry.insert(statement("alice")).expect("room");
        assert_ne!(other, handle);
    }

    #[test]
    fn parameters_come_from_one_row() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "a",
                std::sync::Arc::new(arrow::array::Int64Array::from(vec![7])) as _,
            ),
            (
                "b",
                std::sync::Arc::new(arrow::array::StringArray::from(vec!["x"])) as _,
            ),
        ])
        .expect("batch");
        let values = parameters_of(std::slice::from_ref(&batch)).expect("one row");
        assert_eq!(
            values,
            vec![
                ScalarValue::Int64(Some(7)),
                ScalarValue::Utf8(Some("x".into()))
            ]
        );
        let two = [batch.clone(), batch];
        assert!(parameters_of(&two).is_err());
    }
}
