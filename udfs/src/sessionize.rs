//! `sessionize(timestamp, gap) OVER (PARTITION BY user ORDER BY timestamp)`: session numbers.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Int64Builder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::function::{
    PartitionEvaluatorArgs, WindowFunctionSimplification, WindowUDFFieldArgs,
};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    Documentation, Expr, PartitionEvaluator, Signature, Volatility, WindowUDFImpl,
};

use crate::arguments::check_argument_count;
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::literals::literal_of;
use crate::time::{is_interval, is_time_type, time_ticks, window_ticks};

const NAME: &str = "sessionize";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Sessionize {
    signature: Signature,
}

impl Default for Sessionize {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "Numbers a partition's sessions from 1, in the window's order: a new session starts \
         when the time since the previous row is larger than `gap` (a gap exactly equal stays \
         in the session). Rows with a NULL timestamp get NULL and do not break a session. The \
         window must be ordered by the timestamp, ascending; rows out of order are an error.",
        "sessionize(timestamp, gap) OVER (PARTITION BY user ORDER BY timestamp)",
    )
    .with_argument("timestamp", "Any timestamp unit, DATE, or an integer.")
    .with_argument("gap", "The inactivity that ends a session: integer seconds (raw units for integer times) or an INTERVAL; a literal.")
    .with_sql_example(
        "```sql\nSELECT user_id, event_time,\n       sessionize(event_time, INTERVAL '30 minutes') OVER (PARTITION BY user_id ORDER BY event_time) AS session\nFROM events;\n```",
    )
    .build()
});

fn check_gap(gap: Option<&ScalarValue>, time_type: &DataType) -> Result<i64> {
    match gap {
        Some(gap) => window_ticks(NAME, gap, time_type),
        None => plan_err!("{NAME}: the gap must be a literal"),
    }
}

impl WindowUDFImpl for Sessionize {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(NAME, "(timestamp, gap)", arg_types.len(), 2..=2)?;
        if !is_time_type(&arg_types[0]) {
            return plan_err!(
                "{NAME}: the timestamp must be a timestamp, a date or an integer, got {}",
                arg_types[0]
            );
        }
        if !(arg_types[1].is_integer() || is_interval(&arg_types[1])) {
            return plan_err!(
                "{NAME}: the gap must be an integer or an INTERVAL, got {}",
                arg_types[1]
            );
        }
        Ok(arg_types.to_vec())
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let time_type = args
            .input_fields()
            .first()
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
        let gap = args.input_exprs().get(1).and_then(literal_of);
        Ok(Box::new(SessionEvaluator {
            gap: check_gap(gap.as_ref(), &time_type)?,
        }))
    }

    fn simplify(&self) -> Option<WindowFunctionSimplification> {
        Some(Box::new(
            |function: WindowFunction, info: &SimplifyContext| {
                let args = &function.params.args;
                if let (Some(time), Some(gap)) = (args.first(), args.get(1)) {
                    let gap = match gap {
                        Expr::Literal(value, _) => Some(value.clone()),
                        _ => None,
                    };
                    check_gap(gap.as_ref(), &info.get_data_type(time)?)?;
                }
                Ok(Expr::WindowFunction(Box::new(function)))
            },
        ))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Int64,
            true,
        )))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

#[derive(Debug)]
struct SessionEvaluator {
    gap: i64,
}

impl PartitionEvaluator for SessionEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let times = time_ticks(&values[0], NAME)?;
        let mut sessions = Int64Builder::with_capacity(num_rows);
        let mut session = 0i64;
        let mut previous: Option<i64> = None;
        for time in times {
            let Some(time) = time else {
                sessions.append_null();
                continue;
            };
            match previous {
                Some(p) if time < p => {
                    return exec_err!(
                        "{NAME}: rows are not in time order; use OVER (PARTITION BY ... ORDER BY the timestamp)"
                    );
                }
                Some(p) if time - p <= self.gap => {}
                _ => session += 1,
            }
            previous = Some(time);
            sessions.append_value(session);
        }
        Ok(Arc::new(sessions.finish()))
    }
}
