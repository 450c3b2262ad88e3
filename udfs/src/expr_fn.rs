//! Calls of userlake's functions as DataFusion `Expr`s, for the DataFrame API, as DataFusion's
//! own `expr_fn` modules. Arguments are what the SQL function takes, in its order (see each
//! function's documentation); a variadic tail is a `Vec`, an optional trailing argument an
//! `Option`. Literal arguments (a window, a mode, a pattern, a model name) are `lit(...)`.
//!
//! ```
//! use datafusion::prelude::{col, lit};
//! use userlake_udfs::expr_fn::window_funnel;
//!
//! // the deepest step of view -> cart -> pay reached within a day, per user
//! let level = window_funnel(
//!     lit("1 day"),
//!     lit(""),
//!     col("event_time"),
//!     vec![
//!         col("event_name").eq(lit("view")),
//!         col("event_name").eq(lit("cart")),
//!         col("event_name").eq(lit("pay")),
//!     ],
//! );
//! assert_eq!(level.schema_name().to_string().split('(').next(), Some("window_funnel"));
//! ```

use datafusion::logical_expr::Expr;

use crate::singletons::*;

/// `leading` followed by `rest`.
fn arguments(leading: impl IntoIterator<Item = Expr>, rest: Vec<Expr>) -> Vec<Expr> {
    leading.into_iter().chain(rest).collect()
}

/// `leading` followed by `optional` when given.
fn with_optional(leading: impl IntoIterator<Item = Expr>, optional: Option<Expr>) -> Vec<Expr> {
    leading.into_iter().chain(optional).collect()
}

// ---- identity ---------------------------------------------------------------------------

/// `normalize_id(id_type, value)`
pub fn normalize_id(id_type: Expr, value: Expr) -> Expr {
    normalize_id_udf().call(vec![id_type, value])
}

/// `is_placeholder_id(id_type, value)`
pub fn is_placeholder_id(id_type: Expr, value: Expr) -> Expr {
    is_placeholder_id_udf().call(vec![id_type, value])
}

/// `anchor_identifier(id_type, value [, id_type, value ...])`: `pairs` are (id_type, value).
pub fn anchor_identifier(pairs: Vec<(Expr, Expr)>) -> Expr {
    anchor_identifier_udf().call(pairs.into_iter().flat_map(|(t, v)| [t, v]).collect())
}

/// `hash_id(value, salt)`
pub fn hash_id(value: Expr, salt: Expr) -> Expr {
    hash_id_udf().call(vec![value, salt])
}

/// `mask_phone(value)`
pub fn mask_phone(value: Expr) -> Expr {
    mask_phone_udf().call(vec![value])
}

// ---- behaviour --------------------------------------------------------------------------

/// `window_funnel(window, mode, timestamp, cond1, ..., condN)`
pub fn window_funnel(window: Expr, mode: Expr, timestamp: Expr, conditions: Vec<Expr>) -> Expr {
    window_funnel_udaf().call(arguments([window, mode, timestamp], conditions))
}

/// `window_funnel_detail(window, mode, timestamp, cond1, ..., condN)`
pub fn window_funnel_detail(
    window: Expr,
    mode: Expr,
    timestamp: Expr,
    conditions: Vec<Expr>,
) -> Expr {
    window_funnel_detail_udaf().call(arguments([window, mode, timestamp], conditions))
}

/// `window_funnel_totals(window, mode, timestamp, cond1, ..., condN)`
pub fn window_funnel_totals(
    window: Expr,
    mode: Expr,
    timestamp: Expr,
    conditions: Vec<Expr>,
) -> Expr {
    window_funnel_totals_udaf().call(arguments([window, mode, timestamp], conditions))
}

/// `window_funnel_values(window, mode, timestamp, value, cond1, ..., condN)`
pub fn window_funnel_values(
    window: Expr,
    mode: Expr,
    timestamp: Expr,
    value: Expr,
    conditions: Vec<Expr>,
) -> Expr {
    window_funnel_values_udaf().call(arguments([window, mode, timestamp, value], conditions))
}

