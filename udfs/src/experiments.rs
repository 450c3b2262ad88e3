//! A/B test statistics as scalar functions: `ab_test_proportions` (two-proportion z-test),
//! `ab_test_means` (Welch's t-test) and `ab_sample_size` (users per arm for a rate difference),
//! computed as statsmodels and scipy compute them. Arm B is compared with arm A: differences are
//! B - A.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Builder, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::doc_sections::EXPERIMENT_SECTION;
use crate::numeric::coerce_numeric;
use crate::special::{normal_quantile, standard_normal, t_quantile};

const DEFAULT_ALPHA: f64 = 0.05;
const DEFAULT_POWER: f64 = 0.8;

/// Two-sided p-value of a standard normal statistic.
fn normal_two_sided(z: f64) -> f64 {
    2.0 * standard_normal().sf(z.abs())
}

/// Results of the two-proportion test.
#[derive(Debug, Clone, PartialEq)]
pub struct ProportionsTest {
    pub rate_a: f64,
    pub rate_b: f64,
    /// (rate_b - rate_a) / rate_a; `None` when rate_a is 0
    pub lift: Option<f64>,
    /// `None` when every user converted or none did (the pooled variance is 0)
    pub z: Option<f64>,
    pub p_value: Option<f64>,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// statsmodels' `proportions_ztest([c_b, c_a], [n_b, n_a])` (pooled variance) and the Wald
/// interval of the difference (`confint_proportions_2indep(..., method='wald')`).
pub fn proportions_test(
    c_a: f64,
    n_a: f64,
    c_b: f64,
    n_b: f64,
    alpha: f64,
) -> Result<ProportionsTest> {
    for (what, c, n) in [("a", c_a, n_a), ("b", c_b, n_b)] {
        if !(n.is_finite() && n > 0.0) {
            return exec_err!("ab_test_proportions: n_{what} must be positive, got {n}");
        }
        if !(c.is_finite() && (0.0..=n).contains(&c)) {
            return exec_err!(
                "ab_test_proportions: conversions_{what} must be between 0 and n_{what} ({n}), got {c}"
            );
        }
    }
    check_alpha("ab_test_proportions", alpha)?;
    let (rate_a, rate_b) = (c_a / n_a, c_b / n_b);
    let diff = rate_b - rate_a;
    let pooled = (c_a + c_b) / (n_a + n_b);
    let pooled_se = (pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)).sqrt();
    let z = (pooled_se > 0.0).then(|| diff / pooled_se);
    let se = (rate_a * (1.0 - rate_a) / n_a + rate_b * (1.0 - rate_b) / n_b).sqrt();
    let critical = normal_quantile(1.0 - alpha / 2.0);
    Ok(ProportionsTest {
        rate_a,
        rate_b,
        lift: (rate_a > 0.0).then(|| diff / rate_a),
        z,
        p_value: z.map(normal_two_sided),
        ci_low: diff - critical * se,
        ci_high: diff + critical * se,
    })
}

