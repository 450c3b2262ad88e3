//! The layout of a job's runs in its output location, the same on local disk and `s3://`:
//!
//! ```text
//! OUT/runs/<date>/<run-id>/_run.json          written first: job, variables, inputs
//! OUT/runs/<date>/<run-id>/_steps/<step>.json one per finished step: its tables and files
//! OUT/runs/<date>/<run-id>/<table>/*.parquet  published tables (and <table>.csv)
//! OUT/runs/<date>/<run-id>/_work/<table>/     a step's tables for later steps, until commit
//! OUT/runs/<date>/<run-id>/_manifest.json     written last: the commit
//! ```
//!
//! A run is committed when its manifest exists. The manifest is one object, written whole
//! (S3 shows a PUT entirely or not at all; on local disk it is renamed into place), and a run
//! directory never changes after it, so a reader that picks the latest manifest sees one
//! run's tables, never a mix, even on object storage where nothing renames atomically.
//! Run ids sort by start time, so the latest run of a date is the greatest committed id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::Storage;

pub const MANIFEST: &str = "_manifest.json";
pub const RUN_RECORD: &str = "_run.json";
pub const STEPS_DIRECTORY: &str = "_steps";
pub const WORK_DIRECTORY: &str = "_work";

/// A file the run read or wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Below the lake root (inputs) or the run directory (outputs).
    pub path: String,
    pub bytes: u64,
    /// Last modification time, RFC 3339.
    pub modified: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTable {
    pub table: String,
    pub files: Vec<FileRecord>,
}

/// What a run is for: written when it starts, so a later invocation can tell whether it may
/// resume it (same job, same variables, same inputs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub job: String,
    /// SHA-256 of the job file and every script it runs.
    pub job_hash: String,
    pub date: String,
    pub run_id: String,
    pub started_at: String,
    pub userlake_version: String,
    pub variables: BTreeMap<String, String>,
    pub lake: String,
    pub inputs: Vec<InputTable>,
    /// The committed run whose state this one started from (`runs/<date>/<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_run: Option<String>,
    /// The watermark: what the lake gained, changed or lost since the previous run's inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_changes: Vec<InputChange>,
}

/// What changed in one input table between two runs' inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputChange {
    pub table: String,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    /// The `dt=` partitions of the files added, changed or removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<String>,
}

/// The input tables whose files differ between `before` and `now` (a file changed when its
/// size, time or etag did), with the partitions those files are in.
pub fn input_changes(before: &[InputTable], now: &[InputTable]) -> Vec<InputChange> {
    let files_of = |tables: &[InputTable]| -> BTreeMap<(String, String), FileRecord> {
        tables
            .iter()
            .flat_map(|t| {
                t.files
                    .iter()
                    .map(|f| ((t.table.clone(), f.path.clone()), f.clone()))
            })
            .collect()
    };
    enum Kind {
        Added,
        Changed,
        Removed,
    }
    let (old, new) = (files_of(before), files_of(now));
    let mut changes: BTreeMap<String, InputChange> = BTreeMap::new();
    let mut note = |table: &str, path: &str, kind: Kind| {
        let change = changes
            .entry(table.to_string())
            .or_insert_with(|| InputChange {
                table: table.to_string(),
                added: 0,
                changed: 0,
                removed: 0,
                partitions: Vec::new(),
            });
        match kind {
            Kind::Added => change.added += 1,
            Kind::Changed => change.changed += 1,
            Kind::Removed => change.removed += 1,
        }
        let partition = path
            .split('/')
            .find_map(|segment| segment.strip_prefix("dt="));
        if let Some(partition) = partition
            && !change.partitions.iter().any(|p| p == partition)
        {
            change.partitions.push(partition.to_string());
        }
    };
    for ((table, path), file) in &new {
        match old.get(&(table.clone(), path.clone())) {
            None => note(table, path, Kind::Added),
            Some(earlier) if earlier != file => note(table, path, Kind::Changed),
            Some(_) => {}
        }
    }
    for (table, path) in old.keys() {
        if !new.contains_key(&(table.clone(), path.clone())) {
            note(table, path, Kind::Removed);
        }
    }
    let mut changes: Vec<InputChange> = changes.into_values().collect();
    for change in &mut changes {
        change.partitions.sort();
    }
    changes
}

