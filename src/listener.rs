//! Where long-running commands (`serve`, `worker`) listen.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::error::{Error, Result};

/// A listener on `address`, and the address it is bound to: port 0 picks a free port, which
/// the caller prints so that scripts can read it.
pub async fn bind(address: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| Error::context(format!("cannot listen on {address}"), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::context("cannot read the bound address", e))?;
    Ok((listener, bound))
}
