-- Per day: the people who both viewed content and paid, and those who added to cart but did not
-- pay, in plain SQL: a row per person and day with a flag per event, then counts of the flags.
WITH flags AS (
  SELECT CAST(dt AS DATE) AS day, person,
         bool_or(event_name = 'view_content') AS viewed,
         bool_or(event_name = 'add_to_cart') AS carted,
         bool_or(event_name = 'pay_order') AS paid
  FROM events
  GROUP BY 1, 2
)
SELECT day,
       count(*) FILTER (WHERE viewed AND paid) AS viewed_and_paid,
       count(*) FILTER (WHERE carted AND NOT paid) AS carted_not_paid
FROM flags
GROUP BY day
ORDER BY day
