-- Funnel report: users reaching each step, step-to-step and overall conversion, and the
-- median and p90 time to convert per step, by the channel of each user's entry step.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--     --var steps="'follow_account','view_content','add_to_cart','pay_order'" \
--     --var window="INTERVAL '7 days'" --var from=2026-01-01 --var to=2026-03-01
--
-- Variables (all optional):
--   steps   the event names of the steps, in order, as SQL string literals (up to 8)
--   window  the conversion window, measured from the entry step (an INTERVAL such as
--           INTERVAL '7 days')
--   mode    window_funnel's mode ('' by default; e.g. strict_order, or optional 3: step 3
--           may be skipped, and took_step counts the users who took it)
--   exclude, exclude_event
--           an exclusion: exclude="exclude 9 from 2 to 4" with exclude_event="'refund'" drops
--           every chain with a refund after its step 2 and before its step 4 (the excluded
--           event is condition 9, after the 8 step slots); '' and NULL by default
--   from,to the dates (Asia/Shanghai) whose events are read; the entry step must fall in them
--   breakdown, breakdown_step
--           a second breakdown: the value of the SQL expression `breakdown` over event_persons'
--           columns (platform by default; e.g. campaign) on the row of each user's step
--           `breakdown_step` (1 by default), published as funnel_breakdown
--
-- Publishes (as jobs/nightly.toml declares):
--   funnel_report          one row per (entry channel, step), plus channel 'all': users
--                          (reached the step or a later one), took_step (took the step
--                          itself; fewer only for optional steps), conversions, median and
--                          p90 seconds from the step taken before
--   funnel_trend           per week of entry and step: users, conversion from entry
--   funnel_time_to_convert per step after the first: users by time from the step before
--   funnel_breakdown       per value of `breakdown` on step `breakdown_step` and step from
--                          it on: users and conversion from that step
--   funnel_correlation     which events and entry properties go with converting: per item,
--                          the converters and drop-offs who had it, the odds ratio with its
--                          95% interval, and a flag for counts too small to trust
--   funnel_dropoffs        each user who entered and stopped early: the last step reached,
--                          the event that reached it (event_id) and the step missed, for the
--                          operators
-- The breakdowns are attributed to the rows of each user's reported chain (the channel of its
-- entry step, `breakdown` on its step `breakdown_step`), not to the events themselves (a
-- GROUP BY channel over events would split chains). The chain's times come from
-- window_funnel_detail and its rows are found again by (person, time, event name): for a
-- whole lake that is cheaper than window_funnel_values, which would keep three strings with
-- every matched event (1.2 s and 720 MB against 0.85 s and 290 MB, 10M events).
-- Users are OneID people (person_id), from event_persons, keyed earlier in the same job.

CREATE VIEW funnel_steps AS
SELECT k AS step_number, (make_array(${steps}))[k] AS step
FROM unnest(range(1, CAST(array_length(make_array(${steps})) AS BIGINT) + 1)) AS t(k);

CREATE VIEW funnel_events AS
SELECT
  person_id, event_id,
  event_time, event_name, coalesce(channel, 'unknown') AS channel,
  CAST(${breakdown} AS VARCHAR) AS breakdown
FROM event_persons
WHERE dt BETWEEN DATE '${from}' AND DATE '${to}' + INTERVAL '3 days'
  AND day BETWEEN DATE '${from}' AND DATE '${to}';

CREATE TABLE funnel_people AS
SELECT person_id, f['level'] AS level, f['step_times'][1] AS entry_time, f['step_times'] AS times,
       f['step_seconds'] AS seconds
FROM (
  SELECT person_id,
    window_funnel_detail(${window}, '${mode},${exclude}', event_time,
      event_name = (make_array(${steps}))[1],
      event_name = (make_array(${steps}))[2],
      event_name = (make_array(${steps}))[3],
      event_name = (make_array(${steps}))[4],
      event_name = (make_array(${steps}))[5],
      event_name = (make_array(${steps}))[6],
      event_name = (make_array(${steps}))[7],
      event_name = (make_array(${steps}))[8],
      -- condition 9: the excluded event, when `exclude` names it
      event_name = ${exclude_event}) AS f
  FROM funnel_events
  WHERE person_id IS NOT NULL
  GROUP BY person_id
);

-- The rows of the chain's steps the report names: the entry step (its channel), step
-- ${breakdown_step} (the breakdown) and the last step reached (its event, for the drop-off
-- lists). A step's row is the person's event at the step's time with the step's name; of
-- several such rows, the smallest values are kept, so the result never depends on row order.
CREATE TABLE funnel_chain_rows AS
WITH wanted AS (
  SELECT DISTINCT person_id, k AS step_number, times[k] AS event_time,
         (make_array(${steps}))[k] AS event_name
  FROM (SELECT person_id, times, unnest(make_array(1, ${breakdown_step}, level)) AS k
        FROM funnel_people WHERE level >= 1)
  -- a step past the level, or an optional step the chain skipped, has no row
  WHERE times[k] IS NOT NULL
)
SELECT w.person_id, w.step_number, min(e.event_id) AS event_id, min(e.channel) AS channel,
       min(e.breakdown) AS breakdown
