//! userlake against DuckDB on the same Parquet files, in one run: each query of
//! `benches/queries/` runs `--runs` times in each engine (after one warm-up run), the answers
//! are checked to agree, and the medians and their ratio are printed as a Markdown table.
//!
//!     cargo bench --bench peer_comparison -- --lake DIR [--runs 5] [--threads 2]
//!
//! Make a lake with `userlake gen --out DIR --users 100000 --days 150` (about 10M events).

#[path = "peers/mod.rs"]
mod peers;

use std::path::PathBuf;

use userlake::lake::LakeLocation;
use userlake::{SessionOptions, build_session};

fn argument(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(lake) = argument(&args, "--lake").map(PathBuf::from) else {
        // `cargo bench` without arguments runs every bench: say how to run this one.
        eprintln!("peer_comparison: pass --lake DIR (see benches/peer_comparison.rs); skipped");
        return;
    };
    let runs: usize = argument(&args, "--runs")
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let threads: usize = argument(&args, "--threads")
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });

    let session = build_session(&SessionOptions {
        lake: Some(LakeLocation::Local(lake.clone())),
        target_partitions: Some(threads),
        ..SessionOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("cannot open {}: {e}", lake.display()));
    let events = peers::run_userlake(&session.ctx, "SELECT count(*) FROM events", 1).await;
    let orders = peers::run_userlake(&session.ctx, "SELECT count(*) FROM orders", 1).await;
    println!(
        "lake {}: {} events, {} orders; {} runs after a warm-up, {} threads each\n",
        lake.display(),
        events.rows[0][0],
        orders.rows[0][0],
        runs,
        threads
    );

    let mut peer_name = String::from("duckdb");
    let mut lines = Vec::new();
    for file in peers::query_files() {
        let name = file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let query = std::fs::read_to_string(&file).unwrap_or_default();
        let _warm = peers::run_userlake(&session.ctx, &query, 1).await;
        let ours = peers::run_userlake(&session.ctx, &query, runs).await;
        let theirs = match peers::run_duckdb(&lake, &file, runs + 1, threads) {
            Ok(mut run) => {
                run.seconds.remove(0); // the warm-up
                run
            }
            Err(e) => panic!("duckdb failed on {name}: {e}"),
        };
        peer_name = theirs.engine.clone();
        let agree = match peers::compare_rows(&ours.rows, &theirs.rows) {
            Ok(()) => "yes".to_string(),
            Err(difference) => format!("NO: {difference}"),
        };
        lines.push(format!(
            "| {name} | {:.3} | {:.3} | {:.2} | {agree} |",
            ours.median(),
            theirs.median(),
            ours.median() / theirs.median()
        ));
    }
    println!(
        "| query | userlake median (s) | {peer_name} median (s) | ratio (userlake / peer) | same answer |"
    );
    println!("|---|---|---|---|---|");
    for line in lines {
        println!("{line}");
    }
}
