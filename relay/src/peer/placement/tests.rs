#![allow(clippy::unwrap_used)]
use super::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A control plane answering placement questions: `app` is held by `us-1`, every other
/// name by nobody, and every question 503 while `down` is set; counts the questions.
async fn control() -> (ControlClient, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let asked = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let (counter, is_down) = (asked.clone(), down.clone());
    let app = axum::Router::new().route(
        "/v1/relay/placement",
        axum::routing::get(move |q: axum::extract::Query<fdt_api::PlacementQuery>| {
            counter.fetch_add(1, Ordering::SeqCst);
            let relays = match (q.subdomain.as_deref(), q.region.as_deref(), q.port) {
                (Some("app"), None, None) => vec![relay("us-1", "us", TunnelProto::Http)],
                (None, Some("eu"), Some(20_005)) => {
                    vec![relay("eu-2", "eu", TunnelProto::Tcp)]
                }
                _ => Vec::new(),
            };
            let answer = fdt_api::Placement {
                relays,
                ttl_secs: 60,
            };
            let status = if is_down.load(Ordering::SeqCst) {
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            } else {
                axum::http::StatusCode::OK
            };
            async move { (status, axum::Json(answer)) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let cfg = crate::config::RelayConfig {
        cloud_url: Some(url),
        relay_secret: Some(crate::config::RelaySecret::new(
            "relay-secret-for-tests-0123",
        )),
        relay_id: "eu-1".into(),
        region: "eu".into(),
        ..Default::default()
    };
    (
        ControlClient::from_config(&cfg).unwrap().unwrap(),
        asked,
        down,
    )
}

#[tokio::test]
async fn answers_are_kept_forgotten_on_demand_and_made_up_names_never_asked() {
    let (control, asked, down) = control().await;
    let p = Placements::new(control);
    let http = TunnelProto::Http;
    let found = p
        .find(Name::Label("app"), http, |_| true)
        .await
        .map(|r| r.relay_id);
    assert_eq!(found.as_deref(), Some("us-1"));
    assert!(p.find(Name::Label("app"), http, |_| true).await.is_some());
    assert_eq!(asked.load(Ordering::SeqCst), 1, "the answer is kept");
    // The holder no longer has it: asked again.
    p.forget(Name::Label("app"));
    assert!(p.find(Name::Label("app"), http, |_| true).await.is_some());
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    // Another kind of traffic on the same name is not a holder (and not a new question).
    assert!(
        p.find(Name::Label("app"), TunnelProto::Tls, |_| true)
            .await
            .is_none()
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    // Nobody holds it: remembered as such.
    assert!(p.find(Name::Label("ghost"), http, |_| true).await.is_none());
    assert!(p.find(Name::Label("ghost"), http, |_| true).await.is_none());
    assert_eq!(asked.load(Ordering::SeqCst), 3);
    // Many asking at once about a name not known yet: one question.
    let ask = || p.find(Name::Label("app2"), http, |_| true);
    let answers = tokio::join!(ask(), ask(), ask(), ask(), ask());
    assert_eq!(answers, (None, None, None, None, None), "nobody holds app2");
    assert_eq!(asked.load(Ordering::SeqCst), 4);
    // A visitor who gives up mid-question leaves nothing behind: the next one asks again
    // (a stale record made every later question wait, then fail).
    // Polled once (the question goes out), then dropped.
    let gave_up = tokio::select! {
        biased;
        found = p.find(Name::Label("app3"), http, |_| true) => Some(found),
        () = std::future::ready(()) => None,
    };
    assert_eq!(gave_up, None, "cancelled before the answer");
    assert!(p.asking.lock().unwrap().is_empty());
    let before = asked.load(Ordering::SeqCst);
    assert!(p.find(Name::Label("app3"), http, |_| true).await.is_none());
    assert_eq!(asked.load(Ordering::SeqCst), before + 1, "asked again");
    // An expired answer still serves while no question can be answered.
    p.cache().get_mut("app").unwrap().until = Instant::now() - Duration::from_secs(1);
    down.store(true, Ordering::SeqCst);
    let stale = p
        .find(Name::Label("app"), http, |_| true)
        .await
        .map(|r| r.relay_id);
    assert_eq!(stale.as_deref(), Some("us-1"));
    let before = asked.load(Ordering::SeqCst);
    // What is not a label is never asked about.
    for bad in ["", "Upper", "a.b", "-x", &"l".repeat(64)] {
        assert!(p.find(Name::Label(bad), http, |_| true).await.is_none());
    }
    assert_eq!(asked.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn a_port_scan_spends_the_ports_budget_not_the_names() {
    let (control, asked, _down) = control().await;
    let p = Placements::new(control);
    // A scan of 300 ports nobody holds: the ports' burst is asked, then their rate.
    let started = Instant::now();
    for port in 30_000..30_300 {
        assert!(
            p.find(Name::Port(port), TunnelProto::Tcp, |_| true)
                .await
                .is_none()
        );
    }
    let refilled = started.elapsed().as_secs_f64() * f64::from(PORT_LOOKUPS_PER_SECOND);
    let scanned = asked.load(Ordering::SeqCst);
    let burst = 2 * PORT_LOOKUPS_PER_SECOND as usize;
    assert!(
        scanned >= burst && scanned as f64 <= burst as f64 + refilled.ceil() + 1.0,
        "{scanned} questions in {:?}",
        started.elapsed()
    );
    // Names are still asked about.
    let found = p
        .find(Name::Label("app"), TunnelProto::Http, |_| true)
        .await;
    assert_eq!(found.map(|r| r.relay_id).as_deref(), Some("us-1"));
    assert_eq!(asked.load(Ordering::SeqCst), scanned + 1);
}

#[tokio::test]
async fn ports_are_asked_about_in_this_relays_region_apart_from_labels() {
    let (control, asked, _down) = control().await;
    let p = Placements::new(control);
    let tcp = TunnelProto::Tcp;
    let found = p.find(Name::Port(20_005), tcp, |_| true).await;
    assert_eq!(found.map(|r| r.relay_id).as_deref(), Some("eu-2"));
    assert!(p.find(Name::Port(20_005), tcp, |_| true).await.is_some());
    assert_eq!(asked.load(Ordering::SeqCst), 1, "the answer is kept");
    // A label that reads like the port is another name.
    assert!(p.find(Name::Label("20005"), tcp, |_| true).await.is_none());
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert!(p.find(Name::Port(20_006), tcp, |_| true).await.is_none());
    p.forget(Name::Port(20_005));
    assert!(p.find(Name::Port(20_005), tcp, |_| true).await.is_some());
    assert_eq!(asked.load(Ordering::SeqCst), 4);
    // Port 0 is never asked about.
    assert!(p.find(Name::Port(0), tcp, |_| true).await.is_none());
    assert_eq!(asked.load(Ordering::SeqCst), 4);
}

fn relay(id: &str, region: &str, proto: TunnelProto) -> PlacedRelay {
    PlacedRelay {
        relay_id: id.into(),
        region: region.into(),
        agent_addr: format!("{id}.example:7443"),
        server_name: "relay.example".into(),
        proto,
    }
}

#[test]
fn picks_another_relay_of_the_right_kind_nearest_first() {
    let http = TunnelProto::Http;
    let all = [
        relay("eu-1", "eu", http),
        relay("eu-2", "eu", http),
        relay("us-1", "us", http),
    ];
    let not_eu1 = |r: &PlacedRelay| r.relay_id != "eu-1";
    for _ in 0..20 {
        let p = pick(&all, "eu", not_eu1).map(|r| r.relay_id);
        assert_eq!(p.as_deref(), Some("eu-2"), "its region first");
        // Elsewhere: any of the usable ones.
        let p = pick(&all, "ap", not_eu1).map(|r| r.relay_id);
        assert!(p.is_some_and(|id| id != "eu-1"));
    }
    // Without a usable one in the region, another region's.
    let p = pick(&all, "eu", |r| r.region == "us").map(|r| r.relay_id);
    assert_eq!(p.as_deref(), Some("us-1"));
    assert_eq!(pick(&all[..1], "eu", not_eu1), None);
    assert_eq!(pick(&all, "ap", |r| r.proto == TunnelProto::Tls), None);
    assert_eq!(pick(&[], "ap", |_| true), None);
}
