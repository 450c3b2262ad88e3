//! `userlake run JOB.toml`: runs a job file's steps for one date as one run in the output
//! location's run layout (`crate::runs`), and commits it by writing its manifest last.
//!
//! A step hands later steps exactly the tables it declares (published, or kept with
//! `tables = [...]`): each is written to the run directory and read back from there, and
//! whatever else the step defined is dropped when it ends. That contract is what makes a run
//! resumable: an invocation that finds an interrupted run of the same job, variables and
//! inputs for its date takes the finished steps' tables from their files instead of running
//! them again, and the later steps see the same tables either way.

use std::collections::BTreeSet;
use std::time::Instant;

use datafusion::prelude::SessionContext;

use crate::byte_size::format_byte_size;
use crate::error::{Error, Result};
use crate::job::{StatementRunner, in_script};
use crate::jobfile::{JobFile, Publish, Step, StepKind};
use crate::lake::{LakeLocation, register_directory};
use crate::materialize::{write_csv_file, write_frame};
use crate::person_keys::{PersonKeying, PersonRuns};
use crate::runs::{
    FileRecord, InputChange, InputTable, MANIFEST_FORMAT_VERSION, Manifest, RunRecord, StepRecord,
    TableOutput, WORK_DIRECTORY, clean_up, day_before, file_record, input_changes,
    latest_committed_run, list_runs, new_run_id, read_step_record, run_path, timestamp, write_json,
};
use crate::script::{Statement, prepare_script};
use crate::session::Session;
use crate::state::{KeptState, KeptStep, StateUse};
use crate::stitch_job::{StitchOptions, run_stitch_job};
use crate::storage::Storage;

/// Below `_work/`: the tables a step creates for itself, one directory per step.
const STEP_TABLES: &str = "_private";

pub struct PipelineOptions {
    pub job: JobFile,
    pub lake: LakeLocation,
    pub out: Storage,
    /// The run's date; today in the job's `time_zone` (or UTC) when `None`.
    pub date: Option<chrono::NaiveDate>,
    pub overrides: Vec<(String, String)>,
    /// Run every step: resume nothing, copy nothing from an earlier run.
    pub full_refresh: bool,
    /// The session's memory limit (`--memory-limit`), named when a step runs out of it.
    pub memory_limit: Option<usize>,
    pub progress: bool,
}

pub struct PipelineSummary {
    pub date: String,
    pub run_id: String,
    /// `runs/<date>/<run-id>` below the output location.
    pub run_path: String,
    pub steps: Vec<StepRecord>,
    pub outputs: Vec<TableOutput>,
    pub seconds: f64,
    /// Runs removed after the commit (never committed, or beyond `keep_runs`).
    pub removed: Vec<String>,
}

