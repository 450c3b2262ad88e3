-- Where people go in the 4 steps after adding to cart, in sessions cut by 30 minutes of
-- inactivity, repeated events collapsed, in plain SQL: rows ordered per person (ties by event
-- name), sessions from the gaps, steps from the runs of equal events, each session's first
-- add_to_cart step, the 4 steps after it, and the edges between consecutive steps (to NULL
-- where the session ended).
WITH ordered AS (
  SELECT person, event_time AS t, event_name AS event, event_name = 'add_to_cart' AS anchor,
         row_number() OVER (PARTITION BY person ORDER BY event_time, event_name, event_name = 'add_to_cart' DESC) AS rn,
         lag(event_time) OVER (PARTITION BY person ORDER BY event_time, event_name, event_name = 'add_to_cart' DESC) AS prev_t
  FROM events
  WHERE person IS NOT NULL AND event_time IS NOT NULL AND event_name IS NOT NULL
), sessions AS (
  SELECT *, sum(CASE WHEN prev_t IS NULL OR date_part('epoch', t) - date_part('epoch', prev_t) > 1800 THEN 1 ELSE 0 END)
              OVER (PARTITION BY person ORDER BY rn) AS session
  FROM ordered
), runs AS (
  SELECT *, CASE WHEN lag(event) OVER (PARTITION BY person, session ORDER BY rn) IS NOT DISTINCT FROM event
                 THEN 0 ELSE 1 END AS new_step
  FROM sessions
), numbered AS (
  SELECT *, sum(new_step) OVER (PARTITION BY person, session ORDER BY rn) AS step FROM runs
), steps AS (
  SELECT person, session, step, min(event) AS event, min(t) AS t, bool_or(anchor) AS anchor
  FROM numbered GROUP BY person, session, step
), firsts AS (
  SELECT person, session, min(step) AS a FROM steps WHERE anchor GROUP BY person, session
), path AS (
  SELECT s.person, s.session, s.step - f.a AS k, s.event, s.t
  FROM steps s JOIN firsts f ON f.person = s.person AND f.session = s.session
  WHERE s.step BETWEEN f.a AND f.a + 4
), edges AS (
  SELECT p.person, p.k + 1 AS depth, p.event AS source, n.event AS target,
         date_part('epoch', n.t) - date_part('epoch', p.t) AS seconds
  FROM path p LEFT JOIN path n ON n.person = p.person AND n.session = p.session AND n.k = p.k + 1
  WHERE p.k < 4
)
SELECT CAST(depth AS INT) AS depth, source, target, count(DISTINCT person) AS people, count(*) AS paths,
       round(median(seconds), 3) AS median_seconds
FROM edges
GROUP BY depth, source, target
ORDER BY depth, people DESC, paths DESC, source NULLS FIRST, target NULLS FIRST
