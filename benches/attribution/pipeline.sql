-- The attribution benchmark in userlake (benches/attribution/compare.py runs it):
--   userlake run benches/attribution/pipeline.sql --var data=DIR --out OUT
-- Rule-based credit of every journey's conversion under three models, summed per channel, from
-- the touches; then the Markov model over all paths.

CREATE EXTERNAL TABLE touches STORED AS PARQUET LOCATION '${data}/touches/';
CREATE EXTERNAL TABLE paths STORED AS PARQUET LOCATION '${data}/paths.parquet';

CREATE TABLE credits AS
SELECT
  attribution('first_touch', touch_time, channel, converted_at) AS first_touch,
  attribution('last_touch', touch_time, channel, converted_at) AS last_touch,
  attribution('linear', touch_time, channel, converted_at) AS linear
FROM touches GROUP BY conversion;

CREATE TABLE heuristic AS
WITH f AS (SELECT c['channel'] AS channel, sum(c['credit']) AS v FROM (SELECT unnest(first_touch) AS c FROM credits) GROUP BY 1),
     l AS (SELECT c['channel'] AS channel, sum(c['credit']) AS v FROM (SELECT unnest(last_touch) AS c FROM credits) GROUP BY 1),
     n AS (SELECT c['channel'] AS channel, sum(c['credit']) AS v FROM (SELECT unnest(linear) AS c FROM credits) GROUP BY 1)
SELECT n.channel, f.v AS first_touch, l.v AS last_touch, n.v AS linear
FROM n LEFT JOIN f ON f.channel = n.channel LEFT JOIN l ON l.channel = n.channel;

CREATE TABLE markov AS
SELECT c['channel'] AS channel, c['removal_effect'] AS removal_effect, c['conversions'] AS conversions
FROM (SELECT unnest(markov_attribution(path, conversions, nulls)) AS c FROM paths);

COPY (SELECT * FROM heuristic ORDER BY channel) TO '${out}/heuristic.csv' STORED AS CSV OPTIONS ('format.has_header' 'true');
COPY (SELECT * FROM markov ORDER BY channel) TO '${out}/markov.csv' STORED AS CSV OPTIONS ('format.has_header' 'true');