/// `retention(cond1, ..., condN)`
pub fn retention(conditions: Vec<Expr>) -> Expr {
    retention_udaf().call(conditions)
}

/// `retention_matrix(person, time, start_condition, return_condition, period, periods, mode
/// [, value [, as_of]])`: `optional` are the trailing value and as_of, in order.
#[allow(clippy::too_many_arguments)]
pub fn retention_matrix(
    person: Expr,
    time: Expr,
    start_condition: Expr,
    return_condition: Expr,
    period: Expr,
    periods: Expr,
    mode: Expr,
    optional: Vec<Expr>,
) -> Expr {
    retention_matrix_udaf().call(arguments(
        [
            person,
            time,
            start_condition,
            return_condition,
            period,
            periods,
            mode,
        ],
        optional,
    ))
}

/// `path_edges(person, time, event, anchor, direction, steps, gap [, collapse_repeats
/// [, excluded_events]])`: `optional` are the trailing collapse_repeats and excluded_events.
#[allow(clippy::too_many_arguments)]
pub fn path_edges(
    person: Expr,
    time: Expr,
    event: Expr,
    anchor: Expr,
    direction: Expr,
    steps: Expr,
    gap: Expr,
    optional: Vec<Expr>,
) -> Expr {
    path_edges_udaf().call(arguments(
        [person, time, event, anchor, direction, steps, gap],
        optional,
    ))
}

/// `activity_lifecycle(person, time, period [, first_seen [, as_of]])`: `optional` are the
/// trailing first_seen and as_of.
pub fn activity_lifecycle(person: Expr, time: Expr, period: Expr, optional: Vec<Expr>) -> Expr {
    activity_lifecycle_udaf().call(arguments([person, time, period], optional))
}

/// `stickiness(person, time, period [, as_of])`
pub fn stickiness(person: Expr, time: Expr, period: Expr, as_of: Option<Expr>) -> Expr {
    stickiness_udaf().call(with_optional([person, time, period], as_of))
}

/// `funnel_correlation(person, converted, item)`
pub fn funnel_correlation(person: Expr, converted: Expr, item: Expr) -> Expr {
    funnel_correlation_udaf().call(vec![person, converted, item])
}

/// `active_people(day, person, window_days)`
pub fn active_people(day: Expr, person: Expr, window_days: Expr) -> Expr {
    active_people_udaf().call(vec![day, person, window_days])
}

/// `sequence_match(pattern, timestamp, cond1, ..., condN)`
pub fn sequence_match(pattern: Expr, timestamp: Expr, conditions: Vec<Expr>) -> Expr {
    sequence_match_udaf().call(arguments([pattern, timestamp], conditions))
}

/// `sequence_count(pattern, timestamp, cond1, ..., condN)`
pub fn sequence_count(pattern: Expr, timestamp: Expr, conditions: Vec<Expr>) -> Expr {
    sequence_count_udaf().call(arguments([pattern, timestamp], conditions))
}

/// `sequence_match_events(pattern, timestamp, cond1, ..., condN)`
pub fn sequence_match_events(pattern: Expr, timestamp: Expr, conditions: Vec<Expr>) -> Expr {
    sequence_match_events_udaf().call(arguments([pattern, timestamp], conditions))
}

/// `sequence_next_node(direction, base, timestamp, value, base_cond, event1, ..., eventN)`
pub fn sequence_next_node(
    direction: Expr,
    base: Expr,
    timestamp: Expr,
    value: Expr,
    base_condition: Expr,
    events: Vec<Expr>,
) -> Expr {
    sequence_next_node_udaf().call(arguments(
        [direction, base, timestamp, value, base_condition],
        events,
    ))
}

/// `sessionize(timestamp, gap)`, a window function: complete it with
/// `ExprFunctionExt::partition_by(...).order_by(...).build()`.
pub fn sessionize(timestamp: Expr, gap: Expr) -> Expr {
    sessionize_udwf().call(vec![timestamp, gap])
}

// ---- customer value ---------------------------------------------------------------------

