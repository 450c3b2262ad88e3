-- Retention by join-week cohort: the share of each cohort active on day N after joining
-- (N = 1, 3, 7, 14, 30). A cell that the lake cannot observe yet (some of the cohort joined
-- less than N days before the lake's last day) is NULL, not 0.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Publishes (as jobs/nightly.toml declares) retention_cohort.csv. Days are Asia/Shanghai days; a user joins on their first
-- active day. Users are OneID unified ids, from
-- sql/identity.sql run earlier in the same job.

CREATE VIEW cohort_activity AS
SELECT DISTINCT
  person_id,
  to_date(event_time AT TIME ZONE '${time_zone}') AS day
FROM event_persons;

CREATE VIEW cohort_members AS
SELECT person_id, min(day) AS join_day FROM cohort_activity WHERE person_id IS NOT NULL GROUP BY person_id;

CREATE VIEW cohort_flags AS
SELECT
  m.person_id,
  CAST(date_trunc('week', m.join_day) AS DATE) AS cohort_week,
  m.join_day,
  retention(a.day = m.join_day, a.day = m.join_day + 1, a.day = m.join_day + 3,
            a.day = m.join_day + 7, a.day = m.join_day + 14, a.day = m.join_day + 30) AS r
FROM cohort_members m
JOIN cohort_activity a ON a.person_id = m.person_id
GROUP BY m.person_id, m.join_day;

CREATE TABLE retention_cohort AS
WITH last_day AS (SELECT max(day) AS day FROM cohort_activity)
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

SELECT * FROM retention_cohort ORDER BY cohort_week;
