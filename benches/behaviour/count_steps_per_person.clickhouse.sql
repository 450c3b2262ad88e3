SELECT count() AS people, sum(n) AS events FROM (
  SELECT countIf(event_name = 'view_content' OR event_name = 'add_to_cart'
                 OR event_name = 'submit_order' OR event_name = 'pay_order') AS n,
         max(toUInt32(toUnixTimestamp(event_time))) AS last_time
  FROM file('{lake}/events/*/*.parquet', Parquet) GROUP BY coalesce(unionid, device_id, cookie_id)
)
