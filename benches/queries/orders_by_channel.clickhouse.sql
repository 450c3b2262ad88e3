SELECT channel,
       count() AS orders,
       sum(amount) AS gmv,
       avg(amount) AS aov,
       sum(CASE WHEN status = 'refunded' THEN 1 ELSE 0 END) AS refunds
FROM file('{lake}/orders/*/*.parquet', Parquet)
GROUP BY channel
ORDER BY channel
