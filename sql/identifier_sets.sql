-- The distinct sets of identifiers seen together on one event or one order, each at the first
-- time it occurred. Openids are qualified by their app (app_id:openid).
--
-- Reads `new_events` and `new_orders`: in the nightly job, the partitions of events and orders
-- that no earlier run has read (jobs/nightly.toml keeps the result as the state table
-- `identifier_sets`, one part per run; sql/identity_edges.sql merges the parts and gives each
-- set its anchor). Defines the view `identifier_sets_part`.

CREATE VIEW identifier_sets_part AS
SELECT min(seen_at) AS seen_at, source, member_id, unionid, phone, email, buyer_type,
       buyer_id, openid, device_id, cookie_id
FROM (
  SELECT event_time AS seen_at, 'event' AS source, member_id, unionid, phone, email,
         CAST(NULL AS VARCHAR) AS buyer_type, CAST(NULL AS VARCHAR) AS buyer_id,
         CASE WHEN openid IS NOT NULL THEN coalesce(app_id, '') || ':' || openid END AS openid,
         device_id, cookie_id
  FROM new_events
  UNION ALL
  SELECT order_time, 'order_' || shop, member_id, unionid, phone, email,
         CASE WHEN shop_buyer_id IS NOT NULL THEN shop || '_buyer_id' END, shop_buyer_id,
         CASE WHEN openid IS NOT NULL THEN coalesce(app_id, '') || ':' || openid END,
         device_id, cookie_id
  FROM new_orders
)
GROUP BY source, member_id, unionid, phone, email, buyer_type, buyer_id, openid, device_id,
         cookie_id;
