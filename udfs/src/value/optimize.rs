//! Minimisers for the model fits: BFGS with a backtracking line search on smooth objectives
//! (analytic or central-difference gradients), and Nelder-Mead to get a hard start near the
//! optimum first. The fits have 3 or 4 parameters, so dense matrices are right.

/// What a minimisation ended with.
#[derive(Debug, Clone)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    /// The largest absolute gradient component at `x`.
    pub gradient_norm: f64,
    pub converged: bool,
}

/// Gradients below this (the objectives are per-customer means) count as converged.
pub const GRADIENT_TOLERANCE: f64 = 1e-7;

/// An objective with its gradient; returns NaN or infinity where it is undefined.
pub trait Objective {
    fn value_and_gradient(&self, x: &[f64], gradient: &mut [f64]) -> f64;
    fn value(&self, x: &[f64]) -> f64 {
        let mut gradient = vec![0.0; x.len()];
        self.value_and_gradient(x, &mut gradient)
    }
}

fn max_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// BFGS from `start`, with the inverse-Hessian update and an Armijo backtracking line search.
pub fn bfgs(objective: &dyn Objective, start: &[f64], max_iterations: usize) -> Minimum {
    let n = start.len();
    let mut x = start.to_vec();
    let mut gradient = vec![0.0; n];
    let mut value = objective.value_and_gradient(&x, &mut gradient);
    if !value.is_finite() || gradient.iter().any(|g| !g.is_finite()) {
        return Minimum {
            x,
            value,
            gradient_norm: f64::INFINITY,
            converged: false,
        };
    }
    let mut inverse_hessian = identity(n);
    let mut first_update = true;
    let mut next_gradient = vec![0.0; n];
    let mut stalled = 0;
    for _ in 0..max_iterations {
        if max_abs(&gradient) < GRADIENT_TOLERANCE {
            break;
        }
        let mut direction: Vec<f64> = (0..n)
            .map(|i| {
                -(0..n)
                    .map(|j| inverse_hessian[i][j] * gradient[j])
                    .sum::<f64>()
            })
            .collect();
        let mut slope: f64 = direction.iter().zip(&gradient).map(|(d, g)| d * g).sum();
        if slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            inverse_hessian = identity(n);
            direction = gradient.iter().map(|g| -g).collect();
            slope = -gradient.iter().map(|g| g * g).sum::<f64>();
        }
        // Never step more than 5 in log-parameter space at once.
        let longest = max_abs(&direction);
        let mut step = if longest > 5.0 { 5.0 / longest } else { 1.0 };
        let mut accepted = None;
        for _ in 0..60 {
            let candidate: Vec<f64> = x
                .iter()
                .zip(&direction)
                .map(|(x, d)| x + step * d)
                .collect();
            let candidate_value = objective.value_and_gradient(&candidate, &mut next_gradient);
            if candidate_value.is_finite()
                && next_gradient.iter().all(|g| g.is_finite())
                && candidate_value <= value + 1e-4 * step * slope
            {
                accepted = Some((candidate, candidate_value));
                break;
            }
            step *= 0.5;
        }
        let Some((candidate, candidate_value)) = accepted else {
            break;
        };
        let s: Vec<f64> = candidate.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next_gradient
            .iter()
            .zip(&gradient)
            .map(|(a, b)| a - b)
            .collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        if sy > 1e-300 {
            if first_update {
                // Shanno-Phua: scale the initial guess by s'y / y'y before the first update, so
                // that the first full step has the objective's own scale.
                let yy: f64 = y.iter().map(|v| v * v).sum();
                inverse_hessian = identity(n);
                for (i, row) in inverse_hessian.iter_mut().enumerate() {
                    row[i] = sy / yy;
                }
                first_update = false;
            }
            update_inverse_hessian(&mut inverse_hessian, &s, &y, sy);
        }
        if (value - candidate_value).abs() <= 1e-16 * value.abs().max(1e-300) {
            stalled += 1;
        } else {
            stalled = 0;
        }
        x = candidate;
        value = candidate_value;
        gradient.copy_from_slice(&next_gradient);
        if stalled >= 3 {
            break;
        }
    }
    let gradient_norm = max_abs(&gradient);
    Minimum {
        x,
        value,
        gradient_norm,
        converged: gradient_norm < GRADIENT_TOLERANCE * 10.0,
    }
}

