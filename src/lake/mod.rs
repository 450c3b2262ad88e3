//! The lake catalog: a directory (or `s3://bucket/prefix`) whose sub-directories are tables of
//! Parquet files, optionally Hive-partitioned (`dt=2026-01-01/part-0.parquet`). Opening a lake
//! lists its root: each sub-directory is a table under its directory name, whose files are
//! listed and whose schema and partition columns are read when a statement first names it.
//!
//! Files are found by their `.parquet` ending; markers and notes (`_SUCCESS`, a README) and
//! anything under a hidden or `_`-prefixed sub-directory (`_temporary`, `.staging`) are ignored.
//! A file that is not valid Parquet does not stop the rest of the lake from opening: its table
//! has the schema of its readable files, and a query that scans it fails with the file's path.
//! A table whose files sit under different partition directories fails the statements that name
//! it, with the paths.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore};
use url::Url;

use crate::error::{Error, Result};
use crate::storage::Storage;

mod schema;
pub use schema::LakeSchema;

/// Where a lake lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    Local(PathBuf),
    Remote(Url),
}

impl LakeLocation {
    /// `s3://bucket/prefix` is remote; anything else is a local directory, which must exist.
    pub fn parse(text: &str) -> Result<Self> {
        if text.contains("://") {
            let url = Url::parse(text).map_err(|e| Error::Lake {
                location: text.to_string(),
                reason: format!("not a valid URL: {e}"),
            })?;
            match url.scheme() {
                "s3" => Ok(LakeLocation::Remote(url)),
                "file" => Ok(LakeLocation::Local(PathBuf::from(url.path()))),
                other => Err(Error::Lake {
                    location: text.to_string(),
                    reason: format!("unsupported scheme '{other}://' (use a directory or s3://)"),
                }),
            }
        } else {
            Ok(LakeLocation::Local(PathBuf::from(text)))
        }
    }

    /// The lake root as a URL ending in `/`, as listing tables want it.
    fn root_url(&self) -> Result<Url> {
        match self {
            LakeLocation::Local(path) => {
                let meta = std::fs::metadata(path).map_err(|e| Error::Lake {
                    location: path.display().to_string(),
                    reason: match e.kind() {
                        std::io::ErrorKind::NotFound => "no such directory".to_string(),
                        _ => e.to_string(),
                    },
                })?;
                if !meta.is_dir() {
                    return Err(Error::Lake {
                        location: path.display().to_string(),
                        reason: "not a directory".to_string(),
                    });
                }
                let absolute = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
                Url::from_directory_path(&absolute).map_err(|_| Error::Lake {
                    location: path.display().to_string(),
                    reason: "cannot be expressed as a file URL".to_string(),
                })
            }
            LakeLocation::Remote(url) => {
                let mut url = url.clone();
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                Ok(url)
            }
        }
    }
}

impl fmt::Display for LakeLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LakeLocation::Local(path) => write!(f, "{}", path.display()),
            LakeLocation::Remote(url) => write!(f, "{url}"),
        }
    }
}

/// A table of the lake as it was found when first used, for `\\d`, logs and a job's record of
/// its inputs.
#[derive(Debug, Clone)]
pub struct LakeTable {
    pub name: String,
    /// The table's Parquet files as listed when the table was first used.
    pub files: Vec<ObjectMeta>,
    pub partition_columns: Vec<String>,
    /// Files that could not be read as Parquet, with the reason.
    pub unreadable_files: Vec<(String, String)>,
}

/// The directory of a job's runs in an output lake (see `crate::runs`); it is not a table.
pub const RUNS_DIRECTORY: &str = "runs";