/// `clv_summary(order_time, amount, as_of [, period [, unit]])`: `period_and_unit` is the
/// period alone, or the period and the unit.
pub fn clv_summary(
    order_time: Expr,
    amount: Expr,
    as_of: Expr,
    period_and_unit: Vec<Expr>,
) -> Expr {
    clv_summary_udaf().call(arguments([order_time, amount, as_of], period_and_unit))
}

/// `clv_holdout_summary(order_time, amount, calibration_end, observation_end [, period [,
/// unit]])`: `period_and_unit` as in `clv_summary`.
pub fn clv_holdout_summary(
    order_time: Expr,
    amount: Expr,
    calibration_end: Expr,
    observation_end: Expr,
    period_and_unit: Vec<Expr>,
) -> Expr {
    clv_holdout_summary_udaf().call(arguments(
        [order_time, amount, calibration_end, observation_end],
        period_and_unit,
    ))
}

/// `bgnbd_fit(frequency, recency, t [, penalizer])`
pub fn bgnbd_fit(frequency: Expr, recency: Expr, t: Expr, penalizer: Option<Expr>) -> Expr {
    bgnbd_fit_udaf().call(with_optional([frequency, recency, t], penalizer))
}

/// `mbgnbd_fit(frequency, recency, t [, penalizer])`
pub fn mbgnbd_fit(frequency: Expr, recency: Expr, t: Expr, penalizer: Option<Expr>) -> Expr {
    mbgnbd_fit_udaf().call(with_optional([frequency, recency, t], penalizer))
}

/// `pareto_nbd_fit(frequency, recency, t [, penalizer])`
pub fn pareto_nbd_fit(frequency: Expr, recency: Expr, t: Expr, penalizer: Option<Expr>) -> Expr {
    pareto_nbd_fit_udaf().call(with_optional([frequency, recency, t], penalizer))
}

/// `gamma_gamma_fit(frequency, monetary_value [, penalizer])`
pub fn gamma_gamma_fit(frequency: Expr, monetary_value: Expr, penalizer: Option<Expr>) -> Expr {
    gamma_gamma_fit_udaf().call(with_optional([frequency, monetary_value], penalizer))
}

/// `bgnbd_expected_purchases(model, horizon, frequency, recency, t)`
pub fn bgnbd_expected_purchases(
    model: Expr,
    horizon: Expr,
    frequency: Expr,
    recency: Expr,
    t: Expr,
) -> Expr {
    bgnbd_expected_purchases_udf().call(vec![model, horizon, frequency, recency, t])
}

/// `bgnbd_p_alive(model, frequency, recency, t)`
pub fn bgnbd_p_alive(model: Expr, frequency: Expr, recency: Expr, t: Expr) -> Expr {
    bgnbd_p_alive_udf().call(vec![model, frequency, recency, t])
}

/// `gamma_gamma_expected_spend(model, frequency, monetary_value)`
pub fn gamma_gamma_expected_spend(model: Expr, frequency: Expr, monetary_value: Expr) -> Expr {
    gamma_gamma_expected_spend_udf().call(vec![model, frequency, monetary_value])
}

/// The arguments of [`bgnbd_clv`], named because there are eight.
#[derive(Debug, Clone)]
pub struct ClvArguments {
    pub model: Expr,
    pub frequency: Expr,
    pub recency: Expr,
    pub t: Expr,
    pub spend: Expr,
    pub months: Expr,
    pub monthly_discount_rate: Expr,
    pub units_per_month: Expr,
}

impl ClvArguments {
    fn into_vec(self) -> Vec<Expr> {
        vec![
            self.model,
            self.frequency,
            self.recency,
            self.t,
            self.spend,
            self.months,
            self.monthly_discount_rate,
            self.units_per_month,
        ]
    }
}

/// `bgnbd_clv(model, frequency, recency, t, spend, months, monthly_discount_rate,
/// units_per_month)`
pub fn bgnbd_clv(arguments: ClvArguments) -> Expr {
    bgnbd_clv_udf().call(arguments.into_vec())
}

