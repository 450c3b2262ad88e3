//! The lake as the session's default schema, opened table by table on first use.
//!
//! Reading every table's footers at start-up made `userlake sql -c "SELECT 1"` cost 0.14 s on a
//! lake of 7 tables × 200 daily files, and grow with every partition. Here a table's files are
//! listed and its schema inferred when a statement first names it, once per session; a query
//! that scans the table then reads those footers from DataFusion's metadata cache, so nothing is
//! read twice. Nothing is cached across processes, so an outdated catalog cannot exist.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock, Weak};

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DataFusionResult};
use datafusion::execution::SessionState;
use datafusion::prelude::SessionContext;
use tokio::sync::OnceCell;

use super::{LakeLocation, LakeTable, OpenedTable, open_directory};
use crate::error::{Error, Result};

/// The lake's tables, and the tables the session registers beside them (views, `CREATE TABLE`,
/// a job's outputs), which replace a lake table of the same name.
pub struct LakeSchema {
    location: String,
    /// The session, whose configuration and runtime (object stores, the metadata cache its
    /// scans read from) a table is opened with, as they are when it is opened; weak, as the
    /// session's catalog holds this schema.
    session: Weak<parking_lot::RwLock<SessionState>>,
    tables: RwLock<BTreeMap<String, Entry>>,
}

#[derive(Clone)]
enum Entry {
    Registered(Arc<dyn TableProvider>),
    Lake(Arc<LazyTable>),
}

/// A directory of the lake, opened once on first use. A failure is not kept: the next
/// statement that names the table tries again (after the files are mended, say).
struct LazyTable {
    name: String,
    directory_url: String,
    opened: OnceCell<Option<OpenedTable>>,
}

impl LazyTable {
    async fn open(&self, lake: &LakeSchema) -> Result<Option<&OpenedTable>> {
        let opened = self
            .opened
            .get_or_try_init(|| async {
                open_directory(&lake.state()?, &self.name, &self.directory_url).await
            })
            .await?;
        Ok(opened.as_ref())
    }
}

impl LakeSchema {
    /// `directories`: each table's name and directory URL (ending in `/`).
    pub(crate) fn new(
        location: &LakeLocation,
        ctx: &SessionContext,
        directories: Vec<(String, String)>,
    ) -> Self {
        let tables = directories
            .into_iter()
            .map(|(name, directory_url)| {
                let table = LazyTable {
                    name: name.clone(),
                    directory_url,
                    opened: OnceCell::new(),
                };
                (name, Entry::Lake(Arc::new(table)))
            })
            .collect();
        LakeSchema {
            location: location.to_string(),
            session: ctx.state_weak_ref(),
            tables: RwLock::new(tables),
        }
    }

    /// The session's state now; an error once the session is gone.
    fn state(&self) -> Result<SessionState> {
        let session = self.session.upgrade().ok_or_else(|| Error::Lake {
            location: self.location.clone(),
            reason: "the session that opened the lake has ended".to_string(),
        })?;
        let state = session.read().clone();
        Ok(state)
    }

    fn entry(&self, name: &str) -> Option<Entry> {
        self.read().get(name).cloned()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        // a panic while holding the lock leaves the map itself whole
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.tables.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Every lake table the session still reads from the lake (not replaced by a registered
    /// table), opened, with the files it holds; by name. For a job's record of its inputs: this
    /// lists and reads every table, as a query naming them all would.
    pub async fn lake_tables(&self) -> Result<Vec<LakeTable>> {
        let lazy: Vec<Arc<LazyTable>> = self
            .read()
            .values()
            .filter_map(|entry| match entry {
                Entry::Lake(table) => Some(Arc::clone(table)),
                Entry::Registered(_) => None,
            })
            .collect();
        let mut tables = Vec::with_capacity(lazy.len());
        for table in lazy {
            if let Some(opened) = table.open(self).await? {
                tables.push(opened.table.clone());
            }
        }
        Ok(tables)
    }

    /// The names of the lake's table directories still read from the lake; without opening them.
    pub fn lake_table_names(&self) -> Vec<String> {
        self.read()
            .iter()
            .filter(|(_, entry)| matches!(entry, Entry::Lake(_)))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

impl fmt::Debug for LakeSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeSchema")
            .field("location", &self.location)
            .field("tables", &self.read().keys().collect::<Vec<_>>())
            .finish()
    }
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> DataFusionResult<Option<Arc<dyn TableProvider>>> {
        match self.entry(name) {
            None => Ok(None),
            Some(Entry::Registered(table)) => Ok(Some(table)),
            Some(Entry::Lake(table)) => match table.open(self).await {
                Ok(opened) => Ok(opened.map(|o| Arc::clone(&o.provider))),
                Err(Error::DataFusion(e)) => Err(e),
                Err(e) => Err(DataFusionError::Plan(e.to_string())),
            },
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DataFusionResult<Option<Arc<dyn TableProvider>>> {
        let mut tables = self.write();
        if tables.contains_key(&name) {
            return Err(DataFusionError::Execution(format!(
                "The table {name} already exists"
            )));
        }
        tables.insert(name, Entry::Registered(table));
        Ok(None)
    }

    fn deregister_table(&self, name: &str) -> DataFusionResult<Option<Arc<dyn TableProvider>>> {
        Ok(match self.write().remove(name) {
            Some(Entry::Registered(table)) => Some(table),
            Some(Entry::Lake(table)) => table
                .opened
                .get()
                .and_then(|opened| opened.as_ref().map(|o| Arc::clone(&o.provider))),
            None => None,
        })
    }

    /// A lake directory not yet opened counts as a table, though it may turn out to hold no
    /// Parquet files (a statement naming it then says that the table is not found).
    fn table_exist(&self, name: &str) -> bool {
        match self.entry(name) {
            None => false,
            Some(Entry::Registered(_)) => true,
            Some(Entry::Lake(table)) => table.opened.get().is_none_or(Option::is_some),
        }
    }
}
