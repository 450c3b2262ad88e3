//! Kept tables whose rows are keyed by person (`state = { ..., person_column = "person_id" }`):
//! the events and orders of the nightly job, each keyed once, in the run that first read
//! its partition, instead of every row again every night.
//!
//! A part's person numbers are those of the id graph of the run that wrote it. Later graphs
//! change them in two ways:
//!
//! - **merges**: a person absorbed into another keeps no number of their own. The kept table
//!   records each absorbed number and the number it went to (its *alias*), and its readers see
//!   the rows under the survivor's number. Numbers are never given out twice, so an alias
//!   never hides a live person.
//! - **anything else**: an identifier that left its person (split off, now a hub or a
//!   placeholder, or gone; the stitcher counts them as `moved_identifiers` in `run_stats`),
//!   or a row whose anchor had no person and now has one. Then every part is keyed again.
//!
//! The alias is valid for the chain of graphs it was built along: `_persons.json` names the
//! run whose graph the parts and alias describe. A run whose identity step started from that
//! run's graph extends the alias with its merges; any other run (the first, `--full-refresh`,
//! a run after one that never committed, a date run again) keys everything again.
//!
//! Rows without a person (their anchor is in no component of the graph: a cookie or device
//! seen alone, a placeholder, a hub) carry their anchor (`anchor_id_type`, `anchor_value`).
//! When a later graph gives such an anchor a person (a lone cookie that logged in), the
//! lineage records it, and readers see those rows under that person, followed through later
//! merges like any other. The alias and the resolved anchors grow by a few hundred a night;
//! past [`MAX_FOLLOWED`] entries the parts are keyed again, which starts both afresh.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBufferBuilder, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::catalog::TableProvider;
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::logical_expr::{JoinType, LogicalPlanBuilder};
use datafusion::prelude::{DataFrame, SessionContext, cast, coalesce, col, when};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::stitch_job::run_stat;
use crate::storage::Storage;
use userlake_udfs::strings::StrColumn;

/// In the kept table's directory, beside the parts: the lineage of their person numbers.
pub const LINEAGE_FILE: &str = "_persons.json";
/// The anchor of a row without a person, kept so a later run can key it if it gets one.
pub const ANCHOR_COLUMNS: [&str; 2] = ["anchor_id_type", "anchor_value"];
/// Aliases and resolved anchors a lineage holds before every part is keyed again.
pub const MAX_FOLLOWED: usize = 500_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Lineage {
    /// The run (`runs/<date>/<run-id>`) whose id graph the parts' numbers follow, through
    /// `alias`.
    run: String,
    /// (absorbed person number, the number it is now), sorted.
    alias: Vec<(i64, i64)>,
    /// (anchor type, anchor value, person number now) of anchors that had no person when
    /// their rows were keyed and have one since, sorted.
    #[serde(default)]
    resolved: Vec<(String, String, i64)>,
}

/// What became of the kept parts' person numbers at the start of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonKeying {
    /// The parts already follow this run's graph (a resumed run).
    Current,
    /// The parts follow this run's graph through `merges` more aliases and `resolved` more
    /// anchors that have a person now.
    Followed { merges: usize, resolved: usize },
    /// Every part was deleted and its partitions are keyed again.
    Rekeyed { reason: String },
}

/// The runs whose graphs a person-keyed step relates.
pub struct PersonRuns {
    /// This run, `runs/<date>/<run-id>`.
    pub this_run: String,
    /// The committed run the identity step started from, if any.
    pub previous_run: Option<String>,
}

/// A table the job keeps between runs, keyed by person.
pub struct KeptTable<'a> {
    /// Where its parts are kept.
    pub storage: &'a Storage,
    /// Its name, as the job file gives it.
    pub name: &'a str,
    /// The column holding each row's person number.
    pub person_column: &'a str,
}

/// The kept parts' person numbers reconciled with this run's id graph.
pub struct PersonKeys {
    /// The kept table, as the job file names it.
    pub table: String,
    pub column: String,
    pub keying: PersonKeying,
    lineage: Arc<Lineage>,
}