/// `mbgnbd_expected_purchases(model, horizon, frequency, recency, t)`
pub fn mbgnbd_expected_purchases(
    model: Expr,
    horizon: Expr,
    frequency: Expr,
    recency: Expr,
    t: Expr,
) -> Expr {
    mbgnbd_expected_purchases_udf().call(vec![model, horizon, frequency, recency, t])
}

/// `mbgnbd_p_alive(model, frequency, recency, t)`
pub fn mbgnbd_p_alive(model: Expr, frequency: Expr, recency: Expr, t: Expr) -> Expr {
    mbgnbd_p_alive_udf().call(vec![model, frequency, recency, t])
}

/// `mbgnbd_clv(...)`, with the arguments of [`bgnbd_clv`] (an MBG/NBD model).
pub fn mbgnbd_clv(arguments: ClvArguments) -> Expr {
    mbgnbd_clv_udf().call(arguments.into_vec())
}

/// `pareto_nbd_expected_purchases(model, horizon, frequency, recency, t)`
pub fn pareto_nbd_expected_purchases(
    model: Expr,
    horizon: Expr,
    frequency: Expr,
    recency: Expr,
    t: Expr,
) -> Expr {
    pareto_nbd_expected_purchases_udf().call(vec![model, horizon, frequency, recency, t])
}

/// `pareto_nbd_p_alive(model, frequency, recency, t)`
pub fn pareto_nbd_p_alive(model: Expr, frequency: Expr, recency: Expr, t: Expr) -> Expr {
    pareto_nbd_p_alive_udf().call(vec![model, frequency, recency, t])
}

/// `pareto_nbd_clv(model, frequency, recency, t, spend, months, monthly_discount_rate,
/// units_per_month)`, with the arguments of [`bgnbd_clv`] (a Pareto/NBD model).
pub fn pareto_nbd_clv(arguments: ClvArguments) -> Expr {
    pareto_nbd_clv_udf().call(arguments.into_vec())
}

/// `rfm_segment(r_score, f_score, m_score [, map])`
pub fn rfm_segment(r_score: Expr, f_score: Expr, m_score: Expr, map: Option<Expr>) -> Expr {
    rfm_segment_udf().call(with_optional([r_score, f_score, m_score], map))
}

/// `rfm_8class(recency, frequency, monetary, avg_recency, avg_frequency, avg_monetary)`:
/// `values` are (recency, frequency, monetary) and `averages` the same three averages.
pub fn rfm_8class(values: [Expr; 3], averages: [Expr; 3]) -> Expr {
    rfm_8class_udf().call(values.into_iter().chain(averages).collect())
}

/// The arguments of [`lifecycle_layer`], named because there are six or seven.
#[derive(Debug, Clone)]
pub struct LifecycleArguments {
    pub joined_at: Expr,
    pub last_active_at: Expr,
    pub last_order_at: Expr,
    pub orders: Expr,
    pub monetary: Expr,
    pub as_of: Expr,
    pub options: Option<Expr>,
}

/// `lifecycle_layer(joined_at, last_active_at, last_order_at, orders, monetary, as_of
/// [, options])`
pub fn lifecycle_layer(arguments: LifecycleArguments) -> Expr {
    lifecycle_layer_udf().call(with_optional(
        [
            arguments.joined_at,
            arguments.last_active_at,
            arguments.last_order_at,
            arguments.orders,
            arguments.monetary,
            arguments.as_of,
        ],
        arguments.options,
    ))
}

/// `ltv_simple(arpu, gross_margin, churn_rate)`
pub fn ltv_simple(arpu: Expr, gross_margin: Expr, churn_rate: Expr) -> Expr {
    ltv_simple_udf().call(vec![arpu, gross_margin, churn_rate])
}

// ---- growth -----------------------------------------------------------------------------

/// `attribution(model, touch_time, channel, conversion_time [, parameter])`
pub fn attribution(
    model: Expr,
    touch_time: Expr,
    channel: Expr,
    conversion_time: Expr,
    parameter: Option<Expr>,
) -> Expr {
    attribution_udaf().call(with_optional(
        [model, touch_time, channel, conversion_time],
        parameter,
    ))
}