FROM wanted w
JOIN funnel_events e
  ON e.person_id = w.person_id AND e.event_time = w.event_time AND e.event_name = w.event_name
GROUP BY w.person_id, w.step_number;

-- Each entered user, with the channel of the entry step, `breakdown` on step
-- ${breakdown_step} (NULL short of it) and the event of the last step reached.
CREATE TABLE funnel_entries AS
SELECT p.person_id, entry.channel, p.level, p.times, p.seconds, p.entry_time,
       chosen.breakdown, last.event_id AS last_event_id
FROM funnel_people p
JOIN funnel_chain_rows entry ON entry.person_id = p.person_id AND entry.step_number = 1
LEFT JOIN funnel_chain_rows chosen
  ON chosen.person_id = p.person_id AND chosen.step_number = ${breakdown_step}
JOIN funnel_chain_rows last ON last.person_id = p.person_id AND last.step_number = p.level
WHERE p.level >= 1;

-- Each entered user counts at the steps they reached (an inequality join, so the median and
-- p90 read only those rows), and every channel shows every step, with 0 users where no one
-- of the channel got that far.
CREATE TABLE funnel_report AS
WITH reached AS (
  SELECT
    e.channel,
    s.step_number,
    count(*) AS users,
    count(e.times[s.step_number]) AS took_step,
    median(e.seconds[s.step_number - 1]) AS median_seconds,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY e.seconds[s.step_number - 1]) AS p90_seconds
  FROM funnel_entries e JOIN funnel_steps s ON e.level >= s.step_number
  GROUP BY GROUPING SETS ((e.channel, s.step_number), (s.step_number))
),
by_step AS (
  SELECT
    coalesce(c.channel, 'all') AS channel, s.step_number, s.step,
    coalesce(r.users, 0) AS users, coalesce(r.took_step, 0) AS took_step,
    r.median_seconds, r.p90_seconds
  FROM (SELECT DISTINCT channel FROM funnel_entries UNION ALL SELECT NULL) c
  CROSS JOIN funnel_steps s
  LEFT JOIN reached r
    ON (r.channel IS NOT DISTINCT FROM c.channel) AND r.step_number = s.step_number
)
SELECT
  channel, step_number, step, users, took_step,
  round(CAST(users AS DOUBLE) / nullif(lag(users) OVER (PARTITION BY channel ORDER BY step_number), 0), 4) AS step_conversion,
  round(CAST(users AS DOUBLE) / nullif(first_value(users) OVER (PARTITION BY channel ORDER BY step_number), 0), 4) AS overall_conversion,
  round(median_seconds, 1) AS median_seconds_to_step,
  round(p90_seconds, 1) AS p90_seconds_to_step
FROM by_step;

SELECT * FROM funnel_report WHERE channel = 'all' ORDER BY step_number;

