//! `referral_tree` as a SQL table function: resolves its tables when the query is planned,
//! builds the tree when the plan runs.

use std::fmt;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::execution::context::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Documentation, Expr, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, collect,
};
use serde::Deserialize;

use super::tree::{Invitation, Node, build};
use crate::doc_sections::GROWTH_SECTION;
use crate::identity::normalize;
use crate::literals::table_function_string;
use crate::stitch::ingest::{identifier_key, identifier_key_in};
use crate::strings::StrColumn;
use crate::table_input::{TableInput, new_plan_children, plan_children};
use crate::time::{for_each_tick, ticks_per_second};

const NAME: &str = "referral_tree";
const REFERRAL_COLUMNS: [&str; 5] = [
    "inviter_type",
    "inviter_value",
    "invitee_type",
    "invitee_value",
    "accepted_at",
];
const MAPPING_COLUMNS: [&str; 3] = ["id_type", "id_value", "unified_id"];

pub static REFERRAL_TREE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("person_type", false),
        text("person_value", false),
        text("inviter_type", false),
        text("inviter_value", false),
        text("root_type", false),
        text("root_value", false),
        Field::new("generation", DataType::Int32, false),
        Field::new(
            "accepted_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        text("campaign", true),
        Field::new("invitations", DataType::Int64, false),
        Field::new("cycle_broken", DataType::Boolean, false),
    ]))
});

pub static REFERRAL_TREE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        GROWTH_SECTION,
        "The fission tree of accepted invitations: one row per invited person with person_type, \
         person_value, inviter_type, inviter_value, root_type, root_value (the seed user at the \
         top), generation (1 = invited by a seed), accepted_at and campaign of the credited \
         invitation, invitations (how many accepted invitations the person had) and \
         cycle_broken. A person invited by several inviters is credited to the first accepted \
         invitation (earliest accepted_at, then smallest inviter). Invitations never accepted \
         are ignored. Once identifiers are stitched, invitations can form cycles: in each, the \
         invitation accepted last (its invitee already belonged to the tree) is ignored and \
         reported as a row with cycle_broken = true, generation 0 and the person as their own \
         root; so are self-invitations. With options `mapping = 'id_graph'` (a table with \
         id_type, id_value, unified_id, as stitch returns), inviters and invitees are people: \
         identifiers are normalised and replaced by ('unified_id', their unified id); \
         identifiers the mapping does not know stay as they are.",
        "referral_tree('referrals' [, options])",
    )
    .with_argument(
        "referrals",
        "A table or view with inviter_type, inviter_value, invitee_type, invitee_value, accepted_at (a timestamp) and, optionally, campaign.",
    )
    .with_argument("options", "TOML text: mapping = 'table' (the stitched identity graph).")
    .with_sql_example(
        "```sql\n> SELECT generation, count(*) FROM referral_tree('referrals', 'mapping = \"id_graph\"') GROUP BY 1;\n```",
    )
    .build()
});

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    mapping: Option<String>,
}

/// The `referral_tree` table function.
#[derive(Debug, Default)]
pub struct ReferralTreeFunction;

fn string_argument(expr: &Expr, position: &str) -> Result<Option<String>> {
    table_function_string(
        expr,
        NAME,
        position,
        "referral_tree('referrals' [, options])",
    )
}

impl TableFunctionImpl for ReferralTreeFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.is_empty() || exprs.len() > 2 {
            return plan_err!(
                "{NAME} takes 1 or 2 arguments, got {}; usage: referral_tree('referrals' [, options])",
                exprs.len()
            );
        }
        let Some(referrals) = string_argument(&exprs[0], "first")? else {
            return plan_err!("{NAME}: the referrals table name must not be NULL");
        };
        let options = match exprs.get(1) {
            Some(e) => match string_argument(e, "second (options)")? {
                Some(text) => toml::from_str::<Options>(&text).map_err(|e| {
                    DataFusionError::Plan(format!(
                        "{NAME}: bad options '{text}': {e}the only option is mapping = 'table'"
                    ))
                })?,
                None => Options::default(),
            },
            None => Options::default(),
        };
        Ok(Arc::new(ReferralTreeTable {
            referrals,
            mapping: options.mapping,
        }))
    }
}

