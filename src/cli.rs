//! The command line: `userlake sql`, `userlake run`, `userlake gen`, `userlake stitch` and
//! `userlake serve`. Parsing is clap's;
//! each subcommand is a thin call into the library.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::byte_size::parse_byte_size;
use crate::cluster::parse_workers;
#[cfg(feature = "cluster")]
use crate::cluster::{WorkerArgs, run_worker};
use crate::error::{Error, Result};
use crate::generator::{GeneratorConfig, GeneratorRecord, RECORD_FILE, generate};
use crate::job::{JobOptions, parse_variable, run_job};
use crate::jobfile::JobFile;
use crate::lake::LakeLocation;
use crate::output::{OutputFormat, write_batches, write_batches_to_file};
use crate::pipeline::{PipelineOptions, run_pipeline};
use crate::query::execute;
use crate::reference_docs::{REFERENCE_DIRECTORY, stale_pages, write_reference};
use crate::runs::list_runs;
use crate::script::split_statements;
#[cfg(feature = "server")]
use crate::serve::{ServeArgs, serve};
use crate::session::object_store_runtime;
use crate::session::{SessionOptions, build_session};
#[cfg(feature = "shell")]
use crate::shell::run_shell;
#[cfg(any(feature = "server", feature = "cluster"))]
use crate::signals::shutdown_signal;
use crate::stitch_job::{DEFAULT_EDGES, StitchOptions, explain, run_stitch_job};
use crate::storage::Storage;

pub const DEFAULT_LAKE: &str = "data/sample";

#[derive(Debug, Parser)]
#[command(
    name = "userlake",
    version,
    about = "User-growth analytics on Parquet event lakes: funnels, retention, OneID, RFM, LTV, attribution in SQL"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Show more diagnostics (-v: DataFusion's and userlake's debug lines, -vv: everything);
    /// RUST_LOG, when set, takes precedence (e.g. RUST_LOG=datafusion=debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run SQL: an interactive shell, or the statements given with -c / -f.
    Sql(SqlArgs),
    /// Run a job file (jobs/nightly.toml) for one date as a committed run under --out, or
    /// ad-hoc SQL scripts with ${NAME} variables.
    Run(RunArgs),
    /// List a job's runs under --out: date, id, status, rows, duration.
    Runs(RunsArgs),
    /// Generate a realistic lake of the canonical tables.
    Gen(GenArgs),
    /// Stitch identities (OneID): write id_graph, rejected_edges, merge_log and run_stats.
    Stitch(StitchArgs),
    /// Write the HTML report of a committed run of the nightly job: KPIs, funnel, retention,
    /// layers, LTV, fission, attribution, experiments and identity, in one self-contained file.
    Report(ReportArgs),
    /// Serve the lake over Arrow Flight SQL (ADBC, JDBC, any Flight SQL client).
    #[cfg(feature = "server")]
    Serve(ServeArgs),
    /// Write the function reference (Markdown generated from each function's documentation).
    Docs(DocsArgs),
    /// Run plan fragments for coordinators started with --workers (a cluster's worker).
    #[cfg(feature = "cluster")]
    Worker(WorkerArgs),
}

#[derive(Debug, Args)]
pub struct DocsArgs {
    /// The reference's directory.
    #[arg(long, default_value = REFERENCE_DIRECTORY)]
    pub out: PathBuf,
    /// Write nothing; exit non-zero when a page there is not what would be written.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct SessionArgs {
    /// The lake: a directory or s3://bucket/prefix whose sub-directories are tables.
    #[arg(long, env = "USERLAKE_LAKE", default_value = DEFAULT_LAKE)]
    pub lake: String,
    /// Memory the queries may use before spilling to disk, e.g. 512M or 4G.
    #[arg(long, value_parser = parse_size_arg)]
    pub memory_limit: Option<usize>,
    /// Directory for spill files (default: the OS temporary directory).
    #[arg(long)]
    pub spill_dir: Option<PathBuf>,
    /// Parallelism of query plans (default: the number of cores).
    #[arg(long)]
    pub target_partitions: Option<usize>,
    /// Distribute queries over these `userlake worker`s: HOST:PORT or http://HOST:PORT,
    /// separated by commas (default: run everything in this process).
    #[arg(long, env = "USERLAKE_WORKERS", value_delimiter = ',')]
    pub workers: Vec<String>,
    /// With --workers: files are split into tasks of about this size, e.g. 64M (default:
    /// datafusion-distributed's).
    #[arg(long, value_parser = parse_size_arg, requires = "workers")]
    pub bytes_per_task: Option<usize>,
}

