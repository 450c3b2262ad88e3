//! The coordinator's side: a session whose queries are planned here and run on the workers.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result as DataFusionResult};
use datafusion::execution::SessionStateBuilder;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion_distributed::grpc::{DefaultChannelResolver, create_worker_client};
use datafusion_distributed::{
    DesiredTaskCountEvent, DesiredTaskCountEventResponse, DistributedExt, GetWorkerInfoRequest,
    SessionStateBuilderExt, WorkerResolver,
};
use futures::future::join_all;
use http::{HeaderMap, HeaderValue};
use url::Url;
use userlake_udfs::referral::ReferralTreeExec;
use userlake_udfs::stitch::StitchExec;

use super::{BUILD_HEADER, UserlakeCodec, build_tag};
use crate::error::{Error, Result};

/// How long a worker may take to answer "who are you" before it counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a long-lived session looks at its workers again.
const PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// The workers of `--workers` that answer, as the planner asks for them: those that stop
/// answering are left out of the next queries, and come back when they answer again.
#[derive(Debug, Clone)]
struct LiveWorkers {
    listed: Vec<Url>,
    live: Arc<RwLock<Vec<Url>>>,
}

impl WorkerResolver for LiveWorkers {
    fn get_urls(&self) -> DataFusionResult<Vec<Url>> {
        let live = self
            .live
            .read()
            .map_err(|_| DataFusionError::Internal("the worker list lock is poisoned".into()))?
            .clone();
        if live.is_empty() {
            return Err(DataFusionError::Execution(format!(
                "no worker of --workers answers ({}): start them with `userlake worker`",
                shown(&self.listed)
            )));
        }
        Ok(live)
    }
}

