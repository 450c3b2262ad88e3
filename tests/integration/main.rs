//! The integration tests, as one test binary: each module links the whole engine (DataFusion,
//! the server), so one binary links once instead of once per file.
//!
//! Peer comparisons (modules `*_peers`, `clickhouse`, and the peers in `flight_sql`) run the
//! Python peers of `tests/requirements.txt`; `USERLAKE_SKIP_PEERS=1` skips them on a machine
//! without those, and CI always runs them. The report's browser checks (`report`) need Debian's
//! chromium and `npm ci --prefix tests/browser`; `USERLAKE_SKIP_BROWSER=1` skips them.

mod common;
#[path = "../../benches/peers/mod.rs"]
mod peer_engines;

mod activity_peers;
mod aggregate_plans;
mod attribution_peers;
mod audience_peers;
mod cli;
mod clickhouse;
#[cfg(feature = "cluster")]
mod cluster;
mod duckdb_peers;
mod experiment_peers;
mod expr_fn;
#[cfg(feature = "server")]
mod flight_sql;
mod generator;
mod markov_peers;
mod paths_peers;
mod report;
mod retention_peers;
mod s3;
mod sqllogictests;
mod stitch;
mod stitch_peers;
mod value_peers;
