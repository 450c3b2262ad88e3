-- Scan every event; group by partition and event name.
SELECT dt, event_name, count(*) AS events
FROM events
GROUP BY dt, event_name
ORDER BY dt, event_name
