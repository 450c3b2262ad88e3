//! `lifecycle_layer`: the operators' tiers (DOMAIN.md section 4) from a member's dates, orders
//! and money, with documented default thresholds that options can change; and `ltv_simple`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde::Deserialize;

use crate::arguments::check_argument_count;
use crate::doc_sections::VALUE_SECTION;
use crate::literals::text_of;
use crate::numeric::coerce_numeric;
use crate::strings::is_string_type;

const MICROS_PER_DAY: f64 = 86_400_000_000.0;

/// Thresholds of the layers; every one can be set in the options string.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleThresholds {
    /// joined less than this many days before as_of: new
    pub new_days: f64,
    /// no activity (event or order) for at least this many days: lost
    pub lost_days: f64,
    /// no activity for at least this many days: churn risk
    pub churn_days: f64,
    /// at least this many orders and this much money: high value
    pub high_value_orders: f64,
    pub high_value_monetary: f64,
    /// ordered within this many days, but fewer orders than high value: potential
    pub potential_days: f64,
}

impl Default for LifecycleThresholds {
    fn default() -> Self {
        Self {
            new_days: 7.0,
            lost_days: 90.0,
            churn_days: 30.0,
            high_value_orders: 3.0,
            high_value_monetary: 1000.0,
            potential_days: 30.0,
        }
    }
}

impl LifecycleThresholds {
    /// `key = value` pairs separated by commas or new lines, e.g. `'new_days = 14, churn_days = 45'`.
    pub fn parse(text: &str) -> Result<Self> {
        let toml_text = text.replace(',', "\n");
        match toml::from_str::<Self>(&toml_text) {
            Ok(thresholds) => Ok(thresholds),
            Err(e) => exec_err!(
                "lifecycle_layer: bad options '{text}': {e}keys are new_days, lost_days, churn_days, high_value_orders, high_value_monetary, potential_days"
            ),
        }
    }
}

/// A member's history as of a day, in days since each date.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub days_since_joined: Option<f64>,
    pub days_since_active: Option<f64>,
    pub days_since_order: Option<f64>,
    pub orders: f64,
    pub monetary: f64,
}

/// First match wins: new, lost, churn risk, high value, potential, active.
pub fn layer_of(member: &Member, limits: &LifecycleThresholds) -> &'static str {
    if member
        .days_since_joined
        .is_some_and(|d| (0.0..limits.new_days).contains(&d))
    {
        return "new";
    }
    // the last sign of life: an event or an order, else the join itself
    let idle = [member.days_since_active, member.days_since_order]
        .into_iter()
        .flatten()
        .reduce(f64::min)
        .or(member.days_since_joined);
    match idle {
        Some(d) if d >= limits.lost_days => return "lost",
        None => return "lost",
        Some(d) if d >= limits.churn_days => return "churn risk",
        _ => {}
    }
    if member.orders >= limits.high_value_orders && member.monetary >= limits.high_value_monetary {
        return "high value";
    }
    if member.orders >= 1.0
        && member
            .days_since_order
            .is_some_and(|d| d < limits.potential_days)
    {
        return "potential";
    }
    "active"
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LifecycleLayer {
    signature: Signature,
}

impl Default for LifecycleLayer {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static LIFECYCLE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "The member's lifecycle tier as of a day, the first that applies of: 'new' (joined less \
         than new_days = 7 days before as_of); 'lost' (no event or order for lost_days = 90 days, \
         or none ever and joined that long ago); 'churn risk' (none for churn_days = 30 days); \
         'high value' (at least high_value_orders = 3 orders and high_value_monetary = 1000 \
         spent); 'potential' (ordered in the last potential_days = 30 days, but below high \
         value); 'active' (everyone else). Options change the thresholds: 'new_days = 14, \
         churn_days = 45'. A NULL date means never; NULL orders or monetary count as 0; NULL \
         as_of gives NULL.",
        "lifecycle_layer(joined_at, last_active_at, last_order_at, orders, monetary, as_of [, options])",
    )
    .with_argument("joined_at, last_active_at, last_order_at", "Timestamps or dates.")
    .with_argument("orders, monetary", "Number of orders and money spent.")
    .with_argument("as_of", "The day the tiers are for.")
    .with_argument("options", "Optional string literal of key = value thresholds, separated by commas.")
    .with_sql_example("```sql\n> SELECT lifecycle_layer(DATE '2026-02-27', DATE '2026-02-28', NULL, 0, 0, DATE '2026-03-01');\nnew\n```")
    .build()
});

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

