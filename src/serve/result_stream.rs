//! The record batches of one query on their way to a client: held to the query's deadline,
//! counted for the log, holding the query's admission slot until the last batch, and converted
//! to the Arrow types every Flight SQL client reads.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, FieldRef, Fields, Schema, SchemaRef};
use arrow_flight::error::FlightError;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use futures::Stream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;
use tonic::Status;

use super::query_log::{Outcome, QueryRecord};

/// DataFusion reads strings as `Utf8View`; the Flight SQL JDBC driver and older ADBC drivers
/// do not know the view types, so results leave the server with the classic types.
pub fn classic_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(field) | DataType::ListView(field) => DataType::List(classic_field(field)),
        DataType::LargeList(field) | DataType::LargeListView(field) => {
            DataType::LargeList(classic_field(field))
        }
        DataType::FixedSizeList(field, size) => {
            DataType::FixedSizeList(classic_field(field), *size)
        }
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(classic_field).collect::<Fields>())
        }
        DataType::Map(field, sorted) => DataType::Map(classic_field(field), *sorted),
        DataType::Dictionary(key, value) => {
            DataType::Dictionary(key.clone(), Box::new(classic_type(value)))
        }
        other => other.clone(),
    }
}

fn classic_field(field: &FieldRef) -> FieldRef {
    let data_type = classic_type(field.data_type());
    if &data_type == field.data_type() {
        Arc::clone(field)
    } else {
        Arc::new(field.as_ref().clone().with_data_type(data_type))
    }
}

pub fn classic_schema(schema: &Schema) -> SchemaRef {
    let fields: Fields = schema.fields().iter().map(classic_field).collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn to_classic(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, DataFusionError> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The gRPC status a DataFusion error becomes: the user's mistakes are `INVALID_ARGUMENT`,
/// limits are `RESOURCE_EXHAUSTED`, and only DataFusion's own bugs are `INTERNAL`.
pub fn status_of(error: &DataFusionError) -> Status {
    let message = error.to_string();
    match error.find_root() {
        DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(message),
        DataFusionError::NotImplemented(_) => Status::unimplemented(message),
        DataFusionError::Internal(_) => Status::internal(message),
        DataFusionError::ExecutionJoin(_) => Status::internal(message),
        _ => Status::invalid_argument(message),
    }
}

pub struct ResultStream {
    inner: Option<SendableRecordBatchStream>,
    schema: SchemaRef,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    record: QueryRecord,
    permit: Option<OwnedSemaphorePermit>,
}

impl ResultStream {
    pub fn new(
        inner: SendableRecordBatchStream,
        deadline: Pin<Box<Sleep>>,
        timeout: Duration,
        record: QueryRecord,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        let schema = classic_schema(&inner.schema());
        ResultStream {
            inner: Some(inner),
            schema,
            deadline,
            timeout,
            record,
            permit: Some(permit),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Ends the query: the plan is dropped (which stops its tasks), the slot is freed.
    fn end(&mut self, outcome: Outcome) {
        self.inner = None;
        self.permit = None;
        self.record.finish(outcome);
    }
}

impl Stream for ResultStream {
    type Item = Result<RecordBatch, FlightError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.end(Outcome::TimedOut);
            let status = Status::deadline_exceeded(format!(
                "the query ran longer than the server's limit of {} s (--query-timeout)",
                this.timeout.as_secs_f64()
            ));
            return Poll::Ready(Some(Err(FlightError::Tonic(Box::new(status)))));
        }
        match inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.end(Outcome::Ok);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(batch))) => {
                this.record.add_rows(batch.num_rows());
                match to_classic(batch, &this.schema) {
                    Ok(batch) => Poll::Ready(Some(Ok(batch))),
                    Err(error) => {
                        let status = status_of(&error);
                        this.end(Outcome::Error(error.to_string()));
                        Poll::Ready(Some(Err(FlightError::Tonic(Box::new(status)))))
                    }
                }
            }
            Poll::Ready(Some(Err(error))) => {
                let status = status_of(&error);
                this.end(Outcome::Error(error.to_string()));
                Poll::Ready(Some(Err(FlightError::Tonic(Box::new(status)))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::Field;

    use super::*;

    #[test]
    fn view_types_become_classic_types_at_any_depth() {
        let inner = Field::new("name", DataType::Utf8View, true);
        let nested = DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(vec![inner, Field::new("n", DataType::Int64, false)].into()),
            true,
        )));
        let expected = DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(
                vec![
                    Field::new("name", DataType::Utf8, true),
                    Field::new("n", DataType::Int64, false),
                ]
                .into(),
            ),
            true,
        )));
        assert_eq!(classic_type(&nested), expected);
        assert_eq!(classic_type(&DataType::Int32), DataType::Int32);
    }

    #[test]
    fn batches_are_cast_to_the_classic_schema() {
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8View, true)]));
        let column: ArrayRef = Arc::new(arrow::array::StringViewArray::from(vec![Some("a"), None]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![column]).expect("batch");
        let classic = classic_schema(&schema);
        let converted = to_classic(batch, &classic).expect("cast");
        assert_eq!(converted.column(0).data_type(), &DataType::Utf8);
        assert_eq!(converted.column(0).null_count(), 1);
    }

    #[test]
    fn errors_map_to_statuses_a_client_can_act_on() {
        let plan = DataFusionError::Plan("no such column".into());
        assert_eq!(status_of(&plan).code(), tonic::Code::InvalidArgument);
        let memory = DataFusionError::ResourcesExhausted("too big".into());
        assert_eq!(status_of(&memory).code(), tonic::Code::ResourceExhausted);
        let wrapped = DataFusionError::Context("while planning".into(), Box::new(memory));
        assert_eq!(status_of(&wrapped).code(), tonic::Code::ResourceExhausted);
    }
}
