-- Scan every event; group by day (truncated from the time-zone-aware event time) and name.
SELECT date_trunc('day', event_time) AS day, event_name, count(*) AS events
FROM events
GROUP BY 1, 2
ORDER BY 1, 2
