//! The shifted-beta-geometric (sBG) model of contractual renewals (Fader and Hardie 2007, "How
//! to project customer retention"): each customer churns at each renewal with a fixed
//! probability theta, and theta varies across customers as Beta(alpha, beta). Its retention
//! rate rises with tenure, as the customers likely to leave leave first.
//!
//! A customer who churned at renewal t (t >= 1: did not renew at the end of period t)
//! contributes ln P(T = t) = ln B(alpha + 1, beta + t - 1) - ln B(alpha, beta); one still a
//! member after t periods contributes the survival ln S(t) = ln B(alpha, beta + t) - ln B(alpha,
//! beta). The discounted expected residual lifetime is Fader and Hardie's 2010 formula.

use statrs::function::beta::ln_beta;

use super::fit::{DifferencesFit, Fit, Penalty};
use crate::special::hyp2f1;

/// Parameters (alpha, beta) of the Beta distribution of the churn probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftedBetaGeometric {
    pub alpha: f64,
    pub beta: f64,
}

impl ShiftedBetaGeometric {
    pub fn from_slice(p: &[f64]) -> Self {
        Self {
            alpha: p[0],
            beta: p[1],
        }
    }

    /// ln P(T = t): the customer churns at renewal `t` (t >= 1).
    pub fn ln_churn_at(&self, t: f64) -> f64 {
        let Self { alpha, beta } = *self;
        ln_beta(alpha + 1.0, beta + t - 1.0) - ln_beta(alpha, beta)
    }

    /// S(t): the share of a cohort still a member after `t` periods (t >= 0).
    pub fn survival(&self, t: f64) -> f64 {
        let Self { alpha, beta } = *self;
        (ln_beta(alpha, beta + t) - ln_beta(alpha, beta)).exp()
    }

    /// r(t) = S(t) / S(t - 1): the share of the members of period t - 1 who renew at the end
    /// of period t - 1 into period t (t >= 1).
    pub fn retention_rate(&self, t: f64) -> f64 {
        let Self { alpha, beta } = *self;
        (beta + t - 1.0) / (alpha + beta + t - 1.0)
    }

    /// The discounted expected residual lifetime of a member who has renewed `renewals` times:
    /// the expected number of renewals still to come, the next one (now due) counted in full and
    /// each later one discounted by (1 + d) per further period (equation 6 of Fader and Hardie
    /// 2010, "Customer-base valuation in a contractual setting"):
    /// B(alpha, beta + n + 1) / B(alpha, beta + n) 2F1(1, beta + n + 1; alpha + beta + n + 1;
    /// 1 / (1 + d)). Multiplied by the value of a renewal it is the member's residual value.
    /// `None` when the series does not settle.
    pub fn discounted_residual_lifetime(&self, renewals: f64, discount_rate: f64) -> Option<f64> {
        let Self { alpha, beta } = *self;
        let n = renewals;
        let ratio = (ln_beta(alpha, beta + n + 1.0) - ln_beta(alpha, beta + n)).exp();
        let series = hyp2f1(
            1.0,
            beta + n + 1.0,
            alpha + beta + n + 1.0,
            1.0 / (1.0 + discount_rate),
        )?;
        let value = ratio * series;
        value.is_finite().then_some(value)
    }
}

/// The maximum-likelihood (or, with `penalizer` > 0, penalised) sBG fit over sorted (period,
/// churned) patterns with their member counts (churned is 1 or 0): the mean negative
/// log-likelihood plus `penalizer` times the sum of squared parameters.
pub fn fit(patterns: &[([f64; 2], u64)], penalizer: f64) -> Fit {
    DifferencesFit {
        parameters: 2,
        customers: patterns.iter().map(|(_, c)| c).sum(),
        penalizer,
        penalty: Penalty::OnMean,
        total_log_likelihood: &|p| {
            let model = ShiftedBetaGeometric::from_slice(p);
            patterns
                .iter()
                .map(|([period, churned], count)| {
                    let contribution = if *churned == 1.0 {
                        model.ln_churn_at(*period)
                    } else {
                        model.survival(*period).ln()
                    };
                    *count as f64 * contribution
                })
                .sum()
        },
        unscale: &|_| {},
        log_likelihood_shift: 0.0,
    }
    .run()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fader and Hardie's cohort as (period, churned) patterns: the members lost at each of
    /// the first renewals, and those still members after the last.
    fn cohort(survivors: &[u64]) -> Vec<([f64; 2], u64)> {
        let mut patterns: Vec<([f64; 2], u64)> = survivors
            .windows(2)
            .enumerate()
            .map(|(t, pair)| ([(t + 1) as f64, 1.0], pair[0] - pair[1]))
            .collect();
        let last = survivors.len() - 1;
        patterns.push(([last as f64, 0.0], survivors[last]));
        patterns.sort_by(|a, b| a.0[0].total_cmp(&b.0[0]).then(a.0[1].total_cmp(&b.0[1])));
        patterns
    }

    #[test]
    fn reproduces_fader_and_hardies_published_fits() {
        // Table 1 of "How to project customer retention" (2007): members of 1,000 after years
        // 0-7; the paper's estimates and log-likelihoods: regular alpha 0.704, beta 1.182, LL
        // -1,680.3; high end alpha 0.668, beta 3.806, LL -1,611.2
        for (survivors, alpha, beta, ll) in [
            (
                &[1000, 631, 468, 382, 326, 289, 262, 241],
                0.704,
                1.182,
                -1680.3,
            ),
            (
                &[1000, 869, 743, 653, 593, 551, 517, 491],
                0.668,
                3.806,
                -1611.2,
            ),
        ] {
            let fit = fit(&cohort(survivors), 0.0);
            assert!(fit.converged, "{fit:?}");
            let p = fit.params.clone().unwrap();
            assert_eq!(
                ((p[0] * 1000.0).round(), (p[1] * 1000.0).round()),
                ((alpha * 1000.0f64).round(), (beta * 1000.0f64).round()),
                "{fit:?}"
            );
            let log_likelihood = fit.log_likelihood.unwrap();
            assert_eq!((log_likelihood * 10.0).round() / 10.0, ll, "{fit:?}");
            assert_eq!(fit.customers, 1000);
        }
    }

    #[test]
    fn survival_retention_and_residual_lifetime_agree_with_their_definitions() {
        let model = ShiftedBetaGeometric {
            alpha: 0.704,
            beta: 1.182,
        };
        // S(t) is the product of the retention rates, and 1 minus the churn probabilities
        let mut survival = 1.0;
        let mut churned = 0.0;
        for t in 1..=12 {
            let t = t as f64;
            survival *= model.retention_rate(t);
            churned += model.ln_churn_at(t).exp();
            assert!((model.survival(t) - survival).abs() < 1e-12);
            assert!((model.survival(t) - (1.0 - churned)).abs() < 1e-12);
        }
        // DERL is the sum of the chances of each future renewal, the next one in full and each
        // later one discounted by a further period
        for (renewals, d) in [(0.0f64, 0.1f64), (3.0, 0.1), (7.0, 0.05), (0.0, 0.5)] {
            let base = model.survival(renewals);
            let direct: f64 = (1..200_000)
                .map(|k| model.survival(renewals + k as f64) / base / (1.0 + d).powi(k - 1))
                .sum();
            let derl = model.discounted_residual_lifetime(renewals, d).unwrap();
            assert!(
                (derl - direct).abs() < 1e-9 * direct,
                "{renewals} {d}: {derl} vs {direct}"
            );
        }
    }
}
