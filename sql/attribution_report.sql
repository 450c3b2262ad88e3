-- Revenue and margin credited per channel and campaign under each attribution model, side by
-- side, for paid orders, from the marketing touches that preceded them.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Variables: lookback (default INTERVAL '30 days'): touches older than that before an order do
-- not count; half_life (default INTERVAL '7 days') for time_decay.
-- Publishes (as jobs/nightly.toml declares) attribution_report.csv: channel, campaign, then revenue_* and margin_* under
-- first_touch, last_touch, linear, time_decay and position_based (40/20/40). Each column sums
-- to the revenue (margin) of the orders that had a touch; orders without one are on the
-- '(no touch)' row. Touches belong to the person of the visit they preceded (event_persons of
-- sql/identity.sql, run earlier in the same job); margin is that of orders not refunded.

CREATE VIEW touch_persons AS
SELECT e.person_id, t.touch_time, t.channel || ' / ' || coalesce(t.campaign, '-') AS channel_campaign
FROM touches t JOIN event_persons e ON e.event_id = t.event_id
WHERE e.person_id IS NOT NULL;

CREATE TABLE order_credits AS
SELECT
  o.order_id, o.amount, o.gross_margin,
  attribution('first_touch', t.touch_time, t.channel_campaign, o.order_time) AS first_touch,
  attribution('last_touch', t.touch_time, t.channel_campaign, o.order_time) AS last_touch,
  attribution('linear', t.touch_time, t.channel_campaign, o.order_time) AS linear,
  attribution('time_decay', t.touch_time, t.channel_campaign, o.order_time, ${half_life}) AS time_decay,
  attribution('position_based', t.touch_time, t.channel_campaign, o.order_time) AS position_based
-- the start of each order's lookback computed once per order, not once per candidate touch
FROM (SELECT *, order_time - ${lookback} AS lookback_start FROM order_persons) o
JOIN touch_persons t
  ON t.person_id = o.person_id AND t.touch_time <= o.order_time
 AND t.touch_time > o.lookback_start
WHERE o.status = 'paid'
GROUP BY o.order_id, o.amount, o.gross_margin;

-- Each model's credit summed per channel and campaign first (a few hundred rows), then set side
-- by side.
CREATE VIEW credited AS
SELECT model, key, sum(credit * amount) AS revenue, sum(credit * gross_margin) AS margin
FROM (
  SELECT model, c['channel'] AS key, c['credit'] AS credit, amount, gross_margin
  FROM (
  SELECT 'first_touch' AS model, unnest(first_touch) AS c, amount, gross_margin FROM order_credits
  UNION ALL
  SELECT 'last_touch', unnest(last_touch), amount, gross_margin FROM order_credits
  UNION ALL
  SELECT 'linear', unnest(linear), amount, gross_margin FROM order_credits
  UNION ALL
  SELECT 'time_decay', unnest(time_decay), amount, gross_margin FROM order_credits
  UNION ALL
  SELECT 'position_based', unnest(position_based), amount, gross_margin FROM order_credits
  )
)
GROUP BY model, key
UNION ALL
-- paid orders with no touch in the lookback, the same under every model
SELECT m.model, '(no touch) / -', n.revenue, n.margin
FROM (
  SELECT count(*) AS orders, sum(amount) AS revenue, sum(gross_margin) AS margin
  FROM order_persons
  WHERE status = 'paid' AND order_id NOT IN (SELECT order_id FROM order_credits)
) n
CROSS JOIN (VALUES ('first_touch'), ('last_touch'), ('linear'), ('time_decay'), ('position_based')) AS m(model)
WHERE n.orders > 0;

CREATE TABLE attribution_report AS
SELECT
  split_part(key, ' / ', 1) AS channel,
  split_part(key, ' / ', 2) AS campaign,
  round(sum(revenue) FILTER (WHERE model = 'first_touch'), 2) AS revenue_first_touch,
  round(sum(revenue) FILTER (WHERE model = 'last_touch'), 2) AS revenue_last_touch,
  round(sum(revenue) FILTER (WHERE model = 'linear'), 2) AS revenue_linear,
  round(sum(revenue) FILTER (WHERE model = 'time_decay'), 2) AS revenue_time_decay,
  round(sum(revenue) FILTER (WHERE model = 'position_based'), 2) AS revenue_position_based,
  round(sum(margin) FILTER (WHERE model = 'first_touch'), 2) AS margin_first_touch,
  round(sum(margin) FILTER (WHERE model = 'last_touch'), 2) AS margin_last_touch,
  round(sum(margin) FILTER (WHERE model = 'linear'), 2) AS margin_linear,
  round(sum(margin) FILTER (WHERE model = 'time_decay'), 2) AS margin_time_decay,
  round(sum(margin) FILTER (WHERE model = 'position_based'), 2) AS margin_position_based
FROM credited
GROUP BY 1, 2;