impl ScalarUDFImpl for LifecycleLayer {
    fn name(&self) -> &str {
        "lifecycle_layer"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(
            "lifecycle_layer",
            "(joined_at, last_active_at, last_order_at, orders, monetary, as_of [, options])",
            arg_types.len(),
            6..=7,
        )?;
        let mut types = Vec::new();
        for (i, t) in arg_types.iter().enumerate() {
            let name = [
                "joined_at",
                "last_active_at",
                "last_order_at",
                "orders",
                "monetary",
                "as_of",
                "options",
            ][i];
            let ok = match i {
                3 | 4 => t.is_numeric() || t.is_null(),
                6 => is_string_type(t),
                _ => {
                    matches!(
                        t,
                        DataType::Timestamp(..)
                            | DataType::Date32
                            | DataType::Date64
                            | DataType::Null
                    ) || is_string_type(t)
                }
            };
            if !ok {
                return plan_err!("lifecycle_layer: {name} has type {t}");
            }
            types.push(match i {
                3 | 4 => DataType::Float64,
                6 => t.clone(),
                _ => timestamp_type(),
            });
        }
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let limits = match args.args.get(6) {
            None => LifecycleThresholds::default(),
            Some(ColumnarValue::Scalar(value)) => match text_of(Some(value)) {
                Some(text) => LifecycleThresholds::parse(text)?,
                None => return exec_err!("lifecycle_layer: options must be a string literal"),
            },
            Some(_) => return exec_err!("lifecycle_layer: options must be a string literal"),
        };
        let arrays = ColumnarValue::values_to_arrays(&args.args[..6])?;
        let times: Vec<_> = [0, 1, 2, 5]
            .iter()
            .map(|&i| arrays[i].as_primitive_opt::<TimestampMicrosecondType>())
            .collect();
        let numbers: Vec<_> = [3, 4]
            .iter()
            .map(|&i| arrays[i].as_primitive_opt::<Float64Type>())
            .collect();
        let (Some(joined), Some(active), Some(ordered), Some(as_of)) =
            (times[0], times[1], times[2], times[3])
        else {
            return exec_err!("lifecycle_layer: unexpected argument types");
        };
        let (Some(orders), Some(monetary)) = (numbers[0], numbers[1]) else {
            return exec_err!("lifecycle_layer: unexpected argument types");
        };
        let mut out = StringBuilder::new();
        for row in 0..args.number_rows {
            if as_of.is_null(row) {
                out.append_null();
                continue;
            }
            let now = as_of.value(row);
            let days_since = |column: &datafusion::arrow::array::TimestampMicrosecondArray| {
                (!column.is_null(row)).then(|| (now - column.value(row)) as f64 / MICROS_PER_DAY)
            };
            let number = |column: &datafusion::arrow::array::Float64Array| {
                if column.is_null(row) {
                    0.0
                } else {
                    column.value(row)
                }
            };
            let (order_count, money) = (number(orders), number(monetary));
            if !(order_count.is_finite() && money.is_finite()) {
                return exec_err!(
                    "lifecycle_layer: orders and monetary must be numbers, got {order_count} and {money}"
                );
            }
            let member = Member {
                days_since_joined: days_since(joined),
                days_since_active: days_since(active),
                days_since_order: days_since(ordered),
                orders: order_count,
                monetary: money,
            };
            out.append_value(layer_of(&member, &limits));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&LIFECYCLE_DOC)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LtvSimple {
    signature: Signature,
}

impl Default for LtvSimple {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static LTV_SIMPLE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "The textbook lifetime value ARPU x gross margin / churn rate (all per the same period). \
         NULL when churn_rate <= 0 (a customer who never churns has no finite value) or an input \
         is NULL; a churn_rate above 1 or a margin outside [0, 1] is an error.",
        "ltv_simple(arpu, gross_margin, churn_rate)",
    )
    .with_argument("arpu", "Average revenue per user per period.")
    .with_argument("gross_margin", "Gross margin rate, 0 to 1.")
    .with_argument("churn_rate", "Share of customers lost per period, 0 to 1.")
    .with_sql_example("```sql\n> SELECT ltv_simple(100, 0.4, 0.05);\n800.0\n```")
    .build()
});