impl RunRecord {
    /// Whether `other` is a run of the same work: the same job, date, variables, lake and
    /// input files, and the same previous run. Only such a run may be resumed.
    pub fn is_same_work(&self, other: &RunRecord) -> bool {
        self.job == other.job
            && self.job_hash == other.job_hash
            && self.date == other.date
            && self.userlake_version == other.userlake_version
            && self.variables == other.variables
            && self.lake == other.lake
            && self.inputs == other.inputs
            && self.previous_run == other.previous_run
    }
}

/// One table a step wrote, in the run directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableOutput {
    pub table: String,
    /// Below the run directory: `<table>/` for published tables, `_work/<table>/` for the
    /// tables a step hands to later steps.
    pub directory: String,
    pub rows: u64,
    pub files: Vec<FileRecord>,
    /// Extra copies in other formats (`<table>.csv`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<FileRecord>,
    pub published: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: String,
    pub status: String,
    pub seconds: f64,
    /// True when the step's tables were taken from an earlier run of the same work (an
    /// interrupted one, resumed, or a committed one, copied).
    #[serde(default)]
    pub reused: bool,
    /// The committed run the tables were copied from (`runs/<date>/<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
    /// For a step that keeps a table from run to run: its parts and what this run added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<crate::state::StateUse>,
    pub tables: Vec<TableOutput>,
    /// Files the step wrote that are not tables (the HTML report), below the run directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<FileRecord>,
}

/// The commit of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    #[serde(flatten)]
    pub run: RunRecord,
    pub committed_at: String,
    pub seconds: f64,
    pub steps: Vec<StepRecord>,
    /// The published tables, in the order the job declares them.
    pub outputs: Vec<TableOutput>,
    /// The published files that are not tables (the HTML report), in step order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<FileRecord>,
}

pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// `runs/<date>/<run-id>`.
pub fn run_path(date: &str, run_id: &str) -> String {
    format!("{RUNS_DIRECTORY}/{date}/{run_id}")
}

pub use crate::lake::RUNS_DIRECTORY;

/// A run id that sorts by start time, to the millisecond: `20261202T225511.042Z-3fa9c2`. It
/// sorts after `after` (the latest id of the date), even when that run started in the same
/// millisecond or on a clock ahead of this one: which runs a clean-up keeps goes by this order.
pub fn new_run_id(now: chrono::DateTime<chrono::Utc>, after: Option<&str>) -> String {
    use std::hash::{BuildHasher, Hasher};
    const FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";
    let mut time = now.naive_utc();
    let latest = after
        .and_then(|id| id.split('-').next())
        .and_then(|stamp| chrono::NaiveDateTime::parse_from_str(stamp, FORMAT).ok());
    if let Some(latest) = latest
        && time <= latest
    {
        time = latest + chrono::Duration::milliseconds(1);
    }
    // the standard library seeds each RandomState from the OS: enough to tell apart two
    // runs started in the same millisecond
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let suffix = hasher.finish() & 0xff_ffff;
    format!("{}-{suffix:06x}", time.format(FORMAT))
}

/// A run found in the output location.
#[derive(Debug, Clone)]
pub struct RunListing {
    pub date: String,
    pub run_id: String,
    /// `runs/<date>/<run-id>`.
    pub path: String,
    pub record: Option<RunRecord>,
    pub manifest: Option<Manifest>,
    /// The steps that finished, for a run that did not commit.
    pub finished_steps: Vec<String>,
}

impl RunListing {
    pub fn is_committed(&self) -> bool {
        self.manifest.is_some()
    }
}

/// A committed run and its manifest.
#[derive(Debug, Clone)]
pub struct CommittedRun {
    pub path: String,
    pub manifest: Manifest,
}

