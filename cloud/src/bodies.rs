//! Where traffic-log bodies live: an [`object_store`] — a local directory by default, an
//! S3-compatible bucket when `traffic.body_store` is `s3://bucket[/prefix]` (credentials,
//! region and endpoint from the usual `AWS_*` environment variables, so MinIO and friends work
//! with `AWS_ENDPOINT`). The database keeps only the object keys.

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

/// Why a body could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The store is misconfigured.
    #[error("body store configuration: {0}")]
    Config(String),
    /// The store failed.
    #[error("body store: {0}")]
    Store(#[from] object_store::Error),
}

/// The traffic log's body store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BodyStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl BodyStore {
    /// A store for `location`: a directory path (created if missing) or `s3://bucket/prefix`
    /// configured from the process's `AWS_*` variables.
    pub fn open(location: &str) -> Result<Self, BodyError> {
        Self::open_with_env(location, std::env::vars())
    }

    /// Like [`BodyStore::open`], with the `AWS_*` settings (`AWS_ENDPOINT`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, …) taken
    /// from `env` (tests pass their own instead of changing the process environment).
    pub fn open_with_env(
        location: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, BodyError> {
        let (store, prefix) = open_store(location, env)?;
        Ok(Self { store, prefix })
    }

    /// The key of one body of one request (`request` or `response`).
    pub fn key(&self, account: &str, request: &str, which: &str) -> String {
        let key = format!("requests/{account}/{request}/{which}");
        if self.prefix.is_empty() {
            key
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// Stores `body` under `key` (overwriting: a resent report writes the same bytes).
    pub async fn put(&self, key: &str, body: Bytes) -> Result<(), BodyError> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from_bytes(body))
            .await?;
        Ok(())
    }

    /// The body under `key`, if present.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, BodyError> {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the body under `key` (missing is fine).
    pub async fn delete(&self, key: &str) -> Result<(), BodyError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// An object store for `location`: a directory (created if missing) or `s3://bucket[/prefix]`
/// configured from the `AWS_*` pairs in `env`; with the prefix keys go under.
pub(crate) fn open_store(
    location: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(Arc<dyn ObjectStore>, String), BodyError> {
    if let Some(rest) = location.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BodyError::Config("s3:// needs a bucket name".into()));
        }
        let mut builder = object_store::aws::AmazonS3Builder::new();
        for (k, v) in env {
            if !k.starts_with("AWS_") {
                continue;
            }
            if let Ok(key) = k.to_ascii_lowercase().parse() {
                builder = builder.with_config(key, v);
            }
        }
        let s3 = builder
            .with_bucket_name(bucket)
            .with_http_connector(object_store::client::ReqwestConnector::default())
            .build()
            .map_err(|e| BodyError::Config(e.to_string()))?;
        return Ok((Arc::new(s3), prefix.trim_matches('/').to_owned()));
    }
    std::fs::create_dir_all(location)
        .map_err(|e| BodyError::Config(format!("creating {location}: {e}")))?;
    let fs = object_store::local::LocalFileSystem::new_with_prefix(location)
        .map_err(|e| BodyError::Config(e.to_string()))?;
    Ok((Arc::new(fs), String::new()))
}

#[cfg(test)]
mod tests;
