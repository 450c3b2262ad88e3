-- window_funnel, 4 steps, 1-day window, mode 'strict_order', per person (second-resolution times, as ClickHouse needs)
SELECT level, count(*) AS people FROM (
  SELECT window_funnel(86400, 'strict_order', arrow_cast(event_time, 'Timestamp(Second, None)'),
           event_name = 'view_content', event_name = 'add_to_cart', event_name = 'submit_order', event_name = 'pay_order') AS level
  FROM events GROUP BY coalesce(unionid, device_id, cookie_id)
) GROUP BY level ORDER BY level
