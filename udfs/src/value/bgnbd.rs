//! The BG/NBD model (Fader, Hardie and Lee 2005, "Counting Your Customers the Easy Way"):
//! its log-likelihood with analytic gradient, the maximum-likelihood fit, and the
//! per-customer predictions (expected purchases, probability alive).

use statrs::function::gamma::{digamma, ln_gamma};

use super::data::{RepeatBuyingData, sum_over_chunks};
use super::fit::{Fit, finish};
use super::optimize::{Objective, minimize};
use crate::special::{hyp2f1, hyp2f1_many};

/// Parameters (r, alpha, a, b), in whatever time unit the data was in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbd {
    pub fn from_slice(p: &[f64]) -> Self {
        Self {
            r: p[0],
            alpha: p[1],
            a: p[2],
            b: p[3],
        }
    }

    /// The log-likelihood of one customer with `x` repeat purchases, the last at `t_x`, observed
    /// for `t` (equation 6 of the paper, in the log-sum-exp form of Hardie's note 004).
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
        let a3 = -(r + x) * (alpha + t).ln();
        if x > 0.0 {
            let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + t_x).ln();
            a1 + a2 + log_add_exp(a3, a4)
        } else {
            a1 + a2 + a3
        }
    }

    /// Expected repeat purchases in the next `horizon` of a customer with history (x, t_x, t)
    /// (equation 10 of the paper). `None` when the hypergeometric series does not settle.
    pub fn expected_purchases(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> Option<f64> {
        let mut out = [None];
        self.expected_purchases_at(&[horizon], x, t_x, t, &mut out);
        out[0]
    }

    /// `expected_purchases` at several horizons of the same customer, sharing the series.
    pub fn expected_purchases_at(
        &self,
        horizons: &[f64],
        x: f64,
        t_x: f64,
        t: f64,
        out: &mut [Option<f64>],
    ) {
        self.purchase_curve(horizons, x, t, out);
        let divisor = self.recency_divisor(x, t_x, t);
        for value in out.iter_mut() {
            *value = Self::expected_from_curve(*value, divisor);
        }
    }

    /// Expected purchases from a value of `purchase_curve` and the customer's
    /// `recency_divisor`; `None` where either is not a number.
    pub fn expected_from_curve(curve: Option<f64>, divisor: f64) -> Option<f64> {
        curve.map(|v| v / divisor).filter(|v| v.is_finite())
    }

    /// Expected purchases at each horizon times `recency_divisor`: the part of equation 10 that
    /// does not depend on the time of the last purchase, so that customers who share
    /// (frequency, t) share it. `None` where the hypergeometric series does not settle.
    pub fn purchase_curve(&self, horizons: &[f64], x: f64, t: f64, out: &mut [Option<f64>]) {
        let Self { r, alpha, a, b } = *self;
        let (ha, hb, hc) = (r + x, b + x, a + b + x - 1.0);
        let zs: Vec<f64> = horizons.iter().map(|h| h / (alpha + t + h)).collect();
        // Euler's transformation keeps the series' parameters independent of x, so it cannot
        // overflow for heavy buyers: 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z).
        let mut series = vec![0.0; zs.len()];
        let transformed = hyp2f1_many(hc - ha, hc - hb, hc, &zs, &mut series);
        let first = (a + b + x - 1.0) / (a - 1.0);
        for (i, (&horizon, &z)) in horizons.iter().zip(&zs).enumerate() {
            if horizon == 0.0 {
                out[i] = Some(0.0);
                continue;
            }
            let ln_hyp = if transformed && series[i] > 0.0 {
                series[i].ln() + (hc - ha - hb) * (1.0 - z).ln()
            } else {
                match hyp2f1(ha, hb, hc, z).filter(|v| *v > 0.0) {
                    Some(v) => v.ln(),
                    None => {
                        out[i] = None;
                        continue;
                    }
                }
            };
            let second =
                1.0 - (ln_hyp + (r + x) * ((alpha + t) / (alpha + t + horizon)).ln()).exp();
            let value = first * second;
            out[i] = value.is_finite().then_some(value);
        }
    }

    /// The denominator of equation 10: 1 for a customer who never bought again.
    pub fn recency_divisor(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let Self { r, alpha, a, b } = *self;
        if x > 0.0 {
            1.0 + a / (b + x - 1.0) * ((alpha + t) / (alpha + t_x)).powf(r + x)
        } else {
            1.0
        }
    }

    /// The probability that a customer with history (x, t_x, t) is still active (Hardie's
    /// note 021): 1 for a customer who never bought again.
    pub fn probability_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        if x == 0.0 {
            return 1.0;
        }
        let Self { r, alpha, a, b } = *self;
        let log_ratio = (r + x) * ((alpha + t) / (alpha + t_x)).ln() + (a / (b + x - 1.0)).ln();
        1.0 / (1.0 + log_ratio.exp())
    }
}

pub(crate) fn log_add_exp(a: f64, b: f64) -> f64 {
    let (high, low) = if a > b { (a, b) } else { (b, a) };
    if low == f64::NEG_INFINITY {
        return high;
    }
    high + (low - high).exp().ln_1p()
}

