//! Tables a job keeps from run to run, so a run reads only the input partitions no earlier run
//! has read: the first incremental piece of the nightly job.
//!
//! A step with `state = { table, from, inputs }` sees, for each input lake table `T`, a view
//! `new_T` of the partitions of `T` that no kept part covers, and its script defines the view
//! `from` over them. The runner writes `from`'s rows as a new *part* and registers `table` as
//! the union of every valid part, which later steps read (typically through a GROUP BY that
//! merges the parts, such as the `min(seen_at)` of identity sets).
//!
//! ```text
//! OUT/state/<table>/<run-id>/*.parquet   a part: the rows `from` gave that run
//! OUT/state/<table>/<run-id>.json        written last: the partitions (and their files) it covers
//! ```
//!
//! A part is valid while every partition it covers still has exactly the files it had (path,
//! size, time, etag) and the step's SQL is the same; otherwise it is deleted and its partitions
//! are read again. Each input partition is covered by one valid part at most, so the union
//! equals what `from` would give over the whole input whenever `from` is computed partition by
//! partition (rows of one partition depend on that partition alone), and what the readers of
//! `table` compute from it equals a full computation when they merge the parts with an
//! associative, idempotent or additive aggregate. `--full-refresh` deletes every part first.
//! A part written by a run that never committed stays valid: it is derived from the files it
//! names, whoever wrote it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cluster::is_distributed;
use crate::error::{Error, Result};
use crate::jobfile::StateSpec;
use crate::materialize::write_frame;
use crate::person_keys::{KeptTable, PersonKeying, PersonKeys, PersonRuns};
use crate::runs::{FileRecord, InputTable};
use crate::script::Statement;
use crate::storage::Storage;

/// Below the job's output location: one directory per kept table.
pub const STATE_DIRECTORY: &str = "state";

/// One input partition a part covers, with the files it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoveredPartition {
    pub table: String,
    /// The partition's directory below the lake root (`events/dt=2026-07-20`), or the table's
    /// own for an unpartitioned table.
    pub partition: String,
    pub files: Vec<FileRecord>,
}

/// `<run-id>.json`: one part of a kept table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatePart {
    pub run_id: String,
    /// SHA-256 of the step's SQL as run (variables substituted) and its inputs.
    pub definition: String,
    pub rows: u64,
    pub covers: Vec<CoveredPartition>,
}

/// What a state step did, for the step record and the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateUse {
    pub table: String,
    /// Parts the table is the union of, the new one included.
    pub parts: usize,
    /// Input partitions read this run (none covered them).
    pub new_partitions: usize,
    /// Rows of the part written this run.
    pub new_rows: u64,
    /// Parts deleted because a partition they cover changed, or the SQL did.
    pub invalidated: usize,
    /// The parts had reached the job's `max_state_parts`: all were deleted and the table
    /// rebuilt as one.
    #[serde(default)]
    pub compacted: bool,
    /// For rows keyed by person: what became of the kept parts' person numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_keying: Option<PersonKeying>,
}

/// What a step with a kept table needs of its run.
pub struct KeptState<'a> {
    /// The job's output location, whose `state/` holds the kept tables.
    pub out: &'a Storage,
    /// The lake's tables and their files, as the run saw them.
    pub inputs: &'a [InputTable],
    pub run_id: &'a str,
    pub full_refresh: bool,
    /// The job's `max_state_parts`.
    pub max_parts: usize,
    pub runs: PersonRuns,
}

/// A step that keeps a table, under way: its valid parts loaded and its `new_<input>` views
/// defined; `finish` adds this run's part once the step's script has run.
pub struct KeptStep<'a> {
    spec: &'a StateSpec,
    storage: Storage,
    definition: String,
    loaded: LoadedState,
    persons: Option<PersonKeys>,
    compacted: bool,
}

