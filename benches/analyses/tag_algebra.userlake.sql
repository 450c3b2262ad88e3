-- Per day: the people who both viewed content and paid, and those who added to cart but did not
-- pay, with the tag functions (event names as tags).
SELECT CAST(dt AS DATE) AS day,
       intersect_count(person, event_name, 'view_content', 'pay_order') AS viewed_and_paid,
       bitmap_expr_count(person, event_name, 'add_to_cart - pay_order') AS carted_not_paid
FROM events
GROUP BY 1
ORDER BY 1