#[derive(Debug)]
struct ReferralTreeTable {
    referrals: String,
    mapping: Option<String>,
}

#[async_trait]
impl TableProvider for ReferralTreeTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&REFERRAL_TREE_SCHEMA)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(state) = state.as_any().downcast_ref::<SessionState>() else {
            return plan_err!("{NAME} needs a DataFusion SessionState to find its tables");
        };
        // campaign is optional
        let referrals = TableInput {
            function: NAME,
            table: &self.referrals,
            role: "the referrals",
        }
        .scan(state, &REFERRAL_COLUMNS, &["campaign"])
        .await?;
        let mapping = match &self.mapping {
            Some(name) => Some(
                TableInput {
                    function: NAME,
                    table: name,
                    role: "the id mapping",
                }
                .scan(state, &MAPPING_COLUMNS, &[])
                .await?,
            ),
            None => None,
        };
        Ok(Arc::new(ReferralTreeExec::new(
            self.referrals.clone(),
            referrals,
            mapping,
            projection.cloned(),
        )))
    }
}

/// The physical plan of `referral_tree(...)`: one output partition, produced when every
/// referral is read (the trees need them all, so it runs as one task).
#[derive(Debug)]
pub struct ReferralTreeExec {
    name: String,
    referrals: Arc<dyn ExecutionPlan>,
    mapping: Option<Arc<dyn ExecutionPlan>>,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl ReferralTreeExec {
    /// The plan of `referral_tree` over `referrals` (named `name` in errors), with the id
    /// mapping `mapping` when given; `projection` selects output columns.
    pub fn new(
        name: String,
        referrals: Arc<dyn ExecutionPlan>,
        mapping: Option<Arc<dyn ExecutionPlan>>,
        projection: Option<Vec<usize>>,
    ) -> Self {
        let schema = match &projection {
            Some(p) => Arc::new(
                REFERRAL_TREE_SCHEMA
                    .project(p)
                    .unwrap_or_else(|_| REFERRAL_TREE_SCHEMA.as_ref().clone()),
            ),
            None => Arc::clone(&REFERRAL_TREE_SCHEMA),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            name,
            referrals,
            mapping,
            projection,
            schema,
            properties,
        }
    }
}

impl ReferralTreeExec {
    /// The referral table's name, as the call gave it.
    pub fn referrals_name(&self) -> &str {
        &self.name
    }

    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }
}

impl DisplayAs for ReferralTreeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ReferralTreeExec: referrals={}", self.name)
    }
}

/// The stitched identity graph, for mapping identifiers to unified ids: each identifier by its
/// 128-bit key (the stitcher's), each unified id stored once.
#[derive(Default)]
struct Mapping {
    people: hashbrown::HashMap<u128, u32>,
    unified_ids: Vec<String>,
}

/// Reads the mapping: (type, normalised value) -> unified id.
fn read_mapping(batches: &[RecordBatch]) -> Result<Mapping> {
    let mut mapping = Mapping::default();
    let mut numbers: hashbrown::HashMap<String, u32> = hashbrown::HashMap::new();
    let mut buffer = Vec::new();
    for batch in batches {
        let (types, values, ids) = (
            StrColumn::new(batch.column(0), "id_type")?,
            StrColumn::new(batch.column(1), "id_value")?,
            StrColumn::new(batch.column(2), "unified_id")?,
        );
        for row in 0..batch.num_rows() {
            if let (Some(t), Some(v), Some(id)) = (types.get(row), values.get(row), ids.get(row)) {
                let number = match numbers.get(id) {
                    Some(&number) => number,
                    None => {
                        let number = mapping.unified_ids.len() as u32;
                        mapping.unified_ids.push(id.to_string());
                        numbers.insert(id.to_string(), number);
                        number
                    }
                };
                mapping
                    .people
                    .insert(identifier_key_in(&mut buffer, t, v), number);
            }
        }
    }
    Ok(mapping)
}

