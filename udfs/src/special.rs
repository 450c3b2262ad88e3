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
/// kept rescaled, so large a or b cannot overflow. The oracle `ln_hyp2f1_c_is_a_plus_1` is
/// tested against.
#[cfg(test)]
fn ln_hyp2f1_positive(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
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

/// ln 2F1(a, b; a + 1; z) for a, b > 0 and 0 <= z < 1 (the function of Pareto/NBD's
/// likelihood), given `one_minus_z` = 1 - z computed without cancellation by the caller.
///
/// Euler's transformation makes it (1 - z)^(1 - b) 2F1(1, a + 1 - b; a + 1; z), and that is the
/// ratio Gauss's continued fraction gives (evaluated by the modified Lentz method). The fraction
/// converges everywhere below z = 1 and needs about 1 / sqrt(1 - z) terms where the series needs
/// 1 / (1 - z): millions once a fit wanders to a dropout rate far above the purchase rate, which
/// made such fits run for hours. `None` if the fraction does not settle.
pub fn ln_hyp2f1_c_is_a_plus_1(a: f64, b: f64, z: f64, one_minus_z: f64) -> Option<f64> {
    let valid = (0.0..1.0).contains(&z)
        && a > 0.0
        && b > 0.0
        && a.is_finite()
        && b.is_finite()
        && one_minus_z > 0.0;
    if !valid {
        return None;
    }
    if z == 0.0 {
        return Some(0.0);
    }
    // 2F1(1, beta; c + 1; z) = 1 / (1 + k1 z / (1 + k2 z / (1 + ...))) with
    // k(2m+1) = -(c + m)(beta + m) / ((c + 2m)(c + 2m + 1)) and
    // k(2m) = (beta - c - m) m / ((c + 2m - 1)(c + 2m))
    let (beta, c) = (a + 1.0 - b, a);
    const TINY: f64 = 1e-300;
    let (mut fraction, mut numerator_ratio, mut denominator_ratio) = (1.0f64, 1.0f64, 0.0f64);
    for j in 1..MAX_TERMS {
        let m = (j / 2) as f64;
        let k = if j % 2 == 1 {
            -(c + m) * (beta + m) / ((c + 2.0 * m) * (c + 2.0 * m + 1.0))
        } else {
            (beta - c - m) * m / ((c + 2.0 * m - 1.0) * (c + 2.0 * m))
        };
        let coefficient = k * z;
        denominator_ratio = 1.0 + coefficient * denominator_ratio;
        if denominator_ratio.abs() < TINY {
            denominator_ratio = TINY;
        }
        numerator_ratio = 1.0 + coefficient / numerator_ratio;
        if numerator_ratio.abs() < TINY {
            numerator_ratio = TINY;
        }
        denominator_ratio = 1.0 / denominator_ratio;
        let delta = numerator_ratio * denominator_ratio;
        fraction *= delta;
        if !fraction.is_finite() {
            return None;
        }
        if (delta - 1.0).abs() <= f64::EPSILON {
            return (fraction > 0.0).then(|| (1.0 - b) * one_minus_z.ln() - fraction.ln());
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

    #[test]
    fn the_continued_fraction_agrees_with_the_series() {
        let mut worst = 0.0f64;
        for &a in &[0.3, 1.0, 2.7, 12.5, 81.1, 450.0] {
            for &b in &[0.05, 0.53, 1.0, 1.53, 3.2, 43.5, 300.0] {
                for &z in &[0.0, 1e-9, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999] {
                    // the series gives up where the terms rise for too long (b 300 at z 0.9999)
                    let Some(series) = ln_hyp2f1_positive(a, b, a + 1.0, z) else {
                        assert!(b > 100.0 && z > 0.999, "a {a} b {b} z {z}");
                        continue;
                    };
                    let fraction = ln_hyp2f1_c_is_a_plus_1(a, b, z, 1.0 - z)
                        .unwrap_or_else(|| panic!("a {a} b {b} z {z}"));
                    // near 1 both lose digits to rounding over their many terms (against
                    // mpmath at a 0.3, b 0.53, z 0.9999: series 3e-12 off, fraction 1e-12)
                    let tolerance = if z <= 0.99 { 1e-13 } else { 1e-10 };
                    let error = (series - fraction).abs() / series.abs().max(1.0);
                    assert!(
                        error < tolerance,
                        "a {a} b {b} z {z}: {series} vs {fraction}"
                    );
                    worst = worst.max(error);
                }
            }
        }
        // far closer to 1 than the series can go in reasonable time: against 1 / (1 - z) when
        // b = a + 1 (2F1(a, a + 1; a + 1; z) = (1 - z)^-a)
        for &(a, one_minus_z) in &[(81.1f64, 1e-9f64), (0.7, 1e-12), (5.0, 1e-6)] {
            let exact = -a * one_minus_z.ln();
            let fraction =
                ln_hyp2f1_c_is_a_plus_1(a, a + 1.0, 1.0 - one_minus_z, one_minus_z).unwrap();
            assert!(
                (fraction - exact).abs() < 1e-9 * exact.abs(),
                "{fraction} vs {exact}"
            );
        }
        assert!(worst < 1e-10);
    }

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
