//! The whole nightly job (`jobs/nightly.toml`) as users run it: the release binary, a lake made
//! by `userlake gen`, `--runs` committed runs in a row (the first reads no previous graph, the
//! later ones the run before, as nights do), and for each run the wall time, the peak RSS
//! (`/usr/bin/time -v`) and every step's seconds from the run's manifest. Prints medians and
//! ranges as Markdown.
//!
//!     cargo bench --bench nightly_job -- --users 125000 --days 200 --seed 1 [--runs 3]
//!         [--memory-limit 4G] [--lake DIR] [--threads 2]
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
    let mut walls = Vec::new();
    let mut peaks = Vec::new();
    let mut steps: BTreeMap<usize, (String, Vec<f64>)> = BTreeMap::new();
    for run in 0..runs {
        let mut command = userlake_command(&binary, true);
        command
            .current_dir(&repo)
            .args(["run", "jobs/nightly.toml", "--date", "2030-01-01", "--lake"])
            .arg(&lake)
            .arg("--out")
            .arg(out.path());
        if let Some(limit) = argument(&args, "--memory-limit") {
            command.args(["--memory-limit", &limit]);
        }
        if let Some(threads) = argument(&args, "--threads") {
            command.args(["--target-partitions", &threads]);
        }
        let (seconds, peak) = timed(command);
        walls.push(seconds);
        peaks.extend(peak);
        // the committed run is the newest manifest
        let date_dir = out.path().join("runs/2030-01-01");
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
        for (index, step) in manifest["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .enumerate()
        {
            let entry = steps
                .entry(index)
                .or_insert_with(|| (step["step"].as_str().unwrap_or("?").to_string(), vec![]));
            entry.1.push(step["seconds"].as_f64().unwrap_or(f64::NAN));
        }
        println!(
            "run {}: {seconds:.2}s, peak RSS {}",
            run + 1,
            peak.map(|p| format!("{p:.0} MiB"))
                .unwrap_or_else(|| "unknown".into())
        );
    }
    println!(
        "\nnightly job on {} ({runs} runs; median (min–max)):\n",
        lake.display()
    );
    println!("| step | seconds |\n|---|---|");
    for (name, seconds) in steps.values() {
        println!("| {name} | {} |", summary(seconds));
    }
    println!("| **whole job (wall)** | {} |", summary(&walls));
    if !peaks.is_empty() {
        println!("| **peak RSS (MiB)** | {} |", summary(&peaks));
    }
}
