-- Per-customer value: BG/NBD and Gamma-Gamma fitted on the lake's paid orders (and Pareto/NBD
-- beside BG/NBD, for the matrices), then per
-- customer the expected purchases and margin over the next 12 months, P(alive), the discounted
-- 12-month CLV, and the layers of sql/rfm_layers.sql (run earlier in the same job).
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Variables: as_of (as in sql/rfm_layers.sql), monthly_discount_rate (default 0.01).
-- Publishes (as jobs/nightly.toml declares) ltv_report.parquet (one row per buyer), ltv_model.csv (the fitted
-- parameters, log-likelihoods and whether each fit converged) and ltv_matrix.csv (the BG/NBD
-- and Pareto/NBD predictions over a grid of frequency and recency, for heatmaps).
--
-- Summaries count purchases per day and measure time in weeks (lifetimes' freq='D',
-- freq_multiplier=7); spend is modelled on order value, and margin is expected spend times the
-- lake's margin rate (gross margin / value of paid orders). CLV discounts each month's expected
-- margin, as lifetimes' customer_lifetime_value with 4.345 weeks a month. If a fit did not
-- converge, its predictions are still written, and ltv_model.csv says so.

CREATE TABLE ltv_summaries AS
SELECT person_id, s['frequency'] AS frequency, s['recency'] AS recency, s['t'] AS t, s['monetary_value'] AS monetary_value
FROM (
  SELECT person_id, clv_summary(order_time, amount, as_of, 'day', 'week') AS s
  FROM order_persons CROSS JOIN layer_as_of
  WHERE status = 'paid' AND person_id IS NOT NULL
  GROUP BY person_id
)
WHERE s IS NOT NULL;

CREATE TABLE ltv_fits AS
SELECT f.bgnbd, f.pareto_nbd, f.gamma_gamma, r.margin_rate
FROM (
  SELECT bgnbd_fit(frequency, recency, t) AS bgnbd, pareto_nbd_fit(frequency, recency, t) AS pareto_nbd,
         gamma_gamma_fit(frequency, monetary_value) AS gamma_gamma
  FROM ltv_summaries
) f
CROSS JOIN (
  SELECT sum(gross_margin) / sum(amount) AS margin_rate FROM order_persons
  WHERE status = 'paid' AND person_id IS NOT NULL
) r;

CREATE TABLE ltv_report AS
WITH predicted AS (
  SELECT
    s.*,
    bgnbd_expected_purchases(m.bgnbd, 365.0 / 7, s.frequency, s.recency, s.t) AS purchases,
    bgnbd_p_alive(m.bgnbd, s.frequency, s.recency, s.t) AS p_alive,
    gamma_gamma_expected_spend(m.gamma_gamma, s.frequency, s.monetary_value) AS spend,
    m.bgnbd,
    m.margin_rate
  FROM ltv_summaries s CROSS JOIN ltv_fits m
)
SELECT
  p.person_id,
  p.frequency,
  p.recency,
  p.t,
  p.monetary_value,
  round(p.purchases, 4) AS expected_purchases_12m,
  round(p.p_alive, 4) AS p_alive,
  round(p.spend, 2) AS expected_spend,
  round(p.purchases * p.spend * p.margin_rate, 2) AS expected_margin_12m,
  round(bgnbd_clv(p.bgnbd, p.frequency, p.recency, p.t, p.spend * p.margin_rate,
                  12, ${monthly_discount_rate}, 4.345), 2) AS clv_12m,
  l.rfm_segment,
  l.rfm_class_cn,
  l.rfm_class_en,
  l.lifecycle
FROM predicted p
LEFT JOIN customer_layers l ON l.person_id = p.person_id;

