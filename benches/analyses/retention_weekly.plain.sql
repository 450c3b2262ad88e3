-- Weekly cohorts of first activity and the people active again in week N after (N = 0..12),
-- in plain SQL: each person's active weeks, their first week, and a count per cohort and week.
WITH person_weeks AS (
  SELECT DISTINCT person, CAST(date_trunc('week', CAST(dt AS DATE)) AS DATE) AS week FROM events
), cohorts AS (
  SELECT person, min(week) AS cohort FROM person_weeks GROUP BY person
), sizes AS (
  SELECT cohort, count(*) AS cohort_size FROM cohorts GROUP BY cohort
), returns AS (
  SELECT c.cohort, CAST((p.week - c.cohort) / 7 AS INT) AS week, count(*) AS people
  FROM person_weeks p JOIN cohorts c ON c.person = p.person
  GROUP BY 1, 2
)
SELECT s.cohort, s.cohort_size, r.week, r.people
FROM sizes s JOIN returns r ON r.cohort = s.cohort
WHERE r.week <= 12
ORDER BY 1, 3