pub(crate) fn parse_size_arg(text: &str) -> std::result::Result<usize, String> {
    parse_byte_size(text).map_err(|e| e.to_string())
}

impl SessionArgs {
    pub fn options(&self) -> Result<SessionOptions> {
        Ok(SessionOptions {
            lake: Some(LakeLocation::parse(&self.lake)?),
            memory_limit: self.memory_limit,
            spill_dir: self.spill_dir.clone(),
            target_partitions: self.target_partitions,
            file_list_ttl: None,
            workers: parse_workers(&self.workers)?,
            bytes_per_task: self.bytes_per_task,
        })
    }
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// A statement to run (repeatable); without -c or -f the shell starts.
    // a statement may start with a `-- comment` or a negative number
    #[arg(short = 'c', long = "command", allow_hyphen_values = true)]
    pub commands: Vec<String>,
    /// A file of statements to run.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// How results are printed.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the last statement's result to this file (a path or an s3:// URL) instead of
    /// standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A job file (JOB.toml), or SQL scripts run in order in one session.
    #[arg(required = true, value_name = "JOB.toml | FILE.sql")]
    pub scripts: Vec<PathBuf>,
    /// The date the job file runs for (default: today in the job's time_zone).
    #[arg(long, value_parser = parse_date)]
    pub date: Option<chrono::NaiveDate>,
    #[command(flatten)]
    pub session: SessionArgs,
    /// A variable for ${NAME} in the scripts (repeatable): NAME=VALUE. `${NAME:-default}` in a
    /// script gives a default.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Where outputs go: a directory or s3://bucket/prefix; the script writes under it as
    /// ${out}.
    #[arg(long, default_value = "out")]
    pub out: String,
    /// Job files: run every step, even when an interrupted run can be resumed or a committed
    /// run of the same date already has the outputs of the same job and inputs.
    #[arg(long)]
    pub full_refresh: bool,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The --out of the job: a directory or s3://bucket/prefix.
    #[arg(long, default_value = "out")]
    pub out: String,
    /// Only the runs of this date.
    #[arg(long, value_parser = parse_date)]
    pub date: Option<chrono::NaiveDate>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The --out of the job: a directory or s3://bucket/prefix.
    #[arg(long, default_value = "out")]
    pub out: String,
    /// The run to show: a run id, a date (its latest committed run) or runs/DATE/RUN-ID, as
    /// `userlake runs` lists them (default: the latest committed run).
    #[arg(long)]
    pub run: Option<String>,
    /// The HTML file to write: a path, an s3:// URL, or - for standard output.
    #[arg(short = 'o', long = "output", default_value = crate::report::REPORT_FILE)]
    pub output: String,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// The lake to write: a directory or s3://bucket/prefix (tables of the same names are
    /// replaced, or with --from-day added to).
    #[arg(long)]
    pub out: String,
    /// People the plan acquires over --plan-days [default: 10000].
    #[arg(long)]
    pub users: Option<u64>,
    /// The lake's days: days 1 to DAYS are simulated.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// The days --users are spread over [default: --days]; acquisition goes on past them.
    /// Lakes of one plan agree on their common days.
    #[arg(long)]
    pub plan_days: Option<u32>,
    /// Write only days FROM_DAY to --days, added to the lake at --out, which must hold days 1
    /// to FROM_DAY - 1 made by `userlake gen` (its plan is read from the lake).
    #[arg(long)]
    pub from_day: Option<u32>,
    /// First day, YYYY-MM-DD [default: 2026-01-01].
    #[arg(long, value_parser = parse_date)]
    pub start: Option<chrono::NaiveDate>,
    /// Random seed: the same seed gives the same rows [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scales how often people come back (visit rates), e.g. 1.5 for more events per person
    /// [default: 1.0].
    #[arg(long)]
    pub activity: Option<f64>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct StitchArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// The edge table or view (columns a_type, a_value, b_type, b_value, seen_at, source). The
    /// default is made by sql/identity_edges.sql: the lake's identity_edges plus the
    /// identifiers seen together on events and orders.
    #[arg(long, default_value = DEFAULT_EDGES)]
    pub edges: String,
    /// SQL scripts run before stitching, e.g. to define the edge view (repeatable).
    #[arg(long = "sql", value_name = "FILE")]
    pub scripts: Vec<PathBuf>,
    /// Guard rails as TOML (placeholders, hubs, limits, priority); default: the documented
    /// defaults.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// The --out of the previous run (a directory or s3:// prefix): unified ids are carried
    /// forward from its id_graph.
    #[arg(long)]
    pub previous: Option<String>,
    /// Where the four outputs are written (each a directory of Parquet): a directory or
    /// s3://bucket/prefix.
    #[arg(long, required_unless_present = "explain")]
    pub out: Option<String>,
    /// Explain how two identifiers were joined or why they were kept apart, instead of
    /// writing outputs: --explain phone:13812345678 member_id:M123.
    #[arg(long, num_args = 2, value_names = ["TYPE:VALUE", "TYPE:VALUE"])]
    pub explain: Option<Vec<String>>,
}

