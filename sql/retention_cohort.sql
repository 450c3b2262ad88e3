-- Retention by join-week cohort: the share of each cohort active on day N after joining
-- (N = 1, 3, 7, 14, 30). A cell that the lake cannot observe yet (some of the cohort joined
-- less than N days before the lake's last day) is NULL, not 0.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Publishes (as jobs/nightly.toml declares) retention_cohort.csv, and the weekly matrices
-- retention_weekly.csv and value_retention.csv (below). Days are the job's time_zone
-- days; a user joins on their first active day. Users are OneID people (person_id of
-- event_persons, keyed earlier in the same job).

-- Every event of a person, on its day: no DISTINCT, since a return is the same whether it
-- happened once or ten times that day.
CREATE VIEW cohort_activity AS
SELECT person_id, day
FROM event_persons
WHERE person_id IS NOT NULL;

-- A table: the flags and the report's last day read it.
CREATE TABLE cohort_members AS
SELECT person_id, min(day) AS join_day, max(day) AS last_day
FROM cohort_activity
GROUP BY person_id;

-- n: the days since joining, as an integer (comparing integers, not dates shifted by
-- intervals, is what keeps this fast).
CREATE VIEW cohort_flags AS
SELECT
  person_id,
  CAST(date_trunc('week', join_day) AS DATE) AS cohort_week,
  join_day,
  retention(n = 0, n = 1, n = 3, n = 7, n = 14, n = 30) AS r
FROM (
  SELECT m.person_id, m.join_day, CAST(a.day AS INT) - CAST(m.join_day AS INT) AS n
  FROM cohort_members m
  JOIN cohort_activity a ON a.person_id = m.person_id
)
GROUP BY person_id, join_day;

CREATE TABLE retention_cohort AS
WITH last_day AS (SELECT max(last_day) AS day FROM cohort_members)
SELECT
  f.cohort_week,
  count(*) AS cohort_size,
  CASE WHEN max(f.join_day) + 1 <= (SELECT day FROM last_day) THEN round(sum(f.r[2]) * 1.0 / count(*), 4) END AS day_1,
  CASE WHEN max(f.join_day) + 3 <= (SELECT day FROM last_day) THEN round(sum(f.r[3]) * 1.0 / count(*), 4) END AS day_3,
  CASE WHEN max(f.join_day) + 7 <= (SELECT day FROM last_day) THEN round(sum(f.r[4]) * 1.0 / count(*), 4) END AS day_7,
  CASE WHEN max(f.join_day) + 14 <= (SELECT day FROM last_day) THEN round(sum(f.r[5]) * 1.0 / count(*), 4) END AS day_14,
  CASE WHEN max(f.join_day) + 30 <= (SELECT day FROM last_day) THEN round(sum(f.r[6]) * 1.0 / count(*), 4) END AS day_30
FROM cohort_flags f
GROUP BY f.cohort_week;

-- Weekly retention matrices (retention_matrix): people by the week of their first activity
-- and the share active again in week N after it; and buyers by the week of their first paid
-- order, with the revenue each cohort brings in week N (value retention: week N's revenue over
-- week 0's is the net revenue retention). A week that has not begun by the lake's last day is
-- NULL; complete is false for the week still running.
CREATE TABLE retention_weekly AS
SELECT m['cohort'] AS cohort_week, m['cohort_size'] AS cohort_size, m['period'] AS week,
       m['people'] AS people, round(m['people'] * 1.0 / m['cohort_size'], 4) AS retained,
       m['complete'] AS complete
FROM (
  SELECT unnest(retention_matrix(person_id, day, true, true, 'week', 12, 'on')) AS m
  FROM cohort_activity
);

CREATE TABLE value_retention AS
SELECT cohort_week, buyers, week, repeat_buyers, round(revenue, 2) AS revenue,
       round(revenue / first_value(revenue) OVER (PARTITION BY cohort_week ORDER BY week), 4)
         AS net_revenue_retention,
       complete
FROM (
  SELECT m['cohort'] AS cohort_week, m['cohort_size'] AS buyers, m['period'] AS week,
         m['people'] AS repeat_buyers, m['value'] AS revenue, m['complete'] AS complete
  FROM (
    -- the data ends on the lake's last day, not on the last order
    SELECT unnest(retention_matrix(o.person_id, o.day, true, true, 'week', 12, 'on', o.amount,
                                   l.last_day)) AS m
    FROM order_persons o
    CROSS JOIN (SELECT max(last_day) AS last_day FROM cohort_members) l
    WHERE o.status = 'paid' AND o.person_id IS NOT NULL
  )
);

SELECT * FROM retention_cohort ORDER BY cohort_week;
