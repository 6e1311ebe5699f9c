//! Body store tests: a local directory, and an S3 bucket on a local moto server.

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
    let moto = crate::testing::Moto::start("fdt-bodies").await;
    let env = moto.env();
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
