//! Object stores on demand: `s3://bucket/...` URLs get an S3 store built from the standard
//! `AWS_*` environment variables the first time a lake, a query or a `COPY ... TO` names them,
//! so no front-end has to know which buckets a script will touch. Retries and timeouts are
//! object_store's, settable with `USERLAKE_S3_MAX_RETRIES`, `USERLAKE_S3_RETRY_TIMEOUT`,
//! `USERLAKE_S3_TIMEOUT` and `USERLAKE_S3_CONNECT_TIMEOUT` (seconds).

use std::sync::Arc;
use std::time::Duration;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};
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
    builder = builder.with_retry(retry_config()?);
    for (variable, key) in [
        ("USERLAKE_S3_TIMEOUT", ClientConfigKey::Timeout),
        (
            "USERLAKE_S3_CONNECT_TIMEOUT",
            ClientConfigKey::ConnectTimeout,
        ),
    ] {
        if let Some(seconds) = seconds_from_env(variable)? {
            builder = builder.with_config(
                AmazonS3ConfigKey::Client(key),
                format!("{}ms", (seconds * 1000.0).round() as u64),
            );
        }
    }
    let store = builder.build().map_err(|e| {
        DataFusionError::Configuration(format!(
            "cannot open {bucket_url}: {e} (set AWS_REGION, AWS_ACCESS_KEY_ID, \
             AWS_SECRET_ACCESS_KEY, and AWS_ENDPOINT with AWS_ALLOW_HTTP=true for a local server)"
        ))
    })?;
    Ok(Arc::new(store))
}

/// How object-store requests are retried: transient failures (HTTP 5xx, 429, connection
/// errors, timeouts) are retried with exponential backoff (100 ms doubling up to 15 s) up to
/// `USERLAKE_S3_MAX_RETRIES` times (default 10) and within `USERLAKE_S3_RETRY_TIMEOUT` seconds
/// (default 180); other failures (403, a missing bucket or key) are returned at once.
fn retry_config() -> Result<RetryConfig> {
    let defaults = RetryConfig::default();
    let max_retries = match std::env::var("USERLAKE_S3_MAX_RETRIES") {
        Ok(text) => text.trim().parse::<usize>().map_err(|_| {
            DataFusionError::Configuration(format!(
                "USERLAKE_S3_MAX_RETRIES={text:?}: expected a whole number of retries"
            ))
        })?,
        Err(_) => defaults.max_retries,
    };
    let retry_timeout = match seconds_from_env("USERLAKE_S3_RETRY_TIMEOUT")? {
        Some(seconds) => Duration::from_secs_f64(seconds),
        None => defaults.retry_timeout,
    };
    Ok(RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries,
        retry_timeout,
    })
}

/// A positive number of seconds from `variable`, if set.
fn seconds_from_env(variable: &str) -> Result<Option<f64>> {
    match std::env::var(variable) {
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(seconds) if seconds.is_finite() && seconds > 0.0 => Ok(Some(seconds)),
            _ => Err(DataFusionError::Configuration(format!(
                "{variable}={text:?}: expected a positive number of seconds"
            ))),
        },
        Err(_) => Ok(None),
    }
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
