SELECT toStartOfDay(event_time) AS day, event_name, count() AS events
FROM file('{lake}/events/*/*.parquet', Parquet)
GROUP BY day, event_name
ORDER BY day, event_name
