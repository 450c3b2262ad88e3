//! Differential test of the customer-value functions against `lifetimes` 0.11.3 (PyPI):
//! `tests/peers/lifetimes_reference.py` writes random orders (seeded) and CDNOW's orders as
//! Parquet, with lifetimes' summaries, fits and predictions; userlake runs the same on the same
//! files. Set USERLAKE_SKIP_PEERS=1 to skip on a machine without the Python peers.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::common::peers_skipped;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::prelude::SessionContext;
use serde_json::Value;

async fn session(dir: &Path, partitions: usize) -> SessionContext {
    crate::common::session_with_parquet(dir, &["transactions", "cdnow"], partitions).await
}

async fn collect(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Rows of (key, float columns...), as a map.
async fn float_rows(ctx: &SessionContext, sql: &str) -> HashMap<String, Vec<Option<f64>>> {
    let mut rows = HashMap::new();
    for batch in collect(ctx, sql).await {
        let keys =
            arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        let keys = keys.as_string::<i32>();
        let columns: Vec<_> = batch.columns()[1..]
            .iter()
            .map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Float64).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let values = columns
                .iter()
                .map(|c| {
                    let c = c.as_primitive::<Float64Type>();
                    (!c.is_null(row)).then(|| c.value(row))
                })
                .collect();
            rows.insert(keys.value(row).to_string(), values);
        }
    }
    rows
}

fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn assert_close(what: &str, ours: f64, theirs: f64, tolerance: f64) {
    assert!(
        (ours - theirs).abs() <= tolerance * theirs.abs().max(1e-9),
        "{what}: userlake {ours} vs lifetimes {theirs}"
    );
}

/// Every customer's predictions against lifetimes' (a JSON object of customer to values).
fn compare_predictions(
    what: &str,
    ours: &HashMap<String, Vec<Option<f64>>>,
    theirs: &Value,
    tolerance: f64,
) {
    let theirs = theirs.as_object().unwrap();
    assert_eq!(ours.len(), theirs.len(), "{what}: customers");
    for (customer, values) in ours {
        for (i, (o, t)) in values.iter().zip(floats(&theirs[customer])).enumerate() {
            let o = o.unwrap_or_else(|| panic!("{what}: prediction {i} of {customer} is NULL"));
            assert_close(
                &format!("{what}: prediction {i} of {customer}"),
                o,
                t,
                tolerance,
            );
        }
    }
}

fn summary_sql(table: &str, as_of: &str, period: &str, unit: &str) -> String {
    format!(
        "SELECT customer, s['frequency'], s['recency'], s['t'], s['monetary_value'] FROM (
           SELECT customer, clv_summary(order_time, amount, TIMESTAMP '{as_of} 00:00:00', '{period}', '{unit}') AS s
           FROM {table} GROUP BY customer)"
    )
}

fn compare_summaries(what: &str, ours: &HashMap<String, Vec<Option<f64>>>, theirs: &Value) {
    let theirs = theirs.as_object().unwrap();
    for (customer, values) in ours {
        match theirs.get(customer) {
            Some(expected) => {
                for (i, (o, t)) in values.iter().zip(floats(expected)).enumerate() {
                    let o = o.unwrap_or_else(|| panic!("{what} {customer}: NULL"));
                    assert!(
                        (o - t).abs() <= 1e-9 * t.abs().max(1.0),
                        "{what} {customer} column {i}: {o} vs {t}"
                    );
                }
            }
            // lifetimes drops customers whose orders all come after as_of; ours is NULL
            None => assert!(
                values.iter().all(Option::is_none),
                "{what} {customer}: {values:?}"
            ),
        }
    }
    let summarised = ours.values().filter(|v| v[0].is_some()).count();
    assert_eq!(summarised, theirs.len(), "{what}: customers");
}

