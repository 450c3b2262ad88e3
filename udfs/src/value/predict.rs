//! Per-customer predictions from a fitted model, as scalar functions that take the fit's struct
//! (so a report cross-joins the one-row fit with the customer summaries):
//! `bgnbd_expected_purchases`, `bgnbd_p_alive`, `gamma_gamma_expected_spend`, `bgnbd_clv`, and
//! the same for MBG/NBD (`mbgnbd_*`) and Pareto/NBD (`pareto_nbd_*`); the sBG model's
//! `sbg_survival`, `sbg_retention_rate` and `sbg_derl`; BG/BB's `bgbb_expected_purchases` and
//! `bgbb_p_alive`.

use std::sync::{Arc, LazyLock};

use hashbrown::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Float64Builder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::bgbb::{self, BetaGeoBetaBinom};
use super::bgnbd::BgNbd;
use super::fit_udaf::Model;
use super::gamma_gamma::GammaGamma;
use super::mbgnbd::MbgNbd;
use super::pareto_nbd::ParetoNbd;
use super::sbg::ShiftedBetaGeometric;
use crate::doc_sections::VALUE_SECTION;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PredictionKind {
    ExpectedPurchases,
    ProbabilityAlive,
    ExpectedSpend,
    LifetimeValue,
    ParetoExpectedPurchases,
    ParetoProbabilityAlive,
    ParetoLifetimeValue,
    ModifiedExpectedPurchases,
    ModifiedProbabilityAlive,
    ModifiedLifetimeValue,
    SbgSurvival,
    SbgRetentionRate,
    SbgResidualLifetime,
    BgbbExpectedPurchases,
    BgbbProbabilityAlive,
}

impl PredictionKind {
    fn name(self) -> &'static str {
        match self {
            Self::ExpectedPurchases => "bgnbd_expected_purchases",
            Self::ProbabilityAlive => "bgnbd_p_alive",
            Self::ExpectedSpend => "gamma_gamma_expected_spend",
            Self::LifetimeValue => "bgnbd_clv",
            Self::ParetoExpectedPurchases => "pareto_nbd_expected_purchases",
            Self::ParetoProbabilityAlive => "pareto_nbd_p_alive",
            Self::ParetoLifetimeValue => "pareto_nbd_clv",
            Self::ModifiedExpectedPurchases => "mbgnbd_expected_purchases",
            Self::ModifiedProbabilityAlive => "mbgnbd_p_alive",
            Self::ModifiedLifetimeValue => "mbgnbd_clv",
            Self::SbgSurvival => "sbg_survival",
            Self::SbgRetentionRate => "sbg_retention_rate",
            Self::SbgResidualLifetime => "sbg_derl",
            Self::BgbbExpectedPurchases => "bgbb_expected_purchases",
            Self::BgbbProbabilityAlive => "bgbb_p_alive",
        }
    }

    fn model(self) -> Model {
        match self {
            Self::ExpectedSpend => Model::GammaGamma,
            Self::ParetoExpectedPurchases
            | Self::ParetoProbabilityAlive
            | Self::ParetoLifetimeValue => Model::ParetoNbd,
            Self::ModifiedExpectedPurchases
            | Self::ModifiedProbabilityAlive
            | Self::ModifiedLifetimeValue => Model::MbgNbd,
            Self::SbgSurvival | Self::SbgRetentionRate | Self::SbgResidualLifetime => {
                Model::ShiftedBetaGeometric
            }
            Self::BgbbExpectedPurchases | Self::BgbbProbabilityAlive => Model::BetaGeoBetaBinom,
            _ => Model::BgNbd,
        }
    }

    /// The numeric arguments after the model.
    fn argument_names(self) -> &'static [&'static str] {
        match self {
            Self::ExpectedPurchases
            | Self::ParetoExpectedPurchases
            | Self::ModifiedExpectedPurchases => &["horizon", "frequency", "recency", "t"],
            Self::ProbabilityAlive
            | Self::ParetoProbabilityAlive
            | Self::ModifiedProbabilityAlive => &["frequency", "recency", "t"],
            Self::ExpectedSpend => &["frequency", "monetary_value"],
            Self::SbgSurvival | Self::SbgRetentionRate => &["period"],
            Self::SbgResidualLifetime => &["renewals", "discount_rate"],
            Self::BgbbExpectedPurchases | Self::BgbbProbabilityAlive => {
                &["periods_ahead", "frequency", "recency", "n_periods"]
            }
            Self::LifetimeValue | Self::ParetoLifetimeValue | Self::ModifiedLifetimeValue => &[
                "frequency",
                "recency",
                "t",
                "spend",
                "months",
                "monthly_discount_rate",
                "units_per_month",
            ],
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Prediction {
    kind: PredictionKind,
    signature: Signature,
}

impl Prediction {
    pub fn new(kind: PredictionKind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static EXPECTED_PURCHASES_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Expected repeat purchases in the next `horizon` of a customer with history (frequency, \
         recency, t), under a BG/NBD fit (equation 10 of Fader, Hardie and Lee 2005; lifetimes' \
         `predict`). `horizon` is in the unit of recency and t. NULL when an input is NULL.",
        "bgnbd_expected_purchases(model, horizon, frequency, recency, t)",
    )
    .with_argument("model", "The struct bgnbd_fit returns (or any struct with float fields r, alpha, a, b).")
    .with_argument("horizon", "How far ahead, in the unit of recency and t.")
    .with_argument("frequency, recency, t", "The customer's summary, as bgnbd_fit takes it.")
    .with_sql_example("```sql\nSELECT member_id, bgnbd_expected_purchases(m.model, 52, s.frequency, s.recency, s.t)\nFROM summaries s CROSS JOIN (SELECT bgnbd_fit(frequency, recency, t) AS model FROM summaries) m;\n```")
    .build()
});

static P_ALIVE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Probability that a customer with history (frequency, recency, t) is still active under a \
         BG/NBD fit (Fader, Hardie and Lee's note 021; lifetimes' `conditional_probability_alive`): \
         1 for a customer who never bought again, as the model assumes churn only happens after a \
         purchase.",
        "bgnbd_p_alive(model, frequency, recency, t)",
    )
    .with_argument("model", "The struct bgnbd_fit returns.")
    .with_argument("frequency, recency, t", "The customer's summary.")
    .build()
});

