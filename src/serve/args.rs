//! `userlake serve`'s command-line arguments, and the signals that stop the server.

use std::path::PathBuf;

use clap::Args;

use super::{Authenticator, QueryLimits, ServeOptions};
use crate::cli::{SessionArgs, parse_size_arg};
use crate::error::{Error, Result};

/// The server's memory limit when --memory-limit is not given.
pub const DEFAULT_SERVER_MEMORY: usize = 4 << 30;

#[derive(Debug, Args)]
#[command(mut_arg("memory_limit", |arg| arg.help(
    "Memory all running queries share (default 4G); each query also has --query-memory-limit",
)))]
pub struct ServeArgs {
    /// The lake, spill directory and parallelism; --memory-limit is the server's total
    /// (default 4G), shared by all running queries.
    #[command(flatten)]
    pub session: SessionArgs,
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: std::net::SocketAddr,
    /// Accepted bearer tokens, one per line: `TOKEN` or `USER TOKEN` (the user is logged).
    /// The environment variable USERLAKE_TOKEN adds one more.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Serve without authentication; only allowed on a loopback address.
    #[arg(long)]
    pub no_auth: bool,
    /// Allow DDL, DML and COPY (refused by default: the server is read-only). SET is always
    /// refused: every query runs in a session of its own.
    #[arg(long)]
    pub allow_writes: bool,
    /// Memory one query may use before spilling or failing.
    #[arg(long, default_value = "1G", value_parser = parse_size_arg)]
    pub query_memory_limit: usize,
    /// Queries running at once; the next ones wait in a queue.
    #[arg(long, default_value_t = 8)]
    pub max_concurrent_queries: usize,
    /// Seconds a query waits for a free slot before it is refused as busy.
    #[arg(long, default_value_t = 30.0, value_parser = parse_seconds)]
    pub queue_timeout: f64,
    /// Seconds a query may run (planning and streaming) before it is cancelled.
    #[arg(long, default_value_t = 300.0, value_parser = parse_seconds)]
    pub query_timeout: f64,
    /// Seconds a table's file list is reused before the lake is listed again, so files that
    /// nightly jobs add show up (0: list on every query).
    #[arg(long, default_value_t = 30.0, value_parser = parse_non_negative_seconds)]
    pub file_list_ttl: f64,
}

fn parse_non_negative_seconds(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(seconds),
        _ => Err(format!("'{text}' is not a number of seconds (0 or more)")),
    }
}

fn parse_seconds(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => Ok(seconds),
        _ => Err(format!("'{text}' is not a positive number of seconds")),
    }
}

impl ServeArgs {
    pub fn options(&self) -> Result<ServeOptions> {
        let env_token = std::env::var("USERLAKE_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        let auth = match (&self.token_file, env_token, self.no_auth) {
            (None, None, true) => Authenticator::Disabled,
            (Some(_), _, true) | (_, Some(_), true) => {
                return Err(Error::usage(
                    "--no-auth and a token (--token-file or USERLAKE_TOKEN) exclude each other",
                ));
            }
            (None, None, false) => {
                return Err(Error::usage(
                    "a token is required: give --token-file FILE or set USERLAKE_TOKEN \
                     (or --no-auth, on a loopback address only)",
                ));
            }
            (Some(file), env_token, false) => {
                let mut auth = Authenticator::from_token_file(file)?;
                if let Some(token) = env_token {
                    auth = auth.with(Authenticator::from_token(&token)?);
                }
                auth
            }
            (None, Some(token), false) => Authenticator::from_token(&token)?,
        };
        let mut session = self.session.options()?;
        session.memory_limit = Some(session.memory_limit.unwrap_or(DEFAULT_SERVER_MEMORY));
        session.file_list_ttl = Some(std::time::Duration::from_secs_f64(self.file_list_ttl));
        Ok(ServeOptions {
            session,
            listen: self.listen,
            auth,
            limits: QueryLimits {
                query_memory: self.query_memory_limit,
                max_concurrent: self.max_concurrent_queries.max(1),
                queue_timeout: std::time::Duration::from_secs_f64(self.queue_timeout),
                query_timeout: std::time::Duration::from_secs_f64(self.query_timeout),
                allow_writes: self.allow_writes,
            },
        })
    }
}