impl<'a> KeptStep<'a> {
    /// Loads the kept parts of `spec.table` below `out` (none with `full_refresh`; none when
    /// there are `max_parts` of them, which rebuilds the table as one part), and
    /// defines for each input the view of its rows that no part covers. Rows keyed by person
    /// are reconciled with this run's id graph first (`runs`: this run and the one its
    /// identity step started from).
    pub async fn begin(
        ctx: &SessionContext,
        spec: &'a StateSpec,
        statements: &[Statement],
        run: &KeptState<'_>,
    ) -> Result<KeptStep<'a>> {
        let (out, inputs, full_refresh, max_parts, runs) = (
            run.out,
            run.inputs,
            run.full_refresh,
            run.max_parts,
            &run.runs,
        );
        let storage = out.child(&format!("{STATE_DIRECTORY}/{}", spec.table))?;
        let definition = definition_hash(statements, spec);
        let mut loaded = load(&storage, spec, &definition, inputs).await?;
        // a part a night: at max_parts, the table is rebuilt as one part, so readers never
        // open more than that many
        let compacted = !full_refresh && loaded.parts.len() >= max_parts;
        let rebuild = if full_refresh {
            Some("--full-refresh".to_string())
        } else if compacted {
            Some(format!("{max_parts} parts compacted into one"))
        } else {
            None
        };
        let persons = match &spec.person_column {
            Some(column) => {
                let parts = match &rebuild {
                    Some(_) => None,
                    None => parts_provider(ctx, &storage, &loaded.parts, None)
                        .await?
                        .map(|provider| ctx.read_table(provider))
                        .transpose()?,
                };
                Some(
                    PersonKeys::reconcile(
                        ctx,
                        KeptTable {
                            storage: &storage,
                            name: &spec.table,
                            person_column: column,
                        },
                        out,
                        runs,
                        parts,
                        rebuild.clone(),
                    )
                    .await?,
                )
            }
            None => None,
        };
        let rekeyed = persons
            .as_ref()
            .is_some_and(|keys| matches!(keys.keying, PersonKeying::Rekeyed { .. }));
        if rebuild.is_some() || rekeyed {
            let deleted = loaded.invalidated + loaded.parts.len();
            storage.delete_all("").await?;
            loaded = load(&storage, spec, &definition, inputs).await?;
            // a full refresh deletes parts it was asked to, not parts that became invalid
            if !full_refresh {
                loaded.invalidated += deleted;
            }
        }
        if let Some(keys) = &persons {
            keys.record(&storage).await?;
        }
        for table in &spec.inputs {
            let partitions: Vec<String> = loaded
                .uncovered
                .iter()
                .filter(|c| &c.table == table)
                .map(|c| c.partition.clone())
                .collect();
            let view = new_rows_view(table, &partitions, loaded.read_whole.contains(table));
            ctx.sql(&view).await?.collect().await?;
        }
        Ok(KeptStep {
            spec,
            storage,
            definition,
            loaded,
            persons,
            compacted,
        })
    }

    /// Writes the rows of the step's `from` view as this run's part (when any partition was
    /// new) and registers the kept table as the union of the parts.
    pub async fn finish(self, ctx: &SessionContext, run_id: &str) -> Result<StateUse> {
        let spec = self.spec;
        if !ctx.table_exist(spec.from.as_str())? {
            return Err(Error::usage(format!(
                "state {}: the script does not create view {}",
                spec.table, spec.from
            )));
        }
        let new_partitions = self.loaded.uncovered.len();
        let mut parts = self.loaded.parts;
        let mut new_rows = 0;
        if new_partitions > 0 {
            let part = write_part(
                ctx,
                &self.storage,
                spec,
                run_id,
                &self.definition,
                self.loaded.uncovered,
            )
            .await?;
            new_rows = part.rows;
            parts.push(part);
        }
        let schema = ctx
            .table(spec.from.as_str())
            .await?
            .schema()
            .inner()
            .clone();
        let provider =
            match parts_provider(ctx, &self.storage, &parts, Some(schema.clone())).await? {
                Some(provider) => provider,
                None => Arc::new(MemTable::try_new(schema, vec![vec![]])?),
            };
        ctx.deregister_table(spec.table.as_str())?;
        match &self.persons {
            Some(keys) => {
                let view = keys.view(ctx.read_table(provider)?, is_distributed(ctx))?;
                ctx.register_table(spec.table.as_str(), view.into_view())?;
            }
            None => {
                ctx.register_table(spec.table.as_str(), provider)?;
            }
        }
        Ok(StateUse {
            table: spec.table.clone(),
            parts: parts.iter().filter(|p| p.rows > 0).count(),
            new_partitions,
            new_rows,
            invalidated: self.loaded.invalidated,
            compacted: self.compacted,
            person_keying: self.persons.map(|keys| keys.keying),
        })
    }
}

