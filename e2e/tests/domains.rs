//! Custom domains end to end, on SQLite and (when `FDT_TEST_PG_URL` is set) PostgreSQL: a
//! domain is created and verified through a real DNS server (pebble-challtestsrv), the control
//! plane orders its certificate from a real ACME CA (Debian's pebble, nonce rejection left on)
//! with HTTP-01 answered by the relay, the relay serves it with that certificate, renews it
//! with no failed request during the swap, and passes a passthrough domain's TLS to the
//! agent's own server. SNI and Host that disagree get 421. A wildcard domain's certificate
//! comes through DNS-01, its record placed at a local server speaking Cloudflare's API.

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{CloudLogin, Connect};
use fdt_api::{AccountId, Plan};
use fdt_cloud::config::{AcmeChallenge, RelayEntry};
use fdt_cloud::testing::acme::{ChallTestSrv, Pebble};
use fdt_cloud::testing::cloudflare::FakeCloudflare;
use fdt_e2e::client::tls_client_config;
use fdt_e2e::stack::BASE_DOMAIN;
use fdt_e2e::{Cloud, HttpOrigin, Stack, StackOptions, TlsEcho, poll_until};
use fdt_proto::Proto;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use fdt_e2e::cloud::TestDb as Db;

fdt_cloud::on_both_databases!(
    a_domain_is_verified_certified_served_and_renewed_through_pebble,
    a_passthrough_domain_reaches_the_agents_own_certificate,
    a_wildcard_domain_is_certified_through_dns01_at_the_dns_provider,
    a_domain_is_certified_through_tls_alpn01_on_the_relays_https_port,
);

/// The fake DNS provider's API token.
const CF_TOKEN: &str = "cf-test-token";

/// Certificates pebble issues live this long, so the renewal (at about two thirds) comes
/// within the test.
const VALIDITY_SECS: u64 = 30;

struct World {
    dns: Arc<ChallTestSrv>,
    cloudflare: FakeCloudflare,
    pebble: Pebble,
    stack: Stack,
    cloud: Cloud,
    api: reqwest::Client,
    access: String,
    login: CloudLogin,
}

/// DNS, pebble (validating on the relay's HTTP and HTTPS ports), a relay attached to a control
/// plane that orders from pebble, and a pro account.
async fn world(db: &Db) -> World {
    world_with(db, AcmeChallenge::Http01).await
}

/// [`world`] with the relays answering `challenge` for non-wildcard names. With TLS-ALPN-01,
/// pebble's HTTP-01 port is one nothing listens on, so only the relay's HTTPS port can prove
/// control.
async fn world_with(db: &Db, challenge: AcmeChallenge) -> World {
    fdt_e2e::install_crypto();
    let dns = Arc::new(ChallTestSrv::start().await);
    let cloudflare = FakeCloudflare::start(dns.clone(), CF_TOKEN, &["example.test"]).await;
    let cf_api = cloudflare.api_base.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", listener.local_addr().unwrap());
    let stack = Stack::start(StackOptions::attached_to(&api_url))
        .await
        .unwrap();
    let http_port = match challenge {
        AcmeChallenge::Http01 => stack.http_addr.port(),
        AcmeChallenge::TlsAlpn01 => fdt_cloud::testing::acme::free_port(),
    };
    let pebble = Pebble::start(dns.dns, http_port, stack.https_addr.port(), VALIDITY_SECS).await;
    let relay = RelayEntry {
        id: "local".into(),
        region: "local".into(),
        addr: stack.agent_addr.to_string(),
        server_name: BASE_DOMAIN.into(),
    };
    let (dns_addr, directory, roots) = (
        dns.dns,
        pebble.directory.clone(),
        pebble.listener_root.clone(),
    );
    let cloud = Cloud::start_with(listener, db.store.clone(), move |c| {
        c.relays = vec![relay];
        c.fleet.heartbeat_secs = 1;
        c.domains.nameservers = vec![dns_addr];
        c.domains.base_domain = BASE_DOMAIN.into();
        c.domains.cname_zone = format!("cname.{BASE_DOMAIN}");
        c.domains.pending_check_secs = 1;
        c.domains.worker_interval_secs = 1;
        c.domains.acme_directory = Some(directory);
        c.domains.acme_roots = Some(roots);
        c.domains.acme_challenge = challenge;
        c.domains.dns01 = Some(fdt_cloud::config::Dns01Config {
            provider: fdt_cloud::config::Dns01Provider::Cloudflare,
            api_base: cf_api,
            api_token: fdt_cloud::secret::Secret::new(CF_TOKEN.into()),
            for_all: false,
            propagation_secs: 0,
        });
    });
    let account = cloud.account("domains@example.com").await.unwrap();
    let me: AccountId = account.client.me().await.unwrap().id;
    assert!(
        cloud
            .state
            .store()
            .set_account_plan(&me, Plan::Pro)
            .await
            .unwrap()
    );
    let login = CloudLogin {
        api_url: cloud.url.clone(),
        authtoken: account.authtoken.token.expose_secret().to_owned(),
        region: None,
        relay_ca: Some(stack.ca_path()),
    };
    World {
        dns,
        cloudflare,
        pebble,
        stack,
        api: reqwest::Client::new(),
        access: account.access_token.expose_secret().to_owned(),
        cloud,
        login,
    }
}

