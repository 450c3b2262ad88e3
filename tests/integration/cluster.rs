//! Queries, table functions and the nightly job over two `userlake worker` processes on
//! loopback, with files split so that every scan fans out over both: the same answers as one
//! process (floats to `same_csv`'s tolerance), stages that really run on two tasks, `stitch`
//! and `referral_tree` kept to one, a worker of another build refused, a dead worker named.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{csv_tables, sample_up_to};
use crate::common::{KilledOnDrop, error_of, repo, same_csv, stdout_of, userlake};

/// A running `userlake worker`, killed when dropped.
pub(crate) struct Worker {
    process: KilledOnDrop,
    pub(crate) url: String,
}

impl Worker {
    /// Starts a worker on a free loopback port, with `env` added to its environment (its own
    /// build tag is replaced by `USERLAKE_BUILD_TAG` there).
    pub(crate) fn start(env: &[(&str, &str)]) -> Worker {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("userlake"));
        command
            .current_dir(repo())
            .env_remove("USERLAKE_BUILD_TAG")
            .envs(env.iter().copied())
            .args(["worker", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("the worker starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the worker's first line");
        let url = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Worker {
            process: KilledOnDrop(child),
            url,
        }
    }
}

fn two_workers() -> (Worker, Worker, String) {
    let (a, b) = (Worker::start(&[]), Worker::start(&[]));
    let list = format!("{},{}", a.url, b.url);
    (a, b, list)
}

/// `userlake sql` on the sample lake, in this process or over `workers` with every file
/// split into tasks.
fn sql(workers: Option<&str>, statement: &str) -> String {
    let mut command = userlake();
    command.env_remove("USERLAKE_WORKERS").args([
        "sql",
        "--lake",
        "data/sample",
        "--format",
        "csv",
        "-c",
        statement,
    ]);
    if let Some(workers) = workers {
        command.args(["--workers", workers, "--bytes-per-task", "1"]);
    }
    stdout_of(&mut command)
}

const PERSON: &str = "coalesce(unionid, device_id, cookie_id)";

/// One query per family of functions, each ordered so that its rows are comparable.
fn queries() -> Vec<String> {
    vec![
        "SELECT channel, event_name, count(*) AS n, count(DISTINCT device_id) AS devices \
         FROM events GROUP BY 1, 2 ORDER BY 1, 2"
            .to_string(),
        format!(
            "SELECT level, count(*) AS people FROM (SELECT {PERSON} AS p, \
             window_funnel(INTERVAL '7 days', '', event_time, event_name = 'view_content', \
             event_name = 'add_to_cart', event_name = 'pay_order') AS level \
             FROM events GROUP BY 1) GROUP BY 1 ORDER BY 1"
        ),
        format!(
            "SELECT m, count(*) FROM (SELECT {PERSON} AS p, \
             sequence_match('(?1).*(?t<=86400)(?2)', event_time, event_name = 'view_content', \
             event_name = 'pay_order') AS m FROM events GROUP BY 1) GROUP BY 1 ORDER BY 1"
        ),
        format!(
            "SELECT r, count(*) FROM (SELECT {PERSON} AS p, retention(event_name = \
             'view_content', event_name = 'add_to_cart', event_name = 'pay_order') AS r \
             FROM events GROUP BY 1) GROUP BY 1 ORDER BY 1"
        ),
        "SELECT bgnbd_fit(s['frequency'], s['recency'], s['t']) AS model, \
         gamma_gamma_fit(s['frequency'], s['monetary_value']) AS spend \
         FROM (SELECT clv_summary(order_time, amount, TIMESTAMP '2026-04-01', 'day', 'week') AS s \
         FROM orders WHERE status = 'paid' GROUP BY coalesce(unionid, phone, shop_buyer_id))"
            .to_string(),
        "SELECT dt, attribution('linear', touch_time, channel, TIMESTAMP '2026-12-31') AS credit \
         FROM touches GROUP BY dt ORDER BY dt"
            .to_string(),
        "SELECT unnest(markov_attribution(path, converted)) FROM (SELECT event_id, \
         array_agg(channel ORDER BY touch_time, channel) AS path, bool_or(touch_type = 'click') \
         AS converted FROM touches GROUP BY event_id)"
            .to_string(),
        "SELECT id_type, id_value, unified_id, person_id, component_size, is_anchor \
         FROM stitch('identity_edges') ORDER BY id_type, id_value"
            .to_string(),
        "SELECT * FROM referral_tree('referrals') ORDER BY person_type, person_value".to_string(),
    ]
}

#[test]
fn queries_over_two_workers_give_the_answers_of_one_process() {
    let (_a, _b, workers) = two_workers();
    for query in queries() {
        let local = sql(None, &query);
        let distributed = sql(Some(&workers), &query);
        assert!(local.lines().count() > 1, "no rows: {query}");
        assert!(
            same_csv(&local, &distributed),
            "{query}\none process:\n{local}\ntwo workers:\n{distributed}"
        );
    }
}

/// The lines of `EXPLAIN ANALYZE` that head the stages, `Stage N ── tasks=T`.
fn stage_lines(plan: &str) -> Vec<String> {
    plan.lines()
        .filter(|line| line.contains("Stage") && line.contains("tasks="))
        .map(str::to_string)
        .collect()
}

#[test]
fn scans_fan_out_and_stitch_runs_as_one_task() {
    let (_a, _b, workers) = two_workers();
    let plan = sql(
        Some(&workers),
        "EXPLAIN ANALYZE SELECT channel, count(*) FROM events GROUP BY channel",
    );
    let stages = stage_lines(&plan);
    assert!(
        stages.iter().any(|s| s.contains("tasks=2")),
        "no stage of two tasks (the query stayed in this process?):\n{plan}"
    );
    // plain EXPLAIN shows the same stages, without running the query
    let plan = sql(
        Some(&workers),
        "EXPLAIN SELECT channel, count(*) FROM events GROUP BY channel",
    );
    assert!(
        plan.contains("distributed_plan")
            && stage_lines(&plan).iter().any(|s| s.contains("tasks=2")),
        "{plan}"
    );
    // the edges are read by two tasks below a shuffle; the stitching is one task over all of
    // them (each task stitching its share would give another graph)
    let plan = sql(
        Some(&workers),
        "EXPLAIN ANALYZE SELECT unified_id, count(*) FROM stitch('identity_edges') GROUP BY 1",
    );
    let mut stage = None;
    let mut stitch_stage = None;
    for line in plan.lines() {
        if line.contains("Stage") && line.contains("tasks=") {
            stage = Some(line.to_string());
        }
        // the head stage runs in this process, as one task
        if line.contains("DistributedExec") {
            stage = Some("head stage, tasks=1".to_string());
        }
        if line.contains("StitchExec") {
            stitch_stage = stage.clone();
        }
    }
    let stitch_stage = stitch_stage.unwrap_or_else(|| panic!("no stage holds StitchExec:\n{plan}"));
    assert!(
        stitch_stage.contains("tasks=1"),
        "stitch in {stitch_stage}:\n{plan}"
    );
    assert!(
        stage_lines(&plan).iter().any(|s| s.contains("tasks=2")),
        "the edges were not read by two tasks:\n{plan}"
    );
    // an option the workers would not see is refused, not silently applied here only
    let err = error_of(userlake().env_remove("USERLAKE_WORKERS").args([
        "sql",
        "--lake",
        "data/sample",
        "--workers",
        &workers,
        "-c",
        "SET datafusion.execution.time_zone = '+08:00'",
        "-c",
        "SELECT 1",
    ]));
    assert!(
        err.contains("SET datafusion.execution.time_zone cannot be used with --workers"),
        "{err}"
    );
}

/// Runs `jobs/nightly.toml` for `date` on `lake` into `out`, over `workers` when given, and
/// returns the committed run's CSV reports.
fn nightly(
    lake: &std::path::Path,
    out: &std::path::Path,
    date: &str,
    workers: Option<&str>,
) -> std::collections::BTreeMap<String, String> {
    let mut command = userlake();
    command
        .env_remove("USERLAKE_WORKERS")
        .args(["run", "jobs/nightly.toml", "--date", date, "--lake"])
        .arg(lake)
        .arg("--out")
        .arg(out);
    if let Some(workers) = workers {
        command.args(["--workers", workers, "--bytes-per-task", "1"]);
    }
    stdout_of(&mut command);
    let run = std::fs::read_dir(out.join("runs").join(date))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|run| run.join("_manifest.json").is_file())
        .unwrap_or_else(|| panic!("no committed run of {date}"));
    csv_tables(&run)
}

