//! The beta-geometric/beta-Bernoulli (BG/BB) model of repeat transactions in discrete time
//! (Fader, Hardie and Shang 2010, "Customer-base analysis in a discrete-time noncontractual
//! setting"), as `lifetimes`' `BetaGeoBetaBinomFitter`: at each of n transaction opportunities
//! (an annual appeal, a weekly event) a living customer transacts with probability p ~ Beta(alpha,
//! beta), and before each opportunity may die with probability theta ~ Beta(gamma, delta).
//!
//! A customer is (x, t_x, n): transactions at x of the n opportunities after the first, the last
//! at opportunity t_x (0 without any). The likelihood is equation 5 of the paper, without the
//! 1e-15 lifetimes adds inside its logarithm.

use datafusion::common::{Result, exec_err};
use statrs::function::beta::ln_beta;
use statrs::function::gamma::ln_gamma;

use super::bgnbd::log_add_exp;
use super::fit::{DifferencesFit, Fit, Penalty};

/// Parameters (alpha, beta, gamma, delta).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaGeoBetaBinom {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub delta: f64,
}

impl BetaGeoBetaBinom {
    pub fn from_slice(p: &[f64]) -> Self {
        Self {
            alpha: p[0],
            beta: p[1],
            gamma: p[2],
            delta: p[3],
        }
    }