impl World {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self
            .api
            .request(method, format!("{}{path}", self.cloud.url))
            .bearer_auth(&self.access);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates `domain` routed to `subdomain`, publishes its TXT record and an A record to
    /// the relay, and returns the domain.
    async fn domain(&self, domain: &str, mode: &str, subdomain: &str) -> Value {
        let (status, d) = self
            .call(
                reqwest::Method::POST,
                "/v1/domains",
                Some(json!({"domain": domain, "mode": mode, "route": {"subdomain": subdomain}})),
            )
            .await;
        assert_eq!(status, 201, "{d}");
        self.dns
            .set_txt(
                d["txt"]["name"].as_str().unwrap(),
                d["txt"]["value"].as_str().unwrap(),
            )
            .await;
        self.dns.add_a(domain, "127.0.0.1").await;
        d
    }

    /// An agent (through the cloud) serving a new HTTP origin on `subdomain`, bound; the
    /// origin must outlive it.
    async fn http_tunnel(&self, subdomain: &str) -> (fdt_e2e::Agent, HttpOrigin) {
        let origin = HttpOrigin::start().await.unwrap();
        let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
        t.subdomain = Some(subdomain.into());
        let mut agent = self
            .stack
            .spawn_agent_via(Connect::Cloud(self.login.clone()), vec![("web", t)])
            .unwrap();
        agent.wait_bound().await.unwrap();
        (agent, origin)
    }

    /// curl `https://<host>/echo` through the relay, trusting `root`, until it answers 200
    /// (within 90 s).
    async fn first_https_200(&self, host: &str, root: &str) -> fdt_e2e::CurlResponse {
        let https_port = self.stack.https_addr.port();
        let ca = write_pem(self, "root.pem", root);
        let what = format!("the first HTTPS 200 from {host}");
        poll_until(Duration::from_secs(90), &what, || async {
            let r = fdt_e2e::Curl::new(&format!("https://{host}:{https_port}/echo"))
                .resolve(host, https_port)
                .cacert(&ca)
                .run()
                .await
                .ok()?;
            (r.status == 200).then_some(r)
        })
        .await
        .unwrap()
    }

    async fn get(&self, id: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/v1/domains/{id}"), None)
            .await
            .1
    }
}

