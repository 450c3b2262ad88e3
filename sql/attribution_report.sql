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

CREATE VIEW credited AS
SELECT 'first_touch' AS model, c['channel'] AS key, c['credit'] * amount AS revenue, c['credit'] * gross_margin AS margin
  FROM (SELECT unnest(first_touch) AS c, amount, gross_margin FROM order_credits)
UNION ALL
SELECT 'last_touch', c['channel'], c['credit'] * amount, c['credit'] * gross_margin
  FROM (SELECT unnest(last_touch) AS c, amount, gross_margin FROM order_credits)
UNION ALL
SELECT 'linear', c['channel'], c['credit'] * amount, c['credit'] * gross_margin
  FROM (SELECT unnest(linear) AS c, amount, gross_margin FROM order_credits)
UNION ALL
SELECT 'time_decay', c['channel'], c['credit'] * amount, c['credit'] * gross_margin
  FROM (SELECT unnest(time_decay) AS c, amount, gross_margin FROM order_credits)
UNION ALL
SELECT 'position_based', c['channel'], c['credit'] * amount, c['credit'] * gross_margin
  FROM (SELECT unnest(position_based) AS c, amount, gross_margin FROM order_credits)
UNION ALL
-- paid orders with no touch in the lookback, under every model
SELECT m.model, '(no touch) / -', o.amount, o.gross_margin
FROM order_persons o
CROSS JOIN (VALUES ('first_touch'), ('last_touch'), ('linear'), ('time_decay'), ('position_based')) AS m(model)
WHERE o.status = 'paid' AND o.order_id NOT IN (SELECT order_id FROM order_credits);

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

