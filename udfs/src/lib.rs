//! userlake's SQL functions for Apache DataFusion: user-growth analytics (funnels, retention,
//! behavioural sequences, identity, RFM, LTV, attribution, audience bitmaps). Needs nothing of the userlake
//! engine, only DataFusion and a few small crates (for stitching). `register_all` adds every
//! function to any `FunctionRegistry` (a `SessionContext`, a `SessionState`), as
//! `datafusion-functions-json` does; `table_functions` lists the table functions to register
//! with `SessionContext::register_udtf`; `physical_optimizer_rules` the planner rules that suit
//! the aggregates (optional: answers are the same without them, only slower). `register_all`
//! also replaces DataFusion's `coalesce` and `date_trunc` with ones that give the same answers
//! faster ([`builtin_replacements`]); [`register`] with [`Builtins::Keep`] adds the same functions and
//! keeps DataFusion's.
//!
//! Each function has one shared instance (`window_funnel_udaf()`, `normalize_id_udf()`, ...,
//! as DataFusion's `count_udaf()`), and [`expr_fn`] builds calls of them as `Expr`s for the
//! DataFrame API.

pub mod active_people;
pub mod activity;
mod arguments;
pub mod attribution;
pub mod bitmap;
pub mod coalesce;
pub mod conditions;
pub mod correlation;
pub mod date_trunc;
mod doc_sections;
pub mod docs;
mod event_list;
pub mod experiments;
pub mod expr_fn;
mod flat_groups;
pub mod funnel;
mod grouped_rows;
pub mod identity;
mod literals;
mod markov;
mod names;
mod numeric;
pub mod paths;
mod people;
pub mod referral;
pub mod retention;
pub mod retention_matrix;
pub mod sequence;
pub mod sessionize;
pub mod single_phase;
mod singletons;
mod special;
pub mod stitch;
pub mod strings;
pub mod table_input;
pub mod time;
pub mod value;

use std::sync::Arc;

pub use singletons::*;

use datafusion::catalog::TableFunctionImpl;
use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, Documentation, ScalarUDF, WindowUDF};

/// Every scalar function of this crate.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        normalize_id_udf(),
        is_placeholder_id_udf(),
        anchor_identifier_udf(),
        hash_id_udf(),
        mask_phone_udf(),
        ab_test_proportions_udf(),
        ab_test_means_udf(),
        ab_sample_size_udf(),
        rfm_segment_udf(),
        rfm_8class_udf(),
        lifecycle_layer_udf(),
        ltv_simple_udf(),
        bgnbd_expected_purchases_udf(),
        bgnbd_p_alive_udf(),
        gamma_gamma_expected_spend_udf(),
        bgnbd_clv_udf(),
        pareto_nbd_expected_purchases_udf(),
        pareto_nbd_p_alive_udf(),
        pareto_nbd_clv_udf(),
        mbgnbd_expected_purchases_udf(),
        mbgnbd_p_alive_udf(),
        mbgnbd_clv_udf(),
        sbg_survival_udf(),
        sbg_retention_rate_udf(),
        sbg_derl_udf(),
        bgbb_expected_purchases_udf(),
        bgbb_p_alive_udf(),
        to_bitmap_udf(),
        bitmap_from_string_udf(),
        bitmap_to_string_udf(),
        bitmap_to_array_udf(),
        bitmap_count_udf(),
        bitmap_contains_udf(),
        bitmap_has_any_udf(),
        bitmap_and_udf(),
        bitmap_or_udf(),
        bitmap_xor_udf(),
        bitmap_andnot_udf(),
        bitmap_and_count_udf(),
        bitmap_or_count_udf(),
        bitmap_xor_count_udf(),
        bitmap_andnot_count_udf(),
    ]
}

/// Every aggregate function of this crate.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        window_funnel_udaf(),
        window_funnel_detail_udaf(),
        window_funnel_totals_udaf(),
        window_funnel_values_udaf(),
        retention_udaf(),
        retention_matrix_udaf(),
        path_edges_udaf(),
        activity_lifecycle_udaf(),
        stickiness_udaf(),
        funnel_correlation_udaf(),
        active_people_udaf(),
        sequence_match_udaf(),
        sequence_count_udaf(),
        sequence_match_events_udaf(),
        sequence_next_node_udaf(),
        attribution_udaf(),
        markov_attribution_udaf(),
        clv_summary_udaf(),
        clv_holdout_summary_udaf(),
        bgnbd_fit_udaf(),
        pareto_nbd_fit_udaf(),
        mbgnbd_fit_udaf(),
        sbg_fit_udaf(),
        bgbb_fit_udaf(),
        gamma_gamma_fit_udaf(),
        bitmap_agg_udaf(),
        bitmap_union_udaf(),
        bitmap_union_count_udaf(),
        bitmap_intersect_udaf(),
        intersect_count_udaf(),
        bitmap_expr_udaf(),
        bitmap_expr_count_udaf(),
    ]
}

