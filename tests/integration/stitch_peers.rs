//! Differential test: `userlake stitch` with the guard rails off finds exactly the connected
//! components that networkx and DuckDB (min-label propagation) find on the same Parquet edges,
//! through the benchmark driver `benches/stitch/compare.py`, on the sample lake and on a small
//! generated one. Set USERLAKE_SKIP_PEERS=1 to skip on a machine without the Python peers.

use std::process::Command;

fn compare(lake: &std::path::Path) -> String {
    let work = tempfile::tempdir().unwrap();
    let output = Command::new("python3")
        .arg(crate::common::repo().join("benches/stitch/compare.py"))
        .arg("--userlake")
        .arg(assert_cmd::cargo::cargo_bin("userlake"))
        .arg("--lake")
        .arg(lake)
        .arg("--work")
        .arg(work.path().join("run"))
        .args(["--threads", "2"])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "compare.py failed (pip install -r tests/requirements.txt):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn components_agree_with_networkx_and_duckdb() {
    if crate::common::peers_skipped() {
        return;
    }
    let sample = compare(&crate::common::sample_lake());
    let rows: Vec<&str> = sample
        .lines()
        .filter(|l| l.starts_with("| DuckDB") || l.starts_with("| networkx"))
        .collect();
    assert_eq!(rows.len(), 2, "{sample}");
    assert!(rows.iter().all(|r| r.ends_with("| yes |")), "{sample}");

    // a different graph: more people, another seed
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let status = crate::common::userlake()
        .args([
            "gen", "--users", "3000", "--days", "20", "--seed", "7", "--quiet", "--out",
        ])
        .arg(&lake)
        .output()
        .unwrap();
    assert!(status.status.success());
    let generated = compare(&lake);
    assert_eq!(
        generated.lines().filter(|l| l.ends_with("| yes |")).count(),
        2,
        "{generated}"
    );
}
