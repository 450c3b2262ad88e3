//! The whole nightly job (`jobs/nightly.toml`) as users run it: the release binary, a lake made
//! by `userlake gen`, and for each run the wall time, the peak RSS (`/usr/bin/time -v`) and
//! every step's seconds from the run's manifest, as medians and ranges in Markdown. Two
//! scenarios, `--runs` runs each:
//!
//! - every step run (`--full-refresh`), night after night (each run reads the id graph of the
//!   night before, as nights do);
//! - a night that adds one day: a hard-linked copy of the lake grows by a day with
//!   `userlake gen --from-day`, and the job runs for it reading its kept state.
//!
//! ```text
//! cargo bench --bench nightly_job -- --users 125000 --days 200 --seed 1 [--runs 3]
//!     [--memory-limit 4G] [--lake DIR] [--threads 2]
//! ```
//!
//! The lake is generated under `bench-data/` (or taken from --lake when it exists already).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn argument(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if !n.is_multiple_of(2) {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn summary(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    let mid = median(&mut sorted);
    format!(
        "{mid:.2} ({:.2}–{:.2})",
        sorted.first().copied().unwrap_or(0.0),
        sorted.last().copied().unwrap_or(0.0)
    )
}

/// Runs `command` under `/usr/bin/time -v`: wall seconds and peak RSS in MiB.
fn timed(mut command: Command) -> (f64, Option<f64>) {
    let started = Instant::now();
    let output = command.output().expect("the command starts");
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the job failed:\n{stderr}");
    let peak = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0);
    (seconds, peak)
}

fn userlake_command(binary: &Path, time: bool) -> Command {
    if time && Path::new("/usr/bin/time").exists() {
        let mut command = Command::new("/usr/bin/time");
        command.arg("-v").arg(binary);
        command
    } else {
        Command::new(binary)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(users) = argument(&args, "--users") else {
        eprintln!("nightly_job: pass --users N --days D (see benches/nightly_job.rs); skipped");
        return;
    };
    let days = argument(&args, "--days").unwrap_or_else(|| "200".into());
    let seed = argument(&args, "--seed").unwrap_or_else(|| "1".into());
    let runs: usize = argument(&args, "--runs")
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_userlake"));
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let lake = argument(&args, "--lake")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(format!("bench-data/lake-{users}-{days}-{seed}")));
    if !lake.join("events").is_dir() {
        let (seconds, _) = timed({
            let mut command = userlake_command(&binary, false);
            command.args([
                "gen", "--users", &users, "--days", &days, "--seed", &seed, "--quiet", "--out",
            ]);
            command.arg(&lake);
            command
        });
        println!("generated {} in {seconds:.1}s", lake.display());
    }
    let out = tempfile::tempdir().expect("a temporary directory");
    let job = Job {
        binary: &binary,
        repo: &repo,
        out: out.path(),
        extra: ["--memory-limit", "--threads"]
            .iter()
            .filter_map(|flag| argument(&args, flag).map(|value| (*flag, value)))
            .map(|(flag, value)| {
                let flag = if flag == "--threads" {
                    "--target-partitions"
                } else {
                    flag
                };
                (flag.to_string(), value)
            })
            .collect(),
    };

    // The whole job, night after night (each run starts from the id graph of the night
    // before), every step run and the kept state rebuilt.
    let mut whole = Measured::default();
    for run in 0..runs {
        let date = format!("2030-01-{:02}", run + 1);
        whole.add(job.run(&lake, &date, &["--full-refresh"]), run + 1);
    }
    whole.print(
        &format!("nightly job on {}, every step run", lake.display()),
        runs,
    );

    // A night that adds one day: a hard-linked copy of the lake grows by a day with
    // `gen --from-day`, and the job runs for it as scheduled, reading the kept state.
    let grown = out.path().join("lake");
    hard_link_tree(&lake, &grown);
    let first_day: u32 = days.parse().expect("--days is a number");
    let record = grown.join("_generator.json");
    if !record.exists() {
        // a lake generated before gen recorded its plan: the plan is the bench's arguments
        println!(
            "{}: no _generator.json; taking the plan from the arguments",
            lake.display()
        );
        let plan = serde_json::json!({
            "seed": seed.parse::<u64>().expect("--seed is a number"),
            "users": users.parse::<u64>().expect("--users is a number"),
            "plan_days": first_day, "start": "2026-01-01", "activity": 1.0,
            "days": first_day, "last_from_day": 1,
        });
        std::fs::write(&record, plan.to_string()).expect("the plan");
    }
    let mut nightly = Measured::default();
    for night in 1..=runs {
        let day = (first_day as usize + night).to_string();
        let (seconds, _) = timed({
            let mut command = userlake_command(&binary, false);
            command.args([
                "gen",
                "--quiet",
                "--days",
                &day,
                "--from-day",
                &day,
                "--out",
            ]);
            command.arg(&grown);
            command
        });
        println!("appended day {day} in {seconds:.1}s");
        let date = format!("2030-02-{night:02}");
        nightly.add(job.run(&grown, &date, &[]), night);
    }
    nightly.print("the same job on a night that adds one day", runs);
}

