-- Rolling 30-day active people for every day, in plain SQL: each person's active days, then for
-- each day the distinct people of the 30 days ending that day.
WITH person_days AS (
  SELECT DISTINCT CAST(dt AS DATE) AS day, person FROM events
), days AS (
  SELECT DISTINCT day FROM person_days
)
SELECT d.day, count(DISTINCT p.person) AS mau
FROM days d
JOIN person_days p ON p.day BETWEEN d.day - 29 AND d.day
GROUP BY d.day
ORDER BY d.day
