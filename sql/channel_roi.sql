-- Channel economics: per acquisition channel and campaign, what was spent, who came, what they
-- bought, whether it paid, and the GMV decomposition operators use.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Publishes (as jobs/nightly.toml declares) channel_roi.csv. Runs after sql/ltv_report.sql in the same job (it uses its
-- 12-month CLV). People are OneID unified ids; a person is acquired by the channel and campaign
-- of their first event. Per channel and campaign:
--   spend                 from costs ('organic' and other unpaid channels: 0)
--   new_people            people acquired
--   cac                   spend / new_people (NULL without spend)
--   buyers, first_order_rate   acquired people with a paid order, and their share
--   repurchase_30d        buyers with a second paid order within 30 days of their first / buyers
--   orders, gmv           their paid orders and the value of those
--   gross_margin          margin of their orders not refunded
--   roi                   (gross_margin - spend) / spend
--   ltv                   (gross margin to date + predicted 12-month CLV of margin) / new_people
--   ltv_cac               ltv / cac
--   traffic x conversion x aov x orders_per_buyer = gmv: new_people, buyers / new_people,
--   gmv / orders, orders / buyers (the product is the GMV, up to rounding)

-- Each person's first event (by time, then event id), found by groupings rather than a sort of
-- every event: the first time per person (a plain min), then among the person's events at that
-- time the one of the smallest id (twice as fast as ordering every person's events by time and
-- id); a table, since two of the views below read it.
CREATE TABLE roi_acquisition AS
WITH first_times AS (
  SELECT person_id, min(event_time) AS first_time
  FROM event_persons WHERE person_id IS NOT NULL
  GROUP BY person_id
)
SELECT f.person_id,
       coalesce(first_value(e.channel ORDER BY e.event_id), 'unknown') AS channel,
       coalesce(first_value(e.campaign ORDER BY e.event_id), 'none') AS campaign
FROM first_times f
JOIN event_persons e ON e.person_id = f.person_id AND e.event_time = f.first_time
GROUP BY f.person_id;

-- A table: the buyers and the sales below both read it, and as a view its window would sort
-- every order twice inside one statement (at 100M events that statement's sorts could not
-- share 4 GB).
CREATE TABLE roi_orders AS
SELECT a.channel, a.campaign, o.person_id, o.order_id, o.order_time, o.amount, o.gross_margin, o.status,
       row_number() OVER (PARTITION BY o.person_id ORDER BY o.order_time, o.order_id) AS nth
FROM order_persons o JOIN roi_acquisition a ON a.person_id = o.person_id
WHERE o.status IN ('paid', 'refunded');

CREATE VIEW roi_buyers AS
SELECT channel, campaign, person_id,
       min(order_time) FILTER (WHERE nth = 1) AS first_order,
       min(order_time) FILTER (WHERE nth = 2) AS second_order
FROM roi_orders GROUP BY channel, campaign, person_id;

CREATE TABLE channel_roi AS
WITH spend AS (
  SELECT channel, campaign, sum(spend) AS spend FROM costs GROUP BY channel, campaign
),
acquired AS (
  SELECT channel, campaign, count(*) AS new_people FROM roi_acquisition GROUP BY channel, campaign
),
bought AS (
  SELECT channel, campaign, count(*) AS buyers,
         count(*) FILTER (WHERE second_order <= first_order + INTERVAL '30 days') AS repurchasers
  FROM roi_buyers GROUP BY channel, campaign
),
sales AS (
  SELECT channel, campaign, count(*) AS orders, sum(amount) AS gmv,
         sum(CASE WHEN status = 'paid' THEN gross_margin ELSE 0 END) AS gross_margin
  FROM roi_orders GROUP BY channel, campaign
),
future AS (
  SELECT a.channel, a.campaign, sum(r.clv_12m) AS clv_12m
  FROM ltv_report r JOIN roi_acquisition a ON a.person_id = r.person_id GROUP BY a.channel, a.campaign
)
SELECT
  a.channel, a.campaign,
  round(coalesce(s.spend, 0), 2) AS spend,
  a.new_people,
  round(s.spend / a.new_people, 2) AS cac,
  coalesce(b.buyers, 0) AS buyers,
  round(coalesce(b.buyers, 0) * 1.0 / a.new_people, 4) AS first_order_rate,
  CASE WHEN b.buyers > 0 THEN round(b.repurchasers * 1.0 / b.buyers, 4) END AS repurchase_30d,
  coalesce(x.orders, 0) AS orders,
  round(coalesce(x.gmv, 0), 2) AS gmv,
  round(coalesce(x.gross_margin, 0), 2) AS gross_margin,
  CASE WHEN s.spend > 0 THEN round((coalesce(x.gross_margin, 0) - s.spend) / s.spend, 4) END AS roi,
  round((coalesce(x.gross_margin, 0) + coalesce(f.clv_12m, 0)) / a.new_people, 2) AS ltv,
  CASE WHEN s.spend > 0 THEN
    round((coalesce(x.gross_margin, 0) + coalesce(f.clv_12m, 0)) / s.spend, 4) END AS ltv_cac,
  a.new_people AS traffic,
  round(coalesce(b.buyers, 0) * 1.0 / a.new_people, 4) AS conversion,
  CASE WHEN x.orders > 0 THEN round(x.gmv / x.orders, 2) END AS aov,
  CASE WHEN b.buyers > 0 THEN round(x.orders * 1.0 / b.buyers, 4) END AS orders_per_buyer
FROM acquired a
LEFT JOIN spend s ON s.channel = a.channel AND s.campaign = a.campaign
LEFT JOIN bought b ON b.channel = a.channel AND b.campaign = a.campaign
LEFT JOIN sales x ON x.channel = a.channel AND x.campaign = a.campaign
LEFT JOIN future f ON f.channel = a.channel AND f.campaign = a.campaign;

