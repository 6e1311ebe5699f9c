//! Local stand-ins for DNS and an ACME CA: Debian's `pebble-challtestsrv` (a DNS server whose
//! records are set over HTTP) and `pebble` (an ACME CA), each on free ports, killed on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free local port (TCP; the DNS server also binds the same UDP port).
pub fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

async fn wait_for_tcp(addr: SocketAddr, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not start on {addr}");
}

/// `pebble-challtestsrv` as a DNS server whose records the test sets.
pub struct ChallTestSrv {
    child: Child,
    /// Where it answers DNS (UDP and TCP).
    pub dns: SocketAddr,
    management: String,
    http: reqwest::Client,
}

impl ChallTestSrv {
    /// Starts it on free ports, with every challenge server off; unknown names get no A
    /// record (`-defaultIPv4 ""`), so only names the test adds resolve.
    ///
    /// # Panics
    /// When the binary is missing (`apt-get install pebble`) or does not come up.
    pub async fn start() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (dns, mgmt) = (free_port(), free_port());
        let child = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-management", &format!("127.0.0.1:{mgmt}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "", "-defaultIPv6", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv (apt-get install pebble) is needed for the domain tests");
        let me = Self {
            child,
            dns: SocketAddr::from(([127, 0, 0, 1], dns)),
            management: format!("http://127.0.0.1:{mgmt}"),
            http: reqwest::Client::new(),
        };
        wait_for_tcp(
            SocketAddr::from(([127, 0, 0, 1], mgmt)),
            "pebble-challtestsrv",
        )
        .await;
        me
    }

    async fn call(&self, path: &str, body: serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/{path}", self.management))
            .json(&body)
            .send()
            .await
            .expect("challtestsrv management call");
        assert!(
            r.status().is_success(),
            "challtestsrv {path}: {}",
            r.status()
        );
    }

    /// Sets the TXT record of `host` (no trailing dot needed) to `value`.
    pub async fn set_txt(&self, host: &str, value: &str) {
        let host = format!("{}.", host.trim_end_matches('.'));
        self.call("set-txt", serde_json::json!({"host": host, "value": value}))
            .await;
    }

    /// Removes the TXT record of `host`.
    pub async fn clear_txt(&self, host: &str) {
        let host = format!("{}.", host.trim_end_matches('.'));
        self.call("clear-txt", serde_json::json!({"host": host}))
            .await;
    }

    /// Makes `host` resolve to `ip` (A record).
    pub async fn add_a(&self, host: &str, ip: &str) {
        let host = format!("{}.", host.trim_end_matches('.'));
        self.call(
            "add-a",
            serde_json::json!({"host": host, "addresses": [ip]}),
        )
        .await;
    }
}

impl Drop for ChallTestSrv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's `pebble` ACME CA, validating through a [`ChallTestSrv`]'s DNS, with its HTTPS
/// listener's certificate made here (Debian ships none).
pub struct Pebble {
    child: Child,
    _dir: tempfile::TempDir,
    /// The ACME directory URL.
    pub directory: String,
    /// PEM file of the CA that signed pebble's listener certificate (trust it for `directory`).
    pub listener_root: PathBuf,
    management: String,
}

impl Pebble {
    /// Starts pebble, validating HTTP-01 on `http_port` and TLS-ALPN-01 on `tls_port`, and
    /// resolving names through `dns`. Certificates are valid for `validity_secs`. Nonce rejection is left at pebble's default
    /// (5 % of nonces refused), so clients must retry `badNonce`.
    ///
    /// # Panics
    /// When the binary is missing (`apt-get install pebble`) or does not come up.
    pub async fn start(dns: SocketAddr, http_port: u16, tls_port: u16, validity_secs: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pebble listener test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
        let write = |name: &str, body: String| {
            let p = dir.path().join(name);
            std::fs::write(&p, body).expect("write");
            p
        };
        let listener_root = write("listener-ca.pem", ca.pem());
        let cert = write("listener.pem", leaf.pem());
        let key = write("listener.key", leaf_key.serialize_pem());
        let (acme, mgmt) = (free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": cert,
            "privateKey": key,
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": validity_secs,
        }});
        let config_path = write("pebble.json", config.to_string());
        let child = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .args(["-dnsserver", &dns.to_string()])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_VA_ALWAYS_VALID", "0")
            .env_remove("PEBBLE_WFE_NONCEREJECT")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble (apt-get install pebble) is needed for the ACME tests");
        let me = Self {
            child,
            _dir: dir,
            directory: format!("https://127.0.0.1:{acme}/dir"),
            listener_root,
            management: format!("https://127.0.0.1:{mgmt}"),
        };
        wait_for_tcp(SocketAddr::from(([127, 0, 0, 1], acme)), "pebble").await;
        me
    }

    /// The root that signs pebble's issued certificates (new on every start), as PEM.
    pub async fn issuing_root(&self) -> String {
        let pem = std::fs::read(&self.listener_root).expect("listener root");
        let root = reqwest::Certificate::from_pem(&pem).expect("listener root PEM");
        let client = reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .expect("client");
        client
            .get(format!("{}/roots/0", self.management))
            .send()
            .await
            .expect("pebble roots")
            .text()
            .await
            .expect("pebble roots body")
    }

    /// The directory the config file lives in.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