/// The leaf certificate `host` presents on the relay's HTTPS port, trusting `root_pem`, and
/// the body of `GET /echo` over that connection.
async fn fetch(
    stack: &Stack,
    host: &str,
    root_pem: &str,
) -> anyhow::Result<(CertificateDer<'static>, String)> {
    let connector = tokio_rustls::TlsConnector::from(tls_client_config(root_pem)?);
    let sock = tokio::net::TcpStream::connect(stack.https_addr).await?;
    let mut tls = connector
        .connect(ServerName::try_from(host.to_owned())?, sock)
        .await?;
    let leaf = tls.get_ref().1.peer_certificates().unwrap_or_default()[0].clone();
    let req = format!("GET /echo HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await.ok();
    Ok((leaf, String::from_utf8_lossy(&out).into_owned()))
}

async fn a_domain_is_verified_certified_served_and_renewed_through_pebble(db: &Db) {
    let w = world(db).await;
    let (mut agent, _origin) = w.http_tunnel("shop").await;

    let started = Instant::now();
    let d = w.domain("app.example.test", "terminate", "shop").await;
    let id = d["id"].as_str().unwrap().to_owned();
    let root = w.pebble.issuing_root().await;
    // The first HTTPS 200 through the relay, with pebble's certificate.
    let https_port = w.stack.https_addr.port();
    let first = w.first_https_200("app.example.test", &root).await;
    let elapsed = started.elapsed();
    eprintln!(
        "domain create → first HTTPS 200 through pebble: {} ms",
        elapsed.as_millis()
    );
    assert!(
        first.text().contains("app.example.test"),
        "{}",
        first.text()
    );
    let d = w.get(&id).await;
    assert_eq!(d["state"], "verified", "{d}");
    assert_eq!(d["certificate"]["source"], "acme", "{d}");
    let v1 = d["certificate"]["version"].as_i64().unwrap();
    let (leaf1, _) = fetch(&w.stack, "app.example.test", &root).await.unwrap();

    // Requests keep flowing while the certificate is renewed (at about 20 s of 30): none
    // fails, and a new certificate is served afterwards.
    let mut failures = Vec::new();
    let mut requests = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let renewed = loop {
        match fetch(&w.stack, "app.example.test", &root).await {
            Ok((leaf, body)) if body.starts_with("HTTP/1.1 200") => {
                requests += 1;
                if leaf != leaf1 {
                    break true;
                }
            }
            Ok((_, body)) => failures.push(body.lines().next().unwrap_or("").to_owned()),
            Err(e) => failures.push(e.to_string()),
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        renewed,
        "no renewed certificate within 60 s: {}",
        w.get(&id).await
    );
    assert!(
        failures.is_empty(),
        "{} of {requests} failed: {failures:?}",
        failures.len()
    );
    let d = w.get(&id).await;
    assert!(d["certificate"]["version"].as_i64().unwrap() > v1, "{d}");
    let (_, ev) = w
        .call(
            reqwest::Method::GET,
            &format!("/v1/domains/{id}/events"),
            None,
        )
        .await;
    let kinds: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.ends_with(&["issued", "verified"]) && kinds.contains(&"renewed"),
        "{ev}"
    );
    // The relay reported the renewed version in service (a signed certificate event): the
    // domain's replication status says so.
    let newest = d["certificate"]["version"].as_i64().unwrap();
    let rep = poll_until(
        Duration::from_secs(10),
        "the relay's install report",
        || async {
            let (_, r) = w
                .call(
                    reqwest::Method::GET,
                    &format!("/v1/domains/{id}/replication"),
                    None,
                )
                .await;
            (r["replicas"][0]["version"].as_i64() >= Some(newest)).then_some(r)
        },
    )
    .await
    .unwrap();
    assert_eq!(rep["replicas"][0]["cluster"], "local", "{rep}");
    assert_eq!(rep["replicas"][0]["source"], "local", "{rep}");
    assert_eq!(rep["current_clusters"], json!(["local"]), "{rep}");

    // SNI and Host that disagree: 421.
    let r = fdt_e2e::Curl::new(&format!("https://app.example.test:{https_port}/echo"))
        .resolve("app.example.test", https_port)
        .cacert(&write_pem(&w, "root.pem", &root))
        .header(&format!("host: shop.{BASE_DOMAIN}"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 421, "{}", r.text());

    // Deleted: the relay stops serving it within a poll.
    let (status, _) = w
        .call(reqwest::Method::DELETE, &format!("/v1/domains/{id}"), None)
        .await;
    assert_eq!(status, 204);
    poll_until(
        Duration::from_secs(10),
        "the deleted domain is no longer served",
        || async {
            let r = fdt_e2e::Curl::new(&format!(
                "http://app.example.test:{}/echo",
                w.stack.http_addr.port()
            ))
            .resolve("app.example.test", w.stack.http_addr.port())
            .run()
            .await
            .ok()?;
            (r.status == 404).then_some(())
        },
    )
    .await
    .unwrap();
    agent.stop().await.unwrap();
}

fn write_pem(w: &World, name: &str, pem: &str) -> std::path::PathBuf {
    let p = w.pebble.dir().join(name);
    std::fs::write(&p, pem).unwrap();
    p
}

async fn a_passthrough_domain_reaches_the_agents_own_certificate(db: &Db) {
    let w = world(db).await;
    let origin = TlsEcho::start(w.stack.dev_ca(), &["pass.example.test".to_string()])
        .await
        .unwrap();
    let mut t = TunnelConfig::new(Proto::Tls, origin.addr.to_string());
    t.subdomain = Some("secret".into());
    let mut agent = w
        .stack
        .spawn_agent_via(Connect::Cloud(w.login.clone()), vec![("tls", t)])
        .unwrap();
    agent.wait_bound().await.unwrap();
    let d = w.domain("pass.example.test", "passthrough", "secret").await;
    let id = d["id"].as_str().unwrap().to_owned();
    let ca = std::fs::read_to_string(w.stack.ca_path()).unwrap();
    let leaf = poll_until(
        Duration::from_secs(30),
        "the passthrough domain",
        || async {
            let connector = tokio_rustls::TlsConnector::from(tls_client_config(&ca).ok()?);
            let sock = tokio::net::TcpStream::connect(w.stack.https_addr)
                .await
                .ok()?;
            let name = ServerName::try_from("pass.example.test".to_owned()).ok()?;
            let mut tls = connector.connect(name, sock).await.ok()?;
            tls.write_all(b"ping").await.ok()?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.ok()?;
            (&buf == b"ping").then(|| tls.get_ref().1.peer_certificates().unwrap()[0].clone())
        },
    )
    .await
    .unwrap();
    assert!(
        leaf == origin.leaf,
        "the certificate is not the agent's own"
    );
    // No certificate is ordered for a passthrough domain.
    assert!(w.get(&id).await["certificate"].is_null());
    agent.stop().await.unwrap();
}

async fn a_wildcard_domain_is_certified_through_dns01_at_the_dns_provider(db: &Db) {
    let w = world(db).await;
    let (mut agent, _origin) = w.http_tunnel("wild").await;
    let d = w.domain("*.wild.example.test", "terminate", "wild").await;
    let id = d["id"].as_str().unwrap().to_owned();
    let root = w.pebble.issuing_root().await;
    // Any name under the wildcard is served with the certificate pebble issued after checking
    // `_acme-challenge.wild.example.test`, which only the provider's API could have placed.
    let first = w.first_https_200("a.wild.example.test", &root).await;
    assert!(
        first.text().contains("a.wild.example.test"),
        "{}",
        first.text()
    );
    let (_, body) = fetch(&w.stack, "b.wild.example.test", &root).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let d = w.get(&id).await;
    assert_eq!(d["certificate"]["source"], "acme", "{d}");
    // Every record placed at the provider is removed once its order is over.
    poll_until(
        Duration::from_secs(30),
        "the DNS-01 records removed",
        || async {
            let (created, deleted) = w.cloudflare.counts();
            (created >= 1 && created == deleted && w.cloudflare.records().is_empty()).then_some(())
        },
    )
    .await
    .unwrap();
    agent.stop().await.unwrap();
}

async fn a_domain_is_certified_through_tls_alpn01_on_the_relays_https_port(db: &Db) {
    let w = world_with(db, AcmeChallenge::TlsAlpn01).await;
    let (mut agent, _origin) = w.http_tunnel("alpn").await;
    let d = w.domain("alpn.example.test", "terminate", "alpn").await;
    let id = d["id"].as_str().unwrap().to_owned();
    let root = w.pebble.issuing_root().await;
    // Pebble cannot reach an HTTP-01 answer (its HTTP port is closed): the certificate it
    // issues proves the relay answered `acme-tls/1` with the challenge certificate.
    let first = w.first_https_200("alpn.example.test", &root).await;
    assert!(
        first.text().contains("alpn.example.test"),
        "{}",
        first.text()
    );
    let d = w.get(&id).await;
    assert_eq!(d["certificate"]["source"], "acme", "{d}");
    agent.stop().await.unwrap();
}
