//! Queries distributed over `userlake worker` processes, built on datafusion-distributed.
//!
//! The process that plans stays the coordinator: its catalog, views, table functions and
//! optimizer rules work as on one machine, and the distributed planner cuts the finished
//! physical plan into stages whose tasks run on the workers. A worker receives plan fragments
//! only: functions travel by name (every worker registers all of userlake's), userlake's own
//! plans through [`UserlakeCodec`], and object-store credentials come from each worker's own
//! environment, never from the plan.
//!
//! Every request carries the coordinator's build tag, and a worker of another build refuses
//! it: two builds may disagree on a function's state or a plan's encoding, and a mixed cluster
//! would then give wrong numbers rather than an error.

#[cfg(feature = "cluster")]
mod codec;
#[cfg(feature = "cluster")]
mod coordinator;
#[cfg(feature = "cluster")]
mod worker;

#[cfg(feature = "cluster")]
pub use codec::UserlakeCodec;
#[cfg(feature = "cluster")]
pub use coordinator::{LiveWorkers, distribute, name_dead_workers, workers_of};
#[cfg(feature = "cluster")]
pub use worker::{WorkerArgs, run_worker};

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};

use crate::error::{Error, Result};

/// The request header that carries the coordinator's build tag to the workers.
pub const BUILD_HEADER: &str = "x-userlake-build";

/// The build this process runs: the package version and the commit it was built from.
/// `USERLAKE_BUILD_TAG` replaces it, for deployments that tag builds their own way (the same
/// value must then be set on the coordinator and every worker).
pub fn build_tag() -> String {
    std::env::var("USERLAKE_BUILD_TAG")
        .ok()
        .filter(|tag| !tag.trim().is_empty())
        .unwrap_or_else(|| {
            concat!(env!("CARGO_PKG_VERSION"), "+", env!("USERLAKE_COMMIT")).to_string()
        })
}