/// `markov_attribution(path, conversions [, non_conversions])`
pub fn markov_attribution(path: Expr, conversions: Expr, non_conversions: Option<Expr>) -> Expr {
    markov_attribution_udaf().call(with_optional([path, conversions], non_conversions))
}

/// `ab_test_proportions(conversions_a, n_a, conversions_b, n_b [, alpha])`
pub fn ab_test_proportions(
    conversions_a: Expr,
    n_a: Expr,
    conversions_b: Expr,
    n_b: Expr,
    alpha: Option<Expr>,
) -> Expr {
    ab_test_proportions_udf().call(with_optional(
        [conversions_a, n_a, conversions_b, n_b],
        alpha,
    ))
}

/// `ab_test_means(mean_a, sd_a, n_a, mean_b, sd_b, n_b [, alpha])`: each group is (mean,
/// standard deviation, size).
pub fn ab_test_means(group_a: [Expr; 3], group_b: [Expr; 3], alpha: Option<Expr>) -> Expr {
    ab_test_means_udf().call(with_optional(group_a.into_iter().chain(group_b), alpha))
}

/// `ab_sample_size(baseline_rate, minimum_detectable_effect [, alpha [, power]])`:
/// `alpha_and_power` is empty, the alpha alone, or the alpha and the power.
pub fn ab_sample_size(
    baseline_rate: Expr,
    minimum_detectable_effect: Expr,
    alpha_and_power: Vec<Expr>,
) -> Expr {
    ab_sample_size_udf().call(arguments(
        [baseline_rate, minimum_detectable_effect],
        alpha_and_power,
    ))
}

// ---- audience bitmaps -------------------------------------------------------------------

/// `bitmap_agg(id)`
pub fn bitmap_agg(id: Expr) -> Expr {
    bitmap_agg_udaf().call(vec![id])
}

/// `bitmap_union(bitmap)`
pub fn bitmap_union(bitmap: Expr) -> Expr {
    bitmap_union_udaf().call(vec![bitmap])
}

/// `bitmap_union_count(bitmap or id)`
pub fn bitmap_union_count(bitmap_or_id: Expr) -> Expr {
    bitmap_union_count_udaf().call(vec![bitmap_or_id])
}

/// `bitmap_intersect(bitmap)`
pub fn bitmap_intersect(bitmap: Expr) -> Expr {
    bitmap_intersect_udaf().call(vec![bitmap])
}

/// `intersect_count(people, tag, value1, ..., valueN)`
pub fn intersect_count(people: Expr, tag: Expr, values: Vec<Expr>) -> Expr {
    intersect_count_udaf().call(arguments([people, tag], values))
}

/// `bitmap_expr(people, tag, expression)`
pub fn bitmap_expr(people: Expr, tag: Expr, expression: Expr) -> Expr {
    bitmap_expr_udaf().call(vec![people, tag, expression])
}

/// `bitmap_expr_count(people, tag, expression)`
pub fn bitmap_expr_count(people: Expr, tag: Expr, expression: Expr) -> Expr {
    bitmap_expr_count_udaf().call(vec![people, tag, expression])
}

/// `to_bitmap(id)`
pub fn to_bitmap(id: Expr) -> Expr {
    to_bitmap_udf().call(vec![id])
}

/// `bitmap_from_string(text)`
pub fn bitmap_from_string(text: Expr) -> Expr {
    bitmap_from_string_udf().call(vec![text])
}

/// `bitmap_to_string(bitmap)`
pub fn bitmap_to_string(bitmap: Expr) -> Expr {
    bitmap_to_string_udf().call(vec![bitmap])
}

/// `bitmap_to_array(bitmap)`
pub fn bitmap_to_array(bitmap: Expr) -> Expr {
    bitmap_to_array_udf().call(vec![bitmap])
}

/// `bitmap_count(bitmap)`
pub fn bitmap_count(bitmap: Expr) -> Expr {
    bitmap_count_udf().call(vec![bitmap])
}

/// `bitmap_contains(bitmap, id)`
pub fn bitmap_contains(bitmap: Expr, id: Expr) -> Expr {
    bitmap_contains_udf().call(vec![bitmap, id])
}