    /// ln of the first term of the likelihood: alive through all n opportunities.
    fn ln_alive_throughout(&self, x: f64, n: f64, ahead: f64) -> f64 {
        let Self {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        ln_beta(alpha + x, beta + n - x) - ln_beta(alpha, beta) + ln_beta(gamma, delta + n + ahead)
            - ln_beta(gamma, delta)
    }

    /// The log-likelihood of a customer (x, t_x, n): alive throughout, or died after
    /// opportunity t_x + i for some i in 0..n - t_x.
    pub fn log_likelihood(&self, x: f64, t_x: f64, n: f64) -> f64 {
        let Self {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        let alive = self.ln_alive_throughout(x, n, 0.0);
        let deaths = n - t_x;
        if deaths < 1.0 {
            return alive;
        }
        // Died after opportunity t_x + i, i in 0..n - t_x: the i-th term is
        // B(alpha + x, beta + t_x - x + i) B(gamma + 1, delta + t_x + i) / (B(alpha, beta)
        // B(gamma, delta)). B(a, b + 1) = B(a, b) b / (a + b), so each term is the one before
        // times two ratios below 1: the sum needs the log-beta values of the first term only.
        let first = ln_beta(alpha + x, beta + t_x - x) + ln_beta(gamma + 1.0, delta + t_x)
            - ln_beta(alpha, beta)
            - ln_beta(gamma, delta);
        let (mut term, mut sum, mut i) = (1.0, 1.0, 0.0);
        while i + 1.0 < deaths {
            let b = beta + t_x - x + i;
            let d = delta + t_x + i;
            term *= b / (alpha + b + x) * d / (gamma + 1.0 + d);
            sum += term;
            i += 1.0;
        }
        log_add_exp(alive, first + sum.ln())
    }

    /// The probability that a customer (x, t_x, n) is alive at opportunity n + `ahead` (0: now),
    /// lifetimes' `conditional_probability_alive(ahead, ...)`.
    pub fn probability_alive(&self, x: f64, t_x: f64, n: f64, ahead: f64) -> f64 {
        (self.ln_alive_throughout(x, n, ahead) - self.log_likelihood(x, t_x, n)).exp()
    }

    /// Expected transactions of a customer (x, t_x, n) over the next `ahead` opportunities (a
    /// whole number; equation 13 of the paper, lifetimes'
    /// `conditional_expected_number_of_purchases_up_to_time`).
    pub fn expected_transactions(&self, ahead: u64, x: f64, t_x: f64, n: f64) -> Option<f64> {
        let Self {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        let ln_first = ln_beta(alpha + x + 1.0, beta + n - x)
            - ln_beta(alpha, beta)
            - self.log_likelihood(x, t_x, n)
            + delta.ln()
            + ln_gamma(gamma + delta)
            - ln_gamma(1.0 + delta)
            + ln_gamma(1.0 + delta + n)
            - ln_gamma(gamma + delta + n);
        // (1 - Gamma(1+d+n+m) Gamma(g+d+n) / (Gamma(g+d+n+m) Gamma(1+d+n))) / (g - 1), from the
        // product of the m ratios (1 + c) / (g + c), c = d + n + k: differences of log-gamma
        // values would lose their digits near g = 1, where this tends to sum 1 / (1 + c)
        let spread = if gamma == 1.0 {
            (0..ahead).map(|k| 1.0 / (1.0 + delta + n + k as f64)).sum()
        } else {
            let ln_ratio: f64 = (0..ahead)
                .map(|k| (-(gamma - 1.0) / (gamma + delta + n + k as f64)).ln_1p())
                .sum();
            -ln_ratio.exp_m1() / (gamma - 1.0)
        };
        let value = ln_first.exp() * spread;
        value.is_finite().then_some(value)
    }
}

/// Checks that (x, t_x, n) is a history the model can have: whole numbers with
/// 0 <= x <= t_x <= n, and t_x 0 without transactions. `name` is the SQL function, for the
/// error.
pub fn check_history(name: &str, x: f64, t_x: f64, n: f64) -> Result<()> {
    let whole = |v: f64| v.is_finite() && v >= 0.0 && v.fract() == 0.0;
    if whole(x) && whole(t_x) && whole(n) && x <= t_x && t_x <= n && (x > 0.0 || t_x == 0.0) {
        return Ok(());
    }
    exec_err!(
        "{name}: (frequency {x}, recency {t_x}, n_periods {n}) is not a history: 0 <= frequency <= recency <= n_periods, whole numbers, recency 0 without transactions"
    )
}

/// The maximum-likelihood (or penalised) BG/BB fit over sorted (frequency, recency, n)
/// patterns with their customer counts: lifetimes' objective, the mean negative log-likelihood
/// plus `penalizer` times the sum of squared parameters.
pub fn fit(patterns: &[([f64; 3], u64)], penalizer: f64) -> Fit {
    DifferencesFit {
        parameters: 4,
        customers: patterns.iter().map(|(_, c)| c).sum(),
        penalizer,
        penalty: Penalty::OnMean,
        total_log_likelihood: &|p| {
            let model = BetaGeoBetaBinom::from_slice(p);
            patterns
                .iter()
                .map(|([x, t_x, n], count)| *count as f64 * model.log_likelihood(*x, *t_x, *n))
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

    /// The donations data of the paper (lifetimes ships it): (frequency, recency, n, donors).
    pub(crate) const DONATIONS: [(f64, f64, f64, u64); 22] = [
        (0.0, 0.0, 6.0, 3464),
        (1.0, 1.0, 6.0, 1091),
        (1.0, 2.0, 6.0, 277),
        (1.0, 3.0, 6.0, 129),
        (1.0, 4.0, 6.0, 78),
        (1.0, 5.0, 6.0, 119),
        (1.0, 6.0, 6.0, 129),
        (2.0, 2.0, 6.0, 613),
        (2.0, 3.0, 6.0, 255),
        (2.0, 4.0, 6.0, 155),
        (2.0, 5.0, 6.0, 173),
        (2.0, 6.0, 6.0, 234),
        (3.0, 3.0, 6.0, 322),
        (3.0, 4.0, 6.0, 181),
        (3.0, 5.0, 6.0, 225),
        (3.0, 6.0, 6.0, 357),
        (4.0, 4.0, 6.0, 240),
        (4.0, 5.0, 6.0, 284),
        (4.0, 6.0, 6.0, 512),
        (5.0, 5.0, 6.0, 335),
        (5.0, 6.0, 6.0, 728),
        (6.0, 6.0, 6.0, 1203),
    ];

    #[test]
    fn reproduces_the_published_donations_fit() {
        // Fader, Hardie and Shang (2010), Table 2: alpha 1.204, beta 0.750, gamma 0.657, delta
        // 2.783, LL -33,225.6, over 11,104 donors
        let patterns: Vec<([f64; 3], u64)> = DONATIONS
            .iter()
            .map(|&(x, t, n, c)| ([x, t, n], c))
            .collect();
        let fit = fit(&patterns, 0.0);
        assert!(fit.converged, "{fit:?}");
        assert_eq!(fit.customers, 11_104);
        let p = fit.params.clone().unwrap();
        let rounded: Vec<f64> = p.iter().map(|v| (v * 1000.0).round() / 1000.0).collect();
        assert_eq!(rounded, [1.204, 0.750, 0.657, 2.783], "{fit:?}");
        assert_eq!(
            (fit.log_likelihood.unwrap() * 10.0).round() / 10.0,
            -33225.6
        );
    }

    #[test]
    fn the_likelihood_sums_to_one_over_every_history() {
        // over every (x, t_x) a customer can show after n opportunities, the likelihoods of
        // the histories (times the number of transaction sequences giving each) sum to 1
        let model = BetaGeoBetaBinom {
            alpha: 1.2,
            beta: 0.75,
            gamma: 0.66,
            delta: 2.8,
        };
        let n = 6u64;
        let choose = |n: u64, k: u64| -> f64 {
            (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
        };
        let mut total = model.log_likelihood(0.0, 0.0, n as f64).exp();
        for t_x in 1..=n {
            for x in 1..=t_x {
                // sequences with x transactions, the last at t_x: choose(t_x - 1, x - 1)
                total += choose(t_x - 1, x - 1)
                    * model.log_likelihood(x as f64, t_x as f64, n as f64).exp();
            }
        }
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        // the limit at gamma = 1 is continuous: the mean of the values just either side of it
        // (mpmath at 40 digits: 1.509766776897191264)
        let at = |gamma: f64| {
            BetaGeoBetaBinom { gamma, ..model }
                .expected_transactions(5, 3.0, 5.0, 6.0)
                .unwrap()
        };
        let limit = at(1.0);
        assert!((limit - 1.509_766_776_897_191_3).abs() < 1e-13, "{limit}");
        for gamma in [1.0 - 1e-12, 1.0 + 1e-9, 1.0 + 1e-6] {
            let error = (at(gamma) - limit).abs();
            // the value moves with gamma (by about 0.8 per unit here), and by no more
            assert!(
                error < 2.0 * (gamma - 1.0f64).abs() + 1e-12 * limit,
                "{gamma}: {error}"
            );
        }
    }
}