-- The fitted parameters, log-likelihoods and whether each fit converged, one row each.
CREATE VIEW ltv_model AS
SELECT * FROM (
  SELECT 'bgnbd' AS model, 'r' AS parameter, bgnbd['r'] AS value FROM ltv_fits
  UNION ALL SELECT 'bgnbd', 'alpha', bgnbd['alpha'] FROM ltv_fits
  UNION ALL SELECT 'bgnbd', 'a', bgnbd['a'] FROM ltv_fits
  UNION ALL SELECT 'bgnbd', 'b', bgnbd['b'] FROM ltv_fits
  UNION ALL SELECT 'bgnbd', 'log_likelihood', bgnbd['log_likelihood'] FROM ltv_fits
  UNION ALL SELECT 'bgnbd', 'customers', CAST(bgnbd['customers'] AS DOUBLE) FROM ltv_fits
  UNION ALL SELECT 'bgnbd', 'converged', CASE WHEN bgnbd['converged'] THEN 1.0 ELSE 0.0 END FROM ltv_fits
  UNION ALL SELECT 'pareto_nbd', 'r', pareto_nbd['r'] FROM ltv_fits
  UNION ALL SELECT 'pareto_nbd', 'alpha', pareto_nbd['alpha'] FROM ltv_fits
  UNION ALL SELECT 'pareto_nbd', 's', pareto_nbd['s'] FROM ltv_fits
  UNION ALL SELECT 'pareto_nbd', 'beta', pareto_nbd['beta'] FROM ltv_fits
  UNION ALL SELECT 'pareto_nbd', 'log_likelihood', pareto_nbd['log_likelihood'] FROM ltv_fits
  UNION ALL SELECT 'pareto_nbd', 'customers', CAST(pareto_nbd['customers'] AS DOUBLE) FROM ltv_fits
  UNION ALL SELECT 'pareto_nbd', 'converged', CASE WHEN pareto_nbd['converged'] THEN 1.0 ELSE 0.0 END FROM ltv_fits
  UNION ALL SELECT 'gamma_gamma', 'p', gamma_gamma['p'] FROM ltv_fits
  UNION ALL SELECT 'gamma_gamma', 'q', gamma_gamma['q'] FROM ltv_fits
  UNION ALL SELECT 'gamma_gamma', 'v', gamma_gamma['v'] FROM ltv_fits
  UNION ALL SELECT 'gamma_gamma', 'log_likelihood', gamma_gamma['log_likelihood'] FROM ltv_fits
  UNION ALL SELECT 'gamma_gamma', 'customers', CAST(gamma_gamma['customers'] AS DOUBLE) FROM ltv_fits
  UNION ALL SELECT 'gamma_gamma', 'converged', CASE WHEN gamma_gamma['converged'] THEN 1.0 ELSE 0.0 END FROM ltv_fits
  UNION ALL SELECT 'margin', 'rate', margin_rate FROM ltv_fits
);

-- The pictures of lifetimes' plot_frequency_recency_matrix and plot_probability_alive_matrix,
-- for BG/NBD and for Pareto/NBD (model 'bgnbd' or 'pareto_nbd'): for every frequency from 0 to
-- the largest (at most 30) and every whole week of recency from 0 to the longest customer age T,
-- the expected purchases in the next 4 weeks and P(alive) of a customer of age T with that
-- history (every cell of the grid, as lifetimes).
CREATE TABLE ltv_matrix AS
WITH bounds AS (
  SELECT CAST(least(max(frequency), 30) AS BIGINT) AS max_frequency, max(t) AS age
  FROM ltv_summaries
),
grid AS (
  SELECT frequency, unnest(range(0, CAST(floor(age) AS BIGINT) + 1)) AS recency, age
  FROM (SELECT unnest(range(0, max_frequency + 1)) AS frequency, age FROM bounds)
)
SELECT 'bgnbd' AS model, g.frequency, g.recency, round(g.age, 4) AS t,
       round(bgnbd_expected_purchases(m.bgnbd, 4, g.frequency, g.recency, g.age), 4)
         AS expected_purchases_4w,
       round(bgnbd_p_alive(m.bgnbd, g.frequency, g.recency, g.age), 4) AS p_alive
FROM grid g CROSS JOIN ltv_fits m
UNION ALL
SELECT 'pareto_nbd', g.frequency, g.recency, round(g.age, 4),
       round(pareto_nbd_expected_purchases(m.pareto_nbd, 4, g.frequency, g.recency, g.age), 4),
       round(pareto_nbd_p_alive(m.pareto_nbd, g.frequency, g.recency, g.age), 4)
FROM grid g CROSS JOIN ltv_fits m;
