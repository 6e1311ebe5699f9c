#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::agents::streams::StreamOpener;
use crate::edge::policy::CompiledPolicy;
use fdt_proto::Proto;
use std::collections::HashSet;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Both ends of a QUIC connection over loopback, and the endpoints that keep them alive.
/// Dropping the server end closes the client end (the registry holds the client end).
struct Link {
    _endpoints: (quinn::Endpoint, quinn::Endpoint),
    _server_side: quinn::Connection,
    conn: quinn::Connection,
}

async fn connection() -> Link {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        cert.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    tls.alpn_protocols = vec![b"t".to_vec()];
    let server_cfg = quinn::ServerConfig::with_crypto(Arc::new(
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap(),
    ));
    let server = quinn::Endpoint::server(server_cfg, ([127, 0, 0, 1], 0).into()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"t".to_vec()];
    let mut client = quinn::Endpoint::client(([127, 0, 0, 1], 0).into()).unwrap();
    client.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap(),
    )));
    let addr = server.local_addr().unwrap();
    let accept = tokio::spawn({
        let server = server.clone();
        async move { server.accept().await.unwrap().await.unwrap() }
    });
    let conn = client.connect(addr, "localhost").unwrap().await.unwrap();
    Link {
        _server_side: accept.await.unwrap(),
        _endpoints: (server, client),
        conn,
    }
}

struct Fixture {
    registry: Registry,
    link: Link,
}

impl Fixture {
    async fn new() -> Self {
        Self {
            registry: Registry::new(),
            link: connection().await,
        }
    }

    fn tunnel(&self, account: &str, host: &str, pooling: bool) -> Arc<Tunnel> {
        Arc::new(Tunnel {
            cloud_id: None,
            usage: Default::default(),
            rate: None,
            log_bodies: false,
            browser_warning: false,
            commands: tokio::sync::mpsc::channel(1).0,
            id: self.registry.next_id(),
            name: "web".into(),
            account: account.into(),
            proto: Proto::Http,
            host: Some(host.into()),
            port: None,
            pooling,
            public_url: format!("https://{host}"),
            policy: CompiledPolicy::default(),
            opener: StreamOpener::new(
                self.link.conn.clone(),
                TunnelId(0),
                Proto::Http,
                Arc::new(Semaphore::new(8)),
            ),
            streams: Arc::new(Semaphore::new(8)),
            cancel: CancellationToken::new(),
            http: None,
        })
    }

    fn online(&self, host: &str) -> TunnelId {
        match self.registry.lookup_host(host) {
            HostLookup::Online(t) => t.id,
            other => panic!("{host} not online: {other:?}"),
        }
    }

    /// Which members `n` lookups reach, and how often.
    fn spread(&self, host: &str, n: usize) -> HashMap<TunnelId, usize> {
        let mut hits = HashMap::new();
        for _ in 0..n {
            *hits.entry(self.online(host)).or_default() += 1;
        }
        hits
    }
}

const HOST: &str = "app.example.test";

#[tokio::test]
async fn pooling_binds_of_one_account_join_and_share_round_robin() {
    let f = Fixture::new().await;
    let a = f.tunnel("acct", HOST, true);
    let b = f.tunnel("acct", HOST, true);
    let c = f.tunnel("acct", HOST, true);
    for t in [&a, &b, &c] {
        f.registry.insert(t.clone()).unwrap();
    }
    assert_eq!(f.registry.len(), 3);
    assert!(!a.cancel.is_cancelled() && !b.cancel.is_cancelled());
    let hits = f.spread(HOST, 30);
    assert_eq!(
        hits.keys().copied().collect::<HashSet<_>>(),
        HashSet::from([a.id, b.id, c.id])
    );
    assert!(hits.values().all(|&n| n == 10), "{hits:?}");
}

#[tokio::test]
async fn removing_one_member_leaves_the_others_serving() {
    let f = Fixture::new().await;
    let a = f.tunnel("acct", HOST, true);
    let b = f.tunnel("acct", HOST, true);
    f.registry.insert(a.clone()).unwrap();
    f.registry.insert(b.clone()).unwrap();
    f.registry.remove(&a);
    assert_eq!(f.registry.len(), 1);
    assert_eq!(f.spread(HOST, 5), HashMap::from([(b.id, 5)]));
    // Removing a tunnel twice must not disturb the remaining member.
    f.registry.remove(&a);
    assert_eq!(f.online(HOST), b.id);
    f.registry.remove(&b);
    assert!(matches!(f.registry.lookup_host(HOST), HostLookup::Offline));
    assert!(f.registry.is_empty());
}

