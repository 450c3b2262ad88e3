-- A/B experiments: per experiment and arm, users, conversion and revenue per user, with the
-- tests of arm b against arm a.
--
--   a step of jobs/nightly.toml: userlake run jobs/nightly.toml --lake data/sample --out out
--
-- Publishes (as jobs/nightly.toml declares) experiment_report.csv, one row per experiment and arm (the test results repeated
-- on both rows of an experiment).
--
-- A user is a OneID person (sql/identity.sql, earlier in the same job) with events carrying the
-- experiment; they enter at their first such event. Their conversion and revenue count the paid
-- orders from that moment to the experiment's end (its last event). A person whose events show
-- both arms (two people stitched together) is left out and counted in `excluded` on arm a.
--   conversion: ab_test_proportions(converters_a, users_a, converters_b, users_b)
--   revenue per user: ab_test_means over every user's revenue (0 for non-buyers)
-- Each arm's own 95% intervals: the Wilson score interval of its conversion rate, and the
-- normal-approximation interval of its revenue per user (mean ± 1.96 standard errors).

CREATE VIEW experiment_exposure AS
SELECT experiment, person_id, min(arm) AS arm, count(DISTINCT arm) AS arms, min(event_time) AS entered
FROM event_persons
WHERE experiment IS NOT NULL AND person_id IS NOT NULL
GROUP BY experiment, person_id;

CREATE VIEW experiment_windows AS
SELECT experiment, max(event_time) AS ends FROM event_persons WHERE experiment IS NOT NULL GROUP BY experiment;

CREATE VIEW experiment_users AS
SELECT x.experiment, x.arm, x.person_id,
       count(o.order_id) > 0 AS converted,
       coalesce(sum(o.amount), 0) AS revenue
FROM experiment_exposure x
JOIN experiment_windows w ON w.experiment = x.experiment
LEFT JOIN order_persons o
  ON o.person_id = x.person_id AND o.status = 'paid' AND o.order_time >= x.entered AND o.order_time <= w.ends
WHERE x.arms = 1
GROUP BY x.experiment, x.arm, x.person_id;

CREATE TABLE experiment_arms AS
SELECT experiment, arm, count(*) AS users,
       count(*) FILTER (WHERE converted) AS converters,
       sum(revenue) AS revenue,
       avg(revenue) AS revenue_per_user,
       stddev_samp(revenue) AS revenue_sd
FROM experiment_users GROUP BY experiment, arm;

CREATE TABLE experiment_report AS
WITH tests AS (
  SELECT a.experiment,
         ab_test_proportions(a.converters, a.users, b.converters, b.users) AS conversion,
         ab_test_means(a.revenue_per_user, a.revenue_sd, a.users, b.revenue_per_user, b.revenue_sd, b.users) AS revenue
  FROM experiment_arms a JOIN experiment_arms b
    ON a.experiment = b.experiment AND a.arm = 'a' AND b.arm = 'b'
),
excluded AS (
  SELECT experiment, count(*) AS excluded FROM experiment_exposure WHERE arms > 1 GROUP BY experiment
)
SELECT
  r.experiment, r.arm, r.users,
  CASE WHEN r.arm = 'a' THEN coalesce(e.excluded, 0) ELSE 0 END AS excluded,
  r.converters,
  round(r.converters * 1.0 / r.users, 4) AS conversion_rate,
  round(r.revenue, 2) AS revenue,
  round(r.revenue_per_user, 2) AS revenue_per_user,
  round(t.conversion['lift'], 4) AS conversion_lift,
  round(t.conversion['p_value'], 4) AS conversion_p_value,
  round(t.conversion['ci_low'], 4) AS conversion_diff_ci_low,
  round(t.conversion['ci_high'], 4) AS conversion_diff_ci_high,
  round(t.revenue['diff'], 2) AS revenue_per_user_diff,
  round(t.revenue['p_value'], 4) AS revenue_p_value,
  round(t.revenue['ci_low'], 2) AS revenue_diff_ci_low,
  round(t.revenue['ci_high'], 2) AS revenue_diff_ci_high,
  round(wilson_center - wilson_half_width, 4) AS conversion_ci_low,
  round(wilson_center + wilson_half_width, 4) AS conversion_ci_high,
  round(r.revenue_per_user - 1.959964 * r.revenue_sd / sqrt(r.users), 2) AS revenue_per_user_ci_low,
  round(r.revenue_per_user + 1.959964 * r.revenue_sd / sqrt(r.users), 2) AS revenue_per_user_ci_high
-- the Wilson interval, with z = 1.959964 (z^2 = 3.841459), p = converters / users, n = users
FROM (
  SELECT *,
         (p + 3.841459 / (2 * n)) / (1 + 3.841459 / n) AS wilson_center,
         1.959964 * sqrt(p * (1 - p) / n + 3.841459 / (4 * n * n)) / (1 + 3.841459 / n) AS wilson_half_width
  FROM (SELECT *, converters * 1.0 / users AS p, CAST(users AS DOUBLE) AS n FROM experiment_arms)
) r
LEFT JOIN tests t ON t.experiment = r.experiment
LEFT JOIN excluded e ON e.experiment = r.experiment;

