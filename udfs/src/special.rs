//! Special functions beyond what `statrs` has: the Gauss hypergeometric function 2F1 for
//! |z| < 1, by its series (the repeat-buying models), and the normal and Student's t quantiles
//! to full precision (the A/B tests).

use statrs::distribution::{Continuous, ContinuousCDF, Normal, StudentsT};

/// More terms than any well-posed call needs: at z = 0.999 the series needs about 40,000.
const MAX_TERMS: usize = 2_000_000;

/// 2F1(a, b; c; z) for 0 <= z < 1 and any real a, b, c with c not a non-positive integer.
/// `None` when the series does not settle (z too close to 1, or c a pole).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !((0.0..1.0).contains(&z) && a.is_finite() && b.is_finite() && c.is_finite()) {
        return None;
    }
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for n in 0..MAX_TERMS {
        let n = n as f64;
        let denominator = (c + n) * (n + 1.0);
        if denominator == 0.0 {
            return None;
        }
        term *= (a + n) * (b + n) / denominator * z;
        sum += term;
        if !sum.is_finite() {
            return None;
        }
        if term == 0.0 || (term.abs() <= f64::EPSILON * sum.abs() * 0.5 && n > b.abs() + a.abs()) {
            return Some(sum);
        }
    }
    None
}

/// 2F1(a, b; c; z) at several z at once (as `hyp2f1` for each): the series' coefficients do not
/// depend on z, so they are computed once for all. `false` when a series does not settle; `out`
/// is then unspecified.
pub fn hyp2f1_many(a: f64, b: f64, c: f64, zs: &[f64], out: &mut [f64]) -> bool {
    if zs.iter().any(|z| !(0.0..1.0).contains(z))
        || !(a.is_finite() && b.is_finite() && c.is_finite())
    {
        return false;
    }
    let mut powers = vec![1.0f64; zs.len()];
    out.iter_mut().for_each(|v| *v = 1.0);
    let mut coefficient = 1.0f64;
    for n in 0..MAX_TERMS {
        let n = n as f64;
        let denominator = (c + n) * (n + 1.0);
        if denominator == 0.0 {
            return false;
        }
        coefficient *= (a + n) * (b + n) / denominator;
        let mut settled = n > b.abs() + a.abs();
        for ((sum, power), z) in out.iter_mut().zip(powers.iter_mut()).zip(zs) {
            *power *= z;
            let term = coefficient * *power;
            *sum += term;
            settled &= term == 0.0 || term.abs() <= f64::EPSILON * sum.abs() * 0.5;
        }
        if out.iter().any(|v| !v.is_finite()) {
            return false;
        }
        if settled || coefficient == 0.0 {
            return true;
        }
    }
    false
}

/// ln 2F1(a, b; c; z) for a, b, c > 0 and 0 <= z < 1, where every term is positive: the sum is
/// kept rescaled, so large a or b (a customer with hundreds of purchases) cannot overflow.
pub fn ln_hyp2f1_positive(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) || a <= 0.0 || b <= 0.0 || c <= 0.0 {
        return None;
    }
    const RESCALE: f64 = 1e200;
    let mut log_offset = 0.0f64;
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for n in 0..MAX_TERMS {
        let n = n as f64;
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if sum > RESCALE {
            sum /= RESCALE;
            term /= RESCALE;
            log_offset += RESCALE.ln();
        }
        // Terms rise while (a+n)(b+n)z > (c+n)(n+1), then fall geometrically: stop on the way down.
        if term <= f64::EPSILON * sum * 0.5 && (a + n) * (b + n) * z < (c + n) * (n + 1.0) {
            return Some(sum.ln() + log_offset);
        }
    }
    None
}

pub fn standard_normal() -> Normal {
    Normal::standard()
}

/// The standard normal quantile, polished by Newton steps on the CDF (which `erfc` gives to full
/// precision) so that it agrees with scipy's `norm.ppf` to rounding.
pub fn normal_quantile(p: f64) -> f64 {
    let normal = standard_normal();
    let mut x = normal.inverse_cdf(p);
    for _ in 0..3 {
        let density = normal.pdf(x);
        if !(x.is_finite() && density > 0.0) {
            break;
        }
        x -= (normal.cdf(x) - p) / density;
    }
    x
}

/// Student's t quantile with `df` degrees of freedom, polished by Newton steps on the CDF.
pub fn t_quantile(p: f64, df: f64) -> Option<f64> {
    let t = StudentsT::new(0.0, 1.0, df).ok()?;
    let mut x = t.inverse_cdf(p);
    for _ in 0..4 {
        let density = t.pdf(x);
        if !(x.is_finite() && density > 0.0) {
            break;
        }
        x -= (t.cdf(x) - p) / density;
    }
    x.is_finite().then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1.0)
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // 2F1(1, 1; 2; z) = -ln(1 - z) / z
        for (z, tolerance) in [(0.01, 1e-14), (0.3, 1e-14), (0.9, 1e-13), (0.999, 1e-11)] {
            let expected = -(1.0f64 - z).ln() / z;
            assert!(
                close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), expected, tolerance),
                "z={z}"
            );
            let log = ln_hyp2f1_positive(1.0, 1.0, 2.0, z).unwrap();
            assert!(close(log, expected.ln(), tolerance), "z={z}");
        }
        // 2F1(a, b; b; z) = (1 - z)^-a
        for (a, b, z) in [(0.5, 2.0, 0.4), (3.7, 1.2, 0.85), (-0.21, 2.0, 0.5)] {
            let expected = (1.0f64 - z).powf(-a);
            assert!(close(hyp2f1(a, b, b, z).unwrap(), expected, 1e-13));
        }
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 0.0), Some(1.0));
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 1.0), None);
    }

    #[test]
    fn many_z_at_once_match_one_at_a_time() {
        let zs = [0.0, 0.1, 0.45, 0.8, 0.97];
        for (a, b, c) in [(6.5, -0.67, 9.1), (0.3, 2.0, 1.4), (1.0, 1.0, 2.0)] {
            let mut out = [0.0; 5];
            assert!(hyp2f1_many(a, b, c, &zs, &mut out));
            for (z, v) in zs.iter().zip(out) {
                let one = hyp2f1(a, b, c, *z).unwrap();
                assert!(close(v, one, 1e-14), "{a} {b} {c} {z}: {v} vs {one}");
            }
        }
        assert!(!hyp2f1_many(1.0, 1.0, 2.0, &[0.5, 1.0], &mut [0.0; 2]));
    }

    #[test]
    fn ln_hyp2f1_does_not_overflow_for_large_parameters() {
        // 2F1(a, b; b; z) = (1 - z)^-a with a large enough that the value overflows f64.
        let (a, b, z) = (900.0, 3.0, 0.9);
        let expected = -a * (1.0f64 - z).ln();
        assert!(expected > 700.0);
        assert!(close(
            ln_hyp2f1_positive(a, b, b, z).unwrap(),
            expected,
            1e-12
        ));
    }
}
