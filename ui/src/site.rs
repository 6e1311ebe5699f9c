//! Serving the UI's static files: `/assets/fdt.css` (compiled in) and the wasm bundle under
//! `/pkg/` (built by `scripts/build-ui.sh` into a site directory).
//!
//! Files are read once at start and kept in memory (the bundle is a few hundred KiB). URLs
//! carry `?v=<hash of the bytes>`: a request with the current version is cached for a year
//! (`immutable`); any other must revalidate (`no-cache`, answered by `ETag`). A `.gz` twin
//! written by the build is sent to clients that accept gzip.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use crate::shell::{Assets, BUNDLE_NAME};

/// Environment variable naming the site directory (it holds `pkg/`).
pub const SITE_ENV: &str = "FDT_UI_SITE";

#[derive(Debug)]
struct File {
    content_type: &'static str,
    body: Vec<u8>,
    gzip: Option<Vec<u8>>,
    brotli: Option<Vec<u8>>,
    version: String,
}

/// The UI's static files, loaded.
#[derive(Debug, Clone)]
pub struct Site {
    files: Arc<HashMap<String, File>>,
    assets: Assets,
    dir: Option<PathBuf>,
}

/// The value of cookie `name` in a request's `Cookie` headers, if present and not empty. (The
/// theme cookie the pages set is read by every server of them; the cloud also reads its
/// sign-in cookie with it.)
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The theme the `fdt_theme` cookie asks for (the pages' theme toggle sets it).
pub fn cookie_theme(headers: &HeaderMap) -> crate::boot::Theme {
    cookie(headers, THEME_COOKIE).map_or_else(Default::default, crate::boot::Theme::parse)
}

/// The cookie the pages' theme toggle sets.
pub const THEME_COOKIE: &str = "fdt_theme";

/// FNV-1a, 64 bits, as 16 hex digits: a stable content hash for cache busting.
pub fn content_version(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Site {
    /// Loads the stylesheet and, when `dir` holds a built bundle (`pkg/fdt_ui.js` and
    /// `pkg/fdt_ui_bg.wasm`), the bundle. Without one, pages render without scripts.
    pub fn load(dir: Option<&FsPath>) -> Self {
        let mut files = HashMap::new();
        let css = crate::STYLESHEET.as_bytes().to_vec();
        let css_version = content_version(&css);
        files.insert(
            "assets/fdt.css".to_owned(),
            File {
                content_type: "text/css; charset=utf-8",
                body: css,
                gzip: None,
                brotli: None,
                version: css_version.clone(),
            },
        );
        let mut bundle_version = None;
        if let Some(dir) = dir {
            let js = std::fs::read(dir.join(format!("pkg/{BUNDLE_NAME}.js")));
            let wasm = std::fs::read(dir.join(format!("pkg/{BUNDLE_NAME}_bg.wasm")));
            match (js, wasm) {
                (Ok(js), Ok(wasm)) => {
                    // One version for both: the JS glue and the wasm must match.
                    let mut all = js.clone();
                    all.extend_from_slice(&wasm);
                    let version = content_version(&all);
                    for (name, body, ct) in [
                        (
                            format!("{BUNDLE_NAME}.js"),
                            js,
                            "text/javascript; charset=utf-8",
                        ),
                        (format!("{BUNDLE_NAME}_bg.wasm"), wasm, "application/wasm"),
                    ] {
                        let gzip = std::fs::read(dir.join(format!("pkg/{name}.gz"))).ok();
                        let brotli = std::fs::read(dir.join(format!("pkg/{name}.br"))).ok();
                        files.insert(
                            format!("pkg/{name}"),
                            File {
                                content_type: ct,
                                body,
                                gzip,
                                brotli,
                                version: version.clone(),
                            },
                        );
                    }
                    bundle_version = Some(version);
                }
                (js, wasm) => {
                    tracing::warn!(
                        dir = %dir.display(),
                        js = ?js.err().map(|e| e.to_string()),
                        wasm = ?wasm.err().map(|e| e.to_string()),
                        "UI bundle not found: pages are served without scripts (run scripts/build-ui.sh)"
                    );
                }
            }
        }
        Self {
            files: Arc::new(files),
            assets: Assets {
                css_version,
                bundle_version,
            },
            dir: dir.map(FsPath::to_path_buf),
        }
    }

    /// Loads from [`Site::discover`]'s directory.
    pub fn load_default() -> Self {
        Self::load(Self::discover().as_deref())
    }

    /// Where the built site is: `$FDT_UI_SITE`, else `site/` next to the executable's
    /// directory (`target/site` for `target/release/fdt`), else `/usr/share/fdt/site`.
    pub fn discover() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os(SITE_ENV) {
            return Some(PathBuf::from(dir));
        }
        let exe = std::env::current_exe().ok()?;
        let exe_dir = exe.parent()?;
        let candidates = [
            exe_dir.join("site"),
            exe_dir.parent().map(|p| p.join("site")).unwrap_or_default(),
            // Test binaries live one level deeper (target/debug/deps).
            exe_dir
                .parent()
                .and_then(FsPath::parent)
                .map(|p| p.join("site"))
                .unwrap_or_default(),
            PathBuf::from("/usr/share/fdt/site"),
        ];
        candidates.into_iter().find(|c| {
            c.join("pkg")
                .join(format!("{BUNDLE_NAME}_bg.wasm"))
                .is_file()
        })
    }

    /// What documents link to.
    pub fn assets(&self) -> Assets {
        self.assets.clone()
    }

    /// The directory the bundle came from, if any.
    pub fn dir(&self) -> Option<&FsPath> {
        self.dir.as_deref()
    }

    /// Routes for `/assets/{file}` and `/pkg/{file}`.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new()
            .route("/assets/{file}", get(serve_asset))
            .route("/pkg/{file}", get(serve_pkg))
            .with_state(self.clone())
    }

    fn respond(&self, key: &str, query: Option<&str>, headers: &HeaderMap) -> Response {
        let Some(file) = self.files.get(key) else {
            return (StatusCode::NOT_FOUND, "no such file").into_response();
        };
        let etag = format!("\"{}\"", file.version);
        let versioned = query
            .unwrap_or_default()
            .split('&')
            .any(|p| p == format!("v={}", file.version));
        let cache = if versioned {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        let mut resp = if headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
        {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let accepts = |coding: &str| {
                headers
                    .get(header::ACCEPT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| {
                        v.split(',').any(|e| {
                            let mut parts = e.split(';');
                            parts.next().is_some_and(|c| c.trim() == coding)
                                && !parts.any(|p| p.trim().replace(' ', "") == "q=0")
                        })
                    })
            };
            let encoded = [("br", &file.brotli), ("gzip", &file.gzip)]
                .into_iter()
                .find_map(|(coding, body)| {
                    body.as_ref()
                        .filter(|_| accepts(coding))
                        .map(|b| (coding, b))
                });
            match encoded {
                Some((coding, body)) => {
                    let mut r = Response::new(Body::from(body.clone()));
                    r.headers_mut()
                        .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
                    r
                }
                None => Response::new(Body::from(file.body.clone())),
            }
        };
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.content_type),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        resp
    }
}

