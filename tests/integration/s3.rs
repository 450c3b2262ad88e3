//! Lakes on S3: the sample lake, uploaded byte for byte to a real S3-compatible server on
//! loopback (`moto_server`, from PyPI `moto[server]`), gives the same results as on local disk,
//! and `COPY ... TO 's3://...'` writes there.
//!
//! moto_server must be on PATH (`.ci/run` installs it). Set USERLAKE_SKIP_S3=1 to skip on a
//! machine without it; the test otherwise fails rather than pass without checking anything.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use crate::common::{KilledOnDrop, error_of, sample_lake, skipped, stderr_of, stdout_of, userlake};
use assert_cmd::Command;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

struct S3Server {
    _process: KilledOnDrop,
    endpoint: String,
}

/// Starts moto on a port the system picks (`-p 0`), read from the line it prints when it
/// listens, so no other process can take the port between choosing and binding it.
fn start_server() -> Option<S3Server> {
    if skipped("USERLAKE_SKIP_S3", "the S3 tests") {
        return None;
    }
    let mut child = Process::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "moto_server must be on PATH (pip install 'moto[server]'), or set USERLAKE_SKIP_S3=1",
        );
    let stderr = child.stderr.take().expect("moto's stderr is piped");
    let (address_sender, address) = std::sync::mpsc::channel();
    // moto logs every request on stderr: the thread reads it to the end so it never blocks
    std::thread::spawn(move || {
        let mut sender = Some(address_sender);
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("Running on http://").nth(1)
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(rest.trim().to_string());
            }
        }
    });
    let server_address = address
        .recv_timeout(Duration::from_secs(30))
        .expect("moto_server printed the address it listens on within 30 s");
    let server = S3Server {
        _process: KilledOnDrop(child),
        endpoint: format!("http://{server_address}"),
    };
    let started = Instant::now();
    while TcpStream::connect(server_address.as_str()).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto_server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(server)
}

