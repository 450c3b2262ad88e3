//! Where outputs go: a directory on local disk or a prefix on object storage, behind one API, so
//! every command that writes (jobs, `sql -o`, `gen`, `stitch`) writes the same layout to either.
//!
//! Both are reached through the session's object store registry (local disk as
//! `LocalFileSystem`, `s3://` as the store built from the `AWS_*` environment), so a path that
//! works for DataFusion's own writers (`COPY ... TO`, `write_parquet`) works here too.
//! `LocalFileSystem` writes each object through a temporary file and renames it; S3 makes a PUT
//! visible whole. Neither ever shows a reader half an object.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;
use url::Url;

use crate::error::{Error, Result};
use crate::lake::LakeLocation;

/// Objects larger than this are uploaded in parts.
const MULTIPART_THRESHOLD: u64 = 16 << 20;
/// The size of one uploaded part (S3 wants at least 5 MiB but the last).
const PART_SIZE: usize = 8 << 20;

/// A directory or object-store prefix that outputs are written under.
#[derive(Debug, Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    root: ObjectPath,
    /// The root as a URL ending in `/`.
    url: Url,
    /// The root as the user gave it, for messages.
    display: String,
}

impl Storage {
    /// Opens `location` for writing: a local directory is created if missing.
    pub fn create(runtime: &RuntimeEnv, location: &LakeLocation) -> Result<Self> {
        if let LakeLocation::Local(path) = location {
            std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        }
        Storage::open(runtime, location)
    }

