//! The real desktop app (`fdt-desktop`) under Xvfb, against a real stack (control plane,
//! relay over QUIC, local origin), driven the way a user drives it: the window through
//! WebKitWebDriver (sign in with an authtoken), the tray through the app's test hook (the
//! tray cannot be clicked under Xvfb, so the hook sends the same menu event), and the tunnel
//! through curl. Then: a second launch hands over to the first and exits; Quit from the tray
//! ends the app; the next launch brings the switched-on tunnel back by itself, with the
//! authtoken read back from the OS keyring (gnome-keyring's Secret Service on the test's own
//! session bus).
//!
//! Prints the app's idle memory and the time from launch to the first tunnel online, and
//! saves screenshots to `e2e/output/screenshots/desktop-*.png`.

use fdt_e2e::browser::screenshot_dir;
use fdt_e2e::desktop::{
    SessionBus, WebKitSession, Xvfb, app_binary, hook, hook_state, rss_kib, tree_rss_kib,
};
use fdt_e2e::{Cloud, HttpOrigin, poll_until};
use std::path::Path;
use std::time::{Duration, Instant};

const SUB: &str = "deskapp";

fn settings_toml(api_url: &str, origin: &str) -> String {
    format!(
        "api_url = {api_url:?}\ninspector_addr = \"127.0.0.1:0\"\nlast_id = 1\n\n\
         [[tunnels]]\nid = \"t1\"\nenabled = false\n\n[tunnels.def]\nname = \"web\"\n\
         proto = \"http\"\naddr = {origin:?}\nsubdomain = {SUB:?}\nbasic_auth = []\n\
         cidr_allow = []\ncidr_deny = []\n"
    )
}