impl PersonKeys {
    /// Decides whether the parts (`parts`, or `None` when there are none) can follow this
    /// run's graph. `rebuild` says why the caller rebuilds them anyway (`--full-refresh`, a
    /// compaction). Changes nothing: when the keying is `Rekeyed`, the caller deletes the parts
    /// and then calls [`PersonKeys::record`].
    pub async fn reconcile(
        ctx: &SessionContext,
        kept: KeptTable<'_>,
        out: &Storage,
        runs: &PersonRuns,
        parts: Option<DataFrame>,
        rebuild: Option<String>,
    ) -> Result<PersonKeys> {
        let KeptTable {
            storage,
            name: table,
            person_column: column,
        } = kept;
        require_identity_tables(ctx)?;
        let lineage: Option<Lineage> = storage
            .get(LINEAGE_FILE)
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let (keying, lineage) = match (rebuild, lineage) {
            (Some(reason), _) => (rekeyed(&reason), None),
            (None, None) => (rekeyed("no lineage of person numbers"), None),
            (None, Some(lineage)) if lineage.run == runs.this_run => {
                (PersonKeying::Current, Some(lineage))
            }
            (None, Some(lineage)) => {
                follow_tonight(ctx, out, table, column, runs, parts, lineage).await?
            }
        };
        let mut lineage = lineage.unwrap_or_default();
        lineage.run = runs.this_run.clone();
        Ok(PersonKeys {
            table: table.to_string(),
            column: column.to_string(),
            keying,
            lineage: Arc::new(lineage),
        })
    }

    /// Writes the lineage this run's parts follow (unless it is current already): after the
    /// parts were deleted, if they were, and before this run's part is written, so a run that
    /// dies after this resumes with it and any other run keys everything again.
    pub async fn record(&self, storage: &Storage) -> Result<()> {
        if self.keying == PersonKeying::Current {
            return Ok(());
        }
        let bytes = serde_json::to_vec(self.lineage.as_ref())
            .map_err(|e| Error::context(storage.describe(LINEAGE_FILE), e))?;
        storage.put(LINEAGE_FILE, bytes).await
    }

