-- Events per person (by their best identifier): a group-by with one group per person.
SELECT count(*) AS people, sum(n) AS events, max(n) AS most
FROM (SELECT count(*) AS n FROM events GROUP BY coalesce(unionid, device_id, cookie_id))
