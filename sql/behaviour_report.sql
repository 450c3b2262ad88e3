-- Behaviour beyond funnels: user flows (paths), the weekly lifecycle of active people and of
-- payers, and stickiness.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Variables (all optional):
--   path_days     the lake's last days whose events the flows read (28)
--   path_steps    the most steps of a flow from its anchor (5)
--   path_end      the event name the second flow leads to ('pay_order')
--   session_gap   the inactivity that ends a session (INTERVAL '30 minutes')
--
-- Publishes (as jobs/nightly.toml declares):
--   user_paths          Sankey edges of two flows over the last ${path_days} days: where
--                       sessions go from their start ('from session start'), and the steps
--                       leading to ${path_end} ('before ...'); per edge: depth, source,
--                       target (NULL: the session ended, or began), people, paths (sessions),
--                       median seconds. Repeated events are collapsed.
--   activity_lifecycle  per week (of ${time_zone} days) and population ('active': any event;
--                       'paying': pay_order): new, returning, resurrecting and dormant people
--                       (columns new_people, ...: RETURNING is an SQL keyword)
--   stickiness          per week and per month: the people active on exactly and at least N
--                       days, and their shares of the period's active people
--
-- People are OneID people (person_id), from event_persons, keyed earlier in the same job.

CREATE VIEW behaviour_last_day AS SELECT max(day) AS day FROM event_persons;

CREATE VIEW path_events AS
SELECT e.person_id, e.event_time, e.event_name
FROM event_persons e, behaviour_last_day l
WHERE e.person_id IS NOT NULL AND e.day > l.day - ${path_days};

CREATE TABLE user_paths AS
SELECT 'from session start' AS flow, 1 AS flow_order, e['depth'] AS depth, e['from'] AS source,
       e['to'] AS target, e['people'] AS people, e['paths'] AS paths,
       round(e['median_seconds'], 1) AS median_seconds
FROM (SELECT unnest(path_edges(person_id, event_time, event_name, true, 'after', ${path_steps},
                               ${session_gap}, true)) AS e
      FROM path_events)
UNION ALL
SELECT 'before ' || ${path_end}, 2, e['depth'], e['from'], e['to'], e['people'], e['paths'],
       round(e['median_seconds'], 1)
FROM (SELECT unnest(path_edges(person_id, event_time, event_name, event_name = ${path_end},
                               'before', ${path_steps}, ${session_gap}, true)) AS e
      FROM path_events);

-- Payers' lifecycle counts a first purchase as new (their first_seen is their first payment),
-- so 'resurrecting' payers are won back, not merely back in the app.
CREATE TABLE activity_lifecycle AS
SELECT 'active' AS population, l['period'] AS week, l['new'] AS new_people,
       l['returning'] AS returning_people, l['resurrecting'] AS resurrecting_people,
       l['dormant'] AS dormant_people, l['active'] AS active_people, l['complete'] AS complete
FROM (SELECT unnest(activity_lifecycle(person_id, day, 'week')) AS l
      FROM event_persons WHERE person_id IS NOT NULL)
UNION ALL
SELECT 'paying', l['period'], l['new'], l['returning'], l['resurrecting'], l['dormant'],
       l['active'], l['complete']
FROM (SELECT unnest(activity_lifecycle(person_id, e.day, 'week', NULL, last.day)) AS l
      FROM event_persons e, behaviour_last_day last
      WHERE person_id IS NOT NULL AND event_name = 'pay_order'
      GROUP BY last.day);

CREATE TABLE stickiness AS
SELECT 'week' AS period_type, s['period'] AS period, s['days'] AS days, s['people'] AS people,
       s['people_at_least'] AS people_at_least, s['active_people'] AS active_people,
       round(s['share'], 4) AS share, round(s['share_at_least'], 4) AS share_at_least,
       s['complete'] AS complete
FROM (SELECT unnest(stickiness(person_id, day, 'week')) AS s
      FROM event_persons WHERE person_id IS NOT NULL)
UNION ALL
SELECT 'month', s['period'], s['days'], s['people'], s['people_at_least'], s['active_people'],
       round(s['share'], 4), round(s['share_at_least'], 4), s['complete']
FROM (SELECT unnest(stickiness(person_id, day, 'month')) AS s
      FROM event_persons WHERE person_id IS NOT NULL);
