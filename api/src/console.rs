//! `/console`: the admin console's assets (built from `console/` in the repository and
//! committed in `console/dist`), embedded in the binary so that serving it needs no Node.
//! Each answer carries its ETag (the file's SHA-256) and is revalidated with
//! `If-None-Match`; where the build wrote a gzip twin (`app.js.gz`) and the client
//! accepts gzip, that is sent instead. The console is a static page: everything it shows
//! comes from the API with the admin's bearer token, which never appears in a URL.

use axum::Router;
use axum::extract::Path;
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, LOCATION, REFERRER_POLICY, VARY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use yunqiao_core::Code;

use crate::AppState;
use crate::error::error;

#[derive(rust_embed::Embed)]
#[folder = "../console/dist/"]
struct Assets;

/// Where the console is served.
pub const PREFIX: &str = "/console";

/// What the page may load and reach: its own assets, the API and live channel on this
/// origin, and images from anywhere a file's URL points (S3 on AWS).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob: https: http:; connect-src 'self' ws: wss:; \
frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `/console`, `/console/` and its assets. Not API routes (no OpenAPI entry): pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(PREFIX, get(redirect))
        .route("/console/", get(index))
        .route("/console/{*path}", get(asset))
}

async fn redirect() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(LOCATION, HeaderValue::from_static("/console/"))],
    )
        .into_response()
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT_ENCODING).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|coding| {
                let mut parts = coding.split(';');
                let name = parts.next().unwrap_or("").trim();
                // `gzip;q=0` says no.
                let refused = parts.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
                });
                (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
            })
        })
    })
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(IF_NONE_MATCH).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
            })
        })
    })
}

/// One asset, its gzip twin when the client takes it, or 304 when the client's copy is
/// current. `.gz` files are twins, not assets of their own.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let plain = (!path.ends_with(".gz") && !path.contains(".."))
        .then(|| Assets::get(path))
        .flatten();
    let Some(plain) = plain else {
        return error(Code::NotFound, "no such console asset").into_response();
    };
    let gz = accepts_gzip(headers)
        .then(|| Assets::get(&format!("{path}.gz")))
        .flatten();
    let (file, encoding) = match gz {
        Some(gz) => (gz, Some("gzip")),
        None => (plain, None),
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let mut res = if not_modified(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut res = file.data.into_owned().into_response();
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
        if let Some(e) = encoding {
            res.headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static(e));
        }
        res
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    // Names do not change between builds: every use revalidates (a 304 when unchanged).
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn gzip_is_taken_only_when_accepted() {
        assert!(accepts_gzip(&headers(&[("accept-encoding", "br, gzip")])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "GZIP;q=0.5")])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "*")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "br")])));
        assert!(!accepts_gzip(&headers(&[])));
    }

    #[test]
    fn if_none_match_compares_tags() {
        let h = headers(&[("if-none-match", "\"a\", W/\"b\"")]);
        assert!(not_modified(&h, "\"a\""));
        assert!(not_modified(&h, "\"b\""));
        assert!(!not_modified(&h, "\"c\""));
        assert!(not_modified(&headers(&[("if-none-match", "*")]), "\"c\""));
    }

    #[test]
    fn twins_and_climbs_are_not_assets() {
        for p in ["index.html.gz", "../Cargo.toml", "nothing.js"] {
            let r = serve(p, &HeaderMap::new());
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{p}");
        }
        let r = serve("index.html", &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
}
