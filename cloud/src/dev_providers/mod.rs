//! Local stand-ins for the payment providers, speaking their documented APIs: PyPI's
//! localstripe behind an emulator of what it lacks ([`stripe`]), and fakes of Razorpay
//! ([`razorpay`]) and PayPal ([`paypal`]). The tests run against them, and `fdt-cloud dev`
//! starts them so a developer can click through checkout locally (test mode).

pub mod paypal;
pub mod razorpay;
pub mod stripe;

/// A listener on a free loopback port for a fake server, and its address (which the fake
/// needs before its routes exist: it links to itself).
pub async fn fake_listener(
    what: &str,
) -> std::io::Result<(tokio::net::TcpListener, std::net::SocketAddr)> {
    let on = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"));
    let listener = tokio::net::TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(on)?;
    let addr = listener.local_addr().map_err(on)?;
    Ok((listener, addr))
}

/// Serves `app` on `listener` until the task is aborted.
pub fn serve_fake(
    listener: tokio::net::TcpListener,
    app: axum::Router,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

/// The HTTP client a fake calls out with (its webhooks, the emulator's upstream): bounded in
/// time, so a receiver that hangs holds a fake's delivery up for 10 s at most.
pub fn fake_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}
