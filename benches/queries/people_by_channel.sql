-- Distinct WeChat users and events per acquisition channel.
SELECT channel, count(DISTINCT unionid) AS wechat_users, count(*) AS events
FROM events
GROUP BY channel
ORDER BY channel