/// Opens the lake as the session's default schema. Only the lake's root is listed here: each
/// table's files are listed, and its schema read from their footers, when a statement first
/// names it (see [`LakeSchema`]), so opening costs the same at 20 partitions or 20,000. A lake
/// that a job writes (`OUT/runs/<date>/<run-id>/`) also gets the tables of its latest committed
/// run.
pub async fn register_lake(
    ctx: &SessionContext,
    location: &LakeLocation,
) -> Result<Arc<LakeSchema>> {
    let root = location.root_url()?;
    let lake_error = |reason: String| Error::Lake {
        location: location.to_string(),
        reason,
    };
    let store = ctx
        .runtime_env()
        .object_store(ListingTableUrl::parse(root.as_str())?)
        .map_err(|e| lake_error(e.to_string()))?;
    let root_prefix =
        ObjectPath::from_url_path(root.path()).map_err(|e| lake_error(e.to_string()))?;

    let listing = store
        .list_with_delimiter(Some(&root_prefix))
        .await
        .map_err(|e| lake_error(format!("cannot list: {e}")))?;
    let mut table_names: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .filter(|name| !name.starts_with('.'))
        .collect();
    table_names.sort();

    let mut directories: Vec<(String, String)> = Vec::new();
    if table_names.iter().any(|name| name == RUNS_DIRECTORY) {
        let storage = Storage::open(&ctx.runtime_env(), location)?;
        if let Some(run) = crate::runs::latest_committed_run(&storage, None).await? {
            directories.extend(run_table_directories(&storage, &run));
        }
        // the job's kept tables serve its steps, not readers
        table_names.retain(|name| name != RUNS_DIRECTORY && name != crate::state::STATE_DIRECTORY);
    }
    for name in table_names {
        if directories.iter().any(|(table, _)| *table == name) {
            continue;
        }
        directories.push((name.clone(), format!("{root}{name}/")));
    }
    log::debug!(
        "lake {location}: {} tables ({}), each opened when first named",
        directories.len(),
        directories
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let schema = Arc::new(LakeSchema::new(location, ctx, directories));
    install_default_schema(ctx, Arc::clone(&schema))?;
    Ok(schema)
}

/// Makes `schema` the session's default schema, keeping the tables already registered there.
fn install_default_schema(ctx: &SessionContext, schema: Arc<LakeSchema>) -> Result<()> {
    let options = ctx.state().config_options().catalog.clone();
    let catalog = ctx
        .catalog(&options.default_catalog)
        .ok_or_else(|| Error::usage("the session has no default catalog"))?;
    if let Some(previous) = catalog.schema(&options.default_schema) {
        for name in previous.table_names() {
            if let Some(table) = previous.deregister_table(&name)? {
                schema.register_table(name, table)?;
            }
        }
    }
    catalog.register_schema(&options.default_schema, schema)?;
    Ok(())
}

/// Registers the tables a committed run published, under their names.
pub async fn register_run_tables(
    ctx: &SessionContext,
    storage: &Storage,
    run: &crate::runs::CommittedRun,
) -> Result<Vec<LakeTable>> {
    let mut tables = Vec::new();
    for (name, directory_url) in run_table_directories(storage, run) {
        if let Some(table) = register_directory(ctx, &name, &directory_url).await? {
            tables.push(table);
        }
    }
    Ok(tables)
}

/// Each table a committed run published, with the URL of its directory.
fn run_table_directories(
    storage: &Storage,
    run: &crate::runs::CommittedRun,
) -> Vec<(String, String)> {
    run.manifest
        .outputs
        .iter()
        .map(|output| {
            let directory = format!("{}/{}/", run.path, output.table);
            (output.table.clone(), storage.url(&directory))
        })
        .collect()
}

/// Registers the Parquet files below `directory_url` (a URL ending in `/`) as table `name`,
/// replacing a table of that name; `None` when there are no files.
pub async fn register_directory(
    ctx: &SessionContext,
    name: &str,
    directory_url: &str,
) -> Result<Option<LakeTable>> {
    let Some(opened) = open_directory(&ctx.state(), name, directory_url).await? else {
        return Ok(None);
    };
    ctx.deregister_table(name)?;
    ctx.register_table(name, opened.provider)?;
    Ok(Some(opened.table))
}

/// A table read from a directory of Parquet files.
#[derive(Clone)]
pub(crate) struct OpenedTable {
    pub(crate) provider: Arc<dyn TableProvider>,
    pub(crate) table: LakeTable,
}

/// Lists the Parquet files below `directory_url` (a URL ending in `/`) and reads their schema;
/// `None` when there are no files.
pub(crate) async fn open_directory(
    state: &SessionState,
    name: &str,
    directory_url: &str,
) -> Result<Option<OpenedTable>> {
    let table_url = ListingTableUrl::parse(directory_url)?;
    let lake_error = |reason: String| Error::Lake {
        location: directory_url.to_string(),
        reason,
    };
    let store = state
        .runtime_env()
        .object_store(&table_url)
        .map_err(|e| lake_error(e.to_string()))?;
    let table_prefix = table_url.prefix().clone();
    let files = list_parquet_files(store.as_ref(), &table_prefix)
        .await
        .map_err(|e| lake_error(format!("table {name}: cannot list files: {e}")))?;
    if files.is_empty() {
        return Ok(None);
    }
    let partitions = partition_columns(name, &table_prefix, &files)?;
    let (provider, unreadable) =
        table_provider(state, &store, name, table_url, &files, &partitions).await?;
    log::debug!(
        "table {name}: {} files in {directory_url}, partitioned by [{}]",
        files.len(),
        partitions
            .iter()
            .map(|(column, _)| column.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Some(OpenedTable {
        provider,
        table: LakeTable {
            name: name.to_string(),
            files,
            partition_columns: partitions.iter().map(|(n, _)| n.clone()).collect(),
            unreadable_files: unreadable,
        },
    }))
}

async fn list_parquet_files(
    store: &dyn ObjectStore,
    table_prefix: &ObjectPath,
) -> object_store::Result<Vec<ObjectMeta>> {
    let mut files: Vec<ObjectMeta> = store
        .list(Some(table_prefix))
        .try_filter(|meta| {
            let relative: Vec<_> = meta
                .location
                .prefix_match(table_prefix)
                .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
                .unwrap_or_default();
            let hidden = relative
                .iter()
                .any(|part| part.starts_with('.') || part.starts_with('_'));
            let is_parquet = meta.location.as_ref().ends_with(".parquet");
            futures::future::ready(is_parquet && !hidden && meta.size > 0)
        })
        .try_collect()
        .await?;
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}

/// The `key=value` directories between the table root and each file. Every file must sit under
/// the same keys in the same order; a value type is `DATE` when every value is an ISO date.
fn partition_columns(
    table: &str,
    table_prefix: &ObjectPath,
    files: &[ObjectMeta],
) -> Result<Vec<(String, DataType)>> {
    let mut keys: Option<Vec<String>> = None;
    let mut all_dates: BTreeMap<String, bool> = BTreeMap::new();
    for file in files {
        let parts: Vec<String> = file
            .location
            .prefix_match(table_prefix)
            .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
            .unwrap_or_default();
        let directories = &parts[..parts.len().saturating_sub(1)];
        let mut file_keys = Vec::new();
        for directory in directories {
            if let Some((key, value)) = directory.split_once('=') {
                file_keys.push(key.to_string());
                let is_date = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok();
                let entry = all_dates.entry(key.to_string()).or_insert(true);
                *entry &= is_date;
            }
        }
        match &keys {
            None => keys = Some(file_keys),
            Some(expected) if *expected != file_keys => {
                return Err(Error::Lake {
                    location: file.location.to_string(),
                    reason: format!(
                        "table {table}: partition directories ({}) differ from the table's ({})",
                        file_keys.join("/"),
                        expected.join("/")
                    ),
                });
            }
            Some(_) => {}
        }
    }
    Ok(keys
        .unwrap_or_default()
        .into_iter()
        .map(|key| {
            let data_type = if all_dates.get(&key).copied().unwrap_or(false) {
                DataType::Date32
            } else {
                DataType::Utf8
            };
            (key, data_type)
        })
        .collect())
}

/// How many bytes from a file's end are read at once for its footer (metadata). DataFusion's
/// default, 512 KiB, is more than a whole file of a daily partition: opening a lake of 7 tables ×
/// 200 partitions read every file whole to learn the schema. Our files' footers are a few KiB
/// (3.5 KiB for a day of the 10M lake's events); a longer one costs one more read.
const FOOTER_READ_BYTES: usize = 64 * 1024;

/// The Parquet format every table of ours is read with: the lake's, a run's outputs and the
/// job's kept state.
pub fn parquet_format() -> ParquetFormat {
    ParquetFormat::default().with_metadata_size_hint(Some(FOOTER_READ_BYTES))
}

async fn table_provider(
    state: &SessionState,
    store: &Arc<dyn ObjectStore>,
    name: &str,
    table_url: ListingTableUrl,
    files: &[ObjectMeta],
    partitions: &[(String, DataType)],
) -> Result<(Arc<dyn TableProvider>, Vec<(String, String)>)> {
    let format = Arc::new(parquet_format());
    let options = ListingOptions::new(format.clone())
        .with_file_extension(".parquet")
        .with_table_partition_cols(partitions.to_vec());

    let (schema, unreadable) = match format.infer_schema(state, store, files).await {
        Ok(schema) => (schema, Vec::new()),
        Err(_) => readable_schema(state, format.as_ref(), store, files).await?,
    };
    if !unreadable.is_empty() {
        let mut full_schema: Vec<_> = schema.fields().iter().cloned().collect();
        for (column, data_type) in partitions {
            full_schema.push(Arc::new(arrow::datatypes::Field::new(
                column,
                data_type.clone(),
                false,
            )));
        }
        let message = unreadable
            .iter()
            .map(|(path, reason)| format!("{path}: {reason}"))
            .collect::<Vec<_>>()
            .join("; ");
        let provider = UnreadableTable {
            schema: Arc::new(Schema::new(full_schema)),
            message: format!("table {name} has files that are not valid Parquet: {message}"),
        };
        return Ok((Arc::new(provider), unreadable));
    }
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok((Arc::new(ListingTable::try_new(config)?), unreadable))
}

/// Reads footers one file at a time to find the bad ones; the schema is merged from the rest.
async fn readable_schema(
    state: &dyn Session,
    format: &ParquetFormat,
    store: &Arc<dyn ObjectStore>,
    files: &[ObjectMeta],
) -> Result<(SchemaRef, Vec<(String, String)>)> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for file in files {
        match format
            .infer_schema(state, store, std::slice::from_ref(file))
            .await
        {
            Ok(_) => good.push(file.clone()),
            Err(e) => bad.push((file.location.to_string(), root_cause(&e))),
        }
    }
    let schema = if good.is_empty() {
        Arc::new(Schema::empty())
    } else {
        format.infer_schema(state, store, &good).await?
    };
    Ok((schema, bad))
}

fn root_cause(error: &DataFusionError) -> String {
    error.find_root().to_string()
}

/// A table with unreadable files: it plans (so the error names the files, not a missing
/// table) and fails when scanned.
#[derive(Debug)]
struct UnreadableTable {
    schema: SchemaRef,
    message: String,
}

#[async_trait]
impl TableProvider for UnreadableTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Execution(self.message.clone()))
    }
}
