//! What a model fit returns, shared by the three models.

use super::optimize::{Minimum, Objective, has_curvature_in_every_direction};

/// A fitted model: parameters in the input's time units, the unpenalised log-likelihood of the
/// data at those parameters, the number of customers, and whether the optimiser converged.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// `None` when there was nothing to fit or the optimum is not finite.
    pub params: Option<Vec<f64>>,
    pub log_likelihood: Option<f64>,
    pub customers: u64,
    pub converged: bool,
}

impl Fit {
    pub fn empty(customers: u64) -> Self {
        Self {
            params: None,
            log_likelihood: None,
            customers,
            converged: false,
        }
    }
}

/// A log-parameter beyond this (e^30 ~ 1e13) means the likelihood has no interior optimum
/// (for example nobody ever bought again): the fit is reported as not converged.
const LOG_PARAMETER_BOUND: f64 = 30.0;

/// Builds the fit from a minimum over log-parameters: `unscale` maps the exponentiated
/// parameters back to the input's time units, `log_likelihood` evaluates the unpenalised
/// log-likelihood at them.
pub fn finish(
    objective: &dyn Objective,
    minimum: Minimum,
    customers: u64,
    unscale: impl Fn(&mut [f64]),
    log_likelihood: impl Fn(&[f64]) -> f64,
) -> Fit {
    let mut params: Vec<f64> = minimum.x.iter().map(|v| v.exp()).collect();
    if params.iter().any(|p| !p.is_finite() || *p <= 0.0) {
        return Fit::empty(customers);
    }
    let ll = log_likelihood(&params);
    unscale(&mut params);
    let bounded = minimum.x.iter().all(|v| v.abs() < LOG_PARAMETER_BOUND);
    let identified = minimum.converged && has_curvature_in_every_direction(objective, &minimum.x);
    if !ll.is_finite() || params.iter().any(|p| !p.is_finite()) {
        return Fit::empty(customers);
    }
    Fit {
        params: Some(params),
        log_likelihood: Some(ll),
        customers,
        converged: minimum.converged && bounded && identified,
    }
}