fn parse_date(text: &str) -> std::result::Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| format!("'{text}' is not a date in YYYY-MM-DD form: {e}"))
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Sql(args) => run_sql(args).await,
        Command::Run(args) => run_batch(args).await,
        Command::Runs(args) => list_job_runs(args).await,
        Command::Gen(args) => run_gen(args).await,
        Command::Stitch(args) => run_stitch(args).await,
        Command::Report(args) => write_report(args).await,
        #[cfg(feature = "server")]
        Command::Serve(args) => serve(args.options()?, shutdown_signal()).await,
        Command::Docs(args) => write_docs(&args),
        #[cfg(feature = "cluster")]
        Command::Worker(args) => run_worker(args, shutdown_signal()).await,
    }
}

async fn run_sql(args: SqlArgs) -> Result<()> {
    if args.format.is_binary() && args.output.is_none() {
        return Err(Error::usage(
            format!(
                "--format {:?} writes a binary file: give it a path with -o",
                args.format
            )
            .to_lowercase(),
        ));
    }
    // A bad output location is refused before anything runs.
    if let Some(output) = &args.output
        && let LakeLocation::Remote(url) = LakeLocation::parse(output)?
    {
        split_object_url(&url, output)?;
    }
    let mut sql = String::new();
    for command in &args.commands {
        sql.push_str(command);
        sql.push_str(";\n");
    }
    if let Some(file) = &args.file {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        sql.push_str(&text);
    }
    let session = build_session(&args.session.options()?).await?;
    if args.commands.is_empty() && args.file.is_none() {
        #[cfg(feature = "shell")]
        return run_shell(&session.ctx).await;
        #[cfg(not(feature = "shell"))]
        return Err(Error::usage(
            "this userlake was built without the shell (cargo feature `shell`): give -c SQL \
             or -f FILE",
        ));
    }
    let statements = split_statements(&sql);
    if statements.is_empty() {
        return Err(Error::usage("no SQL statements to run"));
    }
    let last = statements.len() - 1;
    for (index, statement) in statements.iter().enumerate() {
        let result = execute(&session.ctx, statement).await?;
        match (&args.output, index == last) {
            (Some(location), true) => {
                write_result(
                    &session.ctx,
                    location,
                    args.format,
                    &result.schema,
                    &result.batches,
                )
                .await?
            }
            (Some(_), false) => {}
            (None, _) => {
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                write_batches(&mut lock, args.format, &result.schema, &result.batches)?;
                lock.flush().map_err(|e| Error::io("<stdout>", e))?;
            }
        }
    }
    Ok(())
}

async fn run_batch(args: RunArgs) -> Result<()> {
    let variables = args
        .vars
        .iter()
        .map(|v| parse_variable(v))
        .collect::<Result<Vec<_>>>()?;
    let is_job_file = |path: &PathBuf| path.extension().is_some_and(|e| e == "toml");
    if args.scripts.iter().any(is_job_file) {
        if args.scripts.len() > 1 {
            return Err(Error::usage(
                "run takes one job file (JOB.toml) or SQL scripts, not both",
            ));
        }
        return run_job_file(&args, variables).await;
    }
    if args.date.is_some() {
        return Err(Error::usage(
            "--date is for job files (JOB.toml); scripts take --var",
        ));
    }
    if args.full_refresh {
        return Err(Error::usage(
            "--full-refresh is for job files (JOB.toml); scripts always run whole",
        ));
    }
    for script in &args.scripts {
        if !script.is_file() {
            return Err(Error::io(
                script,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such script"),
            ));
        }
    }
    let session = build_session(&args.session.options()?).await?;
    let out = Storage::open_text(&session.ctx.runtime_env(), &args.out)?;
    let summary = run_job(
        &session.ctx,
        &JobOptions {
            scripts: args.scripts.clone(),
            variables,
            out,
            progress: true,
        },
    )
    .await?;
    log::info!(
        "done: {} statements, {} rows, {:.2}s; outputs: {}",
        summary.statements,
        summary.rows,
        summary.seconds,
        if summary.outputs.is_empty() {
            "none".to_string()
        } else {
            summary.outputs.join(", ")
        }
    );
    Ok(())
}