    /// The kept table as its readers see it: the parts with every person number followed
    /// through the merges, without the anchor columns. `distributed`: the session runs its
    /// queries on workers, which cannot be sent the lineage a `followed_person_id` function
    /// carries (datafusion-distributed 4.0 sends every scalar function by name only), so the
    /// lineage is joined in as two small tables instead.
    pub fn view(&self, parts: DataFrame, distributed: bool) -> Result<DataFrame> {
        let columns: Vec<String> = parts
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|name| !ANCHOR_COLUMNS.contains(&name.as_str()))
            .collect();
        if !columns.contains(&self.column) {
            return Err(Error::column(
                &self.table,
                &self.column,
                "missing (the step's person_column names it)",
            ));
        }
        let follows = !self.lineage.alias.is_empty() || !self.lineage.resolved.is_empty();
        if follows {
            require_anchor_columns(&self.table, &parts)?;
        }
        if follows && distributed {
            return self.joined_view(parts, &columns);
        }
        let followed = ScalarUDF::from(FollowedPerson::new(Arc::clone(&self.lineage)));
        let exprs: Vec<_> = columns
            .iter()
            .map(|name| {
                let column = quoted(name);
                if *name == self.column && follows {
                    followed
                        .call(vec![
                            column,
                            quoted(ANCHOR_COLUMNS[0]),
                            quoted(ANCHOR_COLUMNS[1]),
                        ])
                        .alias(name.as_str())
                } else {
                    column
                }
            })
            .collect();
        Ok(parts.select(exprs)?)
    }

    /// [`PersonKeys::view`] by joins: the same numbers as `followed_person_id` gives. A row
    /// with a person takes its alias, if it has one; a row without takes the person its
    /// anchor resolved to, if any (NULL anchors match nothing).
    fn joined_view(&self, parts: DataFrame, columns: &[String]) -> Result<DataFrame> {
        const ALIAS_FROM: &str = "__userlake_alias_from";
        const ALIAS_TO: &str = "__userlake_alias_to";
        const RESOLVED_TYPE: &str = "__userlake_resolved_type";
        const RESOLVED_VALUE: &str = "__userlake_resolved_value";
        const RESOLVED_PERSON: &str = "__userlake_resolved_person";
        let (state, plan) = parts.into_parts();
        let table = |name: &str, batch: RecordBatch| -> Result<DataFrame> {
            let provider = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
            let plan =
                LogicalPlanBuilder::scan(name, provider_as_source(Arc::new(provider)), None)?
                    .build()?;
            Ok(DataFrame::new(state.clone(), plan))
        };
        let lineage = &self.lineage;
        let alias = RecordBatch::try_from_iter(vec![
            (
                ALIAS_FROM,
                Arc::new(Int64Array::from_iter_values(
                    lineage.alias.iter().map(|a| a.0),
                )) as ArrayRef,
            ),
            (
                ALIAS_TO,
                Arc::new(Int64Array::from_iter_values(
                    lineage.alias.iter().map(|a| a.1),
                )),
            ),
        ])?;
        let resolved = RecordBatch::try_from_iter(vec![
            (
                RESOLVED_TYPE,
                Arc::new(StringArray::from_iter_values(
                    lineage.resolved.iter().map(|r| r.0.as_str()),
                )) as ArrayRef,
            ),
            (
                RESOLVED_VALUE,
                Arc::new(StringArray::from_iter_values(
                    lineage.resolved.iter().map(|r| r.1.as_str()),
                )),
            ),
            (
                RESOLVED_PERSON,
                Arc::new(Int64Array::from_iter_values(
                    lineage.resolved.iter().map(|r| r.2),
                )),
            ),
        ])?;
        // the anchors compared as plain strings, whatever view type the parts store them in
        let parts = DataFrame::new(state.clone(), plan)
            .join(
                table("__userlake_alias", alias)?,
                JoinType::Left,
                &[self.column.as_str()],
                &[ALIAS_FROM],
                None,
            )?
            .join_on(
                table("__userlake_resolved", resolved)?,
                JoinType::Left,
                [
                    quoted(&self.column).is_null(),
                    cast(quoted(ANCHOR_COLUMNS[0]), DataType::Utf8).eq(col(RESOLVED_TYPE)),
                    cast(quoted(ANCHOR_COLUMNS[1]), DataType::Utf8).eq(col(RESOLVED_VALUE)),
                ],
            )?;
        let exprs: Vec<_> = columns
            .iter()
            .map(|name| {
                if *name == self.column {
                    when(quoted(name).is_null(), col(RESOLVED_PERSON))
                        .otherwise(coalesce(vec![col(ALIAS_TO), quoted(name)]))
                        .map(|e| e.alias(name.as_str()))
                } else {
                    Ok(quoted(name))
                }
            })
            .collect::<datafusion::common::Result<_>>()?;
        Ok(parts.select(exprs)?)
    }
}

/// For parts that followed the graph of another run: whether they can follow this run's, and
/// the lineage that takes them there.
async fn follow_tonight(
    ctx: &SessionContext,
    out: &Storage,
    table: &str,
    column: &str,
    runs: &PersonRuns,
    parts: Option<DataFrame>,
    lineage: Lineage,
) -> Result<(PersonKeying, Option<Lineage>)> {
    let Some(previous) = runs.previous_run.as_deref().filter(|p| *p == lineage.run) else {
        return Ok((
            rekeyed(&format!(
                "the parts follow the graph of run {}, not that of the run this one started \
                 from",
                lineage.run
            )),
            None,
        ));
    };
    let run_stats = ctx.table("run_stats").await?;
    let moved = run_stat(run_stats, "person_id", "moved_identifiers").await?;
    if moved > 0 {
        return Ok((
            rekeyed(&format!(
                "{moved} identifiers left their person (stitch run_stats moved_identifiers)"
            )),
            None,
        ));
    }
    if lineage.alias.len() + lineage.resolved.len() > MAX_FOLLOWED {
        return Ok((
            rekeyed(&format!(
                "more than {MAX_FOLLOWED} merged people and resolved anchors to follow"
            )),
            None,
        ));
    }
    let merges = tonights_merges(ctx, out, previous).await?;
    let mut followed = follow(&lineage, &merges);
    let resolved = match parts {
        Some(parts) => newly_resolved_anchors(ctx, parts, table, column, &followed).await?,
        None => Vec::new(),
    };
    let keying = PersonKeying::Followed {
        merges: merges.len(),
        resolved: resolved.len(),
    };
    followed.resolved.extend(resolved);
    followed.resolved.sort_unstable();
    Ok((keying, Some(followed)))
}

