//! `userlake gen`: writes a lake of the canonical tables that looks like a real private-domain
//! operation, and what real data gets wrong (placeholder ids, shared store devices, a shared
//! test phone, late events, refunds), with a `_truth` table of who is who.
//!
//! Tables are written into a staging directory and moved into place at the end, so a failed
//! or interrupted run leaves no half-written lake.
//!
//! A lake grows a day at a time: `--from-day N` simulates the same lake (same seed and plan)
//! from its first day, writes only days N and later, and adds them beside the lake's files. The
//! lake's `_generator.json` records the plan and the days written, so an append is checked
//! against the lake it extends.

mod ids;
mod model;
mod row_order;
mod simulate;
mod tables;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use simulate::{Writers, simulate};
use writer::{TableWriter, WriteWindow};

pub use model::CHANNELS;

/// The lake file that records how a generated lake was made.
pub const RECORD_FILE: &str = "_generator.json";

#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    pub out: PathBuf,
    /// People the plan acquires over `plan_days`.
    pub users: u64,
    /// The lake's last day (1-based): days 1 to `days` are simulated.
    pub days: u32,
    /// The days the plan spreads `users` over; acquisition goes on past them at the same growth.
    pub plan_days: u32,
    /// The first day written (1-based); 1 writes the whole lake, replacing its tables.
    pub from_day: u32,
    pub start: chrono::NaiveDate,
    pub seed: u64,
    /// Scales how often people come back (1.0: the calibrated default).
    pub activity: f64,
    pub progress: bool,
}

/// `_generator.json`: the plan of a generated lake and the days it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorRecord {
    pub seed: u64,
    pub users: u64,
    pub plan_days: u32,
    pub start: chrono::NaiveDate,
    pub activity: f64,
    /// The lake holds days 1 to `days`.
    pub days: u32,
    /// The first day the last generation wrote (1 when it wrote the whole lake).
    pub last_from_day: u32,
}

