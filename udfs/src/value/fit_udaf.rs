//! `bgnbd_fit`, `mbgnbd_fit`, `pareto_nbd_fit`, `gamma_gamma_fit`, `bgbb_fit` and `sbg_fit`:
//! maximum-likelihood fits as aggregates.
//! The state is the counts of distinct customer summaries, so partial states merge by adding
//! counts and the fit runs once per group, on the merged counts in a fixed order: the result is
//! the same at any `target_partitions`. Fits run per segment (a handful of groups), so the
//! per-group `Accumulator` is the right shape; there is no `GroupsAccumulator`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, StructArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use super::data::{PatternCounts, RepeatBuyingData, SpendData};
use super::fit::Fit;
use super::{bgbb, bgnbd, gamma_gamma, mbgnbd, pareto_nbd, sbg};
use crate::doc_sections::VALUE_SECTION;
use crate::flat_groups::state_field;
use crate::literals::literal_argument;
use crate::numeric::coerce_numeric;

/// Which model an aggregate fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    BgNbd,
    MbgNbd,
    ParetoNbd,
    GammaGamma,
    BetaGeoBetaBinom,
    ShiftedBetaGeometric,
}

impl Model {
    fn name(self) -> &'static str {
        match self {
            Model::BgNbd => "bgnbd_fit",
            Model::MbgNbd => "mbgnbd_fit",
            Model::ParetoNbd => "pareto_nbd_fit",
            Model::GammaGamma => "gamma_gamma_fit",
            Model::BetaGeoBetaBinom => "bgbb_fit",
            Model::ShiftedBetaGeometric => "sbg_fit",
        }
    }

    pub fn parameter_names(self) -> &'static [&'static str] {
        match self {
            Model::BgNbd | Model::MbgNbd => &["r", "alpha", "a", "b"],
            Model::ParetoNbd => &["r", "alpha", "s", "beta"],
            Model::GammaGamma => &["p", "q", "v"],
            Model::BetaGeoBetaBinom => &["alpha", "beta", "gamma", "delta"],
            Model::ShiftedBetaGeometric => &["alpha", "beta"],
        }
    }

    /// Columns of a customer summary the model takes.
    fn inputs(self) -> usize {
        match self {
            Model::GammaGamma | Model::ShiftedBetaGeometric => 2,
            _ => 3,
        }
    }

    pub fn result_fields(self) -> Fields {
        let mut fields: Vec<Field> = self
            .parameter_names()
            .iter()
            .map(|name| Field::new(*name, DataType::Float64, true))
            .collect();
        fields.push(Field::new("log_likelihood", DataType::Float64, true));
        fields.push(Field::new("customers", DataType::UInt64, false));
        fields.push(Field::new("converged", DataType::Boolean, false));
        Fields::from(fields)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ModelFit {
    model: Model,
    signature: Signature,
}

impl ModelFit {
    pub fn new(model: Model) -> Self {
        Self {
            model,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static BGNBD_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Maximum-likelihood fit of the BG/NBD repeat-buying model (Fader, Hardie and Lee 2005) \
         over customer summaries, as `lifetimes`' BetaGeoFitter. Returns a struct {r, alpha, a, \
         b, log_likelihood, customers, converged}; alpha is in the unit of recency and t, and \
         log_likelihood is the unpenalised total in that unit (CDNOW in weeks: -9582.4). \
         Time is rescaled internally so that the largest t is 1, as in lifetimes, so `penalizer` \
         (default 0) means what it means there: the objective is the mean negative \
         log-likelihood plus penalizer times the sum of the squared (rescaled) parameters. \
         `converged` is false when the optimiser stops short or the data cannot identify the \
         parameters (e.g. nobody bought twice); the parameters are then NULL if not finite. Rows \
         with a NULL are skipped. Errors: frequency negative or not an integer, negative \
         recency, recency > t, or recency > 0 with frequency 0.",
        "bgnbd_fit(frequency, recency, t [, penalizer])",
    )
    .with_argument("frequency", "Repeat purchases (periods with a purchase minus one), as clv_summary returns.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument("t", "Time from the first purchase to the end of observation, in the same unit.")
    .with_argument("penalizer", "Optional L2 penalty coefficient, a non-negative literal; 0 by default.")
    .with_sql_example(
        "```sql\nWITH s AS (SELECT clv_summary(order_time, amount, TIMESTAMP '2026-03-01', 'day', 'week') AS c\n           FROM orders GROUP BY member_id)\nSELECT bgnbd_fit(c['frequency'], c['recency'], c['t']) AS model FROM s;\n```",
    )
    .build()
});

static MBGNBD_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Maximum-likelihood fit of the modified BG/NBD model (Batislam, Denizel and Filiztekin \
         2007), as `lifetimes`' ModifiedBetaGeoFitter: BG/NBD where a customer may also drop out \
         right after the first purchase, so one who never bought again is not taken to be \
         alive for sure. Returns {r, alpha, a, b, log_likelihood, customers, converged}; time \
         scaling, `penalizer`, inputs, NULLs and errors as bgnbd_fit.",
        "mbgnbd_fit(frequency, recency, t [, penalizer])",
    )
    .with_argument("frequency", "Repeat purchases.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument(
        "t",
        "Time from the first purchase to the end of observation.",
    )
    .with_argument("penalizer", "Optional non-negative literal; 0 by default.")
    .with_related_udf("bgnbd_fit")
    .build()
});

