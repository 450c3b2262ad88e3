//! The modified BG/NBD model (Batislam, Denizel and Filiztekin 2007), as `lifetimes`'
//! `ModifiedBetaGeoFitter`: BG/NBD where a customer may also drop out right after the first
//! purchase, so that a customer who never bought again is not taken to be alive for sure.
//!
//! Its predictions are BG/NBD's with b + 1 in the purchase curve and the drop-out odds applied to
//! every customer, so they reuse `BgNbd::purchase_curve`.

use statrs::function::gamma::ln_gamma;

use super::bgnbd::{BgNbd, log_add_exp};
use super::data::{RepeatBuyingData, sum_over_chunks};
use super::fit::{DifferencesFit, Fit, Penalty};

/// Parameters (r, alpha, a, b), in whatever time unit the data was in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MbgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl MbgNbd {
    pub fn from_slice(p: &[f64]) -> Self {
        Self {
            r: p[0],
            alpha: p[1],
            a: p[2],
            b: p[3],
        }
    }

    /// The log-likelihood of one customer (lifetimes' A_1 + A_2 + A_3 + log(1 + e^A_4)).
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_gamma(a + b) + ln_gamma(b + x + 1.0) - ln_gamma(b) - ln_gamma(a + b + x + 1.0);
        let alive = -(r + x) * (alpha + t).ln();
        let dropped = a.ln() - (b + x).ln() - (r + x) * (alpha + t_x).ln();
        a1 + a2 + log_add_exp(alive, dropped)
    }

    /// The weighted log-likelihood of the (scaled) data: the terms of the frequency alone once
    /// per frequency, and ln(alpha + time) once per distinct time.
    pub fn total_log_likelihood(&self, data: &RepeatBuyingData) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let rows = data.frequency.len();
        let ln_alpha_time: Vec<f64> = data.times.values.iter().map(|t| (alpha + t).ln()).collect();
        let (lg_r, lg_b, lg_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
        let (ln_alpha, ln_a) = (alpha.ln(), a.ln());
        let [total] = sum_over_chunks::<1>(&data.chunks, |chunk| {
            let mut total = 0.0;
            for &(x, start, end, group_weight) in &data.groups.groups[chunk] {
                total += group_weight
                    * (ln_gamma(r + x) - lg_r + r * ln_alpha + lg_ab + ln_gamma(b + x + 1.0)
                        - lg_b
                        - ln_gamma(a + b + x + 1.0));
                let ln_odds = ln_a - (b + x).ln();
                for i in start..end {
                    let alive = -(r + x) * ln_alpha_time[data.times.index[rows + i] as usize];
                    let dropped = ln_odds - (r + x) * ln_alpha_time[data.times.index[i] as usize];
                    total += data.weight[i] * log_add_exp(alive, dropped);
                }
            }
            [total]
        });
        total
    }

    /// The BG/NBD model whose purchase curve is this model's: b + 1 in place of b.
    pub fn purchase_model(&self) -> BgNbd {
        BgNbd {
            r: self.r,
            alpha: self.alpha,
            a: self.a,
            b: self.b + 1.0,
        }
    }

    /// The denominator of the conditional expectation, 1 / P(alive): 1 + a / (b + x) ((alpha +
    /// T) / (alpha + t_x))^(r + x), for every customer (a customer without repeat purchases may
    /// have left too).
    pub fn recency_divisor(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let Self { r, alpha, a, b } = *self;
        1.0 + (a.ln() - (b + x).ln() + (r + x) * ((alpha + t) / (alpha + t_x)).ln()).exp()
    }

    /// lifetimes' `conditional_probability_alive`.
    pub fn probability_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        1.0 / self.recency_divisor(x, t_x, t)
    }

    /// Expected repeat purchases in the next `horizon`: lifetimes'
    /// `conditional_expected_number_of_purchases_up_to_time`.
    pub fn expected_purchases(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> Option<f64> {
        let mut curve = [None];
        self.purchase_model()
            .purchase_curve(&[horizon], x, t, &mut curve);
        BgNbd::expected_from_curve(curve[0], self.recency_divisor(x, t_x, t))
    }
}

/// The maximum-likelihood (or penalised) MBG/NBD fit: lifetimes' objective, the mean negative
/// log-likelihood over the (scaled) data plus `penalizer` times the sum of squared parameters,
/// with BetaGeoFitter's time scaling.
pub fn fit(data: &RepeatBuyingData, penalizer: f64) -> Fit {
    let scale = data.scale;
    DifferencesFit {
        parameters: 4,
        customers: data.customers as u64,
        penalizer,
        penalty: Penalty::OnMean,
        total_log_likelihood: &|p| MbgNbd::from_slice(p).total_log_likelihood(data),
        unscale: &|p| p[1] /= scale,
        log_likelihood_shift: data.total_frequency * scale.ln(),
    }
    .run()
}
