//! The agent's local inspector (the shared UI, mounted in the browser) in headless Chromium:
//! captured requests appear live, j/k/Enter select and open one, r replays it to the local
//! service, filters narrow the list. Screenshots in `e2e/output/screenshots/`.

use fdt_agent_core::InspectConfig;
use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::browser::Browser;
use fdt_e2e::inspect::inspected_agent;
use fdt_e2e::{HttpOrigin, Stack, StackOptions};
use fdt_proto::Proto;
use std::time::Duration;

async fn key(b: &Browser, key: &str) {
    b.js(&format!(
        "window.dispatchEvent(new KeyboardEvent('keydown', {{key: '{key}', bubbles: true}})); return 1;"
    ))
    .await
    .unwrap();
}

fn echoed(origin: &HttpOrigin, target: &str) -> usize {
    origin
        .stats
        .echoed
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, t, _)| t == target)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspector_in_chromium() {
    fdt_e2e::init_tracing();
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some("insp".into());
    let agent = inspected_agent(&stack, vec![("insp", t)], InspectConfig::default())
        .await
        .unwrap();
    let b = Browser::start().await.unwrap();
    let ms = b
        .open(&format!("http://{}/", agent.api_addr))
        .await
        .unwrap();
    b.wait_text("h1", "HTTP requests").await.unwrap();

    // Requests made after the page opened appear without a reload.
    for (method, path, body) in [
        ("GET", "/echo?n=1", ""),
        ("POST", "/echo?n=2", "{\"order\":2,\"ok\":true}"),
        ("GET", "/echo?n=3", ""),
    ] {
        let req = agent
            .http
            .request(method.parse().unwrap(), stack.http_url("insp", path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        assert_eq!(req.send().await.unwrap().status(), 200);
    }
    b.wait_text(".inspector-list", "/echo?n=3").await.unwrap();
    b.wait_text(".inspector-list", "/echo?n=1").await.unwrap();
    b.screenshot("20-inspector-live").await.unwrap();

    // Newest first: j selects n=3, j again n=2; Enter opens it.
    key(&b, "j").await;
    key(&b, "j").await;
    key(&b, "Enter").await;
    b.wait_text(".inspector-detail h2", "POST /echo?n=2")
        .await
        .unwrap();
    b.wait_text(".inspector-detail", "\"order\": 2")
        .await
        .unwrap();
    b.screenshot("21-inspector-detail").await.unwrap();

    // r replays the selected request to the local service.
    assert_eq!(echoed(&origin, "/echo?n=2"), 1);
    key(&b, "r").await;
    b.until(Duration::from_secs(15), "replay at the origin", || async {
        (echoed(&origin, "/echo?n=2") == 2).then_some(())
    })
    .await
    .unwrap();

    // Filters narrow the list to the POSTs (the original and its replay).
    b.fill("#flt-method", "POST").await.unwrap();
    b.click(".filters button[type=submit]").await.unwrap();
    b.until(Duration::from_secs(10), "only POST rows", || async {
        let rows = b.js("return Array.from(document.querySelectorAll('.inspector-row')).map(r => r.textContent);").await.ok()?;
        let rows = rows.as_array()?.clone();
        (rows.len() == 2 && rows.iter().all(|r| r.as_str().is_some_and(|t| t.contains("POST"))))
            .then_some(())
    })
    .await
    .unwrap();
    b.screenshot("22-inspector-filtered").await.unwrap();
    assert_eq!(
        b.accessibility_problems().await.unwrap(),
        Vec::<String>::new()
    );
    // The audit itself finds what it looks for: an unlabelled field and faint text (styled
    // through the CSSOM: the page's CSP refuses inline style attributes).
    b.js("const d = document.createElement('div'); d.id = 'bad'; \
          d.innerHTML = '<input id=nolabel><p>faint</p>'; \
          document.querySelector('main').appendChild(d); \
          const p = d.querySelector('p'); p.style.color = '#ccc'; p.style.background = '#fff'; \
          return 1;")
        .await
        .unwrap();
    let problems = b.accessibility_problems().await.unwrap();
    assert!(
        problems.iter().any(|p| p.starts_with("unlabelled")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("contrast")),
        "{problems:?}"
    );
    println!("inspector interactive after {ms:.0} ms");
    b.close().await.unwrap();
    drop(agent);
    stack.shutdown().await.unwrap();
}
