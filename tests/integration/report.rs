//! The HTML report: the nightly job writes it with the run, `userlake report` renders any
//! committed run, and headless Chromium opens it offline: no console errors, no network
//! requests, every section, every chart holding the series and points of the run's tables,
//! Chinese text drawn as glyphs, and a screenshot of each section under the test's output
//! directory (`$CARGO_TARGET_TMPDIR/report-screenshots/`).
//!
//! The browser checks need Debian's `chromium` and `npm ci --prefix tests/browser` (CI
//! installs both); `USERLAKE_SKIP_BROWSER=1` skips them on a machine without.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{
    copy_dir, error_of, peer_reference, peers_skipped, repo, sample_lake, skipped, stdout_of,
    succeeded, userlake,
};

/// The sections in the order the page shows them.
const SECTIONS: [&str; 11] = [
    "kpis",
    "funnel",
    "retention",
    "layers",
    "audiences",
    "behaviour",
    "ltv",
    "fission",
    "attribution",
    "experiments",
    "identity",
];

fn browser_skipped() -> bool {
    skipped("USERLAKE_SKIP_BROWSER", "the report's browser checks")
}

/// Runs the nightly job on `lake` into `out` for 2026-03-01; the committed run's directory.
fn run_nightly(lake: &Path, out: &Path) -> PathBuf {
    userlake()
        .args(["run", "jobs/nightly.toml", "--date", "2026-03-01", "--lake"])
        .arg(lake)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    let date = out.join("runs/2026-03-01");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&date)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("_manifest.json").is_file())
        .collect();
    runs.sort();
    runs.pop().expect("a committed run")
}

/// Opens `report` in headless Chromium (tests/browser/check_report.mjs); what it saw.
fn open_in_browser(report: &Path, screenshots: &Path) -> Value {
    let script = repo().join("tests/browser/check_report.mjs");
    assert!(
        repo()
            .join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "the browser test needs its npm package: npm ci --prefix tests/browser \
         (or USERLAKE_SKIP_BROWSER=1 to skip)"
    );
    let output = succeeded(
        std::process::Command::new("node")
            .arg(&script)
            .arg(report)
            .arg(screenshots)
            .output(),
        "node tests/browser/check_report.mjs (needs node and Debian's chromium)",
    );
    serde_json::from_slice(&output.stdout).expect("the browser check prints JSON")
}

/// A clean page: no errors, no requests, every chart drawn with the data it declares.
fn assert_clean_page(seen: &Value) {
    assert_eq!(
        seen["consoleErrors"],
        serde_json::json!([]),
        "console errors"
    );
    assert_eq!(seen["pageErrors"], serde_json::json!([]), "page errors");
    assert_eq!(seen["requests"], serde_json::json!([]), "network requests");
    assert_eq!(seen["ready"], Value::Bool(true));
    assert_eq!(seen["failures"], serde_json::json!([]), "charts not drawn");
    assert_eq!(
        seen["moved"],
        serde_json::json!([]),
        "sections still moving once drawn"
    );
    let sections: Vec<&str> = seen["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(sections, SECTIONS);
    for chart in seen["charts"].as_array().unwrap() {
        assert_eq!(chart["series"], chart["declaredSeries"], "{chart}");
        assert_eq!(chart["points"], chart["declaredPoints"], "{chart}");
        assert!(
            chart["points"].as_u64().unwrap() > 0,
            "an empty chart: {chart}"
        );
        assert_eq!(chart["svg"], Value::Bool(true), "{chart}");
        assert!(
            chart["shapes"].as_u64().unwrap() > 10,
            "nothing drawn: {chart}"
        );
        assert!(chart["height"].as_u64().unwrap() >= 200, "{chart}");
    }
    for section in seen["sections"].as_array().unwrap() {
        let shot = PathBuf::from(section["screenshot"].as_str().unwrap());
        let png = std::fs::read(&shot).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{shot:?}");
    }
    // on a phone's width nothing is wider than the screen (tables scroll in their box)
    assert!(
        seen["phone"]["scrollWidth"].as_u64().unwrap() <= 391,
        "{}",
        seen["phone"]
    );
}

/// The charts of `section` (titles and what they hold), in page order.
fn charts_of<'a>(seen: &'a Value, section: &str) -> Vec<&'a Value> {
    seen["charts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["section"] == section)
        .collect()
}

