-- Should the repeat-buying models be trusted? The lake's paid orders are split at a calibration
-- end into a calibration part and a holdout of the last weeks before as_of (lifetimes'
-- calibration_and_holdout_data); BG/NBD, MBG/NBD and Pareto/NBD are fitted on the calibration part alone
-- and their predictions for the holdout are set against what each customer bought in it.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Variables: as_of (as in sql/rfm_layers.sql: the end of the holdout), holdout_weeks (the
-- holdout's length; '' = a third of the time from the first paid order to as_of, in whole
-- weeks, at least one).
-- Publishes (as jobs/nightly.toml declares):
--   ltv_validation: per model and calibration frequency (10 = 10 or more), the customers and
--     their mean actual and predicted holdout purchases: the table behind lifetimes'
--     plot_calibration_purchases_vs_holdout_purchases;
--   ltv_validation_summary: per model, the split, the total actual and predicted holdout
--     purchases, the mean absolute error and the bias (mean predicted minus actual) per
--     customer, and whether the fit converged.
-- Summaries count purchases per day and measure time in weeks, as sql/ltv_report.sql. Beside
-- the two models, 'calibration_rate' predicts each customer's calibration repeat rate
-- (frequency / t) times the holdout's length: a model that does not beat it is not worth its
-- predictions.

CREATE TABLE ltv_holdout_window AS
SELECT
  CAST(a.as_of - CAST(concat(CAST(w.holdout_days AS VARCHAR), ' days') AS INTERVAL) AS TIMESTAMP)
    AS calibration_end,
  a.as_of AS observation_end,
  w.holdout_days / 7 AS holdout_weeks
FROM layer_as_of a
CROSS JOIN (
  SELECT coalesce(
    CAST(nullif('${holdout_weeks}', '') AS BIGINT) * 7,
    greatest(7, CAST(floor(date_part('epoch', s.as_of - s.first_order) / 86400 / 3 / 7) AS BIGINT) * 7)
  ) AS holdout_days
  FROM (
    SELECT l.as_of, f.first_order
    FROM layer_as_of l
    CROSS JOIN (
      SELECT CAST(min(order_time) AS TIMESTAMP) AS first_order FROM order_persons
      WHERE status = 'paid' AND person_id IS NOT NULL
    ) f
  ) s
) w;

CREATE TABLE ltv_holdout AS
SELECT person_id,
  h['frequency_cal'] AS frequency_cal, h['recency_cal'] AS recency_cal, h['t_cal'] AS t_cal,
  h['frequency_holdout'] AS frequency_holdout, h['duration_holdout'] AS duration_holdout
FROM (
  SELECT person_id,
    clv_holdout_summary(order_time, amount, w.calibration_end, w.observation_end, 'day', 'week') AS h
  FROM order_persons CROSS JOIN ltv_holdout_window w
  WHERE status = 'paid' AND person_id IS NOT NULL
  GROUP BY person_id
)
WHERE h IS NOT NULL;

CREATE TABLE ltv_holdout_fits AS
SELECT bgnbd_fit(frequency_cal, recency_cal, t_cal) AS bgnbd,
       mbgnbd_fit(frequency_cal, recency_cal, t_cal) AS mbgnbd,
       pareto_nbd_fit(frequency_cal, recency_cal, t_cal) AS pareto_nbd
FROM ltv_holdout;

CREATE TABLE ltv_holdout_predictions AS
SELECT h.person_id, h.frequency_cal, h.frequency_holdout, 'bgnbd' AS model,
  m.bgnbd['converged'] AS converged,
  bgnbd_expected_purchases(m.bgnbd, h.duration_holdout, h.frequency_cal, h.recency_cal, h.t_cal) AS predicted
FROM ltv_holdout h CROSS JOIN ltv_holdout_fits m
UNION ALL
SELECT h.person_id, h.frequency_cal, h.frequency_holdout, 'mbgnbd',
  m.mbgnbd['converged'],
  mbgnbd_expected_purchases(m.mbgnbd, h.duration_holdout, h.frequency_cal, h.recency_cal, h.t_cal)
FROM ltv_holdout h CROSS JOIN ltv_holdout_fits m
UNION ALL
SELECT h.person_id, h.frequency_cal, h.frequency_holdout, 'pareto_nbd',
  m.pareto_nbd['converged'],
  pareto_nbd_expected_purchases(m.pareto_nbd, h.duration_holdout, h.frequency_cal, h.recency_cal, h.t_cal)
FROM ltv_holdout h CROSS JOIN ltv_holdout_fits m
UNION ALL
SELECT person_id, frequency_cal, frequency_holdout, 'calibration_rate', CAST(NULL AS BOOLEAN),
  CASE WHEN t_cal > 0 THEN frequency_cal / t_cal * duration_holdout ELSE 0.0 END
FROM ltv_holdout;

CREATE TABLE ltv_validation AS
SELECT model,
  CAST(least(frequency_cal, 10) AS BIGINT) AS frequency_cal,
  count(*) AS customers,
  round(avg(frequency_holdout), 4) AS actual_purchases,
  round(avg(predicted), 4) AS predicted_purchases
FROM ltv_holdout_predictions
GROUP BY model, CAST(least(frequency_cal, 10) AS BIGINT);

CREATE TABLE ltv_validation_summary AS
SELECT p.model,
  w.calibration_end, w.observation_end, w.holdout_weeks,
  count(*) AS customers,
  sum(p.frequency_holdout) AS actual_purchases,
  round(sum(p.predicted), 2) AS predicted_purchases,
  round(avg(abs(p.predicted - p.frequency_holdout)), 4) AS mean_absolute_error,
  round(avg(p.predicted - p.frequency_holdout), 4) AS bias,
  bool_and(p.converged) AS converged
FROM ltv_holdout_predictions p CROSS JOIN ltv_holdout_window w
GROUP BY p.model, w.calibration_end, w.observation_end, w.holdout_weeks;