fn quoted(name: &str) -> datafusion::prelude::Expr {
    col(format!("\"{}\"", name.replace('"', "\"\"")))
}

fn rekeyed(reason: &str) -> PersonKeying {
    PersonKeying::Rekeyed {
        reason: reason.to_string(),
    }
}

/// Rows keyed by person follow the graph of the identity step, which runs before them.
fn require_identity_tables(ctx: &SessionContext) -> Result<()> {
    for table in ["run_stats", "merge_log", "id_graph"] {
        if !ctx.table_exist(table)? {
            return Err(Error::usage(format!(
                "a step keeping rows keyed by person needs the identity step (builtin stitch) \
                 before it: there is no table {table}"
            )));
        }
    }
    Ok(())
}

/// The kept rows have the anchor columns, which rows without a person need.
fn require_anchor_columns(table: &str, parts: &DataFrame) -> Result<()> {
    match ANCHOR_COLUMNS
        .iter()
        .find(|name| parts.schema().field_with_unqualified_name(name).is_err())
    {
        Some(missing) => Err(Error::column(
            table,
            *missing,
            format!(
                "missing; rows kept by person need columns {} (the anchor of a row without a \
                 person)",
                ANCHOR_COLUMNS.join(" and ")
            ),
        )),
        None => Ok(()),
    }
}

/// The identity step wrote an id graph whose person numbers are not BIGINT (a hand-made or
/// foreign `id_graph` in the lake).
fn id_graph_person_id_type(found: &DataType) -> Error {
    Error::column(
        "id_graph",
        "person_id",
        format!("must be BIGINT, found {found}"),
    )
}

/// Runs `sql` with `table` registered as `name` for that query alone.
async fn collect_with_table(
    ctx: &SessionContext,
    name: &str,
    table: Arc<dyn TableProvider>,
    sql: &str,
) -> Result<Vec<RecordBatch>> {
    ctx.register_table(name, table)?;
    let collected = match ctx.sql(sql).await {
        Ok(frame) => frame.collect().await,
        Err(e) => Err(e),
    };
    ctx.deregister_table(name)?;
    Ok(collected?)
}

/// The anchors of kept rows without a person that this run's graph gives a person, as
/// (type, value, person), leaving out those `lineage` resolved already.
async fn newly_resolved_anchors(
    ctx: &SessionContext,
    parts: DataFrame,
    table: &str,
    column: &str,
    lineage: &Lineage,
) -> Result<Vec<(String, String, i64)>> {
    require_anchor_columns(table, &parts)?;
    let unresolved = parts
        .filter(
            quoted(column)
                .is_null()
                .and(quoted(ANCHOR_COLUMNS[1]).is_not_null()),
        )?
        .select(vec![quoted(ANCHOR_COLUMNS[0]), quoted(ANCHOR_COLUMNS[1])])?
        .distinct()?;
    let batches = collect_with_table(
        ctx,
        "__unresolved_anchors",
        unresolved.into_view(),
        "SELECT g.id_type, g.id_value, g.person_id FROM __unresolved_anchors u \
         JOIN id_graph g ON g.id_type = u.anchor_id_type AND g.id_value = u.anchor_value",
    )
    .await?;
    let known: HashSet<(&str, &str)> = lineage
        .resolved
        .iter()
        .map(|(t, v, _)| (t.as_str(), v.as_str()))
        .collect();
    let mut resolved = Vec::new();
    for batch in &batches {
        let types = StrColumn::new(batch.column(0), "id_type")?;
        let values = StrColumn::new(batch.column(1), "id_value")?;
        let people = batch
            .column(2)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| id_graph_person_id_type(batch.column(2).data_type()))?;
        for row in 0..batch.num_rows() {
            let (Some(id_type), Some(value)) = (types.get(row), values.get(row)) else {
                continue;
            };
            if people.is_valid(row) && !known.contains(&(id_type, value)) {
                resolved.push((id_type.to_string(), value.to_string(), people.value(row)));
            }
        }
    }
    Ok(resolved)
}

