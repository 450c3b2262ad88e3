-- How well stitching recovers people, scored against the generator's answer key (_truth).
-- Needs `id_graph` (the output of stitch over all_identity_edges, see sql/identity_edges.sql)
-- and `_truth`.
--
-- Pairwise over identifiers: a pair is "predicted" when id_graph gives both the same
-- unified_id, "true" when _truth gives both the same person_id.
--   pairwise_precision = true predicted pairs / predicted pairs (identifiers _truth knows)
--   pairwise_recall    = true predicted pairs / true pairs (every identifier _truth knows,
--                        including those that never appear next to another of their person's
--                        identifiers, which no stitcher can link)
--   linkable_recall    = the same, over the pairs the edges can link at all: pairs joined by
--                        a chain of edges between identifiers of one person (the "oracle"
--                        graph: stitch over only the true edges, with no hub rule)
--   merged_people      = people sharing a unified_id with another person
CREATE OR REPLACE VIEW oracle_edges AS
SELECT e.*
FROM all_identity_edges e
JOIN _truth ta ON ta.id_type = lower(trim(e.a_type)) AND ta.id_value = normalize_id(e.a_type, e.a_value)
JOIN _truth tb ON tb.id_type = lower(trim(e.b_type)) AND tb.id_value = normalize_id(e.b_type, e.b_value)
WHERE ta.person_id = tb.person_id;

CREATE OR REPLACE TABLE oracle_graph AS
SELECT * FROM stitch('oracle_edges',
  'hubs = { default = 4000000000, device_id = 4000000000, phone = 4000000000, member_id = 4000000000 }');

CREATE OR REPLACE TABLE scored AS
SELECT g.unified_id, t.person_id, o.unified_id AS oracle_id
FROM id_graph g
JOIN _truth t ON g.id_type = t.id_type AND g.id_value = t.id_value
LEFT JOIN oracle_graph o ON o.id_type = g.id_type AND o.id_value = g.id_value;

WITH pairs AS (
  SELECT
    (SELECT coalesce(sum(n * (n - 1) / 2), 0)
       FROM (SELECT count(*) AS n FROM scored GROUP BY unified_id, person_id)) AS true_predicted,
    (SELECT coalesce(sum(n * (n - 1) / 2), 0)
       FROM (SELECT count(*) AS n FROM scored GROUP BY unified_id)) AS predicted,
    (SELECT coalesce(sum(n * (n - 1) / 2), 0)
       FROM (SELECT count(*) AS n FROM _truth GROUP BY person_id)) AS actual,
    (SELECT coalesce(sum(n * (n - 1) / 2), 0)
       FROM (SELECT count(*) AS n FROM scored WHERE oracle_id IS NOT NULL
             GROUP BY unified_id, oracle_id)) AS linkable_found,
    (SELECT coalesce(sum(n * (n - 1) / 2), 0)
       FROM (SELECT count(*) AS n FROM oracle_graph GROUP BY unified_id)) AS linkable
),
merged AS (
  SELECT count(DISTINCT person_id) AS people
  FROM scored
  WHERE unified_id IN (SELECT unified_id FROM scored GROUP BY unified_id
                       HAVING count(DISTINCT person_id) > 1)
)
SELECT
  (SELECT count(DISTINCT person_id) FROM _truth) AS people,
  (SELECT count(DISTINCT unified_id) FROM id_graph) AS unified_ids,
  CAST(true_predicted AS DOUBLE) / nullif(predicted, 0) AS pairwise_precision,
  CAST(true_predicted AS DOUBLE) / nullif(actual, 0) AS pairwise_recall,
  CAST(linkable_found AS DOUBLE) / nullif(linkable, 0) AS linkable_recall,
  merged.people AS merged_people
FROM pairs, merged;
