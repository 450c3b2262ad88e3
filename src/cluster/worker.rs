//! `userlake worker`: runs the plan fragments a coordinator sends, with every userlake
//! function registered and object stores that read credentials from this process's
//! environment.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion_distributed::{DistributedExt, Worker, WorkerQueryContext, WorkerSessionBuilder};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use super::{BUILD_HEADER, UserlakeCodec, build_tag};
use crate::cli::parse_size_arg;
use crate::error::{Error, Result};
use crate::listener::bind;
use crate::session::{SessionOptions, runtime_env, with_spill_reservation};

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:50061")]
    pub listen: SocketAddr,
    /// Memory this worker's tasks may use before spilling to disk, e.g. 4G (default: no limit).
    #[arg(long, value_parser = parse_size_arg)]
    pub memory_limit: Option<usize>,
    /// Directory for spill files (default: the OS temporary directory).
    #[arg(long)]
    pub spill_dir: Option<PathBuf>,
}

/// Builds each task's session: userlake's functions and codec, after checking that the
/// coordinator runs the same build.
struct UserlakeWorkerSession {
    tag: String,
    address: SocketAddr,
    memory_limit: Option<usize>,
}

#[async_trait]
impl WorkerSessionBuilder for UserlakeWorkerSession {
    async fn build_session_state(
        &self,
        ctx: WorkerQueryContext,
    ) -> std::result::Result<SessionState, DataFusionError> {
        let coordinator_tag = ctx
            .headers
            .get(BUILD_HEADER)
            .and_then(|value| value.to_str().ok());
        if coordinator_tag != Some(self.tag.as_str()) {
            let message = format!(
                "userlake worker {} runs build {}, the coordinator {}: start workers from the \
                 same build as the coordinator (or set the same USERLAKE_BUILD_TAG on both)",
                self.address,
                self.tag,
                coordinator_tag.unwrap_or("(none: not a userlake coordinator)")
            );
            log::warn!("{message}");
            return Err(DataFusionError::Execution(message));
        }
        let mut builder = ctx.builder;
        if let Some(limit) = self.memory_limit
            && let Some(config) = builder.config().take()
        {
            *builder.config() = Some(with_spill_reservation(config, limit));
        }
        let mut state = builder.with_distributed_user_codec(UserlakeCodec).build();
        userlake_udfs::register_all(&mut state)?;
        Ok(state)
    }
}

/// Serves until `shutdown` completes; the bound address is printed first, so that
/// `--listen 127.0.0.1:0` picks a free port that scripts can read.
pub async fn run_worker(args: WorkerArgs, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
    let runtime = runtime_env(&SessionOptions {
        memory_limit: args.memory_limit,
        spill_dir: args.spill_dir.clone(),
        ..SessionOptions::default()
    })?;
    let (listener, bound) = bind(args.listen).await?;
    let tag = build_tag();
    let worker = Worker::from_session_builder(UserlakeWorkerSession {
        tag: tag.clone(),
        address: bound,
        memory_limit: args.memory_limit,
    })
    .with_runtime_env(runtime)
    .with_version(tag.clone());

    println!("userlake worker: listening on http://{bound} (build {tag})");
    // Scripts wait for this line; a block-buffered pipe would hold it back.
    use std::io::Write as _;
    let _ = std::io::stdout().flush();

    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .add_service(worker.into_worker_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| Error::context("the worker stopped", e))?;
    log::info!("userlake worker: stopped");
    Ok(())
}
