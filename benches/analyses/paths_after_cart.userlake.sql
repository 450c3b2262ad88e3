-- Where people go in the 4 steps after adding to cart, in sessions cut by 30 minutes of
-- inactivity, repeated events collapsed, with path_edges (NULL: the session ended).
SELECT e['depth'] AS depth, e['from'] AS source, e['to'] AS target,
       e['people'] AS people, e['paths'] AS paths, round(e['median_seconds'], 3) AS median_seconds
FROM (
  SELECT unnest(path_edges(person, event_time, event_name, event_name = 'add_to_cart', 'after', 4,
                           INTERVAL '30 minutes', true)) AS e
  FROM events
)
ORDER BY depth, people DESC, paths DESC, source NULLS FIRST, target NULLS FIRST
