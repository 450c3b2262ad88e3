//! The Flight SQL service: arrow-flight decodes the protocol; this answers it with userlake
//! sessions. Every call is authenticated first; queries run in a session cloned from the one
//! the bootstrap built (same functions and lake tables) with a memory pool of their own.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetCatalogs, CommandGetCrossReference,
    CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys, CommandGetPrimaryKeys,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementQuery,
    CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest,
    HandshakeResponse, IpcMessage, SchemaAsIpc, Ticket,
};
use datafusion::common::ScalarValue;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SQLOptions, SessionContext};
use futures::{Stream, TryStreamExt};
use prost::Message;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::auth::Authenticator;
use super::catalog;
use super::limits::{Admission, QueryMemoryPool};
use super::placeholders::number_question_marks;
use super::prepared::{PreparedStatement, PreparedStatements, bind_parameters, parameters_of};
use super::query_log::{Outcome, QueryRecord, log_refusal};
use super::result_stream::{ResultStream, classic_schema, status_of};

type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;
type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

/// What each query may use, and whether it may change anything.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    pub query_memory: usize,
    pub max_concurrent: usize,
    pub queue_timeout: Duration,
    pub query_timeout: Duration,
    pub allow_writes: bool,
}

pub struct UserlakeFlightSql {
    base: SessionContext,
    server_pool: Arc<dyn MemoryPool>,
    limits: QueryLimits,
    admission: Admission,
    auth: Authenticator,
    prepared: PreparedStatements,
    sql_info: SqlInfoData,
    type_info: XdbcTypeInfoData,
}

/// A query that planned and started: its batches, its slot and its deadline.
struct Started {
    stream: SendableRecordBatchStream,
    permit: OwnedSemaphorePermit,
    deadline: Pin<Box<Sleep>>,
}

impl UserlakeFlightSql {
    /// `base` is the bootstrap's session; its memory pool is the server's.
    pub fn new(
        base: SessionContext,
        auth: Authenticator,
        limits: QueryLimits,
    ) -> Result<Self, Status> {
        let server_pool = Arc::clone(&base.runtime_env().memory_pool);
        let timeout_ms = i32::try_from(limits.query_timeout.as_millis()).unwrap_or(i32::MAX);
        Ok(UserlakeFlightSql {
            base,
            server_pool,
            admission: Admission::new(limits.max_concurrent, limits.queue_timeout),
            sql_info: catalog::sql_info(!limits.allow_writes, timeout_ms)?,
            type_info: catalog::xdbc_type_info()?,
            limits,
            auth,
            prepared: PreparedStatements::new(),
        })
    }

    fn user<T>(&self, request: &Request<T>) -> Result<String, Status> {
        self.auth
            .authenticate(request.metadata())
            .inspect_err(|status| log_refusal("query", request.remote_addr(), status.message()))
    }

    /// A session for one query: the bootstrap's functions, tables and settings, with the
    /// query's own memory pool on top of the server's.
    fn query_context(&self) -> Result<SessionContext, Status> {
        let pool = QueryMemoryPool::new(Arc::clone(&self.server_pool), self.limits.query_memory);
        let runtime = RuntimeEnvBuilder::from_runtime_env(self.base.runtime_env().as_ref())
            .with_memory_pool(Arc::new(pool))
            .build_arc()
            .map_err(|e| status_of(&e))?;
        let state = SessionStateBuilder::new_from_existing(self.base.state())
            .with_runtime_env(runtime)
            .build();
        Ok(SessionContext::new_with_state(state))
    }

    /// Plans one statement; in read-only mode anything but a query is refused here, before
    /// it can run.
    async fn plan(&self, ctx: &SessionContext, sql: &str) -> Result<LogicalPlan, Status> {
        let sql = number_question_marks(sql).map_err(Status::invalid_argument)?;
        let plan = ctx
            .state()
            .create_logical_plan(&sql)
            .await
            .map_err(|e| status_of(&e))?;
        if let LogicalPlan::Statement(statement) = &plan {
            // SET, PREPARE, transactions: each query runs in a session of its own, so they
            // could not carry over to the next statement.
            return Err(Status::invalid_argument(format!(
                "{} is not supported by the server: every query runs in a session of its own, \
                 so settings do not carry over; the server's settings are fixed when it starts",
                statement.name()
            )));
        }
        if !self.limits.allow_writes {
            SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .verify_plan(&plan)
                .map_err(|e| {
                    Status::permission_denied(format!(
                        "the server is read-only: {}; start it with --allow-writes to run DDL, \
                         DML and COPY",
                        e.strip_backtrace()
                    ))
                })?;
        }
        Ok(plan)
    }

