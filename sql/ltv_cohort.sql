-- LTV by acquisition cohort: cumulative gross margin per customer by months since the first
-- order, per acquisition month and channel, and LTV/CAC per channel.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Publishes (as jobs/nightly.toml declares) ltv_cohort.csv and ltv_cac.csv.
--
-- A customer is acquired by their first paid order: the acquisition month is that order's
-- calendar month (Asia/Shanghai) and the channel is that order's channel. Month 0 is the
-- acquisition month itself, month N the N-th calendar month after it. Margin is the gross
-- margin of orders not refunded. A cell (cohort, month N) is NULL, not 0, until calendar month
-- N after the acquisition month has ended within the lake (its last order day).
--
-- ltv_cac.csv, per channel: spend (from costs), customers acquired, CAC = spend / customers,
-- margin per customer to date, and the 1- and 2-month cumulative margin per customer over the
-- cohorts where that month is observed, each divided by CAC. People are OneID unified ids
-- from sql/identity.sql.

CREATE VIEW ltv_orders AS
SELECT
  person_id,
  order_id,
  channel,
  status,
  gross_margin,
  CAST(date_trunc('month', day) AS DATE) AS order_month,
  day AS order_day,
  order_time
FROM order_persons
WHERE person_id IS NOT NULL AND status IN ('paid', 'refunded');

CREATE VIEW ltv_customers AS
SELECT person_id, acquisition_month, coalesce(channel, 'unknown') AS channel FROM (
  SELECT person_id, order_month AS acquisition_month, channel,
         row_number() OVER (PARTITION BY person_id ORDER BY order_time, order_id) AS n
  FROM ltv_orders
) WHERE n = 1;

CREATE VIEW ltv_margin_by_month AS
SELECT
  c.acquisition_month, c.channel, c.person_id,
  (date_part('year', o.order_month) - date_part('year', c.acquisition_month)) * 12
    + date_part('month', o.order_month) - date_part('month', c.acquisition_month) AS month,
  sum(CASE WHEN o.status = 'paid' THEN o.gross_margin ELSE 0 END) AS margin
FROM ltv_customers c JOIN ltv_orders o ON o.person_id = c.person_id
GROUP BY 1, 2, 3, 4;

CREATE VIEW ltv_cohort_sizes AS
SELECT acquisition_month, channel, count(*) AS customers FROM ltv_customers GROUP BY 1, 2;

CREATE VIEW ltv_last_day AS SELECT max(order_day) AS day FROM ltv_orders;

CREATE TABLE ltv_cohort AS
WITH months AS (SELECT unnest(range(0, 12)) AS month),
cells AS (
  SELECT s.acquisition_month, s.channel, s.customers, m.month,
         -- months since year 0 of calendar month N after acquisition, and of the month after it
         CAST(date_part('year', s.acquisition_month) * 12 + date_part('month', s.acquisition_month) - 1 AS BIGINT)
           + m.month AS month_index
  FROM ltv_cohort_sizes s CROSS JOIN months m
)
SELECT
  c.acquisition_month, c.channel, c.customers, c.month,
  CASE WHEN make_date((c.month_index + 1) / 12, (c.month_index + 1) % 12 + 1, 1) - 1 <= (SELECT day FROM ltv_last_day) THEN
    round(coalesce(sum(b.margin), 0) / c.customers, 4)
  END AS cumulative_margin_per_customer
FROM cells c
LEFT JOIN ltv_margin_by_month b
  ON b.acquisition_month = c.acquisition_month AND b.channel = c.channel AND b.month <= c.month
WHERE make_date(c.month_index / 12, c.month_index % 12 + 1, 1) <= (SELECT day FROM ltv_last_day)
GROUP BY c.acquisition_month, c.channel, c.customers, c.month, c.month_index;

CREATE TABLE ltv_cac AS
WITH spend AS (SELECT channel, sum(spend) AS spend FROM costs GROUP BY channel),
acquired AS (SELECT channel, count(*) AS customers FROM ltv_customers GROUP BY channel),
to_date_margin AS (
  SELECT channel, sum(margin) AS margin FROM ltv_margin_by_month GROUP BY channel
),
observed AS (
  SELECT channel, month,
         sum(cumulative_margin_per_customer * customers) / sum(customers) AS margin_per_customer
  FROM ltv_cohort WHERE cumulative_margin_per_customer IS NOT NULL GROUP BY channel, month
)
SELECT
  a.channel,
  round(s.spend, 2) AS spend,
  a.customers,
  round(s.spend / a.customers, 2) AS cac,
  round(m.margin / a.customers, 2) AS margin_per_customer_to_date,
  round(o1.margin_per_customer, 2) AS ltv_month_1,
  round(o1.margin_per_customer / nullif(s.spend / a.customers, 0), 3) AS ltv_cac_month_1,
  round(o2.margin_per_customer, 2) AS ltv_month_2,
  round(o2.margin_per_customer / nullif(s.spend / a.customers, 0), 3) AS ltv_cac_month_2
FROM acquired a
LEFT JOIN spend s ON s.channel = a.channel
LEFT JOIN to_date_margin m ON m.channel = a.channel
LEFT JOIN observed o1 ON o1.channel = a.channel AND o1.month = 1
LEFT JOIN observed o2 ON o2.channel = a.channel AND o2.month = 2;

