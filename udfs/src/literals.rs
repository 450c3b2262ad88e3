//! Reading the literal arguments (windows, modes, patterns, options) that the functions need
//! at execution, from the physical expressions DataFusion hands them.

use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

/// The value of `expr` if it is a literal.
pub fn literal_of(expr: &Arc<dyn PhysicalExpr>) -> Option<ScalarValue> {
    expr.downcast_ref::<Literal>().map(|l| l.value().clone())
}

/// A table function's string argument: `Some(text)`, or `None` for a NULL literal; anything
/// but a string literal is a planning error naming the function, the argument and the usage.
pub fn table_function_string(
    expr: &datafusion::logical_expr::Expr,
    function: &str,
    position: &str,
    usage: &str,
) -> datafusion::common::Result<Option<String>> {
    use datafusion::logical_expr::Expr;
    match expr {
        Expr::Literal(value, _) if value.try_as_str().is_some() => {
            Ok(value.try_as_str().flatten().map(str::to_string))
        }
        Expr::Literal(ScalarValue::Null, _) => Ok(None),
        other => datafusion::common::plan_err!(
            "{function}: the {position} argument must be a string literal, got {other}; usage: {usage}"
        ),
    }
}

/// The value of an aggregate's argument `index` if it is a literal.
pub fn literal_argument(args: &AccumulatorArgs, index: usize) -> Option<ScalarValue> {
    args.exprs.get(index).and_then(literal_of)
}

/// The text of a non-NULL string scalar (of any of Arrow's string types), else `None`.
pub fn text_of(value: Option<&ScalarValue>) -> Option<&str> {
    value.and_then(ScalarValue::try_as_str).flatten()
}

/// The text of argument `index` when it is a non-NULL string literal.
pub fn literal_text(args: &AccumulatorArgs, index: usize) -> Option<String> {
    text_of(literal_argument(args, index).as_ref()).map(str::to_string)
}
