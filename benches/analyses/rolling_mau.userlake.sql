-- Rolling 30-day active people for every day: one bitmap per day, then for each day the union
-- count of the 30 bitmaps ending that day.
WITH daily AS (
  SELECT CAST(dt AS DATE) AS day, bitmap_agg(person) AS people FROM events GROUP BY 1
)
SELECT d.day, bitmap_union_count(p.people) AS mau
FROM daily d
JOIN daily p ON p.day BETWEEN d.day - 29 AND d.day
GROUP BY d.day
ORDER BY d.day
