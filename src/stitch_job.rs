//! `userlake stitch`: identity stitching as a nightly job. Reads the edges (by default the
//! recorded links plus the identifiers seen together on events and orders), stitches under the
//! rules, carries unified ids forward from the previous run, and writes `id_graph`,
//! `rejected_edges`, `merge_log` and `run_stats` (Parquet, one directory each) into `--out`,
//! all four published together once every one is written.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};
use userlake_udfs::stitch::{
    EDGE_COLUMNS, Explanation, ID_GRAPH_SCHEMA, MERGE_LOG_SCHEMA, REJECTED_EDGES_SCHEMA,
    RUN_STATS_SCHEMA, StitchInput, StitchRules, Stitched, parse_identifier, run_stitch,
};

use crate::error::{Error, Result};
use crate::output::{OutputFormat, write_batches_to_file, write_parquet_atomically};
use crate::query::execute;
use crate::script::split_statements;
use crate::storage::{Storage, staging_dir};

/// The edges stitched by default: a view made by the bundled `sql/identity_edges.sql`.
pub const DEFAULT_EDGES: &str = "all_identity_edges";
const IDENTITY_EDGES_SQL: &str = include_str!("../sql/identity_edges.sql");
const IDENTIFIER_SETS_SQL: &str = include_str!("../sql/identifier_sets.sql");
/// Outside the nightly job, the identifier sets are computed from every event and order.
const WHOLE_LAKE_SETS: &str = "CREATE VIEW new_events AS SELECT * FROM events; \
     CREATE VIEW new_orders AS SELECT * FROM orders;";
const SETS_FROM_PART: &str = "CREATE VIEW identifier_sets AS SELECT * FROM identifier_sets_part;";
const PREVIOUS_TABLE: &str = "previous_id_graph";

pub struct StitchOptions {
    pub edges: String,
    pub rules: Option<PathBuf>,
    /// The output location (directory or `s3://` prefix) of an earlier run, whose `id_graph`
    /// carries unified ids forward.
    pub previous: Option<String>,
}

/// The statements that define `all_identity_edges` from every event and order of the lake
/// (the nightly job reads only new partitions and keeps the identifier sets between runs).
pub fn whole_lake_edges_script() -> String {
    [
        WHOLE_LAKE_SETS,
        IDENTIFIER_SETS_SQL,
        SETS_FROM_PART,
        IDENTITY_EDGES_SQL,
    ]
    .join("\n")
}

/// What a run did, for the summary line.
pub struct StitchSummary {
    pub identifiers: usize,
    pub components: usize,
    pub hubs: usize,
    pub seconds: f64,
    /// `step 1.23s` for each step of the run.
    pub phases: Vec<String>,
}

/// Stitches the edges named in `options` in the session's lake.
pub async fn stitch(ctx: &SessionContext, options: &StitchOptions) -> Result<Stitched> {
    let rules = match &options.rules {
        Some(path) => StitchRules::from_file(path).map_err(Error::DataFusion)?,
        None => StitchRules::default(),
    };
    if options.edges == DEFAULT_EDGES && !ctx.table_exist(DEFAULT_EDGES)? {
        for statement in split_statements(&whole_lake_edges_script()) {
            execute(ctx, &statement).await.map_err(|e| {
                Error::context(
                    "deriving identity edges (sql/identifier_sets.sql and \
                     sql/identity_edges.sql; the lake needs \
                     identity_edges, events and orders, or pass --edges TABLE)",
                    e,
                )
            })?;
        }
    }
    let mut person_id_floor = 0;
    let previous_name = match &options.previous {
        Some(location) => {
            let earlier = Storage::open_text(&ctx.runtime_env(), location)?;
            person_id_floor = person_id_high_water(ctx, &earlier).await?;
            if earlier.list("id_graph").await?.is_empty() {
                return Err(Error::usage(format!(
                    "--previous {location}: no id_graph there (the --out of an earlier \
                     `userlake stitch`)"
                )));
            }
            ctx.register_parquet(
                PREVIOUS_TABLE,
                earlier.url("id_graph/"),
                ParquetReadOptions::default(),
            )
            .await?;
            Some(PREVIOUS_TABLE.to_string())
        }
        None => None,
    };
    let mut input = StitchInput::from_tables(
        &ctx.state(),
        &options.edges,
        previous_name.as_deref(),
        Arc::new(rules),
        person_id_floor,
    )
    .await?;
    // the previous graph is named by where it was read from, not by its table here
    input.previous_name = options.previous.clone();
    // Stitching here runs outside a query, so the edges are planned by the session's own
    // planner: with --workers, their derivation (the identifier sets, the edge view) runs on
    // the workers and only the linking runs in this process.
    input.edges = ctx
        .table(options.edges.as_str())
        .await?
        .select_columns(&EDGE_COLUMNS)?
        .create_physical_plan()
        .await?;
    Ok(run_stitch(&input, ctx.task_ctx()).await?)
}