async fn serve_asset(
    State(site): State<Site>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    site.respond(&format!("assets/{file}"), q.as_deref(), &headers)
}

async fn serve_pkg(
    State(site): State<Site>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    site.respond(&format!("pkg/{file}"), q.as_deref(), &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_stable_and_content_bound() {
        assert_eq!(content_version(b""), "cbf29ce484222325");
        assert_ne!(content_version(b"a"), content_version(b"b"));
        let site = Site::load(None);
        assert!(site.assets().bundle_version.is_none());
        assert_eq!(
            site.assets().css_version,
            content_version(crate::STYLESHEET.as_bytes())
        );
    }

    #[test]
    fn cache_headers_follow_the_version() {
        let site = Site::load(None);
        let v = site.assets().css_version;
        let r = site.respond("assets/fdt.css", Some(&format!("v={v}")), &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
        let r = site.respond("assets/fdt.css", Some("v=old"), &HeaderMap::new());
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"{v}\"")).expect("etag"),
        );
        assert_eq!(
            site.respond("assets/fdt.css", None, &h).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            site.respond("pkg/../../etc/passwd", None, &h).status(),
            StatusCode::NOT_FOUND
        );
    }
}

#[cfg(test)]
mod bundle_tests {
    use super::*;

    #[test]
    fn serves_the_best_encoding_the_client_accepts() {
        let dir = std::env::temp_dir().join(format!("fdt-site-test-{}", std::process::id()));
        let pkg = dir.join("pkg");
        std::fs::create_dir_all(&pkg).expect("pkg dir");
        for (name, body) in [
            ("fdt_ui.js", "js"),
            ("fdt_ui_bg.wasm", "wasm"),
            ("fdt_ui_bg.wasm.gz", "gz"),
            ("fdt_ui_bg.wasm.br", "br"),
        ] {
            std::fs::write(pkg.join(name), body).expect("write");
        }
        let site = Site::load(Some(&dir));
        assert!(site.assets().bundle_version.is_some());
        let get = |ae: &str| {
            let mut h = HeaderMap::new();
            if !ae.is_empty() {
                h.insert(
                    header::ACCEPT_ENCODING,
                    HeaderValue::from_str(ae).expect("header"),
                );
            }
            let r = site.respond("pkg/fdt_ui_bg.wasm", None, &h);
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/wasm");
            r.headers()
                .get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap_or_default().to_owned())
        };
        assert_eq!(get("gzip, deflate, br, zstd").as_deref(), Some("br"));
        assert_eq!(get("gzip").as_deref(), Some("gzip"));
        assert_eq!(get("br;q=0, gzip").as_deref(), Some("gzip"));
        assert_eq!(get(""), None);
        // The JS glue has no compressed twin here: sent as is.
        let r = site.respond("pkg/fdt_ui.js", None, &HeaderMap::new());
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
