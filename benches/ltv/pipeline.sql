-- The LTV benchmark pipeline in userlake: per-customer summaries from the orders, the BG/NBD
-- and Gamma-Gamma fits, and predictions for every customer, written to Parquet (snappy, the
-- codec pandas writes on the lifetimes side; userlake's own default is zstd); then the MBG/NBD
-- and Pareto/NBD fits and predictions, and the calibration/holdout split; then BG/BB on weekly
-- opportunities derived from the same orders, and sBG on the members' renewals.
--   userlake run benches/ltv/pipeline.sql --var orders=DIR --var members=DIR --out OUT
-- benches/ltv/compare.py runs it and the same pipeline in lifetimes on the same files.

CREATE EXTERNAL TABLE bench_orders STORED AS PARQUET LOCATION '${orders}/';

CREATE TABLE summaries AS
SELECT customer, s['frequency'] AS frequency, s['recency'] AS recency, s['t'] AS t, s['monetary_value'] AS monetary_value
FROM (
  SELECT customer, clv_summary(order_time, amount, TIMESTAMP '2026-01-01 00:00:00', 'day', 'week') AS s
  FROM bench_orders GROUP BY customer
);

CREATE TABLE model AS
SELECT bgnbd_fit(frequency, recency, t) AS bg, gamma_gamma_fit(frequency, monetary_value) AS gg
FROM summaries;

COPY (
  SELECT s.customer,
         bgnbd_expected_purchases(m.bg, 52, s.frequency, s.recency, s.t) AS expected_purchases_52w,
         bgnbd_p_alive(m.bg, s.frequency, s.recency, s.t) AS p_alive,
         gamma_gamma_expected_spend(m.gg, s.frequency, s.monetary_value) AS expected_spend,
         bgnbd_clv(m.bg, s.frequency, s.recency, s.t,
                   gamma_gamma_expected_spend(m.gg, s.frequency, s.monetary_value), 12, 0.01, 4.345) AS clv
  FROM summaries s CROSS JOIN model m
) TO '${out}/predictions.parquet' STORED AS PARQUET OPTIONS ('format.compression' 'snappy');

COPY (SELECT bg['r'] AS r, bg['alpha'] AS alpha, bg['a'] AS a, bg['b'] AS b, bg['converged'] AS bg_converged,
             gg['p'] AS p, gg['q'] AS q, gg['v'] AS v, gg['converged'] AS gg_converged FROM model)
TO '${out}/model.csv' STORED AS CSV OPTIONS ('format.has_header' 'true');

CREATE TABLE more_models AS
SELECT mbgnbd_fit(frequency, recency, t) AS mbg, pareto_nbd_fit(frequency, recency, t) AS pareto
FROM summaries;

COPY (
  SELECT s.customer,
         mbgnbd_expected_purchases(m.mbg, 52, s.frequency, s.recency, s.t) AS mbg_expected_purchases_52w,
         mbgnbd_p_alive(m.mbg, s.frequency, s.recency, s.t) AS mbg_p_alive,
         pareto_nbd_expected_purchases(m.pareto, 52, s.frequency, s.recency, s.t) AS pareto_expected_purchases_52w,
         pareto_nbd_p_alive(m.pareto, s.frequency, s.recency, s.t) AS pareto_p_alive
  FROM summaries s CROSS JOIN more_models m
) TO '${out}/more_predictions.parquet' STORED AS PARQUET OPTIONS ('format.compression' 'snappy');

COPY (
  SELECT customer, h['frequency_cal'] AS frequency_cal, h['recency_cal'] AS recency_cal, h['t_cal'] AS t_cal,
         h['monetary_value_cal'] AS monetary_value_cal, h['frequency_holdout'] AS frequency_holdout,
         h['monetary_value_holdout'] AS monetary_value_holdout, h['duration_holdout'] AS duration_holdout
  FROM (
    SELECT customer, clv_holdout_summary(order_time, amount, TIMESTAMP '2025-09-01 00:00:00',
                                         TIMESTAMP '2026-01-01 00:00:00', 'day', 'week') AS h
    FROM bench_orders GROUP BY customer
  ) WHERE h IS NOT NULL
) TO '${out}/holdout.parquet' STORED AS PARQUET OPTIONS ('format.compression' 'snappy');

COPY (SELECT mbg['r'] AS r, mbg['alpha'] AS alpha, mbg['a'] AS a, mbg['b'] AS b, mbg['converged'] AS mbg_converged,
             pareto['r'] AS pareto_r, pareto['alpha'] AS pareto_alpha, pareto['s'] AS s,
             pareto['beta'] AS beta, pareto['converged'] AS pareto_converged FROM more_models)
TO '${out}/more_models.csv' STORED AS CSV OPTIONS ('format.has_header' 'true');

-- BG/BB in discrete time: every week is an opportunity to buy. A customer's first week is
-- opportunity 0; frequency counts the later weeks with a purchase, recency is the last such week
-- and n_periods the weeks to the week of 2026-01-01 (lifetimes' freq='W' summary).
CREATE TABLE weekly AS
SELECT customer, s['frequency'] AS frequency, s['recency'] AS recency, s['t'] AS n_periods
FROM (
  SELECT customer, clv_summary(order_time, amount, TIMESTAMP '2026-01-01 00:00:00', 'week', 'week') AS s
  FROM bench_orders GROUP BY customer
);

CREATE TABLE bgbb_model AS SELECT bgbb_fit(frequency, recency, n_periods) AS bgbb FROM weekly;

COPY (
  SELECT w.customer,
         bgbb_expected_purchases(m.bgbb, 26, w.frequency, w.recency, w.n_periods) AS bgbb_expected_purchases_26w,
         bgbb_p_alive(m.bgbb, 0, w.frequency, w.recency, w.n_periods) AS bgbb_p_alive
  FROM weekly w CROSS JOIN bgbb_model m
) TO '${out}/bgbb_predictions.parquet' STORED AS PARQUET OPTIONS ('format.compression' 'snappy');

-- sBG: one row per member, the renewal at which they left or the renewals made so far.
CREATE EXTERNAL TABLE bench_members STORED AS PARQUET LOCATION '${members}/';

CREATE TABLE sbg_model AS SELECT sbg_fit(period, churned) AS sbg FROM bench_members;

-- Every current member's discounted expected residual lifetime (1% a month), and the cohort's
-- survival and retention curves over three years.
COPY (
  SELECT b.member, sbg_derl(m.sbg, b.period, 0.01) AS derl
  FROM bench_members b CROSS JOIN sbg_model m WHERE NOT b.churned
) TO '${out}/sbg_predictions.parquet' STORED AS PARQUET OPTIONS ('format.compression' 'snappy');

COPY (
  SELECT c.period, sbg_survival(m.sbg, c.period) AS survival, sbg_retention_rate(m.sbg, c.period) AS retention_rate
  FROM (SELECT unnest(range(1, 37)) AS period) c CROSS JOIN sbg_model m ORDER BY c.period
) TO '${out}/sbg_curve.csv' STORED AS CSV OPTIONS ('format.has_header' 'true');

COPY (SELECT b.bgbb['alpha'] AS alpha, b.bgbb['beta'] AS beta, b.bgbb['gamma'] AS gamma, b.bgbb['delta'] AS delta,
             b.bgbb['converged'] AS bgbb_converged, s.sbg['alpha'] AS sbg_alpha, s.sbg['beta'] AS sbg_beta,
             s.sbg['converged'] AS sbg_converged
      FROM bgbb_model b CROSS JOIN sbg_model s)
TO '${out}/discrete_models.csv' STORED AS CSV OPTIONS ('format.has_header' 'true');