    /// Opens `location` as it is (a missing local directory lists as empty).
    pub fn open(runtime: &RuntimeEnv, location: &LakeLocation) -> Result<Self> {
        let display = location.to_string();
        let url = match location {
            LakeLocation::Local(path) => {
                let absolute = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
                Url::from_directory_path(&absolute).map_err(|_| {
                    Error::usage(format!("{display}: cannot be expressed as a file URL"))
                })?
            }
            LakeLocation::Remote(url) => {
                let mut url = url.clone();
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(Error::usage(format!(
                        "{display}: an s3:// location needs a bucket name"
                    )));
                }
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                url
            }
        };
        let store = runtime
            .object_store(ListingTableUrl::parse(url.as_str())?)
            .map_err(|e| Error::context(display.as_str(), e))?;
        let root = ObjectPath::from_url_path(url.path())
            .map_err(|e| Error::context(display.as_str(), e))?;
        Ok(Storage {
            store,
            root,
            url,
            display,
        })
    }

    /// Opens the location the user typed (a directory, `file://` or `s3://` URL) for reading.
    pub fn open_text(runtime: &RuntimeEnv, text: &str) -> Result<Self> {
        Storage::open(runtime, &LakeLocation::parse(text)?)
    }

    /// The location `relative` below this one.
    pub fn child(&self, relative: &str) -> Result<Storage> {
        let relative = relative.trim_matches('/');
        let url = self
            .url
            .join(&format!("{relative}/"))
            .map_err(|e| Error::context(self.describe(relative), e))?;
        Ok(Storage {
            store: Arc::clone(&self.store),
            root: self.path(relative),
            url,
            display: self.describe(relative),
        })
    }

    pub fn is_local(&self) -> bool {
        self.url.scheme() == "file"
    }

    /// The local directory, for a store on local disk.
    pub fn local_dir(&self) -> Option<PathBuf> {
        if self.is_local() {
            self.url.to_file_path().ok()
        } else {
            None
        }
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// `relative` (a `/`-separated path below the root) as an object path.
    pub fn path(&self, relative: &str) -> ObjectPath {
        relative
            .split('/')
            .filter(|part| !part.is_empty())
            .fold(self.root.clone(), |path, part| path.join(part))
    }

    /// `relative` as a URL DataFusion's writers and readers accept; a trailing `/` is kept,
    /// since it marks a directory for them.
    pub fn url(&self, relative: &str) -> String {
        format!("{}{}", self.url, relative.trim_start_matches('/'))
    }

    /// A path below the root as the user would write it, for messages.
    pub fn describe(&self, relative: &str) -> String {
        format!(
            "{}/{}",
            self.display.trim_end_matches('/'),
            relative.trim_start_matches('/')
        )
    }

    fn error(&self, relative: &str, source: object_store::Error) -> Error {
        Error::Storage {
            location: self.describe(relative),
            source: Box::new(source),
        }
    }

    /// The part of `path` below the root.
    pub fn relative(&self, path: &ObjectPath) -> String {
        path.prefix_match(&self.root)
            .map(|parts| {
                parts
                    .map(|p| p.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|| path.to_string())
    }

    pub async fn put(&self, relative: &str, bytes: impl Into<Bytes>) -> Result<()> {
        self.store
            .put(&self.path(relative), PutPayload::from(bytes.into()))
            .await
            .map_err(|e| self.error(relative, e))?;
        Ok(())
    }

    /// Copies one object to another place below this location (on S3 a server-side copy).
    pub async fn copy(&self, from: &str, to: &str) -> Result<()> {
        self.store
            .copy(&self.path(from), &self.path(to))
            .await
            .map_err(|e| self.error(from, e))
    }

    /// The object's bytes, or `None` when there is none.
    pub async fn get(&self, relative: &str) -> Result<Option<Bytes>> {
        match self.store.get(&self.path(relative)).await {
            Ok(result) => Ok(Some(
                result.bytes().await.map_err(|e| self.error(relative, e))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(relative, e)),
        }
    }

    /// Whether an object exists at `relative`.
    pub async fn exists(&self, relative: &str) -> Result<bool> {
        Ok(self.meta(relative).await?.is_some())
    }

    /// The object at `relative` (size, time, etag), or `None` when there is none.
    pub async fn meta(&self, relative: &str) -> Result<Option<ObjectMeta>> {
        match self.store.head(&self.path(relative)).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(relative, e)),
        }
    }

    /// Every object below `relative`, at any depth, sorted by path.
    pub async fn list(&self, relative: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = self.path(relative);
        let mut objects: Vec<ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.error(relative, e))?;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(objects)
    }

    /// The names of the directories (common prefixes) right below `relative`, sorted.
    pub async fn list_directories(&self, relative: &str) -> Result<Vec<String>> {
        let prefix = self.path(relative);
        match self.store.list_with_delimiter(Some(&prefix)).await {
            Ok(listing) => {
                let mut names: Vec<String> = listing
                    .common_prefixes
                    .iter()
                    .filter_map(|p| p.filename().map(str::to_string))
                    .collect();
                names.sort();
                Ok(names)
            }
            // a local directory that does not exist lists as nothing, like an S3 prefix
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.error(relative, e)),
        }
    }

    /// Deletes the one object at `relative` (nothing when there is none).
    pub async fn delete(&self, relative: &str) -> Result<()> {
        match self.store.delete(&self.path(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(relative, e)),
        }
    }

    /// Deletes every object below `relative` (a directory, not a single object: see `delete`).
    pub async fn delete_all(&self, relative: &str) -> Result<()> {
        let objects = self.list(relative).await?;
        let locations = futures::stream::iter(objects.into_iter().map(|o| Ok(o.location))).boxed();
        self.store
            .delete_stream(locations)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| self.error(relative, e))?;
        if let Some(dir) = self.local_dir() {
            // LocalFileSystem deletes files, not the directories that held them
            let path = dir.join(relative);
            if path.is_dir() {
                std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(())
    }

    /// Uploads a local file to `relative`, in parts when it is large; returns its size.
    pub async fn upload_file(&self, local: &Path, relative: &str) -> Result<u64> {
        let size = std::fs::metadata(local)
            .map_err(|e| Error::io(local, e))?
            .len();
        if size <= MULTIPART_THRESHOLD {
            let bytes = tokio::fs::read(local)
                .await
                .map_err(|e| Error::io(local, e))?;
            self.put(relative, bytes).await?;
            return Ok(size);
        }
        let upload = self
            .store
            .put_multipart(&self.path(relative))
            .await
            .map_err(|e| self.error(relative, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| Error::io(local, e))?;
        let mut buffer = vec![0u8; PART_SIZE];
        loop {
            let read = file
                .read(&mut buffer)
                .await
                .map_err(|e| Error::io(local, e))?;
            if read == 0 {
                break;
            }
            writer
                .wait_for_capacity(4)
                .await
                .map_err(|e| self.error(relative, e))?;
            writer.write(&buffer[..read]);
        }
        writer.finish().await.map_err(|e| self.error(relative, e))?;
        Ok(size)
    }

    /// Moves each entry of a local `staging` directory to the same name under the root,
    /// replacing what was there. On local disk an entry is renamed into place (the old one
    /// renamed aside first); on object storage its files are uploaded, then the objects of the
    /// old entry that the new one does not have are deleted. Returns the entries' names.
    pub async fn publish_from(&self, staging: &Path) -> Result<Vec<String>> {
        if let Some(dir) = self.local_dir() {
            return publish_local(staging, &dir);
        }
        let mut published = Vec::new();
        let entries = std::fs::read_dir(staging).map_err(|e| Error::io(staging, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(staging, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let uploaded = self.upload_files(staging, &entry.path()).await?;
            for old in self.list(&name).await? {
                if !uploaded.contains(&old.location) {
                    let relative = self.relative(&old.location);
                    self.store
                        .delete(&old.location)
                        .await
                        .map_err(|e| self.error(&relative, e))?;
                }
            }
            published.push(name);
        }
        published.sort();
        Ok(published)
    }

    /// Uploads every file below `staging` to the same name under the root, keeping the
    /// objects already there (those of the same names are replaced).
    pub async fn add_from(&self, staging: &Path) -> Result<()> {
        self.upload_files(staging, staging).await.map(|_| ())
    }

    /// Uploads the files below `path` (a part of `staging`) to their names relative to
    /// `staging`; returns the objects written.
    async fn upload_files(
        &self,
        staging: &Path,
        path: &Path,
    ) -> Result<std::collections::HashSet<ObjectPath>> {
        let mut uploaded = std::collections::HashSet::new();
        for file in local_files(path)? {
            let below = file
                .strip_prefix(staging)
                .unwrap_or(&file)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect::<Vec<_>>()
                .join("/");
            self.upload_file(&file, &below).await?;
            uploaded.insert(self.path(&below));
        }
        Ok(uploaded)
    }
}

/// The files below `path` (itself, if it is a file), sorted.
fn local_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
        let entry = entry.map_err(|e| Error::io(path, e))?;
        files.extend(local_files(&entry.path())?);
    }
    files.sort();
    Ok(files)
}

/// Moves every entry of `staging` into `out_dir`, replacing older outputs of the same name.
fn publish_local(staging: &Path, out_dir: &Path) -> Result<Vec<String>> {
    let mut published = Vec::new();
    let entries = std::fs::read_dir(staging).map_err(|e| Error::io(staging, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(staging, e))?;
        let target = out_dir.join(entry.file_name());
        if target.exists() {
            // Renamed aside first, so the target is never missing for long nor half-replaced.
            let aside = out_dir.join(format!(
                ".replaced-{}-{}",
                std::process::id(),
                entry.file_name().to_string_lossy()
            ));
            std::fs::rename(&target, &aside).map_err(|e| Error::io(&target, e))?;
            std::fs::rename(entry.path(), &target).map_err(|e| Error::io(&target, e))?;
            remove_path(&aside)?;
        } else {
            std::fs::rename(entry.path(), &target).map_err(|e| Error::io(&target, e))?;
        }
        published.push(entry.file_name().to_string_lossy().to_string());
    }
    published.sort();
    Ok(published)
}

fn remove_path(path: &Path) -> Result<()> {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    result.map_err(|e| Error::io(path, e))
}

/// A local directory for staging outputs before they are published to `storage`: inside the
/// output directory on local disk (created if missing, so publishing is a rename), in the OS
/// temporary directory for object storage.
pub fn staging_dir(storage: &Storage) -> Result<tempfile::TempDir> {
    let builder = {
        let mut builder = tempfile::Builder::new();
        builder.prefix(".staging-");
        builder
    };
    match storage.local_dir() {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            builder.tempdir_in(&dir).map_err(|e| Error::io(&dir, e))
        }
        None => builder
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e)),
    }
}
