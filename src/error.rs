//! The one error type of the engine: every variant carries what a user needs to act on it
//! (a path, a statement number and line, a variable name), and `main` prints it as one line.

use std::path::PathBuf;

use datafusion::error::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mistake in how userlake was called or configured (an option, an argument, a missing
    /// table), with nothing underneath: the message says what to change.
    #[error("{0}")]
    Usage(String),

    /// A job file that cannot be run as written; `message` names the key or the step.
    #[error("{}: {message}", path.display())]
    JobFile { path: PathBuf, message: String },

    /// A step of a job that ran out of the memory `--memory-limit` gave it.
    #[error(
        "step {step:?} ran out of memory under --memory-limit {limit}: {source}. Raise the limit \
         (this step's operators could not spill enough to fit in it), or run the job with fewer \
         --target-partitions"
    )]
    OutOfMemory {
        step: String,
        /// The limit, as the user wrote it (`1.0 MiB`).
        limit: String,
        #[source]
        source: Box<Error>,
    },

    /// A table that userlake reads or keeps has a column missing or of the wrong type; the
    /// message names the table, the column and what was expected of it.
    #[error("table {table}, column {column}: {problem}")]
    Column {
        table: String,
        column: String,
        problem: String,
    },

    #[error("lake {location}: {reason}")]
    Lake { location: String, reason: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("statement {number} (line {line}): {source}")]
    Statement {
        number: usize,
        line: usize,
        #[source]
        source: Box<Error>,
    },

    /// A statement's error, in the script it came from.
    #[error("{}: {source}", script.display())]
    Script {
        script: PathBuf,
        #[source]
        source: Box<Error>,
    },

    #[error("{source} (at line {line}, column {column})")]
    Located {
        line: u64,
        column: u64,
        #[source]
        source: DataFusionError,
    },

    #[error("{0}")]
    DataFusion(#[from] DataFusionError),

    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("{0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    /// A step of a job file failed.
    #[error("step {step:?}: {source}")]
    Step {
        step: String,
        #[source]
        source: Box<Error>,
    },

    /// Another library's error, with what userlake was doing (and on what) when it happened.
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// An object store refused or failed a request; `location` is the path as the user wrote
    /// it (`s3://bucket/out/runs/...` or a directory).
    #[error("{location}: {source}")]
    Storage {
        location: String,
        #[source]
        source: Box<object_store::Error>,
    },
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    /// Whether the error is a query running out of the session's memory pool (an operator
    /// that could not spill, or could not spill enough).
    pub fn is_out_of_memory(&self) -> bool {
        match self {
            Error::OutOfMemory { .. } => true,
            Error::Statement { source, .. }
            | Error::Script { source, .. }
            | Error::Step { source, .. } => source.is_out_of_memory(),
            Error::Located { source, .. } | Error::DataFusion(source) => {
                matches!(source.find_root(), DataFusionError::ResourcesExhausted(_))
            }
            _ => false,
        }
    }

    /// `source`, with what was being done when it happened (its message reads
    /// `context: source`, and the source stays reachable through `Error::source`).
    pub fn context(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(source),
        }
    }

    pub fn column(
        table: impl Into<String>,
        column: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Error::Column {
            table: table.into(),
            column: column.into(),
            problem: problem.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn wrapped_errors_keep_their_source_and_read_as_one_line() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = Error::context("reading the job", io);
        assert_eq!(error.to_string(), "reading the job: no such file");
        let source = error.source().expect("a source");
        assert!(source.downcast_ref::<std::io::Error>().is_some());

        let exhausted = Error::DataFusion(DataFusionError::ResourcesExhausted("pool".into()));
        let step = Error::Step {
            step: "funnel".into(),
            source: Box::new(exhausted),
        };
        assert!(step.is_out_of_memory());
        assert!(step.to_string().starts_with("step \"funnel\": "));

        let exhausted = Error::DataFusion(DataFusionError::ResourcesExhausted("pool".into()));
        let out_of_memory = Error::OutOfMemory {
            step: "funnel".into(),
            limit: "1.0 MiB".into(),
            source: Box::new(exhausted),
        };
        assert!(out_of_memory.is_out_of_memory());
        assert!(
            out_of_memory
                .to_string()
                .starts_with("step \"funnel\" ran out of memory under --memory-limit 1.0 MiB: ")
        );
        let root = out_of_memory.source().expect("the step's own error");
        assert!(root.to_string().contains("pool"), "{root}");

        let job = Error::JobFile {
            path: "jobs/nightly.toml".into(),
            message: "unknown key steps[2].scrpit".into(),
        };
        assert_eq!(
            job.to_string(),
            "jobs/nightly.toml: unknown key steps[2].scrpit"
        );
    }
}