async fn run_job_file(args: &RunArgs, overrides: Vec<(String, String)>) -> Result<()> {
    // the job file is read and checked before the lake is opened
    let job = JobFile::read(&args.scripts[0])?;
    let session_options = args.session.options()?;
    let lake = session_options
        .lake
        .clone()
        .ok_or_else(|| Error::usage("no lake"))?;
    let session = build_session(&session_options).await?;
    let out = Storage::open_text(&session.ctx.runtime_env(), &args.out)?;
    let summary = run_pipeline(
        &session,
        &PipelineOptions {
            job,
            lake,
            out: out.clone(),
            date: args.date,
            overrides,
            full_refresh: args.full_refresh,
            memory_limit: session_options.memory_limit,
            progress: true,
        },
    )
    .await?;
    let rows: u64 = summary.outputs.iter().map(|o| o.rows).sum();
    let reused = summary.steps.iter().filter(|s| s.reused).count();
    log::info!(
        "committed run {} of {} in {:.2}s: {} steps{}, {} tables, {} rows; in {}",
        summary.run_id,
        summary.date,
        summary.seconds,
        summary.steps.len(),
        if reused > 0 {
            format!(" ({reused} reused)")
        } else {
            String::new()
        },
        summary.outputs.len(),
        rows,
        out.describe(&summary.run_path)
    );
    for removed in &summary.removed {
        log::info!("removed {}", out.describe(removed));
    }
    Ok(())
}

async fn list_job_runs(args: RunsArgs) -> Result<()> {
    let runtime = object_store_runtime()?;
    let out = Storage::open_text(&runtime, &args.out)?;
    let date = args.date.map(|d| d.format("%Y-%m-%d").to_string());
    let runs = list_runs(&out, date.as_deref()).await?;
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let write = |lock: &mut std::io::StdoutLock, line: String| {
        writeln!(lock, "{line}").map_err(|e| Error::io("<stdout>", e))
    };
    write(
        &mut lock,
        format!(
            "{:<10}  {:<27}  {:<10}  {:>12}  {:>9}  {}",
            "date", "run_id", "status", "rows", "seconds", "steps"
        ),
    )?;
    for run in &runs {
        let line = match &run.manifest {
            Some(manifest) => format!(
                "{:<10}  {:<27}  {:<10}  {:>12}  {:>9.2}  {}",
                run.date,
                run.run_id,
                "committed",
                manifest.outputs.iter().map(|o| o.rows).sum::<u64>(),
                manifest.seconds,
                manifest.steps.len()
            ),
            None => format!(
                "{:<10}  {:<27}  {:<10}  {:>12}  {:>9}  {} finished{}",
                run.date,
                run.run_id,
                "incomplete",
                "-",
                "-",
                run.finished_steps.len(),
                if run.record.is_none() {
                    " (no run record)"
                } else {
                    ""
                }
            ),
        };
        write(&mut lock, line)?;
    }
    Ok(())
}

async fn run_stitch(args: StitchArgs) -> Result<()> {
    let session = build_session(&args.session.options()?).await?;
    for script in &args.scripts {
        let sql = std::fs::read_to_string(script).map_err(|e| Error::io(script, e))?;
        for statement in split_statements(&sql) {
            execute(&session.ctx, &statement)
                .await
                .map_err(|e| Error::Script {
                    script: script.clone(),
                    source: Box::new(e),
                })?;
        }
    }
    let options = StitchOptions {
        edges: args.edges.clone(),
        rules: args.rules.clone(),
        previous: args.previous.clone(),
    };
    if let Some(pair) = &args.explain {
        let explanation = explain(&session.ctx, &options, &pair[0], &pair[1]).await?;
        print!("{explanation}");
        return Ok(());
    }
    let Some(out) = &args.out else {
        return Err(Error::usage("--out is required (or --explain)"));
    };
    let storage = Storage::open_text(&session.ctx.runtime_env(), out)?;
    let summary = run_stitch_job(&session.ctx, &options, &storage).await?;
    log::info!(
        "stitched {} identifiers into {} people ({} hubs excluded) in {:.2}s ({}); outputs in {}",
        summary.identifiers,
        summary.components,
        summary.hubs,
        summary.seconds,
        summary.phases.join(", "),
        out
    );
    Ok(())
}