fn person(mapping: Option<&Mapping>, id_type: &str, value: &str) -> Node {
    if let Some(mapping) = mapping
        && let Some(normalised) = normalize(id_type, value)
        && let Some(&number) = mapping.people.get(&identifier_key(id_type, &normalised))
    {
        return (
            "unified_id".to_string(),
            mapping.unified_ids[number as usize].clone(),
        );
    }
    (id_type.to_string(), value.to_string())
}

fn read_invitations(
    batches: &[RecordBatch],
    mapping: Option<&Mapping>,
    name: &str,
) -> Result<Vec<Invitation>> {
    let mut invitations = Vec::new();
    for batch in batches {
        let column = |i: usize| {
            StrColumn::new(
                batch.column(i),
                REFERRAL_COLUMNS.get(i).copied().unwrap_or("campaign"),
            )
        };
        let (inviter_type, inviter_value, invitee_type, invitee_value) =
            (column(0)?, column(1)?, column(2)?, column(3)?);
        let campaign = if batch.num_columns() > 5 {
            Some(column(5)?)
        } else {
            None
        };
        let accepted = batch.column(4);
        let per_second = match accepted.data_type() {
            DataType::Timestamp(..) => ticks_per_second(accepted.data_type()),
            other => {
                return exec_err!("{NAME}: {name}.accepted_at must be a timestamp, got {other}");
            }
        };
        let mut accepted_at = vec![None; batch.num_rows()];
        for_each_tick(accepted, NAME, |row, t| accepted_at[row] = t)?;
        for (row, at) in accepted_at.into_iter().enumerate() {
            let Some(at) = at else { continue };
            let (Some(a_type), Some(a_value), Some(b_type), Some(b_value)) = (
                inviter_type.get(row),
                inviter_value.get(row),
                invitee_type.get(row),
                invitee_value.get(row),
            ) else {
                continue;
            };
            invitations.push(Invitation {
                inviter: person(mapping, a_type, a_value),
                invitee: person(mapping, b_type, b_value),
                accepted_at: (at as i128 * 1_000_000 / per_second as i128) as i64,
                campaign: campaign
                    .as_ref()
                    .and_then(|c| c.get(row))
                    .map(str::to_string),
            });
        }
    }
    Ok(invitations)
}

fn tree_batch(rows: &[super::tree::TreeRow]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&super::tree::TreeRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|r| &r.person.0),
        text(&|r| &r.person.1),
        text(&|r| &r.inviter.0),
        text(&|r| &r.inviter.1),
        text(&|r| &r.root.0),
        text(&|r| &r.root.1),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.generation),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.accepted_at))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.campaign.as_deref()),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.invitations),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.cycle_broken)),
        )),
    ];
    Ok(RecordBatch::try_new(
        Arc::clone(&REFERRAL_TREE_SCHEMA),
        columns,
    )?)
}

impl ExecutionPlan for ReferralTreeExec {
    fn name(&self) -> &'static str {
        "ReferralTreeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        plan_children(&self.referrals, self.mapping.as_ref())
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false; self.children().len()]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (referrals, mapping) =
            new_plan_children("ReferralTreeExec", children, self.children().len())?;
        Ok(Arc::new(ReferralTreeExec::new(
            self.name.clone(),
            referrals,
            mapping,
            self.projection.clone(),
        )))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(
                datafusion::physical_plan::execution_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return plan_err!("ReferralTreeExec has one partition, asked for {partition}");
        }
        let (referrals, mapping) = (Arc::clone(&self.referrals), self.mapping.clone());
        let (name, projection) = (self.name.clone(), self.projection.clone());
        let stream = futures::stream::once(async move {
            let mapping = match mapping {
                Some(plan) => Some(read_mapping(&collect(plan, Arc::clone(&context)).await?)?),
                None => None,
            };
            let batches = collect(referrals, context).await?;
            let invitations = read_invitations(&batches, mapping.as_ref(), &name)?;
            let rows = build(invitations);
            let batch = tree_batch(&rows)?;
            match &projection {
                Some(p) => Ok(batch.project(p)?),
                None => Ok(batch),
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}