-- The trend: per week of entry (the week of each user's step 1, in ${time_zone}), the users
-- entering and those reaching each step, with the conversion from entry. Every week lists
-- every step.
CREATE TABLE funnel_trend AS
WITH entered AS (
  SELECT person_id, level,
         CAST(date_trunc('week', entry_time AT TIME ZONE '${time_zone}') AS DATE) AS entry_week
  FROM funnel_entries
),
reached AS (
  SELECT e.entry_week, s.step_number, count(*) AS users
  FROM entered e JOIN funnel_steps s ON e.level >= s.step_number
  GROUP BY e.entry_week, s.step_number
)
SELECT w.entry_week, s.step_number, s.step, coalesce(r.users, 0) AS users,
       round(CAST(coalesce(r.users, 0) AS DOUBLE)
             / first_value(r.users) OVER (PARTITION BY w.entry_week ORDER BY s.step_number), 4)
         AS conversion_from_entry
FROM (SELECT DISTINCT entry_week FROM entered) w
CROSS JOIN funnel_steps s
LEFT JOIN reached r ON r.entry_week = w.entry_week AND r.step_number = s.step_number;

-- Time to convert: for each step after the first, how many users took it how long after the
-- step they took before, in buckets an operator can chart (bucket_order sorts them). Every
-- step lists every bucket, 0 where nobody fell in it, so a chart shows the empty buckets.
CREATE TABLE funnel_time_to_convert AS
WITH conversions AS (
  SELECT s.step_number, s.step, e.seconds[s.step_number - 1] AS seconds
  FROM funnel_entries e JOIN funnel_steps s ON e.level >= s.step_number AND s.step_number >= 2
  -- an optional step the user skipped has no time
  WHERE e.seconds[s.step_number - 1] IS NOT NULL
),
bucketed AS (
  SELECT step_number,
         CASE WHEN seconds <= 60 THEN 1 WHEN seconds <= 600 THEN 2 WHEN seconds <= 3600 THEN 3
              WHEN seconds <= 21600 THEN 4 WHEN seconds <= 86400 THEN 5
              WHEN seconds <= 259200 THEN 6 ELSE 7 END AS bucket_order
  FROM conversions
),
buckets(bucket_order, bucket) AS (
  VALUES (1, 'up to 1 min'), (2, '1-10 min'), (3, '10-60 min'), (4, '1-6 h'), (5, '6-24 h'),
         (6, '1-3 days'), (7, 'over 3 days')
)
SELECT s.step_number, s.step, b.bucket_order, b.bucket, count(c.bucket_order) AS users
FROM funnel_steps s
CROSS JOIN buckets b
LEFT JOIN bucketed c ON c.step_number = s.step_number AND c.bucket_order = b.bucket_order
WHERE s.step_number >= 2
GROUP BY s.step_number, s.step, b.bucket_order, b.bucket;

-- The drop-offs, for the operators to follow up: every user who entered and stopped before
-- the last step, with the last step reached and the one they did not take.
CREATE TABLE funnel_dropoffs AS
SELECT e.person_id, e.channel, e.entry_time, e.level AS last_step_number, s.step AS last_step,
       e.last_event_id, n.step AS missed_step
FROM funnel_entries e
JOIN funnel_steps s ON s.step_number = e.level
JOIN funnel_steps n ON n.step_number = e.level + 1;

-- The second breakdown: per value of `breakdown` on step ${breakdown_step} ('(none)' for a
-- NULL value) and each step from it on, the users reaching the step and the conversion from
-- step ${breakdown_step}. Every value lists every such step.
CREATE TABLE funnel_breakdown AS
WITH valued AS (
  SELECT coalesce(breakdown, '(none)') AS breakdown, level
  FROM funnel_entries
  WHERE level >= ${breakdown_step}
),
reached AS (
  SELECT v.breakdown, s.step_number, count(*) AS users
  FROM valued v JOIN funnel_steps s ON v.level >= s.step_number AND s.step_number >= ${breakdown_step}
  GROUP BY v.breakdown, s.step_number
)
SELECT b.breakdown, s.step_number, s.step, coalesce(r.users, 0) AS users,
       round(CAST(coalesce(r.users, 0) AS DOUBLE)
             / first_value(r.users) OVER (PARTITION BY b.breakdown ORDER BY s.step_number), 4)
         AS conversion_from_breakdown_step
FROM (SELECT DISTINCT breakdown FROM valued) b
CROSS JOIN funnel_steps s
LEFT JOIN reached r ON r.breakdown = b.breakdown AND r.step_number = s.step_number
WHERE s.step_number >= ${breakdown_step};

-- Correlation (PostHog's correlation analysis): which events, and which properties of the
-- entry step, set the users who completed the funnel apart from those who dropped off. A
-- converter's events are those from the entry step to the last step, a drop-off's those from
-- the entry step to the end of the window; the steps' own events are left out. Each entered
-- user also gives a row without an item, so that users without any count in the totals.
CREATE TABLE funnel_correlation AS
-- (The number of steps comes from the steps' array, not a scalar subquery over funnel_steps:
-- a subquery's join made the plan's nullability differ between the logical and physical
-- plans on workers.)
WITH outcomes AS (
  SELECT person_id, channel, breakdown, entry_time,
         level = array_length(make_array(${steps})) AS converted,
         CASE WHEN level = array_length(make_array(${steps})) THEN times[level]
              ELSE entry_time + ${window} END AS window_end
  FROM funnel_entries
),
items AS (
  SELECT 'event' AS kind, o.person_id, o.converted, e.event_name AS item
  FROM outcomes o JOIN funnel_events e
    ON e.person_id = o.person_id AND e.event_time >= o.entry_time AND e.event_time <= o.window_end
  WHERE NOT array_has(make_array(${steps}), e.event_name)
  UNION ALL
  SELECT 'event', person_id, converted, NULL FROM outcomes
  UNION ALL
  SELECT 'property', person_id, converted, 'channel: ' || channel FROM outcomes
  UNION ALL
  SELECT 'property', person_id, converted, 'breakdown: ' || coalesce(breakdown, '(none)')
  FROM outcomes
)
SELECT kind, c['item'] AS item, c['success_count'] AS converters_with_item,
       c['failure_count'] AS dropoffs_with_item, c['success_total'] AS converters,
       c['failure_total'] AS dropoffs, round(c['odds_ratio'], 4) AS odds_ratio,
       round(c['ci_low'], 4) AS ci_low, round(c['ci_high'], 4) AS ci_high,
       -- how far from no association the item is, for ordering: |ln odds ratio|
       round(abs(ln(c['odds_ratio'])), 6) AS strength,
       c['correlation'] AS correlation, c['small_counts'] AS small_counts
FROM (SELECT kind, unnest(funnel_correlation(person_id, converted, item)) AS c
      FROM items GROUP BY kind);