pub async fn run_pipeline(session: &Session, options: &PipelineOptions) -> Result<PipelineSummary> {
    let started = Instant::now();
    let ctx = &session.ctx;
    let job = &options.job;
    let out = &options.out;
    let mut variables = job.resolve_variables(&options.overrides)?;
    let date = match options.date {
        Some(date) => date,
        None => today(ctx, variables.get("time_zone").map(String::as_str)).await?,
    };
    let date = date.format("%Y-%m-%d").to_string();
    variables.insert("date".to_string(), date.clone());

    let lake_storage = Storage::open(&ctx.runtime_env(), &options.lake)?;
    let inputs: Vec<InputTable> = session
        .lake_tables()
        .await?
        .iter()
        .map(|table| InputTable {
            table: table.name.clone(),
            files: table
                .files
                .iter()
                .map(|meta| file_record(&lake_storage, meta))
                .collect(),
        })
        .collect();

    // an interrupted run of the same job, variables and inputs is resumed
    let earlier_runs = list_runs(out, Some(&date)).await?;
    // the state a run starts from (the id graph) is the last committed run of an earlier
    // date, never one of its own date: running a date again redoes the same work
    let previous = latest_committed_run(out, Some(&day_before(&date)?)).await?;
    let mut record = RunRecord {
        job: job.name.clone(),
        job_hash: job.hash.clone(),
        date: date.clone(),
        run_id: String::new(),
        started_at: timestamp(chrono::Utc::now()),
        userlake_version: env!("CARGO_PKG_VERSION").to_string(),
        variables: variables.clone(),
        lake: options.lake.to_string(),
        input_changes: previous
            .as_ref()
            .map(|p| input_changes(&p.manifest.run.inputs, &inputs))
            .unwrap_or_default(),
        inputs,
        previous_run: previous.as_ref().map(|p| p.path.clone()),
    };
    if let Some(previous) = &previous {
        log_line(
            options.progress,
            format!(
                "inputs since run {}: {}",
                previous.path,
                describe_changes(&record.input_changes)
            ),
        );
    }
    let resumable = earlier_runs.iter().rev().find(|run| {
        !options.full_refresh
            && !run.is_committed()
            && run
                .record
                .as_ref()
                .is_some_and(|earlier| earlier.is_same_work(&record))
    });
    // a committed run of the same work has this run's outputs already: they are copied
    let same_committed = earlier_runs.iter().rev().find_map(|run| {
        let manifest = run.manifest.as_ref()?;
        (!options.full_refresh && manifest.run.is_same_work(&record))
            .then(|| (run.path.clone(), manifest))
    });
    let run_id = match resumable {
        Some(run) => run.run_id.clone(),
        None => new_run_id(
            chrono::Utc::now(),
            earlier_runs.last().map(|run| run.run_id.as_str()),
        ),
    };
    record.run_id = run_id.clone();
    variables.insert("run_id".to_string(), run_id.clone());

    // every script is substituted before anything runs, so a bad value fails first
    let mut prepared: Vec<Vec<Statement>> = Vec::with_capacity(job.steps.len());
    for step in &job.steps {
        let statements = match &step.script {
            Some(script) => {
                prepare_script(&step.sql, &variables).map_err(|e| in_script(script, e))?
            }
            None => Vec::new(),
        };
        prepared.push(statements);
    }

    let run_dir = run_path(&date, &run_id);
    match resumable {
        Some(_) => log_line(
            options.progress,
            format!("resuming run {run_id} of {date} (same job, variables and inputs)"),
        ),
        None => {
            write_json(
                out,
                &format!("{run_dir}/{}", crate::runs::RUN_RECORD),
                &record,
            )
            .await?;
            log_line(options.progress, format!("run {run_id} of {date}"));
        }
    }
    let run_storage = out.child(&run_dir)?;

    if let Some((source, manifest)) = same_committed {
        log_line(
            options.progress,
            format!("the inputs are those of committed run {source}: copying its tables"),
        );
        let mut steps = Vec::new();
        for step in &manifest.steps {
            let tables = copy_published(out, &source, &run_dir, &step.tables).await?;
            let mut documents = Vec::new();
            for document in &step.documents {
                documents.push(copy_file(out, &source, &run_dir, document).await?);
            }
            let copied = StepRecord {
                step: step.step.clone(),
                status: step.status.clone(),
                seconds: 0.0,
                reused: true,
                reused_from: Some(source.clone()),
                state: step.state.clone(),
                tables,
                documents,
            };
            write_step_record(out, &run_dir, &copied).await?;
            steps.push(copied);
        }
        return commit(options, record, steps, started).await;
    }

    let kept = KeptState {
        out,
        inputs: &record.inputs,
        run_id: &run_id,
        full_refresh: options.full_refresh,
        max_parts: job.max_state_parts,
        runs: PersonRuns {
            this_run: run_dir.clone(),
            previous_run: previous.as_ref().map(|p| p.path.clone()),
        },
    };
    let total: usize = prepared.iter().map(Vec::len).sum();
    let mut runner = StatementRunner::new(total, true, options.progress);
    let mut steps = Vec::new();
    for (step, statements) in job.steps.iter().zip(&prepared) {
        let step_started = Instant::now();
        // a state step runs again: its new part is already written and valid, so it only
        // registers the union
        if resumable.is_some()
            && step.state.is_none()
            && let Some(mut finished) = read_step_record(out, &run_dir, &step.name).await?
        {
            for table in &finished.tables {
                register_directory(ctx, &table.table, &run_storage.url(&table.directory)).await?;
            }
            finished.reused = true;
            log_line(
                options.progress,
                format!("step {}: reused from the interrupted run", step.name),
            );
            steps.push(finished);
            continue;
        }
        let before = table_names(ctx)?;
        let StepOutputs {
            tables,
            state,
            documents,
        } = run_step(
            ctx,
            step,
            statements,
            &mut runner,
            &run_storage,
            previous.as_ref().map(|p| out.url(&p.path)),
            &kept,
            &record,
        )
        .await
        .map_err(|e| step_error(step, e, options.memory_limit))?;
        if let Some(state) = &state {
            let keying = match &state.person_keying {
                None => String::new(),
                Some(PersonKeying::Current) => "; person numbers current".to_string(),
                Some(PersonKeying::Followed { merges, resolved }) => format!(
                    "; person numbers follow {merges} more merges and {resolved} more anchors \
                     with a person"
                ),
                Some(PersonKeying::Rekeyed { reason }) => {
                    format!("; every row keyed again: {reason}")
                }
            };
            log_line(
                options.progress,
                format!(
                    "state {}: {} parts; {} new input partitions read, {} rows added; {} parts \
                     invalidated{}{keying}",
                    state.table,
                    state.parts,
                    state.new_partitions,
                    state.new_rows,
                    state.invalidated,
                    if state.compacted {
                        " (compacted: the table had reached its most parts)"
                    } else {
                        ""
                    }
                ),
            );
        }
        // what the step defined but did not declare is private to it
        let declared: BTreeSet<String> = step.output_tables().into_iter().collect();
        for name in table_names(ctx)?.difference(&before) {
            if !declared.contains(name) {
                ctx.deregister_table(name.as_str())?;
            }
        }
        let finished = StepRecord {
            step: step.name.clone(),
            status: "done".to_string(),
            seconds: step_started.elapsed().as_secs_f64(),
            reused: false,
            reused_from: None,
            state,
            tables,
            documents,
        };
        write_step_record(out, &run_dir, &finished).await?;
        log_line(
            options.progress,
            format!("step {} done in {:.2}s", step.name, finished.seconds),
        );
        steps.push(finished);
    }

    commit(options, record, steps, started).await
}

