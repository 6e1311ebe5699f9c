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