/// Results of Welch's test.
#[derive(Debug, Clone, PartialEq)]
pub struct MeansTest {
    pub diff: f64,
    /// `None` when both standard deviations are 0
    pub t: Option<f64>,
    pub df: Option<f64>,
    pub p_value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

/// scipy's `ttest_ind_from_stats(mean_b, sd_b, n_b, mean_a, sd_a, n_a, equal_var=False)`, with
/// the Welch interval of the difference.
pub fn means_test(
    mean_a: f64,
    sd_a: f64,
    n_a: f64,
    mean_b: f64,
    sd_b: f64,
    n_b: f64,
    alpha: f64,
) -> Result<MeansTest> {
    for (what, mean, sd, n) in [("a", mean_a, sd_a, n_a), ("b", mean_b, sd_b, n_b)] {
        if !(n.is_finite() && n >= 2.0) {
            return exec_err!("ab_test_means: n_{what} must be at least 2, got {n}");
        }
        if !(sd.is_finite() && sd >= 0.0) {
            return exec_err!("ab_test_means: sd_{what} must be a non-negative number, got {sd}");
        }
        if !mean.is_finite() {
            return exec_err!("ab_test_means: mean_{what} must be a number, got {mean}");
        }
    }
    check_alpha("ab_test_means", alpha)?;
    let diff = mean_b - mean_a;
    let (va, vb) = (sd_a * sd_a / n_a, sd_b * sd_b / n_b);
    let se = (va + vb).sqrt();
    if se == 0.0 {
        return Ok(MeansTest {
            diff,
            t: None,
            df: None,
            p_value: None,
            ci_low: None,
            ci_high: None,
        });
    }
    let df = (va + vb).powi(2) / (va * va / (n_a - 1.0) + vb * vb / (n_b - 1.0));
    let t = diff / se;
    let distribution = match StudentsT::new(0.0, 1.0, df) {
        Ok(d) => d,
        Err(e) => return exec_err!("ab_test_means: {e}"),
    };
    let p_value = 2.0 * distribution.sf(t.abs());
    let critical = t_quantile(1.0 - alpha / 2.0, df);
    Ok(MeansTest {
        diff,
        t: Some(t),
        df: Some(df),
        p_value: Some(p_value),
        ci_low: critical.map(|c| diff - c * se),
        ci_high: critical.map(|c| diff + c * se),
    })
}

/// Users per arm to detect `baseline` -> `baseline + effect` with a two-sided test: statsmodels'
/// `NormalIndPower().solve_power(proportion_effectsize(baseline + effect, baseline), alpha=alpha,
/// power=power, ratio=1)`, rounded up. Cohen's h is the effect size, and the power counts both
/// tails, as there.
pub fn sample_size(baseline: f64, effect: f64, alpha: f64, power: f64) -> Result<f64> {
    let target = baseline + effect;
    if !(baseline > 0.0 && baseline < 1.0) {
        return exec_err!("ab_sample_size: baseline_rate must be between 0 and 1, got {baseline}");
    }
    if !(effect != 0.0 && target > 0.0 && target < 1.0) {
        return exec_err!(
            "ab_sample_size: minimum_detectable_effect must be non-zero and keep the rate within (0, 1), got {effect} (baseline {baseline})"
        );
    }
    check_alpha("ab_sample_size", alpha)?;
    if !(power > alpha && power < 1.0) {
        return exec_err!("ab_sample_size: power must be between alpha and 1, got {power}");
    }
    let h = (2.0 * target.sqrt().asin() - 2.0 * baseline.sqrt().asin()).abs();
    let critical = normal_quantile(1.0 - alpha / 2.0);
    let normal = standard_normal();
    // nobs1 users per arm: the statistic's mean is h * sqrt(nobs1 / 2)
    let power_at = |n: f64| {
        let shift = h * (n / 2.0).sqrt();
        normal.sf(critical - shift) + normal.cdf(-critical - shift)
    };
    // bracket, then bisect to the last bit
    let (mut low, mut high) = (1e-9, 1.0);
    while power_at(high) < power {
        high *= 2.0;
        if high > 1e15 {
            return exec_err!("ab_sample_size: the effect is too small to detect");
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if power_at(mid) < power {
            low = mid;
        } else {
            high = mid;
        }
        if high - low <= f64::EPSILON * high {
            break;
        }
    }
    Ok(high)
}

fn check_alpha(name: &str, alpha: f64) -> Result<()> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return exec_err!("{name}: alpha must be between 0 and 1, got {alpha}");
    }
    Ok(())
}

fn float_fields(names: &[&str]) -> Fields {
    Fields::from(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Float64, true))
            .collect::<Vec<_>>(),
    )
}

/// Which statistic a function computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Statistic {
    Proportions,
    Means,
    SampleSize,
}

