//! Agent and relays cut apart (every datagram dropped both ways, on the paths to both
//! relays) for the profile's time, then healed. During the cut the agent must notice and keep
//! retrying; after it, exactly one session must exist across the relays, the tunnel must
//! serve, and neither relay may keep a task or a file descriptor it did not have before (nor
//! this process, where the agent runs). Connections to the control plane are left out of the
//! descriptor counts (HTTP client pools open and close them on their own schedule), and so are
//! the proxies' sockets to the relays (one per flow, test equipment).

use super::leaks::{Compared, Counts};
use super::{Profile, own_fd_targets, report};
use fdt_agent_core::status::SessionState;
use fdt_cloud::testing::TestDb;
use fdt_e2e::Agent;
use fdt_e2e::impair::{Partition, UdpConfig};
use fdt_e2e::regions::TwoRegions;
use std::time::{Duration, Instant};

const SUB: &str = "partition";
const TUNNEL: &str = "web";
/// How long, after healing, counts may take to settle (sessions closing, tasks ending).
const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_then_heal_one_session_and_nothing_leaked() {
    fdt_e2e::install_crypto();
    fdt_e2e::init_tracing();
    let profile = Profile::current();
    let db = TestDb::sqlite().await;
    let partition = Partition::default();
    // A dial that lost the agent's staggered race (to us-1, while eu-1 answered) leaves a
    // proxy flow behind: it must expire within the settle time for the counts to come back.
    let path = UdpConfig {
        partition: partition.clone(),
        idle_timeout: Duration::from_secs(10),
        ..UdpConfig::default()
    };
    let regions = TwoRegions::start_behind(db.store.clone(), Some(path))
        .await
        .unwrap();
    let account = regions
        .cloud
        .account("partition@example.com")
        .await
        .unwrap();
    let (mut agent, _origin) = regions.bound_agent(&account, TUNNEL, SUB).await;
    let serves = |agent: &Agent| {
        let url = agent.public_url(TUNNEL);
        async move {
            let r = fdt_e2e::Curl::new(&format!("{}/echo", url?))
                .timeout(Duration::from_secs(5))
                .run()
                .await
                .ok()?;
            (r.status == 200).then_some(())
        }
    };
    serves(&agent).await.expect("serving before the cut");
    // Counted once the session is settled (the first heartbeats and fetches done).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let relays = [&regions.eu, &regions.us];
    let cloud_port: u16 = regions
        .cloud
        .url
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let skip = [
        cloud_port,
        regions.eu.agent_addr.port(),
        regions.us.agent_addr.port(),
    ];
    let skip = &skip[..];
    let before = Counts::read(&relays, skip).await.unwrap();
    let fds_before = own_fd_targets();
    assert_eq!(before.sessions, 1, "{before:?}");

    partition.cut();
    let cut_at = Instant::now();
    let noticed = fdt_e2e::poll_until(profile.partition, "the agent notices the cut", || async {
        (agent.status().state != SessionState::Online).then(|| cut_at.elapsed())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", agent.status()));
    let rest = profile.partition.saturating_sub(cut_at.elapsed());
    tokio::time::sleep(rest).await;
    // Both relays dropped the silent session on their side too.
    let during = Counts::read(&relays, skip).await.unwrap();
    assert_eq!(during.sessions, 0, "{during:?}");

    partition.heal();
    let healed_at = Instant::now();
    fdt_e2e::poll_until(SETTLE, "serving again after healing", || serves(&agent))
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", agent.status(), regions.logs()));
    let serving_after = healed_at.elapsed();
    let settled = before.settle_back(&relays, skip, SETTLE).await;
    let after = settled.unwrap_or_else(|e| {
        panic!(
            "{e}; descriptors opened since {:?}, closed {:?}\n{}",
            own_fd_targets()
                .iter()
                .filter(|t| !fds_before.contains(t))
                .map(|t| (t, socket_line(t)))
                .collect::<Vec<_>>(),
            fds_before
                .iter()
                .filter(|t| !own_fd_targets().contains(t))
                .map(|t| (t, socket_line(t)))
                .collect::<Vec<_>>(),
            regions.logs()
        )
    });
    let status = agent.status();
    assert_eq!(status.state, SessionState::Online, "{status:?}");
    let stats = regions.proxies.as_ref().unwrap();
    let cut: u64 = stats
        .iter()
        .map(|c| {
            let s = c.snapshot();
            s.to_upstream.cut + s.to_client.cut
        })
        .sum();
    report(
        "partition",
        &format!(
            "cut {:?}: noticed after {:.0} ms, {cut} datagrams dropped; serving {:.0} ms after \
             healing, on {} ({} reconnect attempts shown); after: {}",
            profile.partition,
            noticed.as_secs_f64() * 1e3,
            serving_after.as_secs_f64() * 1e3,
            status.relay,
            status.reconnects,
            Compared(before, after),
        ),
    );
    agent.stop().await.unwrap();
    regions.cloud.shutdown.cancel();
}

/// The `/proc/self/net/*` line of socket `target` (`socket:[inode]`), if any.
fn socket_line(target: &str) -> Option<String> {
    let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
    ["tcp", "tcp6", "udp", "udp6", "unix"].iter().find_map(|t| {
        let text = std::fs::read_to_string(format!("/proc/self/net/{t}")).ok()?;
        text.lines()
            .find(|l| l.split_whitespace().any(|c| c == inode))
            .map(|l| format!("{t}: {}", l.trim()))
    })
}