fn write_docs(args: &DocsArgs) -> Result<()> {
    if args.check {
        let stale = stale_pages(&args.out)?;
        if stale.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::usage(format!(
            "the function reference is stale: {} (run `userlake docs --out {}`)",
            names.join(", "),
            args.out.display()
        )));
    }
    let pages = write_reference(&args.out)?;
    log::info!(
        "wrote {pages} pages of the function reference in {}",
        args.out.display()
    );
    Ok(())
}

async fn run_gen(args: GenArgs) -> Result<()> {
    let location = LakeLocation::parse(&args.out)?;
    let runtime = object_store_runtime()?;
    let storage = Storage::create(&runtime, &location)?;
    // A lake on object storage is generated on local disk first, then uploaded.
    let (out_dir, local_staging) = match &location {
        LakeLocation::Local(path) => (path.clone(), None),
        LakeLocation::Remote(_) => {
            let staging = tempfile::Builder::new()
                .prefix("userlake-gen-")
                .tempdir()
                .map_err(|e| Error::io(std::env::temp_dir(), e))?;
            (staging.path().to_path_buf(), Some(staging))
        }
    };
    let config = generator_config(&args, &storage, out_dir.clone()).await?;
    let record = GeneratorRecord::of(&config);
    let report = tokio::task::spawn_blocking(move || generate(&config))
        .await
        .map_err(|e| Error::context("the generator stopped", e))??;
    if local_staging.is_some() {
        // appended days join the lake's objects; a whole lake replaces its tables
        if record.last_from_day > 1 {
            storage.add_from(&out_dir).await?;
        } else {
            storage.publish_from(&out_dir).await?;
        }
    }
    // Last: a lake whose generation stopped half way still records the days it held before.
    let record_json = serde_json::to_vec_pretty(&record)
        .map_err(|e| Error::context(format!("cannot encode {RECORD_FILE}"), e))?;
    storage.put(RECORD_FILE, record_json).await?;
    log::info!(
        "wrote {} (days {}-{}): {} users, {} events ({} late), {} touches, {} orders, \
         {} identity edges, {} referrals, {} truth rows in {:.1}s ({:.0} events/s){}",
        args.out,
        record.last_from_day,
        record.days,
        report.users,
        report.events,
        report.late_events,
        report.touches,
        report.orders,
        report.identity_edges,
        report.referrals,
        report.truth_rows,
        report.seconds,
        report.events as f64 / report.seconds.max(1e-9),
        report
            .peak_memory_bytes
            .map(|b| format!(", peak memory {:.0} MiB", b as f64 / (1024.0 * 1024.0)))
            .unwrap_or_default()
    );
    Ok(())
}

/// The generation `gen` asks for: the options as given, or with --from-day the plan the lake
/// records, which options given again must match.
async fn generator_config(args: &GenArgs, lake: &Storage, out: PathBuf) -> Result<GeneratorConfig> {
    let from_day = args.from_day.unwrap_or(1);
    let whole = GeneratorConfig {
        out,
        users: args.users.unwrap_or(10_000),
        days: args.days,
        plan_days: args.plan_days.unwrap_or(args.days),
        from_day,
        start: args
            .start
            .unwrap_or_else(|| chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default()),
        seed: args.seed.unwrap_or(42),
        activity: args.activity.unwrap_or(1.0),
        progress: !args.quiet,
    };
    if from_day <= 1 {
        return Ok(whole);
    }
    if from_day > args.days {
        return Err(Error::usage(format!(
            "--from-day {from_day}: must be between 1 and --days ({})",
            args.days
        )));
    }
    let described = lake.describe(RECORD_FILE);
    let Some(bytes) = lake.get(RECORD_FILE).await? else {
        return Err(Error::usage(format!(
            "--from-day {from_day}: {described} does not exist, so {} is not a lake made by \
             `userlake gen`; generate its first days without --from-day",
            args.out
        )));
    };
    let record: GeneratorRecord = serde_json::from_slice(&bytes)
        .map_err(|e| Error::context(format!("{described}: not a generator record"), e))?;
    // each option given again must be the lake's (values compared as printed)
    let checks = [
        (
            "users",
            args.users.map(|v| v.to_string()),
            record.users.to_string(),
        ),
        (
            "seed",
            args.seed.map(|v| v.to_string()),
            record.seed.to_string(),
        ),
        (
            "start",
            args.start.map(|v| v.to_string()),
            record.start.to_string(),
        ),
        (
            "activity",
            args.activity.map(|v| v.to_string()),
            record.activity.to_string(),
        ),
        (
            "plan-days",
            args.plan_days.map(|v| v.to_string()),
            record.plan_days.to_string(),
        ),
    ];
    for (option, value, recorded) in checks {
        if let Some(value) = value.filter(|value| *value != recorded) {
            return Err(Error::usage(format!(
                "--{option} {value}: the lake at {} was generated with --{option} {recorded}; \
                 an appended day must come from the same plan (leave --{option} out to use \
                 the lake's)",
                args.out
            )));
        }
    }
    let repeats_last = from_day == record.last_from_day && args.days == record.days;
    if from_day != record.days + 1 && !repeats_last {
        return Err(Error::usage(format!(
            "--from-day {from_day}: the lake at {} holds days 1 to {}, so the next day to \
             append is {}",
            args.out,
            record.days,
            record.days + 1
        )));
    }
    Ok(GeneratorConfig {
        users: record.users,
        plan_days: record.plan_days,
        start: record.start,
        seed: record.seed,
        activity: record.activity,
        ..whole
    })
}