async fn read_json<T: serde::de::DeserializeOwned>(
    storage: &Storage,
    relative: &str,
) -> Result<Option<T>> {
    match storage.get(relative).await? {
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::context(
                format!("{}: not a userlake run file", storage.describe(relative)),
                e,
            )
        }),
        None => Ok(None),
    }
}

pub async fn write_json<T: Serialize>(storage: &Storage, relative: &str, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::context(storage.describe(relative), e))?;
    storage.put(relative, bytes).await
}

pub async fn read_manifest(storage: &Storage, run_path: &str) -> Result<Option<Manifest>> {
    read_json(storage, &format!("{run_path}/{MANIFEST}")).await
}

pub async fn read_run_record(storage: &Storage, run_path: &str) -> Result<Option<RunRecord>> {
    read_json(storage, &format!("{run_path}/{RUN_RECORD}")).await
}

pub async fn read_step_record(
    storage: &Storage,
    run_path: &str,
    step: &str,
) -> Result<Option<StepRecord>> {
    read_json(
        storage,
        &format!("{run_path}/{STEPS_DIRECTORY}/{step}.json"),
    )
    .await
}

/// Every run of every date (or of `date` only), oldest first.
pub async fn list_runs(storage: &Storage, date: Option<&str>) -> Result<Vec<RunListing>> {
    let dates = match date {
        Some(date) => vec![date.to_string()],
        None => storage.list_directories(RUNS_DIRECTORY).await?,
    };
    let mut runs = Vec::new();
    for date in dates {
        for run_id in storage
            .list_directories(&format!("{RUNS_DIRECTORY}/{date}"))
            .await?
        {
            let path = run_path(&date, &run_id);
            let manifest = read_manifest(storage, &path).await?;
            let (record, finished_steps) = if manifest.is_some() {
                (None, Vec::new())
            } else {
                let steps = storage
                    .list(&format!("{path}/{STEPS_DIRECTORY}"))
                    .await?
                    .iter()
                    .filter_map(|meta| meta.location.filename().map(str::to_string))
                    .filter_map(|name| name.strip_suffix(".json").map(str::to_string))
                    .collect();
                (read_run_record(storage, &path).await?, steps)
            };
            runs.push(RunListing {
                date: date.clone(),
                run_id,
                path,
                record,
                manifest,
                finished_steps,
            });
        }
    }
    Ok(runs)
}

/// The day before `date` (YYYY-MM-DD), in the same form.
pub fn day_before(date: &str) -> Result<String> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|e| Error::context(format!("run date {date:?}"), e))?;
    let before = day
        .pred_opt()
        .ok_or_else(|| Error::usage(format!("run date {date:?} has no day before it")))?;
    Ok(before.format("%Y-%m-%d").to_string())
}

/// The latest committed run: the greatest date that has one, and its latest committed id.
/// With `up_to`, only runs of that date or earlier.
pub async fn latest_committed_run(
    storage: &Storage,
    up_to: Option<&str>,
) -> Result<Option<CommittedRun>> {
    let dates = storage.list_directories(RUNS_DIRECTORY).await?;
    for date in dates.iter().rev() {
        if up_to.is_some_and(|limit| date.as_str() > limit) {
            continue;
        }
        let ids = storage
            .list_directories(&format!("{RUNS_DIRECTORY}/{date}"))
            .await?;
        for run_id in ids.iter().rev() {
            let path = run_path(date, run_id);
            if let Some(manifest) = read_manifest(storage, &path).await? {
                return Ok(Some(CommittedRun { path, manifest }));
            }
        }
    }
    Ok(None)
}

