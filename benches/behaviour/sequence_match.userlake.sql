-- sequence_match '(?1).*(?2)' per person
SELECT count(*) FILTER (WHERE m) AS matched, count(*) AS people FROM (
  SELECT sequence_match('(?1).*(?2)', arrow_cast(event_time, 'Timestamp(Second, None)'), event_name = 'add_to_cart', event_name = 'pay_order') AS m
  FROM events GROUP BY coalesce(unionid, device_id, cookie_id))
