//! userlake against its peers on the same Parquet files, in one run. Each query of
//! `benches/queries/` runs in userlake (as a fresh `userlake sql` process, start-up included,
//! and in this process), DuckDB (the same SQL) and ClickHouse (its `NAME.clickhouse.sql`
//! twin); each pair of
//! `benches/behaviour/` (funnels, retention, sequences) runs in userlake and ClickHouse (chdb).
//! Every query runs `--runs` times per engine after one warm-up run, the answers are checked
//! to agree, and the medians and their ratio are printed as Markdown tables.
//!
//!     cargo bench --bench peer_comparison -- --lake DIR [--runs 5] [--threads 2] [--only plain|clickhouse|analyses] [--int-key DIR2]
//!
//! Make a lake with `userlake gen --out DIR --users 125000 --days 200` (about 10M events).
//!
//! `--int-key DIR2` runs the behavioural pairs a second time on an integer-keyed copy of the
//! lake's events: `DIR2/events` with `event_time`, `event_name`, a `BIGINT` `person` (a dense
//! number of `coalesce(unionid, device_id, cookie_id)`) and the same `dt=` day partitions,
//! written by userlake on the first run and reused after. Each pair's person key is replaced
//! by `person` on both sides. It also runs the analyses of `benches/analyses/` there: each with
//! userlake's functions (audience bitmaps, ...) and as the same analysis in plain SQL, which
//! userlake and DuckDB both run; the three answers are checked to agree.

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

    let only = argument(&args, "--only");
    let int_lake = argument(&args, "--int-key").map(PathBuf::from);
    if only.is_none() || matches!(only.as_deref(), Some("plain" | "duckdb")) {
        compare_plain_queries(&session.ctx, &lake, runs, threads).await;
    }
    if only.is_none() || only.as_deref() == Some("clickhouse") {
        compare_with_clickhouse(&session.ctx, &lake, runs, threads, PERSON_KEY).await;
    }
    let Some(int_lake) = int_lake else {
        if only.as_deref() == Some("analyses") {
            eprintln!("peer_comparison: --only analyses needs --int-key DIR2");
        }
        return;
    };
    write_int_key_lake(&session.ctx, &int_lake).await;
    let int_session = build_session(&SessionOptions {
        lake: Some(LakeLocation::Local(int_lake.clone())),
        target_partitions: Some(threads),
        ..SessionOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("cannot open {}: {e}", int_lake.display()));
    if only.is_none() || only.as_deref() == Some("clickhouse") {
        println!(
            "\nthe same on {}: person keys are BIGINT",
            int_lake.display()
        );
        compare_with_clickhouse(&int_session.ctx, &int_lake, runs, threads, "person").await;
    }
    if only.is_none() || only.as_deref() == Some("analyses") {
        compare_analyses(&int_session.ctx, &int_lake, runs, threads).await;
    }
}

/// Each analysis of `benches/analyses/` with userlake's functions, and in plain SQL in userlake
/// and in DuckDB, on the integer-keyed lake.
async fn compare_analyses(
    ctx: &datafusion::prelude::SessionContext,
    lake: &std::path::Path,
    runs: usize,
    threads: usize,
) {
    let mut peer_name = String::from("duckdb");
    let mut lines = Vec::new();
    for (name, ours_sql, plain_file) in peers::analysis_pairs() {
        let plain_sql = std::fs::read_to_string(&plain_file).unwrap_or_default();
        let ours = userlake_after_warm_up(ctx, &ours_sql, runs).await;
        let ours_plain = userlake_after_warm_up(ctx, &plain_sql, runs).await;
        let theirs = peer_after_warm_up(
            "duckdb",
            &name,
            peers::run_duckdb(lake, &plain_file, runs + 1, threads),
        );
        peer_name = theirs.engine.clone();
        let agree = match peers::compare_rows(&ours.rows, &theirs.rows)
            .and_then(|()| peers::compare_rows(&ours_plain.rows, &theirs.rows))
        {
            Ok(()) => "yes".to_string(),
            Err(difference) => format!("NO: {difference}"),
        };
        lines.push(format!(
            "| {name} | {} | {:.3} | {} | {:.2} | {:.2} | {agree} |",
            ours.median_and_range(),
            ours_plain.median(),
            theirs.median_and_range(),
            ours.median() / theirs.median(),
            ours.median() / ours_plain.median(),
        ));
    }
    println!(
        "\n| analysis | userlake, functions: median (range) s | userlake, plain SQL: median s | {peer_name}, plain SQL: median (range) s | functions / {peer_name} | functions / userlake plain | same answer |"
    );
    println!("|---|---|---|---|---|---|---|");
    for line in lines {
        println!("{line}");
    }
}

/// `query` run `runs` times in userlake after one untimed run.
async fn userlake_after_warm_up(
    ctx: &datafusion::prelude::SessionContext,
    query: &str,
    runs: usize,
) -> peers::Run {
    let _warm = peers::run_userlake(ctx, query, 1).await;
    peers::run_userlake(ctx, query, runs).await
}

/// A peer's `runs + 1` runs of query `name` without the first (its warm-up); a peer that
/// failed stops the benchmark with its error.
fn peer_after_warm_up(peer: &str, name: &str, run: Result<peers::Run, String>) -> peers::Run {
    match run {
        Ok(mut run) => {
            run.seconds.remove(0);
            run
        }
        Err(e) => panic!("{peer} failed on {name}: {e}"),
    }
}

/// The person key of the pairs in `benches/behaviour/`, on both sides.
const PERSON_KEY: &str = "coalesce(unionid, device_id, cookie_id)";

