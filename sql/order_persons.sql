-- OneID in the nightly job: every order keyed by the person it belongs to, once, as
-- sql/event_persons.sql keys events (read it first). Reads `new_orders`; jobs/nightly.toml
-- keeps the rows as the state table `order_persons`.
--
-- Orders also carry the shop's buyer id, ranked after email and before openid.

CREATE VIEW order_persons_part AS
SELECT o.order_id, o.order_time, o.shop, o.amount, o.gross_margin, o.status, o.channel,
       o.campaign, o.dt, to_date(o.order_time AT TIME ZONE '${time_zone}') AS day, g.person_id,
       CASE WHEN g.person_id IS NULL AND o.anchor IS NOT NULL THEN o.anchor['id_type'] END AS anchor_id_type,
       CASE WHEN g.person_id IS NULL AND o.anchor IS NOT NULL THEN o.anchor['id_value'] END AS anchor_value
FROM (
  SELECT *,
    anchor_identifier(
      'member_id', member_id, 'unionid', unionid, 'phone', phone, 'email', email,
      shop || '_buyer_id', shop_buyer_id,
      'openid', CASE WHEN openid IS NOT NULL THEN coalesce(app_id, '') || ':' || openid END,
      'device_id', device_id, 'cookie_id', cookie_id) AS anchor
  FROM new_orders
) o
LEFT JOIN id_graph g ON g.id_type = o.anchor['id_type'] AND g.id_value = o.anchor['id_value'];