/// Writes the manifest (the commit), then removes the run's work tables and the runs that
/// are no longer kept. The outputs are the steps' published tables, in step order.
async fn commit(
    options: &PipelineOptions,
    record: RunRecord,
    steps: Vec<StepRecord>,
    started: Instant,
) -> Result<PipelineSummary> {
    let outputs = steps
        .iter()
        .flat_map(|s| s.tables.iter().filter(|t| t.published).cloned())
        .collect();
    let documents = steps
        .iter()
        .flat_map(|s| s.documents.iter().cloned())
        .collect();
    let out = &options.out;
    let date = record.date.clone();
    let run_id = record.run_id.clone();
    let run_dir = run_path(&date, &run_id);
    let manifest = Manifest {
        format_version: MANIFEST_FORMAT_VERSION,
        run: record,
        committed_at: timestamp(chrono::Utc::now()),
        seconds: started.elapsed().as_secs_f64(),
        steps,
        outputs,
        documents,
    };
    write_json(
        out,
        &format!("{run_dir}/{}", crate::runs::MANIFEST),
        &manifest,
    )
    .await?;

    // the kept tables served the steps of this run; committed, it needs them no more
    out.child(&run_dir)?.delete_all(WORK_DIRECTORY).await?;
    let removed = clean_up(out, &date, &run_id, options.job.keep_runs).await?;
    Ok(PipelineSummary {
        date,
        run_id,
        run_path: run_dir,
        steps: manifest.steps,
        outputs: manifest.outputs,
        seconds: started.elapsed().as_secs_f64(),
        removed,
    })
}

async fn write_step_record(out: &Storage, run_dir: &str, step: &StepRecord) -> Result<()> {
    let path = format!(
        "{run_dir}/{}/{}.json",
        crate::runs::STEPS_DIRECTORY,
        step.step
    );
    write_json(out, &path, step).await
}

/// Copies a committed run's published tables (and their CSV copies) into this run, under the
/// same names; the work tables, gone since that run committed, are left out.
async fn copy_published(
    out: &Storage,
    source_run: &str,
    target_run: &str,
    tables: &[TableOutput],
) -> Result<Vec<TableOutput>> {
    let mut copied = Vec::new();
    for table in tables.iter().filter(|t| t.published) {
        let mut files = Vec::new();
        for file in &table.files {
            files.push(copy_file(out, source_run, target_run, file).await?);
        }
        let mut copies = Vec::new();
        for file in &table.copies {
            copies.push(copy_file(out, source_run, target_run, file).await?);
        }
        copied.push(TableOutput {
            files,
            copies,
            ..table.clone()
        });
    }
    Ok(copied)
}

