-- People (by their best identifier) and events per acquisition channel, over 10M events.
SELECT channel,
       count(DISTINCT coalesce(unionid, device_id, cookie_id)) AS people,
       count(*) AS events
FROM events
GROUP BY channel
ORDER BY channel
