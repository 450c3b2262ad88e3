//! A job file (`jobs/nightly.toml`): the steps of a job in order, its variables with their
//! defaults, and the tables each step publishes. Everything that can be checked without the
//! lake is checked when the file is read, before anything runs: unknown keys, a missing
//! script, a variable a script uses but the job does not declare, a table published twice.
//!
//! ```toml
//! [job]
//! name = "nightly"
//! keep_runs = 2                   # committed runs kept per date
//! max_state_parts = 30            # parts of a kept table before it is rebuilt as one
//!
//! [variables]                     # ${NAME} in the scripts; --var NAME=VALUE overrides
//! time_zone = "'Asia/Shanghai'"
//!
//! [[step]]
//! name = "identifier_sets"        # kept from run to run, reading only new partitions
//! sql = "../sql/identifier_sets.sql"
//! state = { table = "identifier_sets", from = "identifier_sets_part", inputs = ["events", "orders"] }
//!
//! [[step]]
//! name = "identity"
//! builtin = "stitch"              # OneID: publishes id_graph, rejected_edges, merge_log, run_stats
//! sql = "../sql/identity_edges.sql"
//!
//! [[step]]
//! name = "kpi_daily"
//! sql = "../sql/nightly.sql"      # paths are relative to the job file
//! tables = ["daily_active"]       # handed to later steps, not published
//! publish = [{ table = "kpi_daily", formats = ["parquet", "csv"], order_by = "day, channel" }]
//!
//! [[step]]
//! name = "report"
//! builtin = "report"              # the HTML report of the tables published before it
//! file = "report.html"            # its name in the run directory (the default)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::script::{is_valid_variable_name, referenced_variables};

/// Variables every job has, set by the runner.
pub const BUILTIN_VARIABLES: [&str; 2] = ["date", "run_id"];

/// The tables the `stitch` step publishes.
pub const STITCH_TABLES: [&str; 4] = ["id_graph", "rejected_edges", "merge_log", "run_stats"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    job: RawHeader,
    #[serde(default)]
    variables: BTreeMap<String, toml::Value>,
    #[serde(rename = "step", default)]
    steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    keep_runs: Option<usize>,
    #[serde(default)]
    max_state_parts: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    #[serde(default)]
    sql: Option<String>,
    #[serde(default)]
    builtin: Option<String>,
    #[serde(default)]
    rules: Option<String>,
    #[serde(default)]
    edges: Option<String>,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    tables: Vec<String>,
    #[serde(default)]
    publish: Vec<RawPublish>,
    #[serde(default)]
    state: Option<RawState>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    table: String,
    from: String,
    inputs: Vec<String>,
    #[serde(default)]
    person_column: Option<String>,
}

/// A table a step keeps from run to run (`state = { table, from, inputs }`): each run adds
/// the rows of view `from`, which the script computes from the `new_<input>` views (the
/// partitions of each input that no kept part covers yet), and later steps read `table`: the
/// union of every kept part. See `crate::state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSpec {
    pub table: String,
    pub from: String,
    pub inputs: Vec<String>,
    /// The column of person numbers (`person_id`) the rows were keyed with by the identity
    /// step's graph: kept parts then follow later merges, and are keyed again when people
    /// split (see `crate::person_keys`).
    pub person_column: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublish {
    table: String,
    #[serde(default)]
    formats: Option<Vec<String>>,
    #[serde(default)]
    order_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Csv,
}

/// A table a step publishes with the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub table: String,
    /// Parquet always; CSV besides when asked.
    pub csv: bool,
    /// SQL `ORDER BY` list for the written rows.
    pub order_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// Runs a script's statements.
    Sql,
    /// Identity stitching: runs the script (which defines the edges), then stitches them with
    /// the previous committed run's id graph, and publishes `STITCH_TABLES`.
    Stitch {
        edges: String,
        rules: Option<PathBuf>,
    },
    /// The HTML report (`crate::report`) of the tables published by the steps before it,
    /// written as `file` in the run directory and committed with the run.
    Report { file: String },
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub kind: StepKind,
    pub script: Option<PathBuf>,
    /// The script's text, read when the job file was.
    pub sql: String,
    /// Tables the step materialises for later steps without publishing them.
    pub tables: Vec<String>,
    pub publish: Vec<Publish>,
    pub state: Option<StateSpec>,
}

impl Step {
    /// Every table the step hands on: published and kept for later steps.
    pub fn output_tables(&self) -> Vec<String> {
        let mut names: Vec<String> = self.publish.iter().map(|p| p.table.clone()).collect();
        names.extend(self.tables.iter().cloned());
        names.extend(self.state.iter().map(|s| s.table.clone()));
        names
    }
}

