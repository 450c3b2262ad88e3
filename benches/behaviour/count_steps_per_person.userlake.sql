-- the floor of a 4-step funnel per person: the same three columns read, the same four
-- conditions evaluated, the rows matching a step counted and their last time kept, per person
SELECT count(*) AS people, sum(n) AS events FROM (
  SELECT count(*) FILTER (WHERE event_name = 'view_content' OR event_name = 'add_to_cart'
                           OR event_name = 'submit_order' OR event_name = 'pay_order') AS n,
         max(arrow_cast(event_time, 'Timestamp(Second, None)')) AS last_time
  FROM events GROUP BY coalesce(unionid, device_id, cookie_id))