async fn wait_online(sock: &Path, limit: Duration) -> anyhow::Result<String> {
    poll_until(limit, "tunnel online (hook state)", || async {
        let s = hook_state(sock).await.ok();
        s.and_then(|s| {
            let t = &s["tunnels"][0];
            (t["state"] == "online").then(|| t["public_url"].as_str().unwrap_or("").to_string())
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_app_exposes_a_tunnel_under_xvfb() {
    fdt_e2e::init_tracing();
    let bin = app_binary().unwrap();
    let xvfb = Xvfb::start().await.unwrap();
    let bus = SessionBus::start_with_keyring().await.unwrap();
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let (cloud, stack) = Cloud::with_attached_relay(db.store.clone()).await.unwrap();
    let account = cloud.account("app@example.com").await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let config_dir = home.path().join("fdt-desktop");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("settings.toml"),
        settings_toml(&cloud.url, &origin.addr.to_string()),
    )
    .unwrap();
    let sock = home.path().join("hook.sock");
    let env: Vec<(String, String)> = [
        ("DISPLAY", xvfb.display.clone()),
        ("DBUS_SESSION_BUS_ADDRESS", bus.address.clone()),
        ("FDT_DESKTOP_CONFIG_DIR", config_dir.display().to_string()),
        ("XDG_CONFIG_HOME", home.path().display().to_string()),
        (
            "XDG_DATA_HOME",
            home.path().join("data").display().to_string(),
        ),
        (
            "XDG_CACHE_HOME",
            home.path().join("cache").display().to_string(),
        ),
        (
            "FDT_DESKTOP_RELAY_CA",
            stack.ca_path().display().to_string(),
        ),
        ("FDT_DESKTOP_TEST_HOOK", sock.display().to_string()),
        // Software rendering: Xvfb has no GPU.
        ("WEBKIT_DISABLE_COMPOSITING_MODE", "1".into()),
        ("LIBGL_ALWAYS_SOFTWARE", "1".into()),
        ("RUST_LOG", "info,tao=warn,wry=warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();

    // 1. Launch through WebKitWebDriver; the window shows the sign-in page.
    let launched = Instant::now();
    let browser = WebKitSession::start(&bin, &env, &screenshot_dir().join("desktop-app.log"))
        .await
        .unwrap();
    let mounted_ms = browser.interactive().await.unwrap();
    let to_window = launched.elapsed();
    browser
        .fill("#f-authtoken", &account.authtoken_secret())
        .await
        .unwrap();
    browser
        .click_button("Sign in with authtoken")
        .await
        .unwrap();
    browser
        .wait_text("article[data-tunnel=web]", "web")
        .await
        .unwrap();
    // The authtoken went to the OS keyring (the Secret Service on the session bus), not to
    // a file.
    let s = hook_state(&sock).await.unwrap();
    assert_eq!(s["account"]["stored_in"], "keyring", "{s}");
    assert!(!config_dir.join("credentials.json").exists());
    xvfb.screenshot(&screenshot_dir().join("desktop-signed-in.png"))
        .await
        .unwrap();

    // 2. The tray's switch (same menu event as a click) puts the tunnel online; the window
    // follows without a reload.
    let toggled = Instant::now();
    assert_eq!(hook(&sock, "tray toggle:t1").await.unwrap(), "ok");
    let shown = browser
        .wait_text("article[data-tunnel=web] button.public-url", SUB)
        .await
        .unwrap();
    let toggle_to_online = toggled.elapsed();
    let url = wait_online(&sock, Duration::from_secs(10)).await.unwrap();
    assert!(
        shown.contains(&url) || url.contains(shown.trim()),
        "{shown} vs {url}"
    );
    let r = stack
        .curl(&stack.http_url(SUB, "/echo?from=desktop-app"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let problems = browser.accessibility_problems().await.unwrap();
    assert!(problems.is_empty(), "accessibility: {problems:#?}");
    let shot = screenshot_dir().join("desktop-tunnels.png");
    xvfb.screenshot(&shot).await.unwrap();

    // 3. Idle memory with one tunnel online.
    let pid: u32 = hook(&sock, "pid").await.unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = rss_kib(pid).unwrap();
    let tree = tree_rss_kib(pid).unwrap();

    // 4. A second launch hands over to the first and exits.
    let second = tokio::process::Command::new(&bin)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("FDT_DESKTOP_TEST_HOOK", home.path().join("second.sock"))
        .kill_on_drop(true)
        .status();
    let status = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("the second instance exits")
        .unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(
        hook(&sock, "pid").await.unwrap(),
        pid.to_string(),
        "the first still runs"
    );

    // 5. Quit from the tray ends the app (and its tunnel).
    let _ = hook(&sock, "tray quit").await;
    poll_until(Duration::from_secs(10), "app exited", || async {
        (!Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/status"))
                .is_ok_and(|s| s.contains("State:\tZ")))
        .then_some(())
    })
    .await
    .unwrap();
    // The agent said goodbye before the process ended: the URL is gone at once, not after the
    // relay's 30 s idle timeout.
    let r = stack
        .curl(&stack.http_url(SUB, "/echo"))
        .run()
        .await
        .unwrap();
    assert_ne!(r.status, 200, "the tunnel outlived the app");
    drop(browser);

    // 6. The next launch switches the saved tunnel back on by itself: launch → online.
    let _ = std::fs::remove_file(&sock);
    let launched = Instant::now();
    let mut app = tokio::process::Command::new(&bin)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url2 = wait_online(&sock, Duration::from_secs(30)).await.unwrap();
    let launch_to_online = launched.elapsed();
    assert!(url2.contains(SUB), "{url2}");
    let r = stack
        .curl(&stack.http_url(SUB, "/echo"))
        .run()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let _ = hook(&sock, "tray quit").await;
    let _ = tokio::time::timeout(Duration::from_secs(10), app.wait()).await;
    let _ = app.kill().await;

    println!(
        "desktop app: window interactive {mounted_ms:.0} ms after navigation ({} ms after launch); \
         tray switch → online {} ms; launch → first tunnel online {} ms; \
         idle RSS {} KiB (app) / {} KiB (app + WebKit processes); screenshot {}",
        to_window.as_millis(),
        toggle_to_online.as_millis(),
        launch_to_online.as_millis(),
        rss,
        tree,
        shot.display()
    );
}
