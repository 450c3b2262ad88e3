-- Funnel report: users reaching each step, step-to-step and overall conversion, and the
-- median and p90 time to convert per step, by the channel of each user's entry step.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--     --var steps="'follow_account','view_content','add_to_cart','pay_order'" \
--     --var window="INTERVAL '7 days'" --var from=2026-01-01 --var to=2026-03-01
--
-- Variables (all optional):
--   steps   the event names of the steps, in order, as SQL string literals (up to 8)
--   window  the conversion window, measured from the entry step (an INTERVAL or seconds)
--   mode    window_funnel's mode ('' by default; e.g. strict_order)
--   from,to the dates (Asia/Shanghai) whose events are read; the entry step must fall in them
--
-- Publishes (as jobs/nightly.toml declares) funnel_report.csv: one row per (entry channel, step), plus channel 'all'.
-- The breakdown is attributed to the channel of the entry step of each user's reported chain,
-- not to the events themselves (a GROUP BY channel over events would split chains).
-- Users are OneID unified ids, from sql/identity.sql run earlier in the same job.

CREATE VIEW funnel_steps AS
SELECT k AS step_number, (make_array(${steps}))[k] AS step
FROM unnest(range(1, CAST(array_length(make_array(${steps})) AS BIGINT) + 1)) AS t(k);

CREATE VIEW funnel_events AS
SELECT
  person_id,
  event_time, event_name, coalesce(channel, 'unknown') AS channel
FROM event_persons
WHERE dt BETWEEN DATE '${from}' AND DATE '${to}' + INTERVAL '3 days'
  AND day BETWEEN DATE '${from}' AND DATE '${to}';

CREATE VIEW funnel_people AS
SELECT person_id, f['level'] AS level, f['step_times'][1] AS entry_time, f['step_seconds'] AS seconds
FROM (
  SELECT person_id,
    window_funnel_detail(${window}, '${mode}', event_time,
      event_name = (make_array(${steps}))[1],
      event_name = (make_array(${steps}))[2],
      event_name = (make_array(${steps}))[3],
      event_name = (make_array(${steps}))[4],
      event_name = (make_array(${steps}))[5],
      event_name = (make_array(${steps}))[6],
      event_name = (make_array(${steps}))[7],
      event_name = (make_array(${steps}))[8]) AS f
  FROM funnel_events
  WHERE person_id IS NOT NULL
  GROUP BY person_id
);

-- The channel of each entered user's entry step (the first step of the reported chain).
CREATE TABLE funnel_entries AS
SELECT p.person_id, min(e.channel) AS channel, p.level, p.seconds
FROM funnel_people p
JOIN funnel_events e
  ON e.person_id = p.person_id
 AND e.event_time = p.entry_time
 AND e.event_name = (make_array(${steps}))[1]
WHERE p.level >= 1
GROUP BY p.person_id, p.level, p.seconds;

-- Each entered user counts at the steps they reached (an inequality join, so the median and
-- p90 read only those rows), and every channel shows every step, with 0 users where no one
-- of the channel got that far.
CREATE TABLE funnel_report AS
WITH reached AS (
  SELECT
    e.channel,
    s.step_number,
    count(*) AS users,
    median(e.seconds[s.step_number - 1]) AS median_seconds,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY e.seconds[s.step_number - 1]) AS p90_seconds
  FROM funnel_entries e JOIN funnel_steps s ON e.level >= s.step_number
  GROUP BY GROUPING SETS ((e.channel, s.step_number), (s.step_number))
),
by_step AS (
  SELECT
    coalesce(c.channel, 'all') AS channel, s.step_number, s.step,
    coalesce(r.users, 0) AS users, r.median_seconds, r.p90_seconds
  FROM (SELECT DISTINCT channel FROM funnel_entries UNION ALL SELECT NULL) c
  CROSS JOIN funnel_steps s
  LEFT JOIN reached r
    ON (r.channel IS NOT DISTINCT FROM c.channel) AND r.step_number = s.step_number
)
SELECT
  channel, step_number, step, users,
  round(CAST(users AS DOUBLE) / nullif(lag(users) OVER (PARTITION BY channel ORDER BY step_number), 0), 4) AS step_conversion,
  round(CAST(users AS DOUBLE) / nullif(first_value(users) OVER (PARTITION BY channel ORDER BY step_number), 0), 4) AS overall_conversion,
  round(median_seconds, 1) AS median_seconds_to_step,
  round(p90_seconds, 1) AS p90_seconds_to_step
FROM by_step;

SELECT * FROM funnel_report WHERE channel = 'all' ORDER BY step_number;
