-- userlake nightly job: daily KPIs by acquisition channel, and for all channels together.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Publishes (as jobs/nightly.toml declares) kpi_daily.parquet and kpi_daily.csv, one row per (day, channel) plus a
-- channel = 'all' row per day, with:
--   dau          people active that day (Asia/Shanghai days)
--   mau          people active in the 30 days ending that day
--   stickiness   dau / mau
--   orders       orders placed (paid or later refunded)
--   buyers       people who placed an order
--   gmv          value of the orders placed
--   aov          gmv / orders (average order value)
--   refund_rate  refunded orders / orders
--   net_revenue  value of the orders not refunded
--   gross_margin margin of the orders not refunded
--
-- People are OneID unified ids (event_persons and order_persons, made by sql/identity.sql
-- earlier in the same job): one person seen in WeChat, the app and a Taobao shop counts once.
-- Rows whose identifiers are all placeholders or hubs belong to nobody and are not counted.

-- DAU and MAU per channel and, as channel 'all', over every channel: active_people keeps each
-- day's people as a bitmap and counts, for every day, the people of that day and of the 30
-- days ending on it, so the cost grows with the people's active days, not with days x rows.
-- Only the days someone was active on are kept.
CREATE TABLE activity AS
SELECT a['day'] AS day, channel, a['active'] AS dau, a['rolling'] AS mau
FROM (
  SELECT coalesce(channel_key, 'all') AS channel, unnest(active_people(day, person_id, 30)) AS a
  FROM (
    SELECT day,
           coalesce(channel, 'unknown') AS channel_key,
           person_id
    FROM event_persons
    WHERE person_id IS NOT NULL
  )
  GROUP BY GROUPING SETS ((channel_key), ())
)
WHERE a['active'] > 0;

CREATE VIEW order_people AS
SELECT
  day,
  coalesce(channel, 'unknown') AS channel,
  person_id AS person_key,
  amount, gross_margin, status
FROM order_persons;

CREATE VIEW sales AS
SELECT
  day,
  coalesce(channel, 'all') AS channel,
  count(*) AS orders,
  count(DISTINCT person_key) AS buyers,
  sum(amount) AS gmv,
  count(*) FILTER (WHERE status = 'refunded') AS refunded_orders,
  coalesce(sum(amount) FILTER (WHERE status <> 'refunded'), 0) AS net_revenue,
  coalesce(sum(gross_margin) FILTER (WHERE status <> 'refunded'), 0) AS gross_margin
FROM (
  -- Money is summed as decimals: exact, so a day's figures do not depend on the order the
  -- rows were added in (float sums do, in their last digit, and an average on a half cent
  -- would round either way from run to run).
  SELECT day, channel, person_key, status,
         CAST(amount AS DECIMAL(20, 4)) AS amount,
         CAST(gross_margin AS DECIMAL(20, 4)) AS gross_margin
  FROM order_people
)
GROUP BY GROUPING SETS ((day, channel), (day));

-- Computed once, then written twice and reported.
CREATE TABLE kpi_daily AS
SELECT
  coalesce(a.day, s.day) AS day,
  coalesce(a.channel, s.channel) AS channel,
  coalesce(a.dau, 0) AS dau,
  coalesce(a.mau, 0) AS mau,
  round(CAST(a.dau AS DOUBLE) / a.mau, 4) AS stickiness,
  coalesce(s.orders, 0) AS orders,
  coalesce(s.buyers, 0) AS buyers,
  CAST(round(coalesce(s.gmv, 0), 2) AS DOUBLE) AS gmv,
  CAST(round(s.gmv / s.orders, 2) AS DOUBLE) AS aov,
  round(CAST(s.refunded_orders AS DOUBLE) / s.orders, 4) AS refund_rate,
  CAST(round(coalesce(s.net_revenue, 0), 2) AS DOUBLE) AS net_revenue,
  CAST(round(coalesce(s.gross_margin, 0), 2) AS DOUBLE) AS gross_margin
FROM activity a
FULL JOIN sales s ON a.day = s.day AND a.channel = s.channel;

-- The report: the last seven days, all channels.
SELECT day, dau, mau, stickiness, orders, gmv, aov, refund_rate
FROM kpi_daily
WHERE channel = 'all' AND day > (SELECT max(day) FROM kpi_daily) - INTERVAL '7 days'
ORDER BY day;