pub fn ltv_simple(arpu: f64, margin: f64, churn: f64) -> Result<Option<f64>> {
    if !arpu.is_finite() {
        return exec_err!("ltv_simple: arpu must be a number, got {arpu}");
    }
    if !(0.0..=1.0).contains(&margin) {
        return exec_err!("ltv_simple: gross_margin must be a rate between 0 and 1, got {margin}");
    }
    if churn.is_nan() || churn > 1.0 {
        return exec_err!("ltv_simple: churn_rate must be a rate of at most 1, got {churn}");
    }
    if churn <= 0.0 {
        return Ok(None);
    }
    Ok(Some(arpu * margin / churn))
}

impl ScalarUDFImpl for LtvSimple {
    fn name(&self) -> &str {
        "ltv_simple"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(
            "ltv_simple",
            "(arpu, gross_margin, churn_rate)",
            arg_types.len(),
            3..=3,
        )?;
        coerce_numeric(self.name(), arg_types, 3)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays: Vec<ArrayRef> = ColumnarValue::values_to_arrays(&args.args)?;
        let columns: Vec<_> = arrays
            .iter()
            .map(|a| a.as_primitive_opt::<Float64Type>())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                datafusion::common::DataFusionError::Execution(
                    "ltv_simple: unexpected argument types".into(),
                )
            })?;
        let mut out = Float64Builder::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            if columns.iter().any(|c| c.is_null(row)) {
                out.append_null();
                continue;
            }
            let [arpu, margin, churn] = [0, 1, 2].map(|i| columns[i].value(row));
            out.append_option(ltv_simple(arpu, margin, churn)?);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&LTV_SIMPLE_DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(
        joined: f64,
        active: Option<f64>,
        order: Option<f64>,
        orders: f64,
        money: f64,
    ) -> Member {
        Member {
            days_since_joined: Some(joined),
            days_since_active: active,
            days_since_order: order,
            orders,
            monetary: money,
        }
    }

    #[test]
    fn layers_follow_the_documented_order() {
        let limits = LifecycleThresholds::default();
        assert_eq!(layer_of(&member(3.0, None, None, 0.0, 0.0), &limits), "new");
        assert_eq!(
            layer_of(&member(7.0, Some(1.0), None, 0.0, 0.0), &limits),
            "active"
        );
        assert_eq!(
            layer_of(&member(200.0, Some(95.0), None, 0.0, 0.0), &limits),
            "lost"
        );
        assert_eq!(
            layer_of(&member(200.0, None, None, 0.0, 0.0), &limits),
            "lost"
        );
        assert_eq!(
            layer_of(&member(200.0, Some(40.0), Some(60.0), 5.0, 5000.0), &limits),
            "churn risk"
        );
        assert_eq!(
            layer_of(&member(200.0, Some(2.0), Some(60.0), 5.0, 5000.0), &limits),
            "high value"
        );
        assert_eq!(
            layer_of(&member(200.0, Some(2.0), Some(10.0), 1.0, 50.0), &limits),
            "potential"
        );
        assert_eq!(
            layer_of(&member(200.0, Some(2.0), Some(40.0), 1.0, 50.0), &limits),
            "active"
        );
        // an order is activity too
        assert_eq!(
            layer_of(&member(200.0, Some(50.0), Some(5.0), 1.0, 50.0), &limits),
            "potential"
        );
    }

    #[test]
    fn options_change_thresholds_and_reject_unknown_keys() {
        let limits = LifecycleThresholds::parse("new_days = 14, churn_days = 45").unwrap();
        assert_eq!(
            (limits.new_days, limits.churn_days, limits.lost_days),
            (14.0, 45.0, 90.0)
        );
        let error = LifecycleThresholds::parse("new_dayz = 3").unwrap_err();
        assert!(error.to_string().contains("new_dayz"), "{error}");
    }

    #[test]
    fn ltv_simple_edges() {
        assert_eq!(ltv_simple(100.0, 0.4, 0.05).unwrap(), Some(800.0));
        assert_eq!(ltv_simple(100.0, 0.4, 0.0).unwrap(), None);
        assert!(ltv_simple(100.0, 0.4, 1.5).is_err());
        assert!(ltv_simple(100.0, 1.4, 0.5).is_err());
    }
}
