-- Fission (referral) report: per campaign and week, invitations sent and accepted, K-factor,
-- invitees' first orders, the generation depth of the tree, and two-level distribution rewards.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Variables: level1_rate (default 0.10: share of an invitee's paid orders rewarded to their
-- inviter), level2_rate (default 0.05: to the inviter's inviter).
-- Publishes (as jobs/nightly.toml declares) fission_report.csv (by campaign and week of invitation) and
-- fission_rewards.csv (by campaign and week of the rewarded order).
--
-- People are OneID unified ids (the id_graph of the job's identity step, run earlier):
-- the tree is referral_tree('referrals', 'mapping = "id_graph"'), so an invitee reached through
-- two identifiers counts once, credited to the first accepted invitation. Weeks are
-- Asia/Shanghai weeks starting on Monday.
--   acceptance_rate          accepted / sent
--   invitations_per_inviter  sent / distinct inviters
--   k_factor                 invitations_per_inviter x acceptance_rate (new members per inviter)
--   first_order_rate         credited invitees with a paid order after accepting / credited invitees
--   generation_1/2/3_plus    credited invitees by depth in the tree
-- Invitations count in the week they were sent; credited invitees in the week they accepted.
-- Rewards: each paid order an invitee places after accepting earns level1_rate of its amount for
-- their inviter and level2_rate for their inviter's inviter (none if the inviter is a seed).
-- A refunded order's rewards are reversed: rewards_paid counts every order, rewards_reversed the
-- refunded ones, rewards_net the difference.

CREATE TABLE fission_tree AS
SELECT * FROM referral_tree('referrals', 'mapping = "id_graph"') WHERE NOT cycle_broken;

CREATE VIEW fission_invitations AS
SELECT
  coalesce(r.campaign, 'unknown') AS campaign,
  CAST(date_trunc('week', r.invited_at AT TIME ZONE '${time_zone}') AS DATE) AS week,
  coalesce(g.unified_id, r.inviter_type || ':' || r.inviter_value) AS inviter,
  r.accepted_at
FROM referrals r
LEFT JOIN id_graph g
  ON g.id_type = r.inviter_type AND g.id_value = normalize_id(r.inviter_type, r.inviter_value);

-- A unified id's person number, which order_persons carries.
CREATE TABLE fission_persons AS SELECT DISTINCT unified_id, person_id FROM id_graph;

CREATE VIEW fission_invitees AS
SELECT
  coalesce(t.campaign, 'unknown') AS campaign,
  CAST(date_trunc('week', t.accepted_at AT TIME ZONE '${time_zone}') AS DATE) AS week,
  t.person_value AS unified_id,
  t.generation,
  count(o.order_id) > 0 AS ordered
FROM fission_tree t
LEFT JOIN fission_persons p ON p.unified_id = t.person_value
LEFT JOIN order_persons o
  ON o.person_id = p.person_id AND o.status = 'paid' AND o.order_time >= t.accepted_at
WHERE t.person_type = 'unified_id'
GROUP BY 1, 2, 3, 4;

CREATE TABLE fission_report AS
WITH sent AS (
  SELECT campaign, week, count(*) AS sent, count(accepted_at) AS accepted, count(DISTINCT inviter) AS inviters
  FROM fission_invitations GROUP BY campaign, week
),
joined AS (
  SELECT campaign, week, count(*) AS invitees,
         count(*) FILTER (WHERE ordered) AS ordering,
         count(*) FILTER (WHERE generation = 1) AS generation_1,
         count(*) FILTER (WHERE generation = 2) AS generation_2,
         count(*) FILTER (WHERE generation >= 3) AS generation_3_plus
  FROM fission_invitees GROUP BY campaign, week
)
SELECT
  s.campaign, s.week, s.sent, s.accepted,
  round(s.accepted * 1.0 / s.sent, 4) AS acceptance_rate,
  s.inviters,
  round(s.sent * 1.0 / s.inviters, 3) AS invitations_per_inviter,
  round(s.sent * 1.0 / s.inviters * s.accepted / s.sent, 4) AS k_factor,
  coalesce(j.invitees, 0) AS credited_invitees,
  coalesce(j.ordering, 0) AS invitees_ordering,
  CASE WHEN j.invitees > 0 THEN round(j.ordering * 1.0 / j.invitees, 4) END AS first_order_rate,
  coalesce(j.generation_1, 0) AS generation_1,
  coalesce(j.generation_2, 0) AS generation_2,
  coalesce(j.generation_3_plus, 0) AS generation_3_plus
FROM sent s
LEFT JOIN joined j ON j.campaign = s.campaign AND j.week = s.week;

CREATE TABLE fission_rewards AS
WITH rewarded_orders AS (
  SELECT
    coalesce(t.campaign, 'unknown') AS campaign,
    CAST(date_trunc('week', o.order_time AT TIME ZONE '${time_zone}') AS DATE) AS week,
    -- decimals: sums and rewards exact, whatever order the rows come in
    CAST(o.amount AS DECIMAL(20, 4)) AS amount,
    o.status,
    -- the inviter's own inviter, if the inviter was invited too
    (parent.person_value IS NOT NULL) AS has_grandparent
  FROM fission_tree t
  JOIN fission_persons p ON t.person_type = 'unified_id' AND p.unified_id = t.person_value
  JOIN order_persons o
    ON o.person_id = p.person_id AND o.order_time >= t.accepted_at
   AND o.status IN ('paid', 'refunded')
  LEFT JOIN fission_tree parent
    ON parent.person_type = t.inviter_type AND parent.person_value = t.inviter_value
)
SELECT
  campaign, week,
  count(*) AS orders,
  CAST(round(sum(amount), 2) AS DOUBLE) AS gmv,
  CAST(round(sum(amount) * CAST(${level1_rate} AS DECIMAL(12, 6)), 2) AS DOUBLE) AS level1_paid,
  CAST(round(sum(CASE WHEN has_grandparent THEN amount ELSE 0 END)
             * CAST(${level2_rate} AS DECIMAL(12, 6)), 2) AS DOUBLE) AS level2_paid,
  CAST(round(sum(CASE WHEN status = 'refunded' THEN amount * CAST(${level1_rate} AS DECIMAL(12, 6))
                   + CASE WHEN has_grandparent THEN amount * CAST(${level2_rate} AS DECIMAL(12, 6)) ELSE 0 END
                 ELSE 0 END), 2) AS DOUBLE) AS rewards_reversed,
  CAST(round(sum(CASE WHEN status = 'paid' THEN amount * CAST(${level1_rate} AS DECIMAL(12, 6))
                   + CASE WHEN has_grandparent THEN amount * CAST(${level2_rate} AS DECIMAL(12, 6)) ELSE 0 END
                 ELSE 0 END), 2) AS DOUBLE) AS rewards_net
FROM rewarded_orders
GROUP BY campaign, week;