fn shown(urls: &[Url]) -> String {
    urls.iter()
        .map(|u| u.as_str().trim_end_matches('/'))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What asking a worker for its build gave.
enum Probe {
    Live,
    OtherBuild(String),
    Down(String),
}

async fn probe(channels: &DefaultChannelResolver, url: &Url, tag: &str) -> Probe {
    let asked = tokio::time::timeout(PROBE_TIMEOUT, async {
        let channel = channels.get_channel(url).await?;
        create_worker_client(channel)
            .get_worker_info(GetWorkerInfoRequest {})
            .await
    })
    .await;
    match asked {
        Ok(Ok(info)) if info.version == tag => Probe::Live,
        Ok(Ok(info)) => Probe::OtherBuild(info.version),
        Ok(Err(e)) => Probe::Down(e.to_string()),
        Err(_) => Probe::Down(format!("no answer in {} s", PROBE_TIMEOUT.as_secs())),
    }
}

/// The listed workers that answer with this build. A worker of another build is an error
/// when `strict` (at start, where the user can act on it) and is left out otherwise.
async fn live_workers(
    channels: &DefaultChannelResolver,
    listed: &[Url],
    tag: &str,
    strict: bool,
) -> Result<Vec<Url>> {
    let probes = join_all(listed.iter().map(|url| probe(channels, url, tag))).await;
    let mut live = Vec::new();
    for (url, probe) in listed.iter().zip(probes) {
        let worker = url.as_str().trim_end_matches('/');
        match probe {
            Probe::Live => live.push(url.clone()),
            Probe::OtherBuild(version) if strict => {
                return Err(Error::usage(format!(
                    "--workers: worker {worker} runs userlake build {version:?}, this process \
                     {tag:?}: start workers from the same build (or set the same \
                     USERLAKE_BUILD_TAG on all of them)"
                )));
            }
            Probe::OtherBuild(version) => {
                log::warn!("worker {worker} now runs build {version:?}, not {tag:?}: left out");
            }
            Probe::Down(reason) => {
                log::warn!("worker {worker} does not answer ({reason}): left out");
            }
        }
    }
    if live.is_empty() && strict {
        return Err(Error::usage(format!(
            "--workers: no worker answers ({}): start them with `userlake worker --listen \
             HOST:PORT`",
            shown(listed)
        )));
    }
    Ok(live)
}

/// Looks at the workers again every [`PROBE_INTERVAL`] while the session lives.
fn keep_probing(listed: Vec<Url>, live: Weak<RwLock<Vec<Url>>>, tag: String) {
    tokio::spawn(async move {
        let channels = DefaultChannelResolver::default();
        loop {
            tokio::time::sleep(PROBE_INTERVAL).await;
            let Some(shared) = live.upgrade() else { break };
            if let Ok(now) = live_workers(&channels, &listed, &tag, false).await
                && let Ok(mut current) = shared.write()
            {
                *current = now;
            }
        }
    });
}

/// `state` with its queries distributed over `workers`: datafusion-distributed's planner
/// after DataFusion's, userlake's codec, the build tag on every request, and userlake's plans
/// that must see all of their input kept to one task. Fails when no worker answers or one
/// runs another build.
pub async fn distribute(
    state: SessionStateBuilder,
    workers: &[Url],
    bytes_per_task: Option<usize>,
) -> Result<SessionStateBuilder> {
    let tag = build_tag();
    let mut headers = HeaderMap::new();
    headers.insert(
        BUILD_HEADER,
        HeaderValue::from_str(&tag).map_err(|e| {
            Error::usage(format!(
                "USERLAKE_BUILD_TAG {tag:?} cannot be sent in a request header: {e}"
            ))
        })?,
    );
    let live = live_workers(&DefaultChannelResolver::default(), workers, &tag, true).await?;
    log::info!(
        "distributing queries over {} of {} workers: {}",
        live.len(),
        workers.len(),
        shown(&live)
    );
    let live = Arc::new(RwLock::new(live));
    keep_probing(workers.to_vec(), Arc::downgrade(&live), tag);
    let mut state = state
        .with_distributed_worker_resolver(LiveWorkers {
            listed: workers.to_vec(),
            live,
        })
        .with_distributed_user_codec(UserlakeCodec)
        .with_distributed_passthrough_headers(headers)?
        .with_distributed_desired_task_count_handler(single_task_plans)
        .with_physical_optimizer_rule(Arc::new(GatherTableFunctionInputs))
        .with_distributed_planner();
    if let Some(bytes) = bytes_per_task {
        state = state.with_distributed_file_scan_config_bytes_per_partition(bytes.max(1))?;
    }
    Ok(state)
}

/// Puts the inputs of `stitch` and `referral_tree` behind a `CoalescePartitionsExec`, where
/// the distributed planner places a network boundary: what they read is then scanned by as
/// many tasks as the files allow, and only the linking is one task. (On one machine they read
/// their input's partitions in parallel themselves, so this rule is added with workers only.)
#[derive(Debug)]
struct GatherTableFunctionInputs;

impl PhysicalOptimizerRule for GatherTableFunctionInputs {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> DataFusionResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if !(node.is::<StitchExec>() || node.is::<ReferralTreeExec>()) {
                return Ok(Transformed::no(node));
            }
            let children: Vec<Arc<dyn ExecutionPlan>> = node
                .children()
                .into_iter()
                .map(|child| {
                    if child.output_partitioning().partition_count() > 1 {
                        Arc::new(CoalescePartitionsExec::new(Arc::clone(child)))
                            as Arc<dyn ExecutionPlan>
                    } else {
                        Arc::clone(child)
                    }
                })
                .collect();
            let options = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
            Ok(Transformed::yes(node.replace_children(children, options)?))
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "userlake_gather_table_function_inputs"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `stitch` and `referral_tree` link everything they read into one graph: a task that saw
/// only its share of the edges would stitch a different graph. They run as one task, and what
/// feeds them is distributed up to the last shuffle below them.
fn single_task_plans(
    event: DesiredTaskCountEvent,
) -> Option<DataFusionResult<DesiredTaskCountEventResponse>> {
    let plan = event.plan;
    (plan.is::<StitchExec>() || plan.is::<ReferralTreeExec>())
        .then(|| Ok(DesiredTaskCountEventResponse::maximum(1)))
}
