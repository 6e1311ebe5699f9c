//! The control plane's PostgreSQL crashed (immediate stop) for the profile's time, then
//! started again, under a real `fdt-cloud serve` process and relay. Tunnels already bound keep
//! serving throughout; an agent started during the outage cannot get a token (the cloud
//! answers 5xx, which it retries) and binds by itself once the database is back; the relay's
//! usage reports, refused meanwhile, arrive afterwards and count every request exactly once.
//!
//! Runs its own PostgreSQL server (`fdt_e2e::pg_server`), since the shared one serves other
//! tests; skipped, like the PostgreSQL halves of the other stories, when `FDT_TEST_PG_URL` is
//! unset (PostgreSQL not installed).

use super::{OneRelay, Profile, all_ok, assert_counted_once, report, request, steady_during};
use fdt_agent_core::status::SessionState;
use fdt_e2e::cloud::CloudAccount;
use fdt_e2e::cloud_process::CloudProcess;
use fdt_e2e::pg_server::PgServer;
use std::time::{Duration, Instant};

/// The agent bound before the outage.
const BOUND: &str = "dbbound";
/// The agent started during it.
const LATE: &str = "dblate";
/// Requests before the outage.
const BEFORE: u64 = 20;
/// How long the late agent may take to bind once the database is back (its backoff has grown
/// during the outage, to 16 s at most by then).
const REBIND: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_crash_bound_tunnels_serve_binds_resume_usage_once() {
    if std::env::var_os(fdt_cloud::testing::PG_URL_ENV).is_none() {
        eprintln!("skipped: {} unset", fdt_cloud::testing::PG_URL_ENV);
        return;
    }
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let profile = Profile::current();
    let pg = PgServer::start().await.unwrap();
    let cloud = CloudProcess::start_on(
        Some(&pg.url),
        "heartbeat_secs = 1\nunhealthy_after_secs = 3\n",
    )
    .await
    .unwrap();
    let fleet = OneRelay::start(cloud).await;
    let account = CloudAccount::register(&fleet.cloud.url, "dbdown@example.com")
        .await
        .unwrap();
    let (mut bound, _bound_origin) = fleet.agent(&account, BOUND).await;
    bound
        .wait_bound()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", fleet.logs()));
    let http = fleet.visitor(BOUND);
    let url = fleet.relay.http_url(BOUND, "/echo");
    all_ok(&http, &url, BEFORE).await;

    pg.down().await.unwrap();
    let (mut late, _late_origin) = fleet.agent(&account, LATE).await;
    let during = steady_during(&http, &url, profile.db_down, "the database").await;
    let late_meanwhile = late.status();
    assert_ne!(
        late_meanwhile.state,
        SessionState::Online,
        "bound without a database: {late_meanwhile:?}"
    );

    pg.up().await.unwrap();
    let up_at = Instant::now();
    let late_url = fleet.relay.http_url(LATE, "/echo");
    let late_http = fleet.visitor(LATE);
    fdt_e2e::poll_until(REBIND, "the late agent serving", || async {
        (late.public_url("web").is_some() && request(&late_http, &late_url).await == 200)
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", late.status(), fleet.logs()));
    let late_serving = up_at.elapsed();
    all_ok(&http, &url, BEFORE).await;
    // The late agent's first 200 counts too.
    let sent = BEFORE + during + 1 + BEFORE;
    let delivered = assert_counted_once(&fleet.cloud.url, &account, sent).await;
    let status = bound.status();
    assert_eq!(status.reconnects, 0, "{status:?}");
    report(
        "db_down",
        &format!(
            "PostgreSQL crashed for {:?}: {during} requests to the bound tunnel during it, all \
             200; the agent started meanwhile ({}) served {:.1} s after the database came \
             back; usage complete {:.1} s later, {sent} counted of {sent} sent; bound agent \
             reconnects 0",
            profile.db_down,
            late_meanwhile
                .last_error
                .as_deref()
                .unwrap_or("no error shown")
                .chars()
                .take(80)
                .collect::<String>(),
            late_serving.as_secs_f64(),
            delivered.as_secs_f64(),
        ),
    );
    late.stop().await.unwrap();
    bound.stop().await.unwrap();
}