static EXPECTED_SPEND_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Expected mean spend per purchase of a customer under a Gamma-Gamma fit (note 025, \
         equation 5; lifetimes' `conditional_expected_average_profit`): a weighted mean of the \
         customer's own mean spend and the population mean v p / (q - 1), weighted by their \
         repeat purchases. For frequency 0 it is the population mean. NULL when q <= 1 (the \
         population mean does not exist) or an input is NULL.",
        "gamma_gamma_expected_spend(model, frequency, monetary_value)",
    )
    .with_argument(
        "model",
        "The struct gamma_gamma_fit returns (fields p, q, v).",
    )
    .with_argument(
        "frequency, monetary_value",
        "The customer's repeat purchases and their mean value.",
    )
    .build()
});

static PARETO_EXPECTED_PURCHASES_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Expected repeat purchases in the next `horizon` of a customer with history (frequency, \
         recency, t), under a Pareto/NBD fit (Schmittlein, Morrison and Colombo 1987; lifetimes' \
         `ParetoNBDFitter.conditional_expected_number_of_purchases_up_to_time`): P(alive) times \
         (r + x)(beta + t) / ((alpha + t)(s - 1)) (1 - ((beta + t) / (beta + t + horizon))^(s - \
         1)), its limit at s = 1. `horizon` is in the unit of recency and t. NULL when an input \
         is NULL or the likelihood's hypergeometric series does not settle.",
        "pareto_nbd_expected_purchases(model, horizon, frequency, recency, t)",
    )
    .with_argument("model", "The struct pareto_nbd_fit returns (or any struct with float fields r, alpha, s, beta).")
    .with_argument("horizon", "How far ahead, in the unit of recency and t.")
    .with_argument("frequency, recency, t", "The customer's summary, as pareto_nbd_fit takes it.")
    .with_sql_example("```sql\nSELECT member_id, pareto_nbd_expected_purchases(m.model, 52, s.frequency, s.recency, s.t)\nFROM summaries s CROSS JOIN (SELECT pareto_nbd_fit(frequency, recency, t) AS model FROM summaries) m;\n```")
    .with_related_udf("bgnbd_expected_purchases")
    .build()
});

