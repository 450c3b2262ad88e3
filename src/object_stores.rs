//! Object stores on demand: `s3://bucket/...` URLs get an S3 store built from the standard
//! `AWS_*` environment variables the first time a lake, a query or a `COPY ... TO` names them,
//! so no front-end has to know which buckets a script will touch.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use url::Url;

#[derive(Debug, Default)]
pub struct LakeObjectStoreRegistry {
    inner: DefaultObjectStoreRegistry,
}

impl LakeObjectStoreRegistry {
    pub fn new() -> Self {
        Self::default()
    }
}

fn bucket_url(url: &Url) -> Result<Url> {
    let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| {
        DataFusionError::Configuration(format!("{url}: an s3:// URL needs a bucket name"))
    })?;
    Url::parse(&format!("s3://{bucket}"))
        .map_err(|e| DataFusionError::Configuration(format!("{url}: {e}")))
}

pub fn build_s3_store(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    let bucket_url = bucket_url(url)?;
    let bucket = bucket_url.host_str().unwrap_or_default();
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    // object_store reads AWS_ENDPOINT; the AWS CLI and SDKs use AWS_ENDPOINT_URL.
    if std::env::var_os("AWS_ENDPOINT").is_none()
        && let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL")
    {
        builder = builder.with_endpoint(endpoint);
    }
    let store = builder.build().map_err(|e| {
        DataFusionError::Configuration(format!(
            "cannot open {bucket_url}: {e} (set AWS_REGION, AWS_ACCESS_KEY_ID, \
             AWS_SECRET_ACCESS_KEY, and AWS_ENDPOINT with AWS_ALLOW_HTTP=true for a local server)"
        ))
    })?;
    Ok(Arc::new(store))
}

impl ObjectStoreRegistry for LakeObjectStoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match self.inner.get_store(url) {
            Ok(store) => Ok(store),
            Err(_) if url.scheme() == "s3" => {
                let store = build_s3_store(url)?;
                self.inner
                    .register_store(&bucket_url(url)?, Arc::clone(&store));
                Ok(store)
            }
            Err(e) => Err(e),
        }
    }
}
