-- Distinct people per day, in plain SQL.
SELECT CAST(dt AS DATE) AS day, count(DISTINCT person) AS people
FROM events
GROUP BY 1
ORDER BY 1
