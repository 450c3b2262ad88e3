-- The identity graph's edges: the recorded links (identity_edges) plus the identifiers seen
-- together on one event or one order. Creates the view `all_identity_edges`, the input of
-- stitch('all_identity_edges').
--
-- Each distinct set of identifiers on events (and on orders) links its most trusted valid
-- identifier (the anchor, by anchor_identifier: member_id, unionid, phone, email, shop buyer
-- id, openid, device_id, cookie_id) to each of the others, seen at the first time the set
-- occurred. Raw values are kept, so placeholders reach stitch and are reported in its rejected
-- edges. Openids are qualified by their app (app_id:openid), since an openid is unique only
-- within one app.
--
-- The sets come from `identifier_sets` (sql/identifier_sets.sql), which the nightly job keeps
-- from run to run: the parts of earlier runs, each the sets of the partitions it read, plus
-- this run's part. A set seen in several parts is merged here, at its earliest time.

-- A table, not a view: the eight branches below read it. The parts are merged on the
-- identifiers alone and each set's anchor computed after (grouping on the anchor columns too
-- made this statement three times slower). Sets with no valid identifier have no anchor and
-- are left out.
CREATE OR REPLACE TABLE anchored_identifier_sets AS
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
    FROM identifier_sets
    GROUP BY source, member_id, unionid, phone, email, buyer_type, buyer_id, openid, device_id,
             cookie_id
  )
)
WHERE anchor IS NOT NULL;

CREATE OR REPLACE VIEW all_identity_edges AS
SELECT a_type, a_value, b_type, b_value, seen_at, source FROM identity_edges
UNION ALL
SELECT anchor_id_type AS a_type, anchor_value AS a_value, b_type, b_value, seen_at, source
FROM (
  SELECT anchor_type, anchor_id_type, anchor_value, seen_at, source, 'member_id' AS b_type, member_id AS b_value
  FROM anchored_identifier_sets WHERE member_id IS NOT NULL AND anchor_type <> 'member_id'
  UNION ALL
  SELECT anchor_type, anchor_id_type, anchor_value, seen_at, source, 'unionid', unionid
  FROM anchored_identifier_sets WHERE unionid IS NOT NULL AND anchor_type <> 'unionid'
  UNION ALL
  SELECT anchor_type, anchor_id_type, anchor_value, seen_at, source, 'phone', phone
  FROM anchored_identifier_sets WHERE phone IS NOT NULL AND anchor_type <> 'phone'
  UNION ALL
  SELECT anchor_type, anchor_id_type, anchor_value, seen_at, source, 'email', email
  FROM anchored_identifier_sets WHERE email IS NOT NULL AND anchor_type <> 'email'
  UNION ALL
  SELECT anchor_type, anchor_id_type, anchor_value, seen_at, source, buyer_type, buyer_id
  FROM anchored_identifier_sets WHERE buyer_id IS NOT NULL AND anchor_type <> 'buyer'
  UNION ALL
  SELECT anchor_type, anchor_id_type, anchor_value, seen_at, source, 'openid', openid
  FROM anchored_identifier_sets WHERE openid IS NOT NULL AND anchor_type <> 'openid'
  UNION ALL
  SELECT anchor_type, anchor_id_type, anchor_value, seen_at, source, 'device_id', device_id
  FROM anchored_identifier_sets WHERE device_id IS NOT NULL AND anchor_type <> 'device_id'
  UNION ALL
  SELECT anchor_type, anchor_id_type, anchor_value, seen_at, source, 'cookie_id', cookie_id
  FROM anchored_identifier_sets WHERE cookie_id IS NOT NULL AND anchor_type <> 'cookie_id'
)
WHERE anchor_type IS NOT NULL;
