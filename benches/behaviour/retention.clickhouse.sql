SELECT sum(r[1]) AS entered, sum(r[2]) AS viewed, sum(r[3]) AS paid FROM (
  SELECT retention(event_name = 'follow_account', event_name = 'view_content', event_name = 'pay_order') AS r
  FROM file('{lake}/events/*/*.parquet', Parquet) GROUP BY coalesce(unionid, device_id, cookie_id))
