//! `userlake serve`: an Arrow Flight SQL server over the lake, for notebooks (ADBC), BI tools
//! (the Flight SQL JDBC driver) and any Flight SQL client.

pub mod args;
pub mod auth;
pub mod catalog;
pub mod limits;
pub mod placeholders;
pub mod prepared;
pub mod query_log;
pub mod result_stream;
pub mod service;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::byte_size::format_byte_size;
use crate::error::{Error, Result};
use crate::listener::bind;
use crate::session::{SessionOptions, build_session};
pub use args::{DEFAULT_SERVER_MEMORY, ServeArgs};
pub use auth::Authenticator;
pub use service::{QueryLimits, UserlakeFlightSql};

/// Results and bound parameters can be large; gRPC's 4 MiB default would refuse them.
const MAX_MESSAGE_BYTES: usize = 256 << 20;

pub struct ServeOptions {
    /// The session every query starts from; its memory limit is the server's.
    pub session: SessionOptions,
    pub listen: SocketAddr,
    pub auth: Authenticator,
    pub limits: QueryLimits,
}

/// Checks that the options make sense together before anything starts.
pub fn validate(options: &ServeOptions) -> Result<()> {
    if options.auth.is_disabled() && !options.listen.ip().is_loopback() {
        return Err(Error::usage(format!(
            "--no-auth is allowed only on a loopback address, not {}: give a token \
             (--token-file or USERLAKE_TOKEN) to listen there",
            options.listen
        )));
    }
    let server_memory = options.session.memory_limit.unwrap_or(usize::MAX);
    if options.limits.query_memory > server_memory {
        return Err(Error::usage(format!(
            "--query-memory-limit ({}) is larger than the server's --memory-limit ({})",
            format_byte_size(options.limits.query_memory),
            format_byte_size(server_memory)
        )));
    }
    Ok(())
}

/// Serves until `shutdown` completes; the address actually bound is printed first (so
/// `--listen 127.0.0.1:0` picks a free port that scripts can read).
pub async fn serve(options: ServeOptions, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
    validate(&options)?;
    let session = build_session(&options.session).await?;
    let lake = options
        .session
        .lake
        .as_ref()
        .map(|l| l.to_string())
        .unwrap_or_else(|| "none".into());
    let table_count = session
        .lake
        .as_ref()
        .map(|lake| lake.lake_table_names().len())
        .unwrap_or(0);
    let (listener, bound) = bind(options.listen).await?;
    let limits = options.limits.clone();
    let auth_note = if options.auth.is_disabled() {
        "WARNING: authentication is off (--no-auth): anyone who can reach this address can query the lake"
            .to_string()
    } else {
        "bearer token required".to_string()
    };
    let service = UserlakeFlightSql::new(session.ctx, options.auth, options.limits)
        .map_err(|status| Error::usage(status.message().to_string()))?;

    println!("userlake serve: listening on grpc://{bound}");
    println!(
        "  lake {lake} ({table_count} tables); {auth_note}; {}",
        if limits.allow_writes {
            "writes allowed"
        } else {
            "read-only"
        }
    );
    println!(
        "  limits: {} per query, {} for the server, {} concurrent queries (queue {} s), timeout {} s",
        format_byte_size(limits.query_memory),
        options
            .session
            .memory_limit
            .map(format_byte_size)
            .unwrap_or_else(|| "no limit".into()),
        limits.max_concurrent,
        limits.queue_timeout.as_secs_f64(),
        limits.query_timeout.as_secs_f64()
    );
    // Scripts wait for these lines; a block-buffered pipe would hold them back.
    use std::io::Write as _;
    let _ = std::io::stdout().flush();

    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let flight = FlightServiceServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    Server::builder()
        // Dead clients are noticed, so their queries are cancelled and their slots freed.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(flight)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| Error::context("the server stopped", e))?;
    log::info!("userlake serve: stopped");
    Ok(())
}