impl Statistic {
    fn name(self) -> &'static str {
        match self {
            Self::Proportions => "ab_test_proportions",
            Self::Means => "ab_test_means",
            Self::SampleSize => "ab_sample_size",
        }
    }

    /// (required arguments, optional arguments)
    fn arity(self) -> (usize, usize) {
        match self {
            Self::Proportions => (4, 1),
            Self::Means => (6, 1),
            Self::SampleSize => (2, 2),
        }
    }

    fn output_fields(self) -> Fields {
        match self {
            Self::Proportions => float_fields(&[
                "rate_a", "rate_b", "lift", "z", "p_value", "ci_low", "ci_high",
            ]),
            Self::Means => float_fields(&["diff", "t", "df", "p_value", "ci_low", "ci_high"]),
            Self::SampleSize => Fields::empty(),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AbTest {
    statistic: Statistic,
    signature: Signature,
}

impl AbTest {
    pub fn new(statistic: Statistic) -> Self {
        Self {
            statistic,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static PROPORTIONS_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        EXPERIMENT_SECTION,
        "Two-sided two-proportion z-test of arm B against arm A, as statsmodels' \
         proportions_ztest (pooled variance), with the Wald confidence interval of the difference \
         rate_b - rate_a (confint_proportions_2indep, method 'wald'). Returns {rate_a, rate_b, \
         lift, z, p_value, ci_low, ci_high}; lift = (rate_b - rate_a) / rate_a is NULL when \
         rate_a is 0, and z and p_value are NULL when nobody or everybody converted in both arms. \
         Counts outside 0..n, n <= 0 or alpha outside (0, 1) are errors.",
        "ab_test_proportions(conversions_a, n_a, conversions_b, n_b [, alpha])",
    )
    .with_argument(
        "conversions_a, n_a",
        "Converted users and users of arm A (control).",
    )
    .with_argument("conversions_b, n_b", "The same for arm B (treatment).")
    .with_argument("alpha", "1 - confidence of the interval, 0.05 by default.")
    .with_sql_example(
        "```sql\n> SELECT ab_test_proportions(120, 1000, 150, 1000)['p_value'];\n0.0497...\n```",
    )
    .build()
});

static MEANS_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        EXPERIMENT_SECTION,
        "Welch's two-sided t-test of arm B's mean against arm A's, from summary statistics, as \
         scipy's ttest_ind_from_stats(..., equal_var=False), with the Welch confidence interval \
         of diff = mean_b - mean_a. sd is the sample standard deviation (stddev_samp). Returns \
         {diff, t, df, p_value, ci_low, ci_high}; all but diff are NULL when both sds are 0. \
         n < 2, a negative sd or alpha outside (0, 1) are errors.",
        "ab_test_means(mean_a, sd_a, n_a, mean_b, sd_b, n_b [, alpha])",
    )
    .with_argument(
        "mean_a, sd_a, n_a",
        "Mean, sample standard deviation and users of arm A.",
    )
    .with_argument("mean_b, sd_b, n_b", "The same for arm B.")
    .with_argument("alpha", "1 - confidence of the interval, 0.05 by default.")
    .build()
});

static SAMPLE_SIZE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        EXPERIMENT_SECTION,
        "Users per arm needed to detect a change of a conversion rate from baseline_rate to \
         baseline_rate + minimum_detectable_effect (an absolute difference: 0.01 is one point) \
         with a two-sided test, as statsmodels' NormalIndPower().solve_power on Cohen's h \
         (proportion_effectsize), equal arms, rounded up. alpha defaults to 0.05 and power to \
         0.8. Rates outside (0, 1), a zero effect, or power not above alpha are errors.",
        "ab_sample_size(baseline_rate, minimum_detectable_effect [, alpha [, power]])",
    )
    .with_argument("baseline_rate", "The control's conversion rate, e.g. 0.1.")
    .with_argument(
        "minimum_detectable_effect",
        "Absolute change to detect, e.g. 0.01.",
    )
    .with_argument("alpha", "Significance level, 0.05 by default.")
    .with_argument(
        "power",
        "Probability of detecting the effect, 0.8 by default.",
    )
    .with_sql_example("```sql\n> SELECT ab_sample_size(0.1, 0.01);\n14745\n```")
    .build()
});