/// DataFusion functions this crate replaces with faster ones of the same name, types and
/// results (see [`coalesce`] and [`date_trunc`]). They are not listed as userlake functions.
pub fn builtin_replacements() -> Vec<Arc<ScalarUDF>> {
    vec![coalesce_udf(), date_trunc_udf()]
}

/// Every window function of this crate.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    vec![sessionize_udwf()]
}

/// Every table function of this crate, by name. A `FunctionRegistry` has no place for table
/// functions: register these with `SessionContext::register_udtf`.
pub fn table_functions() -> Vec<(&'static str, Arc<dyn TableFunctionImpl>)> {
    vec![
        ("stitch", Arc::new(stitch::StitchFunction)),
        ("referral_tree", Arc::new(referral::ReferralTreeFunction)),
    ]
}

/// The documentation of a table function of this crate.
pub fn table_function_documentation(name: &str) -> Option<&'static Documentation> {
    match name {
        "stitch" => Some(&stitch::STITCH_DOC),
        "referral_tree" => Some(&referral::REFERRAL_TREE_DOC),
        _ => None,
    }
}

/// The physical optimizer rules that suit this crate's aggregates, with the name of the
/// DataFusion rule each should run after. See [`single_phase`].
pub fn physical_optimizer_rules() -> Vec<(
    &'static str,
    Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>,
)> {
    vec![(
        "CombinePartialFinalAggregate",
        Arc::new(single_phase::SinglePhaseRowKeepingAggregates::new()),
    )]
}

/// Registers every userlake function but the table functions (see [`table_functions`]).
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    register(registry, Builtins::Replace)
}

/// What [`register`] does with the DataFusion functions this crate has faster equivalents of
/// ([`builtin_replacements`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtins {
    /// Replace them (what [`register_all`] does).
    Replace,
    /// Leave DataFusion's own in place.
    Keep,
}

/// Adds every function of this crate to `registry`, and replaces DataFusion's `coalesce` and
/// `date_trunc` with this crate's unless `builtins` is [`Builtins::Keep`]. Each replacement is logged (debug).
pub fn register(registry: &mut dyn FunctionRegistry, builtins: Builtins) -> Result<()> {
    for function in scalar_functions() {
        registry.register_udf(function)?;
    }
    for function in aggregate_functions() {
        registry.register_udaf(function)?;
    }
    for function in window_functions() {
        registry.register_udwf(function)?;
    }
    if builtins == Builtins::Replace {
        for function in builtin_replacements() {
            log::debug!(
                "userlake-udfs replaces DataFusion's {} with its own (same types and answers, \
                 computed faster; Builtins::Keep keeps DataFusion's)",
                function.name()
            );
            registry.register_udf(function)?;
        }
    }
    Ok(())
}

/// The names of the functions `register_all` adds, for listings.
pub fn function_names() -> Vec<String> {
    let scalars = scalar_functions().into_iter().map(|f| f.name().to_string());
    let aggregates = aggregate_functions()
        .into_iter()
        .map(|f| f.name().to_string());
    let windows = window_functions().into_iter().map(|f| f.name().to_string());
    let tables = table_functions()
        .into_iter()
        .map(|(name, _)| name.to_string());
    scalars
        .chain(aggregates)
        .chain(windows)
        .chain(tables)
        .collect()
}

/// Reproducible pseudo-random numbers for the crate's randomized tests (xorshift64).
#[cfg(test)]
pub(crate) struct TestRandom(u64);

#[cfg(test)]
impl TestRandom {
    /// A generator from a non-zero seed: the same seed gives the same numbers.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..bound`.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_replaced_unless_kept() {
        use datafusion::prelude::SessionContext;
        let is_ours = |ctx: &SessionContext| {
            let coalesce = ctx.udf("coalesce").expect("coalesce is registered");
            let date_trunc = ctx.udf("date_trunc").expect("date_trunc is registered");
            let ours = coalesce.inner().is::<coalesce::Coalesce>();
            assert_eq!(ours, date_trunc.inner().is::<date_trunc::DateTrunc>());
            ours
        };
        let mut replaced = SessionContext::new();
        register_all(&mut replaced).expect("registered");
        assert!(is_ours(&replaced));
        let mut kept = SessionContext::new();
        register(&mut kept, Builtins::Keep).expect("registered");
        assert!(!is_ours(&kept));
        assert!(kept.udaf("window_funnel").is_ok());
    }

    #[test]
    fn every_function_is_documented() {
        for f in scalar_functions() {
            assert!(
                f.documentation().is_some(),
                "{} has no documentation",
                f.name()
            );
        }
        for f in aggregate_functions() {
            assert!(
                f.documentation().is_some(),
                "{} has no documentation",
                f.name()
            );
        }
        for f in window_functions() {
            assert!(
                f.documentation().is_some(),
                "{} has no documentation",
                f.name()
            );
        }
        for (name, _) in table_functions() {
            assert!(
                table_function_documentation(name).is_some(),
                "{name} has no documentation"
            );
        }
        let names = function_names();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            names.len(),
            unique.len(),
            "a function name is registered twice"
        );
    }
}
