//! The tables a table function reads (`stitch`'s edges, `referral_tree`'s referrals): found by
//! name in the session, checked to have the columns the function needs, and planned as a
//! projection scan. Errors name the function, the table and its role.

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::provider_as_source;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::ExecutionPlan;

/// A table a function reads, named for its errors: `function` (`stitch`), the table's name as
/// given, and its `role` (`the edges`).
#[derive(Debug, Clone, Copy)]
pub struct TableInput<'a> {
    pub function: &'a str,
    pub table: &'a str,
    pub role: &'a str,
}

impl TableInput<'_> {
    /// Plans a scan of `columns` (each required) and of those of `optional` the table has, in
    /// that order.
    pub async fn scan(
        &self,
        state: &SessionState,
        columns: &[&str],
        optional: &[&str],
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Self {
            function,
            table,
            role,
        } = *self;
        let reference = TableReference::from(table);
        let provider = state
            .schema_for_ref(reference.clone())?
            .table(reference.table())
            .await?
            .ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "{function}: no table or view named {table} ({role})"
                ))
            })?;
        let schema = provider.schema();
        let mut projection = columns
            .iter()
            .map(|column| {
                schema.index_of(column).map_err(|_| {
                    DataFusionError::Plan(format!(
                        "{function}: {table} ({role}) has no column {column}; it needs {}",
                        columns.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        projection.extend(
            optional
                .iter()
                .filter_map(|column| schema.index_of(column).ok()),
        );
        // planned like any query, so that the optimizer splits large files over the cores
        let plan =
            LogicalPlanBuilder::scan(reference, provider_as_source(provider), Some(projection))?
                .build()?;
        state.create_physical_plan(&plan).await
    }
}