static BGBB_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Maximum-likelihood fit of the BG/BB model of repeat transactions in discrete time \
         (Fader, Hardie and Shang 2010), as `lifetimes`' BetaGeoBetaBinomFitter: at each of \
         n_periods transaction opportunities after the first (yearly appeals, weekly events) a \
         living customer transacts with probability p ~ Beta(alpha, beta) and may die before \
         it with probability theta ~ Beta(gamma, delta). Returns {alpha, beta, gamma, delta, \
         log_likelihood, customers, converged} (the donations data of the paper: 1.204, 0.750, \
         0.657, 2.783, -33,225.6). `penalizer` as bgnbd_fit. Rows with a NULL are skipped. \
         Errors: values not non-negative integers, or not 0 <= frequency <= recency <= \
         n_periods with recency 0 when frequency is 0.",
        "bgbb_fit(frequency, recency, n_periods [, penalizer])",
    )
    .with_argument(
        "frequency",
        "Opportunities with a transaction, after the first.",
    )
    .with_argument(
        "recency",
        "The opportunity of the last transaction (0 without any).",
    )
    .with_argument("n_periods", "Opportunities after the first so far.")
    .with_argument("penalizer", "Optional non-negative literal; 0 by default.")
    .build()
});

static SBG_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Maximum-likelihood fit of the shifted-beta-geometric model of contractual renewals \
         (Fader and Hardie 2007, \"How to project customer retention\"): each member churns at \
         each renewal with a probability theta ~ Beta(alpha, beta), so retention rises with \
         tenure. One row per member: `period` is the renewal at which a member churned (1 = did \
         not renew after the first period) when `churned`, else the periods the member has \
         been observed so far. Returns {alpha, beta, log_likelihood, customers, converged}. \
         `penalizer` (default 0): mean negative log-likelihood plus penalizer times the sum of \
         squared parameters. Rows with a NULL are skipped. Errors: period negative or not an \
         integer, churned with period 0.",
        "sbg_fit(period, churned [, penalizer])",
    )
    .with_argument("period", "The renewal at which the member churned, or the periods survived so far.")
    .with_argument("churned", "Whether the member has left (a boolean).")
    .with_argument("penalizer", "Optional non-negative literal; 0 by default.")
    .with_sql_example(
        "```sql\nSELECT sbg_fit(periods_paid, NOT active) FROM memberships WHERE cohort = '2024';\n```",
    )
    .build()
});