    /// Plans a statement with its bound parameter values, if any.
    async fn plan_bound(
        &self,
        ctx: &SessionContext,
        sql: &str,
        parameters: Option<&[ScalarValue]>,
    ) -> Result<LogicalPlan, Status> {
        let plan = self.plan(ctx, sql).await?;
        match parameters {
            Some(values) => bind_parameters(plan, values),
            None => Ok(plan),
        }
    }

    /// The FlightInfo of a statement. A query is only planned here (its ticket runs it); a
    /// write (DDL, DML, COPY) runs now, because clients fetch a result only when they read
    /// one, and nobody reads the empty result of a CREATE VIEW.
    async fn statement_info(
        &self,
        user: &str,
        sql: &str,
        parameters: Option<&[ScalarValue]>,
        ticket: Vec<u8>,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let ctx = self.query_context()?;
        let plan = match self.plan_bound(&ctx, sql, parameters).await {
            Ok(plan) => plan,
            Err(status) => {
                QueryRecord::start(user, "plan", sql).finish(outcome_of(&status));
                return Err(status);
            }
        };
        let schema = classic_schema(plan.schema().as_arrow());
        if is_write(&plan) {
            self.run_update(user, sql, parameters).await?;
            let info = FlightInfo::new()
                .try_with_schema(&schema)
                .map_err(|e| Status::internal(format!("cannot encode the result schema: {e}")))?
                .with_descriptor(descriptor);
            return Ok(Response::new(info));
        }
        endpoint_info(&schema, ticket, descriptor)
    }

    async fn start(
        &self,
        sql: &str,
        parameters: Option<&[ScalarValue]>,
    ) -> Result<Started, Status> {
        let permit = self.admission.admit().await?;
        let timeout = self.limits.query_timeout;
        let deadline = Box::pin(tokio::time::sleep(timeout));
        let ctx = self.query_context()?;
        let work = async {
            let plan = self.plan_bound(&ctx, sql, parameters).await?;
            // Everything, writes included, runs here and only here.
            let frame = ctx
                .execute_logical_plan(plan)
                .await
                .map_err(|e| status_of(&e))?;
            frame.execute_stream().await.map_err(|e| status_of(&e))
        };
        let stream = tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| timeout_status(timeout))??;
        Ok(Started {
            stream,
            permit,
            deadline,
        })
    }

    /// Runs a statement and streams its batches; the log line is written when the stream ends
    /// (or is dropped by a client that went away).
    async fn run(
        &self,
        user: &str,
        kind: &'static str,
        sql: &str,
        parameters: Option<&[ScalarValue]>,
    ) -> Result<ResultStream, Status> {
        let mut record = QueryRecord::start(user, kind, sql);
        match self.start(sql, parameters).await {
            Ok(started) => Ok(ResultStream::new(
                started.stream,
                started.deadline,
                self.limits.query_timeout,
                record,
                started.permit,
            )),
            Err(status) => {
                record.finish(outcome_of(&status));
                Err(status)
            }
        }
    }

    async fn stream_result(
        &self,
        user: &str,
        kind: &'static str,
        sql: &str,
        parameters: Option<&[ScalarValue]>,
    ) -> Result<Response<DoGetStream>, Status> {
        let results = self.run(user, kind, sql, parameters).await?;
        let schema = results.schema();
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(results)
            .map_err(Status::from);
        Ok(Response::new(Box::pin(flight)))
    }

    /// Runs a write (DDL, DML, COPY) to the end; the rows it reports changing.
    async fn run_update(
        &self,
        user: &str,
        sql: &str,
        parameters: Option<&[ScalarValue]>,
    ) -> Result<i64, Status> {
        let results = self.run(user, "update", sql, parameters).await?;
        let batches: Vec<RecordBatch> = results.map_err(Status::from).try_collect().await?;
        Ok(changed_rows(&batches))
    }

    /// A metadata command's FlightInfo, for an authenticated caller: its ticket is the command.
    fn command_info(
        &self,
        request: Request<FlightDescriptor>,
        schema: &Schema,
        command: Any,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        endpoint_info(schema, command.encode_to_vec(), request.into_inner())
    }

    /// A metadata answer, computed only once the caller is authenticated.
    fn answer(
        &self,
        request: &Request<Ticket>,
        batch: impl FnOnce() -> Result<RecordBatch, Status>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.user(request)?;
        Ok(one_batch_stream(batch()?))
    }
}

