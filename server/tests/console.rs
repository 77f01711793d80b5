//! The admin console's assets (`/console`, issue 25) on every face: the same bytes as the
//! committed `console/dist`, gzip when asked, ETags and 304s, security headers; and
//! `GET /v1/admin/about`, the console's health page, for admins only.

mod common;

use common::{ADMIN_KEY, Api, Server};
use reqwest::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    LOCATION,
};

on_every_face!(
    console_assets_are_served_compressed_with_etags,
    about_says_what_runs_for_admins_only,
    sockets_take_the_token_as_a_subprotocol,
);

fn dist(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../console/dist")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn console_assets_are_served_compressed_with_etags(s: Server) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(s.url("/console")).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()[LOCATION], "/console/");

    let r = http.get(s.url("/console/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = r.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.bytes().await.unwrap(), dist("index.html"));

    for name in ["app.js", "app.css", "index.html"] {
        let path = format!("/console/{name}");
        // Plain: the committed bytes.
        let r = http.get(s.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers().get(CONTENT_ENCODING).is_none(), "{path}");
        let plain_tag = r.headers()[ETAG].to_str().unwrap().to_string();
        assert_eq!(r.bytes().await.unwrap(), dist(name), "{path}");
        // Gzip when asked: the committed twin, with a tag of its own.
        let r = http
            .get(s.url(&path))
            .header(ACCEPT_ENCODING, "br, gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()[CONTENT_ENCODING], "gzip", "{path}");
        let gz_tag = r.headers()[ETAG].to_str().unwrap().to_string();
        assert_ne!(gz_tag, plain_tag, "{path}");
        let body = r.bytes().await.unwrap();
        assert_eq!(body, dist(&format!("{name}.gz")), "{path}");
        assert!(body.len() < dist(name).len(), "{path}: gzip is smaller");
        // Revalidation: the current tag is 304 without a body, an old one 200.
        for (encoding, tag) in [("identity", &plain_tag), ("gzip", &gz_tag)] {
            let r = http
                .get(s.url(&path))
                .header(ACCEPT_ENCODING, encoding)
                .header(IF_NONE_MATCH, tag.as_str())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 304, "{path} {encoding}");
            assert!(r.bytes().await.unwrap().is_empty());
        }
        let r = http
            .get(s.url(&path))
            .header(IF_NONE_MATCH, "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // Twins and anything else are not assets; the error is the API's JSON 404.
    for path in [
        "/console/app.js.gz",
        "/console/nothing.js",
        "/console/../Cargo.toml",
    ] {
        let r = http.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = http.post(s.url("/console/app.js")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

async fn about_says_what_runs_for_admins_only(s: Server) {
    let api = Api::new(&s.base);
    let r = api
        .call("GET", "/v1/admin/about", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (face, store) = if s.lambda.is_some() {
        ("lambda", "dynamodb")
    } else if s.scan_limit == common::EMULATOR_SCAN_LIMIT {
        ("server", "dynamodb")
    } else {
        ("server", "embedded")
    };
    assert_eq!(r.body["face"], face, "{}", r.text);
    assert_eq!(r.body["store"], store, "{}", r.text);
    assert_eq!(r.body["version"], env!("CARGO_PKG_VERSION"));
    // Where the console opens its socket: API Gateway's on AWS, this origin's here.
    if s.lambda.is_some() {
        assert_eq!(r.body["live_url"], s.ws_url.as_str(), "{}", r.text);
    } else {
        assert!(r.body.get("live_url").is_none(), "{}", r.text);
    }
    assert!(r.body["wechat"].is_string());
    assert!(r.body["files"].as_bool().unwrap());
    let r = api.call("GET", "/v1/admin/about", None, None).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "{}", r.text);
    let (user, _) = api.login("mock:about-user:1").await;
    let r = api.call("GET", "/v1/admin/about", Some(&user), None).await;
    assert_eq!(r.status, 403, "{}", r.text);
}

/// The console's socket sends its token as the subprotocol `bearer.<token>` beside
/// `yunqiao.v1` (no token in a URL); the server picks `yunqiao.v1` (on AWS, `$connect`
/// names it and API Gateway answers with it). A bad token there is refused as in the
/// query.
async fn sockets_take_the_token_as_a_subprotocol(s: Server) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::{Error, Message};
    let request = |protocols: &str| {
        let mut req = s.ws_url.as_str().into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            protocols.parse().expect("header value"),
        );
        req
    };
    let (mut ws, res) =
        tokio_tungstenite::connect_async(request(&format!("yunqiao.v1, bearer.{ADMIN_KEY}")))
            .await
            .expect("the socket opens");
    assert_eq!(res.headers()["sec-websocket-protocol"], "yunqiao.v1");
    ws.send(Message::Text(r#"{"type":"hello","id":"h"}"#.into()))
        .await
        .unwrap();
    let frame = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("an answer")
            .expect("open")
            .expect("a frame")
        {
            Message::Text(t) => break serde_json::from_str::<serde_json::Value>(&t).unwrap(),
            _ => continue,
        }
    };
    assert_eq!(
        (frame["type"].as_str(), frame["id"].as_str()),
        (Some("ack"), Some("h")),
        "{frame}"
    );
    for bad in [
        "yunqiao.v1, bearer.nope-0123456789abcdef",
        "yunqiao.v1",
        "yunqiao.v1, bearer.",
    ] {
        match tokio_tungstenite::connect_async(request(bad)).await {
            Err(Error::Http(r)) => assert_eq!(r.status(), 401, "{bad}"),
            Err(e) => panic!("{bad}: {e}"),
            Ok(_) => panic!("{bad}: accepted"),
        }
    }
}
