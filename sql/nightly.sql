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

CREATE VIEW event_people AS
SELECT
  to_date(event_time AT TIME ZONE '${time_zone}') AS day,
  coalesce(channel, 'unknown') AS channel,
  person_id AS person_key
FROM event_persons;

-- Each person's active days, per channel and (as channel 'all') over every channel. A table:
-- DAU, MAU and the calendar all read it.
CREATE TABLE daily_active AS
SELECT DISTINCT day, channel, person_key FROM event_people WHERE person_key IS NOT NULL
UNION ALL
SELECT DISTINCT day, 'all' AS channel, person_key FROM event_people WHERE person_key IS NOT NULL;

-- MAU without joining each day to the rows of its 30 days: a person active on day d counts on
-- days d to d + 29. Per person and channel, consecutive active days less than 30 days apart
-- make one covered span; a span adds 1 from its first active day and removes it 30 days after
-- its last. MAU on a day is the running sum of those changes, so the cost grows with the
-- people's active days, not with days x rows.
CREATE TABLE mau_changes AS
WITH neighbours AS (
  SELECT channel, day,
         lag(day) OVER (PARTITION BY channel, person_key ORDER BY day) AS previous_day,
         lead(day) OVER (PARTITION BY channel, person_key ORDER BY day) AS next_day
  FROM daily_active
)
SELECT channel, day, sum(change) AS change
FROM (
  SELECT channel, day, 1 AS change FROM neighbours
  WHERE previous_day IS NULL OR day >= previous_day + INTERVAL '30 days'
  UNION ALL
  SELECT channel, CAST(day + INTERVAL '30 days' AS DATE), -1 FROM neighbours
  WHERE next_day IS NULL OR next_day >= day + INTERVAL '30 days'
)
GROUP BY channel, day;

CREATE VIEW activity AS
WITH dau AS (
  SELECT day, channel, count(*) AS dau FROM daily_active GROUP BY day, channel
),
days AS (
  SELECT CAST(unnest(range(first_day, last_day + INTERVAL '1 day', INTERVAL '1 day')) AS DATE) AS day
  FROM (SELECT min(day) AS first_day, max(day) AS last_day FROM daily_active)
),
grid AS (
  SELECT days.day, channels.channel
  FROM days CROSS JOIN (SELECT DISTINCT channel FROM mau_changes) AS channels
),
mau AS (
  SELECT g.day, g.channel,
         sum(coalesce(c.change, 0)) OVER (PARTITION BY g.channel ORDER BY g.day) AS mau
  FROM grid g LEFT JOIN mau_changes c ON c.channel = g.channel AND c.day = g.day
)
SELECT dau.day, dau.channel, dau.dau, mau.mau
FROM dau JOIN mau ON dau.day = mau.day AND dau.channel = mau.channel;

CREATE VIEW order_people AS
SELECT
  to_date(order_time AT TIME ZONE '${time_zone}') AS day,
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
