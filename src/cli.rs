//! The command line: `userlake sql`, `userlake run`, `userlake gen` and `userlake stitch`. Parsing is clap's;
//! each subcommand is a thin call into the library.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::byte_size::parse_byte_size;
use crate::error::{Error, Result};
use crate::generator::{GeneratorConfig, generate};
use crate::job::{JobOptions, parse_variable, run_job};
use crate::lake::LakeLocation;
use crate::output::{OutputFormat, write_batches, write_batches_to_file};
use crate::query::execute;
use crate::script::split_statements;
use crate::session::{SessionOptions, build_session};
use crate::shell::run_shell;
use crate::stitch_job::{DEFAULT_EDGES, StitchOptions, explain, run_stitch_job};

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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run SQL: an interactive shell, or the statements given with -c / -f.
    Sql(SqlArgs),
    /// Run a batch job: SQL scripts with ${NAME} variables, writing outputs under --out.
    Run(RunArgs),
    /// Generate a realistic lake of the canonical tables.
    Gen(GenArgs),
    /// Stitch identities (OneID): write id_graph, rejected_edges, merge_log and run_stats.
    Stitch(StitchArgs),
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
}

fn parse_size_arg(text: &str) -> std::result::Result<usize, String> {
    parse_byte_size(text).map_err(|e| e.to_string())
}

impl SessionArgs {
    pub fn options(&self) -> Result<SessionOptions> {
        Ok(SessionOptions {
            lake: Some(LakeLocation::parse(&self.lake)?),
            memory_limit: self.memory_limit,
            spill_dir: self.spill_dir.clone(),
            target_partitions: self.target_partitions,
        })
    }
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// A statement to run (repeatable); without -c or -f the shell starts.
    #[arg(short = 'c', long = "command")]
    pub commands: Vec<String>,
    /// A file of statements to run.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// How results are printed.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the last statement's result to this file instead of standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The SQL scripts, run in order in one session.
    #[arg(required = true)]
    pub scripts: Vec<PathBuf>,
    #[command(flatten)]
    pub session: SessionArgs,
    /// A variable for ${NAME} in the scripts (repeatable): NAME=VALUE. `${NAME:-default}` in a
    /// script gives a default.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Where outputs go; the script writes under it as ${out}.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// The lake directory to write (tables of the same names are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// People to simulate.
    #[arg(long, default_value_t = 10_000)]
    pub users: u64,
    /// Days to simulate.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// First day, YYYY-MM-DD.
    #[arg(long, default_value = "2026-01-01", value_parser = parse_date)]
    pub start: chrono::NaiveDate,
    /// Random seed: the same seed gives the same rows.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Scales how often people come back (visit rates), e.g. 1.5 for more events per person.
    #[arg(long, default_value_t = 1.0)]
    pub activity: f64,
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
    /// The --out of the previous run: unified ids are carried forward from its id_graph.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// Where the four outputs are written (each a directory of Parquet).
    #[arg(long, required_unless_present = "explain")]
    pub out: Option<PathBuf>,
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
        Command::Gen(args) => run_gen(args),
        Command::Stitch(args) => run_stitch(args).await,
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
        return run_shell(&session.ctx).await;
    }
    let statements = split_statements(&sql);
    if statements.is_empty() {
        return Err(Error::usage("no SQL statements to run"));
    }
    let last = statements.len() - 1;
    for (index, statement) in statements.iter().enumerate() {
        let result = execute(&session.ctx, statement).await?;
        match (&args.output, index == last) {
            (Some(path), true) => {
                write_batches_to_file(path, args.format, &result.schema, &result.batches)?
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
    for script in &args.scripts {
        if !script.is_file() {
            return Err(Error::io(
                script,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such script"),
            ));
        }
    }
    let session = build_session(&args.session.options()?).await?;
    let summary = run_job(
        &session.ctx,
        &JobOptions {
            scripts: args.scripts.clone(),
            variables,
            out_dir: args.out.clone(),
            progress: true,
        },
    )
    .await?;
    eprintln!(
        "done: {} statements, {} rows, {:.2}s; outputs: {}",
        summary.statements,
        summary.rows,
        summary.seconds,
        if summary.outputs.is_empty() {
            "none".to_string()
        } else {
            summary
                .outputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    Ok(())
}

async fn run_stitch(args: StitchArgs) -> Result<()> {
    let session = build_session(&args.session.options()?).await?;
    for script in &args.scripts {
        let sql = std::fs::read_to_string(script).map_err(|e| Error::io(script, e))?;
        for statement in split_statements(&sql) {
            execute(&session.ctx, &statement)
                .await
                .map_err(|e| Error::usage(format!("{}: {e}", script.display())))?;
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
    let summary = run_stitch_job(&session.ctx, &options, out).await?;
    eprintln!(
        "stitched {} identifiers into {} people ({} hubs excluded) in {:.2}s ({}); outputs in {}",
        summary.identifiers,
        summary.components,
        summary.hubs,
        summary.seconds,
        summary.phases.join(", "),
        out.display()
    );
    Ok(())
}

fn run_gen(args: GenArgs) -> Result<()> {
    let report = generate(&GeneratorConfig {
        out: args.out.clone(),
        users: args.users,
        days: args.days,
        start: args.start,
        seed: args.seed,
        activity: args.activity,
        progress: !args.quiet,
    })?;
    eprintln!(
        "wrote {}: {} users, {} events ({} late), {} touches, {} orders, {} identity edges, \
         {} referrals, {} truth rows in {:.1}s ({:.0} events/s){}",
        args.out.display(),
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