/// This run's merges as (absorbed person number, survivor's number): the merge log's absorbed
/// unified ids, numbered by the previous run's graph, and their survivors by this run's.
async fn tonights_merges(
    ctx: &SessionContext,
    out: &Storage,
    previous_run: &str,
) -> Result<Vec<(i64, i64)>> {
    let absorbed = ctx
        .sql("SELECT unified_id, other_ids FROM merge_log WHERE event = 'absorbed'")
        .await?
        .collect()
        .await?;
    if absorbed.iter().all(|b| b.num_rows() == 0) {
        return Ok(Vec::new());
    }
    let previous_graph = ctx
        .read_parquet(
            out.url(&format!("{previous_run}/id_graph/")),
            Default::default(),
        )
        .await?;
    let batches = collect_with_table(
        ctx,
        "__previous_graph",
        previous_graph.into_view(),
        "SELECT DISTINCT p.person_id AS absorbed, c.person_id AS survivor \
         FROM merge_log m \
         JOIN __previous_graph p ON p.unified_id = m.unified_id \
         JOIN id_graph c ON c.unified_id = m.other_ids \
         WHERE m.event = 'absorbed'",
    )
    .await?;
    let mut pairs = Vec::new();
    for batch in &batches {
        let absorbed = batch.column(0).as_primitive_opt::<Int64Type>();
        let survivor = batch.column(1).as_primitive_opt::<Int64Type>();
        let (Some(absorbed), Some(survivor)) = (absorbed, survivor) else {
            let wrong = if absorbed.is_none() { 0 } else { 1 };
            return Err(id_graph_person_id_type(batch.column(wrong).data_type()));
        };
        for row in 0..batch.num_rows() {
            if absorbed.is_valid(row) && survivor.is_valid(row) {
                pairs.push((absorbed.value(row), survivor.value(row)));
            }
        }
    }
    Ok(pairs)
}

