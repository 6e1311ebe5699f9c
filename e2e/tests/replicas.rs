//! Two real `fdt-cloud serve` replicas on one PostgreSQL database behind a TCP balancer, as a
//! deployment runs them (same database, same signing keys, each its own data directory), with
//! a relay and agents that only know the balancer's address:
//!
//! - an account registered, logged in and given an authtoken through the balancer (so tokens
//!   signed by one replica are accepted by the other), and its agent bound;
//! - failed logins sent alternately to each replica meet one limit, not one per replica;
//! - a change made through one replica reaches a page's event stream on the other;
//! - a background job (retention, every second here) starts at most one round per second
//!   between the two replicas, not one per replica;
//! - one replica SIGKILLed: sign-up, login, the console and a new agent's bind keep working
//!   through the balancer, and the tunnel already up keeps serving.
//!
//! Skipped without `FDT_TEST_PG_URL` (a SQLite file belongs to one process).

use fdt_agent_core::config::TunnelConfig;
use fdt_agent_core::{CloudLogin, Connect};
use fdt_e2e::balancer::Balancer;
use fdt_e2e::cloud::CloudAccount;
use fdt_e2e::cloud_process::CloudProcess;
use fdt_e2e::{Agent, HttpOrigin, RelayProcess, RelayProcessOptions, TlsFiles};
use fdt_proto::Proto;
use std::time::{Duration, Instant};

const METRICS_TOKEN: &str = "replicas-metrics-token";
/// The cloud's config beyond the database: fast heartbeats, retention every second, metrics.
const TABLES: &str = "heartbeat_secs = 1\nunhealthy_after_secs = 3\n\n\
                      [traffic]\nretention_interval_secs = 1\n\n\
                      [metrics]\ntoken = \"replicas-metrics-token\"\n";