fn identity(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect()
}

/// H <- (I - rho s y') H (I - rho y s') + rho s s'
fn update_inverse_hessian(h: &mut [Vec<f64>], s: &[f64], y: &[f64], sy: f64) {
    let n = s.len();
    let rho = 1.0 / sy;
    let hy: Vec<f64> = (0..n)
        .map(|i| (0..n).map(|j| h[i][j] * y[j]).sum())
        .collect();
    let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
    for i in 0..n {
        for j in 0..n {
            h[i][j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
    }
}

/// Nelder-Mead simplex search, used to bring a start close enough for BFGS.
pub fn nelder_mead(objective: &dyn Objective, start: &[f64], max_evaluations: usize) -> Vec<f64> {
    let n = start.len();
    let evaluate = |x: &[f64]| {
        let v = objective.value(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    simplex.push((start.to_vec(), evaluate(start)));
    for i in 0..n {
        let mut vertex = start.to_vec();
        vertex[i] += 0.5;
        let value = evaluate(&vertex);
        simplex.push((vertex, value));
    }
    let mut evaluations = n + 1;
    while evaluations < max_evaluations {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[n].1);
        if (worst - best).abs() <= 1e-12 * (best.abs() + 1e-12) {
            break;
        }
        let centroid: Vec<f64> = (0..n)
            .map(|j| simplex[..n].iter().map(|(x, _)| x[j]).sum::<f64>() / n as f64)
            .collect();
        let along = |t: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&simplex[n].0)
                .map(|(c, w)| c + t * (w - c))
                .collect()
        };
        let reflected = along(-1.0);
        let reflected_value = evaluate(&reflected);
        evaluations += 1;
        if reflected_value < simplex[0].1 {
            let expanded = along(-2.0);
            let expanded_value = evaluate(&expanded);
            evaluations += 1;
            simplex[n] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
        } else if reflected_value < simplex[n - 1].1 {
            simplex[n] = (reflected, reflected_value);
        } else {
            let contracted = if reflected_value < simplex[n].1 {
                along(-0.5)
            } else {
                along(0.5)
            };
            let contracted_value = evaluate(&contracted);
            evaluations += 1;
            if contracted_value < simplex[n].1.min(reflected_value) {
                simplex[n] = (contracted, contracted_value);
            } else {
                let best = simplex[0].0.clone();
                for (vertex, value) in simplex.iter_mut().skip(1) {
                    for (v, b) in vertex.iter_mut().zip(&best) {
                        *v = b + 0.5 * (*v - b);
                    }
                    *value = evaluate(vertex);
                }
                evaluations += n;
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0).0
}

/// Minimises with BFGS from `start`; if that does not converge, restarts BFGS from where
/// Nelder-Mead gets to.
pub fn minimize(objective: &dyn Objective, start: &[f64]) -> Minimum {
    let first = bfgs(objective, start, 500);
    if first.converged {
        return first;
    }
    let from = if first.value.is_finite() {
        &first.x
    } else {
        start
    };
    let polished_start = nelder_mead(objective, from, 4000);
    let second = bfgs(objective, &polished_start, 1000);
    if second.value.is_finite() && (!first.value.is_finite() || second.value <= first.value) {
        second
    } else {
        first
    }
}

/// Whether the Hessian at `x` (central differences of the gradient) is positive definite, by
/// a Cholesky factorisation with a relative pivot threshold. A flat direction (a parameter the
/// data cannot identify, or an optimum at infinity) fails it, and the fit is not converged.
pub fn has_curvature_in_every_direction(objective: &dyn Objective, x: &[f64]) -> bool {
    let n = x.len();
    let mut hessian = vec![vec![0.0; n]; n];
    let (mut up, mut at) = (vec![0.0; n], vec![0.0; n]);
    objective.value_and_gradient(x, &mut at);
    let mut probe = x.to_vec();
    // forward differences: n + 1 gradient evaluations, plenty to see a flat direction
    for j in 0..n {
        let h = 1e-5;
        probe[j] = x[j] + h;
        objective.value_and_gradient(&probe, &mut up);
        probe[j] = x[j];
        for i in 0..n {
            hessian[i][j] = (up[i] - at[i]) / h;
        }
    }
    let largest = (0..n).map(|i| hessian[i][i].abs()).fold(0.0f64, f64::max);
    if !largest.is_finite() || largest == 0.0 {
        return false;
    }
    // symmetrise, then factorise
    #[allow(clippy::needless_range_loop)] // a symmetric update reads both triangles
    for i in 0..n {
        for j in 0..i {
            let mean = 0.5 * (hessian[i][j] + hessian[j][i]);
            hessian[i][j] = mean;
            hessian[j][i] = mean;
        }
    }
    for k in 0..n {
        let pivot = hessian[k][k] - (0..k).map(|m| hessian[k][m] * hessian[k][m]).sum::<f64>();
        if pivot.is_nan() || pivot <= 1e-9 * largest {
            return false;
        }
        let root = pivot.sqrt();
        hessian[k][k] = root;
        for i in k + 1..n {
            let dot: f64 = (0..k).map(|m| hessian[i][m] * hessian[k][m]).sum();
            hessian[i][k] = (hessian[i][k] - dot) / root;
        }
    }
    true
}

/// Wraps a value-only objective with central-difference gradients.
pub struct FiniteDifferences<F: Fn(&[f64]) -> f64>(pub F);

impl<F: Fn(&[f64]) -> f64> Objective for FiniteDifferences<F> {
    fn value_and_gradient(&self, x: &[f64], gradient: &mut [f64]) -> f64 {
        let value = (self.0)(x);
        let mut probe = x.to_vec();
        for i in 0..x.len() {
            let h = 1e-5 * x[i].abs().max(1.0);
            probe[i] = x[i] + h;
            let up = (self.0)(&probe);
            probe[i] = x[i] - h;
            let down = (self.0)(&probe);
            probe[i] = x[i];
            gradient[i] = (up - down) / (2.0 * h);
        }
        value
    }

    fn value(&self, x: &[f64]) -> f64 {
        (self.0)(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rosenbrock;

    impl Objective for Rosenbrock {
        fn value_and_gradient(&self, x: &[f64], g: &mut [f64]) -> f64 {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        }
    }

    #[test]
    fn bfgs_finds_the_rosenbrock_minimum() {
        let found = minimize(&Rosenbrock, &[-1.2, 1.0]);
        assert!(found.converged, "{found:?}");
        assert!((found.x[0] - 1.0).abs() < 1e-6 && (found.x[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn nelder_mead_gets_close_without_gradients() {
        let x = nelder_mead(&Rosenbrock, &[-1.2, 1.0], 5000);
        assert!(
            (x[0] - 1.0).abs() < 1e-3 && (x[1] - 1.0).abs() < 1e-3,
            "{x:?}"
        );
    }

    #[test]
    fn finite_differences_agree_with_the_analytic_gradient() {
        let numeric = FiniteDifferences(|x: &[f64]| Rosenbrock.value(x));
        let (mut g1, mut g2) = ([0.0; 2], [0.0; 2]);
        Rosenbrock.value_and_gradient(&[0.3, -0.7], &mut g1);
        numeric.value_and_gradient(&[0.3, -0.7], &mut g2);
        for (a, b) in g1.iter().zip(&g2) {
            assert!((a - b).abs() < 1e-5 * a.abs().max(1.0), "{g1:?} {g2:?}");
        }
    }
}