static PARETO_NBD_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Maximum-likelihood fit of the Pareto/NBD model (Schmittlein, Morrison and Colombo \
         1987; likelihood of Fader and Hardie's note 009), as `lifetimes`' ParetoNBDFitter. \
         Returns {r, alpha, s, beta, log_likelihood, customers, converged}, with alpha and beta in \
         the unit of recency and t. `penalizer` (default 0) is as in lifetimes: the total \
         negative log-likelihood plus penalizer times the sum of squared rescaled parameters. \
         Inputs, NULLs and errors as bgnbd_fit.",
        "pareto_nbd_fit(frequency, recency, t [, penalizer])",
    )
    .with_argument("frequency", "Repeat purchases.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument(
        "t",
        "Time from the first purchase to the end of observation.",
    )
    .with_argument("penalizer", "Optional non-negative literal; 0 by default.")
    .build()
});

static GAMMA_GAMMA_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Maximum-likelihood fit of the Gamma-Gamma spend model (Fader and Hardie's note 025), \
         as `lifetimes`' GammaGammaFitter, over the customers with frequency > 0 (others are \
         skipped). Returns {p, q, v, log_likelihood, customers, converged}. `penalizer` (default \
         0): mean negative log-likelihood plus penalizer times the sum of squared parameters. \
         Errors: frequency negative or not an integer, monetary_value <= 0 with frequency > 0.",
        "gamma_gamma_fit(frequency, monetary_value [, penalizer])",
    )
    .with_argument("frequency", "Repeat purchases.")
    .with_argument(
        "monetary_value",
        "Mean value of the repeat purchases, as clv_summary returns.",
    )
    .with_argument("penalizer", "Optional non-negative literal; 0 by default.")
    .build()
});

impl AggregateUDFImpl for ModelFit {
    fn name(&self) -> &str {
        self.model.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let inputs = self.model.inputs();
        if arg_types.len() != inputs && arg_types.len() != inputs + 1 {
            return plan_err!(
                "{} takes {inputs} customer-summary columns and an optional penalizer, got {} arguments",
                self.name(),
                arg_types.len()
            );
        }
        if self.model == Model::ShiftedBetaGeometric {
            // churned is a boolean, kept as 1 or 0 beside the period (Float64 is what this
            // coercion made of it, when the planner coerces again)
            if !matches!(
                arg_types[1],
                DataType::Boolean | DataType::Null | DataType::Float64
            ) {
                return plan_err!("sbg_fit: churned must be a boolean, got {}", arg_types[1]);
            }
            let mut numeric = arg_types.to_vec();
            numeric[1] = DataType::Float64;
            return coerce_numeric(self.name(), &numeric, numeric.len());
        }
        coerce_numeric(self.name(), arg_types, arg_types.len())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(self.model.result_fields()))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let mut fields: Vec<FieldRef> = (0..self.model.inputs())
            .map(|i| state_field(args.name, &format!("pattern_{i}"), DataType::Float64, true))
            .collect();
        fields.push(state_field(args.name, "count", DataType::UInt64, true));
        Ok(fields)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let inputs = self.model.inputs();
        let penalizer = if args.exprs.len() > inputs {
            match literal_argument(&args, inputs) {
                Some(value) if value.is_null() => 0.0,
                Some(value) => match value.cast_to(&DataType::Float64)? {
                    ScalarValue::Float64(Some(p)) if p.is_finite() && p >= 0.0 => p,
                    other => {
                        return exec_err!(
                            "{}: penalizer must be a non-negative number, got {other}",
                            self.name()
                        );
                    }
                },
                None => return exec_err!("{}: penalizer must be a literal", self.name()),
            }
        } else {
            0.0
        };
        Ok(match self.model {
            Model::GammaGamma | Model::ShiftedBetaGeometric => Box::new(FitAccumulator::<2> {
                model: self.model,
                penalizer,
                counts: PatternCounts::default(),
            }),
            _ => Box::new(FitAccumulator::<3> {
                model: self.model,
                penalizer,
                counts: PatternCounts::default(),
            }),
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.model {
            Model::BgNbd => &BGNBD_DOC,
            Model::MbgNbd => &MBGNBD_DOC,
            Model::ParetoNbd => &PARETO_NBD_DOC,
            Model::GammaGamma => &GAMMA_GAMMA_DOC,
            Model::BetaGeoBetaBinom => &BGBB_DOC,
            Model::ShiftedBetaGeometric => &SBG_DOC,
        })
    }
}

