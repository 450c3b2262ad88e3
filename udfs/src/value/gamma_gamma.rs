//! The Gamma-Gamma model of spend per transaction (Fader and Hardie's note 025, equation 1a),
//! as `lifetimes`' `GammaGammaFitter`: log-likelihood with analytic gradient, fit, and the
//! expected mean spend of a customer.

use statrs::function::gamma::{digamma, ln_gamma};

use super::data::{SpendData, sum_over_chunks};
use super::fit::{Fit, finish};
use super::optimize::{Objective, minimize};

/// Parameters (p, q, v).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

impl GammaGamma {
    pub fn from_slice(p: &[f64]) -> Self {
        Self {
            p: p[0],
            q: p[1],
            v: p[2],
        }
    }

    /// The log-likelihood of a customer's mean spend `m` over `x` repeat purchases.
    pub fn log_likelihood(&self, x: f64, m: f64) -> f64 {
        let Self { p, q, v } = *self;
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * v.ln()
            + (p * x - 1.0) * m.ln()
            + p * x * x.ln()
            - (p * x + q) * (x * m + v).ln()
    }

    /// The expected mean spend per transaction of a customer with `x` repeat purchases of mean
    /// `m` (note 025, equation 5): a weighted mean of `m` and the population mean. `None`
    /// when q <= 1, where the population mean does not exist.
    pub fn expected_spend(&self, x: f64, m: f64) -> Option<f64> {
        let Self { p, q, v } = *self;
        if q <= 1.0 {
            return None;
        }
        let individual_weight = p * x / (p * x + q - 1.0);
        let population_mean = v * p / (q - 1.0);
        Some((1.0 - individual_weight) * population_mean + individual_weight * m)
    }
}

/// Mean negative log-likelihood plus `penalizer` times the sum of squared parameters, over
/// log-parameters, as in `lifetimes`.
struct GammaGammaObjective<'a> {
    data: &'a SpendData,
    penalizer: f64,
}

impl Objective for GammaGammaObjective<'_> {
    fn value_and_gradient(&self, log_params: &[f64], gradient: &mut [f64]) -> f64 {
        let [p, q, v] = [0, 1, 2].map(|i| log_params[i].exp());
        let data = self.data;
        let (lg_q, dg_q, ln_v) = (ln_gamma(q), digamma(q), v.ln());
        // [total, d/dp, d/dq, d/dv] of the total log-likelihood
        let sums = sum_over_chunks::<4>(&data.chunks, |chunk| {
            let mut s = [0.0f64; 4];
            for &(x, start, end, group_weight) in &data.groups.groups[chunk] {
                let px = p * x;
                let (dg_pxq, dg_px, ln_x) = (digamma(px + q), digamma(px), x.ln());
                s[0] +=
                    group_weight * (ln_gamma(px + q) - ln_gamma(px) - lg_q + q * ln_v + px * ln_x);
                s[1] += group_weight * x * (dg_pxq - dg_px + ln_x);
                s[2] += group_weight * (dg_pxq - dg_q + ln_v);
                s[3] += group_weight * q / v;
                for i in start..end {
                    let w = data.weight[i];
                    let ln_m = data.ln_spend[i];
                    let xm_v = x * data.spend[i] + v;
                    let ln_xm_v = xm_v.ln();
                    s[0] += w * ((px - 1.0) * ln_m - (px + q) * ln_xm_v);
                    s[1] += w * x * (ln_m - ln_xm_v);
                    s[2] -= w * ln_xm_v;
                    s[3] -= w * (px + q) / xm_v;
                }
            }
            s
        });
        let (total, g) = (sums[0], [sums[1], sums[2], sums[3]]);
        let n = data.customers;
        let params = [p, q, v];
        for i in 0..3 {
            gradient[i] = -g[i] * params[i] / n + 2.0 * self.penalizer * params[i] * params[i];
        }
        -total / n + self.penalizer * params.iter().map(|p| p * p).sum::<f64>()
    }
}

/// The maximum-likelihood (or penalised) Gamma-Gamma fit.
pub fn fit(data: &SpendData, penalizer: f64) -> Fit {
    let customers = data.customers as u64;
    if data.frequency.is_empty() {
        return Fit::empty(customers);
    }
    let objective = GammaGammaObjective { data, penalizer };
    // lifetimes starts at log-parameters 0.1; any start near 1 does.
    let minimum = minimize(&objective, &[0.1; 3]);
    finish(
        &objective,
        minimum,
        customers,
        |_| {},
        |p| {
            let unpenalised = GammaGammaObjective {
                data,
                penalizer: 0.0,
            };
            let log_params: Vec<f64> = p.iter().map(|v| v.ln()).collect();
            -unpenalised.value(&log_params) * data.customers
        },
    )
}

#[cfg(test)]
pub(crate) fn objective(data: &SpendData, penalizer: f64) -> impl Objective + '_ {
    GammaGammaObjective { data, penalizer }
}