/// The same reports, to `same_csv`'s tolerance.
fn assert_same_reports(
    local: &std::collections::BTreeMap<String, String>,
    distributed: &std::collections::BTreeMap<String, String>,
) {
    assert!(local.len() > 10, "{:?}", local.keys());
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        distributed.keys().collect::<Vec<_>>()
    );
    for (name, text) in local {
        assert!(
            same_csv(text, &distributed[name]),
            "{name} differs:\none process:\n{text}\ntwo workers:\n{}",
            distributed[name]
        );
    }
}

#[test]
fn the_nightly_job_over_two_workers_publishes_the_same_reports() {
    let (_a, _b, workers) = two_workers();
    let dir = tempfile::tempdir().unwrap();
    let lake = repo().join("data/sample");
    let local = nightly(&lake, &dir.path().join("local"), "2026-03-01", None);
    let distributed = nightly(
        &lake,
        &dir.path().join("distributed"),
        "2026-03-01",
        Some(&workers),
    );
    assert_same_reports(&local, &distributed);
}

/// Nights that add a day: the kept rows keyed by person follow the people merged since, on
/// the workers too.
#[test]
fn appended_nights_over_two_workers_publish_the_same_reports() {
    let (_a, _b, workers) = two_workers();
    let dir = tempfile::tempdir().unwrap();
    let (local, distributed) = (dir.path().join("local"), dir.path().join("distributed"));
    for day in ["2026-02-26", "2026-02-27", "2026-02-28"] {
        let lake = sample_up_to(dir.path(), day);
        let one = nightly(&lake, &local, day, None);
        let two = nightly(&lake, &distributed, day, Some(&workers));
        assert_same_reports(&one, &two);
    }
}

