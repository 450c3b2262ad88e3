-- Daily active identities joined with daily GMV: two scans, two aggregations, one join.
SELECT e.dt, e.active, o.orders, o.gmv
FROM (
  SELECT dt, count(DISTINCT coalesce(unionid, member_id, device_id, cookie_id)) AS active
  FROM events
  GROUP BY dt
) e
JOIN (
  SELECT dt, count(*) AS orders, sum(amount) AS gmv
  FROM orders
  GROUP BY dt
) o ON e.dt = o.dt
ORDER BY e.dt
