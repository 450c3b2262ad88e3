//! The `userlake` binary: output formats, exit codes and error messages, batch jobs, the shell.

use std::path::PathBuf;

use crate::common::{
    copy_dir, entry_names, error_of, generate, repo, sample_lake, stderr_of, stdout_of, userlake,
};
use predicates::prelude::*;

const COSTS_BY_CHANNEL: &str =
    "SELECT channel, count(*) AS days FROM costs GROUP BY channel ORDER BY channel LIMIT 3";

#[test]
fn csv_has_a_header_row() {
    let out = stdout_of(userlake().args([
        "sql",
        "--lake",
        "data/sample",
        "-c",
        COSTS_BY_CHANNEL,
        "--format",
        "csv",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "channel,days");
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[1].starts_with("bilibili,"), "{out}");
}

#[test]
fn the_default_lake_is_the_sample() {
    let out = stdout_of(userlake().args([
        "sql",
        "-c",
        "SELECT count(*) AS n FROM events",
        "--format",
        "csv",
    ]));
    assert_eq!(out, "n\n37975\n");
}

#[test]
fn a_statement_may_start_with_a_comment() {
    let out = stdout_of(userlake().args([
        "sql",
        "-c",
        "-- events in the sample\nSELECT count(*) AS n FROM events",
        "--format",
        "csv",
    ]));
    assert_eq!(out, "n\n37975\n");
}

#[test]
fn the_lake_can_come_from_the_environment() {
    let out = stdout_of(
        userlake()
            .env("USERLAKE_LAKE", sample_lake())
            .current_dir(std::env::temp_dir())
            .args([
                "sql",
                "-c",
                "SELECT count(*) AS n FROM orders",
                "--format",
                "csv",
            ]),
    );
    assert_eq!(out, "n\n873\n");
}

#[test]
fn json_and_ndjson() {
    let json = stdout_of(userlake().args(["sql", "-c", COSTS_BY_CHANNEL, "--format", "json"]));
    assert!(
        json.trim()
            .starts_with("[{\"channel\":\"bilibili\",\"days\":60}"),
        "{json}"
    );
    assert!(json.trim().ends_with("]"));
    let ndjson = stdout_of(userlake().args(["sql", "-c", COSTS_BY_CHANNEL, "--format", "ndjson"]));
    assert_eq!(ndjson.lines().count(), 3);
    assert!(
        ndjson
            .lines()
            .all(|l| l.starts_with('{') && l.ends_with('}'))
    );
    let empty =
        stdout_of(userlake().args(["sql", "-c", "SELECT 1 AS x WHERE false", "--format", "json"]));
    assert_eq!(empty.trim(), "[]");
}

#[test]
fn nulls_are_explicit() {
    let out = stdout_of(userlake().args([
        "sql",
        "-c",
        "SELECT CAST(NULL AS INT) AS x",
        "--format",
        "ndjson",
    ]));
    assert_eq!(out.trim(), "{\"x\":null}");
    let table = stdout_of(userlake().args(["sql", "-c", "SELECT CAST(NULL AS INT) AS x"]));
    assert!(table.contains("NULL"), "{table}");
}

/// A job's CSV copy of a table with nested columns prints them as `sql --format csv` does.
#[test]
fn a_job_publishes_nested_columns_in_csv() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("nested.sql"),
        "CREATE TABLE steps AS SELECT * FROM (VALUES (2, [1, 0], 'b'), (1, [1, 1], 'a')) \
         AS v(n, flags, name);\n\
         CREATE VIEW nested AS SELECT n, flags, named_struct('name', name, 'n', n) AS detail \
         FROM steps;\n",
    )
    .unwrap();
    let job = dir.path().join("nested.toml");
    std::fs::write(
        &job,
        "[job]\nname = \"nested\"\n[[step]]\nname = \"nested\"\nsql = \"nested.sql\"\n\
         publish = [{ table = \"nested\", formats = [\"parquet\", \"csv\"], order_by = \"n\" }]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    userlake()
        .arg("run")
        .arg(&job)
        .args(["--lake", "data/sample", "--date", "2026-03-01", "--out"])
        .arg(&out)
        .assert()
        .success();
    let csv = std::fs::read_to_string(committed_run_dir(&out).join("nested.csv")).unwrap();
    assert_eq!(
        csv,
        "n,flags,detail\n1,\"[1, 1]\",\"{'name': a, 'n': 1}\"\n2,\"[1, 0]\",\"{'name': b, 'n': 2}\"\n"
    );
}

/// Lists and structs print in CSV and in the table as DuckDB prints them, a CSV file too;
/// JSON keeps its arrays and objects.
#[test]
fn lists_and_structs_print_as_text() {
    let sql = "SELECT retention(x >= 1, x >= 2, x >= 3) AS r, \
               named_struct('level', 3, 'step', 'pay order') AS s, ['a, b', NULL] AS l \
               FROM (VALUES (1), (3)) AS v(x)";
    let csv = stdout_of(userlake().args(["sql", "--format", "csv", "-c", sql]));
    assert_eq!(
        csv,
        "r,s,l\n\"[1, 1, 1]\",\"{'level': 3, 'step': pay order}\",\"['a, b', NULL]\"\n"
    );
    let table = stdout_of(userlake().args(["sql", "-c", sql]));
    assert!(
        table.contains("| [1, 1, 1] | {'level': 3, 'step': pay order} |"),
        "{table}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.csv");
    userlake()
        .args(["sql", "--format", "csv", "-c", sql, "-o"])
        .arg(&file)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), csv);
    let json = stdout_of(userlake().args(["sql", "--format", "json", "-c", sql]));
    assert!(json.contains("\"r\":[1,1,1]"), "{json}");
}

#[test]
fn parquet_and_arrow_files() {
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("r.parquet");
    let arrow_file = dir.path().join("r.arrow");
    for (format, path) in [("parquet", &parquet), ("arrow", &arrow_file)] {
        userlake()
            .args(["sql", "-c", COSTS_BY_CHANNEL, "--format", format, "-o"])
            .arg(path)
            .assert()
            .success();
    }
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&parquet).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 3);
    let reader =
        arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&arrow_file).unwrap(), None)
            .unwrap();
    assert_eq!(reader.schema().field(0).name(), "channel");
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 3);
}

#[test]
fn binary_formats_need_a_file() {
    let err = error_of(userlake().args(["sql", "-c", "SELECT 1", "--format", "parquet"]));
    assert!(err.contains("give it a path with -o"), "{err}");
}

#[test]
fn a_failed_query_leaves_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    error_of(
        userlake()
            .args([
                "sql",
                "-c",
                "SELECT nope FROM events",
                "--format",
                "csv",
                "-o",
            ])
            .arg(&path),
    );
    assert!(!path.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary file left"
    );
}

#[test]
fn a_missing_lake_is_named() {
    let err = error_of(userlake().args(["sql", "--lake", "/no/such/lake", "-c", "SELECT 1"]));
    assert!(
        err.contains("lake /no/such/lake: no such directory"),
        "{err}"
    );
}

#[test]
fn unknown_tables_and_columns_are_named_with_their_position() {
    let err = error_of(userlake().args(["sql", "-c", "SELECT * FROM evnts"]));
    assert!(err.contains("evnts") && err.contains("not found"), "{err}");
    let err = error_of(userlake().args(["sql", "-c", "SELECT event_id,\n  evnt_name FROM events"]));
    assert!(err.contains("evnt_name"), "{err}");
    assert!(err.contains("(at line 2, column 3)"), "{err}");
}

#[test]
fn docs_writes_the_function_reference_and_checks_it() {
    userlake().args(["docs", "--check"]).assert().success();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("functions");
    let err = error_of(userlake().args(["docs", "--check", "--out"]).arg(&out));
    assert!(err.contains("the function reference is stale"), "{err}");
    userlake()
        .args(["docs", "--out"])
        .arg(&out)
        .assert()
        .success();
    let index = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        index.contains("[`window_funnel`](behavioural-aggregates.md#window_funnel)"),
        "{index}"
    );
    std::fs::write(out.join("behavioural-aggregates.md"), "edited").unwrap();
    let err = error_of(userlake().args(["docs", "--check", "--out"]).arg(&out));
    assert!(err.contains("behavioural-aggregates.md"), "{err}");
}

