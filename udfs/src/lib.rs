//! userlake's SQL functions for Apache DataFusion: user-growth analytics (funnels, retention,
//! behavioural sequences, identity, RFM, LTV, attribution). Depends on DataFusion only:
//! `register_all` adds every function to any `FunctionRegistry` (a `SessionContext`, a
//! `SessionState`).

use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;

/// Registers every userlake function.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    let _ = registry;
    Ok(())
}

/// The names of the functions `register_all` adds, for listings.
pub fn function_names() -> Vec<&'static str> {
    Vec::new()
}