/// The fit's objective over log-parameters in scaled time: mean negative log-likelihood plus
/// `penalizer` times the sum of squared parameters, exactly as `lifetimes`' `BetaGeoFitter`.
struct BgNbdObjective<'a> {
    data: &'a RepeatBuyingData,
    penalizer: f64,
}

impl Objective for BgNbdObjective<'_> {
    fn value_and_gradient(&self, log_params: &[f64], gradient: &mut [f64]) -> f64 {
        let [r, alpha, a, b] = [0, 1, 2, 3].map(|i| log_params[i].exp());
        let data = self.data;
        let (ln_alpha, ln_a) = (alpha.ln(), a.ln());
        let (lg_ab, lg_b, lg_r) = (ln_gamma(a + b), ln_gamma(b), ln_gamma(r));
        let (dg_ab, dg_b, dg_r) = (digamma(a + b), digamma(b), digamma(r));
        // ln(alpha + time) and 1 / (alpha + time) once per distinct time
        let ln_alpha_time: Vec<f64> = data.times.values.iter().map(|t| (alpha + t).ln()).collect();
        let inv_alpha_time: Vec<f64> = data
            .times
            .values
            .iter()
            .map(|t| 1.0 / (alpha + t))
            .collect();
        let rows = data.frequency.len();
        // [total, d/dr, d/dalpha, d/da, d/db] of the total log-likelihood
        let sums = sum_over_chunks::<5>(&data.chunks, |chunk| {
            let mut s = [0.0f64; 5];
            for &(x, start, end, group_weight) in &data.groups.groups[chunk] {
                // terms of x alone
                s[0] += group_weight
                    * (ln_gamma(r + x) - lg_r + r * ln_alpha + lg_ab + ln_gamma(b + x)
                        - lg_b
                        - ln_gamma(a + b + x));
                s[1] += group_weight * (digamma(r + x) - dg_r + ln_alpha);
                s[2] += group_weight * r / alpha;
                let dg_abx = digamma(a + b + x);
                s[3] += group_weight * (dg_ab - dg_abx);
                s[4] += group_weight * (dg_ab + digamma(b + x) - dg_b - dg_abx);
                let rx = r + x;
                let inv_b_x1 = if x > 0.0 { 1.0 / (b + x - 1.0) } else { 0.0 };
                let ln_a_b_x1 = ln_a + inv_b_x1.ln();
                for i in start..end {
                    let w = data.weight[i];
                    let t_index = data.times.index[rows + i] as usize;
                    let (ln_t, inv_t) = (ln_alpha_time[t_index], inv_alpha_time[t_index]);
                    let a3 = -rx * ln_t;
                    if x > 0.0 {
                        let tx_index = data.times.index[i] as usize;
                        let (ln_tx, inv_tx) = (ln_alpha_time[tx_index], inv_alpha_time[tx_index]);
                        let a4 = ln_a_b_x1 - rx * ln_tx;
                        // log(e^a3 + e^a4) and the two weights with one exp and one log
                        let e = (-(a3 - a4).abs()).exp();
                        let (high, low_weight) = (a3.max(a4), e / (1.0 + e));
                        let (w3, w4) = if a3 >= a4 {
                            (1.0 - low_weight, low_weight)
                        } else {
                            (low_weight, 1.0 - low_weight)
                        };
                        s[0] += w * (high + e.ln_1p());
                        s[1] -= w * (w3 * ln_t + w4 * ln_tx);
                        s[2] -= w * rx * (w3 * inv_t + w4 * inv_tx);
                        s[3] += w * w4 / a;
                        s[4] -= w * w4 * inv_b_x1;
                    } else {
                        s[0] += w * a3;
                        s[1] -= w * ln_t;
                        s[2] -= w * rx * inv_t;
                    }
                }
            }
            s
        });
        let n = data.customers;
        let params = [r, alpha, a, b];
        for i in 0..4 {
            // chain rule to log-parameters, negated mean, plus the penalty's derivative
            gradient[i] =
                -sums[i + 1] * params[i] / n + 2.0 * self.penalizer * params[i] * params[i];
        }
        -sums[0] / n + self.penalizer * params.iter().map(|p| p * p).sum::<f64>()
    }
}

/// The maximum-likelihood (or, with `penalizer` > 0, penalised) BG/NBD fit.
pub fn fit(data: &RepeatBuyingData, penalizer: f64) -> Fit {
    let customers = data.customers as u64;
    if data.frequency.is_empty() {
        return Fit::empty(customers);
    }
    let objective = BgNbdObjective { data, penalizer };
    let minimum = minimize(&objective, &[0.0; 4]);
    let scale = data.scale;
    finish(
        &objective,
        minimum,
        customers,
        |p| p[1] /= scale,
        |p| {
            let unpenalised = BgNbdObjective {
                data,
                penalizer: 0.0,
            };
            let log_params: Vec<f64> = p.iter().map(|v| v.ln()).collect();
            // back from scaled time: the density of recency picks up ln(scale) per purchase
            -unpenalised.value(&log_params) * data.customers + data.total_frequency * scale.ln()
        },
    )
}

/// The objective, for the gradient tests.
#[cfg(test)]
pub(crate) fn objective(data: &RepeatBuyingData, penalizer: f64) -> impl Objective + '_ {
    BgNbdObjective { data, penalizer }
}
