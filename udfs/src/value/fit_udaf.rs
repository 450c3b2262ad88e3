//! `bgnbd_fit`, `pareto_nbd_fit` and `gamma_gamma_fit`: maximum-likelihood fits as aggregates.
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
use super::{bgnbd, gamma_gamma, pareto_nbd};
use crate::doc_sections::VALUE_SECTION;
use crate::flat_groups::state_field;
use crate::literals::literal_argument;
use crate::numeric::coerce_numeric;

/// Which model an aggregate fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    BgNbd,
    ParetoNbd,
    GammaGamma,
}

impl Model {
    fn name(self) -> &'static str {
        match self {
            Model::BgNbd => "bgnbd_fit",
            Model::ParetoNbd => "pareto_nbd_fit",
            Model::GammaGamma => "gamma_gamma_fit",
        }
    }

    pub fn parameter_names(self) -> &'static [&'static str] {
        match self {
            Model::BgNbd => &["r", "alpha", "a", "b"],
            Model::ParetoNbd => &["r", "alpha", "s", "beta"],
            Model::GammaGamma => &["p", "q", "v"],
        }
    }

    /// Columns of a customer summary the model takes.
    fn inputs(self) -> usize {
        match self {
            Model::GammaGamma => 2,
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
            Model::GammaGamma => Box::new(FitAccumulator::<2> {
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
            Model::ParetoNbd => &PARETO_NBD_DOC,
            Model::GammaGamma => &GAMMA_GAMMA_DOC,
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
            Model::BgNbd | Model::ParetoNbd => {
                let rows: Vec<([f64; 3], u64)> = patterns
                    .iter()
                    .map(|(p, c)| ([p[0], p[1], p[2]], *c))
                    .collect();
                let data = RepeatBuyingData::new(&rows);
                if self.model == Model::BgNbd {
                    bgnbd::fit(&data, self.penalizer)
                } else {
                    pareto_nbd::fit(&data, self.penalizer)
                }
            }
            Model::GammaGamma => {
                let rows: Vec<([f64; 2], u64)> =
                    patterns.iter().map(|(p, c)| ([p[0], p[1]], *c)).collect();
                gamma_gamma::fit(&SpendData::new(&rows), self.penalizer)
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
