-- Customer layers: RFM scores and segments, the 8-class RFM layer, and the lifecycle tier of
-- every person, as of a day.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Variables: as_of (default: the day after the lake's last order, UTC midnight).
-- Publishes (as jobs/nightly.toml declares) customer_layers.parquet (one row per person) and layer_summary.csv
-- (people, buyers and money per segment, class and tier).
--
-- RFM scores are quintiles by ntile(5): r_score over recency (days since the last paid order,
-- fewer is better, so the most recent fifth scores 5), f_score over paid orders, m_score over
-- money spent on them. Ties are broken by the person's unified id, so the scores are the same
-- on every run; people with equal values at a quintile boundary may get neighbouring scores.
-- Only buyers get RFM scores, a segment and an 8-class label; every person gets a lifecycle tier.
-- People are OneID unified ids from sql/identity.sql, run earlier in the same job.

CREATE VIEW layer_as_of AS
SELECT coalesce(
  to_timestamp(nullif('${as_of}', '')),
  CAST(date_trunc('day', (SELECT max(order_time) FROM order_persons)) + INTERVAL '1 day' AS TIMESTAMP)
) AS as_of;

CREATE VIEW buyer_rfm AS
SELECT
  person_id,
  date_part('day', (SELECT as_of FROM layer_as_of) - CAST(max(order_time) AS TIMESTAMP)) AS recency_days,
  count(DISTINCT order_id) AS frequency,
  -- summed as decimals: exact, whatever order the rows come in
  CAST(sum(CAST(amount AS DECIMAL(20, 4))) AS DOUBLE) AS monetary,
  min(order_time) AS first_order_at,
  max(order_time) AS last_order_at
FROM order_persons
WHERE status = 'paid' AND person_id IS NOT NULL
  AND CAST(order_time AS TIMESTAMP) < (SELECT as_of FROM layer_as_of)
GROUP BY person_id;

CREATE VIEW buyer_scores AS
SELECT
  *,
  ntile(5) OVER (ORDER BY recency_days DESC, person_id) AS r_score,
  ntile(5) OVER (ORDER BY frequency, person_id) AS f_score,
  ntile(5) OVER (ORDER BY monetary, person_id) AS m_score,
  rfm_8class(recency_days, frequency, monetary,
             avg(recency_days) OVER (), avg(frequency) OVER (), avg(monetary) OVER ()) AS eight_class
FROM buyer_rfm;

CREATE VIEW person_activity AS
SELECT person_id, min(event_time) AS first_seen, max(event_time) AS last_active_at
FROM event_persons
WHERE person_id IS NOT NULL AND CAST(event_time AS TIMESTAMP) < (SELECT as_of FROM layer_as_of)
GROUP BY person_id;

CREATE TABLE customer_layers AS
SELECT
  coalesce(a.person_id, b.person_id) AS person_id,
  least(a.first_seen, b.first_order_at) AS joined_at,
  a.last_active_at,
  b.last_order_at,
  b.recency_days,
  coalesce(b.frequency, 0) AS frequency,
  coalesce(b.monetary, 0) AS monetary,
  b.r_score,
  b.f_score,
  b.m_score,
  CASE WHEN b.person_id IS NOT NULL THEN rfm_segment(b.r_score, b.f_score, b.m_score) END AS rfm_segment,
  b.eight_class['code'] AS rfm_class_code,
  b.eight_class['label_cn'] AS rfm_class_cn,
  b.eight_class['label_en'] AS rfm_class_en,
  lifecycle_layer(least(a.first_seen, b.first_order_at), a.last_active_at, b.last_order_at,
                  coalesce(b.frequency, 0), coalesce(b.monetary, 0), (SELECT as_of FROM layer_as_of)) AS lifecycle
-- buyers (paid orders before as_of) and everyone active: the buyers' scores carry their first
-- and last order times
FROM person_activity a
FULL JOIN buyer_scores b ON a.person_id = b.person_id;

CREATE TABLE layer_summary AS
SELECT 'rfm_segment' AS layering, rfm_segment AS layer, count(*) AS people,
       count(*) FILTER (WHERE frequency > 0) AS buyers, round(sum(monetary), 2) AS monetary
FROM customer_layers WHERE rfm_segment IS NOT NULL GROUP BY rfm_segment
UNION ALL
SELECT 'rfm_8class', rfm_class_code || ' ' || rfm_class_en, count(*), count(*) FILTER (WHERE frequency > 0),
       round(sum(monetary), 2)
FROM customer_layers WHERE rfm_class_code IS NOT NULL GROUP BY rfm_class_code, rfm_class_en
UNION ALL
SELECT 'lifecycle', lifecycle, count(*), count(*) FILTER (WHERE frequency > 0), round(sum(monetary), 2)
FROM customer_layers GROUP BY lifecycle;