#[derive(Debug)]
struct FitAccumulator<const N: usize> {
    model: Model,
    penalizer: f64,
    counts: PatternCounts<N>,
}

/// Checks a customer summary and returns it as the model's pattern; `Ok(None)` for rows the
/// model skips.
fn checked_pattern<const N: usize>(model: Model, values: [f64; N]) -> Result<Option<[f64; N]>> {
    let name = model.name();
    if model == Model::ShiftedBetaGeometric {
        let (period, churned) = (values[0], values[1]);
        if !(period.is_finite() && period >= 0.0 && period.fract() == 0.0) {
            return exec_err!("{name}: period must be a non-negative integer, got {period}");
        }
        if churned != 0.0 && churned != 1.0 {
            return exec_err!("{name}: churned must be a boolean, got {churned}");
        }
        if churned == 1.0 && period == 0.0 {
            return exec_err!(
                "{name}: a member who churned did so at renewal 1 or later, got period 0"
            );
        }
        return Ok(Some(values));
    }
    if model == Model::BetaGeoBetaBinom {
        bgbb::check_history(name, values[0], values[1], values[2])?;
        return Ok(Some(values));
    }
    let frequency = values[0];
    if !frequency.is_finite() || frequency < 0.0 || frequency.fract() != 0.0 {
        return exec_err!("{name}: frequency must be a non-negative integer, got {frequency}");
    }
    if model == Model::GammaGamma {
        let spend = values[1];
        if frequency == 0.0 {
            return Ok(None);
        }
        if !(spend.is_finite() && spend > 0.0) {
            return exec_err!(
                "{name}: monetary_value must be positive for a customer with repeat purchases, got {spend} (frequency {frequency})"
            );
        }
        return Ok(Some(values));
    }
    let (recency, age) = (values[1], values[2]);
    if !recency.is_finite() || recency < 0.0 {
        return exec_err!("{name}: recency must be a non-negative number, got {recency}");
    }
    if !age.is_finite() || recency > age {
        return exec_err!(
            "{name}: recency {recency} is larger than t {age} (frequency {frequency}): t is the time from the first purchase to the end of observation"
        );
    }
    if frequency == 0.0 && recency != 0.0 {
        return exec_err!(
            "{name}: recency must be 0 for a customer without repeat purchases, got {recency}"
        );
    }
    Ok(Some(values))
}

impl<const N: usize> FitAccumulator<N> {
    fn fit(&self) -> Fit {
        let patterns = self.counts.sorted();
        match self.model {
            Model::BgNbd | Model::MbgNbd | Model::ParetoNbd | Model::BetaGeoBetaBinom => {
                let rows: Vec<([f64; 3], u64)> = patterns
                    .iter()
                    .map(|(p, c)| ([p[0], p[1], p[2]], *c))
                    .collect();
                if self.model == Model::BetaGeoBetaBinom {
                    return bgbb::fit(&rows, self.penalizer);
                }
                let data = RepeatBuyingData::new(&rows);
                match self.model {
                    Model::BgNbd => bgnbd::fit(&data, self.penalizer),
                    Model::MbgNbd => mbgnbd::fit(&data, self.penalizer),
                    _ => pareto_nbd::fit(&data, self.penalizer),
                }
            }
            Model::GammaGamma | Model::ShiftedBetaGeometric => {
                let rows: Vec<([f64; 2], u64)> =
                    patterns.iter().map(|(p, c)| ([p[0], p[1]], *c)).collect();
                if self.model == Model::GammaGamma {
                    gamma_gamma::fit(&SpendData::new(&rows), self.penalizer)
                } else {
                    sbg::fit(&rows, self.penalizer)
                }
            }
        }
    }
}

