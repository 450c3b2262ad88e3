-- Distinct people per day, through a bitmap per day.
SELECT CAST(dt AS DATE) AS day, bitmap_union_count(person) AS people
FROM events
GROUP BY 1
ORDER BY 1