/// `bitmap_has_any(bitmap1, bitmap2)`
pub fn bitmap_has_any(bitmap1: Expr, bitmap2: Expr) -> Expr {
    bitmap_has_any_udf().call(vec![bitmap1, bitmap2])
}

/// `bitmap_and(bitmap1, bitmap2, ...)`
pub fn bitmap_and(bitmaps: Vec<Expr>) -> Expr {
    bitmap_and_udf().call(bitmaps)
}

/// `bitmap_or(bitmap1, bitmap2, ...)`
pub fn bitmap_or(bitmaps: Vec<Expr>) -> Expr {
    bitmap_or_udf().call(bitmaps)
}

/// `bitmap_xor(bitmap1, bitmap2, ...)`
pub fn bitmap_xor(bitmaps: Vec<Expr>) -> Expr {
    bitmap_xor_udf().call(bitmaps)
}

/// `bitmap_andnot(bitmap1, bitmap2)`
pub fn bitmap_andnot(bitmap1: Expr, bitmap2: Expr) -> Expr {
    bitmap_andnot_udf().call(vec![bitmap1, bitmap2])
}

/// `bitmap_and_count(bitmap1, bitmap2, ...)`
pub fn bitmap_and_count(bitmaps: Vec<Expr>) -> Expr {
    bitmap_and_count_udf().call(bitmaps)
}

/// `bitmap_or_count(bitmap1, bitmap2, ...)`
pub fn bitmap_or_count(bitmaps: Vec<Expr>) -> Expr {
    bitmap_or_count_udf().call(bitmaps)
}

/// `bitmap_xor_count(bitmap1, bitmap2, ...)`
pub fn bitmap_xor_count(bitmaps: Vec<Expr>) -> Expr {
    bitmap_xor_count_udf().call(bitmaps)
}

/// `bitmap_andnot_count(bitmap1, bitmap2)`
pub fn bitmap_andnot_count(bitmap1: Expr, bitmap2: Expr) -> Expr {
    bitmap_andnot_count_udf().call(vec![bitmap1, bitmap2])
}

/// `sbg_fit(period, churned [, penalizer])`
pub fn sbg_fit(period: Expr, churned: Expr, penalizer: Option<Expr>) -> Expr {
    sbg_fit_udaf().call(with_optional([period, churned], penalizer))
}

/// `sbg_survival(model, period)`
pub fn sbg_survival(model: Expr, period: Expr) -> Expr {
    sbg_survival_udf().call(vec![model, period])
}

/// `sbg_retention_rate(model, period)`
pub fn sbg_retention_rate(model: Expr, period: Expr) -> Expr {
    sbg_retention_rate_udf().call(vec![model, period])
}

/// `sbg_derl(model, renewals, discount_rate)`
pub fn sbg_derl(model: Expr, renewals: Expr, discount_rate: Expr) -> Expr {
    sbg_derl_udf().call(vec![model, renewals, discount_rate])
}

/// `bgbb_fit(frequency, recency, n_periods [, penalizer])`
pub fn bgbb_fit(frequency: Expr, recency: Expr, n_periods: Expr, penalizer: Option<Expr>) -> Expr {
    bgbb_fit_udaf().call(with_optional([frequency, recency, n_periods], penalizer))
}

/// `bgbb_expected_purchases(model, periods_ahead, frequency, recency, n_periods)`
pub fn bgbb_expected_purchases(
    model: Expr,
    periods_ahead: Expr,
    frequency: Expr,
    recency: Expr,
    n_periods: Expr,
) -> Expr {
    bgbb_expected_purchases_udf().call(vec![model, periods_ahead, frequency, recency, n_periods])
}

/// `bgbb_p_alive(model, periods_ahead, frequency, recency, n_periods)`
pub fn bgbb_p_alive(
    model: Expr,
    periods_ahead: Expr,
    frequency: Expr,
    recency: Expr,
    n_periods: Expr,
) -> Expr {
    bgbb_p_alive_udf().call(vec![model, periods_ahead, frequency, recency, n_periods])
}
