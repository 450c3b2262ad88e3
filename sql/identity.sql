-- OneID in the nightly job: key every event and order by the person (unified_id) it belongs
-- to. Runs after the identity step of jobs/nightly.toml, which stitched the identity graph
-- (sql/identity_edges.sql and the stitch builtin) and published it as id_graph, carrying
-- unified ids forward from the last committed run.
--
-- Hands on event_persons and order_persons: the columns of events and orders that reports
-- read, without the raw identifiers, plus person_id (the stitched person's dense number;
-- id_graph maps it to the unified_id, which order_persons also carries).

-- A row belongs to the person of its most trusted valid identifier (the anchor that
-- sql/identity_edges.sql linked every other identifier of the row to). Offline device ids are
-- store iPads, never a person. Rows whose only identifiers are placeholders or hubs belong to
-- nobody: person_id is NULL and they are not counted as people.
CREATE VIEW event_persons AS
SELECT e.event_id, e.event_time, e.event_name, e.channel, e.campaign, e.platform, e.experiment,
       e.arm, e.dt, g.person_id
FROM (
  SELECT *, anchor['id_type'] AS anchor_type, anchor['id_value'] AS anchor_value
  FROM (
    SELECT *,
      CASE
        WHEN normalize_id('member_id', member_id) IS NOT NULL
          THEN named_struct('id_type', 'member_id', 'id_value', normalize_id('member_id', member_id))
        WHEN normalize_id('unionid', unionid) IS NOT NULL
          THEN named_struct('id_type', 'unionid', 'id_value', normalize_id('unionid', unionid))
        WHEN normalize_id('phone', phone) IS NOT NULL
          THEN named_struct('id_type', 'phone', 'id_value', normalize_id('phone', phone))
        WHEN normalize_id('email', email) IS NOT NULL
          THEN named_struct('id_type', 'email', 'id_value', normalize_id('email', email))
        WHEN openid IS NOT NULL AND normalize_id('openid', openid) IS NOT NULL
          THEN named_struct('id_type', 'openid', 'id_value', normalize_id('openid', coalesce(app_id, '') || ':' || openid))
        WHEN platform <> 'offline' AND normalize_id('device_id', device_id) IS NOT NULL
          THEN named_struct('id_type', 'device_id', 'id_value', normalize_id('device_id', device_id))
        WHEN normalize_id('cookie_id', cookie_id) IS NOT NULL
          THEN named_struct('id_type', 'cookie_id', 'id_value', normalize_id('cookie_id', cookie_id))
      END AS anchor
    FROM events
  )
) e
LEFT JOIN id_graph g ON g.id_type = e.anchor_type AND g.id_value = e.anchor_value;

CREATE VIEW order_persons AS
SELECT o.order_id, o.order_time, o.shop, o.amount, o.gross_margin, o.status, o.channel,
       o.campaign, o.dt, g.person_id, g.unified_id
FROM (
  SELECT *, anchor['id_type'] AS anchor_type, anchor['id_value'] AS anchor_value
  FROM (
    SELECT *,
      CASE
        WHEN normalize_id('member_id', member_id) IS NOT NULL
          THEN named_struct('id_type', 'member_id', 'id_value', normalize_id('member_id', member_id))
        WHEN normalize_id('unionid', unionid) IS NOT NULL
          THEN named_struct('id_type', 'unionid', 'id_value', normalize_id('unionid', unionid))
        WHEN normalize_id('phone', phone) IS NOT NULL
          THEN named_struct('id_type', 'phone', 'id_value', normalize_id('phone', phone))
        WHEN normalize_id('email', email) IS NOT NULL
          THEN named_struct('id_type', 'email', 'id_value', normalize_id('email', email))
        WHEN normalize_id('buyer', shop_buyer_id) IS NOT NULL
          THEN named_struct('id_type', shop || '_buyer_id', 'id_value', normalize_id('buyer', shop_buyer_id))
        WHEN openid IS NOT NULL AND normalize_id('openid', openid) IS NOT NULL
          THEN named_struct('id_type', 'openid', 'id_value', normalize_id('openid', coalesce(app_id, '') || ':' || openid))
        WHEN normalize_id('device_id', device_id) IS NOT NULL
          THEN named_struct('id_type', 'device_id', 'id_value', normalize_id('device_id', device_id))
        WHEN normalize_id('cookie_id', cookie_id) IS NOT NULL
          THEN named_struct('id_type', 'cookie_id', 'id_value', normalize_id('cookie_id', cookie_id))
      END AS anchor
    FROM orders
  )
) o
LEFT JOIN id_graph g ON g.id_type = o.anchor_type AND g.id_value = o.anchor_value;