/// The lineage after `merges`: numbers that went to an absorbed person (an alias's target, a
/// resolved anchor's person) go on to its survivor.
fn follow(lineage: &Lineage, merges: &[(i64, i64)]) -> Lineage {
    let onward: HashMap<i64, i64> = merges.iter().copied().collect();
    let next = |person: i64| onward.get(&person).copied().unwrap_or(person);
    let mut alias: Vec<(i64, i64)> = lineage
        .alias
        .iter()
        .map(|&(from, to)| (from, next(to)))
        .chain(merges.iter().copied())
        .collect();
    alias.sort_unstable();
    alias.dedup();
    let resolved = lineage
        .resolved
        .iter()
        .map(|(id_type, value, person)| (id_type.clone(), value.clone(), next(*person)))
        .collect();
    Lineage {
        run: lineage.run.clone(),
        alias,
        resolved,
    }
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The name of the function that follows kept rows' person numbers through merges.
const FOLLOWED_PERSON_FUNCTION: &str = "followed_person_id";

/// `followed_person_id(person_id, anchor_id_type, anchor_value)`: a kept row's person number
/// tonight, through the lineage's alias (rows keyed with a person) or its resolved anchors
/// (rows keyed without one). Built by the job for one view, never registered as a function,
/// and never sent to workers (see [`PersonKeys::view`]).
#[derive(Debug)]
struct FollowedPerson {
    signature: Signature,
    lineage: Arc<Lineage>,
    /// Bit `n` set when person number `n` has an alias: most rows are not looked up.
    aliased: Vec<u64>,
    alias: FastMap<i64, i64>,
    /// anchor type → anchor value → person
    resolved: FastMap<String, FastMap<String, i64>>,
}

impl FollowedPerson {
    fn new(lineage: Arc<Lineage>) -> Self {
        let mut resolved: FastMap<String, FastMap<String, i64>> = FastMap::default();
        for (id_type, value, person) in &lineage.resolved {
            resolved
                .entry(id_type.clone())
                .or_default()
                .insert(value.clone(), *person);
        }
        let mut aliased = Vec::new();
        for &(from, _) in &lineage.alias {
            // numbers are positive; a negative one is never looked up
            if let Ok(bit) = usize::try_from(from) {
                if aliased.len() <= bit / 64 {
                    aliased.resize(bit / 64 + 1, 0);
                }
                aliased[bit / 64] |= 1 << (bit % 64);
            }
        }
        FollowedPerson {
            signature: Signature::any(3, Volatility::Immutable),
            alias: lineage.alias.iter().copied().collect(),
            aliased,
            resolved,
            lineage,
        }
    }

    fn follow(&self, person: i64) -> i64 {
        let Ok(bit) = usize::try_from(person) else {
            return person;
        };
        match self.aliased.get(bit / 64) {
            Some(word) if word & (1 << (bit % 64)) != 0 => {
                self.alias.get(&person).copied().unwrap_or(person)
            }
            _ => person,
        }
    }
}

impl PartialEq for FollowedPerson {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.lineage, &other.lineage) || self.lineage == other.lineage
    }
}

impl Eq for FollowedPerson {}

impl Hash for FollowedPerson {
    // planning hashes expressions often: the run and the sizes tell lineages apart cheaply
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.lineage.run.hash(state);
        self.lineage.alias.len().hash(state);
        self.lineage.resolved.len().hash(state);
    }
}

