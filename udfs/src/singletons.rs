//! One shared instance of each function, as DataFusion's own crates do (`count_udaf()`): the
//! lists `register_all` registers and the [`expr_fn`](crate::expr_fn) builders both take them
//! from here, so a function is constructed in one place.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};

use crate::bitmap::{
    BitmapAggregate, BitmapAggregateKind, BitmapOperation, BitmapScalar, BitmapScalarKind,
    SetOperation, TaggedBitmap, TaggedKind,
};
use crate::experiments::{AbTest, Statistic};
use crate::sequence::{SequenceFunction, SequenceKind};
use crate::value::fit_udaf::{Model, ModelFit};
use crate::value::predict::{Prediction, PredictionKind};
use crate::{
    active_people, activity, attribution, coalesce, correlation, date_trunc, funnel, identity,
    markov, paths, retention, retention_matrix, sequence, sessionize, value,
};

/// `$name()` returns the shared `Arc<$kind>` made from `$make` on first use.
macro_rules! singleton {
    ($kind:ident, $($name:ident => $make:expr),+ $(,)?) => {$(
        #[doc = concat!("The shared `", stringify!($kind), "` of `", stringify!($name), "`.")]
        pub fn $name() -> Arc<$kind> {
            static INSTANCE: LazyLock<Arc<$kind>> =
                LazyLock::new(|| Arc::new($kind::from($make)));
            Arc::clone(&INSTANCE)
        }
    )+};
}

singleton!(ScalarUDF,
    normalize_id_udf => identity::NormalizeId::default(),
    is_placeholder_id_udf => identity::IsPlaceholderId::default(),
    anchor_identifier_udf => identity::AnchorIdentifier::default(),
    hash_id_udf => identity::HashId::default(),
    mask_phone_udf => identity::MaskPhone::default(),
    ab_test_proportions_udf => AbTest::new(Statistic::Proportions),
    ab_test_means_udf => AbTest::new(Statistic::Means),
    ab_sample_size_udf => AbTest::new(Statistic::SampleSize),
    rfm_segment_udf => value::rfm::RfmSegment::default(),
    rfm_8class_udf => value::rfm::Rfm8Class::default(),
    lifecycle_layer_udf => value::lifecycle::LifecycleLayer::default(),
    ltv_simple_udf => value::lifecycle::LtvSimple::default(),
    bgnbd_expected_purchases_udf => Prediction::new(PredictionKind::ExpectedPurchases),
    bgnbd_p_alive_udf => Prediction::new(PredictionKind::ProbabilityAlive),
    gamma_gamma_expected_spend_udf => Prediction::new(PredictionKind::ExpectedSpend),
    bgnbd_clv_udf => Prediction::new(PredictionKind::LifetimeValue),
    pareto_nbd_expected_purchases_udf => Prediction::new(PredictionKind::ParetoExpectedPurchases),
    pareto_nbd_p_alive_udf => Prediction::new(PredictionKind::ParetoProbabilityAlive),
    pareto_nbd_clv_udf => Prediction::new(PredictionKind::ParetoLifetimeValue),
    mbgnbd_expected_purchases_udf => Prediction::new(PredictionKind::ModifiedExpectedPurchases),
    mbgnbd_p_alive_udf => Prediction::new(PredictionKind::ModifiedProbabilityAlive),
    mbgnbd_clv_udf => Prediction::new(PredictionKind::ModifiedLifetimeValue),
    sbg_survival_udf => Prediction::new(PredictionKind::SbgSurvival),
    sbg_retention_rate_udf => Prediction::new(PredictionKind::SbgRetentionRate),
    sbg_derl_udf => Prediction::new(PredictionKind::SbgResidualLifetime),
    bgbb_expected_purchases_udf => Prediction::new(PredictionKind::BgbbExpectedPurchases),
    bgbb_p_alive_udf => Prediction::new(PredictionKind::BgbbProbabilityAlive),
    coalesce_udf => coalesce::Coalesce::default(),
    date_trunc_udf => date_trunc::DateTrunc::default(),
    to_bitmap_udf => BitmapScalar::new(BitmapScalarKind::ToBitmap),
    bitmap_from_string_udf => BitmapScalar::new(BitmapScalarKind::FromString),
    bitmap_to_string_udf => BitmapScalar::new(BitmapScalarKind::ToString),
    bitmap_to_array_udf => BitmapScalar::new(BitmapScalarKind::ToArray),
    bitmap_count_udf => BitmapScalar::new(BitmapScalarKind::Count),
    bitmap_contains_udf => BitmapScalar::new(BitmapScalarKind::Contains),
    bitmap_has_any_udf => BitmapScalar::new(BitmapScalarKind::HasAny),
    bitmap_and_udf => BitmapOperation::new(SetOperation::And, false),
    bitmap_or_udf => BitmapOperation::new(SetOperation::Or, false),
    bitmap_xor_udf => BitmapOperation::new(SetOperation::Xor, false),
    bitmap_andnot_udf => BitmapOperation::new(SetOperation::AndNot, false),
    bitmap_and_count_udf => BitmapOperation::new(SetOperation::And, true),
    bitmap_or_count_udf => BitmapOperation::new(SetOperation::Or, true),
    bitmap_xor_count_udf => BitmapOperation::new(SetOperation::Xor, true),
    bitmap_andnot_count_udf => BitmapOperation::new(SetOperation::AndNot, true),
);

