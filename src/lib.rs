//! userlake: user-growth analytics on Parquet event lakes, as an embedded extension of
//! Apache DataFusion. This library is the engine every front-end shares: the session
//! bootstrap, the lake catalog, batch jobs, the shell, the data generator and the Flight SQL server.

pub mod byte_size;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod generator;
pub mod job;
pub mod jobfile;
pub mod lake;
pub mod listener;
pub mod logging;
pub mod materialize;
pub mod nested_text;
pub mod object_stores;
pub mod output;
pub mod person_keys;
pub mod pipeline;
pub mod query;
pub mod reference_docs;
pub mod report;
pub mod runs;
pub mod script;
#[cfg(feature = "server")]
pub mod serve;
pub mod session;
#[cfg(feature = "shell")]
pub mod shell;
pub mod signals;
pub mod state;
pub mod stitch_job;
pub mod storage;

pub use error::{Error, Result};
pub use session::{Session, SessionOptions, build_session};