/// Writes `dir/events`: the events of the session's lake with a dense BIGINT person number
/// instead of the string identifiers, in the same day partitions; kept if already there.
async fn write_int_key_lake(ctx: &datafusion::prelude::SessionContext, dir: &std::path::Path) {
    let events = dir.join("events");
    if events.is_dir() {
        return;
    }
    let sql = format!(
        "COPY (SELECT e.event_time, e.event_name, p.person, e.dt FROM events e \
           JOIN (SELECT key, row_number() OVER (ORDER BY key) AS person \
                 FROM (SELECT DISTINCT {PERSON_KEY} AS key FROM events)) p \
             ON {PERSON_KEY} = p.key) \
         TO '{}' STORED AS PARQUET PARTITIONED BY (dt)",
        events.display()
    );
    peers::run_userlake(ctx, &sql, 1).await;
}

async fn compare_with_clickhouse(
    ctx: &datafusion::prelude::SessionContext,
    lake: &std::path::Path,
    runs: usize,
    threads: usize,
    person_key: &str,
) {
    let mut peer_name = String::from("clickhouse");
    let mut lines = Vec::new();
    // the plain count per person, and the count of the rows matching a funnel step (the same
    // columns read and conditions evaluated as a funnel's)
    let (mut baseline, mut step_rows) = (None, None);
    for (name, ours_sql, theirs_sql) in peers::behaviour_pairs() {
        let ours_sql = ours_sql.replace(PERSON_KEY, person_key);
        let theirs_sql = theirs_sql
            .replace(PERSON_KEY, person_key)
            .replace("{lake}", &lake.display().to_string());
        let ours = userlake_after_warm_up(ctx, &ours_sql, runs).await;
        let theirs = peer_after_warm_up(
            "clickhouse",
            &name,
            peers::run_clickhouse(&theirs_sql, runs + 1, threads),
        );
        peer_name = theirs.engine.clone();
        match name.as_str() {
            "count_per_person" => baseline = Some(ours.median()),
            "count_steps_per_person" => step_rows = Some(ours.median()),
            _ => {}
        }
        let agree = match peers::compare_rows(&ours.rows, &theirs.rows) {
            Ok(()) => "yes".to_string(),
            Err(difference) => format!("no: {difference}"),
        };
        lines.push((name, ours.median(), theirs.median(), agree));
    }
    println!();
    println!(
        "| query | userlake median (s) | {peer_name} median (s) | ratio (userlake / peer) | userlake / plain count per person | userlake / step rows per person | same answer |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, ours, theirs, agree) in lines {
        let versus =
            |base: Option<f64>| base.map(|b| format!("{:.2}", ours / b)).unwrap_or_default();
        println!(
            "| {name} | {ours:.3} | {theirs:.3} | {:.2} | {} | {} | {agree} |",
            ours / theirs,
            versus(baseline),
            versus(step_rows)
        );
    }
}

/// The plain queries of `benches/queries/` in userlake (as a fresh `userlake sql` process per
/// run, start-up included, and in this process), DuckDB and ClickHouse, on the same files; and
/// the start-up alone (`SELECT 1` as a process).
async fn compare_plain_queries(
    ctx: &datafusion::prelude::SessionContext,
    lake: &std::path::Path,
    runs: usize,
    threads: usize,
) {
    let (mut duckdb_name, mut clickhouse_name) =
        (String::from("duckdb"), String::from("clickhouse"));
    let mut lines = Vec::new();
    for file in peers::query_files() {
        let name = file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let query = std::fs::read_to_string(&file).unwrap_or_default();
        let ours = userlake_after_warm_up(ctx, &query, runs).await;
        let ours_process = peer_after_warm_up(
            "userlake sql",
            &name,
            peers::run_userlake_process(lake, &file, runs + 1, threads),
        );
        let duckdb = peer_after_warm_up(
            "duckdb",
            &name,
            peers::run_duckdb(lake, &file, runs + 1, threads),
        );
        duckdb_name = duckdb.engine.clone();
        let clickhouse = peers::clickhouse_twin(&file, lake).map(|sql| {
            peer_after_warm_up(
                "clickhouse",
                &name,
                peers::run_clickhouse(&sql, runs + 1, threads),
            )
        });
        let mut agree = match peers::compare_rows(&ours.rows, &duckdb.rows) {
            Ok(()) => "yes".to_string(),
            Err(difference) => format!("NO (DuckDB): {difference}"),
        };
        let clickhouse_cells = match &clickhouse {
            Some(run) => {
                clickhouse_name = run.engine.clone();
                if let Err(difference) = peers::compare_rows(&ours.rows, &run.rows) {
                    agree = format!("NO (ClickHouse): {difference}");
                }
                format!(
                    "{} | {:.2}",
                    run.median_and_range(),
                    ours_process.median() / run.median()
                )
            }
            None => "– | –".to_string(),
        };
        lines.push(format!(
            "| {name} | {} | {:.3} | {} | {:.2} | {clickhouse_cells} | {agree} |",
            ours_process.median_and_range(),
            ours.median(),
            duckdb.median_and_range(),
            ours_process.median() / duckdb.median(),
        ));
    }
    let start_up = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(start_up.path(), "SELECT 1").expect("writing a temporary file");
    let start_up = peer_after_warm_up(
        "userlake sql",
        "SELECT 1",
        peers::run_userlake_process(lake, start_up.path(), runs + 1, threads),
    );
    println!(
        "| query | userlake process, start-up included: median (range) s | userlake in-process median s | {duckdb_name}: median (range) s | userlake process / DuckDB | {clickhouse_name}: median (range) s | userlake process / ClickHouse | same answer |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for line in lines {
        println!("{line}");
    }
    println!(
        "| start-up alone (`SELECT 1`) | {} | | | | | | |",
        start_up.median_and_range()
    );
}