fn float_column<'a>(array: &'a ArrayRef, name: &str) -> Result<&'a Float64Array> {
    match array.as_primitive_opt::<Float64Type>() {
        Some(values) => Ok(values),
        None => exec_err!(
            "{name}: expected a Float64 column, got {}",
            array.data_type()
        ),
    }
}

/// One fit as a struct value with the model's fields.
pub(crate) fn fit_to_scalar(model: Model, fit: &Fit) -> Result<ScalarValue> {
    let fields = model.result_fields();
    let mut columns: Vec<ArrayRef> = (0..model.parameter_names().len())
        .map(|i| Arc::new(Float64Array::from(vec![fit.params.as_ref().map(|p| p[i])])) as ArrayRef)
        .collect();
    columns.push(Arc::new(Float64Array::from(vec![fit.log_likelihood])));
    columns.push(Arc::new(UInt64Array::from(vec![fit.customers])));
    columns.push(Arc::new(BooleanArray::from(vec![fit.converged])));
    let array = StructArray::try_new(fields, columns, None)?;
    Ok(ScalarValue::Struct(Arc::new(array)))
}

impl<const N: usize> Accumulator for FitAccumulator<N> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let name = self.model.name();
        let columns: Vec<&Float64Array> = values[..N]
            .iter()
            .map(|a| float_column(a, name))
            .collect::<Result<_>>()?;
        self.counts.reserve(columns[0].len());
        for row in 0..columns[0].len() {
            if columns.iter().any(|c| c.is_null(row)) {
                continue;
            }
            let pattern: [f64; N] = std::array::from_fn(|i| columns[i].value(row));
            if let Some(pattern) = checked_pattern(self.model, pattern)? {
                self.counts.add(pattern, 1);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        fit_to_scalar(self.model, &self.fit())
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.counts.heap_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let patterns = self.counts.sorted();
        let mut state: Vec<ScalarValue> = (0..N)
            .map(|i| {
                let column: ArrayRef = Arc::new(Float64Array::from_iter_values(
                    patterns.iter().map(|(p, _)| p[i]),
                ));
                ScalarValue::List(Arc::new(wrap_in_list(column)))
            })
            .collect();
        let counts: ArrayRef = Arc::new(UInt64Array::from_iter_values(
            patterns.iter().map(|(_, c)| *c),
        ));
        state.push(ScalarValue::List(Arc::new(wrap_in_list(counts))));
        Ok(state)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let name = self.model.name();
        let lists: Vec<_> = states
            .iter()
            .map(|s| match s.as_list_opt::<i32>() {
                Some(list) => Ok(list),
                None => exec_err!("{name}: unexpected partial state"),
            })
            .collect::<Result<_>>()?;
        for row in 0..lists[0].len() {
            if lists[0].is_null(row) {
                continue;
            }
            let columns: Vec<ArrayRef> = lists[..N].iter().map(|l| l.value(row)).collect();
            let columns: Vec<&Float64Array> = columns
                .iter()
                .map(|a| float_column(a, name))
                .collect::<Result<_>>()?;
            let counts = lists[N].value(row);
            let Some(counts) = counts.as_primitive_opt::<UInt64Type>() else {
                return exec_err!("{name}: unexpected partial state");
            };
            // a partial state is sorted: keep it as a run for the final sort to merge
            let run = (0..counts.len()).map(|i| {
                let pattern: [f64; N] = std::array::from_fn(|c| columns[c].value(i));
                (pattern, counts.value(i))
            });
            self.counts.add_run(run);
        }
        Ok(())
    }
}

fn wrap_in_list(values: ArrayRef) -> datafusion::arrow::array::ListArray {
    datafusion::arrow::array::ListArray::new(
        Arc::new(Field::new_list_field(values.data_type().clone(), true)),
        datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
        values,
        None,
    )
}