#[tokio::test(flavor = "multi_thread")]
async fn customer_value_functions_agree_with_lifetimes() {
    if peers_skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/lifetimes_reference.py");
    crate::common::succeeded(
        Command::new("python3")
            .arg(&script)
            .arg(dir.path())
            .output(),
        "lifetimes reference (pip install -r tests/requirements.txt)",
    );
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("reference.json")).unwrap())
            .unwrap();
    let as_of = reference["as_of"].as_str().unwrap();
    let ctx = session(dir.path(), 4).await;

    // Summaries, for each (period, unit) pair lifetimes can do.
    for (pair, expected) in reference["summaries"].as_object().unwrap() {
        let (period, unit) = pair.split_once('/').unwrap();
        let ours = float_rows(&ctx, &summary_sql("transactions", as_of, period, unit)).await;
        compare_summaries(pair, &ours, expected);
    }
    let cdnow_as_of = reference["cdnow"]["as_of"].as_str().unwrap();
    let ours = float_rows(&ctx, &summary_sql("cdnow", cdnow_as_of, "day", "week")).await;
    compare_summaries("cdnow", &ours, &reference["cdnow"]["summary"]);

    // Fits on the weekly summary, at 1 and 8 partitions: identical to each other, and close to
    // lifetimes (whose optimisers stop at their own tolerances; Pareto/NBD's Nelder-Mead is the
    // loosest).
    let fits_sql = format!(
        "SELECT 'fit',
           bgnbd_fit(f, r, t)['r'], bgnbd_fit(f, r, t)['alpha'], bgnbd_fit(f, r, t)['a'], bgnbd_fit(f, r, t)['b'],
           bgnbd_fit(f, r, t, 0.05)['r'], bgnbd_fit(f, r, t, 0.05)['alpha'], bgnbd_fit(f, r, t, 0.05)['a'], bgnbd_fit(f, r, t, 0.05)['b'],
           pareto_nbd_fit(f, r, t)['r'], pareto_nbd_fit(f, r, t)['alpha'], pareto_nbd_fit(f, r, t)['s'], pareto_nbd_fit(f, r, t)['beta'],
           gamma_gamma_fit(f, m)['p'], gamma_gamma_fit(f, m)['q'], gamma_gamma_fit(f, m)['v'],
           CAST(bgnbd_fit(f, r, t)['converged'] AND pareto_nbd_fit(f, r, t)['converged'] AND gamma_gamma_fit(f, m)['converged'] AS DOUBLE)
         FROM (SELECT s['frequency'] f, s['recency'] r, s['t'] t, s['monetary_value'] m FROM
           (SELECT clv_summary(order_time, amount, TIMESTAMP '{as_of} 00:00:00', 'day', 'week') AS s FROM transactions GROUP BY customer))"
    );
    let ours = float_rows(&ctx, &fits_sql).await["fit"].clone();
    let ours_8 = float_rows(&session(dir.path(), 8).await, &fits_sql).await["fit"].clone();
    let ours_1 = float_rows(&session(dir.path(), 1).await, &fits_sql).await["fit"].clone();
    assert_eq!(ours, ours_8, "fits differ between 4 and 8 partitions");
    assert_eq!(ours, ours_1, "fits differ between 4 and 1 partitions");
    assert_eq!(ours[15], Some(1.0), "every fit converged");
    let fits = &reference["fits"];
    let expected: Vec<(f64, f64)> = [
        ("bgnbd", 1e-4),
        ("bgnbd_penalized", 1e-4),
        ("pareto_nbd", 2e-3),
        ("gamma_gamma", 1e-4),
    ]
    .iter()
    .flat_map(|(name, tolerance)| {
        floats(&fits[*name])
            .into_iter()
            .map(move |v| (v, *tolerance))
    })
    .collect();
    for (i, (o, (t, tolerance))) in ours.iter().zip(expected).enumerate() {
        assert_close(&format!("fit parameter {i}"), o.unwrap(), t, tolerance);
    }

    // Predictions at lifetimes' own parameters: the formulas must agree to rounding.
    let bg = floats(&fits["bgnbd"]);
    let gg = floats(&fits["gamma_gamma"]);
    let predictions_sql = format!(
        "WITH m AS (SELECT named_struct('r', {}, 'alpha', {}, 'a', {}, 'b', {}) AS bg, named_struct('p', {}, 'q', {}, 'v', {}) AS gg)
         SELECT customer,
           bgnbd_expected_purchases(bg, 26, f, r, t), bgnbd_p_alive(bg, f, r, t), gamma_gamma_expected_spend(gg, f, m),
           bgnbd_clv(bg, f, r, t, gamma_gamma_expected_spend(gg, f, m), 12, 0.01, 4.345)
         FROM (SELECT customer, s['frequency'] f, s['recency'] r, s['t'] t, s['monetary_value'] m FROM
           (SELECT customer, clv_summary(order_time, amount, TIMESTAMP '{as_of} 00:00:00', 'day', 'week') AS s FROM transactions GROUP BY customer)
           WHERE s IS NOT NULL) CROSS JOIN m",
        bg[0], bg[1], bg[2], bg[3], gg[0], gg[1], gg[2]
    );
    let ours = float_rows(&ctx, &predictions_sql).await;
    compare_predictions("BG/NBD", &ours, &fits["predictions"], 1e-8);

    // Pareto/NBD predictions on every CDNOW customer at lifetimes' own Pareto/NBD and
    // Gamma-Gamma fits: expected purchases in 26 weeks, P(alive) and the 12-month CLV.
    let cdnow = &reference["cdnow"];
    let pareto = floats(&cdnow["pareto_nbd"]);
    let cdnow_gg = floats(&cdnow["gamma_gamma"]);
    let pareto_sql = format!(
        "WITH m AS (SELECT named_struct('r', {}, 'alpha', {}, 's', {}, 'beta', {}) AS pn, named_struct('p', {}, 'q', {}, 'v', {}) AS gg)
         SELECT customer,
           pareto_nbd_expected_purchases(pn, 26, f, r, t), pareto_nbd_p_alive(pn, f, r, t),
           pareto_nbd_clv(pn, f, r, t, gamma_gamma_expected_spend(gg, f, m), 12, 0.01, 4.345)
         FROM (SELECT customer, s['frequency'] f, s['recency'] r, s['t'] t, s['monetary_value'] m FROM
           (SELECT customer, clv_summary(order_time, amount, TIMESTAMP '{cdnow_as_of} 00:00:00', 'day', 'week') AS s FROM cdnow GROUP BY customer)
           WHERE s IS NOT NULL) CROSS JOIN m",
        pareto[0], pareto[1], pareto[2], pareto[3], cdnow_gg[0], cdnow_gg[1], cdnow_gg[2]
    );
    let ours = float_rows(&ctx, &pareto_sql).await;
    assert!(ours.len() > 2000, "every CDNOW customer: {}", ours.len());
    compare_predictions(
        "Pareto/NBD on CDNOW",
        &ours,
        &cdnow["pareto_predictions"],
        1e-6,
    );

    // MBG/NBD: lifetimes' fits on the random orders' and CDNOW's weekly summaries, and its
    // predictions on every CDNOW customer at lifetimes' own parameters.
    let mbg_fit_sql = |table: &str, as_of: &str| {
        format!(
            "SELECT 'fit', m['r'], m['alpha'], m['a'], m['b'], CAST(m['converged'] AS DOUBLE) FROM (
               SELECT mbgnbd_fit(s['frequency'], s['recency'], s['t']) AS m FROM
                 (SELECT clv_summary(order_time, amount, TIMESTAMP '{as_of} 00:00:00', 'day', 'week') AS s
                  FROM {table} GROUP BY customer))"
        )
    };
    for (table, as_of, expected) in [
        ("transactions", as_of, &reference["fits"]["mbgnbd"]),
        ("cdnow", cdnow_as_of, &cdnow["mbgnbd"]),
    ] {
        let ours = float_rows(&ctx, &mbg_fit_sql(table, as_of)).await["fit"].clone();
        assert_eq!(ours[4], Some(1.0), "MBG/NBD on {table} converged");
        for (i, t) in floats(expected).into_iter().enumerate() {
            assert_close(
                &format!("MBG/NBD on {table}, parameter {i}"),
                ours[i].unwrap(),
                t,
                1e-4,
            );
        }
    }
    let mbg = floats(&cdnow["mbgnbd"]);
    let mbg_sql = format!(
        "WITH m AS (SELECT named_struct('r', {}, 'alpha', {}, 'a', {}, 'b', {}) AS mbg, named_struct('p', {}, 'q', {}, 'v', {}) AS gg)
         SELECT customer,
           mbgnbd_expected_purchases(mbg, 26, f, r, t), mbgnbd_p_alive(mbg, f, r, t),
           mbgnbd_clv(mbg, f, r, t, gamma_gamma_expected_spend(gg, f, m), 12, 0.01, 4.345)
         FROM (SELECT customer, s['frequency'] f, s['recency'] r, s['t'] t, s['monetary_value'] m FROM
           (SELECT customer, clv_summary(order_time, amount, TIMESTAMP '{cdnow_as_of} 00:00:00', 'day', 'week') AS s FROM cdnow GROUP BY customer)
           WHERE s IS NOT NULL) CROSS JOIN m",
        mbg[0], mbg[1], mbg[2], mbg[3], cdnow_gg[0], cdnow_gg[1], cdnow_gg[2]
    );
    let ours = float_rows(&ctx, &mbg_sql).await;
    compare_predictions(
        "MBG/NBD on CDNOW",
        &ours,
        &cdnow["mbgnbd_predictions"],
        1e-8,
    );

    // BG/BB on the donations data: lifetimes' fit, and its predictions at its own parameters
    // for every pattern.
    let donations_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/donations.csv");
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE donations STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
        donations_dir.display()
    ))
    .await
    .unwrap();
    let donations = &reference["donations"];
    let ours = float_rows(
        &ctx,
        "SELECT 'fit', m['alpha'], m['beta'], m['gamma'], m['delta'], CAST(m['converged'] AS DOUBLE) FROM (
           SELECT bgbb_fit(frequency, recency, periods) AS m
           FROM (SELECT frequency, recency, periods, unnest(range(weights)) FROM donations))",
    )
    .await["fit"]
    .clone();
    assert_eq!(ours[4], Some(1.0), "BG/BB converged");
    for (i, t) in floats(&donations["bgbb"]).into_iter().enumerate() {
        assert_close(&format!("BG/BB parameter {i}"), ours[i].unwrap(), t, 1e-4);
    }
    let bgbb = floats(&donations["bgbb"]);
    let predictions = float_rows(
        &ctx,
        &format!(
            "WITH m AS (SELECT named_struct('alpha', {}, 'beta', {}, 'gamma', {}, 'delta', {}) AS model)
             SELECT concat(frequency, '/', recency, '/', periods),
               bgbb_expected_purchases(model, 10, frequency, recency, periods),
               bgbb_p_alive(model, 0, frequency, recency, periods),
               bgbb_p_alive(model, 5, frequency, recency, periods)
             FROM donations CROSS JOIN m",
            bgbb[0], bgbb[1], bgbb[2], bgbb[3]
        ),
    )
    .await;
    let expected = donations["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), expected.len());
    for row in expected {
        let row = floats(row);
        let key = format!("{}/{}/{}", row[0], row[1], row[2]);
        for (i, (o, t)) in predictions[&key].iter().zip(&row[3..]).enumerate() {
            // lifetimes adds 1e-15 inside its likelihood's logarithm; ours does not
            assert_close(
                &format!("BG/BB prediction {i} of {key}"),
                o.unwrap(),
                *t,
                1e-9,
            );
        }
    }

    // Calibration/holdout summaries: CDNOW's 39 + 39 weeks, and the random orders split at noon
    // in three (period, unit) pairs.
    for split in reference["holdout"].as_array().unwrap() {
        let (table, pair) = (
            split["table"].as_str().unwrap(),
            split["pair"].as_str().unwrap(),
        );
        let (period, unit) = pair.split_once('/').unwrap();
        let sql = format!(
            "SELECT customer, s['frequency_cal'], s['recency_cal'], s['t_cal'], s['monetary_value_cal'],
               s['frequency_holdout'], s['monetary_value_holdout'], s['duration_holdout']
             FROM (SELECT customer, clv_holdout_summary(order_time, amount, TIMESTAMP '{}',
                     TIMESTAMP '{}', '{period}', '{unit}') AS s FROM {table} GROUP BY customer)",
            split["calibration_end"].as_str().unwrap(),
            split["observation_end"].as_str().unwrap(),
        );
        let what = format!("holdout {table} {pair}");
        let ours = float_rows(&ctx, &sql).await;
        compare_summaries(&what, &ours, &split["rows"]);
        // the same at 1 partition, where every customer's orders meet in one state
        let ours_1 = float_rows(&session(dir.path(), 1).await, &sql).await;
        assert_eq!(ours, ours_1, "{what}: 1 and 4 partitions differ");
    }
}