static PARETO_P_ALIVE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Probability that a customer with history (frequency, recency, t) is still active under a \
         Pareto/NBD fit (Fader and Hardie's note 009; lifetimes' \
         `conditional_probability_alive`). Unlike BG/NBD, a customer who never bought again may \
         have left. NULL when an input is NULL or the hypergeometric series does not settle.",
        "pareto_nbd_p_alive(model, frequency, recency, t)",
    )
    .with_argument("model", "The struct pareto_nbd_fit returns.")
    .with_argument("frequency, recency, t", "The customer's summary.")
    .with_related_udf("bgnbd_p_alive")
    .build()
});

static PARETO_CLV_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Discounted customer lifetime value over the next `months` months under a Pareto/NBD fit, \
         with the same discounting as bgnbd_clv (lifetimes' `customer_lifetime_value` with a \
         ParetoNBDFitter): the sum over months i = 1..months of spend x (expected purchases by \
         month i - by month i-1) / (1 + monthly_discount_rate)^i.",
        "pareto_nbd_clv(model, frequency, recency, t, spend, months, monthly_discount_rate, units_per_month)",
    )
    .with_argument("model", "The struct pareto_nbd_fit returns.")
    .with_argument("frequency, recency, t", "The customer's summary.")
    .with_argument("spend", "Value per future purchase.")
    .with_argument("months", "Horizon in months, a non-negative integer.")
    .with_argument("monthly_discount_rate", "E.g. 0.01.")
    .with_argument("units_per_month", "30 when recency and t are in days, 4.345 in weeks.")
    .with_related_udf("bgnbd_clv")
    .build()
});

static MBGNBD_EXPECTED_PURCHASES_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Expected repeat purchases in the next `horizon` of a customer with history (frequency, \
         recency, t), under a modified BG/NBD fit (lifetimes' \
         `ModifiedBetaGeoFitter.conditional_expected_number_of_purchases_up_to_time`). `horizon` \
         is in the unit of recency and t. NULL when an input is NULL.",
        "mbgnbd_expected_purchases(model, horizon, frequency, recency, t)",
    )
    .with_argument(
        "model",
        "The struct mbgnbd_fit returns (or any struct with float fields r, alpha, a, b).",
    )
    .with_argument("horizon", "How far ahead, in the unit of recency and t.")
    .with_argument(
        "frequency, recency, t",
        "The customer's summary, as mbgnbd_fit takes it.",
    )
    .with_related_udf("bgnbd_expected_purchases")
    .build()
});

static MBGNBD_P_ALIVE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Probability that a customer with history (frequency, recency, t) is still active under a \
         modified BG/NBD fit (lifetimes' `conditional_probability_alive`): 1 / (1 + a / (b + \
         frequency) ((alpha + t) / (alpha + recency))^(r + frequency)). Unlike BG/NBD it is \
         below 1 for a customer who never bought again.",
        "mbgnbd_p_alive(model, frequency, recency, t)",
    )
    .with_argument("model", "The struct mbgnbd_fit returns.")
    .with_argument("frequency, recency, t", "The customer's summary.")
    .with_related_udf("bgnbd_p_alive")
    .build()
});

static MBGNBD_CLV_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Discounted customer lifetime value over the next `months` months under a modified \
         BG/NBD fit, with the same discounting as bgnbd_clv (lifetimes' \
         `customer_lifetime_value` with a ModifiedBetaGeoFitter).",
        "mbgnbd_clv(model, frequency, recency, t, spend, months, monthly_discount_rate, units_per_month)",
    )
    .with_argument("model", "The struct mbgnbd_fit returns.")
    .with_argument("frequency, recency, t", "The customer's summary.")
    .with_argument("spend", "Value per future purchase.")
    .with_argument("months", "Horizon in months, a non-negative integer.")
    .with_argument("monthly_discount_rate", "E.g. 0.01.")
    .with_argument("units_per_month", "30 when recency and t are in days, 4.345 in weeks.")
    .with_related_udf("bgnbd_clv")
    .build()
});

