SELECT e.dt, e.active, o.orders, o.gmv
FROM (
  SELECT toDate(extract(_path, 'dt=([0-9]{4}-[0-9]{2}-[0-9]{2})')) AS dt,
         uniqExact(coalesce(unionid, member_id, device_id, cookie_id)) AS active
  FROM file('{lake}/events/*/*.parquet', Parquet)
  GROUP BY dt
) e
JOIN (
  SELECT toDate(extract(_path, 'dt=([0-9]{4}-[0-9]{2}-[0-9]{2})')) AS dt,
         count() AS orders,
         sum(amount) AS gmv
  FROM file('{lake}/orders/*/*.parquet', Parquet)
  GROUP BY dt
) o ON e.dt = o.dt
ORDER BY e.dt