#[test]
fn diagnostics_follow_verbose_and_rust_log() {
    let quiet = userlake()
        .args(["run", "sql/stitch_quality.sql"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(!stderr.contains("[DEBUG"), "{stderr}");
    let verbose = userlake()
        .args(["-v", "sql", "-c", "SELECT count(*) FROM events"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert!(
        stderr.contains("[DEBUG userlake::lake] table events: "),
        "{stderr}"
    );
    // RUST_LOG decides when set: warnings only hides a job's progress lines
    let dir = tempfile::tempdir().unwrap();
    let job = script(dir.path(), "SELECT 1 AS one;\n");
    let silenced = userlake()
        .arg("run")
        .arg(&job)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(silenced.status.success());
    let stderr = String::from_utf8_lossy(&silenced.stderr);
    assert!(!stderr.contains("[1/1]"), "{stderr}");
    let shown = userlake()
        .arg("run")
        .arg(&job)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&shown.stderr);
    assert!(
        stderr.contains("[1/1] line 1: SELECT 1 AS one -> 1 rows"),
        "{stderr}"
    );
}

#[test]
fn bad_memory_limits_are_usage_errors() {
    userlake()
        .args(["sql", "--memory-limit", "lots", "-c", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid size 'lots'"));
}

#[test]
fn a_small_memory_limit_spills_instead_of_failing() {
    let spill = tempfile::tempdir().unwrap();
    let out = stdout_of(
        userlake()
            .args(["sql", "--memory-limit", "4M", "--spill-dir"])
            .arg(spill.path())
            .args([
                "-c",
                "SELECT count(*) AS n FROM (SELECT * FROM events ORDER BY event_id DESC, event_time LIMIT 1000000)",
                "--format",
                "csv",
            ]),
    );
    assert_eq!(out, "n\n37975\n");
}

/// A lake with a good table, a table with one corrupt file, and the clutter real lakes have.
fn messy_lake() -> tempfile::TempDir {
    let lake = tempfile::tempdir().unwrap();
    let good = lake.path().join("good");
    copy_dir(&sample_lake().join("costs"), &good);
    std::fs::write(good.join("_SUCCESS"), "").unwrap();
    std::fs::write(good.join("README.md"), "notes").unwrap();
    std::fs::create_dir_all(good.join("_temporary")).unwrap();
    std::fs::write(good.join("_temporary/part-9.parquet"), "half written").unwrap();
    std::fs::create_dir_all(good.join(".staging")).unwrap();
    std::fs::write(good.join(".staging/part-9.parquet"), "half written").unwrap();
    let broken = lake.path().join("broken");
    copy_dir(&sample_lake().join("costs"), &broken);
    std::fs::write(broken.join("part-1.parquet"), "this is not parquet").unwrap();
    std::fs::write(lake.path().join("notes.txt"), "not a table").unwrap();
    lake
}

#[test]
fn clutter_is_ignored() {
    let lake = messy_lake();
    let out = stdout_of(userlake().arg("sql").arg("--lake").arg(lake.path()).args([
        "-c",
        "SELECT count(*) AS n FROM good",
        "--format",
        "csv",
    ]));
    assert_eq!(out, "n\n900\n");
}

#[test]
fn a_corrupt_file_is_reported_by_path_when_queried() {
    let lake = messy_lake();
    let err = error_of(
        userlake()
            .arg("sql")
            .arg("--lake")
            .arg(lake.path())
            .args(["-c", "SELECT count(*) FROM broken"]),
    );
    assert!(err.contains("broken/part-1.parquet"), "{err}");
    assert!(err.contains("not valid Parquet"), "{err}");
}

#[test]
fn mismatched_partition_layouts_are_reported() {
    let lake = tempfile::tempdir().unwrap();
    let table = lake.path().join("t");
    copy_dir(&sample_lake().join("costs"), &table.join("dt=2026-01-01"));
    copy_dir(&sample_lake().join("costs"), &table.join("region=north"));
    copy_dir(&sample_lake().join("costs"), &lake.path().join("good"));
    let query = |sql: &str| {
        let mut command = userlake();
        command
            .arg("sql")
            .arg("--lake")
            .arg(lake.path())
            .args(["-c", sql, "--format", "csv"]);
        command
    };
    let err = error_of(&mut query("SELECT count(*) FROM t"));
    assert!(err.contains("partition directories"), "{err}");
    assert!(
        err.contains("dt=2026-01-01") || err.contains("region=north"),
        "{err}"
    );
    // the lake's other tables are read as usual: a table is opened when a statement names it
    assert_eq!(
        stdout_of(&mut query("SELECT count(*) AS n FROM good")),
        "n\n900\n"
    );
}

#[test]
fn the_shell_runs_statements_and_commands() {
    let out = stdout_of(
        userlake()
            .args(["sql"])
            .write_stdin("SELECT 40 +\n  2 AS answer;\n\\d\n\\d costs\n\\f normalize\n\\q\n"),
    );
    assert!(out.contains("| 42     |"), "{out}");
    assert!(out.contains("identity_edges"), "{out}");
    assert!(out.contains("spend"), "{out}");
    assert!(out.contains("normalize_id"), "{out}");
}

#[test]
fn the_shell_keeps_going_after_an_error() {
    let output = userlake()
        .args(["sql"])
        .write_stdin("SELECT nope;\nSELECT 7 AS seven;\n")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope"));
    assert!(String::from_utf8_lossy(&output.stdout).contains("seven"));
}

// ---- batch jobs -----------------------------------------------------------------------

fn script(dir: &std::path::Path, text: &str) -> PathBuf {
    let path = dir.join("job.sql");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_job_substitutes_variables_and_publishes_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let job = script(
        dir.path(),
        "-- spend of one channel\nCOPY (SELECT sum(spend) AS spend FROM costs WHERE channel = '${channel}')\nTO '${out}/spend.csv' STORED AS CSV OPTIONS ('format.has_header' 'true');\n",
    );
    let out = dir.path().join("out");
    userlake()
        .arg("run")
        .arg(&job)
        .args(["--var", "channel=douyin", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("[1/1] line 2: COPY"))
        .stderr(predicate::str::contains("done: 1 statements, 1 rows"));
    let csv = std::fs::read_to_string(out.join("spend.csv")).unwrap();
    assert!(csv.starts_with("spend\n"), "{csv}");
    let names = entry_names(&out);
    assert_eq!(names.len(), 1, "no staging left behind: {names:?}");
}

#[test]
fn an_unknown_variable_fails_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let job = script(
        dir.path(),
        "COPY (SELECT 1 AS x) TO '${out}/first.csv' STORED AS CSV;\n\nSELECT * FROM costs WHERE channel = '${chanel}';\n",
    );
    let out = dir.path().join("out");
    let err = error_of(
        userlake()
            .arg("run")
            .arg(&job)
            .arg("--out")
            .arg(&out)
            .args(["--var", "channel=kol"]),
    );
    assert!(err.contains("statement 2 (line 3)"), "{err}");
    assert!(err.contains("unknown variable ${chanel}"), "{err}");
    assert!(err.contains("channel, out"), "{err}");
    assert!(!err.contains("[1/"), "nothing ran: {err}");
    assert!(!out.join("first.csv").exists());
}

#[test]
fn a_failing_statement_stops_the_job_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("first.csv"), "previous run").unwrap();
    let job = script(
        dir.path(),
        "COPY (SELECT 1 AS x) TO '${out}/first.csv' STORED AS CSV;\nSELECT 1;\n\nSELECT no_such_column\nFROM costs;\nCOPY (SELECT 2 AS x) TO '${out}/never.csv' STORED AS CSV;\n",
    );
    let err = error_of(userlake().arg("run").arg(&job).arg("--out").arg(&out));
    assert!(err.contains("job.sql: statement 3 (line 4)"), "{err}");
    assert!(err.contains("no_such_column"), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("first.csv")).unwrap(),
        "previous run"
    );
    assert!(!out.join("never.csv").exists());
    let names = entry_names(&out);
    assert_eq!(names.len(), 1, "no staging left behind: {names:?}");
}

#[test]
fn scripts_of_one_job_share_a_session_and_defaults_apply() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.sql");
    std::fs::write(&first, "CREATE VIEW spend_by_channel AS SELECT channel, sum(spend) AS spend FROM costs GROUP BY channel;\n").unwrap();
    let second = dir.path().join("second.sql");
    std::fs::write(
        &second,
        "COPY (SELECT * FROM spend_by_channel ORDER BY spend DESC LIMIT ${top:-3})\nTO '${out}/top.csv' STORED AS CSV OPTIONS ('format.has_header' 'true');\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    userlake()
        .arg("run")
        .arg(&first)
        .arg(&second)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("[2/2] second.sql line 1: COPY"));
    let csv = std::fs::read_to_string(out.join("top.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    // a variable given on the command line wins over the default
    userlake()
        .arg("run")
        .arg(&first)
        .arg(&second)
        .args(["--var", "top=5", "--out"])
        .arg(&out)
        .assert()
        .success();
    let csv = std::fs::read_to_string(out.join("top.csv")).unwrap();
    assert_eq!(csv.lines().count(), 6, "{csv}");
}

#[test]
fn an_unknown_variable_in_a_later_script_fails_before_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let first = script(
        dir.path(),
        "COPY (SELECT 1 AS x) TO '${out}/first.csv' STORED AS CSV;",
    );
    let second = dir.path().join("second.sql");
    std::fs::write(&second, "SELECT ${missing};").unwrap();
    let out = dir.path().join("out");
    let err = error_of(
        userlake()
            .arg("run")
            .arg(&first)
            .arg(&second)
            .arg("--out")
            .arg(&out),
    );
    assert!(err.contains("second.sql: statement 1 (line 1)"), "{err}");
    assert!(!out.join("first.csv").exists());
}

#[test]
fn bad_job_arguments() {
    let err = error_of(userlake().args(["run", "no/such/job.sql"]));
    assert!(err.contains("no/such/job.sql"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let job = script(dir.path(), "SELECT 1;");
    let err = error_of(userlake().arg("run").arg(&job).args(["--var", "novalue"]));
    assert!(err.contains("expected NAME=VALUE"), "{err}");
    let err = error_of(userlake().arg("run").arg(&job).args(["--var", "1x=2"]));
    assert!(err.contains("not a valid variable name"), "{err}");
}

/// The run directory of the one committed run under `out`.
fn committed_run_dir(out: &std::path::Path) -> PathBuf {
    let mut runs = Vec::new();
    for date in std::fs::read_dir(out.join("runs")).unwrap() {
        for run in std::fs::read_dir(date.unwrap().path()).unwrap() {
            let run = run.unwrap().path();
            if run.join("_manifest.json").is_file() {
                runs.push(run);
            }
        }
    }
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.remove(0)
}

/// Runs jobs/nightly.toml on the sample lake with `--var` settings `vars`: the temporary
/// directory (kept alive by the caller), the committed run's directory and what the job
/// printed.
fn run_nightly_on_sample(vars: &[&str]) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut command = userlake();
    command.args([
        "run",
        "jobs/nightly.toml",
        "--lake",
        "data/sample",
        "--date",
        "2026-03-01",
    ]);
    for var in vars {
        command.args(["--var", var]);
    }
    let report = stdout_of(command.arg("--out").arg(&out));
    let run = committed_run_dir(&out);
    (dir, run, report)
}

#[test]
fn the_nightly_job_runs_on_the_sample() {
    let (_dir, out, report) = run_nightly_on_sample(&["level1_rate=0.2"]);
    check_customer_value_outputs(&out);
    check_channel_roi(&out);
    check_fission_report(&out);
    check_experiment_and_attribution_reports(&out);
    let funnel = std::fs::read_to_string(out.join("funnel_report.csv")).unwrap();
    assert!(funnel.starts_with(
        "channel,step_number,step,users,took_step,step_conversion,overall_conversion,median_seconds_to_step,p90_seconds_to_step\n"
    ), "{funnel}");
    let cohorts = std::fs::read_to_string(out.join("retention_cohort.csv")).unwrap();
    assert!(
        cohorts.starts_with("cohort_week,cohort_size,day_1,day_3,day_7,day_14,day_30\n"),
        "{cohorts}"
    );
    assert!(report.contains("stickiness"), "{report}");
    // people are unified ids: the stitched graph is published with the reports
    assert!(out.join("id_graph/part-0.parquet").is_file());
    let csv = std::fs::read_to_string(out.join("kpi_daily.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "day,channel,dau,mau,stickiness,orders,buyers,gmv,aov,refund_rate,net_revenue,gross_margin"
    );
    // one row per day for all channels, and the all-channel GMV is the lake's GMV
    assert!(out.join("kpi_daily").is_dir());
    let all_days = csv.lines().filter(|l| l.contains(",all,")).count();
    assert_eq!(all_days, 60);
    let check = stdout_of(userlake().args([
        "sql",
        "-c",
        "SELECT round(sum(amount), 2) AS gmv FROM orders",
        "--format",
        "csv",
    ]));
    let lake_gmv: f64 = check.lines().nth(1).unwrap().parse().unwrap();
    let report_gmv: f64 = csv
        .lines()
        .filter(|l| l.contains(",all,"))
        .map(|l| l.split(',').nth(7).unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(
        (lake_gmv - report_gmv).abs() < 0.05,
        "{lake_gmv} vs {report_gmv}"
    );
}

/// The data rows of a CSV output of a run, split into fields.
fn csv_rows(run: &std::path::Path, name: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(run.join(name))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

/// A funnel whose later steps no one reaches: every channel still lists every step, with 0
/// users and no conversion after an empty step (not NaN), and the channels add up to 'all'.
#[test]
fn the_funnel_report_lists_every_step_of_every_channel() {
    let (_dir, out, _) = run_nightly_on_sample(&[
        "steps='follow_account','view_content','poster_scan','store_checkin'",
    ]);
    let csv = std::fs::read_to_string(out.join("funnel_report.csv")).unwrap();
    let rows = csv_rows(&out, "funnel_report.csv");
    let channels: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert!(channels.len() > 2, "{csv}");
    assert_eq!(rows.len(), channels.len() * 4, "{csv}");
    let users = |channel: &str, step: &str| -> i64 {
        rows.iter()
            .find(|r| r[0] == channel && r[1] == step)
            .unwrap_or_else(|| panic!("no row for {channel} step {step}:\n{csv}"))[3]
            .parse()
            .unwrap()
    };
    for step in ["1", "2", "3", "4"] {
        let by_channel: i64 = channels
            .iter()
            .filter(|c| **c != "all")
            .map(|c| users(c, step))
            .sum();
        assert_eq!(by_channel, users("all", step), "step {step}:\n{csv}");
    }
    assert!(
        users("all", "1") > users("all", "2") && users("all", "2") > 0,
        "{csv}"
    );
    for row in rows.iter().filter(|r| r[1] == "4") {
        assert_eq!(row[3], "0", "{csv}");
        // step 3 has no one either, so step 4's conversion from it is undefined
        assert_eq!(row[5], "", "{csv}");
        assert_eq!(row[6], "0.0", "{csv}");
    }
    // without optional steps everyone counted at a step took it
    assert!(rows.iter().all(|r| r[3] == r[4]), "{csv}");
    assert!(!csv.contains("NaN"), "{csv}");
}

/// The funnel's trend, time-to-convert histogram and drop-off list count the same users as
/// the report; an exclusion only ever lowers the counts.
#[test]
fn the_funnel_trend_histogram_and_dropoffs_add_up() {
    let (_dir, out, _) = run_nightly_on_sample(&[]);
    let csv = |name: &str| csv_rows(&out, name);
    let all_users = |rows: &[Vec<String>]| -> Vec<i64> {
        rows.iter()
            .filter(|r| r[0] == "all")
            .map(|r| r[3].parse().unwrap())
            .collect()
    };
    let report = csv("funnel_report.csv");
    let users = all_users(&report);
    assert_eq!(users.len(), 4);
    // the sum of column `value` over the rows whose column `step` is `number`
    let step_total = |rows: &[Vec<String>], step: usize, number: usize, value: usize| -> i64 {
        rows.iter()
            .filter(|r| r[step] == number.to_string())
            .map(|r| r[value].parse::<i64>().unwrap())
            .sum()
    };
    // the trend's weeks add up to the report's users at every step
    let trend = csv("funnel_trend.csv");
    // the histogram counts each conversion once, in one bucket
    let histogram = csv("funnel_time_to_convert.csv");
    // the breakdown by the platform of the entry step adds up to the users at every step
    let breakdown = csv("funnel_breakdown.csv");
    for (step, expected) in users.iter().enumerate() {
        let number = step + 1;
        assert_eq!(
            step_total(&trend, 1, number, 3),
            *expected,
            "trend, step {number}"
        );
        if number > 1 {
            assert_eq!(
                step_total(&histogram, 0, number, 4),
                *expected,
                "histogram, step {number}"
            );
        }
        assert_eq!(
            step_total(&breakdown, 1, number, 3),
            *expected,
            "breakdown, step {number}"
        );
    }
    assert!(
        breakdown.iter().any(|r| r[0] == "wechat_oa"),
        "{breakdown:?}"
    );
    // everyone who entered and did not finish is in the drop-offs, at their last step, with
    // the event that reached it
    let query_out = |sql: &str| {
        stdout_of(userlake().args([
            "sql",
            "--lake",
            out.to_str().unwrap(),
            "--format",
            "csv",
            "-c",
            sql,
        ]))
    };
    let missing_events = query_out(
        "SELECT count(*) FILTER (WHERE last_event_id IS NULL) AS missing FROM funnel_dropoffs",
    );
    assert_eq!(missing_events, "missing\n0\n");
    let dropoffs =
        query_out("SELECT last_step_number, count(*) FROM funnel_dropoffs GROUP BY 1 ORDER BY 1");
    let expected: String = (0..3)
        .map(|i| format!("{},{}\n", i + 1, users[i] - users[i + 1]))
        .collect();
    assert_eq!(
        dropoffs.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n",
        expected
    );
    // shares between the view and the payment drop chains: fewer users from step 2 on
    let (_dir2, excluded_out, _) =
        run_nightly_on_sample(&["exclude=exclude 9 from 2 to 4", "exclude_event='share'"]);
    let excluded_users = all_users(&csv_rows(&excluded_out, "funnel_report.csv"));
    assert_eq!(excluded_users[0], users[0]);
    assert!(
        excluded_users[1] < users[1],
        "{excluded_users:?} vs {users:?}"
    );
    assert!(excluded_users.iter().zip(&users).all(|(e, u)| e <= u));

    // the cart optional: as many users or more at every step, more payers (the sample has
    // people who pay without a cart event in their chain); the cart's histogram counts those
    // who took it
    let (_dir3, optional_out, _) =
        run_nightly_on_sample(&["mode=optional 3", "breakdown=campaign", "breakdown_step=3"]);
    let optional_report = csv_rows(&optional_out, "funnel_report.csv");
    let optional_users = all_users(&optional_report);
    assert!(optional_users.iter().zip(&users).all(|(o, u)| o >= u));
    assert!(
        optional_users[3] > users[3],
        "{optional_users:?} vs {users:?}"
    );
    let took: Vec<i64> = optional_report
        .iter()
        .filter(|r| r[0] == "all")
        .map(|r| r[4].parse().unwrap())
        .collect();
    assert!(
        took[2] < optional_users[2],
        "{took:?} vs {optional_users:?}"
    );
    assert_eq!(took[3], optional_users[3]);
    let histogram = csv_rows(&optional_out, "funnel_time_to_convert.csv");
    assert_eq!(step_total(&histogram, 0, 3, 4), took[2]);
    // the breakdown on step 3 starts there; those who skipped the cart have no value
    let breakdown = csv_rows(&optional_out, "funnel_breakdown.csv");
    assert!(
        breakdown.iter().all(|r| r[1] == "3" || r[1] == "4"),
        "{breakdown:?}"
    );
    assert_eq!(step_total(&breakdown, 1, 3, 3), optional_users[2]);
    assert_eq!(step_total(&breakdown, 1, 4, 3), optional_users[3]);
    let skipped: i64 = breakdown
        .iter()
        .filter(|r| r[0] == "(none)" && r[1] == "3")
        .map(|r| r[3].parse::<i64>().unwrap())
        .sum();
    assert!(skipped >= optional_users[2] - took[2], "{breakdown:?}");
}

/// The channel ROI report: every acquired person counted once, and the GMV decomposition holds.
fn check_channel_roi(out: &std::path::Path) {
    let csv = std::fs::read_to_string(out.join("channel_roi.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "channel,campaign,spend,new_people,cac,buyers,first_order_rate,repurchase_30d,orders,gmv,gross_margin,roi,ltv,ltv_cac,traffic,conversion,aov,orders_per_buyer"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.len() >= 10, "{csv}");
    let number = |v: &str| v.parse::<f64>().unwrap_or(0.0);
    let people: f64 = rows.iter().map(|r| number(r[3])).sum();
    assert!(people > 900.0, "{people}");
    for row in rows.iter().filter(|r| number(r[8]) > 0.0) {
        let product = number(row[14]) * number(row[15]) * number(row[16]) * number(row[17]);
        let gmv = number(row[9]);
        assert!(
            (product - gmv).abs() <= 0.01 * gmv,
            "traffic x conversion x aov x repeat != gmv: {row:?}"
        );
    }
}

/// The layer and LTV reports of the nightly job: every buyer has a segment, class and tier;
/// unobserved cohort cells are empty, not 0; the fits converged; predictions are in range.
fn check_customer_value_outputs(out: &std::path::Path) {
    let summary = std::fs::read_to_string(out.join("layer_summary.csv")).unwrap();
    assert!(
        summary.starts_with("layering,layer,people,buyers,monetary\n"),
        "{summary}"
    );
    // the rows (after the header) of a query over one Parquet output, registered as `t`
    let query = |file: &std::path::Path, sql: &str| -> Vec<String> {
        let register = format!(
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/'",
            file.display()
        );
        let text =
            stdout_of(userlake().args(["sql", "--format", "csv", "-c", &register, "-c", sql]));
        text.lines().skip(2).map(str::to_string).collect()
    };
    let layers = out.join("customer_layers");
    let report = out.join("ltv_report");
    let counts = query(
        &layers,
        "SELECT count(*) FILTER (WHERE frequency > 0), count(rfm_segment), count(rfm_class_en), count(lifecycle), count(*) FROM t",
    );
    let counts: Vec<u64> = counts[0].split(',').map(|v| v.parse().unwrap()).collect();
    assert!(counts[0] > 100, "{counts:?}");
    assert_eq!((counts[1], counts[2]), (counts[0], counts[0]), "{counts:?}");
    assert_eq!(counts[3], counts[4], "{counts:?}");
    let model = std::fs::read_to_string(out.join("ltv_model.csv")).unwrap();
    assert!(
        model.contains("bgnbd,converged,1.0") && model.contains("gamma_gamma,converged,1.0"),
        "{model}"
    );
    let checks = query(
        &report,
        "SELECT count(*), min(p_alive) >= 0 AND max(p_alive) <= 1, min(expected_purchases_12m) >= 0, \
                count(*) FILTER (WHERE clv_12m IS NULL OR lifecycle IS NULL) FROM t",
    );
    assert_eq!(
        checks[0].split(',').skip(1).collect::<Vec<_>>(),
        ["true", "true", "0"],
        "{checks:?}"
    );
    let cohorts = std::fs::read_to_string(out.join("ltv_cohort.csv")).unwrap();
    assert!(
        cohorts.starts_with(
            "acquisition_month,channel,customers,month,cumulative_margin_per_customer\n"
        )
    );
    // the sample ends on 2026-03-01: January cohorts have months 0 and 1, month 2 is unobserved
    let january_douyin: Vec<Vec<&str>> = cohorts
        .lines()
        .filter(|l| l.starts_with("2026-01-01,douyin,"))
        .map(|l| l.split(',').collect())
        .collect();
    let cell = |month: &str| {
        january_douyin
            .iter()
            .find(|fields| fields[3] == month)
            .map(|fields| fields[4])
    };
    assert!(
        cell("1").is_some_and(|v| v.parse::<f64>().is_ok_and(|v| v > 0.0)),
        "{cohorts}"
    );
    assert_eq!(cell("2"), Some(""), "{cohorts}");
    let cac = std::fs::read_to_string(out.join("ltv_cac.csv")).unwrap();
    assert!(
        cac.starts_with("channel,spend,customers,cac,margin_per_customer_to_date,"),
        "{cac}"
    );
}

/// The fission report, run with level1_rate=0.2.
fn check_fission_report(out: &std::path::Path) {
    let report = std::fs::read_to_string(out.join("fission_report.csv")).unwrap();
    let mut lines = report.lines();
    assert_eq!(
        lines.next().unwrap(),
        "campaign,week,sent,accepted,acceptance_rate,inviters,invitations_per_inviter,k_factor,credited_invitees,invitees_ordering,first_order_rate,generation_1,generation_2,generation_3_plus"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.len() > 5);
    let number = |v: &str| v.parse::<f64>().unwrap();
    for row in &rows {
        assert!(
            number(row[3]) <= number(row[2]),
            "accepted <= sent: {row:?}"
        );
        let k = number(row[6]) * number(row[4]);
        assert!(
            (number(row[7]) - k).abs() < 0.01,
            "k = invitations per inviter x acceptance: {row:?}"
        );
    }
    // stitching links wechat inviters to app invitees: the tree is deeper than one generation
    assert!(rows.iter().any(|r| number(r[12]) > 0.0), "{report}");
    let rewards = std::fs::read_to_string(out.join("fission_rewards.csv")).unwrap();
    let mut lines = rewards.lines();
    assert_eq!(
        lines.next().unwrap(),
        "campaign,week,orders,gmv,level1_paid,level2_paid,rewards_reversed,rewards_net"
    );
    for line in lines {
        let v: Vec<f64> = line
            .split(',')
            .skip(2)
            .map(|x| x.parse().unwrap())
            .collect();
        // level 1 is the variable's 20% of the invitees' orders; refunds come back out
        assert!((v[2] - 0.2 * v[1]).abs() < 0.02, "{line}");
        assert!((v[2] + v[3] - v[4] - v[5]).abs() < 0.05, "{line}");
    }
}

fn check_experiment_and_attribution_reports(out: &std::path::Path) {
    let number = |v: &str| v.parse::<f64>().unwrap_or(f64::NAN);
    let experiments = std::fs::read_to_string(out.join("experiment_report.csv")).unwrap();
    let mut lines = experiments.lines();
    assert!(lines.next().unwrap().starts_with(
        "experiment,arm,users,excluded,converters,conversion_rate,revenue,revenue_per_user,conversion_lift,conversion_p_value"
    ));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let arms: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        arms,
        [
            ("checkout_redesign", "a"),
            ("checkout_redesign", "b"),
            ("push_copy_v2", "a"),
            ("push_copy_v2", "b")
        ]
    );
    for row in &rows {
        assert!(number(row[2]) > 100.0, "{row:?}");
        assert!(
            (number(row[5]) - number(row[4]) / number(row[2])).abs() < 1e-4,
            "{row:?}"
        );
        let p = number(row[9]);
        assert!((0.0..=1.0).contains(&p), "{row:?}");
    }
    let attribution = std::fs::read_to_string(out.join("attribution_report.csv")).unwrap();
    let mut lines = attribution.lines();
    assert_eq!(
        lines.next().unwrap(),
        "channel,campaign,revenue_first_touch,revenue_last_touch,revenue_linear,revenue_time_decay,revenue_position_based,margin_first_touch,margin_last_touch,margin_linear,margin_time_decay,margin_position_based"
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .skip(2)
                .map(|v| v.parse().unwrap_or(0.0))
                .collect()
        })
        .collect();
    assert!(rows.len() > 5);
    // every model credits the same orders in full: the columns have the same totals
    let totals: Vec<f64> = (0..10).map(|c| rows.iter().map(|r| r[c]).sum()).collect();
    for model in 1..5 {
        assert!((totals[model] - totals[0]).abs() < 0.5, "{totals:?}");
        assert!((totals[5 + model] - totals[5]).abs() < 0.5, "{totals:?}");
    }
    // and that is the GMV of the paid orders
    let gmv = stdout_of(userlake().args([
        "sql",
        "-c",
        "SELECT round(sum(amount), 2) AS gmv FROM orders WHERE status = 'paid'",
        "--format",
        "csv",
    ]));
    let gmv: f64 = gmv.lines().nth(1).unwrap().parse().unwrap();
    assert!(
        totals[0] <= gmv + 0.5 && totals[0] > 0.5 * gmv,
        "{} vs {gmv}",
        totals[0]
    );
}

#[test]
fn the_sample_data_readme_names_the_generator_command() {
    let readme = std::fs::read_to_string(repo().join("data/README.md")).unwrap();
    assert!(readme.contains("--users 1000 --days 60 --start 2026-01-01 --seed 42"));
}

/// A one-step job over the sample's orders, written into `dir`.
fn tiny_job(dir: &std::path::Path, extra: &str) -> PathBuf {
    std::fs::write(
        dir.join("tiny.sql"),
        "CREATE VIEW helper AS SELECT * FROM orders WHERE channel = '${channel}';\n\
         CREATE VIEW orders_by_day AS SELECT dt AS day, count(*) AS orders FROM helper GROUP BY dt;\n",
    )
    .unwrap();
    let job = dir.join("tiny.toml");
    std::fs::write(
        &job,
        format!(
            "[job]\nname = \"tiny\"\nkeep_runs = 2\n\n[variables]\nchannel = \"douyin\"\n{extra}\n\n\
             [[step]]\nname = \"orders\"\nsql = \"tiny.sql\"\n\
             publish = [{{ table = \"orders_by_day\", formats = [\"parquet\", \"csv\"], order_by = \"day\" }}]\n"
        ),
    )
    .unwrap();
    job
}

#[test]
fn a_job_file_is_checked_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let fails = |job_text: &str, vars: &[&str]| {
        let job = dir.path().join("bad.toml");
        std::fs::write(&job, job_text).unwrap();
        let mut command = userlake();
        command.arg("run").arg(&job).arg("--out").arg(&out);
        for var in vars {
            command.args(["--var", var]);
        }
        let err = error_of(&mut command);
        assert!(!out.exists(), "nothing is written: {err}");
        err
    };
    std::fs::write(dir.path().join("a.sql"), "SELECT ${x};").unwrap();
    let step = "[[step]]\nname = \"a\"\nsql = \"a.sql\"\n";
    let err = fails(&format!("[job]\nname = \"j\"\nnam = 1\n{step}"), &[]);
    assert!(
        err.contains("bad.toml") && err.contains("unknown field `nam`"),
        "{err}"
    );
    let err = fails(
        "[job]\nname = \"j\"\n[[step]]\nname = \"a\"\nsql = \"missing.sql\"\n",
        &[],
    );
    assert!(
        err.contains("missing.sql") && err.contains("step 1"),
        "{err}"
    );
    let err = fails(&format!("[job]\nname = \"j\"\n{step}"), &[]);
    assert!(
        err.contains("uses ${x}") && err.contains("[variables]"),
        "{err}"
    );
    let twice = format!(
        "[job]\nname = \"j\"\n[variables]\nx = \"1\"\n{step}publish = [{{ table = \"t\" }}]\n\
         [[step]]\nname = \"b\"\nsql = \"a.sql\"\npublish = [{{ table = \"t\" }}]\n"
    );
    let err = fails(&twice, &[]);
    assert!(
        err.contains("table t is already published by step \"a\""),
        "{err}"
    );
    let declared = format!("[job]\nname = \"j\"\n[variables]\nx = \"1\"\n{step}");
    let err = fails(&declared, &["y=2"]);
    assert!(
        err.contains("--var y") && err.contains("declared: x"),
        "{err}"
    );
    let err = fails(
        "[job]\nname = \"j\"\n[[step]]\nname = \"a\"\nbuiltin = \"magic\"\n",
        &[],
    );
    assert!(err.contains("unknown builtin \"magic\""), "{err}");
    let err = fails(
        "[job]\nname = \"j\"\n[[step]]\nname = \"a\"\nbuiltin = \"stitch\"\n\
         state = { table = \"s\", from = \"v\", inputs = [\"events\"] }\n",
        &[],
    );
    assert!(err.contains("state needs a sql step"), "{err}");
    let err = fails(
        &format!(
            "[job]\nname = \"j\"\n[variables]\nx = \"1\"\n{step}\
             state = {{ table = \"s\", from = \"v\", inputs = [] }}\n"
        ),
        &[],
    );
    assert!(err.contains("state.inputs names no lake table"), "{err}");
    // a declared table the script never creates fails the step, and nothing is committed
    let job = tiny_job(dir.path(), "");
    std::fs::write(dir.path().join("tiny.sql"), "SELECT 1;").unwrap();
    let err = error_of(
        userlake()
            .arg("run")
            .arg(&job)
            .args(["--lake", "data/sample", "--out"])
            .arg(&out),
    );
    assert!(
        err.contains("step \"orders\"") && err.contains("does not create it"),
        "{err}"
    );
    let listing = stdout_of(userlake().args(["runs", "--out"]).arg(&out));
    assert!(listing.contains("incomplete"), "{listing}");
    // a kept table's inputs must be tables of the lake
    std::fs::write(
        dir.path().join("kept.sql"),
        "CREATE VIEW v AS SELECT 1 AS x;",
    )
    .unwrap();
    let kept = dir.path().join("kept.toml");
    std::fs::write(
        &kept,
        "[job]\nname = \"kept\"\n[[step]]\nname = \"kept\"\nsql = \"kept.sql\"\n\
         state = { table = \"s\", from = \"v\", inputs = [\"nosuch\"] }\n",
    )
    .unwrap();
    let run_kept = || {
        error_of(
            userlake()
                .arg("run")
                .arg(&kept)
                .args(["--lake", "data/sample", "--out"])
                .arg(dir.path().join("kept_out")),
        )
    };
    let err = run_kept();
    assert!(
        err.contains("step \"kept\"") && err.contains("input nosuch is not a table of the lake"),
        "{err}"
    );
    // rows kept by person must have the person column the step names
    let sql = |name: &str| format!("{}/sql/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::write(
        dir.path().join("no_person.sql"),
        "CREATE VIEW v AS SELECT event_id FROM events;",
    )
    .unwrap();
    std::fs::write(
        &kept,
        format!(
            "[job]\nname = \"kept\"\n\
             [[step]]\nname = \"identifier_sets\"\nsql = \"{}\"\n\
             state = {{ table = \"identifier_sets\", from = \"identifier_sets_part\", inputs = [\"events\", \"orders\"] }}\n\
             [[step]]\nname = \"identity\"\nbuiltin = \"stitch\"\nsql = \"{}\"\n\
             [[step]]\nname = \"kept\"\nsql = \"no_person.sql\"\n\
             state = {{ table = \"s\", from = \"v\", inputs = [\"events\"], person_column = \"person_id\" }}\n",
            sql("identifier_sets.sql"),
            sql("identity_edges.sql"),
        ),
    )
    .unwrap();
    let err = run_kept();
    assert!(
        err.contains("step \"kept\"") && err.contains("table s, column person_id: missing"),
        "{err}"
    );
}

#[test]
fn runs_commit_readers_see_the_latest_and_old_runs_are_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = tiny_job(dir.path(), "");
    let run = |date: &str, vars: &[&str]| {
        let mut command = userlake();
        command
            .arg("run")
            .arg(&job)
            .args(["--lake", "data/sample", "--date", date, "--out"])
            .arg(&out);
        for var in vars {
            command.args(["--var", var]);
        }
        stdout_of(&mut command);
    };
    let read = |sql: &str| {
        stdout_of(
            userlake()
                .args(["sql", "--format", "csv", "-c", sql, "--lake"])
                .arg(&out),
        )
    };
    run("2026-03-01", &[]);
    let first = read("SELECT sum(orders) AS n FROM orders_by_day");
    // the same date again: a new committed run with the same outputs
    run("2026-03-01", &[]);
    assert_eq!(read("SELECT sum(orders) AS n FROM orders_by_day"), first);
    // another channel on a later date: readers see the new run
    run("2026-03-02", &["channel=wechat"]);
    let wechat = read("SELECT sum(orders) AS n FROM orders_by_day");
    assert_ne!(wechat, first);
    // keep_runs = 2: a third run of the first date removes its oldest
    run("2026-03-01", &[]);
    let listing = stdout_of(userlake().args(["runs", "--out"]).arg(&out));
    let committed = |date: &str| {
        listing
            .lines()
            .filter(|l| l.starts_with(date) && l.contains("committed"))
            .count()
    };
    assert_eq!(
        (committed("2026-03-01"), committed("2026-03-02")),
        (2, 1),
        "{listing}"
    );
    // the latest date's run is what readers see, not the latest backfill
    assert_eq!(read("SELECT sum(orders) AS n FROM orders_by_day"), wechat);
    // the helper view was private to its step
    let manifest_dirs: Vec<_> = std::fs::read_dir(out.join("runs/2026-03-02"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let manifest = std::fs::read_to_string(manifest_dirs[0].join("_manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(manifest["variables"]["channel"], "wechat");
    assert_eq!(manifest["outputs"][0]["table"], "orders_by_day");
    assert!(
        manifest["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["table"] == "orders")
    );
    assert!(!read("SHOW TABLES").contains("helper"));
}

/// A run killed at several points (after the first steps, in the middle, and just as the last
/// step's record is written, when the commit is under way) is resumed by the next invocation
/// for its date, or, when the kill came after the commit, copied: either way the outputs equal
/// an uninterrupted run's, a reader never sees a half-written run, and no work tables are left.
#[test]
fn a_killed_run_resumes_and_commits_the_same_outputs() {
    let (_dir, uninterrupted, _) = run_nightly_on_sample(&[]);
    for kill_after in ["event_persons", "funnel", "report"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let start = || {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_userlake"));
            command
                .current_dir(repo())
                .env_remove("USERLAKE_LAKE")
                .args([
                    "run",
                    "jobs/nightly.toml",
                    "--lake",
                    "data/sample",
                    "--date",
                    "2026-03-01",
                ])
                .arg("--out")
                .arg(&out)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            command
        };
        let mut child = start().spawn().unwrap();
        let started = std::time::Instant::now();
        let step_file = |step: &str| -> Option<PathBuf> {
            let date = out.join("runs/2026-03-01");
            let run = std::fs::read_dir(&date).ok()?.next()?.ok()?.path();
            let file = run.join("_steps").join(format!("{step}.json"));
            file.is_file().then_some(file)
        };
        while step_file(kill_after).is_none() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the job ended before it was killed after {kill_after}"
            );
            assert!(
                started.elapsed().as_secs() < 120,
                "step {kill_after} never finished"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let listing = stdout_of(userlake().args(["runs", "--out"]).arg(&out));
        let committed_before = listing.contains("committed");
        // a reader sees a published table only once its run committed
        let tables = stdout_of(
            userlake()
                .args(["sql", "--format", "csv", "-c", "SHOW TABLES", "--lake"])
                .arg(&out),
        );
        assert_eq!(tables.contains("kpi_daily"), committed_before, "{tables}");
        if kill_after != "report" {
            assert!(listing.contains("incomplete"), "{kill_after}: {listing}");
        }

        let resumed = start().output().unwrap();
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        assert!(resumed.status.success(), "{stderr}");
        if committed_before {
            assert!(stderr.contains("copying its tables"), "{stderr}");
        } else {
            assert!(stderr.contains("resuming run"), "{stderr}");
            assert!(stderr.contains("step identity: reused"), "{stderr}");
            if kill_after == "event_persons" {
                // a kept table's step runs again: its part is written, its numbers current
                assert!(
                    stderr.contains(
                        "state event_persons: 1 parts; 0 new input partitions read, 0 rows \
                         added; 0 parts invalidated; person numbers current"
                    ),
                    "{stderr}"
                );
            } else {
                assert!(
                    stderr.contains(&format!("step {kill_after}: reused")),
                    "{stderr}"
                );
            }
        }
        let resumed_run = latest_run_of(&out, "2026-03-01");
        for file in [
            "kpi_daily.csv",
            "funnel_report.csv",
            "retention_cohort.csv",
            "layer_summary.csv",
            "fission_report.csv",
            "experiment_report.csv",
        ] {
            let resumed = std::fs::read_to_string(resumed_run.join(file)).unwrap();
            let expected = std::fs::read_to_string(uninterrupted.join(file)).unwrap();
            assert!(
                crate::common::same_csv(&resumed, &expected),
                "{kill_after}: {file}"
            );
        }
        for run in std::fs::read_dir(out.join("runs/2026-03-01")).unwrap() {
            let run = run.unwrap().path();
            assert!(run.join("_manifest.json").is_file(), "{run:?} left behind");
            assert!(!run.join("_work").exists(), "{run:?} kept its work tables");
        }
    }
}

/// The sample lake as it stood on `last_day`: partitions after it left out.
pub(crate) fn sample_up_to(dir: &std::path::Path, last_day: &str) -> PathBuf {
    let lake = dir.join(format!("lake-{last_day}"));
    for table in std::fs::read_dir(sample_lake()).unwrap() {
        let table = table.unwrap();
        for entry in std::fs::read_dir(table.path()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().to_string();
            let keep = match name.strip_prefix("dt=") {
                Some(day) => day <= last_day,
                None => true,
            };
            if keep {
                let target = lake.join(table.file_name()).join(&name);
                if entry.file_type().unwrap().is_dir() {
                    copy_dir(&entry.path(), &target);
                } else {
                    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                    std::fs::copy(entry.path(), &target).unwrap();
                }
            }
        }
    }
    lake
}

/// Three nights of a growing lake: each night's identity step reads the last committed run's
/// graph, so a person keeps their unified id and person_id from night to night, new people get
/// new numbers, and no number is given to two unified ids.
#[test]
fn ids_are_stable_over_three_appended_nights() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for script in ["identifier_sets.sql", "identity_edges.sql"] {
        std::fs::copy(repo().join("sql").join(script), dir.path().join(script)).unwrap();
    }
    let job = dir.path().join("identity.toml");
    std::fs::write(
        &job,
        "[job]\nname = \"identity\"\n\
         [[step]]\nname = \"identifier_sets\"\nsql = \"identifier_sets.sql\"\n\
         state = { table = \"identifier_sets\", from = \"identifier_sets_part\", \
         inputs = [\"events\", \"orders\"] }\n\
         [[step]]\nname = \"identity\"\nbuiltin = \"stitch\"\n\
         sql = \"identity_edges.sql\"\n",
    )
    .unwrap();
    let mut nights: Vec<std::collections::BTreeMap<String, (String, i64)>> = Vec::new();
    for day in ["2026-02-27", "2026-02-28", "2026-03-01"] {
        let lake = sample_up_to(dir.path(), day);
        stdout_of(
            userlake()
                .arg("run")
                .arg(&job)
                .args(["--date", day, "--lake"])
                .arg(&lake)
                .arg("--out")
                .arg(&out),
        );
        let graph = stdout_of(
            userlake()
                .args([
                    "sql",
                    "--format",
                    "csv",
                    "-c",
                    "SELECT id_type || ':' || id_value, unified_id, person_id FROM id_graph",
                    "--lake",
                ])
                .arg(&out),
        );
        let night: std::collections::BTreeMap<String, (String, i64)> = graph
            .lines()
            .skip(1)
            .map(|line| {
                let mut fields = line.rsplitn(3, ',');
                let person: i64 = fields.next().unwrap().parse().unwrap();
                let unified = fields.next().unwrap().to_string();
                (fields.next().unwrap().to_string(), (unified, person))
            })
            .collect();
        // one number per unified id, and one unified id per number
        let pairs: std::collections::BTreeSet<&(String, i64)> = night.values().collect();
        let ids: std::collections::BTreeSet<&String> = pairs.iter().map(|p| &p.0).collect();
        let numbers: std::collections::BTreeSet<i64> = pairs.iter().map(|p| p.1).collect();
        assert_eq!((ids.len(), numbers.len()), (pairs.len(), pairs.len()));
        nights.push(night);
    }
    for pair in nights.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        assert!(after.len() > before.len(), "the lake grew");
        let before_numbers: std::collections::BTreeMap<&String, i64> =
            before.values().map(|(u, p)| (u, *p)).collect();
        let high_water = before_numbers.values().max().copied().unwrap();
        let mut kept = 0;
        for (identifier, (unified, person)) in after {
            match before_numbers.get(unified) {
                // a unified id that carried forward keeps its number
                Some(&number) => {
                    assert_eq!(*person, number, "{identifier} {unified}");
                    kept += 1;
                }
                // a new unified id gets a number no earlier night gave out
                None => assert!(*person > high_water, "{identifier} {unified} {person}"),
            }
        }
        let same_person = before
            .iter()
            .filter(|(identifier, (unified, _))| {
                after.get(*identifier).is_some_and(|(u, _)| u == unified)
            })
            .count();
        assert!(
            same_person * 100 >= before.len() * 95,
            "{same_person} of {}",
            before.len()
        );
        assert!(kept > 0);
    }
    let listing = stdout_of(userlake().args(["runs", "--out"]).arg(&out));
    assert_eq!(listing.matches("committed").count(), 3, "{listing}");
}

/// The committed run of `date` written last (run ids sort by start time).
fn latest_run_of(out: &std::path::Path, date: &str) -> PathBuf {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out.join("runs").join(date))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("_manifest.json").is_file())
        .collect();
    runs.sort();
    runs.pop().unwrap()
}

/// `userlake run JOB --date DATE --lake LAKE --out OUT EXTRA...`, which must succeed; its log.
fn run_job(
    job: &std::path::Path,
    lake: &std::path::Path,
    out: &std::path::Path,
    date: &str,
    extra: &[&str],
) -> String {
    stderr_of(
        userlake()
            .arg("run")
            .arg(job)
            .args(["--date", date, "--lake"])
            .arg(lake)
            .arg("--out")
            .arg(out)
            .args(extra),
    )
}

/// The CSV tables of a run, by file name.
pub(crate) fn csv_tables(run: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".csv"))
        .map(|name| {
            (
                name.clone(),
                std::fs::read_to_string(run.join(&name)).unwrap(),
            )
        })
        .collect()
}

/// Night after night on a lake that `gen --from-day` grows: each run commits; running the last
/// date again copies the committed outputs byte for byte without running a step; a full refresh
/// of it runs every step and agrees with the nightly run (exactly, but for the last digit of
/// a few float sums).
#[test]
fn nightly_runs_on_a_growing_lake_rerun_and_full_refresh_agree() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = dir.path().join("out");
    let grow = |args: &[&str]| generate(&lake, args);
    let job = PathBuf::from("jobs/nightly.toml");
    let run = |date: &str, extra: &[&str]| run_job(&job, &lake, &out, date, extra);
    grow(&["--users", "400", "--days", "28", "--seed", "9"]);
    run("2026-01-28", &[]);
    grow(&["--days", "29", "--from-day", "29"]);
    let second_log = run("2026-01-29", &[]);
    // the watermark: what the lake gained since the run this one starts from
    assert!(
        second_log.contains("events +1 ~0 -0 files (dt=2026-01-29)"),
        "{second_log}"
    );
    let second: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(latest_run_of(&out, "2026-01-29").join("_manifest.json")).unwrap(),
    )
    .unwrap();
    let changes = second["input_changes"].as_array().unwrap();
    let events = changes.iter().find(|c| c["table"] == "events").unwrap();
    assert_eq!(events["partitions"], serde_json::json!(["2026-01-29"]));
    let costs = changes.iter().find(|c| c["table"] == "costs").unwrap();
    assert_eq!(
        (costs["added"].as_u64(), costs["changed"].as_u64()),
        (Some(1), Some(0))
    );
    grow(&["--days", "30", "--from-day", "30"]);
    let nightly_log = run("2026-01-30", &[]);
    assert!(!nightly_log.contains("reused"), "{nightly_log}");
    // the identifier sets were read a night at a time: three parts, the last of day 30's
    // partitions only
    assert!(
        nightly_log.contains("state identifier_sets: 3 parts;"),
        "{nightly_log}"
    );
    assert!(
        !nightly_log.contains("118 new input partitions"),
        "{nightly_log}"
    );
    // events and orders were keyed a night at a time, and the kept rows followed the merges
    for table in ["event_persons", "order_persons"] {
        assert!(
            nightly_log.contains(&format!(
                "state {table}: 3 parts; 1 new input partitions read"
            )) && nightly_log.contains("person numbers follow"),
            "{nightly_log}"
        );
    }
    assert!(!nightly_log.contains("keyed again"), "{nightly_log}");
    let nightly = latest_run_of(&out, "2026-01-30");

    let first = csv_tables(&nightly);
    assert_eq!(first.len(), 25, "CSV tables: {:?}", first.keys());

    let rerun_log = run("2026-01-30", &[]);
    assert!(rerun_log.contains("18 steps (18 reused)"), "{rerun_log}");
    let rerun = latest_run_of(&out, "2026-01-30");
    assert_ne!(rerun, nightly);
    assert_eq!(csv_tables(&rerun), first, "a rerun copies the outputs");
    assert!(
        rerun.join("report.html").is_file(),
        "a rerun copies the report"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rerun.join("_manifest.json")).unwrap())
            .unwrap();
    assert!(
        manifest["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["reused_from"].as_str().is_some()),
        "{manifest}"
    );

    let refresh_log = run("2026-01-30", &["--full-refresh"]);
    assert!(!refresh_log.contains("reused"), "{refresh_log}");
    let refreshed = csv_tables(&latest_run_of(&out, "2026-01-30"));
    for (name, text) in &first {
        assert!(
            crate::common::same_csv(text, &refreshed[name]),
            "{name} refreshed"
        );
    }
    // exactly where the figures are integers or exact decimal sums
    assert_eq!(first["kpi_daily.csv"], refreshed["kpi_daily.csv"]);
    assert!(
        refresh_log.contains("state identifier_sets: 1 parts;"),
        "{refresh_log}"
    );

    // an old partition rewritten: the part covering it is dropped and its partitions read again
    let old_partition = lake.join("events/dt=2026-01-03/part-0.parquet");
    let bytes = std::fs::read(&old_partition).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&old_partition, bytes).unwrap();
    let rewritten_log = run("2026-01-30", &[]);
    assert!(
        rewritten_log.contains("1 parts invalidated") && !rewritten_log.contains("reused"),
        "{rewritten_log}"
    );
    let rewritten = csv_tables(&latest_run_of(&out, "2026-01-30"));
    for (name, text) in &first {
        assert!(
            crate::common::same_csv(text, &rewritten[name]),
            "{name} after the rewrite"
        );
    }
    // the reader sees the latest committed run of the latest date
    let listing = stdout_of(userlake().args(["runs", "--out"]).arg(&out));
    // keep_runs = 2 of the last date
    assert_eq!(listing.matches("committed").count(), 4, "{listing}");

    // a night on which a device becomes a hub (recorded links to more cookies than the
    // device_id threshold): its identifier leaves its person, so the kept events and orders
    // are keyed again, and the outputs equal a full refresh's
    let device = stdout_of(userlake().args(["sql", "--format", "csv", "--lake"]).arg(&out).args([
        "-c",
        "SELECT id_value FROM id_graph WHERE id_type = 'device_id' ORDER BY component_size DESC, id_value LIMIT 1",
    ]));
    let device = device.lines().nth(1).unwrap().to_string();
    let hub_edges = lake.join("identity_edges/dt=2026-01-31/part-0.parquet");
    std::fs::create_dir_all(hub_edges.parent().unwrap()).unwrap();
    let copy = format!(
        "COPY (SELECT arrow_cast('device_id', 'Utf8') AS a_type, \
         arrow_cast('{device}', 'Utf8') AS a_value, arrow_cast('cookie_id', 'Utf8') AS b_type, \
         arrow_cast('hub-cookie-' || CAST(n AS VARCHAR), 'Utf8') AS b_value, e.seen_at, \
         arrow_cast(e.source, 'Utf8') AS source \
         FROM (SELECT seen_at, source FROM identity_edges ORDER BY seen_at DESC LIMIT 1) e \
         CROSS JOIN (SELECT unnest(range(12)) AS n)) TO '{}' STORED AS PARQUET",
        hub_edges.display()
    );
    userlake()
        .args(["sql", "--lake"])
        .arg(&lake)
        .args(["-c", &copy])
        .assert()
        .success();
    let hub_log = run("2026-01-31", &[]);
    assert!(
        hub_log.contains("state event_persons: 1 parts; 30 new input partitions read")
            && hub_log.contains("every row keyed again")
            && hub_log.contains("moved_identifiers"),
        "{hub_log}"
    );
    let after_hub = csv_tables(&latest_run_of(&out, "2026-01-31"));
    run("2026-01-31", &["--full-refresh"]);
    let hub_refreshed = csv_tables(&latest_run_of(&out, "2026-01-31"));
    for (name, text) in &after_hub {
        assert!(
            crate::common::same_csv(text, &hub_refreshed[name]),
            "{name} after the hub"
        );
    }
    assert_eq!(after_hub["kpi_daily.csv"], hub_refreshed["kpi_daily.csv"]);
    // the kept table is not a table of the output lake
    let tables = stdout_of(
        userlake()
            .args(["sql", "--format", "csv", "-c", "SHOW TABLES", "--lake"])
            .arg(&out),
    );
    assert!(
        !tables.contains("state") && tables.contains("kpi_daily"),
        "{tables}"
    );
}

