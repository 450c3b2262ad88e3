-- OneID in the nightly job: key every event and order by the person (unified_id) it belongs
-- to. Runs after the identity step of jobs/nightly.toml, which stitched the identity graph
-- (sql/identity_edges.sql and the stitch builtin) and published it as id_graph, carrying
-- unified ids forward from the last committed run.
--
-- Hands on event_persons and order_persons: the columns of events and orders that reports
-- read, without the raw identifiers, plus person_id (the stitched person's dense number;
-- id_graph maps it to the unified_id, which order_persons also carries).

-- A row belongs to the person of its most trusted valid identifier: anchor_identifier ranks
-- them by the stitcher's priority, as sql/identity_edges.sql does for the edges (the same
-- qualified openids: app_id:openid). Offline device ids are store
-- iPads, never a person. Rows whose only identifiers are placeholders or hubs belong to
-- nobody: person_id is NULL and they are not counted as people.
CREATE VIEW event_persons AS
SELECT e.event_id, e.event_time, e.event_name, e.channel, e.campaign, e.platform, e.experiment,
       e.arm, e.dt, g.person_id
FROM (
  SELECT *,
    anchor_identifier(
      'member_id', member_id, 'unionid', unionid, 'phone', phone, 'email', email,
      'openid', CASE WHEN openid IS NOT NULL THEN coalesce(app_id, '') || ':' || openid END,
      'device_id', CASE WHEN platform <> 'offline' THEN device_id END,
      'cookie_id', cookie_id) AS anchor
  FROM events
) e
LEFT JOIN id_graph g ON g.id_type = e.anchor['id_type'] AND g.id_value = e.anchor['id_value'];

CREATE VIEW order_persons AS
SELECT o.order_id, o.order_time, o.shop, o.amount, o.gross_margin, o.status, o.channel,
       o.campaign, o.dt, g.person_id, g.unified_id
FROM (
  SELECT *,
    anchor_identifier(
      'member_id', member_id, 'unionid', unionid, 'phone', phone, 'email', email,
      shop || '_buyer_id', shop_buyer_id,
      'openid', CASE WHEN openid IS NOT NULL THEN coalesce(app_id, '') || ':' || openid END,
      'device_id', device_id, 'cookie_id', cookie_id) AS anchor
  FROM orders
) o
LEFT JOIN id_graph g ON g.id_type = o.anchor['id_type'] AND g.id_value = o.anchor['id_value'];
