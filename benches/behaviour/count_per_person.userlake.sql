-- the baseline: a plain count(*) per person over the same scan
SELECT count(*) AS people, sum(n) AS events FROM (SELECT count(*) AS n FROM events GROUP BY coalesce(unionid, device_id, cookie_id))