#[test]
fn a_worker_of_another_build_is_refused_by_name() {
    let other = Worker::start(&[("USERLAKE_BUILD_TAG", "0.0.0+another-build")]);
    let err = error_of(userlake().env_remove("USERLAKE_WORKERS").args([
        "sql",
        "--lake",
        "data/sample",
        "--workers",
        &other.url,
        "-c",
        "SELECT 1",
    ]));
    assert!(
        err.contains(other.url.trim_end_matches('/'))
            && err.contains("another-build")
            && err.contains("same build"),
        "{err}"
    );
    let err = error_of(userlake().env_remove("USERLAKE_WORKERS").args([
        "sql",
        "--workers",
        "127.0.0.1:1",
        "-c",
        "SELECT 1",
    ]));
    assert!(
        err.contains("no worker answers") && err.contains("127.0.0.1:1"),
        "{err}"
    );
    // the same from the environment, for `run` too
    let err = error_of(userlake().env("USERLAKE_WORKERS", "127.0.0.1:1").args([
        "run",
        "jobs/nightly.toml",
        "--lake",
        "data/sample",
        "--out",
        "/nonexistent/never-written",
    ]));
    assert!(
        err.contains("no worker answers") && err.contains("127.0.0.1:1"),
        "{err}"
    );
}

#[test]
fn a_worker_killed_mid_query_fails_the_query_by_name_and_the_rest_go_on() {
    let (mut a, b, workers) = two_workers();
    // a query long enough to kill a worker in
    let mut query = Command::new(assert_cmd::cargo::cargo_bin("userlake"));
    query
        .current_dir(repo())
        .env_remove("USERLAKE_WORKERS")
        .args([
            "sql",
            "--lake",
            "data/sample",
            "--workers",
            &workers,
            "--bytes-per-task",
            "1",
            "-c",
            // seconds of string work in the scan stage, which runs on the workers
            "SELECT channel, sum(length(repeat(event_id, 20000))) FROM events GROUP BY channel",
        ]);
    let started = Instant::now();
    let stderr_file = tempfile::NamedTempFile::new().unwrap();
    let mut running = KilledOnDrop(
        query
            .stdout(Stdio::null())
            .stderr(stderr_file.reopen().unwrap())
            .spawn()
            .expect("the query starts"),
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        running.0.try_wait().unwrap().is_none(),
        "the query ended before the worker was killed"
    );
    a.process.0.kill().expect("the worker is killed");
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the query still runs 60 s after its worker died"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(stderr_file.path()).unwrap();
    assert!(!status.success(), "the query did not fail: {stderr}");
    assert!(
        stderr.contains(&format!(
            "worker {} stopped answering during the query",
            a.url.trim_end_matches('/')
        )),
        "{stderr}"
    );
    // the next query runs on the worker that is left
    let answer = sql(Some(&workers), "SELECT count(*) AS n FROM events");
    assert_eq!(answer, sql(None, "SELECT count(*) AS n FROM events"));
    drop(b);
}
