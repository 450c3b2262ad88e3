//! `stitch('edges' [, rules [, 'previous_graph']])` as a SQL table function.
//!
//! The function resolves its tables when the query is planned (so a missing table or column is
//! a planning error) and stitches when the plan runs, reading every partition of the edge table
//! in parallel.

use std::fmt;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::execution::context::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Documentation, Expr, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};

use super::graph::Stitched;
use super::ingest::{EDGE_COLUMNS, EdgeChunk, SharedBuilder};
use super::outputs::ID_GRAPH_SCHEMA;
use super::previous::{PERSON_ID_COLUMN, PREVIOUS_COLUMNS, PreviousGraph};
use super::rules::StitchRules;
use crate::doc_sections::IDENTITY_SECTION;
use crate::literals::table_function_string;
use crate::table_input::{TableInput, new_plan_children, plan_children};

/// The `stitch` table function.
#[derive(Debug, Default)]
pub struct StitchFunction;

/// What `\\f stitch` and the docs say about `stitch` (table functions have no place in
/// `information_schema.routines`).
pub static STITCH_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        IDENTITY_SECTION,
        "Identity stitching: joins identifiers seen together into people and gives each a \
         stable unified_id and a dense person_id (BIGINT, 1, 2, ...: as stable as the \
         unified_id, a new person gets the next number). One row per identifier: id_type, \
         id_value (normalised), unified_id, person_id, component_size, first_seen, last_seen, is_anchor. Placeholders link nothing; hubs \
         (identifiers linked to more distinct identifiers than their type's threshold) are \
         left out; a link that would give a person more identifiers of a type than its limit \
         (default: one member_id) is refused; edges are applied in a fixed priority order, so \
         the result does not depend on input order. With a previous graph, unified ids carry \
         forward (merges keep the oldest id; a split keeps it with the part holding the anchor).",
        "stitch('edge_table' [, rules [, 'previous_graph']])",
    )
    .with_argument(
        "edge_table",
        "A table or view with a_type, a_value, b_type, b_value, seen_at, source.",
    )
    .with_argument(
        "rules",
        "TOML text or the path of a TOML file: priority, [limits], [hubs], [placeholders]; NULL \
         for the defaults.",
    )
    .with_argument(
        "previous_graph",
        "A table with last run's output (id_type, id_value, unified_id, first_seen, is_anchor).",
    )
    .with_sql_example(
        "```sql\n> SELECT unified_id, count(*) FROM stitch('all_identity_edges') GROUP BY 1;\n\
         > SELECT * FROM stitch('all_identity_edges', '[limits]\nmember_id = 2', 'id_graph_yesterday');\n```",
    )
    .build()
});

fn string_argument(expr: &Expr, position: &str) -> Result<Option<String>> {
    table_function_string(
        expr,
        NAME,
        position,
        "stitch('edge_table' [, rules [, 'previous_graph']])",
    )
}

impl TableFunctionImpl for StitchFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.is_empty() || exprs.len() > 3 {
            return plan_err!(
                "stitch takes 1 to 3 arguments, got {}; usage: stitch('edge_table' [, rules \
                 [, 'previous_graph']])",
                exprs.len()
            );
        }
        let Some(edges) = string_argument(&exprs[0], "first")? else {
            return plan_err!("stitch: the edge table name must not be NULL");
        };
        let rules = match exprs.get(1) {
            Some(e) => match string_argument(e, "second (rules)")? {
                Some(text) => StitchRules::from_argument(&text)?,
                None => StitchRules::default(),
            },
            None => StitchRules::default(),
        };
        let previous = match exprs.get(2) {
            Some(e) => string_argument(e, "third (previous graph)")?,
            None => None,
        };
        Ok(Arc::new(StitchTable {
            edges,
            rules: Arc::new(rules),
            previous,
        }))
    }
}

/// The table function's name, in its errors.
pub const NAME: &str = "stitch";

/// A stitching run as a table: the `id_graph` of the named edges.
#[derive(Debug)]
pub struct StitchTable {
    edges: String,
    rules: Arc<StitchRules>,
    previous: Option<String>,
}

#[async_trait]
impl TableProvider for StitchTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&ID_GRAPH_SCHEMA)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(state) = state.as_any().downcast_ref::<SessionState>() else {
            return plan_err!("stitch needs a DataFusion SessionState to find its tables");
        };
        let input = StitchInput::from_tables(
            state,
            &self.edges,
            self.previous.as_deref(),
            Arc::clone(&self.rules),
            0,
        )
        .await?;
        Ok(Arc::new(StitchExec::new(input, projection.cloned())))
    }
}

/// What a stitching run reads.
#[derive(Debug, Clone)]
pub struct StitchInput {
    pub edges: Arc<dyn ExecutionPlan>,
    pub edges_name: String,
    pub previous: Option<Arc<dyn ExecutionPlan>>,
    pub previous_name: Option<String>,
    pub rules: Arc<StitchRules>,
    /// The person numbers already given out (a previous run's high-water mark): new people
    /// are numbered above it and above every number in the previous graph.
    pub person_id_floor: i64,
}

