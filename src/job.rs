//! `userlake run FILE.sql...`: a batch job. The scripts' statements run in order, in one
//! session (so a later script sees an earlier one's views), with `${NAME}` substituted;
//! `${out}` is a local staging directory, and what the job wrote there is published to `--out`
//! (a directory or `s3://` prefix) only when every statement succeeded, so a failed job leaves
//! the previous outputs untouched and no half-written ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::materialize::create_table_on_disk;
use crate::output::{OutputFormat, write_batches};
use crate::query::execute;
use crate::script::{Statement, is_valid_variable_name, prepare_script};
use crate::storage::{Storage, staging_dir};

pub struct JobOptions {
    pub scripts: Vec<PathBuf>,
    pub variables: Vec<(String, String)>,
    pub out: Storage,
    /// Show each statement's progress line on stderr.
    pub progress: bool,
}

#[derive(Debug)]
pub struct JobSummary {
    pub statements: usize,
    pub rows: u64,
    pub seconds: f64,
    /// The published outputs, as paths or URLs.
    pub outputs: Vec<String>,
}

/// Parses `NAME=VALUE`.
pub fn parse_variable(text: &str) -> Result<(String, String)> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| Error::usage(format!("--var '{text}': expected NAME=VALUE")))?;
    if !is_valid_variable_name(name) {
        return Err(Error::usage(format!(
            "--var '{text}': '{name}' is not a valid variable name (letters, digits, _)"
        )));
    }
    Ok((name.to_string(), value.to_string()))
}

pub async fn run_job(ctx: &SessionContext, options: &JobOptions) -> Result<JobSummary> {
    let started = Instant::now();
    let mut sources = Vec::with_capacity(options.scripts.len());
    for script in &options.scripts {
        let sql = std::fs::read_to_string(script).map_err(|e| Error::io(script, e))?;
        sources.push((script.clone(), sql));
    }

    let staging = staging_dir(&options.out)?;

    let mut variables = BTreeMap::new();
    variables.insert("out".to_string(), staging.path().display().to_string());
    for (name, value) in &options.variables {
        variables.insert(name.clone(), value.clone());
    }
    // Every script's variables are checked before the first statement runs.
    let mut jobs = Vec::with_capacity(sources.len());
    for (script, sql) in &sources {
        let statements = prepare_script(sql, &variables).map_err(|e| in_script(script, e))?;
        if statements.is_empty() {
            return Err(Error::usage(format!(
                "{}: no SQL statements",
                script.display()
            )));
        }
        jobs.push((script, statements));
    }

    let total: usize = jobs.iter().map(|(_, statements)| statements.len()).sum();
    let mut runner = StatementRunner::new(total, jobs.len() > 1, options.progress);
    for (script, statements) in &jobs {
        runner.run(ctx, script, statements).await?;
    }
    let rows = runner.rows;

    let outputs = options.out.publish_from(staging.path()).await?;
    Ok(JobSummary {
        statements: total,
        rows,
        seconds: started.elapsed().as_secs_f64(),
        outputs: outputs
            .iter()
            .map(|name| options.out.describe(name))
            .collect(),
    })
}

/// Runs statements in order, counting them and their rows, with a progress line per
/// statement on stderr and query results printed as tables on stdout.
pub struct StatementRunner {
    total: usize,
    done: usize,
    /// Name the script in progress lines (several scripts or steps).
    name_scripts: bool,
    progress: bool,
    pub rows: u64,
    /// Where `CREATE TABLE ... AS` writes its rows instead of memory (job files).
    tables_on: Option<Storage>,
}

impl StatementRunner {
    pub fn new(total: usize, name_scripts: bool, progress: bool) -> Self {
        StatementRunner {
            total,
            done: 0,
            name_scripts,
            progress,
            rows: 0,
            tables_on: None,
        }
    }

    /// From now on, `CREATE [OR REPLACE] TABLE name AS query` writes its rows as Parquet under
    /// `storage` and registers the files, rather than holding them in memory.
    pub fn write_tables_to(&mut self, storage: Option<Storage>) {
        self.tables_on = storage;
    }

    pub async fn run(
        &mut self,
        ctx: &SessionContext,
        script: &Path,
        statements: &[Statement],
    ) -> Result<()> {
        let file_name = script
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        for statement in statements {
            let on_disk = match &self.tables_on {
                Some(storage) => create_table_on_disk(ctx, statement, storage)
                    .await
                    .map_err(|e| in_script(script, e))?,
                None => None,
            };
            let result = match on_disk {
                Some(result) => result,
                None => execute(ctx, statement)
                    .await
                    .map_err(|e| in_script(script, e))?,
            };
            self.done += 1;
            let written = result.written_rows();
            let rows = written.unwrap_or_else(|| result.row_count() as u64);
            self.rows += rows;
            if self.progress {
                let first_line = statement.text.lines().next().unwrap_or_default();
                let summary: String = first_line.chars().take(60).collect();
                log::info!(
                    "[{}/{}] {}line {}: {}{} -> {} rows in {:.2}s",
                    self.done,
                    self.total,
                    if self.name_scripts {
                        format!("{file_name} ")
                    } else {
                        String::new()
                    },
                    statement.line,
                    summary,
                    if summary.len() < first_line.len() {
                        "..."
                    } else {
                        ""
                    },
                    rows,
                    result.elapsed.as_secs_f64()
                );
            }
            // A query's rows (not a COPY's count) are part of the job's report.
            if written.is_none() && !result.batches.is_empty() && !result.schema.fields().is_empty()
            {
                write_batches(
                    std::io::stdout().lock(),
                    OutputFormat::Table,
                    &result.schema,
                    &result.batches,
                )?;
            }
        }
        Ok(())
    }
}

pub(crate) fn in_script(script: &Path, error: Error) -> Error {
    match error {
        Error::Statement { .. } => Error::Script {
            script: script.to_path_buf(),
            source: Box::new(error),
        },
        other => other,
    }
}