impl ScalarUDFImpl for FollowedPerson {
    fn name(&self) -> &str {
        FOLLOWED_PERSON_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let people = arrays[0].as_primitive_opt::<Int64Type>().ok_or_else(|| {
            datafusion::common::DataFusionError::Execution(format!(
                "followed_person_id: the person column must be BIGINT, not {}",
                arrays[0].data_type()
            ))
        })?;
        let types = StrColumn::new(&arrays[1], ANCHOR_COLUMNS[0])?;
        let values = StrColumn::new(&arrays[2], ANCHOR_COLUMNS[1])?;
        let mut numbers: Vec<i64> = people.values().to_vec();
        if !self.alias.is_empty() {
            for number in numbers.iter_mut() {
                *number = self.follow(*number);
            }
        }
        let mut valid = BooleanBufferBuilder::new(rows);
        match people.nulls() {
            None => valid.append_n(rows, true),
            Some(nulls) => {
                valid.append_buffer(nulls.inner());
                for row in (0..rows).filter(|&row| nulls.is_null(row)) {
                    let person = types
                        .get(row)
                        .zip(values.get(row))
                        .and_then(|(t, v)| self.resolved.get(t)?.get(v).copied());
                    if let Some(person) = person {
                        numbers[row] = person;
                        valid.set_bit(row, true);
                    }
                }
            }
        }
        let followed = Int64Array::new(numbers.into(), Some(NullBuffer::new(valid.finish())));
        Ok(ColumnarValue::Array(Arc::new(followed) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use datafusion::arrow::datatypes::Field;

    /// 3 and 200 were absorbed into 7 and 9; cookie c1 was resolved to 7.
    fn lineage() -> Arc<Lineage> {
        Arc::new(Lineage {
            run: "runs/a".to_string(),
            alias: vec![(3, 7), (200, 9)],
            resolved: vec![("cookie_id".into(), "c1".into(), 7)],
        })
    }

    /// Kept rows as (person, anchor type, anchor value), and the person each must follow to:
    /// aliased, not aliased, resolved by anchor, an unknown anchor, a half anchor.
    fn kept_rows() -> ([ArrayRef; 3], Vec<Option<i64>>) {
        let people = Int64Array::from(vec![Some(3), Some(4), None, None, Some(200), None, Some(3)]);
        let types = StringArray::from(vec![
            None,
            None,
            Some("cookie_id"),
            Some("cookie_id"),
            None,
            None,
            Some("cookie_id"),
        ]);
        let values = StringArray::from(vec![
            None,
            None,
            Some("c1"),
            Some("c2"),
            None,
            Some("c1"),
            Some("c1"),
        ]);
        let followed = vec![Some(7), Some(4), Some(7), None, Some(9), None, Some(7)];
        (
            [Arc::new(people), Arc::new(types), Arc::new(values)],
            followed,
        )
    }

    #[test]
    fn rows_follow_the_alias_and_the_resolved_anchors() {
        let followed = FollowedPerson::new(lineage());
        let ([people, types, values], expected) = kept_rows();
        let args = ScalarFunctionArgs {
            number_rows: people.len(),
            args: vec![
                ColumnarValue::Array(people),
                ColumnarValue::Array(types),
                ColumnarValue::Array(values),
            ],
            arg_fields: vec![
                Arc::new(Field::new("p", DataType::Int64, true)),
                Arc::new(Field::new("t", DataType::Utf8, true)),
                Arc::new(Field::new("v", DataType::Utf8, true)),
            ],
            return_field: Arc::new(Field::new("f", DataType::Int64, true)),
            config_options: Arc::new(Default::default()),
        };
        let ColumnarValue::Array(result) = followed.invoke_with_args(args).unwrap() else {
            panic!("an array");
        };
        let result = result.as_primitive::<Int64Type>();
        assert_eq!(result.iter().collect::<Vec<_>>(), expected);
    }

    /// The joined view (for workers) gives every row the number the function gives.
    #[tokio::test]
    async fn the_joined_view_follows_as_the_function_does() {
        let ctx = SessionContext::new();
        let ([people, types, values], expected) = kept_rows();
        let rows = people.len() as i64;
        let parts = RecordBatch::try_from_iter(vec![
            ("person_id", people),
            (ANCHOR_COLUMNS[0], types),
            (ANCHOR_COLUMNS[1], values),
            ("row", Arc::new(Int64Array::from_iter_values(0..rows))),
        ])
        .unwrap();
        ctx.register_batch("parts", parts).unwrap();
        let keys = PersonKeys {
            table: "kept".into(),
            column: "person_id".into(),
            keying: PersonKeying::Current,
            lineage: lineage(),
        };
        for distributed in [false, true] {
            let view = keys
                .view(ctx.table("parts").await.unwrap(), distributed)
                .unwrap()
                .sort(vec![col("row").sort(true, false)])
                .unwrap()
                .select_columns(&["person_id"])
                .unwrap();
            let people: Vec<Option<i64>> = view
                .collect()
                .await
                .unwrap()
                .iter()
                .flat_map(|batch| {
                    batch
                        .column(0)
                        .as_primitive::<Int64Type>()
                        .iter()
                        .collect::<Vec<_>>()
                })
                .collect();
            assert_eq!(people, expected, "distributed: {distributed}");
        }
    }

    #[test]
    fn merges_are_followed_by_the_alias_and_the_resolved_anchors() {
        // 3 went to 5 earlier, and cookie c1 was resolved to 5; tonight 5 and 4 go to 7
        let lineage = Lineage {
            run: "runs/a".to_string(),
            alias: vec![(3, 5)],
            resolved: vec![
                ("cookie_id".into(), "c1".into(), 5),
                ("cookie_id".into(), "c2".into(), 6),
            ],
        };
        let next = follow(&lineage, &[(5, 7), (4, 7)]);
        assert_eq!(next.alias, vec![(3, 7), (4, 7), (5, 7)]);
        assert_eq!(
            next.resolved,
            vec![
                ("cookie_id".into(), "c1".into(), 7),
                ("cookie_id".into(), "c2".into(), 6)
            ]
        );
        assert_eq!(follow(&lineage, &[]).alias, vec![(3, 5)]);
    }
}
