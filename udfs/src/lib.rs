//! userlake's SQL functions for Apache DataFusion: user-growth analytics (funnels, retention,
//! behavioural sequences, identity, RFM, LTV, attribution). Needs nothing of the userlake
//! engine, only DataFusion and a few small crates (for stitching). `register_all` adds every
//! function to any `FunctionRegistry` (a `SessionContext`, a `SessionState`), as
//! `datafusion-functions-json` does; `table_functions` lists the table functions to register
//! with `SessionContext::register_udtf`; `physical_optimizer_rules` the planner rules that suit
//! the aggregates (optional: answers are the same without them, only slower). `register_all`
//! also replaces DataFusion's `coalesce` with one that gives the same answers faster
//! ([`builtin_replacements`]); [`register`] with [`Builtins::Keep`] adds the same functions and
//! keeps DataFusion's.

pub mod active_people;
pub mod attribution;
pub mod coalesce;
pub mod conditions;
mod doc_sections;
pub mod docs;
mod event_list;
pub mod experiments;
mod flat_groups;
pub mod funnel;
mod grouped_rows;
pub mod identity;
mod literals;
mod markov;
mod numeric;
pub mod referral;
pub mod retention;
pub mod sequence;
pub mod sessionize;
pub mod single_phase;
mod special;
pub mod stitch;
pub mod strings;
pub mod table_input;
pub mod time;
pub mod value;

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, Documentation, ScalarUDF, WindowUDF};

/// Every scalar function of this crate.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(identity::NormalizeId::default())),
        Arc::new(ScalarUDF::from(identity::IsPlaceholderId::default())),
        Arc::new(ScalarUDF::from(identity::AnchorIdentifier::default())),
        Arc::new(ScalarUDF::from(identity::HashId::default())),
        Arc::new(ScalarUDF::from(identity::MaskPhone::default())),
        Arc::new(ScalarUDF::from(experiments::AbTest::new(
            experiments::Statistic::Proportions,
        ))),
        Arc::new(ScalarUDF::from(experiments::AbTest::new(
            experiments::Statistic::Means,
        ))),
        Arc::new(ScalarUDF::from(experiments::AbTest::new(
            experiments::Statistic::SampleSize,
        ))),
        Arc::new(ScalarUDF::from(value::rfm::RfmSegment::default())),
        Arc::new(ScalarUDF::from(value::rfm::Rfm8Class::default())),
        Arc::new(ScalarUDF::from(value::lifecycle::LifecycleLayer::default())),
        Arc::new(ScalarUDF::from(value::lifecycle::LtvSimple::default())),
        Arc::new(ScalarUDF::from(value::predict::Prediction::new(
            value::predict::PredictionKind::ExpectedPurchases,
        ))),
        Arc::new(ScalarUDF::from(value::predict::Prediction::new(
            value::predict::PredictionKind::ProbabilityAlive,
        ))),
        Arc::new(ScalarUDF::from(value::predict::Prediction::new(
            value::predict::PredictionKind::ExpectedSpend,
        ))),
        Arc::new(ScalarUDF::from(value::predict::Prediction::new(
            value::predict::PredictionKind::LifetimeValue,
        ))),
    ]
}

/// Every aggregate function of this crate.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::from(funnel::WindowFunnel::default())),
        Arc::new(AggregateUDF::from(funnel::WindowFunnelDetail::default())),
        Arc::new(AggregateUDF::from(funnel::WindowFunnelTotals::default())),
        Arc::new(AggregateUDF::from(funnel::WindowFunnelValues::default())),
        Arc::new(AggregateUDF::from(retention::Retention::default())),
        Arc::new(AggregateUDF::from(active_people::ActivePeople::default())),
        Arc::new(AggregateUDF::from(sequence::SequenceFunction::new(
            sequence::SequenceKind::Match,
        ))),
        Arc::new(AggregateUDF::from(sequence::SequenceFunction::new(
            sequence::SequenceKind::Count,
        ))),
        Arc::new(AggregateUDF::from(sequence::SequenceFunction::new(
            sequence::SequenceKind::Events,
        ))),
        Arc::new(AggregateUDF::from(sequence::SequenceNextNode::default())),
        Arc::new(AggregateUDF::from(attribution::Attribution::default())),
        Arc::new(AggregateUDF::from(markov::MarkovAttribution::default())),
        Arc::new(AggregateUDF::from(value::clv_summary::ClvSummary::default())),
        Arc::new(AggregateUDF::from(value::fit_udaf::ModelFit::new(
            value::fit_udaf::Model::BgNbd,
        ))),
        Arc::new(AggregateUDF::from(value::fit_udaf::ModelFit::new(
            value::fit_udaf::Model::ParetoNbd,
        ))),
        Arc::new(AggregateUDF::from(value::fit_udaf::ModelFit::new(
            value::fit_udaf::Model::GammaGamma,
        ))),
    ]
}

/// DataFusion functions this crate replaces with faster ones of the same name, types and
/// results (see [`coalesce`]). They are not listed as userlake functions.
pub fn builtin_replacements() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::from(coalesce::Coalesce::default()))]
}

/// Every window function of this crate.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    vec![Arc::new(WindowUDF::from(sessionize::Sessionize::default()))]
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

/// Adds every function of this crate to `registry`, and replaces DataFusion's `coalesce` with
/// this crate's unless `builtins` is [`Builtins::Keep`]. Each replacement is logged (debug).
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
                 one pass over its arguments; Builtins::Keep keeps DataFusion's)",
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
    fn coalesce_is_replaced_unless_kept() {
        use datafusion::prelude::SessionContext;
        let is_ours = |ctx: &SessionContext| {
            ctx.udf("coalesce")
                .expect("coalesce is registered")
                .inner()
                .is::<coalesce::Coalesce>()
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