singleton!(AggregateUDF,
    window_funnel_udaf => funnel::WindowFunnel::default(),
    window_funnel_detail_udaf => funnel::WindowFunnelDetail::default(),
    window_funnel_totals_udaf => funnel::WindowFunnelTotals::default(),
    window_funnel_values_udaf => funnel::WindowFunnelValues::default(),
    retention_udaf => retention::Retention::default(),
    retention_matrix_udaf => retention_matrix::RetentionMatrix::default(),
    path_edges_udaf => paths::PathEdges::default(),
    activity_lifecycle_udaf => activity::ActivityAggregate::<activity::lifecycle::Lifecycle>::default(),
    stickiness_udaf => activity::ActivityAggregate::<activity::stickiness::StickinessReport>::default(),
    funnel_correlation_udaf => correlation::FunnelCorrelation::default(),
    active_people_udaf => active_people::ActivePeople::default(),
    sequence_match_udaf => SequenceFunction::new(SequenceKind::Match),
    sequence_count_udaf => SequenceFunction::new(SequenceKind::Count),
    sequence_match_events_udaf => SequenceFunction::new(SequenceKind::Events),
    sequence_next_node_udaf => sequence::SequenceNextNode::default(),
    bitmap_agg_udaf => BitmapAggregate::new(BitmapAggregateKind::Agg),
    bitmap_union_udaf => BitmapAggregate::new(BitmapAggregateKind::Union),
    bitmap_union_count_udaf => BitmapAggregate::new(BitmapAggregateKind::UnionCount),
    bitmap_intersect_udaf => BitmapAggregate::new(BitmapAggregateKind::Intersect),
    intersect_count_udaf => TaggedBitmap::new(TaggedKind::IntersectCount),
    bitmap_expr_udaf => TaggedBitmap::new(TaggedKind::Expression),
    bitmap_expr_count_udaf => TaggedBitmap::new(TaggedKind::ExpressionCount),
    attribution_udaf => attribution::Attribution::default(),
    markov_attribution_udaf => markov::MarkovAttribution::default(),
    clv_summary_udaf => value::clv_summary::ClvSummary::default(),
    clv_holdout_summary_udaf => value::holdout_summary::ClvHoldoutSummary::default(),
    bgnbd_fit_udaf => ModelFit::new(Model::BgNbd),
    pareto_nbd_fit_udaf => ModelFit::new(Model::ParetoNbd),
    mbgnbd_fit_udaf => ModelFit::new(Model::MbgNbd),
    sbg_fit_udaf => ModelFit::new(Model::ShiftedBetaGeometric),
    bgbb_fit_udaf => ModelFit::new(Model::BetaGeoBetaBinom),
    gamma_gamma_fit_udaf => ModelFit::new(Model::GammaGamma),
);

singleton!(WindowUDF,
    sessionize_udwf => sessionize::Sessionize::default(),
);