/// The largest person number an earlier run gave out, from its `run_stats` (0 without one):
/// a number that left the graph (its person merged into another) is never given again.
async fn person_id_high_water(ctx: &SessionContext, earlier: &Storage) -> Result<i64> {
    if earlier.list("run_stats").await?.is_empty() {
        return Ok(0);
    }
    let run_stats = ctx
        .read_parquet(earlier.url("run_stats/"), ParquetReadOptions::default())
        .await?;
    run_stat(run_stats, "person_id", "high_water").await
}

/// The value of row (`stat`, `key`) of a stitch run's `run_stats`, or 0 when it has none.
pub async fn run_stat(run_stats: DataFrame, stat: &str, key: &str) -> Result<i64> {
    use datafusion::prelude::{col, lit};
    let frame = run_stats
        .filter(col("stat").eq(lit(stat)).and(col("key").eq(lit(key))))?
        .aggregate(
            vec![],
            vec![datafusion::functions_aggregate::expr_fn::max(col("value"))],
        )?;
    let batches = frame.collect().await?;
    Ok(batches
        .first()
        .filter(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .filter(|a| a.is_valid(0))
                .map(|a| a.value(0))
        })
        .unwrap_or(0))
}

/// Runs the job and publishes its four outputs under `out` (a directory or `s3://` prefix).
pub async fn run_stitch_job(
    ctx: &SessionContext,
    options: &StitchOptions,
    out: &Storage,
) -> Result<StitchSummary> {
    let started = Instant::now();
    let stitched = stitch(ctx, options).await?;
    let computed = Instant::now();
    let staging = staging_dir(out)?;
    let config = ctx.state().config().clone();
    let (batch_size, writers) = (
        config.batch_size().max(1),
        config.target_partitions().max(1),
    );
    let nodes = stitched.graph_identifiers();
    if nodes.is_empty() {
        // an empty graph is still a readable table
        write_parquet_atomically(
            &staging.path().join("id_graph/part-0.parquet"),
            &ID_GRAPH_SCHEMA,
            &[],
            std::iter::empty(),
        )?;
    }
    // id_graph: one file per core, each written by its own thread, rows in key order
    // throughout; the audit tables are written alongside
    let per_file = nodes.len().div_ceil(writers).max(1);
    let graph_dir = staging.path().join("id_graph");
    let stitched = &stitched;
    std::thread::scope(|scope| {
        let mut handles: Vec<_> = nodes
            .chunks(per_file)
            .enumerate()
            .map(|(part, slice)| {
                let file = graph_dir.join(format!("part-{part}.parquet"));
                scope.spawn(move || {
                    write_parquet_atomically(
                        &file,
                        &ID_GRAPH_SCHEMA,
                        &["id_value", "unified_id", "first_seen", "last_seen"],
                        slice
                            .chunks(batch_size)
                            .map(|chunk| stitched.id_graph_batch(chunk).map_err(Error::from)),
                    )
                })
            })
            .collect();
        let staging = staging.path();
        handles.push(scope.spawn(move || {
            let tables: [(&str, &SchemaRef, RecordBatch); 3] = [
                (
                    "rejected_edges",
                    &REJECTED_EDGES_SCHEMA,
                    stitched.rejected_edges()?,
                ),
                ("merge_log", &MERGE_LOG_SCHEMA, stitched.merge_log()?),
                ("run_stats", &RUN_STATS_SCHEMA, stitched.run_stats()?),
            ];
            for (name, schema, batch) in tables {
                let file = staging.join(name).join("part-0.parquet");
                write_batches_to_file(&file, OutputFormat::Parquet, schema, &[batch])?;
            }
            Ok(())
        }));
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| Error::usage("stitch: an output writer failed"))?
        })
    })?;
    drop(nodes);
    out.publish_from(staging.path()).await?;
    let mut phases: Vec<String> = stitched
        .phases
        .seconds
        .iter()
        .map(|(name, seconds)| format!("{name} {seconds:.2}s"))
        .collect();
    phases.push(format!("write {:.2}s", computed.elapsed().as_secs_f64()));
    Ok(StitchSummary {
        identifiers: stitched
            .component
            .iter()
            .filter(|&&c| c != u32::MAX)
            .count(),
        components: stitched.components.len(),
        phases,
        hubs: stitched.hub.iter().filter(|&&h| h).count(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Explains how two `type:value` identifiers were joined or kept apart.
pub async fn explain(
    ctx: &SessionContext,
    options: &StitchOptions,
    a: &str,
    b: &str,
) -> Result<Explanation> {
    let parse = |text: &str| {
        parse_identifier(text).ok_or_else(|| {
            Error::usage(format!(
                "--explain {text:?}: expected TYPE:VALUE, e.g. phone:13812345678 or \
                 openid:APP_ID:OPENID"
            ))
        })
    };
    let (a, b) = (parse(a)?, parse(b)?);
    let stitched = stitch(ctx, options).await?;
    Ok(stitched.explain((&a.0, &a.1), (&b.0, &b.1)))
}