static SBG_SURVIVAL_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "The share of a cohort still members after `period` periods under an sBG fit (Fader \
         and Hardie 2007, equation 2): S(t) = B(alpha, beta + t) / B(alpha, beta); 1 at period \
         0. The projected retention curve of a cohort.",
        "sbg_survival(model, period)",
    )
    .with_argument("model", "The struct sbg_fit returns (or any struct with float fields alpha, beta).")
    .with_argument("period", "Periods since joining, a non-negative number.")
    .with_sql_example("```sql\nSELECT p, sbg_survival(m.model, p) FROM (SELECT sbg_fit(period, churned) AS model FROM members) m\nCROSS JOIN unnest(range(0, 13)) AS t(p);\n```")
    .build()
});

static SBG_RETENTION_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "The retention rate of period `period` under an sBG fit (Fader and Hardie 2007, \
         equation 3): the share of the members of period t - 1 who renew into period t, \
         (beta + t - 1) / (alpha + beta + t - 1). It rises with t, as the members likely to \
         leave leave first.",
        "sbg_retention_rate(model, period)",
    )
    .with_argument("model", "The struct sbg_fit returns.")
    .with_argument("period", "The period renewed into, at least 1.")
    .build()
});

static SBG_DERL_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "The discounted expected residual lifetime of a member who has renewed `renewals` \
         times, under an sBG fit (Fader and Hardie 2010, \"Customer-base valuation in a \
         contractual setting\", equation 6): the expected number of renewals still to come, \
         the next one (now due) counted in full and each later one discounted by (1 + \
         discount_rate) per further period. Times the value of a renewal, it \
         is the member's expected residual value. NULL when the series does not settle.",
        "sbg_derl(model, renewals, discount_rate)",
    )
    .with_argument("model", "The struct sbg_fit returns.")
    .with_argument(
        "renewals",
        "Renewals the member has made so far, a non-negative integer.",
    )
    .with_argument(
        "discount_rate",
        "Per period, greater than 0 (e.g. 0.1 a year).",
    )
    .build()
});

static BGBB_EXPECTED_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Expected transactions of a customer (frequency, recency, n_periods) at the next \
         `periods_ahead` opportunities under a BG/BB fit (Fader, Hardie and Shang 2010, \
         equation 13; lifetimes' \
         `BetaGeoBetaBinomFitter.conditional_expected_number_of_purchases_up_to_time`).",
        "bgbb_expected_purchases(model, periods_ahead, frequency, recency, n_periods)",
    )
    .with_argument(
        "model",
        "The struct bgbb_fit returns (or any struct with float fields alpha, beta, gamma, delta).",
    )
    .with_argument(
        "periods_ahead",
        "Future opportunities, a non-negative integer.",
    )
    .with_argument(
        "frequency, recency, n_periods",
        "The customer's history, as bgbb_fit takes it.",
    )
    .build()
});

static BGBB_P_ALIVE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Probability that a customer (frequency, recency, n_periods) is still alive \
         `periods_ahead` opportunities from now (0: now) under a BG/BB fit (lifetimes' \
         `conditional_probability_alive`).",
        "bgbb_p_alive(model, periods_ahead, frequency, recency, n_periods)",
    )
    .with_argument("model", "The struct bgbb_fit returns.")
    .with_argument(
        "periods_ahead",
        "Future opportunities, a non-negative integer (0: now).",
    )
    .with_argument("frequency, recency, n_periods", "The customer's history.")
    .build()
});