/// The workers of `--workers` / `USERLAKE_WORKERS`: `http://HOST:PORT` or `HOST:PORT`, each
/// given once.
pub fn parse_workers(list: &[String]) -> Result<Vec<url::Url>> {
    let mut workers: Vec<url::Url> = Vec::new();
    for entry in list.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let text = if entry.contains("://") {
            entry.to_string()
        } else {
            format!("http://{entry}")
        };
        let url = url::Url::parse(&text).map_err(|e| {
            Error::usage(format!(
                "--workers: {entry:?} is not a worker address ({e}); give HOST:PORT or \
                 http://HOST:PORT, separated by commas"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::usage(format!(
                "--workers: {entry:?} is not a worker address; give HOST:PORT or \
                 http://HOST:PORT (a worker speaks gRPC over http or https)"
            )));
        }
        if url.port_or_known_default().is_none() || url.path() != "/" {
            return Err(Error::usage(format!(
                "--workers: {entry:?} must be HOST:PORT, without a path"
            )));
        }
        if workers.contains(&url) {
            return Err(Error::usage(format!("--workers: {entry:?} is given twice")));
        }
        workers.push(url);
    }
    Ok(workers)
}

/// The query of a plain `EXPLAIN query` (not `EXPLAIN ANALYZE`, `VERBOSE` or `FORMAT`).
/// DataFusion's own EXPLAIN shows the plan before the distributed planner cuts it into stages,
/// so on a distributed session userlake shows the distributed plan instead.
pub fn plain_explain(statement: &str) -> Option<&str> {
    let text = statement.trim_start();
    let (first, rest) = text.split_once(char::is_whitespace)?;
    if !first.eq_ignore_ascii_case("explain") {
        return None;
    }
    let next = rest.split_whitespace().next()?;
    let options = ["analyze", "verbose", "format"];
    if options.iter().any(|o| next.eq_ignore_ascii_case(o)) {
        return None;
    }
    Some(rest.trim())
}

/// The distributed plan of `query` on `ctx`, as DataFusion's EXPLAIN shows a plan: one row of
/// `plan_type` and `plan`.
pub async fn explain_distributed(
    ctx: &datafusion::prelude::SessionContext,
    query: &str,
) -> datafusion::error::Result<RecordBatch> {
    let plan = ctx.sql(query).await?.create_physical_plan().await?;
    #[cfg(feature = "cluster")]
    let shown = datafusion_distributed::display_plan_ascii(plan.as_ref(), false);
    #[cfg(not(feature = "cluster"))]
    let shown = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    Ok(RecordBatch::try_from_iter(vec![
        (
            "plan_type",
            Arc::new(StringArray::from(vec!["distributed_plan"])) as ArrayRef,
        ),
        ("plan", Arc::new(StringArray::from(vec![shown]))),
    ])?)
}

/// Whether `ctx` distributes its queries over workers.
pub fn is_distributed(ctx: &datafusion::prelude::SessionContext) -> bool {
    #[cfg(feature = "cluster")]
    {
        workers_of(ctx).is_some()
    }
    #[cfg(not(feature = "cluster"))]
    {
        let _ = ctx;
        false
    }
}

/// Why `statement` cannot run on a session distributed over workers, if it cannot: a `SET` of
/// a DataFusion option that acts while a query runs. datafusion-distributed gives each worker
/// task DataFusion's default options, so such a setting (`datafusion.execution.time_zone`,
/// for one) would hold on the coordinator only, and the workers' rows would silently differ.
/// Options that act while planning (`datafusion.optimizer.*`, `datafusion.sql_parser.*`,
/// `datafusion.explain.*`) and `distributed.*` are fine: planning happens here.
pub fn refused_with_workers(distributed: bool, statement: &str) -> Option<String> {
    if !distributed {
        return None;
    }
    let mut words = statement.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("set") {
        return None;
    }
    let mut key = words.next()?.to_ascii_lowercase();
    if key == "local" || key == "session" {
        key = words.next()?.to_ascii_lowercase();
    }
    let key = key.trim_end_matches(['=', ';']).to_string();
    let planning = [
        "datafusion.optimizer.",
        "datafusion.sql_parser.",
        "datafusion.explain.",
    ];
    if !key.starts_with("datafusion.") || planning.iter().any(|p| key.starts_with(p)) {
        return None;
    }
    Some(format!(
        "SET {key} cannot be used with --workers: workers run every query with DataFusion's \
         default options (datafusion-distributed does not send them), so the setting would \
         hold on this process only and the workers' rows would differ; run without --workers, \
         or set the option on every process where it has a flag (--memory-limit, \
         --target-partitions)"
    ))
}

/// Without the `cluster` feature no worker can die.
#[cfg(not(feature = "cluster"))]
pub async fn name_dead_workers(
    _ctx: &datafusion::prelude::SessionContext,
    error: datafusion::error::DataFusionError,
) -> datafusion::error::DataFusionError {
    error
}

/// Without the `cluster` feature there is nothing to distribute over.
#[cfg(not(feature = "cluster"))]
pub async fn distribute(
    _state: datafusion::execution::SessionStateBuilder,
    _workers: &[url::Url],
    _bytes_per_task: Option<usize>,
) -> Result<datafusion::execution::SessionStateBuilder> {
    Err(Error::usage(
        "--workers: this userlake was built without the `cluster` feature",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_addresses_are_read_or_named_in_the_error() {
        let workers = parse_workers(&[
            "127.0.0.1:50061".to_string(),
            " http://worker-2:7000 ".to_string(),
            String::new(),
        ])
        .unwrap();
        let shown: Vec<String> = workers.iter().map(|u| u.to_string()).collect();
        assert_eq!(shown, ["http://127.0.0.1:50061/", "http://worker-2:7000/"]);
        for (bad, says) in [
            ("ftp://host:1", "not a worker address"),
            ("http://host:1/path", "without a path"),
            ("host:notaport", "not a worker address"),
        ] {
            let err = parse_workers(&[bad.to_string()]).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains(says), "{bad}: {err}");
        }
        let twice = parse_workers(&["a:1".to_string(), "http://a:1".to_string()]);
        assert!(twice.unwrap_err().to_string().contains("given twice"));
    }

    #[test]
    fn plain_explains_are_told_apart() {
        assert_eq!(plain_explain("EXPLAIN SELECT 1"), Some("SELECT 1"));
        assert_eq!(plain_explain("  explain\n  SELECT 1 "), Some("SELECT 1"));
        for other in [
            "EXPLAIN ANALYZE SELECT 1",
            "explain verbose SELECT 1",
            "EXPLAIN FORMAT tree SELECT 1",
            "SELECT 'EXPLAIN'",
            "EXPLAIN",
        ] {
            assert_eq!(plain_explain(other), None, "{other}");
        }
    }

    #[test]
    fn options_that_act_while_running_are_refused_with_workers() {
        for refused in [
            "SET datafusion.execution.time_zone = '+08:00'",
            "set  DATAFUSION.EXECUTION.BATCH_SIZE=10",
            "SET LOCAL datafusion.execution.target_partitions TO 2;",
        ] {
            let message = refused_with_workers(true, refused);
            assert!(
                message.is_some_and(|m| m.contains("datafusion.execution.")),
                "{refused}"
            );
            assert_eq!(refused_with_workers(false, refused), None);
        }
        for allowed in [
            "SET datafusion.optimizer.prefer_hash_join = false",
            "SET distributed.file_scan_config_bytes_per_partition = 1000",
            "SELECT 'SET datafusion.execution.time_zone'",
            "settle",
        ] {
            assert_eq!(refused_with_workers(true, allowed), None, "{allowed}");
        }
    }
}
