-- Weekly cohorts of first activity and the people active again in week N after (N = 0..12),
-- with retention_matrix (the cells with anyone in them).
SELECT m['cohort'] AS cohort, m['cohort_size'] AS cohort_size, m['period'] AS week, m['people'] AS people
FROM (
  SELECT unnest(retention_matrix(person, CAST(dt AS DATE), true, true, 'week', 12, 'on')) AS m
  FROM events
)
WHERE m['people'] > 0
ORDER BY 1, 3
