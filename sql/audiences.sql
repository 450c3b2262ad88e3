-- Audiences as bitmaps: each day's active people, and the night's segments, each stored as one
-- bitmap of person_id (a BINARY value, roaring's portable format), so that a later query
-- combines them without going back to the events:
--
--   SELECT bitmap_and_count(a.people, b.people) FROM audience_segments a, audience_segments b
--   WHERE a.segment = 'lifecycle: silent' AND b.segment = 'active in the last 7 days';
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Publishes (as jobs/nightly.toml declares):
--   audience_daily     day, people (bitmap), active: who was active each day
--   audience_segments  family, segment, people (bitmap), size: behaviour in the last 7 and 30
--                      days of the lake, RFM classes and lifecycle layers (of customer_layers)
--   audience_overlap   for each layer segment and behaviour segment: how many of the layer's
--                      people are in the behaviour segment, and their share
--
-- The bitmaps hold this run's person_ids: a night that merges people renumbers some, so combine
-- bitmaps of one run (each run rebuilds them from event_persons, which follows the merges).
-- The behaviour segments name the funnel's events; edit them for other event names.

CREATE TABLE audience_daily AS
SELECT day, bitmap_agg(person_id) AS people, count(DISTINCT person_id) AS active
FROM event_persons
WHERE person_id IS NOT NULL
GROUP BY day;

CREATE VIEW audience_last_day AS SELECT max(day) AS day FROM audience_daily;

-- the last 30 days' events of known people, with their names as the tags of bitmap_expr
CREATE VIEW audience_recent_events AS
SELECT e.person_id, e.event_name
FROM event_persons e, audience_last_day l
WHERE e.person_id IS NOT NULL AND e.day > l.day - 30;

CREATE TABLE audience_segment_bitmaps AS
SELECT 'behaviour' AS family, 'active in the last 7 days' AS segment, 1 AS segment_order,
       bitmap_union(d.people) AS people
FROM audience_daily d, audience_last_day l WHERE d.day > l.day - 7
UNION ALL
SELECT 'behaviour', 'active in the last 30 days', 2, bitmap_union(d.people)
FROM audience_daily d, audience_last_day l WHERE d.day > l.day - 30
UNION ALL
SELECT 'behaviour', 'paid in the last 30 days', 3, bitmap_expr(person_id, event_name, 'pay_order')
FROM audience_recent_events
UNION ALL
SELECT 'behaviour', 'carted but did not pay in the last 30 days', 4,
       bitmap_expr(person_id, event_name, 'add_to_cart - pay_order')
FROM audience_recent_events
UNION ALL
SELECT 'rfm_8class', 'rfm: ' || rfm_class_code || ' ' || rfm_class_en, 10 + CAST(rfm_class_code AS INT),
       bitmap_agg(person_id)
FROM customer_layers WHERE rfm_class_code IS NOT NULL GROUP BY rfm_class_code, rfm_class_en
UNION ALL
SELECT 'lifecycle', 'lifecycle: ' || lifecycle, 1000, bitmap_agg(person_id)
FROM customer_layers WHERE lifecycle IS NOT NULL GROUP BY lifecycle;

CREATE TABLE audience_segments AS
SELECT family, segment, segment_order, people, bitmap_count(people) AS size
FROM audience_segment_bitmaps;

CREATE TABLE audience_overlap AS
SELECT l.family, l.segment, l.segment_order, b.segment AS behaviour, b.segment_order AS behaviour_order,
       l.size AS people, bitmap_and_count(l.people, b.people) AS in_behaviour,
       CASE WHEN l.size > 0 THEN round(bitmap_and_count(l.people, b.people) * 1.0 / l.size, 4) END AS share
FROM audience_segments l
JOIN audience_segments b ON b.family = 'behaviour'
WHERE l.family <> 'behaviour';

SELECT family, segment, size FROM audience_segments ORDER BY segment_order, segment;
