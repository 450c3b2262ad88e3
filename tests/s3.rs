//! Lakes on S3: the sample lake, uploaded byte for byte to a real S3-compatible server on
//! loopback (`moto_server`, from PyPI `moto[server]`), gives the same results as on local disk,
//! and `COPY ... TO 's3://...'` writes there.
//!
//! moto_server must be on PATH (`.ci/run` installs it). Set USERLAKE_SKIP_S3=1 to skip on a
//! machine without it; the test otherwise fails rather than pass without checking anything.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::{error_of, sample_lake, stdout_of, userlake};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

struct S3Server {
    child: Child,
    endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server() -> Option<S3Server> {
    if std::env::var("USERLAKE_SKIP_S3").is_ok_and(|v| v == "1") {
        eprintln!("USERLAKE_SKIP_S3=1: the S3 tests are skipped");
        return None;
    }
    let port = free_port();
    let child = Process::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "moto_server must be on PATH (pip install 'moto[server]'), or set USERLAKE_SKIP_S3=1",
        );
    let server = S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
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

fn with_aws(command: &mut Command, endpoint: &str) {
    command
        .env("AWS_ENDPOINT", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
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
        let mut remote = userlake();
        with_aws(&mut remote, &server.endpoint);
        let remote = stdout_of(remote.args([
            "sql",
            "--lake",
            "s3://lake/prod/sample",
            "-c",
            query,
            "--format",
            "csv",
        ]));
        assert_eq!(local, remote, "{query}");
    }

    // The nightly job reads the S3 lake and writes the same report as from disk.
    let dir = tempfile::tempdir().unwrap();
    let mut job = userlake();
    with_aws(&mut job, &server.endpoint);
    job.args([
        "run",
        "sql/identity_edges.sql",
        "sql/identity.sql",
        "sql/nightly.sql",
        "--lake",
        "s3://lake/prod/sample",
        "--out",
    ])
    .arg(dir.path().join("remote"))
    .assert()
    .success();
    userlake()
        .args([
            "run",
            "sql/identity_edges.sql",
            "sql/identity.sql",
            "sql/nightly.sql",
            "--lake",
            "data/sample",
            "--out",
        ])
        .arg(dir.path().join("local"))
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("remote/kpi_daily.csv")).unwrap(),
        std::fs::read_to_string(dir.path().join("local/kpi_daily.csv")).unwrap()
    );

    // COPY ... TO s3:// writes a table that a lake on S3 then reads.
    let mut copy = userlake();
    with_aws(&mut copy, &server.endpoint);
    copy.args([
        "sql",
        "--lake",
        "s3://lake/prod/sample",
        "-c",
        "COPY (SELECT channel, sum(spend) AS spend FROM costs GROUP BY channel) TO 's3://lake/reports/spend/part-0.parquet' STORED AS PARQUET",
    ])
    .assert()
    .success();
    let mut read_back = userlake();
    with_aws(&mut read_back, &server.endpoint);
    let out = stdout_of(read_back.args([
        "sql",
        "--lake",
        "s3://lake/reports",
        "-c",
        "SELECT count(*) AS channels FROM spend",
        "--format",
        "csv",
    ]));
    assert_eq!(out, "channels\n10\n");

    // A missing bucket is named.
    let mut missing = userlake();
    with_aws(&mut missing, &server.endpoint);
    let err = error_of(missing.args(["sql", "--lake", "s3://no-such-bucket/x", "-c", "SELECT 1"]));
    assert!(err.contains("lake s3://no-such-bucket/x"), "{err}");
}