impl StitchInput {
    /// The input of a stitching of the session's table `edges` (the columns of
    /// [`EDGE_COLUMNS`]) with the graph of an earlier run in table `previous` (`id_graph`'s
    /// columns), checked and planned as scans; new people are numbered above
    /// `person_id_floor`.
    pub async fn from_tables(
        state: &SessionState,
        edges: &str,
        previous: Option<&str>,
        rules: Arc<StitchRules>,
        person_id_floor: i64,
    ) -> Result<Self> {
        let edges_plan = TableInput {
            function: NAME,
            table: edges,
            role: "the edges",
        }
        .scan(state, &EDGE_COLUMNS, &[])
        .await?;
        let previous_plan = match previous {
            Some(table) => Some(
                TableInput {
                    function: NAME,
                    table,
                    role: "the previous graph",
                }
                .scan(state, &PREVIOUS_COLUMNS, &[PERSON_ID_COLUMN])
                .await?,
            ),
            None => None,
        };
        Ok(Self {
            edges: edges_plan,
            edges_name: edges.to_string(),
            previous: previous_plan,
            previous_name: previous.map(str::to_string),
            rules,
            person_id_floor,
        })
    }
}

/// Runs a stitching: reads every partition of the edges in parallel (normalising and keying
/// each batch on its own task), then links.
pub async fn run_stitch(input: &StitchInput, context: Arc<TaskContext>) -> Result<Stitched> {
    let started = std::time::Instant::now();
    let builder = Arc::new(SharedBuilder::default());
    let partitions = input
        .edges
        .properties()
        .output_partitioning()
        .partition_count();
    let mut tasks = Vec::with_capacity(partitions);
    for partition in 0..partitions {
        let mut stream = input.edges.execute(partition, Arc::clone(&context))?;
        let builder = Arc::clone(&builder);
        let rules = Arc::clone(&input.rules);
        let name = input.edges_name.clone();
        tasks.push(SpawnedTask::spawn(async move {
            while let Some(batch) = stream.next().await {
                let chunk = EdgeChunk::from_batch(&rules, &batch?, &name)?;
                builder.absorb(chunk, partition)?;
            }
            Ok::<_, DataFusionError>(())
        }));
    }
    for task in tasks {
        task.join_unwind()
            .await
            .map_err(|e| DataFusionError::Execution(format!("stitch: reader task: {e}")))??;
    }
    let previous = match &input.previous {
        Some(plan) => {
            let name = input.previous_name.as_deref().unwrap_or("previous graph");
            let mut graph = PreviousGraph::default();
            let batches =
                datafusion::physical_plan::collect(Arc::clone(plan), Arc::clone(&context)).await?;
            for batch in &batches {
                graph.add_batch(batch, name)?;
            }
            Some(graph)
        }
        None => None,
    };
    let builder = Arc::try_unwrap(builder)
        .map_err(|_| DataFusionError::Internal("stitch: readers still running".into()))?
        .finish()?;
    let rules = Arc::clone(&input.rules);
    let person_id_floor = input.person_id_floor;
    let read_seconds = started.elapsed().as_secs_f64();
    // the linking is one long CPU-bound step: keep it off the async workers
    let mut stitched = SpawnedTask::spawn_blocking(move || {
        Stitched::compute(builder, &rules, previous.as_ref(), person_id_floor)
    })
    .join_unwind()
    .await
    .map_err(|e| DataFusionError::Execution(format!("stitch: {e}")))?;
    stitched.phases.seconds.insert(0, ("read", read_seconds));
    Ok(stitched)
}

/// The physical plan of `stitch(...)`: one output partition, produced when every edge is read.
#[derive(Debug)]
pub struct StitchExec {
    input: StitchInput,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl StitchExec {
    pub fn new(input: StitchInput, projection: Option<Vec<usize>>) -> Self {
        let schema = match &projection {
            Some(p) => Arc::new(
                ID_GRAPH_SCHEMA
                    .project(p)
                    .unwrap_or_else(|_| ID_GRAPH_SCHEMA.as_ref().clone()),
            ),
            None => Arc::clone(&ID_GRAPH_SCHEMA),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            projection,
            schema,
            properties,
        }
    }
}

impl StitchExec {
    /// What the stitching reads.
    pub fn input(&self) -> &StitchInput {
        &self.input
    }

    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }
}

impl DisplayAs for StitchExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "StitchExec: edges={}", self.input.edges_name)?;
        if let Some(previous) = &self.input.previous_name {
            write!(f, ", previous={previous}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for StitchExec {
    fn name(&self) -> &'static str {
        "StitchExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        plan_children(&self.input.edges, self.input.previous.as_ref())
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false; self.children().len()]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (edges, previous) = new_plan_children("StitchExec", children, self.children().len())?;
        let mut input = self.input.clone();
        input.edges = edges;
        input.previous = previous;
        Ok(Arc::new(StitchExec::new(input, self.projection.clone())))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(
                datafusion::physical_plan::execution_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return plan_err!("StitchExec has one partition, asked for {partition}");
        }
        let input = self.input.clone();
        let projection = self.projection.clone();
        let batch_size = context.session_config().batch_size();
        let batches = futures::stream::once(async move {
            let stitched = Arc::new(run_stitch(&input, context).await?);
            let nodes = Arc::new(stitched.graph_identifiers());
            let starts = (0..nodes.len()).step_by(batch_size.max(1));
            // rows are built batch by batch as the consumer asks for them
            let batches = starts.map(move |start| {
                let end = (start + batch_size.max(1)).min(nodes.len());
                let batch = stitched.id_graph_batch(&nodes[start..end])?;
                match &projection {
                    Some(p) => Ok::<_, DataFusionError>(batch.project(p)?),
                    None => Ok(batch),
                }
            });
            Ok::<_, DataFusionError>(futures::stream::iter(batches))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        )))
    }
}