#[derive(Debug, Clone)]
pub struct JobFile {
    pub path: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub keep_runs: usize,
    /// Parts a kept table may have; a run that finds this many rebuilds it as one.
    pub max_state_parts: usize,
    /// Declared variables and their defaults.
    pub variables: BTreeMap<String, String>,
    pub steps: Vec<Step>,
    /// SHA-256 of the job file and of each script, in step order.
    pub hash: String,
}

pub const DEFAULT_KEEP_RUNS: usize = 2;
/// A part a night: about a month of nights between two rebuilds of a kept table.
pub const DEFAULT_MAX_STATE_PARTS: usize = 30;

fn invalid(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::JobFile {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

impl JobFile {
    pub fn read(path: &Path) -> Result<JobFile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let raw: RawJob = toml::from_str(&text).map_err(|e| invalid(path, e))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let mut hasher = Sha256::new();
        hasher.update(text.as_bytes());

        let mut variables = BTreeMap::new();
        for (name, value) in raw.variables {
            if !is_valid_variable_name(&name) {
                return Err(invalid(
                    path,
                    format!("[variables] {name}: not a valid variable name (letters, digits, _)"),
                ));
            }
            if BUILTIN_VARIABLES.contains(&name.as_str()) {
                return Err(invalid(
                    path,
                    format!(
                        "[variables] {name}: set by userlake for every run; it cannot be declared"
                    ),
                ));
            }
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(invalid(
                        path,
                        format!(
                            "[variables] {name}: a {} is not a SQL value; give a string",
                            other.type_str()
                        ),
                    ));
                }
            };
            variables.insert(name, value);
        }

        if raw.steps.is_empty() {
            return Err(invalid(path, "no [[step]]: a job needs at least one step"));
        }
        let mut steps = Vec::new();
        let mut step_names = BTreeSet::new();
        let mut producers: BTreeMap<String, String> = BTreeMap::new();
        for (index, raw_step) in raw.steps.into_iter().enumerate() {
            let at = format!("step {} ({:?})", index + 1, raw_step.name);
            if raw_step.name.is_empty()
                || !raw_step
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid(
                    path,
                    format!("{at}: name must be letters, digits, _ or -"),
                ));
            }
            if !step_names.insert(raw_step.name.clone()) {
                return Err(invalid(
                    path,
                    format!("{at}: a step of that name comes earlier"),
                ));
            }
            let script = raw_step.sql.as_ref().map(|sql| base.join(sql));
            let sql = match &script {
                Some(script) => {
                    let text = std::fs::read_to_string(script).map_err(|e| {
                        invalid(path, format!("{at}: sql = {:?}: {e}", script.display()))
                    })?;
                    hasher.update(text.as_bytes());
                    text
                }
                None => String::new(),
            };
            let kind = match raw_step.builtin.as_deref() {
                None => {
                    if script.is_none() {
                        return Err(invalid(
                            path,
                            format!("{at}: give sql = \"FILE.sql\" or builtin"),
                        ));
                    }
                    if raw_step.rules.is_some() || raw_step.edges.is_some() {
                        return Err(invalid(
                            path,
                            format!("{at}: rules and edges belong to builtin = \"stitch\""),
                        ));
                    }
                    if raw_step.file.is_some() {
                        return Err(invalid(
                            path,
                            format!("{at}: file belongs to builtin = \"report\""),
                        ));
                    }
                    StepKind::Sql
                }
                Some("stitch") => {
                    if raw_step.file.is_some() {
                        return Err(invalid(
                            path,
                            format!("{at}: file belongs to builtin = \"report\""),
                        ));
                    }
                    let rules = raw_step.rules.as_ref().map(|r| base.join(r));
                    if let Some(rules) = &rules {
                        let text = std::fs::read_to_string(rules).map_err(|e| {
                            invalid(path, format!("{at}: rules = {:?}: {e}", rules.display()))
                        })?;
                        hasher.update(text.as_bytes());
                    }
                    StepKind::Stitch {
                        edges: raw_step
                            .edges
                            .clone()
                            .unwrap_or_else(|| crate::stitch_job::DEFAULT_EDGES.to_string()),
                        rules,
                    }
                }
                Some("report") => {
                    let takes_nothing_else = script.is_none()
                        && raw_step.rules.is_none()
                        && raw_step.edges.is_none()
                        && raw_step.tables.is_empty()
                        && raw_step.publish.is_empty()
                        && raw_step.state.is_none();
                    if !takes_nothing_else {
                        return Err(invalid(
                            path,
                            format!(
                                "{at}: builtin = \"report\" takes only file = \"NAME.html\"; it \
                                 reads the tables the steps before it published"
                            ),
                        ));
                    }
                    let file = raw_step
                        .file
                        .clone()
                        .unwrap_or_else(|| crate::report::REPORT_FILE.to_string());
                    let plain_name = !file.is_empty()
                        && !file.starts_with('.')
                        && file.ends_with(".html")
                        && !file.contains(['/', '\\']);
                    if !plain_name {
                        return Err(invalid(
                            path,
                            format!(
                                "{at}: file = {file:?}: give a file name ending in .html, \
                                 without a directory (it is written in the run's directory)"
                            ),
                        ));
                    }
                    StepKind::Report { file }
                }
                Some(other) => {
                    return Err(invalid(
                        path,
                        format!("{at}: unknown builtin {other:?} (known: \"stitch\", \"report\")"),
                    ));
                }
            };
            let mut publish = Vec::new();
            if matches!(kind, StepKind::Stitch { .. }) {
                publish.extend(STITCH_TABLES.iter().map(|table| Publish {
                    table: table.to_string(),
                    csv: false,
                    order_by: None,
                }));
            }
            for raw_publish in raw_step.publish {
                let mut csv = false;
                for format in raw_publish
                    .formats
                    .unwrap_or_else(|| vec!["parquet".into()])
                {
                    match format.as_str() {
                        "parquet" => {}
                        "csv" => csv = true,
                        other => {
                            return Err(invalid(
                                path,
                                format!(
                                    "{at}: publish {:?}: unknown format {other:?} (parquet, csv)",
                                    raw_publish.table
                                ),
                            ));
                        }
                    }
                }
                publish.push(Publish {
                    table: raw_publish.table,
                    csv,
                    order_by: raw_publish.order_by,
                });
            }
            let state = match raw_step.state {
                Some(raw) => {
                    if script.is_none() || !matches!(kind, StepKind::Sql) {
                        return Err(invalid(
                            path,
                            format!("{at}: state needs a sql step that computes its rows"),
                        ));
                    }
                    if raw.inputs.is_empty() {
                        return Err(invalid(
                            path,
                            format!("{at}: state.inputs names no lake table"),
                        ));
                    }
                    for name in std::iter::once(&raw.from)
                        .chain(&raw.inputs)
                        .chain(&raw.person_column)
                    {
                        if !is_valid_variable_name(name) {
                            return Err(invalid(
                                path,
                                format!("{at}: state: {name:?} is not a table name"),
                            ));
                        }
                    }
                    Some(StateSpec {
                        table: raw.table,
                        from: raw.from,
                        inputs: raw.inputs,
                        person_column: raw.person_column,
                    })
                }
                None => None,
            };
            let step = Step {
                name: raw_step.name,
                kind,
                script,
                sql,
                tables: raw_step.tables,
                publish,
                state,
            };
            for table in step.output_tables() {
                if !is_valid_variable_name(&table) {
                    return Err(invalid(
                        path,
                        format!("{at}: table {table:?}: a table name is letters, digits and _"),
                    ));
                }
                if let Some(earlier) = producers.insert(table.clone(), step.name.clone()) {
                    return Err(invalid(
                        path,
                        format!("{at}: table {table} is already published by step {earlier:?}"),
                    ));
                }
            }
            steps.push(step);
        }

        // every variable a script uses is declared (a `${x:-default}` too: the job file is
        // the one place a job's settings live)
        for step in &steps {
            for name in referenced_variables(&step.sql) {
                if !variables.contains_key(&name) && !BUILTIN_VARIABLES.contains(&name.as_str()) {
                    let script = step
                        .script
                        .as_ref()
                        .map(|s| s.display().to_string())
                        .unwrap_or_default();
                    return Err(invalid(
                        path,
                        format!(
                            "step {:?}: {script} uses ${{{name}}}, which [variables] does not declare",
                            step.name
                        ),
                    ));
                }
            }
        }

        Ok(JobFile {
            path: path.to_path_buf(),
            name: raw.job.name,
            description: raw.job.description,
            keep_runs: raw.job.keep_runs.unwrap_or(DEFAULT_KEEP_RUNS).max(1),
            max_state_parts: raw
                .job
                .max_state_parts
                .unwrap_or(DEFAULT_MAX_STATE_PARTS)
                .max(2),
            variables,
            steps,
            hash: hasher
                .finalize()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        })
    }

    /// The job's variables with `overrides` (from `--var`) applied; an override of a
    /// variable the job does not declare is an error.
    pub fn resolve_variables(
        &self,
        overrides: &[(String, String)],
    ) -> Result<BTreeMap<String, String>> {
        let mut variables = self.variables.clone();
        for (name, value) in overrides {
            if !variables.contains_key(name) {
                return Err(Error::usage(format!(
                    "--var {name}: {} declares no such variable (declared: {})",
                    self.path.display(),
                    variables.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            variables.insert(name.clone(), value.clone());
        }
        Ok(variables)
    }
}
