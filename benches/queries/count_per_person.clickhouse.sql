SELECT count() AS people, sum(n) AS events, max(n) AS most
FROM (SELECT count() AS n FROM file('{lake}/events/*/*.parquet', Parquet)
      GROUP BY coalesce(unionid, device_id, cookie_id))