impl GeneratorRecord {
    pub fn of(config: &GeneratorConfig) -> Self {
        Self {
            seed: config.seed,
            users: config.users,
            plan_days: config.plan_days,
            start: config.start,
            activity: config.activity,
            days: config.days,
            last_from_day: config.from_day,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GeneratorReport {
    pub users: u64,
    pub events: u64,
    pub touches: u64,
    pub late_events: u64,
    pub orders: u64,
    pub identity_edges: u64,
    pub referrals: u64,
    pub truth_rows: u64,
    pub seconds: f64,
    /// The process's peak resident memory, where the OS tells it (Linux).
    pub peak_memory_bytes: Option<u64>,
}

pub const TABLES: [&str; 7] = [
    "events",
    "touches",
    "orders",
    "identity_edges",
    "referrals",
    "costs",
    "_truth",
];

pub fn generate(config: &GeneratorConfig) -> Result<GeneratorReport> {
    if config.users == 0 || config.users > u32::MAX as u64 {
        return Err(Error::usage(format!(
            "--users {}: must be between 1 and {}",
            config.users,
            u32::MAX
        )));
    }
    if config.days == 0 || config.days > 3660 {
        return Err(Error::usage(format!(
            "--days {}: must be between 1 and 3660",
            config.days
        )));
    }
    if config.plan_days == 0 || config.plan_days > 3660 {
        return Err(Error::usage(format!(
            "--plan-days {}: must be between 1 and 3660",
            config.plan_days
        )));
    }
    if config.from_day == 0 || config.from_day > config.days {
        return Err(Error::usage(format!(
            "--from-day {}: must be between 1 and --days ({})",
            config.from_day, config.days
        )));
    }
    if !(config.activity.is_finite() && config.activity > 0.0 && config.activity <= 20.0) {
        return Err(Error::usage(format!(
            "--activity {}: must be a number above 0 and at most 20",
            config.activity
        )));
    }
    let started = Instant::now();
    std::fs::create_dir_all(&config.out).map_err(|e| Error::io(&config.out, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".gen-")
        .tempdir_in(&config.out)
        .map_err(|e| Error::io(&config.out, e))?;
    let window = WriteWindow {
        first_partition: (config.from_day > 1).then(|| {
            (config.start + chrono::Days::new(config.from_day as u64 - 1))
                .format("%Y-%m-%d")
                .to_string()
        }),
        first_day: config.from_day,
    };
    let dir = |table: &str| staging.path().join(table);
    let spawn =
        |table: &str, schema, order| TableWriter::spawn(dir(table), schema, window.clone(), order);
    let writers = Writers {
        events: spawn(
            "events",
            tables::events_schema(),
            Some(tables::EVENTS_ORDER),
        ),
        touches: spawn("touches", tables::touches_schema(), None),
        orders: spawn(
            "orders",
            tables::orders_schema(),
            Some(tables::ORDERS_ORDER),
        ),
        edges: spawn("identity_edges", tables::identity_edges_schema(), None),
        referrals: spawn("referrals", tables::referrals_schema(), None),
        truth: spawn("_truth", tables::truth_schema(), None),
        costs: spawn("costs", tables::costs_schema(), None),
    };

    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let start_micros = (config.start - epoch).num_days() * model::MICROS_PER_DAY;
    let mut population = model::build_population(
        config.seed,
        config.users,
        config.plan_days,
        config.days,
        start_micros,
        config.activity,
    );
    let people = population.people.len() as u64;

    let bar = if config.progress {
        let bar = ProgressBar::new(config.days as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} generating day {pos}/{len} {wide_bar} {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let simulated = simulate(
        config.seed,
        config.days,
        config.from_day - 1,
        config.start,
        &mut population,
        &writers,
        |_| bar.inc(1),
    );
    bar.finish_and_clear();
    // Writers are always joined, so their own errors (a full disk) are the ones reported.
    let finished = [
        writers.events.finish(),
        writers.touches.finish(),
        writers.orders.finish(),
        writers.edges.finish(),
        writers.referrals.finish(),
        writers.truth.finish(),
        writers.costs.finish(),
    ];
    let mut written = Vec::with_capacity(finished.len());
    for result in finished {
        written.push(result?);
    }
    let counts = simulated?;

    if config.from_day > 1 {
        append(staging.path(), &config.out)?;
    } else {
        publish(staging.path(), &config.out)?;
    }
    Ok(GeneratorReport {
        users: people,
        events: written[0],
        touches: written[1],
        late_events: counts.late_events,
        orders: written[2],
        identity_edges: written[3],
        referrals: written[4],
        truth_rows: written[5],
        seconds: started.elapsed().as_secs_f64(),
        peak_memory_bytes: peak_memory_bytes(),
    })
}

/// Replaces each generated table in `out`; tables of other names are left alone.
fn publish(staging: &Path, out: &Path) -> Result<()> {
    for table in TABLES {
        let source = staging.join(table);
        if !source.exists() {
            continue;
        }
        let target = out.join(table);
        if target.exists() {
            let aside = out.join(format!(".replaced-{}-{table}", std::process::id()));
            std::fs::rename(&target, &aside).map_err(|e| Error::io(&target, e))?;
            std::fs::rename(&source, &target).map_err(|e| Error::io(&target, e))?;
            std::fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))?;
        } else {
            std::fs::rename(&source, &target).map_err(|e| Error::io(&target, e))?;
        }
    }
    Ok(())
}

/// Adds the appended days' files to the lake's tables, each file replacing one of its name
/// (the same append run again writes the same files).
fn append(staging: &Path, out: &Path) -> Result<()> {
    for table in TABLES {
        let source = staging.join(table);
        if !source.exists() {
            continue;
        }
        let target = out.join(table);
        std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
        let entries = std::fs::read_dir(&source).map_err(|e| Error::io(&source, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&source, e))?;
            let destination = target.join(entry.file_name());
            if destination.is_dir() {
                std::fs::remove_dir_all(&destination).map_err(|e| Error::io(&destination, e))?;
            } else if destination.exists() {
                std::fs::remove_file(&destination).map_err(|e| Error::io(&destination, e))?;
            }
            std::fs::rename(entry.path(), &destination).map_err(|e| Error::io(&destination, e))?;
        }
    }
    Ok(())
}

/// VmHWM from /proc: the peak resident set of this process.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}
