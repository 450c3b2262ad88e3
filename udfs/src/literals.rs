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

/// The value of an aggregate's argument `index` if it is a literal.
pub fn literal_argument(args: &AccumulatorArgs, index: usize) -> Option<ScalarValue> {
    args.exprs.get(index).and_then(literal_of)
}
