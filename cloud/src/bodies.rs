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
            return Ok(Self {
                store: Arc::new(s3),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        std::fs::create_dir_all(location)
            .map_err(|e| BodyError::Config(format!("creating {location}: {e}")))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(location)
            .map_err(|e| BodyError::Config(e.to_string()))?;
        Ok(Self {
            store: Arc::new(fs),
            prefix: String::new(),
        })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn bodies_round_trip_in_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = BodyStore::open(dir.path().to_str().unwrap()).unwrap();
        let key = store.key("acc_x", "req_y", "request");
        store.put(&key, Bytes::from_static(b"hello")).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap().unwrap(), "hello");
        assert!(dir.path().join("requests/acc_x/req_y/request").is_file());
        store.delete(&key).await.unwrap();
        assert!(store.get(&key).await.unwrap().is_none());
        store.delete(&key).await.unwrap();
        assert!(BodyStore::open("s3://").is_err());
    }

    /// The S3 path against a local S3-compatible server (moto, from PyPI; the test command
    /// installs it): put, get, overwrite, delete, missing keys.
    #[tokio::test]
    async fn bodies_round_trip_in_an_s3_bucket() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        /// Kills the server when the test ends, passing or not.
        struct Server(std::process::Child);
        impl Drop for Server {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let _server = Server(
            std::process::Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("moto_server (pip install 'moto[server]') is needed for the S3 test"),
        );
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        // Wait for the server, then create the bucket (moto accepts unsigned requests).
        let mut created = false;
        for _ in 0..100 {
            if let Ok(r) = client.put(format!("{endpoint}/fdt-bodies")).send().await {
                created = r.status().is_success();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(created, "bucket not created on moto at {endpoint}");
        let env = [
            ("AWS_ENDPOINT", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
            ("HOME", "/ignored"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let store = BodyStore::open_with_env("s3://fdt-bodies/log", env.clone()).unwrap();
        let key = store.key("acc_x", "req_y", "response");
        assert!(key.starts_with("log/requests/"), "{key}");
        store.put(&key, Bytes::from_static(b"first")).await.unwrap();
        store
            .put(&key, Bytes::from_static(b"second"))
            .await
            .unwrap();
        assert_eq!(store.get(&key).await.unwrap().unwrap(), "second");
        // A second, separate client sees it: the bytes are on the server, not in this one.
        let other = BodyStore::open_with_env("s3://fdt-bodies/log", env.clone()).unwrap();
        assert_eq!(other.get(&key).await.unwrap().unwrap(), "second");
        store.delete(&key).await.unwrap();
        assert!(store.get(&key).await.unwrap().is_none());
    }
}
