use super::*;

fn sync() -> CloudSync {
    let cfg = RelayConfig {
        cloud_url: Some("http://127.0.0.1:9".into()),
        relay_secret: Some(crate::config::RelaySecret::new("s3cret-value")),
        ..RelayConfig::default()
    };
    CloudSync::new(&cfg)
        .ok()
        .flatten()
        .unwrap_or_else(|| unreachable!("a cloud config"))
}

fn worst_header() -> RelayHeartbeat {
    let long = "a".repeat(255);
    RelayHeartbeat {
        relay_id: "r".repeat(63),
        boot_id: "b".repeat(64),
        seq: u64::MAX,
        region: "region".into(),
        agent_addr: long.clone(),
        server_name: long,
        version: "v".repeat(128),
        capacity: u32::MAX,
        weight: 1000,
        draining: true,
        load: RelayLoad {
            sessions: u32::MAX,
            tunnels: u32::MAX,
            connections: u32::MAX,
        },
        ended: Vec::new(),
        usage: Vec::new(),
        replay_results: Vec::new(),
    }
}

fn job(n: usize) -> String {
    format!("rpl_{n:0>22}")
}

#[test]
fn worst_case_heartbeat_fits_the_clouds_limit() {
    let sync = sync();
    let usage = UsageMeter::default();
    // Every queue as full as it gets, with the largest items an agent can cause: errors of
    // control characters (escaped to six bytes each before), quotes and backslashes.
    for n in 0..MAX_PENDING_ENDED {
        sync.ended(
            format!("tun_{n:0>22}")
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
    }
    let nasty = "\u{1}\"\\".repeat(1000);
    for n in 0..MAX_PENDING_REPLAYS {
        sync.replay_done(job(n), Some(599), Some(nasty.clone()));
    }
    let mut held = Vec::new();
    for n in 0..5000 {
        let c = usage.counters(&format!("acc_{n:0>22}"));
        c.bytes(u64::MAX, u64::MAX);
        c.request();
        c.connection();
        held.push(c);
    }
    let mut sent = 0;
    // Drain everything, heartbeat after heartbeat: each one fits.
    for _ in 0..1000 {
        let hb = fill_heartbeat(&sync, &usage, worst_header(), usize::MAX);
        let len = serde_json::to_vec(&hb)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        assert!(
            len <= fdt_api::relays::MAX_HEARTBEAT_BYTES,
            "{len} bytes with {} ended, {} usage, {} replays",
            hb.ended.len(),
            hb.usage.len(),
            hb.replay_results.len()
        );
        assert!(hb.ended.len() <= fdt_api::relays::MAX_HEARTBEAT_ITEMS);
        assert!(hb.usage.len() <= fdt_api::relays::MAX_HEARTBEAT_ITEMS);
        assert!(hb.replay_results.len() <= fdt_api::relays::MAX_HEARTBEAT_ITEMS);
        let n = hb.ended.len() + hb.usage.len() + hb.replay_results.len();
        if n == 0 {
            break;
        }
        sent += n;
    }
    // The replay queue is bounded in bytes, not only in count: ~1 KiB results overflow
    // it. What it kept went out; nothing was lost on the way.
    let dropped = lock(&sync.replays_done).dropped();
    assert!(dropped > 0);
    assert!(lock(&sync.replays_done).bytes() == 0);
    let kept = MAX_PENDING_REPLAYS - usize::try_from(dropped).unwrap_or(0);
    assert_eq!(sent, MAX_PENDING_ENDED + kept + 5000);
}

#[test]
fn replay_errors_are_cleaned_and_cut_on_a_character_boundary() {
    let sync = sync();
    // Byte 500 falls inside a two-byte character.
    let error = format!("a{}\u{0}\n", "é".repeat(400));
    sync.replay_done(job(1), None, Some(error));
    sync.replay_done(job(2), None, Some("bad\r\nline\u{1b}[31m".into()));
    sync.replay_done("not-a-job".into(), None, None);
    let reports = sync.take_reports(&UsageMeter::default(), 1 << 20, 10);
    let errors: Vec<String> = reports
        .replay_results
        .into_iter()
        .filter_map(|r| r.error)
        .collect();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].len(), 499);
    assert_eq!(errors[1], "bad  line [31m");
}

#[test]
fn refused_reports_go_back_in_order_and_usage_is_not_lost() {
    let sync = sync();
    let usage = UsageMeter::default();
    let held = usage.counters("acc_0123456789abcdefABCDEF");
    held.request();
    for n in 0..4 {
        sync.replay_done(job(n), Some(200), None);
    }
    let reports = sync.take_reports(&usage, 1 << 20, 100);
    assert_eq!((reports.replay_results.len(), reports.usage.len()), (4, 1));
    sync.put_back(&usage, reports);
    let again = sync.take_reports(&usage, 1 << 20, 2);
    let jobs: Vec<String> = again
        .replay_results
        .iter()
        .map(|r| r.job_id.to_string())
        .collect();
    assert_eq!(jobs, [job(0), job(1)]);
    // The usage that did not fit stays counted for the next one.
    let rest = sync.take_reports(&usage, 1 << 20, 100);
    assert_eq!(rest.replay_results.len(), 2);
    assert_eq!(rest.usage.len(), 1);
    assert_eq!(rest.usage[0].requests, 1);
}

#[test]
fn only_final_client_errors_are_never_resent() {
    let status = |status| PostError::Status {
        status,
        detail: String::new(),
    };
    assert!(status(413).is_final());
    assert!(status(422).is_final());
    assert!(status(400).is_final());
    assert!(!status(401).is_final());
    assert!(!status(429).is_final());
    assert!(!status(503).is_final());
    assert!(!PostError::Transport("refused".into()).is_final());
}

#[test]
fn debug_never_prints_the_relay_secret() {
    assert!(!format!("{:?}", sync()).contains("s3cret-value"));
}

#[test]
fn meter_hands_out_shared_counters_and_takes_them() {
    let meter = UsageMeter::default();
    let a = meter.counters("acc_a");
    let a2 = meter.counters("acc_a");
    a.request();
    a2.request();
    a.bytes(10, 20);
    a2.connection();
    let taken = meter.take();
    assert_eq!(taken, vec![("acc_a".to_string(), [2, 10, 20, 1])]);
    // Taken means zeroed: nothing to report next time.
    assert!(meter.take().is_empty());
    // Accounts whose tunnels are gone are forgotten.
    drop((a, a2));
    assert!(meter.take().is_empty());
    assert!(meter.lock().is_empty());
}
