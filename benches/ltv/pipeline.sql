-- The LTV benchmark pipeline in userlake: per-customer summaries from the orders, the BG/NBD
-- and Gamma-Gamma fits, and predictions for every customer, written to Parquet (snappy, the
-- codec pandas writes on the lifetimes side; userlake's own default is zstd).
--   userlake run benches/ltv/pipeline.sql --var orders=DIR --out OUT
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