/// The SHA-256 of what a state step computes: its statements as run and its inputs.
fn definition_hash(statements: &[Statement], spec: &StateSpec) -> String {
    let mut hasher = Sha256::new();
    for statement in statements {
        hasher.update(statement.text.as_bytes());
        hasher.update([0]);
    }
    hasher.update(spec.from.as_bytes());
    for input in &spec.inputs {
        hasher.update([0]);
        hasher.update(input.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// An input table's partitions: directory below the lake root → its files, by path.
fn partitions_of(input: &InputTable) -> BTreeMap<String, Vec<FileRecord>> {
    let mut partitions: BTreeMap<String, Vec<FileRecord>> = BTreeMap::new();
    for file in &input.files {
        let directory = match file.path.rsplit_once('/') {
            Some((directory, _)) => directory.to_string(),
            None => input.table.clone(),
        };
        partitions.entry(directory).or_default().push(file.clone());
    }
    for files in partitions.values_mut() {
        files.sort_by(|a, b| a.path.cmp(&b.path));
    }
    partitions
}

/// The kept parts of one table that are still valid, after deleting the others (and any part
/// whose record was never written), and the input partitions none of them covers.
struct LoadedState {
    parts: Vec<StatePart>,
    invalidated: usize,
    /// The partitions no part covers, with their files: what this run's part will cover.
    uncovered: Vec<CoveredPartition>,
    /// The inputs none of whose partitions is covered: their new rows are all their rows.
    read_whole: BTreeSet<String>,
}

async fn load(
    storage: &Storage,
    spec: &StateSpec,
    definition: &str,
    inputs: &[InputTable],
) -> Result<LoadedState> {
    let mut current: BTreeMap<&str, BTreeMap<String, Vec<FileRecord>>> = BTreeMap::new();
    for name in &spec.inputs {
        let input = inputs.iter().find(|t| &t.table == name).ok_or_else(|| {
            Error::usage(format!(
                "state {}: input {name} is not a table of the lake (tables: {})",
                spec.table,
                inputs
                    .iter()
                    .map(|t| t.table.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        current.insert(name.as_str(), partitions_of(input));
    }

    // A partition is selected by its value in SQL; a value that a path may carry encoded
    // (anything but letters, digits and - _ . :) could select nothing, silently. Such inputs
    // are read whole, every run: no part is kept for them.
    let selectable = current.values().all(|partitions| {
        partitions.keys().all(|partition| {
            partition.split('/').skip(1).all(|segment| {
                segment.split_once('=').is_some_and(|(_, value)| {
                    value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
                })
            })
        })
    });

    let mut parts = Vec::new();
    let mut invalidated = 0;
    let mut recorded = BTreeSet::new();
    let objects: Vec<String> = storage
        .list("")
        .await?
        .iter()
        .map(|meta| storage.relative(&meta.location))
        .collect();
    for object in &objects {
        // records sit at the top, `<run-id>.json`; a part's rows below `<run-id>/`
        // (files beginning with _ are not parts: person_keys' lineage)
        let Some(run_id) = object
            .strip_suffix(".json")
            .filter(|id| !id.contains('/') && !id.starts_with('_'))
        else {
            continue;
        };
        let run_id = run_id.to_string();
        let bytes = storage
            .get(&format!("{run_id}.json"))
            .await?
            .unwrap_or_default();
        let part: Option<StatePart> = serde_json::from_slice(&bytes).ok();
        let valid = selectable
            && part.as_ref().is_some_and(|part| {
                part.definition == definition
                    && part.covers.iter().all(|covered| {
                        current
                            .get(covered.table.as_str())
                            .and_then(|partitions| partitions.get(&covered.partition))
                            .is_some_and(|files| *files == covered.files)
                    })
            });
        match part {
            Some(part) if valid => {
                recorded.insert(run_id);
                parts.push(part);
            }
            _ => {
                log::debug!(
                    "state {}: part {run_id} is no longer valid (its SQL or one of its \
                     partitions changed); it is deleted and its partitions read again",
                    spec.table
                );
                // the record goes first: a part without one is never read
                storage.delete(&format!("{run_id}.json")).await?;
                storage.delete_all(&format!("{run_id}/")).await?;
                invalidated += 1;
            }
        }
    }
    // data a run wrote without living to write its record
    let directories: BTreeSet<&str> = objects
        .iter()
        .filter_map(|object| object.split_once('/').map(|(directory, _)| directory))
        .collect();
    for directory in directories {
        if !recorded.contains(directory) {
            storage.delete_all(&format!("{directory}/")).await?;
        }
    }
    parts.sort_by(|a, b| a.run_id.cmp(&b.run_id));

    let covered: BTreeSet<(&str, &str)> = parts
        .iter()
        .flat_map(|p| p.covers.iter())
        .map(|c| (c.table.as_str(), c.partition.as_str()))
        .collect();
    let mut uncovered = Vec::new();
    let mut read_whole = BTreeSet::new();
    for (table, partitions) in &current {
        let before = uncovered.len();
        for (partition, files) in partitions {
            if !covered.contains(&(*table, partition.as_str())) {
                uncovered.push(CoveredPartition {
                    table: table.to_string(),
                    partition: partition.clone(),
                    files: files.clone(),
                });
            }
        }
        if !selectable || uncovered.len() - before == partitions.len() {
            read_whole.insert(table.to_string());
        }
    }
    Ok(LoadedState {
        parts,
        invalidated,
        uncovered,
        read_whole,
    })
}

/// `CREATE VIEW new_<table>`: the rows of `table` in `partitions` (directories below the lake
/// root, `events/dt=2026-07-20`), selected on the partition columns so only their files are
/// read.
pub fn new_rows_view(table: &str, partitions: &[String], all: bool) -> String {
    let filter = if all {
        String::new()
    } else if partitions.is_empty() {
        " WHERE false".to_string()
    } else {
        let alternatives: Vec<String> = partitions
            .iter()
            .map(|partition| {
                let conditions: Vec<String> = partition
                    .split('/')
                    .skip(1)
                    .filter_map(|segment| segment.split_once('='))
                    .map(|(column, value)| {
                        format!(
                            "CAST(\"{}\" AS VARCHAR) = '{}'",
                            column.replace('"', "\"\""),
                            value.replace('\'', "''")
                        )
                    })
                    .collect();
                if conditions.is_empty() {
                    "true".to_string()
                } else {
                    format!("({})", conditions.join(" AND "))
                }
            })
            .collect();
        format!(" WHERE {}", alternatives.join(" OR "))
    };
    format!("CREATE OR REPLACE VIEW new_{table} AS SELECT * FROM {table}{filter}")
}

/// Writes the rows of view `spec.from` as the part of run `run_id` (again, for a resumed run),
/// then its record.
async fn write_part(
    ctx: &SessionContext,
    storage: &Storage,
    spec: &StateSpec,
    run_id: &str,
    definition: &str,
    covers: Vec<CoveredPartition>,
) -> Result<StatePart> {
    let frame = ctx.table(spec.from.as_str()).await?;
    let rows = write_frame(frame, storage, &format!("{run_id}/")).await?;
    let part = StatePart {
        run_id: run_id.to_string(),
        definition: definition.to_string(),
        rows,
        covers,
    };
    let record = serde_json::to_vec_pretty(&part)
        .map_err(|e| Error::context(format!("state {}", spec.table), e))?;
    storage.put(&format!("{run_id}.json"), record).await?;
    Ok(part)
}

/// The union of `parts`' files as one table, with `schema` (read from the files when
/// `None`); `None` when no part has rows.
async fn parts_provider(
    ctx: &SessionContext,
    storage: &Storage,
    parts: &[StatePart],
    schema: Option<SchemaRef>,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let mut urls = Vec::new();
    for part in parts.iter().filter(|p| p.rows > 0) {
        urls.push(ListingTableUrl::parse(
            storage.url(&format!("{}/", part.run_id)),
        )?);
    }
    if urls.is_empty() {
        return Ok(None);
    }
    let options = ListingOptions::new(Arc::new(crate::lake::parquet_format()))
        .with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options);
    let config = match schema {
        Some(schema) => config.with_schema(schema),
        None => config.infer_schema(&ctx.state()).await?,
    };
    Ok(Some(Arc::new(ListingTable::try_new(config)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> FileRecord {
        FileRecord {
            path: path.to_string(),
            bytes: 1,
            modified: "2026-01-01T00:00:00.000Z".to_string(),
            etag: None,
        }
    }

    #[test]
    fn partitions_are_the_directories_of_the_files() {
        let input = InputTable {
            table: "events".to_string(),
            files: vec![
                file("events/dt=2026-01-02/part-0.parquet"),
                file("events/dt=2026-01-01/part-1.parquet"),
                file("events/dt=2026-01-01/part-0.parquet"),
            ],
        };
        let partitions = partitions_of(&input);
        assert_eq!(
            partitions.keys().collect::<Vec<_>>(),
            ["events/dt=2026-01-01", "events/dt=2026-01-02"]
        );
        assert_eq!(
            partitions["events/dt=2026-01-01"][0].path,
            "events/dt=2026-01-01/part-0.parquet"
        );
        let flat = InputTable {
            table: "costs".to_string(),
            files: vec![file("costs/part-00000.parquet")],
        };
        assert_eq!(partitions_of(&flat).keys().collect::<Vec<_>>(), ["costs"]);
    }

    #[test]
    fn the_new_rows_view_selects_the_uncovered_partitions() {
        assert_eq!(
            new_rows_view("events", &[], true),
            "CREATE OR REPLACE VIEW new_events AS SELECT * FROM events"
        );
        assert_eq!(
            new_rows_view("events", &[], false),
            "CREATE OR REPLACE VIEW new_events AS SELECT * FROM events WHERE false"
        );
        assert_eq!(
            new_rows_view(
                "events",
                &[
                    "events/dt=2026-01-02".to_string(),
                    "events/dt=2026-01-03/h=1".to_string()
                ],
                false
            ),
            "CREATE OR REPLACE VIEW new_events AS SELECT * FROM events WHERE \
             (CAST(\"dt\" AS VARCHAR) = '2026-01-02') OR \
             (CAST(\"dt\" AS VARCHAR) = '2026-01-03' AND CAST(\"h\" AS VARCHAR) = '1')"
        );
    }
}
