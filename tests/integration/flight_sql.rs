//! `userlake serve` end to end: the real binary on a free loopback port, queried by ADBC's
//! Flight SQL driver (tests/peers/flight_sql_client.py), the way notebooks query it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    KilledOnDrop, error_of, peer_reference, peers_skipped, repo, sample_lake, userlake,
};
use arrow::array::RecordBatch;
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;

const TOKEN: &str = "analyst-token-3f9c2a71d4e8b605";

/// A running server; killed when dropped, so a failing test leaves nothing behind.
struct Server {
    process: KilledOnDrop,
    uri: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, format!("# who may query\nanalyst {TOKEN}\n")).expect("tokens");
        let log = dir.path().join("server.log");
        let binary = assert_cmd::cargo::cargo_bin("userlake");
        let mut child = Command::new(binary)
            .current_dir(repo())
            .env_remove("USERLAKE_TOKEN")
            .env_remove("USERLAKE_LAKE")
            .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
            .arg(&tokens)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let Some(address) = first.strip_prefix("userlake serve: listening on ") else {
            let _ = child.kill();
            panic!(
                "the server did not start: {first}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        // keep draining stdout so the server never blocks on a full pipe
        std::thread::spawn(move || for _ in lines {});
        Server {
            uri: address.to_string(),
            process: KilledOnDrop(child),
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).expect("the server log")
    }

    /// Waits for a line containing `needle` in the log.
    fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

fn path_os(path: &Path) -> &std::ffi::OsStr {
    path.as_os_str()
}

#[test]
fn notebooks_query_call_functions_bind_parameters_and_browse_tables() {
    if peers_skipped() {
        return;
    }
    let server = Server::start(&[]);
    let work = tempfile::tempdir().expect("tempdir");
    let binary = assert_cmd::cargo::cargo_bin("userlake");
    let lake = sample_lake();
    let report = peer_reference(
        "flight_sql_client.py",
        &[
            os("functional"),
            os(&server.uri),
            os(TOKEN),
            path_os(&binary),
            path_os(&lake),
            path_os(work.path()),
        ],
    );
    assert!(report["funnel_rows"].as_u64().unwrap_or(0) > 1, "{report}");
    assert!(
        report["stitch_rows"].as_u64().unwrap_or(0) > 1000,
        "{report}"
    );
    assert_eq!(report["writes_refused"], 5, "{report}");

    let log = server.log();
    assert!(
        log.contains("query user=analyst kind=prepared outcome=ok"),
        "{log}"
    );
    assert!(log.contains("refused call=query peer=127.0.0.1:"), "{log}");
    assert!(
        log.contains("refused call=handshake peer=127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("outcome=error"), "{log}");
    assert!(!log.contains(TOKEN), "the token leaked into the log");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn timeouts_busy_slots_memory_limits_and_allowed_writes() {
    if peers_skipped() {
        return;
    }
    let server = Server::start(&[
        "--allow-writes",
        "--query-timeout",
        "4",
        "--max-concurrent-queries",
        "1",
        "--queue-timeout",
        "0.5",
        "--query-memory-limit",
        "32M",
    ]);
    let report = peer_reference(
        "flight_sql_client.py",
        &[os("limits"), os(&server.uri), os(TOKEN)],
    );
    let seconds = report["timeout_seconds"].as_f64().unwrap_or(f64::NAN);
    assert!((3.9..8.0).contains(&seconds), "{report}");
    let log = server.log();
    assert!(log.contains("outcome=timeout"), "{log}");
    assert!(log.contains("server busy"), "{log}");
    assert!(log.contains("--query-memory-limit"), "{log}");
}

#[test]
fn sixteen_clients_at_once_and_one_that_disconnects_mid_stream() {
    if peers_skipped() {
        return;
    }
    let memory_limit: u64 = 1 << 30;
    let server = Server::start(&["--memory-limit", "1G", "--query-memory-limit", "256M"]);
    let pid = server.process.0.id().to_string();
    let report = peer_reference(
        "flight_sql_client.py",
        &[
            os("load"),
            os(&server.uri),
            os(TOKEN),
            os(&pid),
            os("--clients"),
            os("16"),
            os("--queries"),
            os("50"),
        ],
    );
    eprintln!("load: {report}");
    assert_eq!(report["queries"], 800, "{report}");
    let peak = report["peak_rss_bytes"].as_u64().unwrap_or(u64::MAX);
    assert!(
        peak < memory_limit,
        "peak memory {peak} over the limit: {report}"
    );
    let log = server.wait_for_log("outcome=cancelled");
    let cancelled = log
        .lines()
        .find(|line| line.contains("outcome=cancelled"))
        .unwrap_or_else(|| panic!("the dropped stream was not cancelled: {log}"));
    assert!(cancelled.contains("CROSS JOIN"), "{cancelled}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn serving_without_a_token_needs_no_auth_on_a_loopback_address() {
    let error = error_of(userlake().env_remove("USERLAKE_TOKEN").args([
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]));
    assert!(error.contains("a token is required"), "{error}");

    let error = error_of(userlake().env_remove("USERLAKE_TOKEN").args([
        "serve",
        "--no-auth",
        "--listen",
        "0.0.0.0:0",
    ]));
    assert!(error.contains("only on a loopback address"), "{error}");

    let error = error_of(userlake().env("USERLAKE_TOKEN", "short").args([
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]));
    assert!(error.contains("at least 16 characters"), "{error}");

    let error = error_of(userlake().env("USERLAKE_TOKEN", TOKEN).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--memory-limit",
        "1G",
        "--query-memory-limit",
        "2G",
    ]));
    assert!(error.contains("larger than the server's"), "{error}");
}

#[test]
fn no_auth_on_loopback_says_so_at_start() {
    let binary = assert_cmd::cargo::cargo_bin("userlake");
    let mut child = Command::new(binary)
        .current_dir(repo())
        .env_remove("USERLAKE_TOKEN")
        .args(["serve", "--no-auth", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let stdout = child.stdout.take().expect("stdout");
    let banner: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(2)
        .map_while(Result::ok)
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        banner[0].starts_with("userlake serve: listening on grpc://127.0.0.1:"),
        "{banner:?}"
    );
    assert!(
        banner[1].contains("WARNING: authentication is off"),
        "{banner:?}"
    );
}

async fn flight_client(server: &Server) -> FlightSqlServiceClient<tonic::transport::Channel> {
    let address = server.uri.replace("grpc://", "http://");
    let channel = tonic::transport::Endpoint::from_shared(address)
        .expect("an endpoint")
        .connect()
        .await
        .expect("connected");
    FlightSqlServiceClient::new(channel)
}

async fn fetch(
    client: &mut FlightSqlServiceClient<tonic::transport::Channel>,
    info: arrow_flight::FlightInfo,
) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.expect("a ticket");
        let stream = client.do_get(ticket).await.expect("do_get");
        batches.extend(stream.try_collect::<Vec<_>>().await.expect("batches"));
    }
    batches
}

async fn count_events(client: &mut FlightSqlServiceClient<tonic::transport::Channel>) -> i64 {
    count_of(client, "SELECT count(*) AS n FROM events").await
}

/// The count that `query` (one BIGINT) returns.
async fn count_of(
    client: &mut FlightSqlServiceClient<tonic::transport::Channel>,
    query: &str,
) -> i64 {
    let info = client
        .execute(query.to_string(), None)
        .await
        .expect("a count");
    let batches = fetch(client, info).await;
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .expect("a count")
        .value(0)
}

/// A server outlives many nightly runs: files added to the lake must show up in its queries.
#[tokio::test]
async fn files_added_to_the_lake_show_up_after_the_file_list_ttl() {
    let lake = tempfile::tempdir().expect("tempdir");
    crate::common::copy_dir(&sample_lake(), lake.path());
    let lake_arg = lake.path().to_str().expect("a UTF-8 path");
    let server = Server::start(&["--lake", lake_arg, "--file-list-ttl", "0.5"]);
    let mut client = flight_client(&server).await;
    client
        .handshake("analyst", TOKEN)
        .await
        .expect("the handshake");
    let before = count_events(&mut client).await;

    let days = crate::common::entry_names(&lake.path().join("events"));
    let last = days.last().expect("a partition");
    let added = lake.path().join("events").join("dt=2099-01-01");
    crate::common::copy_dir(&lake.path().join("events").join(last), &added);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = count_events(&mut client).await;
    assert!(
        after > before,
        "the new partition was not seen: {before} then {after}"
    );
}

/// The protocol paths the ADBC driver does not take, through arrow-flight's own client: the
/// handshake with a padded Basic header, statements without prepare, the update path, key
/// metadata (empty: the lake has none) and the SQL type list.
#[tokio::test]
async fn arrow_flight_client_handshake_keys_types_and_updates() {
    use arrow::array::{Array, StringArray};
    use arrow_flight::sql::{CommandGetPrimaryKeys, CommandGetXdbcTypeInfo, SqlInfo};

    let server = Server::start(&[]);
    let mut client = flight_client(&server).await;
    let refused = client.execute("SELECT 1".into(), None).await;
    assert!(refused.is_err(), "a query without a token ran");
    assert!(
        client
            .handshake("analyst", "wrong-password-0000000")
            .await
            .is_err()
    );
    client
        .handshake("analyst", TOKEN)
        .await
        .expect("the handshake");

    let info = client
        .execute("SELECT 'a' || 'b' AS s, 40 + 2 AS n".into(), None)
        .await
        .expect("a statement");
    let batches = fetch(&mut client, info).await;
    let strings = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("classic Utf8, not a view");
    assert_eq!(strings.value(0), "ab");

    let mut prepared = client
        .prepare(
            "SELECT count(*) AS n FROM events WHERE event_name = $1".into(),
            None,
        )
        .await
        .expect("prepared");
    assert_eq!(
        prepared.parameter_schema().expect("schema").fields().len(),
        1
    );
    let parameters = RecordBatch::try_from_iter(vec![(
        "$1",
        std::sync::Arc::new(StringArray::from(vec!["pay_order"])) as _,
    )])
    .expect("parameters");
    prepared.set_parameters(parameters).expect("bound");
    let info = prepared.execute().await.expect("executed");
    let batches = fetch(&mut client, info).await;
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    prepared.close().await.expect("closed");

    let update = client
        .execute_update("CREATE VIEW v AS SELECT 1 AS x".into(), None)
        .await
        .expect_err("read-only");
    assert!(update.to_string().contains("read-only"), "{update}");

    let info = client
        .get_primary_keys(CommandGetPrimaryKeys {
            catalog: None,
            db_schema: None,
            table: "events".into(),
        })
        .await
        .expect("primary keys");
    let batches = fetch(&mut client, info).await;
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);

    let info = client
        .get_xdbc_type_info(CommandGetXdbcTypeInfo { data_type: None })
        .await
        .expect("type info");
    let batches = fetch(&mut client, info).await;
    assert!(batches.iter().map(RecordBatch::num_rows).sum::<usize>() >= 10);

    let info = client
        .get_sql_info(vec![
            SqlInfo::FlightSqlServerName,
            SqlInfo::FlightSqlServerReadOnly,
        ])
        .await
        .expect("sql info");
    let batches = fetch(&mut client, info).await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    assert!(batches[0].column(1).len() == 2);
}

/// A server distributing over workers answers as one process does, and goes on with the
/// worker that is left when the other dies (it asks them every 5 seconds).
#[cfg(feature = "cluster")]
#[tokio::test]
async fn a_server_over_workers_goes_on_when_one_dies() {
    use crate::cluster::Worker;
    let mut workers = vec![Worker::start(&[]), Worker::start(&[])];
    let list = format!("{},{}", workers[0].url, workers[1].url);
    let server = Server::start(&["--workers", &list, "--bytes-per-task", "1"]);
    let mut client = flight_client(&server).await;
    client
        .handshake("analyst", TOKEN)
        .await
        .expect("the handshake");
    // a scan (a bare count(*) is answered from the files' statistics)
    let query = "SELECT count(*) AS n FROM events WHERE event_name <> 'no such event'";
    assert_eq!(count_of(&mut client, query).await, 37975);
    drop(workers.remove(0));
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(count_of(&mut client, query).await, 37975);
}