fn chart<'a>(seen: &'a Value, title: &str) -> &'a Value {
    seen["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"] == title)
        .unwrap_or_else(|| panic!("no chart {title:?}"))
}

fn section_text<'a>(seen: &'a Value, id: &str) -> &'a str {
    seen["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .and_then(|s| s["text"].as_str())
        .unwrap()
}

/// A CSV file of the run as rows of named cells.
fn csv_rows(run: &Path, file: &str) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(run.join(file)).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .map(|line| {
            header
                .iter()
                .cloned()
                .zip(line.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

fn screenshots(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("report-screenshots")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The nightly job's report of the sample lake, opened as a reader would.
#[test]
fn the_nightly_report_opens_offline_with_every_section_and_chart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = run_nightly(&sample_lake(), &out);
    let report = run.join("report.html");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("_manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["documents"][0]["path"], "report.html",
        "the report is a committed output: {}",
        manifest["documents"]
    );
    check_arm_intervals(&run);
    check_audience_overlap(&out, &run);
    let html = std::fs::read_to_string(&report).unwrap();
    // self-contained: no address to fetch anything from
    for reference in ["src=\"http", "href=\"http", "<link"] {
        assert!(
            !html.contains(reference),
            "the report references {reference}"
        );
    }
    if browser_skipped() {
        return;
    }
    let seen = open_in_browser(&report, &screenshots("sample"));
    assert_clean_page(&seen);
    for section in seen["sections"].as_array().unwrap() {
        assert_eq!(section["empty"], Value::Bool(false), "{}", section["id"]);
        assert_eq!(
            section["noData"],
            serde_json::json!([]),
            "{}",
            section["id"]
        );
    }

    // the charts hold the run's tables: days, steps, cells and channels as the CSVs have them
    let kpis = csv_rows(&run, "kpi_daily.csv");
    let days = kpis.iter().filter(|r| r["channel"] == "all").count() as u64;
    let active = chart(&seen, "Active people by day");
    assert_eq!(
        (active["series"].as_u64(), active["points"].as_u64()),
        (Some(2), Some(2 * days))
    );
    let channels = kpis
        .iter()
        .map(|r| r["channel"].as_str())
        .filter(|c| *c != "all")
        .collect::<BTreeSet<_>>()
        .len() as u64;
    let by_channel = chart(&seen, "DAU by acquisition channel");
    assert_eq!(by_channel["series"].as_u64(), Some(channels));
    assert_eq!(
        by_channel["points"].as_u64(),
        Some(kpis.iter().filter(|r| r["channel"] != "all").count() as u64)
    );

    let steps = csv_rows(&run, "funnel_report.csv")
        .iter()
        .filter(|r| r["channel"] == "all")
        .count() as u64;
    let funnel = chart(&seen, "People per step, all channels");
    // people and overall conversion at every step; step conversion from step 2 on
    assert_eq!(funnel["points"].as_u64(), Some(3 * steps - 1));
    let histogram = chart(&seen, "Time from the previous step");
    assert_eq!(
        (histogram["series"].as_u64(), histogram["points"].as_u64()),
        (Some(steps - 1), Some((steps - 1) * 7))
    );

    // observed cells only: an unobservable one is blank, not 0
    let cohorts = csv_rows(&run, "retention_cohort.csv");
    let observed = cohorts
        .iter()
        .flat_map(|r| {
            r.iter()
                .filter(|(k, v)| k.starts_with("day_") && !v.is_empty())
        })
        .count() as u64;
    let unobserved = cohorts.len() as u64 * 5 - observed;
    assert!(unobserved > 0, "the sample has cells it cannot observe yet");
    let heatmap = chart(&seen, "Retention by join week");
    assert_eq!(heatmap["points"].as_u64(), Some(observed));
    for (title, file, share) in [
        (
            "Active again in week N, by first-active week",
            "retention_weekly.csv",
            "retained",
        ),
        (
            "Net revenue retention, by first-order week",
            "value_retention.csv",
            "net_revenue_retention",
        ),
    ] {
        let rows = csv_rows(&run, file);
        let observed = rows.iter().filter(|r| !r[share].is_empty()).count() as u64;
        assert!(observed > 0 && observed < rows.len() as u64, "{file}");
        assert_eq!(
            chart(&seen, title)["points"].as_u64(),
            Some(observed),
            "{title}"
        );
    }

    let attribution = csv_rows(&run, "attribution_report.csv");
    let touched: BTreeSet<&str> = attribution
        .iter()
        .map(|r| r["channel"].as_str())
        .filter(|c| *c != "(no touch)")
        .collect();
    let models = chart(&seen, "Revenue per channel under each model");
    assert_eq!(
        (models["series"].as_u64(), models["points"].as_u64()),
        (Some(5), Some(5 * touched.len() as u64))
    );

    let arms = csv_rows(&run, "experiment_report.csv").len() as u64;
    for experiment_chart in charts_of(&seen, "experiments") {
        // an estimate and an interval per arm
        assert_eq!(
            experiment_chart["points"].as_u64(),
            Some(2 * arms),
            "{experiment_chart}"
        );
    }
    assert_eq!(charts_of(&seen, "layers").len(), 3);
    let overlap = csv_rows(&run, "audience_overlap.csv");
    assert_eq!(
        chart(&seen, "Layers against recent behaviour")["points"].as_u64(),
        Some(overlap.iter().filter(|r| !r["share"].is_empty()).count() as u64)
    );
    assert!(overlap.len() >= 4 * 8, "{overlap:?}");
    check_behaviour_charts(&seen, &run);
    check_ltv_matrices(&seen, &run);
    check_ltv_validation(&seen, &run);
    assert_eq!(charts_of(&seen, "fission").len(), 3);
    assert_eq!(
        chart(&seen, "People by component size")["points"].as_u64(),
        Some(8)
    );

    // numbers as people read them: separators, percentages, and the 8 classes in Chinese
    assert!(
        section_text(&seen, "identity").contains("4,325"),
        "identifiers with a separator"
    );
    assert!(section_text(&seen, "kpis").contains('%'));
    let layers = section_text(&seen, "layers");
    assert!(
        layers.contains("重要价值客户") && layers.contains("important value"),
        "{layers}"
    );
    let chinese = &seen["chinese"];
    assert!(chinese["characters"].as_u64().unwrap() >= 4, "{chinese}");
    assert_eq!(
        chinese["distinctGlyphs"], chinese["characters"],
        "Chinese characters drew as the same box (no CJK font?): {chinese}"
    );
}

/// The behaviour section draws both flows, both lifecycles (four series a week, every week of
/// the table) and the week's and month's stickiness, and lists what goes with converting.
fn check_behaviour_charts(seen: &Value, run: &Path) {
    let flows = csv_rows(run, "user_paths.csv");
    for flow in ["from session start", "before pay_order"] {
        let edges = flows.iter().filter(|r| r["flow"] == flow).count();
        assert!(edges >= 10, "{flow}: {edges} edges");
        let sankey = chart(seen, &format!("Flow: {flow}"));
        // the 6 busiest edges of each of the 5 depths, or all of a depth with fewer
        let depths: BTreeSet<&str> = flows
            .iter()
            .filter(|r| r["flow"] == flow)
            .map(|r| r["depth"].as_str())
            .collect();
        let shown: usize = depths
            .iter()
            .map(|d| {
                flows
                    .iter()
                    .filter(|r| r["flow"] == flow && r["depth"] == *d)
                    .count()
                    .min(6)
            })
            .sum();
        assert_eq!(depths.len(), 5, "{flow}");
        assert_eq!(sankey["points"].as_u64(), Some(shown as u64), "{sankey}");
    }
    let lifecycle = csv_rows(run, "activity_lifecycle.csv");
    for (population, title) in [
        ("active", "Lifecycle of active people by week"),
        ("paying", "Lifecycle of payers by week"),
    ] {
        let weeks = lifecycle
            .iter()
            .filter(|r| r["population"] == population)
            .count() as u64;
        assert!(weeks >= 8, "{population}");
        let drawn = chart(seen, title);
        assert_eq!(
            (drawn["series"].as_u64(), drawn["points"].as_u64()),
            (Some(4), Some(4 * weeks)),
            "{title}"
        );
    }
    let sticky: Vec<&Value> = charts_of(seen, "behaviour")
        .into_iter()
        .filter(|c| {
            c["title"]
                .as_str()
                .unwrap()
                .starts_with("Days active in the")
        })
        .collect();
    assert_eq!(sticky.len(), 2, "a week's and a month's stickiness");
    assert_eq!(sticky[0]["points"].as_u64(), Some(7));
    assert!(sticky[1]["points"].as_u64().unwrap() >= 28);
    let text = section_text(seen, "behaviour");
    assert!(
        text.contains("What goes with converting in the funnel"),
        "{text}"
    );
    let correlation = csv_rows(run, "funnel_correlation.csv");
    assert!(
        correlation.iter().any(|r| r["kind"] == "event")
            && correlation.iter().any(|r| r["kind"] == "property")
    );
}

/// ltv_matrix covers the whole grid for BG/NBD and for Pareto/NBD (frequency 0 to the largest,
/// every whole week of recency up to the age), BG/NBD's P(alive) is 1 without repeat purchases
/// while Pareto/NBD's falls with age, the two fits converged, and every heatmap draws every cell.
fn check_ltv_matrices(seen: &Value, run: &Path) {
    let matrix = csv_rows(run, "ltv_matrix.csv");
    let number = |row: &BTreeMap<String, String>, column: &str| -> f64 {
        row[column]
            .parse()
            .unwrap_or_else(|_| panic!("{column} in {row:?}"))
    };
    let frequencies = matrix
        .iter()
        .map(|r| number(r, "frequency"))
        .fold(0.0, f64::max);
    let age = number(&matrix[0], "t");
    assert!(frequencies >= 3.0, "{frequencies}");
    let cells = (frequencies + 1.0) * (age.floor() + 1.0);
    for (model, name) in [("bgnbd", "BG/NBD"), ("pareto_nbd", "Pareto/NBD")] {
        let grid: Vec<_> = matrix.iter().filter(|r| r["model"] == model).collect();
        assert_eq!(grid.len() as f64, cells, "the whole grid for {model}");
        for row in grid.iter().filter(|r| r["frequency"] == "0") {
            let p_alive = number(row, "p_alive");
            if model == "bgnbd" {
                assert_eq!(p_alive, 1.0, "{row:?}");
            } else {
                assert!(p_alive > 0.0 && p_alive < 1.0, "{row:?}");
            }
        }
        for title in [
            format!("{name}: P(alive) by frequency and recency"),
            format!("{name}: expected purchases in the next 4 weeks by frequency and recency"),
        ] {
            assert_eq!(
                chart(seen, &title)["points"].as_u64(),
                Some(grid.len() as u64),
                "{title}"
            );
        }
    }
    assert_eq!(matrix.len() as f64, 2.0 * cells, "two models, nothing else");
    // the sample lake's dropout shows no spread across customers: Pareto/NBD's s and beta run
    // off together and its fit reports that it did not converge, and the captions say so
    let model = csv_rows(run, "ltv_model.csv");
    let value = |fit: &str, parameter: &str| -> f64 {
        let row = model
            .iter()
            .find(|r| r["model"] == fit && r["parameter"] == parameter)
            .unwrap_or_else(|| panic!("{fit} {parameter} in ltv_model"));
        number(row, "value")
    };
    assert_eq!(value("bgnbd", "converged"), 1.0);
    assert_eq!(value("gamma_gamma", "converged"), 1.0);
    assert_eq!(
        value("pareto_nbd", "customers"),
        value("bgnbd", "customers")
    );
    let text = section_text(seen, "ltv");
    assert_eq!(
        text.contains("The Pareto/NBD fit did not converge"),
        value("pareto_nbd", "converged") == 0.0,
        "{text}"
    );
    assert!(!text.contains("The BG/NBD fit did not converge"));
}

/// ltv_validation has every model at every calibration frequency with the same customers and
/// actual purchases, its buckets add up to ltv_validation_summary's customers, BG/NBD fitted on
/// the calibration part converged, and the chart draws the actual and every model's prediction
/// at every frequency.
fn check_ltv_validation(seen: &Value, run: &Path) {
    let number = |row: &BTreeMap<String, String>, column: &str| -> f64 {
        row[column]
            .parse()
            .unwrap_or_else(|_| panic!("{column} in {row:?}"))
    };
    let summary = csv_rows(run, "ltv_validation_summary.csv");
    let models: Vec<&str> = summary.iter().map(|r| r["model"].as_str()).collect();
    assert_eq!(
        models,
        ["bgnbd", "calibration_rate", "mbgnbd", "pareto_nbd"]
    );
    assert_eq!(summary[0]["converged"], "true", "{summary:?}");
    let customers = number(&summary[0], "customers");
    assert!(customers > 100.0, "{summary:?}");
    for row in &summary {
        assert_eq!(number(row, "customers"), customers);
        assert_eq!(row["actual_purchases"], summary[0]["actual_purchases"]);
        assert!(
            number(row, "mean_absolute_error") >= number(row, "bias").abs(),
            "{row:?}"
        );
    }
    let buckets = csv_rows(run, "ltv_validation.csv");
    let frequencies: BTreeSet<&str> = buckets
        .iter()
        .map(|r| r["frequency_cal"].as_str())
        .collect();
    assert_eq!(
        buckets.len(),
        4 * frequencies.len(),
        "every model at every frequency"
    );
    assert!(frequencies.len() >= 4, "{frequencies:?}");
    for model in models {
        let of_model: Vec<_> = buckets.iter().filter(|r| r["model"] == model).collect();
        let total: f64 = of_model.iter().map(|r| number(r, "customers")).sum();
        assert_eq!(total, customers, "{model}");
        let actual: f64 = of_model
            .iter()
            .map(|r| number(r, "customers") * number(r, "actual_purchases"))
            .sum();
        assert!(
            (actual - number(&summary[0], "actual_purchases")).abs() < 0.01 * customers,
            "{model}: {actual}"
        );
    }
    let drawn = chart(
        seen,
        "Holdout purchases by calibration frequency: actual and predicted",
    );
    assert_eq!(
        (drawn["series"].as_u64(), drawn["points"].as_u64()),
        (Some(5), Some(5 * frequencies.len() as u64)),
        "{drawn}"
    );
}

/// audience_overlap, made with bitmaps, counts what plain SQL counts over the run's
/// customer_layers and the job's kept event_persons: each layer's people active in the last 7
/// days, and those who carted but did not pay in the last 30.
fn check_audience_overlap(out: &Path, run: &Path) {
    let kept = std::fs::read_dir(out.join("state/event_persons"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("the kept event_persons");
    let plain = stdout_of(userlake().args(["sql", "--format", "csv", "--lake"]).arg(out).args([
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE kept STORED AS PARQUET LOCATION '{}/'",
            kept.display()
        ),
        "-c",
        "WITH last AS (SELECT max(day) AS d FROM kept),
         recent AS (SELECT DISTINCT person_id FROM kept, last WHERE person_id IS NOT NULL AND day > last.d - 7),
         carted AS (SELECT person_id FROM kept, last WHERE person_id IS NOT NULL AND day > last.d - 30
                    GROUP BY person_id
                    HAVING bool_or(event_name = 'add_to_cart') AND NOT bool_or(event_name = 'pay_order'))
         SELECT 'lifecycle: ' || c.lifecycle AS segment, count(r.person_id) AS active, count(k.person_id) AS carted
         FROM customer_layers c LEFT JOIN recent r USING (person_id) LEFT JOIN carted k USING (person_id)
         WHERE c.lifecycle IS NOT NULL GROUP BY 1 ORDER BY 1",
    ]));
    let overlap = csv_rows(run, "audience_overlap.csv");
    let in_segment = |segment: &str, behaviour: &str| -> String {
        overlap
            .iter()
            .find(|r| r["segment"] == segment && r["behaviour"] == behaviour)
            .map(|r| r["in_behaviour"].clone())
            .unwrap_or_else(|| panic!("no {segment} x {behaviour} in {overlap:?}"))
    };
    let mut layers = 0;
    for line in plain.lines().filter(|l| l.starts_with("lifecycle: ")) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(
            in_segment(cells[0], "active in the last 7 days"),
            cells[1],
            "{line}"
        );
        assert_eq!(
            in_segment(cells[0], "carted but did not pay in the last 30 days"),
            cells[2],
            "{line}"
        );
        layers += 1;
    }
    assert!(layers >= 4, "{plain}");
}

/// The experiment report's per-arm intervals that the report draws: conversion's is the
/// Wilson interval as statsmodels computes it; revenue per user's is centred on the mean.
fn check_arm_intervals(run: &Path) {
    let arms = csv_rows(run, "experiment_report.csv");
    let number = |row: &BTreeMap<String, String>, column: &str| -> f64 {
        row[column]
            .parse()
            .unwrap_or_else(|_| panic!("{column} in {row:?}"))
    };
    for row in &arms {
        let (low, mean, high) = (
            number(row, "revenue_per_user_ci_low"),
            number(row, "revenue_per_user"),
            number(row, "revenue_per_user_ci_high"),
        );
        assert!(low < mean && mean < high, "{row:?}");
        assert!(((mean - low) - (high - mean)).abs() <= 0.011, "{row:?}");
    }
    if peers_skipped() {
        return;
    }
    let fractions: Vec<std::ffi::OsString> = arms
        .iter()
        .map(|r| format!("{}/{}", r["converters"], r["users"]).into())
        .collect();
    let fractions: Vec<&std::ffi::OsStr> = fractions.iter().map(|f| f.as_os_str()).collect();
    let reference = peer_reference("wilson_reference.py", &fractions);
    for (row, interval) in arms.iter().zip(reference.as_array().unwrap()) {
        for (column, expected) in [
            ("conversion_ci_low", &interval[0]),
            ("conversion_ci_high", &interval[1]),
        ] {
            // the CSV rounds to 4 decimals
            let expected = expected.as_f64().unwrap();
            assert!(
                (number(row, column) - expected).abs() <= 0.5e-4 + 1e-12,
                "{column}: {row:?} vs {expected}"
            );
        }
    }
}

/// A lake without referrals or experiments: the job still writes the report, and those
/// sections say "No data" and why, while the others are drawn.
#[test]
fn a_report_of_a_lake_without_referrals_or_experiments_says_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    copy_dir(&sample_lake(), &lake);
    std::fs::remove_dir_all(lake.join("referrals")).unwrap();
    std::fs::remove_dir_all(lake.join("events")).unwrap();
    let referrals = lake.join("referrals/part-0.parquet");
    let events = lake.join("events");
    stdout_of(userlake().args(["sql", "--lake"]).arg(sample_lake()).args([
        "-c",
        &format!(
            "COPY (SELECT * FROM referrals WHERE false) TO '{}'",
            referrals.display()
        ),
        "-c",
        &format!(
            "COPY (SELECT * REPLACE (CAST(NULL AS VARCHAR) AS experiment, \
             CAST(NULL AS VARCHAR) AS arm) FROM events) TO '{}/' STORED AS PARQUET \
             PARTITIONED BY (dt)",
            events.display()
        ),
    ]));
    let run = run_nightly(&lake, &dir.path().join("out"));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    for empty in ["fission", "experiments"] {
        assert!(
            html.contains(&format!("data-section=\"{empty}\" data-empty=\"true\"")),
            "{empty} is not marked empty"
        );
    }
    assert!(html.contains("no referral invitations in the lake"));
    assert!(html.contains("no events carry an experiment and arm"));
    if browser_skipped() {
        return;
    }
    let seen = open_in_browser(&run.join("report.html"), &screenshots("no-referrals"));
    assert_clean_page(&seen);
    for section in seen["sections"].as_array().unwrap() {
        let empty = ["fission", "experiments"].contains(&section["id"].as_str().unwrap());
        assert_eq!(section["empty"], Value::Bool(empty), "{}", section["id"]);
        let text = section["text"].as_str().unwrap();
        assert_eq!(text.contains("No data"), empty, "{text}");
    }
}

/// The first two days of the sample: no retention cell is observable yet and no order had a
/// touch before it, so those charts would be empty frames; the report says "No data" instead,
/// and draws no chart without points.
#[test]
fn a_report_of_two_days_draws_no_empty_chart() {
    let dir = tempfile::tempdir().unwrap();
    let lake = crate::cli::sample_up_to(dir.path(), "2026-01-02");
    let run = run_nightly(&lake, &dir.path().join("out"));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        !html.contains("data-points=\"0\""),
        "an empty chart is drawn"
    );
    assert!(html.contains("no cohort has reached its first day column yet"));
    assert!(html.contains("all the revenue is on the (no touch) row"));
    assert!(html.contains("data-section=\"kpis\" data-empty=\"false\""));
}

/// `userlake report` renders a committed run chosen by id, date or path, to a file or to
/// standard output; a run that is not there, or an output location without runs, is a
/// clear error.
#[test]
fn userlake_report_renders_the_run_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = run_nightly(&sample_lake(), &out);
    let run_id = run.file_name().unwrap().to_str().unwrap().to_string();
    let target = dir.path().join("pages/report.html");
    for selector in [None, Some(run_id.as_str()), Some("2026-03-01")] {
        let mut command = userlake();
        command
            .args(["report", "--out"])
            .arg(&out)
            .arg("-o")
            .arg(&target);
        if let Some(selector) = selector {
            command.args(["--run", selector]);
        }
        stdout_of(&mut command);
        let html = std::fs::read_to_string(&target).unwrap();
        assert!(html.contains(&run_id), "{selector:?}");
        // made as any file of the user's is (the umask's mode), not owner-only
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let plain = dir.path().join("plain");
            std::fs::write(&plain, "").unwrap();
            let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&target), mode(&plain), "{selector:?}");
        }
        // rendered from the committed run: it says when it was committed
        assert!(html.contains(", committed 2"), "{selector:?}");
        for section in SECTIONS {
            assert!(
                html.contains(&format!("data-section=\"{section}\"")),
                "{section}"
            );
        }
    }
    let printed = stdout_of(
        userlake()
            .args([
                "report",
                "-o",
                "-",
                "--run",
                &format!("runs/2026-03-01/{run_id}"),
                "--out",
            ])
            .arg(&out),
    );
    assert!(printed.starts_with("<!DOCTYPE html>"), "{}", &printed[..40]);

    let missing = error_of(
        userlake()
            .args(["report", "--run", "20990101T000000.000Z-000000", "--out"])
            .arg(&out),
    );
    assert!(
        missing.contains("no committed run \"20990101T000000.000Z-000000\"")
            && missing.contains(&run_id),
        "{missing}"
    );
    let nothing = error_of(
        userlake()
            .args(["report", "--out"])
            .arg(dir.path().join("empty")),
    );
    assert!(nothing.contains("has no committed run"), "{nothing}");
}

