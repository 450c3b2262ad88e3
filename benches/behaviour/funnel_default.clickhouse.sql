SELECT level, count() AS people FROM (
  SELECT windowFunnel(86400)(toUInt32(toUnixTimestamp(event_time)),
           event_name = 'view_content', event_name = 'add_to_cart', event_name = 'submit_order', event_name = 'pay_order') AS level
  FROM file('{lake}/events/*/*.parquet', Parquet) GROUP BY coalesce(unionid, device_id, cookie_id)
) GROUP BY level ORDER BY level
