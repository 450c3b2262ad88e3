-- OneID in the nightly job: every event keyed by the person it belongs to, once. Runs after
-- the identity step of jobs/nightly.toml, which stitched the identity graph (id_graph, with
-- unified ids and person numbers carried forward from the last committed run).
--
-- Reads `new_events`: the partitions of events no earlier run has keyed. jobs/nightly.toml
-- keeps the rows as the state table `event_persons` (OUT/state/event_persons/), whose readers
-- see every row with the person number it has tonight: numbers of people merged since are
-- followed to the survivor, and a split keys every row again (see the README's "Kept state").
--
-- The columns reports read, without the raw identifiers, plus the event's day in the job's
-- time_zone (computed once here, not per report) and person_id (the stitched person's dense
-- number; id_graph maps it to the unified_id). A row belongs to the person of
-- its most trusted valid identifier: anchor_identifier ranks them by the stitcher's priority,
-- as sql/identifier_sets.sql does for the edges (the same qualified openids: app_id:openid).
-- Offline device ids are store iPads, never a person. Rows whose only identifiers are
-- placeholders or hubs belong to nobody: person_id is NULL, they are not counted as people,
-- and their anchor is kept (anchor_id_type, anchor_value) so a later run can tell if it now
-- names a person.

CREATE VIEW event_persons_part AS
SELECT e.event_id, e.event_time, e.event_name, e.channel, e.campaign, e.platform, e.experiment,
       e.arm, e.dt, to_date(e.event_time AT TIME ZONE '${time_zone}') AS day, g.person_id,
       CASE WHEN g.person_id IS NULL AND e.anchor IS NOT NULL THEN e.anchor['id_type'] END AS anchor_id_type,
       CASE WHEN g.person_id IS NULL AND e.anchor IS NOT NULL THEN e.anchor['id_value'] END AS anchor_value
FROM (
  SELECT *,
    anchor_identifier(
      'member_id', member_id, 'unionid', unionid, 'phone', phone, 'email', email,
      'openid', CASE WHEN openid IS NOT NULL THEN coalesce(app_id, '') || ':' || openid END,
      'device_id', CASE WHEN platform <> 'offline' THEN device_id END,
      'cookie_id', cookie_id) AS anchor
  FROM new_events
) e
LEFT JOIN id_graph g ON g.id_type = e.anchor['id_type'] AND g.id_value = e.anchor['id_value'];
