//! Visitors: the `curl` binary, raw HTTP/1.1 over TCP, and rustls clients.

use crate::pattern::{CHUNK, Pattern};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Default limit for one curl run.
const CURL_TIMEOUT: Duration = Duration::from_secs(30);

/// A `curl` invocation, built up and then run with a bounded time.
#[derive(Debug, Clone)]
pub struct Curl {
    url: String,
    args: Vec<OsString>,
    timeout: Duration,
}

/// What curl received.
#[derive(Debug, Clone)]
pub struct CurlResponse {
    /// HTTP status (0 if none was received).
    pub status: u16,
    /// `%{http_version}`: `1.1`, `2`…
    pub http_version: String,
    /// Headers of the final response, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl CurlResponse {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .map_err(|e| anyhow::anyhow!("body is not JSON ({e}): {}", self.text()))
    }

    /// `error.code` of a relay error body.
    pub fn error_code(&self) -> Option<String> {
        let v = self.json().ok()?;
        v["error"]["code"].as_str().map(str::to_string)
    }
}

impl Curl {
    /// `curl -sS URL`; a `*.localhost` host in the URL is resolved to 127.0.0.1.
    pub fn new(url: &str) -> Self {
        let mut c = Self {
            url: url.to_string(),
            args: vec!["-sS".into()],
            timeout: CURL_TIMEOUT,
        };
        if let Some((host, port)) = host_port(url)
            && (host == "localhost" || host.ends_with(".localhost"))
        {
            c = c.resolve(&host, port);
        }
        c
    }

    /// Adds an argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Adds several arguments.
    pub fn args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds `-H header`.
    pub fn header(self, h: &str) -> Self {
        self.arg("-H").arg(h)
    }

    /// Adds `--resolve host:port:127.0.0.1`.
    pub fn resolve(self, host: &str, port: u16) -> Self {
        self.arg("--resolve")
            .arg(format!("{host}:{port}:127.0.0.1"))
    }

    /// Adds `--cacert path`.
    pub fn cacert(self, path: &Path) -> Self {
        self.arg("--cacert").arg(path)
    }

    /// Changes the time limit (default 30 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("curl");
        cmd.args(&self.args)
            .arg("--max-time")
            .arg(self.timeout.as_secs().max(1).to_string())
            .kill_on_drop(true)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs curl and collects status, headers and body.
    pub async fn run(self) -> anyhow::Result<CurlResponse> {
        self.run_with_stdin(None).await
    }