/// Failed logins one address may make for one email in a window (the default).
const PAIR_LIMIT: usize = 10;
/// How long the job count is watched.
const WATCH_JOBS: Duration = Duration::from_secs(8);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cloud_replicas_share_limits_events_and_jobs_and_outlive_each_other() {
    let Some(db) = fdt_cloud::testing::TestDb::postgres().await else {
        eprintln!("skipped: {} unset", fdt_cloud::testing::PG_URL_ENV);
        return;
    };
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let url = db.postgres_url().unwrap().to_owned();
    let mut first = CloudProcess::start_on(Some(&url), TABLES).await.unwrap();
    let second = first.replica().await.unwrap();
    let lb = Balancer::start(vec![first.addr(), second.addr()])
        .await
        .unwrap();
    let tls_dir = tempfile::tempdir().unwrap();
    let tls = TlsFiles::issue(tls_dir.path(), &["localhost".to_string()]).unwrap();
    let relay = RelayProcess::start(&RelayProcessOptions::fleet("eu-1", "eu", &lb.url(), &tls))
        .await
        .unwrap();
    let cloud_logs = [first.log.clone(), second.log.clone()];
    let logs = || {
        let [a, b] = cloud_logs
            .each_ref()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default());
        format!(
            "--- relay:\n{}\n--- first:\n{a}\n--- second:\n{b}",
            relay.log_text()
        )
    };

    // Register, log in, make an authtoken and bind, all through the balancer.
    let account = CloudAccount::register(&lb.url(), "replicas@example.com")
        .await
        .unwrap();
    let (mut agent, _origin) = spawn_agent(&lb, &tls, &account, "replicated").await;
    agent
        .wait_bound()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    let http_visitor = visitor(&relay, "replicated");
    let page = relay.http_url("replicated", "/echo");
    ok_times(&http_visitor, &page, 10).await;
    let spread = lb.served();
    assert!(spread.iter().all(|n| *n > 0), "{spread:?}");

    // One limit: failures for one email from one address, alternating between the replicas.
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..=PAIR_LIMIT {
        let base = if i % 2 == 0 { &first.url } else { &second.url };
        let r = http
            .post(format!("{base}/v1/auth/login"))
            .json(&serde_json::json!({"email": "nobody@example.com", "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    let mut expected = vec![401; PAIR_LIMIT];
    expected.push(429);
    assert_eq!(statuses, expected, "one limit across both replicas");

    // A change made through the second replica reaches a page's stream on the first. Only
    // the shared hub delivers authtoken changes (the stream's periodic checks cover tunnels
    // and relays).
    let token = account.access_token.expose_secret().to_owned();
    let mut stream = http
        .get(format!("{}/v1/events", first.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let made = http
        .post(format!("{}/v1/authtokens", second.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"description": "through the second replica"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        let mut text = String::new();
        while let Some(chunk) = stream.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("\"topic\":\"authtokens\"") {
                return text;
            }
        }
        panic!("the stream ended: {text}");
    })
    .await
    .unwrap_or_else(|_| panic!("no authtokens event on the first replica\n{}", logs()));
    drop(stream);

    // Retention rounds between both replicas: at most one per second (plus the one running
    // at either edge of the window), where two unshared timers would make about two.
    let before = job_rounds(&[&first, &second]).await;
    let watched = Instant::now();
    tokio::time::sleep(WATCH_JOBS).await;
    let rounds = job_rounds(&[&first, &second]).await - before;
    let most = watched.elapsed().as_secs_f64().floor() + 2.0;
    assert!(
        rounds >= 1.0 && rounds <= most,
        "{rounds} retention rounds in {:?} between two replicas",
        watched.elapsed()
    );

    // The first replica dies the hard way; the balancer skips it.
    first.kill().await.unwrap();
    let late = CloudAccount::register(&lb.url(), "late@example.com")
        .await
        .unwrap_or_else(|e| panic!("sign-up through the survivor: {e}\n{}", logs()));
    let console = http
        .get(format!("{}/login", lb.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(console.status(), 200, "the console's sign-in page");
    assert_eq!(account.live_tunnels().await.unwrap().len(), 1);
    let (mut late_agent, _late_origin) = spawn_agent(&lb, &tls, &late, "latecomer").await;
    late_agent
        .wait_bound()
        .await
        .unwrap_or_else(|e| panic!("a bind after the first replica died: {e}\n{}", logs()));
    ok_times(&http_visitor, &page, 10).await;
    let late_visitor = visitor(&relay, "latecomer");
    ok_times(&late_visitor, &relay.http_url("latecomer", "/echo"), 10).await;
    eprintln!(
        "replicas| limit 11th failure 429 across replicas; event across replicas: {} bytes \
         before it; retention rounds in {WATCH_JOBS:?}: {rounds}; after SIGKILL of one: \
         sign-up, console, bind, 20 visitor requests OK; connections per backend {:?}",
        seen.len(),
        lb.served()
    );
    agent.stop().await.unwrap();
    late_agent.stop().await.unwrap();
    drop(second);
    db.finish().await;
}

/// An agent of `account` with one HTTP tunnel on `sub` to a new origin, talking to the cloud
/// through the balancer. Not awaited.
async fn spawn_agent(
    lb: &Balancer,
    tls: &TlsFiles,
    account: &CloudAccount,
    sub: &str,
) -> (Agent, HttpOrigin) {
    let origin = HttpOrigin::start().await.unwrap();
    let mut tunnel = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    tunnel.subdomain = Some(sub.into());
    let login = CloudLogin {
        api_url: lb.url(),
        authtoken: account.authtoken_secret(),
        region: Some("eu".into()),
        relay_ca: Some(tls.ca.clone()),
    };
    let agent = Agent::spawn(Connect::Cloud(login), vec![("web", tunnel)]).unwrap();
    (agent, origin)
}

fn visitor(relay: &RelayProcess, sub: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve(&format!("{sub}.localhost"), relay.http_addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn ok_times(http: &reqwest::Client, url: &str, n: u32) {
    for i in 0..n {
        let status = http.get(url).send().await.map(|r| r.status().as_u16());
        assert!(
            matches!(status, Ok(200)),
            "request {i} to {url}: {status:?}"
        );
    }
}

/// Successful retention rounds the replicas have counted, summed.
async fn job_rounds(replicas: &[&CloudProcess]) -> f64 {
    let http = reqwest::Client::new();
    let mut sum = 0.0;
    for r in replicas {
        let text = http
            .get(format!("{}/metrics", r.url))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        sum += text
            .lines()
            .filter(|l| {
                l.starts_with("fdt_cloud_job_runs_total{")
                    && l.contains("job=\"retention\"")
                    && l.contains("outcome=\"ok\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    sum
}
