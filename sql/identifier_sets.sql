-- The distinct sets of identifiers seen together on one event or one order, each at the first
-- time it occurred and with its anchor: its most trusted valid identifier (anchor_identifier,
-- the stitcher's priority, the same function sql/identity.sql keys events and orders with).
-- Openids are qualified by their app (app_id:openid). Sets with no valid identifier are left
-- out.
--
-- Reads `new_events` and `new_orders`: in the nightly job, the partitions of events and orders
-- that no earlier run has read (jobs/nightly.toml keeps the result as the state table
-- `identifier_sets`, one part per run; sql/identity_edges.sql merges the parts). Defines the
-- view `identifier_sets_part`.

CREATE VIEW identifier_sets_part AS
SELECT seen_at, source, member_id, unionid, phone, email, buyer_type, buyer_id, openid,
       device_id, cookie_id,
       anchor['id_type'] AS anchor_id_type, anchor['id_value'] AS anchor_value,
       CASE WHEN anchor['id_type'] = lower(buyer_type) THEN 'buyer' ELSE anchor['id_type'] END AS anchor_type
FROM (
  SELECT *,
    anchor_identifier('member_id', member_id, 'unionid', unionid, 'phone', phone,
                      'email', email, buyer_type, buyer_id, 'openid', openid,
                      'device_id', device_id, 'cookie_id', cookie_id) AS anchor
  FROM (
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
             cookie_id
  )
)
WHERE anchor IS NOT NULL;