impl ScalarUDFImpl for AbTest {
    fn name(&self) -> &str {
        self.statistic.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let (required, optional) = self.statistic.arity();
        if arg_types.len() < required || arg_types.len() > required + optional {
            return plan_err!(
                "{} takes {required} to {} arguments, got {}",
                self.name(),
                required + optional,
                arg_types.len()
            );
        }
        coerce_numeric(self.name(), arg_types, arg_types.len())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.statistic {
            Statistic::SampleSize => DataType::Int64,
            other => DataType::Struct(other.output_fields()),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let columns: Vec<&Float64Array> = arrays
            .iter()
            .map(|a| match a.as_primitive_opt::<Float64Type>() {
                Some(c) => Ok(c),
                None => exec_err!("{}: expected numeric arguments", self.name()),
            })
            .collect::<Result<_>>()?;
        let (required, _) = self.statistic.arity();
        let rows = args.number_rows;
        let defaults = [DEFAULT_ALPHA, DEFAULT_POWER];
        // value of argument i at row, the default for a missing optional one; None for NULL
        let value = |i: usize, row: usize| -> Option<f64> {
            match columns.get(i) {
                Some(c) if c.is_null(row) => None,
                Some(c) => Some(c.value(row)),
                None => Some(defaults[i - required]),
            }
        };
        if self.statistic == Statistic::SampleSize {
            let mut out = Int64Builder::with_capacity(rows);
            for row in 0..rows {
                match (value(0, row), value(1, row), value(2, row), value(3, row)) {
                    (Some(b), Some(e), Some(alpha), Some(power)) => {
                        out.append_value(sample_size(b, e, alpha, power)?.ceil() as i64)
                    }
                    _ => out.append_null(),
                }
            }
            return Ok(ColumnarValue::Array(Arc::new(out.finish())));
        }
        let fields = self.statistic.output_fields();
        let mut out: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(rows); fields.len()];
        let mut valid = Vec::with_capacity(rows);
        for row in 0..rows {
            let inputs: Option<Vec<f64>> = (0..=required).map(|i| value(i, row)).collect();
            let results: Option<Vec<Option<f64>>> = match inputs {
                None => None,
                Some(v) if self.statistic == Statistic::Proportions => {
                    let r = proportions_test(v[0], v[1], v[2], v[3], v[4])?;
                    Some(vec![
                        Some(r.rate_a),
                        Some(r.rate_b),
                        r.lift,
                        r.z,
                        r.p_value,
                        Some(r.ci_low),
                        Some(r.ci_high),
                    ])
                }
                Some(v) => {
                    let r = means_test(v[0], v[1], v[2], v[3], v[4], v[5], v[6])?;
                    Some(vec![
                        Some(r.diff),
                        r.t,
                        r.df,
                        r.p_value,
                        r.ci_low,
                        r.ci_high,
                    ])
                }
            };
            valid.push(results.is_some());
            for (i, column) in out.iter_mut().enumerate() {
                column.push(results.as_ref().and_then(|r| r[i]));
            }
        }
        let arrays: Vec<ArrayRef> = out
            .into_iter()
            .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef)
            .collect();
        Ok(ColumnarValue::Array(Arc::new(StructArray::try_new(
            fields,
            arrays,
            Some(NullBuffer::from(valid)),
        )?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.statistic {
            Statistic::Proportions => &PROPORTIONS_DOC,
            Statistic::Means => &MEANS_DOC,
            Statistic::SampleSize => &SAMPLE_SIZE_DOC,
        })
    }
}
