//! `userlake stitch` on the sample lake: the four outputs, carried-forward ids, explanations,
//! bad input, and the quality of the stitching against the generator's answer key.

use crate::common::{error_of, stdout_of, userlake};

fn csv(lake: &std::path::Path, sql: &str) -> String {
    stdout_of(
        userlake()
            .args(["sql", "--lake"])
            .arg(lake)
            .args(["-c", sql, "--format", "csv"]),
    )
}

#[test]
fn a_stitch_run_writes_four_tables_and_a_rerun_keeps_every_id() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("run1"), dir.path().join("run2"));
    stdout_of(
        userlake()
            .args(["stitch", "--lake", "data/sample", "--out"])
            .arg(&first),
    );
    for table in ["id_graph", "rejected_edges", "merge_log", "run_stats"] {
        assert!(
            first.join(table).join("part-0.parquet").is_file(),
            "{table}"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(&first)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");

    let stats = csv(
        &first,
        "SELECT stat, key, value FROM run_stats WHERE stat IN ('identifiers', 'components', 'hubs') ORDER BY stat",
    );
    assert_eq!(
        stats,
        "stat,key,value\ncomponents,,1024\nhubs,,3\nidentifiers,,4325\n"
    );
    let created = csv(
        &first,
        "SELECT count(*) AS n FROM merge_log WHERE event = 'created'",
    );
    assert_eq!(created, "n\n1024\n");
    let rules = csv(
        &first,
        "SELECT DISTINCT rule FROM rejected_edges ORDER BY rule",
    );
    assert_eq!(rules, "rule\nhub\nplaceholder\n");
    // one anchor per person, every identifier once
    let shape = csv(
        &first,
        "SELECT count(*) AS ids, count(DISTINCT id_type || ':' || id_value) AS distinct_ids, \
         sum(CASE WHEN is_anchor THEN 1 ELSE 0 END) AS anchors, count(DISTINCT unified_id) AS people FROM id_graph",
    );
    assert_eq!(
        shape,
        "ids,distinct_ids,anchors,people\n4325,4325,1024,1024\n"
    );

    stdout_of(
        userlake()
            .args(["stitch", "--lake", "data/sample", "--previous"])
            .arg(&first)
            .arg("--out")
            .arg(&second),
    );
    let log = csv(&second, "SELECT count(*) AS n FROM merge_log");
    assert_eq!(log, "n\n0\n");
    let mut both = userlake();
    both.args(["sql", "--lake"]).arg(dir.path()).args([
        "-c",
        "SELECT count(*) AS changed FROM run1_graph a JOIN run2_graph b USING (id_type, id_value) WHERE a.unified_id <> b.unified_id",
        "--format",
        "csv",
    ]);
    std::fs::rename(first.join("id_graph"), dir.path().join("run1_graph")).unwrap();
    std::fs::rename(second.join("id_graph"), dir.path().join("run2_graph")).unwrap();
    assert_eq!(stdout_of(&mut both), "changed\n0\n");
}

#[test]
fn explain_shows_the_chain_or_the_refusal() {
    let together = stdout_of(userlake().args([
        "stitch",
        "--lake",
        "data/sample",
        "--explain",
        "member_id:M994825602",
        "device_id:5efb9098-ecc3-457d-81b3-f912533c1611",
    ]));
    assert!(
        together.starts_with("together: member_id:M994825602 and device_id:5efb9098"),
        "{together}"
    );
    assert!(together.contains("linked: device_id:5efb9098-ecc3-457d-81b3-f912533c1611 -[event 2026-01-20T13:18:55]- member_id:M994825602"), "{together}");
    let apart = stdout_of(userlake().args([
        "stitch",
        "--lake",
        "data/sample",
        "--explain",
        "phone:+86 130 5813 4224",
        "device_id:B75A2630-9EBB-4F40-BCD7-84355F343A1B",
    ]));
    assert!(apart.contains("refused (hub: device_id:b75a2630-9ebb-4f40-bcd7-84355f343a1b is linked to 28 distinct identifiers"), "{apart}");
}

#[test]
fn bad_stitch_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[limits]\nmember_id = 1\n[hubz]\ndefault = 3\n").unwrap();
    let err = error_of(
        userlake()
            .args(["stitch", "--lake", "data/sample", "--rules"])
            .arg(&rules)
            .arg("--out")
            .arg(dir.path().join("out")),
    );
    assert!(
        err.contains("rules.toml") && err.contains("unknown field `hubz`"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists());

    let err = error_of(
        userlake()
            .args(["stitch", "--lake", "data/sample", "--previous"])
            .arg(dir.path())
            .arg("--out")
            .arg(dir.path().join("out")),
    );
    assert!(err.contains("no id_graph there"), "{err}");

    let err = error_of(userlake().args([
        "stitch",
        "--lake",
        "data/sample",
        "--edges",
        "costs",
        "--out",
        "/tmp/unused",
    ]));
    assert!(
        err.contains("costs (the edges) has no column a_type"),
        "{err}"
    );

    let err = error_of(userlake().args([
        "stitch",
        "--lake",
        "data/sample",
        "--explain",
        "no-colon",
        "phone:1",
    ]));
    assert!(err.contains("expected TYPE:VALUE"), "{err}");
}

#[test]
fn stitching_the_sample_recovers_people() {
    let sql = format!(
        "{}\nCREATE TABLE id_graph AS SELECT * FROM stitch('all_identity_edges');\n{}",
        userlake::stitch_job::whole_lake_edges_script(),
        std::fs::read_to_string(crate::common::repo().join("sql/stitch_quality.sql")).unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quality.sql");
    std::fs::write(&file, sql).unwrap();
    let out = stdout_of(
        userlake()
            .args(["sql", "--lake", "data/sample", "--format", "csv", "-f"])
            .arg(&file),
    );
    let last = out.lines().last().unwrap();
    let fields: Vec<&str> = last.split(',').collect();
    let precision: f64 = fields[2].parse().unwrap();
    let linkable_recall: f64 = fields[4].parse().unwrap();
    assert!(precision >= 0.995, "{out}");
    assert!(linkable_recall >= 0.98, "{out}");
    assert_eq!(fields[5], "0", "people merged into another: {out}");
}