#[tokio::test]
async fn another_account_cannot_join_a_pool() {
    let f = Fixture::new().await;
    f.registry.insert(f.tunnel("acct", HOST, true)).unwrap();
    let other = f.tunnel("other", HOST, true);
    assert_eq!(
        f.registry.check_host(HOST, "other"),
        Err(ClaimError::InUse(HOST.into()))
    );
    assert_eq!(
        f.registry.insert(other),
        Err(ClaimError::InUse(HOST.into()))
    );
    assert_eq!(f.registry.len(), 1);
}

#[tokio::test]
async fn a_non_pooling_bind_of_the_account_takes_the_whole_pool_over() {
    let f = Fixture::new().await;
    let a = f.tunnel("acct", HOST, true);
    let b = f.tunnel("acct", HOST, true);
    f.registry.insert(a.clone()).unwrap();
    f.registry.insert(b.clone()).unwrap();
    let solo = f.tunnel("acct", HOST, false);
    f.registry.insert(solo.clone()).unwrap();
    assert!(a.cancel.is_cancelled() && b.cancel.is_cancelled());
    assert_eq!(f.spread(HOST, 4), HashMap::from([(solo.id, 4)]));
    // The replaced members going away later must not take the name offline.
    f.registry.remove(&a);
    f.registry.remove(&b);
    assert_eq!(f.online(HOST), solo.id);
}

#[tokio::test]
async fn pooling_binds_replace_holders_they_cannot_join() {
    let f = Fixture::new().await;
    let solo = f.tunnel("acct", HOST, false);
    f.registry.insert(solo.clone()).unwrap();
    let pooled = f.tunnel("acct", HOST, true);
    f.registry.insert(pooled.clone()).unwrap();
    assert!(solo.cancel.is_cancelled());
    assert_eq!(f.spread(HOST, 4), HashMap::from([(pooled.id, 4)]));
    // A tls tunnel cannot join an http pool: the edges expect one kind per name.
    let mut tls = Arc::into_inner(f.tunnel("acct", HOST, true)).unwrap();
    tls.proto = Proto::Tls;
    let tls = Arc::new(tls);
    f.registry.insert(tls.clone()).unwrap();
    assert!(pooled.cancel.is_cancelled());
    assert_eq!(f.spread(HOST, 2), HashMap::from([(tls.id, 2)]));
    // Another account is refused whether the holder pools or not.
    assert!(f.registry.insert(f.tunnel("other", HOST, false)).is_err());
    assert!(f.registry.insert(f.tunnel("other", HOST, true)).is_err());
}

#[tokio::test]
async fn binding_an_offline_name_wakes_its_watchers() {
    let f = Fixture::new().await;
    let gone = f.tunnel("acct", HOST, false);
    f.registry.insert(gone.clone()).unwrap();
    f.registry.remove(&gone);
    let HostWatch::Offline(mut rx) = f.registry.watch_host(HOST) else {
        panic!("offline name expected");
    };
    assert!(matches!(
        f.registry.watch_host("other.test"),
        HostWatch::Unknown
    ));
    let waiter = tokio::spawn(async move { rx.changed().await.is_err() });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished(), "no wake-up before a bind");
    let back = f.tunnel("acct", HOST, false);
    f.registry.insert(back.clone()).unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert!(closed, "woken by the tombstone going away");
    assert!(matches!(f.registry.watch_host(HOST), HostWatch::Online(t) if t.id == back.id));
}

#[tokio::test]
async fn members_with_a_closed_connection_are_skipped() {
    let f = Fixture::new().await;
    let live = f.tunnel("acct", HOST, true);
    f.registry.insert(live.clone()).unwrap();
    let dead_link = connection().await;
    dead_link.conn.close(0u32.into(), b"gone");
    let mut dead = Arc::into_inner(f.tunnel("acct", HOST, true)).unwrap();
    dead.opener = StreamOpener::new(
        dead_link.conn.clone(),
        dead.id,
        Proto::Http,
        Arc::new(Semaphore::new(8)),
    );
    f.registry.insert(Arc::new(dead)).unwrap();
    assert_eq!(f.spread(HOST, 6), HashMap::from([(live.id, 6)]));
}