/// S3's CreateBucket is a bare PUT on the bucket; moto accepts it unsigned.
fn create_bucket(endpoint: &str, bucket: &str) {
    let address = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

/// `userlake` with the S3 settings of the server at `endpoint`.
fn userlake_on(endpoint: &str) -> Command {
    let mut command = userlake();
    command
        .env("AWS_ENDPOINT", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
    command
}

/// What `query` gives as CSV over `lake`, read through the server at `endpoint`.
fn csv_of(endpoint: &str, lake: &str, query: &str) -> String {
    stdout_of(userlake_on(endpoint).args(["sql", "--lake", lake, "-c", query, "--format", "csv"]))
}

async fn upload_dir(store: &dyn ObjectStore, local: &Path, prefix: &str) {
    for entry in std::fs::read_dir(local).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        let key = format!("{prefix}/{name}");
        if entry.file_type().unwrap().is_dir() {
            Box::pin(upload_dir(store, &entry.path(), &key)).await;
        } else {
            let bytes = std::fs::read(entry.path()).unwrap();
            store
                .put(&ObjectPath::from(key.as_str()), PutPayload::from(bytes))
                .await
                .unwrap();
        }
    }
}

const QUERIES: [&str; 4] = [
    "SELECT count(*) AS events, count(DISTINCT dt) AS days FROM events",
    "SELECT channel, count(*) AS orders, round(sum(amount), 2) AS gmv FROM orders GROUP BY channel ORDER BY channel",
    "SELECT dt, count(*) AS edges FROM identity_edges WHERE dt BETWEEN DATE '2026-01-10' AND DATE '2026-01-12' GROUP BY dt ORDER BY dt",
    "SELECT id_type, count(*) AS ids FROM _truth GROUP BY id_type ORDER BY id_type",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_lake_on_s3_gives_the_same_results_as_on_disk() {
    let Some(server) = start_server() else { return };
    create_bucket(&server.endpoint, "lake");
    let store = AmazonS3Builder::new()
        .with_bucket_name("lake")
        .with_endpoint(&server.endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    upload_dir(&store, &sample_lake(), "prod/sample").await;

    for query in QUERIES {
        let local = stdout_of(userlake().args([
            "sql",
            "--lake",
            "data/sample",
            "-c",
            query,
            "--format",
            "csv",
        ]));
        let remote = csv_of(&server.endpoint, "s3://lake/prod/sample", query);
        assert_eq!(local, remote, "{query}");
    }
    #[cfg(feature = "cluster")]
    {
        // through two workers, which read S3 with the credentials of their own environment
        let credentials = [
            ("AWS_ENDPOINT", server.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ];
        let workers = [
            crate::cluster::Worker::start(&credentials),
            crate::cluster::Worker::start(&credentials),
        ];
        let list = format!("{},{}", workers[0].url, workers[1].url);
        for query in QUERIES {
            let local = csv_of(&server.endpoint, "s3://lake/prod/sample", query);
            let distributed = stdout_of(userlake_on(&server.endpoint).args([
                "sql",
                "--lake",
                "s3://lake/prod/sample",
                "--workers",
                &list,
                "--bytes-per-task",
                "1",
                "--format",
                "csv",
                "-c",
                query,
            ]));
            assert_eq!(local, distributed, "over two workers: {query}");
        }
    }

    // The nightly job reads the S3 lake, commits its run to S3, and a fresh process reads
    // the published tables back from S3: the same as a run from disk to disk.
    let dir = tempfile::tempdir().unwrap();
    let mut job = userlake_on(&server.endpoint);
    job.args([
        "run",
        "jobs/nightly.toml",
        "--lake",
        "s3://lake/prod/sample",
        "--out",
        "s3://lake/nightly",
        "--date",
        "2026-03-01",
    ])
    .assert()
    .success();
    userlake()
        .args([
            "run",
            "jobs/nightly.toml",
            "--lake",
            "data/sample",
            "--date",
            "2026-03-01",
            "--out",
        ])
        .arg(dir.path().join("local"))
        .assert()
        .success();
    for table in [
        "kpi_daily",
        "funnel_report",
        "retention_cohort",
        "layer_summary",
    ] {
        let query = format!("SELECT * FROM {table}");
        let remote = csv_of(&server.endpoint, "s3://lake/nightly", &query);
        let local = stdout_of(
            userlake()
                .args(["sql", "-c", &query, "--format", "csv", "--lake"])
                .arg(dir.path().join("local")),
        );
        assert!(remote.lines().count() > 2, "{table}: {remote}");
        // rounded float sums may differ in their last decimal between any two runs
        assert!(
            crate::common::same_csv(&local, &remote),
            "{table}:\n{local}\n{remote}"
        );
    }
    let mut runs = userlake_on(&server.endpoint);
    let listing = stdout_of(runs.args(["runs", "--out", "s3://lake/nightly"]));
    assert!(
        listing.contains("2026-03-01") && listing.contains("committed"),
        "{listing}"
    );
    // the run's HTML report, rendered again from S3, to standard output and to an object
    let mut report = userlake_on(&server.endpoint);
    let page = stdout_of(report.args(["report", "--out", "s3://lake/nightly", "-o", "-"]));
    assert!(
        page.starts_with("<!DOCTYPE html>") && page.contains("data-section=\"identity\""),
        "{}",
        &page[..page.len().min(200)]
    );
    let mut report = userlake_on(&server.endpoint);
    report
        .args([
            "report",
            "--out",
            "s3://lake/nightly",
            "-o",
            "s3://lake/pages/report.html",
        ])
        .assert()
        .success();
    let mut report = userlake_on(&server.endpoint);
    let error = error_of(report.args([
        "report",
        "--out",
        "s3://lake/nightly",
        "-o",
        "s3://lake/pages/",
    ]));
    assert!(error.contains("name an object"), "{error}");
    let committed = object_keys(&store, "nightly/runs/2026-03-01").await;
    assert!(
        committed.iter().any(|key| key.ends_with("/report.html")),
        "the job commits its report: {committed:?}"
    );
    assert_eq!(object_keys(&store, "pages").await, ["pages/report.html"]);

    // COPY ... TO s3:// writes a table that a lake on S3 then reads.
    let mut copy = userlake_on(&server.endpoint);
    copy.args([
        "sql",
        "--lake",
        "s3://lake/prod/sample",
        "-c",
        "COPY (SELECT channel, sum(spend) AS spend FROM costs GROUP BY channel) TO 's3://lake/reports/spend/part-0.parquet' STORED AS PARQUET",
    ])
    .assert()
    .success();
    let out = csv_of(
        &server.endpoint,
        "s3://lake/reports",
        "SELECT count(*) AS channels FROM spend",
    );
    assert_eq!(out, "channels\n10\n");

    // A missing bucket is named.
    let mut missing = userlake_on(&server.endpoint);
    let err = error_of(missing.args(["sql", "--lake", "s3://no-such-bucket/x", "-c", "SELECT 1"]));
    assert!(err.contains("lake s3://no-such-bucket/x"), "{err}");
}

/// The objects under `prefix` in the bucket, as `key size` lines.
async fn object_keys(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let mut keys: Vec<String> = store
        .list(Some(&ObjectPath::from(prefix)))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

fn s3_store(endpoint: &str, bucket: &str) -> object_store::aws::AmazonS3 {
    AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap()
}

/// Every option that names an output location writes to S3 when given an s3:// URL (and
/// nothing to a local directory named after it); a fresh process reads each back.
#[tokio::test(flavor = "multi_thread")]
async fn every_output_option_writes_to_s3() {
    let Some(server) = start_server() else { return };
    create_bucket(&server.endpoint, "out");
    let store = s3_store(&server.endpoint, "out");
    let workdir = tempfile::tempdir().unwrap();
    let aws = |args: &[&str]| {
        let mut command = userlake_on(&server.endpoint);
        command.current_dir(workdir.path()).args(args);
        command
    };
    let sample = sample_lake();
    let sample = sample.to_str().unwrap();

    // sql -o
    aws(&[
        "sql",
        "--lake",
        sample,
        "-c",
        "SELECT channel, count(*) AS orders FROM orders GROUP BY channel ORDER BY channel",
        "--format",
        "csv",
        "-o",
        "s3://out/adhoc/orders.csv",
    ])
    .assert()
    .success();
    let csv = store
        .get(&ObjectPath::from("adhoc/orders.csv"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(csv.starts_with(b"channel,orders\n"), "{csv:?}");
    let err = error_of(&mut aws(&["sql", "-c", "SELECT 1", "-o", "s3://out/"]));
    assert!(err.contains("name an object"), "{err}");

    // gen --out
    aws(&[
        "gen",
        "--out",
        "s3://out/lake",
        "--users",
        "300",
        "--days",
        "4",
        "--quiet",
    ])
    .assert()
    .success();
    let keys = object_keys(&store, "lake/events").await;
    assert_eq!(keys.len(), 4, "{keys:?}");
    let events = stdout_of(&mut aws(&[
        "sql",
        "--lake",
        "s3://out/lake",
        "-c",
        "SELECT count(DISTINCT dt) AS days FROM events",
        "--format",
        "csv",
    ]));
    assert_eq!(events, "days\n4\n");
    // the nightly job on that lake, then (below) on the day it grows by: the kept events and
    // orders keyed by person live on S3 and are followed, not keyed again
    let job = format!("{}/jobs/nightly.toml", env!("CARGO_MANIFEST_DIR"));
    let nightly = |date: &str| -> String {
        stderr_of(&mut aws(&[
            "run",
            &job,
            "--lake",
            "s3://out/lake",
            "--out",
            "s3://out/nightly",
            "--date",
            date,
        ]))
    };
    let first_night = nightly("2026-01-04");
    assert!(
        first_night.contains("every row keyed again"),
        "{first_night}"
    );
    // gen --from-day on S3: the plan is read from the lake's _generator.json there
    aws(&[
        "gen",
        "--out",
        "s3://out/lake",
        "--days",
        "5",
        "--from-day",
        "5",
        "--quiet",
    ])
    .assert()
    .success();
    let keys = object_keys(&store, "lake/events").await;
    assert_eq!(keys.len(), 5, "{keys:?}");
    // on this small lake a device becomes a hub on day 5, so that night keys every row again
    // (with its reason); a night with nothing new then follows the kept rows
    let second_night = nightly("2026-01-05");
    assert!(
        second_night.contains("state event_persons: 2 parts; 1 new input partitions read")
            || second_night.contains("every row keyed again: 11 identifiers left their person"),
        "{second_night}"
    );
    let third_night = nightly("2026-01-06");
    for table in ["event_persons", "order_persons"] {
        assert!(
            third_night.contains(&format!(
                "state {table}: 1 parts; 0 new input partitions read, 0 rows added; 0 parts \
                 invalidated; person numbers follow 0 more merges"
            )),
            "{third_night}"
        );
    }
    let kept = object_keys(&store, "nightly/state/event_persons").await;
    assert!(
        kept.iter()
            .any(|k| k.starts_with("nightly/state/event_persons/_persons.json")),
        "{kept:?}"
    );
    let record = store
        .get(&ObjectPath::from("lake/_generator.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(
        (record["days"].as_u64(), record["users"].as_u64()),
        (Some(5), Some(300))
    );

    // stitch --out, then --previous from S3
    aws(&[
        "stitch",
        "--lake",
        sample,
        "--out",
        "s3://out/stitch/night1",
    ])
    .assert()
    .success();
    aws(&[
        "stitch",
        "--lake",
        sample,
        "--out",
        "s3://out/stitch/night2",
        "--previous",
        "s3://out/stitch/night1",
    ])
    .assert()
    .success();
    for night in ["night1", "night2"] {
        let keys = object_keys(&store, &format!("stitch/{night}")).await;
        for table in ["id_graph", "rejected_edges", "merge_log", "run_stats"] {
            assert!(
                keys.iter()
                    .any(|k| k.starts_with(&format!("stitch/{night}/{table}/"))),
                "{night} {table}: {keys:?}"
            );
        }
    }
    // the second night carried every unified id forward from the first, read from S3
    let created = |night: &str| {
        stdout_of(&mut aws(&[
            "sql",
            "--lake",
            &format!("s3://out/stitch/{night}"),
            "-c",
            "SELECT count(*) AS created FROM merge_log WHERE event = 'created'",
            "--format",
            "csv",
        ]))
    };
    assert_ne!(created("night1"), "created\n0\n");
    assert_eq!(created("night2"), "created\n0\n");

    // run FILE.sql --out
    let script = workdir.path().join("report.sql");
    std::fs::write(
        &script,
        "COPY (SELECT channel, sum(spend) AS spend FROM costs GROUP BY channel) \
         TO '${out}/spend/part-0.parquet' STORED AS PARQUET;",
    )
    .unwrap();
    aws(&[
        "run",
        script.to_str().unwrap(),
        "--lake",
        sample,
        "--out",
        "s3://out/adhoc-run",
    ])
    .assert()
    .success();
    let spend = stdout_of(&mut aws(&[
        "sql",
        "--lake",
        "s3://out/adhoc-run",
        "-c",
        "SELECT count(*) AS channels FROM spend",
        "--format",
        "csv",
    ]));
    assert_eq!(spend, "channels\n10\n");

    // nothing was written to a local directory named after the URL
    assert_eq!(
        crate::common::entry_names(workdir.path()),
        vec!["report.sql"]
    );

    // a scheme userlake cannot write to is refused before anything runs
    let err = error_of(&mut aws(&[
        "gen",
        "--out",
        "gs://out/lake",
        "--users",
        "10",
    ]));
    assert!(err.contains("unsupported scheme 'gs://'"), "{err}");
}

/// What the fault proxy does to one connection.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Answers `503 Slow Down`, as S3 does under load.
    Unavailable,
    /// Closes the connection without an answer.
    Reset,
    /// Answers `403 Forbidden`.
    Forbidden,
}

/// A proxy on loopback in front of the S3 server: the first connections get `faults` (the
/// last one repeats when `repeat_last`), the others are forwarded byte for byte.
struct FaultProxy {
    endpoint: String,
    faulted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn start_fault_proxy(upstream: &str, faults: Vec<Fault>, repeat_last: bool) -> FaultProxy {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_string();
    let faulted = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&faulted);
    std::thread::spawn(move || {
        for (index, client) in listener.incoming().enumerate() {
            let Ok(mut client) = client else { continue };
            let fault = match faults.get(index) {
                Some(fault) => Some(*fault),
                None if repeat_last => faults.last().copied(),
                None => None,
            };
            match fault {
                Some(fault) => {
                    counter.fetch_add(1, Ordering::SeqCst);
                    // read the request head, then fail it
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && client.read(&mut byte).unwrap_or(0) == 1 {
                        head.push(byte[0]);
                    }
                    let answer: &[u8] = match fault {
                        Fault::Unavailable => b"HTTP/1.1 503 Slow Down\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        Fault::Forbidden => b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        Fault::Reset => b"",
                    };
                    let _ = client.write_all(answer);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                }
                None => {
                    let Ok(server) = TcpStream::connect(&upstream) else {
                        continue;
                    };
                    let (mut client_read, mut server_write) =
                        (client.try_clone().unwrap(), server.try_clone().unwrap());
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut client_read, &mut server_write);
                        let _ = server_write.shutdown(std::net::Shutdown::Write);
                    });
                    let (mut server_read, mut client_write) = (server, client);
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut server_read, &mut client_write);
                        let _ = client_write.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        }
    });
    FaultProxy { endpoint, faulted }
}

/// Transient S3 failures (503s, dropped connections) are retried and the command gives the
/// right answer; with retries off it fails naming the lake; a permanent failure (403) fails at
/// once, without retrying for minutes. A job commits its run to S3 through the faults.
#[tokio::test(flavor = "multi_thread")]
async fn transient_s3_failures_are_retried_and_permanent_ones_are_not() {
    let Some(server) = start_server() else { return };
    create_bucket(&server.endpoint, "lake");
    upload_dir(
        &s3_store(&server.endpoint, "lake"),
        &sample_lake(),
        "sample",
    )
    .await;
    let count_orders = |endpoint: &str, env: &[(&str, &str)]| {
        let mut command = userlake_on(endpoint);
        for (name, value) in env {
            command.env(name, value);
        }
        command.args([
            "sql",
            "--lake",
            "s3://lake/sample",
            "-c",
            "SELECT count(*) AS orders FROM orders",
            "--format",
            "csv",
        ]);
        let started = Instant::now();
        let output = command.output().unwrap();
        (output, started.elapsed())
    };
    let (direct, _) = count_orders(&server.endpoint, &[]);
    assert!(direct.status.success());
    let expected = String::from_utf8(direct.stdout).unwrap();

    let faults = vec![
        Fault::Unavailable,
        Fault::Reset,
        Fault::Unavailable,
        Fault::Reset,
    ];
    let proxy = start_fault_proxy(&server.endpoint, faults.clone(), false);
    let (output, _) = count_orders(&proxy.endpoint, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
    assert_eq!(proxy.faulted.load(std::sync::atomic::Ordering::SeqCst), 4);

    // no retries: the first 503 fails the command, naming the lake
    let proxy = start_fault_proxy(&server.endpoint, faults, false);
    let (output, _) = count_orders(&proxy.endpoint, &[("USERLAKE_S3_MAX_RETRIES", "0")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("s3://lake/sample"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // a permanent failure is not retried: it fails within seconds, with default retries
    let proxy = start_fault_proxy(&server.endpoint, vec![Fault::Forbidden], true);
    let (output, elapsed) = count_orders(&proxy.endpoint, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("s3://lake/sample") && stderr.contains("403"),
        "{stderr}"
    );
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}: {stderr}");
    let bad = count_orders(&server.endpoint, &[("USERLAKE_S3_MAX_RETRIES", "many")]).0;
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("USERLAKE_S3_MAX_RETRIES"), "{stderr}");

    // a job reads and commits through a flaky connection
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.sql"),
        "CREATE VIEW orders_by_channel AS SELECT channel, count(*) AS orders FROM orders GROUP BY channel;",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        "[job]\nname = \"flaky\"\n[[step]]\nname = \"orders\"\nsql = \"orders.sql\"\n\
         publish = [{ table = \"orders_by_channel\", formats = [\"parquet\", \"csv\"] }]\n",
    )
    .unwrap();
    let proxy = start_fault_proxy(
        &server.endpoint,
        vec![Fault::Reset, Fault::Unavailable, Fault::Reset],
        false,
    );
    stdout_of(
        userlake_on(&proxy.endpoint)
            .arg("run")
            .arg(dir.path().join("job.toml"))
            .args(["--lake", "s3://lake/sample", "--out", "s3://lake/flaky"]),
    );
    let total = csv_of(
        &server.endpoint,
        "s3://lake/flaky",
        "SELECT sum(orders) AS orders FROM orders_by_channel",
    );
    assert_eq!(total, expected);
}
