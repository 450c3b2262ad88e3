//! The coordinator's side: a session whose queries are planned here and run on the workers.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result as DataFusionResult};
use datafusion::execution::SessionStateBuilder;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion::prelude::SessionContext;
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
/// answering are left out of the next queries, and come back when they answer again. Kept in
/// the session's config too, so that a failed query can name the worker that died.
#[derive(Clone)]
pub struct LiveWorkers {
    listed: Vec<Url>,
    live: Arc<RwLock<Vec<Url>>>,
    channels: DefaultChannelResolver,
    tag: String,
}

impl std::fmt::Debug for LiveWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveWorkers")
            .field("listed", &self.listed)
            .field("live", &self.live_now())
            .finish()
    }
}

impl WorkerResolver for LiveWorkers {
    fn get_urls(&self) -> DataFusionResult<Vec<Url>> {
        let live = self.live_now();
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
    /// It refused the connection or the call: it is not there.
    Down(String),
    /// No answer in time: down, or too busy to answer.
    Silent,
}

impl LiveWorkers {
    fn live_now(&self) -> Vec<Url> {
        self.live
            .read()
            .map(|live| live.clone())
            .unwrap_or_default()
    }

    fn set_live(&self, live: Vec<Url>) {
        if let Ok(mut current) = self.live.write() {
            *current = live;
        }
    }

    async fn probe(&self, url: &Url) -> Probe {
        let asked = tokio::time::timeout(PROBE_TIMEOUT, async {
            let channel = self.channels.get_channel(url).await?;
            create_worker_client(channel)
                .get_worker_info(GetWorkerInfoRequest {})
                .await
        })
        .await;
        match asked {
            Ok(Ok(info)) if info.version == self.tag => Probe::Live,
            Ok(Ok(info)) => Probe::OtherBuild(info.version),
            Ok(Err(e)) => Probe::Down(e.find_root().to_string()),
            Err(_) => Probe::Silent,
        }
    }

    async fn probe_all(&self) -> Vec<Probe> {
        join_all(self.listed.iter().map(|url| self.probe(url))).await
    }

    /// Asks every listed worker, at start: a worker of another build is an error the user
    /// must act on, and so is a cluster where none answers.
    async fn first_probe(&self) -> Result<()> {
        let mut live = Vec::new();
        for (url, probe) in self.listed.iter().zip(self.probe_all().await) {
            let worker = url.as_str().trim_end_matches('/');
            match probe {
                Probe::Live => live.push(url.clone()),
                Probe::OtherBuild(version) => {
                    return Err(Error::usage(format!(
                        "--workers: worker {worker} runs userlake build {version:?}, this \
                         process {:?}: start workers from the same build (or set the same \
                         USERLAKE_BUILD_TAG on all of them)",
                        self.tag
                    )));
                }
                Probe::Down(reason) => {
                    log::warn!("worker {worker} does not answer ({reason}): left out")
                }
                Probe::Silent => log::warn!(
                    "worker {worker} does not answer in {} s: left out",
                    PROBE_TIMEOUT.as_secs()
                ),
            }
        }
        if live.is_empty() {
            return Err(Error::usage(format!(
                "--workers: no worker answers ({}): start them with `userlake worker --listen \
                 HOST:PORT`",
                shown(&self.listed)
            )));
        }
        log::debug!(
            "distributing queries over {} of {} workers: {}",
            live.len(),
            self.listed.len(),
            shown(&live)
        );
        self.set_live(live);
        Ok(())
    }

    /// Asks every listed worker again: one that refuses the connection or runs another build
    /// is left out, one that is only slow to answer (busy) keeps its place. Changes are
    /// logged once, when they happen. Returns the workers that refuse connections now.
    async fn probe_again(&self) -> Vec<Url> {
        let before = self.live_now();
        let mut live = Vec::new();
        let mut gone = Vec::new();
        for (url, probe) in self.listed.iter().zip(self.probe_all().await) {
            let worker = url.as_str().trim_end_matches('/');
            let was_live = before.contains(url);
            match probe {
                Probe::Live => {
                    if !was_live {
                        log::info!("worker {worker} answers again: queries use it");
                    }
                    live.push(url.clone());
                }
                Probe::Silent if was_live => live.push(url.clone()),
                Probe::OtherBuild(version) if was_live => {
                    log::warn!("worker {worker} now runs build {version:?}: left out")
                }
                Probe::Down(reason) => {
                    if was_live {
                        log::warn!("worker {worker} does not answer ({reason}): left out");
                    }
                    gone.push(url.clone());
                }
                Probe::Silent | Probe::OtherBuild(_) => {}
            }
        }
        self.set_live(live);
        gone
    }
}

/// The workers `ctx` distributes over, if it does.
pub fn workers_of(ctx: &SessionContext) -> Option<Arc<LiveWorkers>> {
    ctx.state_ref()
        .read()
        .config()
        .get_extension::<LiveWorkers>()
}

/// Looks at the workers again every [`PROBE_INTERVAL`] while the session lives.
fn keep_probing(workers: &LiveWorkers) {
    let live = Arc::downgrade(&workers.live);
    let (listed, channels, tag) = (
        workers.listed.clone(),
        workers.channels.clone(),
        workers.tag.clone(),
    );
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(PROBE_INTERVAL).await;
            let Some(live) = live.upgrade() else { break };
            let workers = LiveWorkers {
                listed: listed.clone(),
                live,
                channels: channels.clone(),
                tag: tag.clone(),
            };
            workers.probe_again().await;
        }
    });
}

/// `error`, of a query on a distributed session, with the workers that died named: the
/// transport's own error ("h2 protocol error", "broken pipe") does not say which.
pub async fn name_dead_workers(ctx: &SessionContext, error: DataFusionError) -> DataFusionError {
    let Some(workers) = workers_of(ctx) else {
        return error;
    };
    if matches!(
        error.find_root(),
        DataFusionError::Plan(_) | DataFusionError::SQL(..)
    ) {
        return error;
    }
    let gone = workers.probe_again().await;
    if gone.is_empty() {
        return error;
    }
    DataFusionError::Execution(format!(
        "worker {} stopped answering during the query (it died or was stopped), so the query \
         failed; the next queries run on the workers that answer. The error was: {error}",
        shown(&gone)
    ))
}

/// `state` with its queries distributed over `workers`: datafusion-distributed's planner
/// after DataFusion's, userlake's codec, the build tag on every request, and userlake's plans
/// that must see all of their input kept to one task. Fails when no worker answers or one
/// runs another build.
pub async fn distribute(
    mut state: SessionStateBuilder,
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
    let live = LiveWorkers {
        listed: workers.to_vec(),
        live: Arc::default(),
        channels: DefaultChannelResolver::default(),
        tag,
    };
    live.first_probe().await?;
    keep_probing(&live);
    if let Some(config) = state.config().take() {
        *state.config() = Some(config.with_extension(Arc::new(live.clone())));
    }
    let mut state = state
        .with_distributed_worker_resolver(live)
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