    /// Uploads the first `n` bytes of the pattern for `seed` (`-T -`, streamed through
    /// curl's stdin); returns the response and the hex SHA-256 of what was sent.
    pub async fn upload_pattern(self, seed: u64, n: u64) -> anyhow::Result<(CurlResponse, String)> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let resp = self
            .arg("-T")
            .arg("-")
            .run_with_stdin(Some(Box::new(move |mut stdin| {
                Box::pin(async move {
                    let mut p = Pattern::new(seed);
                    let mut h = Sha256::new();
                    let mut buf = vec![0u8; CHUNK];
                    let mut left = n;
                    while left > 0 {
                        let k = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
                        p.fill(&mut buf[..k]);
                        h.update(&buf[..k]);
                        stdin.write_all(&buf[..k]).await?;
                        left -= k as u64;
                    }
                    stdin.shutdown().await?;
                    let _ = tx.send(crate::hex(&h.finalize()));
                    Ok(())
                })
            })))
            .await?;
        let sent = rx
            .await
            .map_err(|_| anyhow::anyhow!("upload writer did not finish"))?;
        Ok((resp, sent))
    }

    async fn run_with_stdin(self, feed: Option<StdinFeeder>) -> anyhow::Result<CurlResponse> {
        let tmp = tempfile::tempdir()?;
        let (body_path, head_path) = (tmp.path().join("body"), tmp.path().join("head"));
        let mut cmd = self.command();
        cmd.arg("-o")
            .arg(&body_path)
            .arg("-D")
            .arg(&head_path)
            .arg("-w")
            .arg("%{http_code} %{http_version}\\n")
            .arg(&self.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if feed.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn()?;
        let writer = match (feed, child.stdin.take()) {
            (Some(f), Some(stdin)) => Some(tokio::spawn(f(stdin))),
            _ => None,
        };
        let out = crate::within(
            self.timeout + Duration::from_secs(5),
            "curl",
            child.wait_with_output(),
        )
        .await??;
        if let Some(w) = writer {
            w.await??;
        }
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // With several URLs, each transfer prints a line; the last one describes the last.
        let last = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let (code, version) = last.split_once(' ').unwrap_or((last, ""));
        let status: u16 = code.trim().parse().unwrap_or(0);
        if !out.status.success() && status == 0 {
            anyhow::bail!(
                "curl {} failed ({}): {}",
                self.url,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let head = std::fs::read_to_string(&head_path).unwrap_or_default();
        Ok(CurlResponse {
            status,
            http_version: version.trim().to_string(),
            headers: parse_last_head(&head),
            body: std::fs::read(&body_path).unwrap_or_default(),
        })
    }

    /// Downloads with `--fail`, hashing curl's stdout as it streams; returns (length, hex SHA-256).
    pub async fn download_sha256(self) -> anyhow::Result<(u64, String)> {
        let mut cmd = self.command();
        cmd.arg("--fail")
            .arg("-o")
            .arg("-")
            .arg(&self.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let hash = async {
            let mut h = Sha256::new();
            let mut buf = vec![0u8; CHUNK];
            let mut len = 0u64;
            loop {
                let n = stdout.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                len += n as u64;
            }
            Ok::<_, std::io::Error>((len, crate::hex(&h.finalize())))
        };
        let limit = self.timeout + Duration::from_secs(5);
        let result = crate::within(limit, "curl download", hash).await??;
        let out = crate::within(limit, "curl exit", child.wait_with_output()).await??;
        if !out.status.success() {
            anyhow::bail!(
                "curl {} failed ({}): {}",
                self.url,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(result)
    }

    /// Starts curl with `-N` (no output buffering) and its body on a piped stdout, for tests
    /// that read a response as it streams. The child is killed when dropped.
    pub fn spawn_streaming(self) -> anyhow::Result<Child> {
        let mut cmd = self.command();
        cmd.arg("-N")
            .arg(&self.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        Ok(cmd.spawn()?)
    }
}

type StdinFeeder = Box<
    dyn FnOnce(
            tokio::process::ChildStdin,
        ) -> Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>
        + Send,
>;

/// `(host, port)` of an `http(s)://host:port/...` URL.
fn host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, if scheme == "https" { 443 } else { 80 }),
    };
    Some((host.to_ascii_lowercase(), port))
}

/// Headers of the last response block in a `curl -D` dump (skips `100 Continue` and the like).
fn parse_last_head(dump: &str) -> Vec<(String, String)> {
    let block = dump
        .split("\r\n\r\n")
        .filter(|b| b.trim_start().starts_with("HTTP/"))
        .last()
        .unwrap_or("");
    block
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// A response read from a raw TCP exchange.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// The response head (status line and headers) as text.
    pub head: String,
    /// Everything after the head.
    pub body: Vec<u8>,
}

/// Sends `request` bytes to `addr` and reads until the server closes (send
/// `Connection: close`), bounded by 10 s.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> anyhow::Result<RawResponse> {
    crate::within(Duration::from_secs(10), "raw HTTP exchange", async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(request).await?;
        let mut buf = Vec::new();
        // A reset after the response (unread request bytes) still leaves the response.
        let _ = s.read_to_end(&mut buf).await;
        let end = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| {
                anyhow::anyhow!("no response head in {:?}", String::from_utf8_lossy(&buf))
            })?;
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("bad status line: {head}"))?;
        Ok(RawResponse {
            status,
            head,
            body: buf[end + 4..].to_vec(),
        })
    })
    .await?
}

/// A rustls client configuration trusting only the CA in `ca_pem`.
pub fn tls_client_config(ca_pem: &str) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    crate::install_crypto();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(ca_pem)? {
        roots.add(cert)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

fn rustls_pemfile_certs(
    pem: &str,
) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    Ok(
        rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()?,
    )
}

/// Wraps a stream so that its first `limit` written bytes go out `chunk` bytes per write, with
/// `gap` between writes: a TLS ClientHello then reaches the peer in many TCP segments.
#[derive(Debug)]
pub struct ChunkedStart<S> {
    inner: S,
    remaining: usize,
    chunk: usize,
    gap: Duration,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Number of writes issued while chunking.
    pub writes: usize,
}

impl<S> ChunkedStart<S> {
    /// Chunks the first `limit` bytes into writes of at most `chunk` bytes, `gap` apart.
    pub fn new(inner: S, limit: usize, chunk: usize, gap: Duration) -> Self {
        Self {
            inner,
            remaining: limit,
            chunk: chunk.max(1),
            gap,
            pause: None,
            writes: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ChunkedStart<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ChunkedStart<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        if let Some(p) = this.pause.as_mut() {
            ready!(p.as_mut().poll(cx));
            this.pause = None;
        }
        let n = buf.len().min(this.chunk).min(this.remaining);
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..n]))?;
        this.remaining -= written;
        this.writes += 1;
        if this.remaining > 0 {
            this.pause = Some(Box::pin(tokio::time::sleep(this.gap)));
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A WebSocket client connection to `ws://{host}:{port}{path}` through the edge at `edge`,
/// with the handshake bounded to 10 s; the answer is the edge's 101 response.
pub async fn websocket(
    edge: SocketAddr,
    host: &str,
    path: &str,
) -> anyhow::Result<(
    tokio_tungstenite::WebSocketStream<TcpStream>,
    tokio_tungstenite::tungstenite::handshake::client::Response,
)> {
    let tcp = TcpStream::connect(edge).await?;
    let url = format!("ws://{host}:{}{path}", edge.port());
    let ws = crate::within(
        Duration::from_secs(10),
        "websocket handshake",
        tokio_tungstenite::client_async(url, tcp),
    )
    .await??;
    Ok(ws)
}