/// Copies one file of a committed run to the same place in another run, and records it as
/// the store now has it.
async fn copy_file(
    out: &Storage,
    source_run: &str,
    target_run: &str,
    file: &FileRecord,
) -> Result<FileRecord> {
    let target = out.child(target_run)?;
    let path = &file.path;
    out.copy(
        &format!("{source_run}/{path}"),
        &format!("{target_run}/{path}"),
    )
    .await?;
    let meta = target
        .meta(path)
        .await?
        .ok_or_else(|| Error::usage(format!("{} was not copied", target.describe(path))))?;
    Ok(file_record(&target, &meta))
}

/// `events +1 ~0 -0 files (dt=2026-07-20), costs +1 ~0 -0 files`, or `none`.
fn describe_changes(changes: &[InputChange]) -> String {
    if changes.is_empty() {
        return "none".to_string();
    }
    let tables: Vec<String> = changes
        .iter()
        .map(|c| {
            let partitions = match c.partitions.as_slice() {
                [] => String::new(),
                [one] => format!(" (dt={one})"),
                [first, .., last] => {
                    format!(" ({} partitions, dt={first} to {last})", c.partitions.len())
                }
            };
            format!(
                "{} +{} ~{} -{} files{partitions}",
                c.table, c.added, c.changed, c.removed
            )
        })
        .collect();
    tables.join(", ")
}

/// A step's error, naming the step, and the memory limit when the step ran out of it.
fn step_error(step: &Step, error: Error, memory_limit: Option<usize>) -> Error {
    match memory_limit {
        Some(limit) if error.is_out_of_memory() => Error::OutOfMemory {
            step: step.name.clone(),
            limit: format_byte_size(limit),
            source: Box::new(error),
        },
        _ => Error::Step {
            step: step.name.clone(),
            source: Box::new(error),
        },
    }
}

fn log_line(progress: bool, line: String) {
    if progress {
        log::info!("{line}");
    }
}

/// Today's date in `time_zone` (an IANA name such as Asia/Shanghai), or in UTC.
async fn today(ctx: &SessionContext, time_zone: Option<&str>) -> Result<chrono::NaiveDate> {
    let Some(zone) = time_zone else {
        return Ok(chrono::Utc::now().date_naive());
    };
    let sql = format!(
        "SELECT to_char(now() AT TIME ZONE '{}', '%Y-%m-%d')",
        zone.replace('\'', "''")
    );
    let frame = ctx
        .sql(&sql)
        .await
        .map_err(|e| Error::context(format!("time_zone = {zone:?}"), e))?;
    let batches = frame
        .collect()
        .await
        .map_err(|e| Error::context(format!("time_zone = {zone:?}"), e))?;
    let text = batches
        .first()
        .and_then(|batch| arrow::util::display::array_value_to_string(batch.column(0), 0).ok())
        .unwrap_or_default();
    chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|e| Error::context(format!("time_zone = {zone:?}: today is {text:?}"), e))
}

fn table_names(ctx: &SessionContext) -> Result<BTreeSet<String>> {
    let catalog = ctx.state().config_options().catalog.clone();
    let schema = ctx
        .catalog(&catalog.default_catalog)
        .and_then(|c| c.schema(&catalog.default_schema))
        .ok_or_else(|| Error::usage("the session has no default schema"))?;
    Ok(schema.table_names().into_iter().collect())
}

/// Runs one step and writes its declared tables; returns them as written, and what the step
/// did with its kept table.
/// What a step wrote: its tables, the use of its kept table, and other files (the report).
struct StepOutputs {
    tables: Vec<TableOutput>,
    state: Option<StateUse>,
    documents: Vec<FileRecord>,
}

