//! Customer value: RFM and lifecycle layers, simple LTV, the per-customer summary that
//! repeat-buying models take, and the BG/NBD, Pareto/NBD and Gamma-Gamma models fitted as
//! aggregates, with their predictions as scalar functions.

pub mod bgbb;
pub mod bgnbd;
pub mod data;
pub mod fit;
pub mod gamma_gamma;
pub mod mbgnbd;
pub mod optimize;
pub mod pareto_nbd;
pub mod sbg;

pub mod clv_summary;
pub mod fit_udaf;
pub mod holdout_summary;
pub mod lifecycle;
#[cfg(test)]
mod model_tests;
pub mod period_totals;
pub mod predict;
pub mod rfm;
