//! userlake's SQL functions for Apache DataFusion: user-growth analytics (funnels, retention,
//! behavioural sequences, identity, RFM, LTV, attribution). Depends on DataFusion only:
//! `register_all` adds every function to any `FunctionRegistry` (a `SessionContext`, a
//! `SessionState`), as `datafusion-functions-json` does.

pub mod identity;
mod strings;

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::ScalarUDF;

/// Every scalar function of this crate.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(identity::NormalizeId::default())),
        Arc::new(ScalarUDF::from(identity::IsPlaceholderId::default())),
    ]
}

/// Registers every userlake function.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for function in scalar_functions() {
        registry.register_udf(function)?;
    }
    Ok(())
}

/// The names of the functions `register_all` adds, for listings.
pub fn function_names() -> Vec<String> {
    scalar_functions()
        .iter()
        .map(|f| f.name().to_string())
        .collect()
}
