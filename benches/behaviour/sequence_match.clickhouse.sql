SELECT countIf(m) AS matched, count() AS people FROM (
  SELECT sequenceMatch('(?1).*(?2)')(toUInt32(toUnixTimestamp(event_time)), event_name = 'add_to_cart', event_name = 'pay_order') AS m
  FROM file('{lake}/events/*/*.parquet', Parquet) GROUP BY coalesce(unionid, device_id, cookie_id))