#[allow(clippy::too_many_arguments)]
async fn run_step(
    ctx: &SessionContext,
    step: &Step,
    statements: &[Statement],
    runner: &mut StatementRunner,
    run_storage: &Storage,
    previous_run: Option<String>,
    kept: &KeptState<'_>,
    record: &RunRecord,
) -> Result<StepOutputs> {
    let kept_step = match &step.state {
        Some(spec) => Some(KeptStep::begin(ctx, spec, statements, kept).await?),
        None => None,
    };
    if let Some(script) = &step.script {
        // the step's own tables live in the run directory until the commit, not in memory
        let tables = run_storage.child(&format!("{WORK_DIRECTORY}/{STEP_TABLES}/{}", step.name))?;
        runner.write_tables_to(Some(tables));
        let ran = runner.run(ctx, script, statements).await;
        runner.write_tables_to(None);
        ran?;
    }
    let state_use = match kept_step {
        Some(kept_step) => Some(kept_step.finish(ctx, kept.run_id).await?),
        None => None,
    };
    let mut written = Vec::new();
    if let StepKind::Stitch { edges, rules } = &step.kind {
        let options = StitchOptions {
            edges: edges.clone(),
            rules: rules.clone(),
            previous: previous_run,
        };
        let summary = run_stitch_job(ctx, &options, run_storage).await?;
        log::info!(
            "stitched {} identifiers into {} people ({} hubs excluded) in {:.2}s ({})",
            summary.identifiers,
            summary.components,
            summary.hubs,
            summary.seconds,
            summary.phases.join(", ")
        );
    }
    for publish in &step.publish {
        let table = if matches!(step.kind, StepKind::Stitch { .. }) {
            // the stitcher wrote these itself; their rows are counted from the files
            let directory = format!("{}/", publish.table);
            register_written(ctx, run_storage, &publish.table, &directory, true, None).await?
        } else {
            write_table(
                ctx,
                run_storage,
                publish,
                &format!("{}/", publish.table),
                true,
            )
            .await?
        };
        written.push(table);
    }
    for name in &step.tables {
        let publish = Publish {
            table: name.clone(),
            csv: false,
            order_by: None,
        };
        let directory = format!("{WORK_DIRECTORY}/{name}/");
        written.push(write_table(ctx, run_storage, &publish, &directory, false).await?);
    }
    let mut documents = Vec::new();
    if let StepKind::Report { file } = &step.kind {
        let html = crate::report::render(ctx, &crate::report::ReportRun::of(record, None)).await;
        run_storage.put(file, html.into_bytes()).await?;
        let meta = run_storage.meta(file).await?.ok_or_else(|| {
            Error::usage(format!(
                "the report {} was not written",
                run_storage.describe(file)
            ))
        })?;
        documents.push(file_record(run_storage, &meta));
    }
    Ok(StepOutputs {
        tables: written,
        state: state_use,
        documents,
    })
}

/// Writes `publish.table` as Parquet under `directory` of the run (and a CSV copy beside it
/// when asked), then registers the written files under the table's name, so later steps read
/// what was written instead of computing it again.
async fn write_table(
    ctx: &SessionContext,
    run_storage: &Storage,
    publish: &Publish,
    directory: &str,
    published: bool,
) -> Result<TableOutput> {
    let name = &publish.table;
    if !ctx.table_exist(name.as_str())? {
        return Err(Error::usage(format!(
            "the step declares table {name}, but its script does not create it"
        )));
    }
    let query = match &publish.order_by {
        Some(order) => format!("SELECT * FROM {name} ORDER BY {order}"),
        None => format!("SELECT * FROM {name}"),
    };
    let frame = ctx
        .sql(&query)
        .await
        .map_err(|e| Error::context(format!("table {name}"), e))?;
    let rows = write_frame(frame, run_storage, directory).await?;
    let mut output =
        register_written(ctx, run_storage, name, directory, published, Some(rows)).await?;
    if publish.csv {
        // from the files just written, not by running the step's query again
        let file = format!("{name}.csv");
        write_csv_file(ctx.sql(&query).await?, run_storage, &file).await?;
        let meta = run_storage.meta(&file).await?.ok_or_else(|| {
            Error::usage(format!(
                "table {name}: the CSV copy {} was not written",
                run_storage.describe(&file)
            ))
        })?;
        output.copies.push(file_record(run_storage, &meta));
    }
    Ok(output)
}

/// Registers the Parquet files the run wrote under `directory` as table `name`; `rows` are
/// counted from the files when the writer did not say.
async fn register_written(
    ctx: &SessionContext,
    run_storage: &Storage,
    name: &str,
    directory: &str,
    published: bool,
    rows: Option<u64>,
) -> Result<TableOutput> {
    // the files as registering them listed them
    let registered = register_directory(ctx, name, &run_storage.url(directory)).await?;
    let files: Vec<FileRecord> = registered
        .iter()
        .flat_map(|table| &table.files)
        .map(|meta| file_record(run_storage, meta))
        .collect();
    let rows = match (rows, registered) {
        (Some(rows), _) => rows,
        (None, Some(_)) => ctx.table(name).await?.count().await? as u64,
        (None, None) => 0,
    };
    Ok(TableOutput {
        table: name.to_string(),
        directory: directory.to_string(),
        rows,
        files,
        copies: Vec::new(),
        published,
    })
}