fn timeout_status(timeout: Duration) -> Status {
    Status::deadline_exceeded(format!(
        "the query ran longer than the server's limit of {} s (--query-timeout)",
        timeout.as_secs_f64()
    ))
}

fn outcome_of(status: &Status) -> Outcome {
    match status.code() {
        tonic::Code::DeadlineExceeded => Outcome::TimedOut,
        _ => Outcome::Error(status.message().to_string()),
    }
}

fn is_write(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_)
    )
}

/// DataFusion reports DML and COPY as one `count` row; DDL returns nothing.
fn changed_rows(batches: &[RecordBatch]) -> i64 {
    let count = batches
        .iter()
        .find(|b| b.num_rows() == 1)
        .and_then(|batch| {
            let is_count = batch.num_columns() == 1 && batch.schema().field(0).name() == "count";
            let column = batch.column(0).as_any();
            is_count
                .then(|| column.downcast_ref::<arrow::array::UInt64Array>())
                .flatten()
                .map(|a| a.value(0))
        });
    count.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

fn endpoint_info(
    schema: &Schema,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(ticket));
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("cannot encode the result schema: {e}")))?
        .with_endpoint(endpoint)
        .with_descriptor(descriptor)
        .with_ordered(true);
    Ok(Response::new(info))
}

fn one_batch_stream(batch: RecordBatch) -> Response<DoGetStream> {
    let schema = batch.schema();
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::once(
            async move { Ok::<_, FlightError>(batch) },
        ))
        .map_err(Status::from);
    Response::new(Box::pin(stream))
}

fn schema_bytes(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| {
            Status::internal(format!("cannot encode a schema: {e}"))
        })?;
    Ok(bytes)
}