/// A job without most of the report's tables, and with a `kpi_daily` of other columns: its
/// report draws what it has, names the tables it lacks, and says why it cannot read the
/// other; the job still commits.
#[test]
fn a_job_without_the_reports_tables_gets_a_report_that_names_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cohorts.sql"),
        "CREATE TABLE retention_cohort AS SELECT * FROM (VALUES \
         (DATE '2026-01-05', 10, 0.5, 0.25), (DATE '2026-01-12', 8, 0.375, CAST(NULL AS DOUBLE))) \
         AS t(cohort_week, cohort_size, day_1, day_3);\n\
         CREATE TABLE kpi_daily AS SELECT DATE '2026-01-05' AS day, 'all' AS channel, 3 AS dau;\n",
    )
    .unwrap();
    let job = dir.path().join("small.toml");
    std::fs::write(
        &job,
        "[job]\nname = \"small\"\n\n\
         [[step]]\nname = \"cohorts\"\nsql = \"cohorts.sql\"\n\
         publish = [{ table = \"retention_cohort\" }, { table = \"kpi_daily\" }]\n\n\
         [[step]]\nname = \"report\"\nbuiltin = \"report\"\nfile = \"cohorts.html\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    stdout_of(
        userlake()
            .args([
                "run",
                "--lake",
                "data/sample",
                "--date",
                "2026-03-01",
                "--out",
            ])
            .arg(&out)
            .arg(&job),
    );
    let runs = out.join("runs/2026-03-01");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let html = std::fs::read_to_string(run.join("cohorts.html")).unwrap();
    assert!(html.contains("this run did not publish table funnel_report"));
    // a table of the report's name without its columns: that section says why, the job runs
    assert!(
        html.contains("the report could not read this run&#39;s tables for this section")
            || html.contains("the report could not read this run's tables for this section"),
        "{html:.3000}"
    );
    assert!(
        html.contains("No field named mau"),
        "the missing column is named"
    );
    assert!(html.contains("this run did not publish table run_stats"));
    assert!(html.contains("data-section=\"retention\" data-empty=\"false\""));
    // three observed cells of four, over the two day columns the table has
    assert!(
        html.contains("data-series=\"1\" data-points=\"3\""),
        "{html:.2000}"
    );
    assert!(html.contains("[\"day 1\",\"day 3\"]"));

    // the step's file must be a plain .html name, and the step takes nothing else
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[job]\nname = \"bad\"\n\n[[step]]\nname = \"report\"\nbuiltin = \"report\"\nfile = \"../x.html\"\n",
    )
    .unwrap();
    let error = error_of(userlake().args(["run", "--out"]).arg(&out).arg(&bad));
    assert!(
        error.contains("file = \"../x.html\": give a file name ending in .html"),
        "{error}"
    );
    std::fs::write(
        &bad,
        "[job]\nname = \"bad\"\n\n[[step]]\nname = \"report\"\nbuiltin = \"report\"\nsql = \"cohorts.sql\"\n",
    )
    .unwrap();
    let error = error_of(userlake().args(["run", "--out"]).arg(&out).arg(&bad));
    assert!(
        error.contains("builtin = \"report\" takes only file"),
        "{error}"
    );
}
