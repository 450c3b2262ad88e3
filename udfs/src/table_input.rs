//! The tables a table function reads (`stitch`'s edges, `referral_tree`'s referrals): found by
//! name in the session, checked to have the columns the function needs, and planned as a
//! projection scan. Errors name the function, the table and its role.

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::provider_as_source;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};

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
        // planned like any query, so that the optimizer splits large files over the cores, but
        // by DataFusion's own planner rather than the session's: a session whose query planner
        // distributes queries distributes the whole plan this scan becomes a part of, and must
        // not start a second, nested distributed plan here
        let plan =
            LogicalPlanBuilder::scan(reference, provider_as_source(provider), Some(projection))?
                .build()?;
        let plan = state.optimize(&plan)?;
        DefaultPhysicalPlanner::default()
            .create_physical_plan(&plan, state)
            .await
    }
}

/// The children of a table function's plan: its input, and a second one when it has one (the
/// previous id graph, the campaign mapping).
pub fn plan_children<'a>(
    input: &'a Arc<dyn ExecutionPlan>,
    second: Option<&'a Arc<dyn ExecutionPlan>>,
) -> Vec<&'a Arc<dyn ExecutionPlan>> {
    std::iter::once(input).chain(second).collect()
}

/// A table function plan's input and its optional second child.
pub type PlanChildren = (Arc<dyn ExecutionPlan>, Option<Arc<dyn ExecutionPlan>>);

/// The children given back to a table function's plan (`replace_children`), as its input and
/// its second one, checked against the `expected` number the plan has.
pub fn new_plan_children(
    plan: &str,
    mut children: Vec<Arc<dyn ExecutionPlan>>,
    expected: usize,
) -> Result<PlanChildren> {
    if children.len() != expected || !(1..=2).contains(&expected) {
        return datafusion::common::plan_err!(
            "{plan} expects {expected} children, got {}",
            children.len()
        );
    }
    let second = if expected == 2 { children.pop() } else { None };
    Ok((children.remove(0), second))
}