/// `$1`, `$2`, ... with the types the statement implies (`Null` where it implies none).
fn parameter_schema(plan: &LogicalPlan) -> Result<Schema, Status> {
    let types = plan
        .get_parameter_types()
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    let mut names: Vec<&String> = types.keys().collect();
    names.sort_by_key(|name| {
        name.trim_start_matches('$')
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    let fields: Vec<Field> = names
        .into_iter()
        .map(|name| {
            let data_type = types[name]
                .as_ref()
                .map(super::result_stream::classic_type)
                .unwrap_or(DataType::Null);
            Field::new(name.as_str(), data_type, true)
        })
        .collect();
    Ok(Schema::new(fields))
}

#[tonic::async_trait]
impl FlightSqlService for UserlakeFlightSql {
    type FlightService = UserlakeFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<HandshakeStream>, Status> {
        // the user matters only for the log lines of later calls, which carry the token
        let (_user, token) = self
            .auth
            .handshake(request.metadata())
            .inspect_err(|status| {
                log_refusal("handshake", request.remote_addr(), status.message())
            })?;
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        };
        let stream: HandshakeStream = Box::pin(futures::stream::iter([Ok(reply)]));
        let mut response = Response::new(stream);
        if !token.is_empty() {
            // ADBC and the JDBC driver take the bearer token from the response headers.
            let header = MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|_| Status::internal("the token cannot be sent as a header"))?;
            response.metadata_mut().insert("authorization", header);
        }
        Ok(response)
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        Err(Status::unimplemented(format!(
            "userlake does not serve tickets of type {}",
            message.type_url
        )))
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let user = self.user(&request)?;
        let ticket = TicketStatementQuery {
            statement_handle: query.query.clone().into_bytes().into(),
        };
        self.statement_info(
            &user,
            &query.query,
            None,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )
        .await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let user = self.user(&request)?;
        let sql = String::from_utf8(ticket.statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("the ticket is not a UTF-8 statement"))?;
        self.stream_result(&user, "statement", &sql, None).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let user = self.user(&request)?;
        let ctx = self.query_context()?;
        let planned = async {
            // stored numbered, so that each execution plans it as it is
            let sql = number_question_marks(&query.query).map_err(Status::invalid_argument)?;
            let plan = self.plan(&ctx, &sql).await?;
            Ok::<_, Status>((sql, plan))
        };
        let (sql, plan) = planned.await.inspect_err(|status| {
            QueryRecord::start(&user, "prepare", &query.query).finish(outcome_of(status));
        })?;
        let dataset_schema = classic_schema(plan.schema().as_arrow());
        let parameter_schema = parameter_schema(&plan)?;
        let handle = self.prepared.insert(PreparedStatement {
            owner: user,
            sql,
            parameters: None,
        })?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: schema_bytes(&dataset_schema)?,
            parameter_schema: schema_bytes(&parameter_schema)?,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let user = self.user(&request)?;
        let handle = query.prepared_statement_handle.to_vec();
        self.prepared.get(&handle, &user)?;
        let flight_data = request.into_inner().map_err(FlightError::from);
        let batches: Vec<RecordBatch> =
            arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(flight_data)
                .try_collect()
                .await
                .map_err(|e| {
                    Status::invalid_argument(format!("cannot read the parameters: {e}"))
                })?;
        let values = parameters_of(&batches)?;
        self.prepared.bind(&handle, &user, values)?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle.into()),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let user = self.user(&request)?;
        let statement = self.prepared.get(&query.prepared_statement_handle, &user)?;
        self.statement_info(
            &user,
            &statement.sql,
            statement.parameters.as_deref(),
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
        .await
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let user = self.user(&request)?;
        let statement = self.prepared.get(&query.prepared_statement_handle, &user)?;
        self.stream_result(
            &user,
            "prepared",
            &statement.sql,
            statement.parameters.as_deref(),
        )
        .await
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let user = self.user(&request)?;
        self.prepared.close(&query.prepared_statement_handle, &user)
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let user = self.user(&request)?;
        self.run_update(&user, &command.query, None).await
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let user = self.user(&request)?;
        let statement = self.prepared.get(&query.prepared_statement_handle, &user)?;
        self.run_update(&user, &statement.sql, statement.parameters.as_deref())
            .await
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.command_info(request, &schema, query.as_any())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.answer(&request, || {
            catalog::catalogs(&self.base, query.into_builder())
        })
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.command_info(request, &schema, query.as_any())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.answer(&request, || {
            catalog::schemas(&self.base, query.into_builder())
        })
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.command_info(request, &schema, query.as_any())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        // listing tables is async, so it cannot go through `answer`
        self.user(&request)?;
        let batch = catalog::tables(&self.base, query.into_builder()).await?;
        Ok(one_batch_stream(batch))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.command_info(request, &schema, query.as_any())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.answer(&request, || {
            let mut builder = query.into_builder();
            for table_type in catalog::TABLE_TYPES {
                builder.append(table_type);
            }
            builder.build().map_err(|e| Status::internal(e.to_string()))
        })
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&self.sql_info).schema();
        self.command_info(request, &schema, query.as_any())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.answer(&request, || {
            let builder = query.into_builder(&self.sql_info);
            builder.build().map_err(|e| Status::internal(e.to_string()))
        })
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder(&self.type_info).schema();
        self.command_info(request, &schema, query.as_any())
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.answer(&request, || {
            let builder = query.into_builder(&self.type_info);
            builder.build().map_err(|e| Status::internal(e.to_string()))
        })
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = catalog::primary_keys_schema();
        self.command_info(request, &schema, query.as_any())
    }

    async fn do_get_primary_keys(
        &self,
        _query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.answer(&request, || {
            Ok(RecordBatch::new_empty(catalog::primary_keys_schema()))
        })
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = catalog::foreign_keys_schema();
        self.command_info(request, &schema, query.as_any())
    }

    async fn do_get_exported_keys(
        &self,
        _query: CommandGetExportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.answer(&request, || {
            Ok(RecordBatch::new_empty(catalog::foreign_keys_schema()))
        })
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = catalog::foreign_keys_schema();
        self.command_info(request, &schema, query.as_any())
    }

    async fn do_get_imported_keys(
        &self,
        _query: CommandGetImportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.answer(&request, || {
            Ok(RecordBatch::new_empty(catalog::foreign_keys_schema()))
        })
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = catalog::foreign_keys_schema();
        self.command_info(request, &schema, query.as_any())
    }

    async fn do_get_cross_reference(
        &self,
        _query: CommandGetCrossReference,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.answer(&request, || {
            Ok(RecordBatch::new_empty(catalog::foreign_keys_schema()))
        })
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
