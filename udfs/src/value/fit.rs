//! What a model fit returns, shared by the models, and the fit by central differences of the
//! models without an analytic gradient.

use super::optimize::{
    FiniteDifferences, Minimum, Objective, has_curvature_in_every_direction, minimize,
};

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

/// Where a model's penalty enters its objective, as lifetimes has it: added to the mean negative
/// log-likelihood (BetaGeoFitter and the fitters built on it), or to the total before it is
/// divided by the customers (ParetoNBDFitter; the minimum is that of total plus penalty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Penalty {
    OnMean,
    OnTotal,
}

/// The objective the fits minimise, from the weighted log-likelihood `total` of `customers` at
/// `params`.
fn penalised(total: f64, customers: f64, penalizer: f64, penalty: Penalty, params: &[f64]) -> f64 {
    let squares = penalizer * params.iter().map(|p| p * p).sum::<f64>();
    match penalty {
        Penalty::OnMean => -total / customers + squares,
        Penalty::OnTotal => (-total + squares) / customers,
    }
}

/// A model and its data, for a fit by central differences (the models without an analytic
/// gradient: Pareto/NBD, MBG/NBD, BG/BB, sBG).
pub struct DifferencesFit<'a> {
    pub parameters: usize,
    pub customers: u64,
    pub penalizer: f64,
    pub penalty: Penalty,
    /// The weighted log-likelihood of the data at the parameters (in the data's time units).
    pub total_log_likelihood: &'a (dyn Fn(&[f64]) -> f64 + Sync),
    /// Maps the optimum's parameters back to the input's time units.
    pub unscale: &'a dyn Fn(&mut [f64]),
    /// Added to the reported log-likelihood: the change of time units (`RepeatBuyingData`'s
    /// total frequency times ln(scale)), 0 where there is none.
    pub log_likelihood_shift: f64,
}

impl DifferencesFit<'_> {
    /// The objective over log-parameters.
    pub fn objective(&self, penalizer: f64) -> impl Objective + '_ {
        let customers = self.customers as f64;
        FiniteDifferences(move |log_params: &[f64]| {
            let params: Vec<f64> = log_params.iter().map(|v| v.exp()).collect();
            let total = (self.total_log_likelihood)(&params);
            penalised(total, customers, penalizer, self.penalty, &params)
        })
    }

    /// The maximum-likelihood (or penalised) fit from all parameters 1.
    pub fn run(&self) -> Fit {
        if self.customers == 0 {
            return Fit::empty(0);
        }
        let objective = self.objective(self.penalizer);
        let minimum = minimize(&objective, &vec![0.0; self.parameters]);
        finish(&objective, minimum, self.customers, self.unscale, |p| {
            (self.total_log_likelihood)(p) + self.log_likelihood_shift
        })
    }
}