/// `userlake report`: renders a committed run's tables into one HTML file.
async fn write_report(args: ReportArgs) -> Result<()> {
    // a bad output location is refused before anything is read
    let target = match args.output.as_str() {
        "-" => None,
        output => {
            let location = LakeLocation::parse(output)?;
            if let LakeLocation::Remote(url) = &location {
                split_object_url(url, output)?;
            }
            Some(location)
        }
    };
    let session = build_session(&SessionOptions::default()).await?;
    let ctx = &session.ctx;
    let out = Storage::open_text(&ctx.runtime_env(), &args.out)?;
    let run = crate::runs::find_committed_run(&out, args.run.as_deref()).await?;
    crate::lake::register_run_tables(ctx, &out, &run).await?;
    let report_run =
        crate::report::ReportRun::of(&run.manifest.run, Some(&run.manifest.committed_at));
    let html = crate::report::render(ctx, &report_run).await;
    match target {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(html.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| Error::io("<stdout>", e))?;
        }
        Some(LakeLocation::Local(path)) => {
            crate::output::write_file_atomically(&path, |file| {
                file.write_all(html.as_bytes())
                    .map_err(|e| Error::io(&path, e))
            })?;
        }
        Some(LakeLocation::Remote(url)) => {
            let (bucket, key) = split_object_url(&url, &args.output)?;
            let storage = Storage::open(&ctx.runtime_env(), &LakeLocation::Remote(bucket))?;
            storage.put(&key, html.into_bytes()).await?;
        }
    }
    if args.output != "-" {
        log::info!("report of {} written to {}", run.path, args.output);
    }
    Ok(())
}

/// Writes the result of `sql -o LOCATION`: a local file is written beside its target and
/// renamed; an object is written to a local temporary file and uploaded whole.
async fn write_result(
    ctx: &datafusion::prelude::SessionContext,
    location: &str,
    format: OutputFormat,
    schema: &arrow::datatypes::SchemaRef,
    batches: &[arrow::array::RecordBatch],
) -> Result<()> {
    match LakeLocation::parse(location)? {
        LakeLocation::Local(path) => write_batches_to_file(&path, format, schema, batches),
        LakeLocation::Remote(url) => {
            let (bucket, key) = split_object_url(&url, location)?;
            let temporary = tempfile::Builder::new()
                .prefix("userlake-output-")
                .tempdir()
                .map_err(|e| Error::io(std::env::temp_dir(), e))?;
            let file = temporary.path().join("result");
            write_batches_to_file(&file, format, schema, batches)?;
            let storage = Storage::open(&ctx.runtime_env(), &LakeLocation::Remote(bucket))?;
            storage.upload_file(&file, &key).await?;
            Ok(())
        }
    }
}

/// `s3://bucket/a/b.csv` as the bucket's URL and the key `a/b.csv`.
fn split_object_url(url: &url::Url, text: &str) -> Result<(url::Url, String)> {
    let key = url.path().trim_start_matches('/').to_string();
    if key.is_empty() || key.ends_with('/') {
        return Err(Error::usage(format!(
            "-o {text}: name an object (s3://bucket/path/file.csv), not a bucket or prefix"
        )));
    }
    let mut bucket = url.clone();
    bucket.set_path("/");
    Ok((bucket, key))
}