static CLV_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "Discounted customer lifetime value over the next `months` months, as lifetimes' \
         `customer_lifetime_value`: the sum over months i = 1..months of spend x (expected \
         purchases by month i - by month i-1) / (1 + monthly_discount_rate)^i, with purchases \
         from the BG/NBD fit. `units_per_month` converts months to the unit of recency and t (30 \
         for days, 4.345 for weeks, as lifetimes). `spend` is usually \
         gamma_gamma_expected_spend, times a margin rate for a margin-based CLV.",
        "bgnbd_clv(model, frequency, recency, t, spend, months, monthly_discount_rate, units_per_month)",
    )
    .with_argument("model", "The struct bgnbd_fit returns.")
    .with_argument("frequency, recency, t", "The customer's summary.")
    .with_argument("spend", "Value per future purchase.")
    .with_argument("months", "Horizon in months, a non-negative integer.")
    .with_argument("monthly_discount_rate", "E.g. 0.01.")
    .with_argument("units_per_month", "30 when recency and t are in days, 4.345 in weeks.")
    .build()
});

impl ScalarUDFImpl for Prediction {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        let expected = 1 + self.kind.argument_names().len();
        if arg_types.len() != expected {
            return plan_err!(
                "{name} takes {expected} arguments (model, {}), got {}",
                self.kind.argument_names().join(", "),
                arg_types.len()
            );
        }
        let DataType::Struct(fields) = &arg_types[0] else {
            return plan_err!(
                "{name}: the first argument must be the struct {} returns, got {}",
                self.kind.model().parameter_names().join("/"),
                arg_types[0]
            );
        };
        for parameter in self.kind.model().parameter_names() {
            match fields.find(parameter) {
                Some((_, field)) if field.data_type().is_numeric() => {}
                _ => {
                    return plan_err!(
                        "{name}: the model struct has no numeric field '{parameter}' (fields: {})",
                        fields
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
        }
        let mut types = vec![arg_types[0].clone()];
        for (t, argument) in arg_types[1..].iter().zip(self.kind.argument_names()) {
            if !(t.is_numeric() || t.is_null()) {
                return plan_err!("{name}: {argument} must be numeric, got {t}");
            }
            types.push(DataType::Float64);
        }
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.name();
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(model) = arrays[0].as_struct_opt() else {
            return exec_err!("{name}: the first argument must be a model struct");
        };
        let parameters: Vec<ArrayRef> = self
            .kind
            .model()
            .parameter_names()
            .iter()
            .map(|p| match model.column_by_name(p) {
                Some(column) => Ok(cast(column, &DataType::Float64)?),
                None => exec_err!("{name}: the model struct has no field '{p}'"),
            })
            .collect::<Result<_>>()?;
        let parameters: Vec<&Float64Array> = parameters
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        let inputs: Vec<&Float64Array> = arrays[1..]
            .iter()
            .map(|a| match a.as_primitive_opt::<Float64Type>() {
                Some(values) => Ok(values),
                None => exec_err!("{name}: expected Float64 arguments"),
            })
            .collect::<Result<_>>()?;
        let rows = args.number_rows;
        let mut out = Float64Builder::with_capacity(rows);
        let mut cache = BatchCache::default();
        let (mut p, mut v) = ([0.0; MAX_PARAMETERS], [0.0; MAX_INPUTS]);
        for row in 0..rows {
            let null = model.is_null(row)
                || parameters.iter().any(|p| p.is_null(row))
                || inputs.iter().any(|i| i.is_null(row));
            if null {
                out.append_null();
                continue;
            }
            for (slot, column) in p.iter_mut().zip(&parameters) {
                *slot = column.value(row);
            }
            for (slot, column) in v.iter_mut().zip(&inputs) {
                *slot = column.value(row);
            }
            out.append_option(self.predict(
                &p[..parameters.len()],
                &v[..inputs.len()],
                &mut cache,
            )?);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.kind {
            PredictionKind::ExpectedPurchases => &EXPECTED_PURCHASES_DOC,
            PredictionKind::ProbabilityAlive => &P_ALIVE_DOC,
            PredictionKind::ExpectedSpend => &EXPECTED_SPEND_DOC,
            PredictionKind::LifetimeValue => &CLV_DOC,
            PredictionKind::ParetoExpectedPurchases => &PARETO_EXPECTED_PURCHASES_DOC,
            PredictionKind::ParetoProbabilityAlive => &PARETO_P_ALIVE_DOC,
            PredictionKind::ParetoLifetimeValue => &PARETO_CLV_DOC,
            PredictionKind::ModifiedExpectedPurchases => &MBGNBD_EXPECTED_PURCHASES_DOC,
            PredictionKind::ModifiedProbabilityAlive => &MBGNBD_P_ALIVE_DOC,
            PredictionKind::ModifiedLifetimeValue => &MBGNBD_CLV_DOC,
            PredictionKind::SbgSurvival => &SBG_SURVIVAL_DOC,
            PredictionKind::SbgRetentionRate => &SBG_RETENTION_DOC,
            PredictionKind::SbgResidualLifetime => &SBG_DERL_DOC,
            PredictionKind::BgbbExpectedPurchases => &BGBB_EXPECTED_DOC,
            PredictionKind::BgbbProbabilityAlive => &BGBB_P_ALIVE_DOC,
        })
    }
}

/// The same checks as the fits make, so a prediction never runs on a summary no fit accepts.
fn check_summary(name: &str, frequency: f64, recency: f64, t: f64) -> Result<()> {
    if !frequency.is_finite() || frequency < 0.0 || frequency.fract() != 0.0 {
        return exec_err!("{name}: frequency must be a non-negative integer, got {frequency}");
    }
    if !recency.is_finite() || recency < 0.0 {
        return exec_err!("{name}: recency must be a non-negative number, got {recency}");
    }
    if !t.is_finite() || recency > t {
        return exec_err!("{name}: recency {recency} is larger than t {t}");
    }
    Ok(())
}

fn check_parameters(name: &str, parameters: &[f64]) -> Result<()> {
    if parameters.iter().any(|p| !p.is_finite() || *p <= 0.0) {
        return exec_err!("{name}: model parameters must be positive numbers, got {parameters:?}");
    }
    Ok(())
}

/// The most parameters of a model and arguments of a prediction.
const MAX_PARAMETERS: usize = 4;
const MAX_INPUTS: usize = 8;

/// Values already computed in a batch that cost a series each and depend on few of a row's
/// arguments: BG/NBD purchase curves (`BgNbd::purchase_curve`, by model, frequency, t and
/// horizons; customers share far fewer (frequency, t) pairs than summaries, 9,651 against 416,911
/// in the LTV benchmark's million customers), and sBG residual lifetimes (a 2F1 near z = 1, by
/// model, renewals and discount rate). Each batch of one function computes each once.
#[derive(Default)]
struct BatchCache {
    ranges: HashMap<[u64; 8], (usize, usize)>,
    values: Vec<Option<f64>>,
}

impl BatchCache {
    /// The values under `key`, `compute`d the first time.
    fn values(
        &mut self,
        key: [f64; 8],
        compute: impl FnOnce() -> Vec<Option<f64>>,
    ) -> &[Option<f64>] {
        let values = &mut self.values;
        let (start, end) = *self.ranges.entry(key.map(f64::to_bits)).or_insert_with(|| {
            let start = values.len();
            values.extend(compute());
            (start, values.len())
        });
        &self.values[start..end]
    }

    /// The purchase curve of (model, x, t) at `horizons`; `horizon_key` identifies the horizons.
    fn curve(
        &mut self,
        model: &BgNbd,
        x: f64,
        t: f64,
        horizon_key: [f64; 2],
        horizons: impl FnOnce() -> Vec<f64>,
    ) -> &[Option<f64>] {
        let key = [
            model.r,
            model.alpha,
            model.a,
            model.b,
            x,
            t,
            horizon_key[0],
            horizon_key[1],
        ];
        self.values(key, || {
            let horizons = horizons();
            let mut curve = vec![None; horizons.len()];
            model.purchase_curve(&horizons, x, t, &mut curve);
            curve
        })
    }
}

impl Prediction {
    /// For BG/NBD and MBG/NBD predictions of purchases: the BG/NBD model whose purchase curve
    /// they take, and the customer's divisor of it.
    fn purchase_model(&self, parameters: &[f64], x: f64, t_x: f64, t: f64) -> (BgNbd, f64) {
        if self.kind.model() == Model::MbgNbd {
            let model = MbgNbd::from_slice(parameters);
            (model.purchase_model(), model.recency_divisor(x, t_x, t))
        } else {
            let model = BgNbd::from_slice(parameters);
            (model, model.recency_divisor(x, t_x, t))
        }
    }

    fn predict(
        &self,
        parameters: &[f64],
        v: &[f64],
        cache: &mut BatchCache,
    ) -> Result<Option<f64>> {
        let name = self.name();
        check_parameters(name, parameters)?;
        Ok(match self.kind {
            PredictionKind::ExpectedPurchases | PredictionKind::ModifiedExpectedPurchases => {
                check_summary(name, v[1], v[2], v[3])?;
                if !(v[0].is_finite() && v[0] >= 0.0) {
                    return exec_err!(
                        "{name}: horizon must be a non-negative number, got {}",
                        v[0]
                    );
                }
                let (horizon, x, t_x, t) = (v[0], v[1], v[2], v[3]);
                let (model, divisor) = self.purchase_model(parameters, x, t_x, t);
                let curve = cache.curve(&model, x, t, [horizon, 0.0], || vec![horizon]);
                BgNbd::expected_from_curve(curve[0], divisor)
            }
            PredictionKind::SbgSurvival | PredictionKind::SbgRetentionRate => {
                let period = v[0];
                let first = if self.kind == PredictionKind::SbgSurvival {
                    0.0
                } else {
                    1.0
                };
                if !(period.is_finite() && period >= first) {
                    return exec_err!(
                        "{name}: period must be a number of at least {first}, got {period}"
                    );
                }
                let model = ShiftedBetaGeometric::from_slice(parameters);
                Some(if self.kind == PredictionKind::SbgSurvival {
                    model.survival(period)
                } else {
                    model.retention_rate(period)
                })
            }
            PredictionKind::BgbbExpectedPurchases | PredictionKind::BgbbProbabilityAlive => {
                let [ahead, x, t_x, n] = [v[0], v[1], v[2], v[3]];
                let integer = |v: f64| v.is_finite() && v >= 0.0 && v.fract() == 0.0;
                if !(integer(ahead) && ahead < 1e9) {
                    return exec_err!(
                        "{name}: periods_ahead must be a non-negative integer, got {ahead}"
                    );
                }
                bgbb::check_history(name, x, t_x, n)?;
                let model = BetaGeoBetaBinom::from_slice(parameters);
                if self.kind == PredictionKind::BgbbExpectedPurchases {
                    model.expected_transactions(ahead as u64, x, t_x, n)
                } else {
                    Some(model.probability_alive(x, t_x, n, ahead))
                }
            }
            PredictionKind::SbgResidualLifetime => {
                let (renewals, discount) = (v[0], v[1]);
                if !(renewals.is_finite() && renewals >= 0.0 && renewals.fract() == 0.0) {
                    return exec_err!(
                        "{name}: renewals must be a non-negative integer, got {renewals}"
                    );
                }
                if !(discount.is_finite() && discount > 0.0) {
                    return exec_err!(
                        "{name}: discount_rate must be greater than 0, got {discount}"
                    );
                }
                let model = ShiftedBetaGeometric::from_slice(parameters);
                let key = [
                    model.alpha,
                    model.beta,
                    renewals,
                    discount,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                ];
                cache.values(key, || {
                    vec![model.discounted_residual_lifetime(renewals, discount)]
                })[0]
            }
            PredictionKind::ModifiedProbabilityAlive => {
                check_summary(name, v[0], v[1], v[2])?;
                Some(MbgNbd::from_slice(parameters).probability_alive(v[0], v[1], v[2]))
            }
            PredictionKind::ProbabilityAlive => {
                check_summary(name, v[0], v[1], v[2])?;
                Some(BgNbd::from_slice(parameters).probability_alive(v[0], v[1], v[2]))
            }
            PredictionKind::ExpectedSpend => {
                let (frequency, spend) = (v[0], v[1]);
                if !frequency.is_finite() || frequency < 0.0 || frequency.fract() != 0.0 {
                    return exec_err!(
                        "{name}: frequency must be a non-negative integer, got {frequency}"
                    );
                }
                if !spend.is_finite() {
                    return exec_err!("{name}: monetary_value must be a number, got {spend}");
                }
                GammaGamma::from_slice(parameters).expected_spend(frequency, spend)
            }
            PredictionKind::LifetimeValue | PredictionKind::ModifiedLifetimeValue => {
                let clv = ClvArguments::check(name, v)?;
                let (model, divisor) =
                    self.purchase_model(parameters, clv.frequency, clv.recency, clv.t);
                let curve = cache.curve(
                    &model,
                    clv.frequency,
                    clv.t,
                    [clv.months, clv.units],
                    || clv.horizons(),
                );
                clv.discounted(
                    curve
                        .iter()
                        .map(|p| BgNbd::expected_from_curve(*p, divisor)),
                )
            }
            PredictionKind::ParetoExpectedPurchases => {
                check_summary(name, v[1], v[2], v[3])?;
                if !(v[0].is_finite() && v[0] >= 0.0) {
                    return exec_err!(
                        "{name}: horizon must be a non-negative number, got {}",
                        v[0]
                    );
                }
                let mut out = [None];
                ParetoNbd::from_slice(parameters).expected_purchases(
                    &[v[0]],
                    v[1],
                    v[2],
                    v[3],
                    &mut out,
                );
                out[0]
            }
            PredictionKind::ParetoProbabilityAlive => {
                check_summary(name, v[0], v[1], v[2])?;
                ParetoNbd::from_slice(parameters).probability_alive(v[0], v[1], v[2])
            }
            PredictionKind::ParetoLifetimeValue => {
                let clv = ClvArguments::check(name, v)?;
                let horizons = clv.horizons();
                let mut purchases = vec![None; horizons.len()];
                ParetoNbd::from_slice(parameters).expected_purchases(
                    &horizons,
                    clv.frequency,
                    clv.recency,
                    clv.t,
                    &mut purchases,
                );
                clv.discounted(purchases.into_iter())
            }
        })
    }
}

/// The arguments of a CLV prediction after the model, checked.
struct ClvArguments {
    frequency: f64,
    recency: f64,
    t: f64,
    spend: f64,
    months: f64,
    discount: f64,
    units: f64,
}

impl ClvArguments {
    fn check(name: &str, v: &[f64]) -> Result<Self> {
        let [frequency, recency, t, spend, months, discount, units] =
            [v[0], v[1], v[2], v[3], v[4], v[5], v[6]];
        check_summary(name, frequency, recency, t)?;
        if !spend.is_finite() {
            return exec_err!("{name}: spend must be a number, got {spend}");
        }
        if !(months.is_finite() && months >= 0.0 && months.fract() == 0.0) {
            return exec_err!("{name}: months must be a non-negative integer, got {months}");
        }
        if !(discount.is_finite() && discount > -1.0) {
            return exec_err!(
                "{name}: monthly_discount_rate must be greater than -1, got {discount}"
            );
        }
        if !(units.is_finite() && units > 0.0) {
            return exec_err!("{name}: units_per_month must be positive, got {units}");
        }
        Ok(Self {
            frequency,
            recency,
            t,
            spend,
            months,
            discount,
            units,
        })
    }

    /// The end of each month, in the unit of recency and t.
    fn horizons(&self) -> Vec<f64> {
        (1..=self.months as u64)
            .map(|m| m as f64 * self.units)
            .collect()
    }

    /// The discounted value of the expected purchases by the end of each month (cumulative);
    /// `None` if any is.
    fn discounted(&self, cumulative: impl Iterator<Item = Option<f64>>) -> Option<f64> {
        let mut value = 0.0;
        let mut previous = 0.0;
        let mut discount_factor = 1.0;
        for purchases in cumulative {
            let purchases = purchases?;
            discount_factor /= 1.0 + self.discount;
            value += self.spend * (purchases - previous) * discount_factor;
            previous = purchases;
        }
        Some(value)
    }
}
