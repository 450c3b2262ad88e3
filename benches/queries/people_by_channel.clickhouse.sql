SELECT channel,
       count(DISTINCT coalesce(unionid, device_id, cookie_id)) AS people,
       count() AS events
FROM file('{lake}/events/*/*.parquet', Parquet)
GROUP BY channel
ORDER BY channel