/// The committed run `selector` names: a run id (`20261203T184502.325Z-6e4772`), a date
/// (its latest committed run) or `runs/<date>/<run-id>`; the latest committed run when
/// `None`. Errors name what was looked for, and where.
pub async fn find_committed_run(storage: &Storage, selector: Option<&str>) -> Result<CommittedRun> {
    let nothing_committed = || {
        Error::usage(format!(
            "{} has no committed run: run the job first (userlake run jobs/nightly.toml --out ...)",
            storage.describe(RUNS_DIRECTORY)
        ))
    };
    let Some(selector) = selector.map(|s| s.trim_matches('/')) else {
        return latest_committed_run(storage, None)
            .await?
            .ok_or_else(nothing_committed);
    };
    let selector = selector.strip_prefix("runs/").unwrap_or(selector);
    let (date, run_id) = match selector.split_once('/') {
        Some((date, run_id)) => (Some(date.to_string()), Some(run_id.to_string())),
        None if chrono::NaiveDate::parse_from_str(selector, "%Y-%m-%d").is_ok() => {
            (Some(selector.to_string()), None)
        }
        None => (None, Some(selector.to_string())),
    };
    let runs = list_runs(storage, date.as_deref()).await?;
    let found = runs
        .iter()
        .rev()
        .find(|run| run.is_committed() && run_id.as_ref().is_none_or(|id| &run.run_id == id));
    match found {
        Some(run) => Ok(CommittedRun {
            path: run.path.clone(),
            manifest: run.manifest.clone().ok_or_else(nothing_committed)?,
        }),
        None => {
            let committed: Vec<&str> = runs
                .iter()
                .filter(|run| run.is_committed())
                .map(|run| run.path.as_str())
                .collect();
            let known = match committed.as_slice() {
                [] => "none committed there".to_string(),
                [.., last] => format!("{} committed, the latest {last}", committed.len()),
            };
            Err(Error::usage(format!(
                "no committed run {selector:?} in {} ({known}); give a run id, a date \
                 (YYYY-MM-DD) or runs/DATE/RUN-ID as `userlake runs` lists them",
                storage.describe(RUNS_DIRECTORY)
            )))
        }
    }
}

/// After the commit of run `run_id` of `date`: removes the runs of any date that never
/// committed and started before it (they can no longer be resumed: a new run was committed
/// since), and the committed runs of `date` beyond the newest `keep` of them. Returns the
/// removed runs' paths. Whether a run committed is asked of the store (does its manifest
/// exist), not read from the manifest, so a long history costs one request a run.
pub async fn clean_up(
    storage: &Storage,
    date: &str,
    run_id: &str,
    keep: usize,
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for run_date in storage.list_directories(RUNS_DIRECTORY).await? {
        let mut kept_of_date = 0usize;
        let ids = storage
            .list_directories(&format!("{RUNS_DIRECTORY}/{run_date}"))
            .await?;
        // newest first, so the runs kept are the newest
        for id in ids.iter().rev() {
            let path = run_path(&run_date, id);
            let committed = storage.exists(&format!("{path}/{MANIFEST}")).await?;
            let remove = if run_date == date && id == run_id {
                kept_of_date += 1;
                false
            } else if committed {
                if run_date == date {
                    kept_of_date += 1;
                    kept_of_date > keep.max(1)
                } else {
                    false
                }
            } else {
                id.as_str() < run_id
            };
            if remove {
                // the manifest goes first, so a run being removed is never seen as
                // committed with files missing
                storage.delete(&format!("{path}/{MANIFEST}")).await?;
                storage.delete_all(&path).await?;
                removed.push(path);
            } else if committed && run_date == date {
                // a run killed between its commit and its own clean-up kept its work tables
                storage
                    .delete_all(&format!("{path}/{WORK_DIRECTORY}"))
                    .await?;
            }
        }
    }
    Ok(removed)
}

/// The RFC 3339 form of a file's modification time.
pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The record of an object the run read or wrote, its path relative to `storage`.
pub fn file_record(storage: &Storage, meta: &object_store::ObjectMeta) -> FileRecord {
    FileRecord {
        path: storage.relative(&meta.location),
        bytes: meta.size,
        modified: timestamp(meta.last_modified),
        etag: meta.e_tag.clone(),
    }
}