/// Links every file below `from` into the same place below `to`, so the copy costs nothing
/// and the original is never touched (what `gen --from-day` adds or replaces in the copy is a
/// new file).
fn hard_link_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("the copy's directory");
    for entry in std::fs::read_dir(from).expect("the lake") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            hard_link_tree(&entry.path(), &target);
        } else {
            std::fs::hard_link(entry.path(), &target).expect("a hard link");
        }
    }
}

struct Job<'a> {
    binary: &'a Path,
    repo: &'a Path,
    out: &'a Path,
    extra: Vec<(String, String)>,
}

/// One committed run: wall seconds, peak RSS (MiB) and each step's seconds, in order.
struct RunFigures {
    seconds: f64,
    peak: Option<f64>,
    steps: Vec<(String, f64)>,
}

impl Job<'_> {
    fn run(&self, lake: &Path, date: &str, flags: &[&str]) -> RunFigures {
        let mut command = userlake_command(self.binary, true);
        command
            .current_dir(self.repo)
            .args(["run", "jobs/nightly.toml", "--date", date, "--lake"])
            .arg(lake)
            .arg("--out")
            .arg(self.out)
            .args(flags);
        for (flag, value) in &self.extra {
            command.args([flag, value]);
        }
        let (seconds, peak) = timed(command);
        // the committed run is the newest manifest of the date
        let date_dir = self.out.join("runs").join(date);
        let mut ids: Vec<PathBuf> = std::fs::read_dir(&date_dir)
            .expect("the run directory")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.join("_manifest.json").is_file())
            .collect();
        ids.sort();
        let newest = ids.last().expect("a committed run");
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(newest.join("_manifest.json")).expect("the manifest"),
        )
        .expect("a manifest");
        let steps = manifest["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|step| {
                (
                    step["step"].as_str().unwrap_or("?").to_string(),
                    step["seconds"].as_f64().unwrap_or(f64::NAN),
                )
            })
            .collect();
        RunFigures {
            seconds,
            peak,
            steps,
        }
    }
}

#[derive(Default)]
struct Measured {
    walls: Vec<f64>,
    peaks: Vec<f64>,
    steps: BTreeMap<usize, (String, Vec<f64>)>,
}

impl Measured {
    fn add(&mut self, run: RunFigures, number: usize) {
        println!(
            "run {number}: {:.2}s, peak RSS {}",
            run.seconds,
            run.peak
                .map(|p| format!("{p:.0} MiB"))
                .unwrap_or_else(|| "unknown".into())
        );
        self.walls.push(run.seconds);
        self.peaks.extend(run.peak);
        for (index, (name, seconds)) in run.steps.into_iter().enumerate() {
            self.steps
                .entry(index)
                .or_insert_with(|| (name, Vec::new()))
                .1
                .push(seconds);
        }
    }

    fn print(&self, title: &str, runs: usize) {
        println!("\n{title} ({runs} runs; median (min–max)):\n");
        println!("| step | seconds |\n|---|---|");
        for (name, seconds) in self.steps.values() {
            println!("| {name} | {} |", summary(seconds));
        }
        println!("| **whole job (wall)** | {} |", summary(&self.walls));
        if !self.peaks.is_empty() {
            println!("| **peak RSS (MiB)** | {} |", summary(&self.peaks));
        }
        println!();
    }
}
