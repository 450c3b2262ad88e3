//! The Pareto/NBD model (Schmittlein, Morrison and Colombo 1987), with the log-likelihood in the
//! form of Fader and Hardie's note 009 (equations 18-20), as `lifetimes`' `ParetoNBDFitter`.
//! Its gradient needs derivatives of 2F1 in its parameters, so the fit uses central differences.

use statrs::function::gamma::ln_gamma;

use super::bgnbd::log_add_exp;
use super::data::RepeatBuyingData;
use super::fit::{DifferencesFit, Fit, Penalty};
use crate::special::ln_hyp2f1_c_is_a_plus_1;

/// Parameters (r, alpha, s, beta).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParetoNbd {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

impl ParetoNbd {
    pub fn from_slice(p: &[f64]) -> Self {
        Self {
            r: p[0],
            alpha: p[1],
            s: p[2],
            beta: p[3],
        }
    }

    /// ln A_0 of note 009 (equations 19 and 20): `None` if a series does not settle.
    fn ln_a0(&self, x: f64, t_x: f64, t: f64) -> Option<f64> {
        let Self { r, alpha, s, beta } = *self;
        let (low, high, second) = if alpha < beta {
            (alpha, beta, r + x)
        } else {
            (beta, alpha, s + 1.0)
        };
        let gap = high - low;
        let rsx = r + s + x;
        let (q1, q2) = (high + t_x, high + t);
        // 1 - gap / q is (low + time) / q, without cancellation when low is far below high
        let ln_p1 = ln_hyp2f1_c_is_a_plus_1(rsx, second, gap / q1, (low + t_x) / q1)?;
        let ln_p2 = ln_hyp2f1_c_is_a_plus_1(rsx, second, gap / q2, (low + t) / q2)?;
        // ln(p1 / q1^rsx - p2 / q2^rsx); the difference is >= 0 and is 0 when t_x = t.
        let first = ln_p1 - rsx * q1.ln();
        let second = ln_p2 - rsx * q2.ln();
        if second >= first {
            return Some(f64::NEG_INFINITY);
        }
        Some(first + (-(second - first).exp()).ln_1p())
    }

    /// The log-likelihood of one customer (equation 18 of note 009).
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let Self { r, alpha, s, beta } = *self;
        let Some(ln_a0) = self.ln_a0(x, t_x, t) else {
            return f64::NAN;
        };
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln();
        let alive = -(r + x) * (alpha + t).ln() - s * (beta + t).ln();
        let dropped = s.ln() + ln_a0 - (r + s + x).ln();
        a1 + log_add_exp(alive, dropped)
    }
}

impl ParetoNbd {
    /// P(alive) of a customer with history (x, t_x, T): lifetimes'
    /// `conditional_probability_alive`, 1 / (1 + s / (r + s + x) (alpha + T)^(r + x)
    /// (beta + T)^s A_0). `None` if a series does not settle.
    pub fn probability_alive(&self, x: f64, t_x: f64, t: f64) -> Option<f64> {
        let Self { r, alpha, s, beta } = *self;
        let ln_a0 = self.ln_a0(x, t_x, t)?;
        let ln_ratio =
            s.ln() - (r + s + x).ln() + (r + x) * (alpha + t).ln() + s * (beta + t).ln() + ln_a0;
        Some(1.0 / (1.0 + ln_ratio.exp()))
    }

    /// Expected purchases in the next `horizons` (each) of a customer with history (x, t_x, T):
    /// lifetimes' `conditional_expected_number_of_purchases_up_to_time`, the chance of being
    /// alive times (r + x)(beta + T) / ((alpha + T)(s - 1)) (1 - ((beta + T) / (beta + T +
    /// t))^(s - 1)). The log-likelihood is computed once for all horizons. `None` where a
    /// series does not settle.
    pub fn expected_purchases(
        &self,
        horizons: &[f64],
        x: f64,
        t_x: f64,
        t: f64,
        out: &mut [Option<f64>],
    ) {
        let Self { r, alpha, s, beta } = *self;
        let likelihood = self.log_likelihood(x, t_x, t);
        let alive = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln()
            - (r + x) * (alpha + t).ln()
            - s * (beta + t).ln();
        let rate = (r + x).ln() + (beta + t).ln() - (alpha + t).ln();
        for (slot, &horizon) in out.iter_mut().zip(horizons) {
            *slot = likelihood.is_finite().then(|| {
                // (1 - q^(s - 1)) / (s - 1) with q = (beta + T) / (beta + T + horizon), without
                // cancellation near s = 1 (where it tends to -ln q)
                let ln_q = (beta + t).ln() - (beta + t + horizon).ln();
                let spread = if (s - 1.0).abs() < 1e-12 {
                    -ln_q
                } else {
                    -((s - 1.0) * ln_q).exp_m1() / (s - 1.0)
                };
                (alive + rate + spread.ln() - likelihood).exp()
            });
        }
    }
}

/// The maximum-likelihood (or penalised) Pareto/NBD fit: lifetimes' objective, the total
/// negative log-likelihood over the (scaled) data plus `penalizer` times the sum of squared
/// scaled parameters.
pub fn fit(data: &RepeatBuyingData, penalizer: f64) -> Fit {
    let scale = data.scale;
    DifferencesFit {
        parameters: 4,
        customers: data.customers as u64,
        penalizer,
        penalty: Penalty::OnTotal,
        total_log_likelihood: &|p| {
            let model = ParetoNbd::from_slice(p);
            data.weighted_sum(|x, t_x, t| model.log_likelihood(x, t_x, t))
        },
        unscale: &|p| {
            p[1] /= scale;
            p[3] /= scale;
        },
        log_likelihood_shift: data.total_frequency * scale.ln(),
    }
    .run()
}