/// A kept table grows by a part a night; a run that finds `max_state_parts` of them rebuilds it
/// as one part (keying every row again for rows kept by person), and the reports stay equal.
#[test]
fn kept_tables_are_compacted_at_max_state_parts() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = dir.path().join("out");
    // the job file with max_state_parts = 2, beside a copy of the scripts it names
    std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
    copy_dir(std::path::Path::new("sql"), &dir.path().join("sql"));
    let job = std::fs::read_to_string("jobs/nightly.toml")
        .unwrap()
        .replace("max_state_parts = 30", "max_state_parts = 2");
    let job_file = dir.path().join("jobs/nightly.toml");
    std::fs::write(&job_file, job).unwrap();
    let grow = |args: &[&str]| generate(&lake, args);
    let run = |date: &str, extra: &[&str]| run_job(&job_file, &lake, &out, date, extra);
    grow(&["--users", "200", "--days", "10", "--seed", "4"]);
    run("2026-01-10", &[]);
    grow(&["--days", "11", "--from-day", "11"]);
    let second = run("2026-01-11", &[]);
    assert!(
        second.contains("state identifier_sets: 2 parts; 2 new input partitions read"),
        "{second}"
    );
    grow(&["--days", "12", "--from-day", "12"]);
    let third = run("2026-01-12", &[]);
    assert!(
        third.contains(
            "rows added; 2 parts invalidated (compacted: the table had reached its most parts)"
        ) && third.contains("state identifier_sets: 1 parts; 23 new input partitions read"),
        "{third}"
    );
    assert!(
        third.contains("every row keyed again: 2 parts compacted into one"),
        "{third}"
    );
    let compacted = csv_tables(&latest_run_of(&out, "2026-01-12"));
    run("2026-01-12", &["--full-refresh"]);
    let refreshed = csv_tables(&latest_run_of(&out, "2026-01-12"));
    for (name, text) in &compacted {
        assert!(crate::common::same_csv(text, &refreshed[name]), "{name}");
    }
}

/// `--memory-limit` holds for the whole job: under a limit too small for a step, the job
/// fails naming the step and the limit, and commits nothing; under a small one that fits, its
/// steps spill and the run commits.
#[test]
fn the_nightly_job_under_a_memory_limit_spills_or_names_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = |limit: &str| {
        userlake()
            .args(["run", "jobs/nightly.toml", "--lake", "data/sample"])
            .args(["--date", "2026-03-01", "--memory-limit", limit, "--out"])
            .arg(&out)
            .output()
            .unwrap()
    };
    // far below what the first step needs (4M is borderline since it groups the sets once)
    let failed = run("1M");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        stderr.contains("ran out of memory under --memory-limit 1.0 MiB")
            && stderr.contains("error: step \""),
        "{stderr}"
    );
    let listing = stdout_of(userlake().args(["runs", "--out"]).arg(&out));
    assert!(!listing.contains("committed"), "{listing}");
    let fits = run("48M");
    assert!(
        fits.status.success(),
        "{}",
        String::from_utf8_lossy(&fits.stderr)
    );
}
