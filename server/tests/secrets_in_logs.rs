//! No secret reaches a log line: the app secret and access tokens on WeChat's failure
//! paths, session tokens, WeChat session keys and the admin key on every request path,
//! at the most verbose log level.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::Api;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const ADMIN_KEY: &str = "log-test-admin-key-7f3a9c1e5b2d";
const APP_SECRET: &str = "s3cr3t-app-secret-0c9f1a7e2b64d";

/// Runs `yunqiao serve` with debug logs in both formats' worth of detail, hands its base
/// URL to `work`, then answers everything it wrote.
async fn logs_of<F, Fut>(env: &[(&str, &str)], work: F) -> String
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_yunqiao"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path())
        .current_dir(tmp.path())
        .env_remove("YUNQIAO_CONFIG")
        .env("YUNQIAO_ADMIN_KEY", ADMIN_KEY)
        .env("YUNQIAO_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let err = BufReader::new(child.stderr.take().unwrap());
    let errs = tokio::spawn(async move {
        let mut lines = err.lines();
        let mut all = String::new();
        while let Ok(Some(l)) = lines.next_line().await {
            all.push_str(&l);
            all.push('\n');
        }
        all
    });
    let mut logged = String::new();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(l) = out.next_line().await.unwrap() {
            logged.push_str(&l);
            logged.push('\n');
            if let Some(u) = l.strip_prefix("yunqiao listening on ") {
                return u.trim().to_string();
            }
        }
        panic!("yunqiao exited before listening");
    })
    .await
    .expect("listening within 30 s");
    let outs = tokio::spawn(async move {
        let mut all = String::new();
        while let Ok(Some(l)) = out.next_line().await {
            all.push_str(&l);
            all.push('\n');
        }
        all
    });
    work(base).await;
    // Let the last lines out, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    logged + &outs.await.unwrap() + &errs.await.unwrap()
}

#[tokio::test]
async fn wechat_failures_log_no_app_secret() {
    // A closed port: every WeChat call fails in transport.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let api_base = format!("http://{closed}");
    let logs = logs_of(
        &[
            ("YUNQIAO_WECHAT_APPID", "wx0123456789abcdef"),
            ("YUNQIAO_WECHAT_SECRET", APP_SECRET),
            ("YUNQIAO_WECHAT_API_BASE", &api_base),
        ],
        |base| async move {
            let api = Api::new(&base);
            let r = api
                .call(
                    "POST",
                    "/v1/auth/login",
                    None,
                    Some(json!({"code": "0a1b2c3d"})),
                )
                .await;
            assert_eq!(
                (r.status, r.code()),
                (503, "WECHAT_UNAVAILABLE"),
                "{}",
                r.text
            );
            assert!(!r.text.contains(APP_SECRET), "{}", r.text);
        },
    )
    .await;
    assert!(
        logs.contains("jscode2session") || logs.contains("wechat"),
        "the failure is logged at all:\n{logs}"
    );
    assert!(
        !logs.contains(APP_SECRET),
        "the app secret is in the logs:\n{logs}"
    );
}

#[tokio::test]
async fn request_paths_log_no_token_or_key() {
    let mut seen = Vec::new();
    let logs = logs_of(&[], |base| {
        let seen = &mut seen;
        async move {
            let api = Api::new(&base);
            let login = api
                .call(
                    "POST",
                    "/v1/auth/login",
                    None,
                    Some(json!({"code": "mock:alice"})),
                )
                .await;
            let token = login.body["token"].as_str().unwrap().to_string();
            seen.push(token.clone());
            let ws = format!("{}/v1/ws?token={token}", base.replacen("http", "ws", 1));
            let (mut sock, _) = tokio_tungstenite::connect_async(&ws).await.unwrap();
            use futures_util::SinkExt;
            sock.send(tokio_tungstenite::tungstenite::Message::Text(
                json!({"type": "subscribe", "topic": "room.1", "id": 1})
                    .to_string()
                    .into(),
            ))
            .await
            .unwrap();
            let r = api.call("GET", "/v1/auth/me", Some(&token), None).await;
            assert_eq!(r.status, 200);
            let r = api
                .call("GET", "/v1/admin/users", Some(ADMIN_KEY), None)
                .await;
            assert_eq!(r.status, 200);
            let r = api
                .call("POST", "/v1/auth/refresh", Some(&token), None)
                .await;
            let fresh = r.body["token"].as_str().unwrap().to_string();
            seen.push(fresh.clone());
            let r = api
                .call("POST", "/v1/auth/logout", Some(&fresh), None)
                .await;
            assert_eq!(r.status, 204);
            // Bad and stale tokens on every kind of route.
            for t in [token.as_str(), fresh.as_str(), "yq_not-a-real-token"] {
                api.call("GET", "/v1/auth/me", Some(t), None).await;
                api.call("POST", "/v1/tables/x/query", Some(t), Some(json!({})))
                    .await;
            }
            let _ = tokio_tungstenite::connect_async(&ws).await;
        }
    })
    .await;
    assert!(
        logs.contains("request"),
        "requests are logged at all:\n{logs}"
    );
    for secret in seen.iter().map(String::as_str).chain([ADMIN_KEY]) {
        assert!(!logs.contains(secret), "{secret} is in the logs:\n{logs}");
    }
    // Nor the hashes that key the sessions, nor WeChat's session key.
    assert!(
        !logs.contains("session#"),
        "a session key is in the logs:\n{logs}"
    );
    assert!(!logs.contains("session_key"), "{logs}");
}

#[tokio::test]
async fn cloud_functions_log_no_secret() {
    const FN_SECRET: &str = "fn-secret-9d4e1b7c3a0f";
    let logs = logs_of(&[("YUNQIAO_SECRET_API_KEY", FN_SECRET)], |base| async move {
        let api = Api::new(&base);
        let src = r#"
import { secrets } from "yunqiao";
export async function shout() { const k = await secrets.get("API_KEY"); console.log("the key is", k); console.error(k); return k.length }
export async function crash() { throw new Error("crashed holding " + await secrets.get("API_KEY")) }
export async function refuse() { throw new FunctionError("NOPE", "no, " + await secrets.get("API_KEY"), 403) }
"#;
        let r = api
            .call(
                "PUT",
                "/v1/functions/keys",
                Some(ADMIN_KEY),
                Some(json!({"source": src, "access": "anyone", "secrets": ["API_KEY"]})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        for export in ["shout", "crash", "refuse"] {
            let r = api
                .call("POST", &format!("/v1/fn/keys/{export}"), None, Some(json!({"args": []})))
                .await;
            assert!(!r.text.contains(FN_SECRET), "{export}: {}", r.text);
        }
        let r = api
            .call("GET", "/v1/functions/keys/logs", Some(ADMIN_KEY), None)
            .await;
        assert!(r.text.contains("the key is [secret]"), "{}", r.text);
        assert!(!r.text.contains(FN_SECRET), "{}", r.text);
    })
    .await;
    assert!(logs.contains("function ran"), "calls are logged:\n{logs}");
    assert!(
        !logs.contains(FN_SECRET),
        "a function secret is in the logs:\n{logs}"
    );
}

/// A secret with a quote and a backslash, escaped every way a log or an error carries it
/// (a store error's quoted table name, an object logged as JSON, the end of an overlong
/// line, a `FunctionError`'s details): not one form of it in the server's log at trace
/// level, nor in any answer.
#[tokio::test]
async fn cloud_functions_log_no_secret_in_any_encoding() {
    const FN_SECRET: &str = "sk-live-Ab3\"q\\zZ9";
    let forms = yunqiao_core::functions::redact::forms(FN_SECRET);
    let answers = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = answers.clone();
    let logs = logs_of(&[("YUNQIAO_SECRET_API_KEY", FN_SECRET)], |base| async move {
        let api = Api::new(&base);
        let src = r#"
import { secrets, db, FunctionError } from "yunqiao";
const key = () => secrets.get("API_KEY");
export async function storeError() { return db.table(await key()).get("x") }
export async function inObject() { console.log({ nested: { key: await key() } }); return 1 }
export async function longLine() { console.log("x".repeat(1995) + await key()); return 1 }
export async function inDetails() { throw new FunctionError("BAD", "bad", 400, { key: await key() }) }
"#;
        let r = api
            .call(
                "PUT",
                "/v1/functions/enc",
                Some(ADMIN_KEY),
                Some(json!({"source": src, "access": "anyone", "secrets": ["API_KEY"]})),
            )
            .await;
        assert!(r.status < 300, "{}", r.text);
        let mut all = String::new();
        for export in ["storeError", "inObject", "longLine", "inDetails"] {
            let r = api
                .call("POST", &format!("/v1/fn/enc/{export}"), None, Some(json!({"args": []})))
                .await;
            all.push_str(&r.text);
        }
        let r = api
            .call("GET", "/v1/functions/enc/logs", Some(ADMIN_KEY), None)
            .await;
        all.push_str(&r.text);
        *seen.lock().unwrap() = all;
    })
    .await;
    let answers = answers.lock().unwrap().clone();
    assert!(logs.contains("function ran"), "calls are logged:\n{logs}");
    for f in &forms {
        assert!(
            !logs.contains(f.as_str()),
            "the secret as {f:?} is in the logs:\n{logs}"
        );
        assert!(
            !answers.contains(f.as_str()),
            "the secret as {f:?} was answered:\n{answers}"
        );
    }
}

#[tokio::test]
async fn wechat_access_tokens_are_in_no_log_line() {
    let mut tokens: Vec<String> = Vec::new();
    let logs = logs_of(&[], |base| {
        let tokens = &mut tokens;
        async move {
            let api = Api::new(&base);
            let (token, _) = api.login("mock:alice").await;
            // A phone bind (a token fetched), WeChat expiring it (renewed), a function's
            // text check and a refused wechat.call, at the most verbose log level.
            for code in ["mock-phone:13800138000:1", "mock-phone:13800138000:2"] {
                let r = api
                    .call("POST", "/v1/auth/phone", Some(&token), Some(json!({ "code": code })))
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                reqwest::Client::new()
                    .post(format!("{base}/__mock/wechat/mock/expire-access-tokens"))
                    .send()
                    .await
                    .unwrap();
            }
            let src = r#"
import { wechat } from "yunqiao";
export async function check(t) { const v = await wechat.msgSecCheck({ content: t }); console.log(JSON.stringify(v)); return v }
export async function bad() { return wechat.call("/wxa/x", { version: 2 }) }
"#;
            let r = api
                .call(
                    "PUT",
                    "/v1/functions/wx",
                    Some(ADMIN_KEY),
                    Some(json!({"source": src})),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            for (export, args) in [("check", json!(["hello [review]"])), ("bad", json!([]))] {
                api.call(
                    "POST",
                    &format!("/v1/fn/wx/{export}"),
                    Some(&token),
                    Some(json!({ "args": args })),
                )
                .await;
            }
            let logs = api
                .call("GET", "/v1/functions/wx/logs", Some(ADMIN_KEY), None)
                .await;
            assert!(logs.text.contains("review"), "{}", logs.text);
            let issued: serde_json::Value = reqwest::get(format!("{base}/__mock/wechat/mock/access-tokens"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for t in issued["tokens"].as_array().unwrap() {
                let t = t.as_str().unwrap().to_string();
                assert!(!logs.text.contains(&t), "a token in a function's logs");
                tokens.push(t);
            }
        }
    })
    .await;
    assert!(
        tokens.len() >= 2,
        "tokens were fetched and renewed: {tokens:?}"
    );
    assert!(
        logs.contains("access token"),
        "token fetches are logged:\n{logs}"
    );
    for t in &tokens {
        assert!(
            !logs.contains(t.as_str()),
            "an access token is in the logs:\n{logs}"
        );
    }
}

/// WeChat Pay's secrets — the merchant's private key and the APIv3 key — are in no log
/// line and no answer, on the order, query and notification paths, at trace level.
#[tokio::test]
async fn pay_keys_are_in_no_log_line() {
    let clock: yunqiao_core::clock::SharedClock =
        std::sync::Arc::new(yunqiao_core::clock::SystemClock);
    let appid = "wx0123456789abcdef";
    let mock = yunqiao_wechat::WeChatMock::new(
        yunqiao_wechat::MockConfig {
            appid: appid.into(),
            secret: APP_SECRET.into(),
            unionid: false,
        },
        clock,
    );
    let setup = mock.pay_setup();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let wx = format!("http://{}", listener.local_addr().unwrap());
    let router = mock.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    // The key's body, without its PEM armour and line breaks.
    let key_body: String = setup
        .merchant_key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let key_line = setup.merchant_key_pem.lines().nth(1).unwrap().to_string();
    let v3 = setup.api_v3_key.clone();
    let logs = logs_of(
        &[
            ("YUNQIAO_WECHAT_APPID", appid),
            ("YUNQIAO_WECHAT_SECRET", APP_SECRET),
            ("YUNQIAO_WECHAT_API_BASE", &wx),
            ("YUNQIAO_PAY_MCHID", &setup.mchid),
            ("YUNQIAO_PAY_MERCHANT_SERIAL", &setup.merchant_serial),
            ("YUNQIAO_PAY_MERCHANT_KEY", &setup.merchant_key_pem),
            ("YUNQIAO_PAY_API_V3_KEY", &v3),
            ("YUNQIAO_PAY_PLATFORM_CERT", &setup.platform_cert_pem),
            ("YUNQIAO_PAY_NOTIFY_URL", "http://127.0.0.1:9/v1/pay/notify"),
            ("YUNQIAO_PAY_API_BASE", &wx),
            ("YUNQIAO_PAY_TABLES", "products"),
        ],
        |base| {
            let wx = wx.clone();
            let (key_line, v3) = (key_line.clone(), v3.clone());
            async move {
                let api = Api::new(&base);
                let code: serde_json::Value = reqwest::Client::new()
                    .post(format!("{wx}/mock/login-code"))
                    .json(&json!({"name": "alice"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let code = code["code"].as_str().unwrap_or("").to_string();
                let login = api
                    .call("POST", "/v1/auth/login", None, Some(json!({"code": code})))
                    .await;
                assert_eq!(login.status, 200, "{}", login.text);
                let token = login.body["token"].as_str().unwrap().to_string();
                for (m, p, b) in [
                    (
                        "PUT",
                        "/v1/tables/products",
                        json!({"fields": [{"name": "price", "type": "integer"}], "acl": {"record": "rwd:r:r"}}),
                    ),
                    ("POST", "/v1/tables/products/records", json!({"price": 5})),
                ] {
                    let r = api.call(m, p, Some(ADMIN_KEY), Some(b)).await;
                    assert!(r.status < 300, "{}", r.text);
                }
                let r = api
                    .call("POST", "/v1/tables/products/query", Some(ADMIN_KEY), Some(json!({})))
                    .await;
                let id = r.body["items"][0]["_id"].as_str().unwrap().to_string();
                let o = api
                    .call(
                        "POST",
                        "/v1/pay/orders",
                        Some(&token),
                        Some(json!({"item": {"table": "products", "id": id}})),
                    )
                    .await;
                assert_eq!(o.status, 201, "{}", o.text);
                let no = o.body["order"]["out_trade_no"].as_str().unwrap().to_string();
                // Paid without a notification: the read asks WeChat Pay (signed, verified).
                let paid = reqwest::Client::new()
                    .post(format!("{wx}/mock/pay/{no}"))
                    .json(&json!({"variant": "drop"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(paid.status(), 200);
                let g = api
                    .call("GET", &format!("/v1/pay/orders/{no}"), Some(&token), None)
                    .await;
                assert_eq!(g.body["state"], "PAID", "{}", g.text);
                // A notification that does not verify.
                let n = reqwest::Client::new()
                    .post(format!("{base}/v1/pay/notify"))
                    .header("wechatpay-serial", "x")
                    .header("wechatpay-timestamp", "1")
                    .header("wechatpay-nonce", "n")
                    .header("wechatpay-signature", "s")
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(n.status(), 401);
                for t in [&o.text, &g.text] {
                    assert!(!t.contains(&key_line) && !t.contains(&v3), "{t}");
                }
            }
        },
    )
    .await;
    assert!(
        logs.contains("/v1/pay/orders"),
        "the pay requests are logged:\n{logs}"
    );
    for (what, secret) in [
        ("the merchant key", key_line.as_str()),
        ("the APIv3 key", v3.as_str()),
    ] {
        assert!(!logs.contains(secret), "{what} is in the logs:\n{logs}");
    }
    assert!(!logs.contains(&key_body[..64]));
}

/// The message push's Token and EncodingAESKey reach no log line, at the most verbose
/// level: the handshake, forged and good pushes (JSON and XML), a media check's
/// verdict, and a push function that fails.
#[tokio::test]
async fn push_token_and_key_are_in_no_log_line() {
    const TOKEN: &str = "pushLogToken5c1e9";
    const KEY: &str = "Zx8q1Lm0Pp3Rr7Tt2Uu9Vv4Ww6Yy5Aa1Bb2Cc3Dd4Ee";
    let env = [
        ("YUNQIAO_WECHAT_PUSH_TOKEN", TOKEN),
        ("YUNQIAO_WECHAT_PUSH_AES_KEY", KEY),
        ("YUNQIAO_WECHAT_PUSH_FUNCTION", "hooks"),
        ("YUNQIAO_FILES_MEDIA_CHECK", "image/*"),
    ];
    let logs = logs_of(&env, |base| async move {
        let api = Api::new(&base);
        let c = reqwest::Client::new();
        let src = r#"export async function on_wechat_event(e) { console.log(JSON.stringify(e)); throw new Error("no") }"#;
        let r = api
            .call("PUT", "/v1/functions/hooks", Some(ADMIN_KEY), Some(json!({"source": src})))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let sig = yunqiao_core::wechat::push::sign(&[TOKEN, &ts, "1"]);
        for s in [sig.as_str(), "0"] {
            let r = c
                .get(format!("{base}/v1/wechat/push"))
                .query(&[("signature", s), ("timestamp", &ts), ("nonce", "1"), ("echostr", "e")])
                .send()
                .await
                .unwrap();
            assert!(r.status() == 200 || r.status() == 403);
        }
        let mock = format!("{base}/__mock/wechat/mock");
        let event = json!({"ToUserName": "gh", "FromUserName": "o", "CreateTime": ts.parse::<i64>().unwrap(),
                           "MsgType": "event", "Event": "x"});
        for (token, format) in [("wrongToken1", "json"), (TOKEN, "json"), (TOKEN, "xml")] {
            let r: serde_json::Value = c
                .post(format!("{mock}/push"))
                .json(&json!({"url": format!("{base}/v1/wechat/push"), "token": token, "aes_key": KEY,
                              "event": event, "format": format}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_ne!(r["status"], 200, "refused, or the function failed: {r}");
        }
        // An image checked and its verdict pushed (encrypted) by the mock.
        let (token, _) = api.login("mock:alice").await;
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
        let up = api
            .call("POST", "/v1/files", Some(&token),
                  Some(json!({"name": "a.png", "size": png.len(), "content_type": "image/png"})))
            .await;
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in up.body["upload"]["fields"].as_object().unwrap() {
            form = form.text(k.clone(), v.as_str().unwrap().to_string());
        }
        form = form.part("file", reqwest::multipart::Part::bytes(png.to_vec()).file_name("a.png"));
        c.post(up.body["upload"]["url"].as_str().unwrap()).multipart(form).send().await.unwrap();
        let id = up.body["file"]["id"].as_str().unwrap();
        let done = api.call("POST", &format!("/v1/files/{id}/complete"), Some(&token), None).await;
        assert_eq!(done.body["status"], "checking", "{}", done.text);
        let r: serde_json::Value = c
            .post(format!("{mock}/media-checks/deliver"))
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["delivered"][0]["status"], 200, "{r}");
        let logs = api.call("GET", "/v1/functions/hooks/logs", Some(ADMIN_KEY), None).await;
        assert!(!logs.text.contains(TOKEN) && !logs.text.contains(KEY), "{}", logs.text);
    })
    .await;
    assert!(logs.contains("wechat/push"), "pushes are logged:\n{logs}");
    assert!(
        !logs.contains(TOKEN),
        "the push Token is in the logs:\n{logs}"
    );
    assert!(
        !logs.contains(KEY),
        "the EncodingAESKey is in the logs:\n{logs}"
    );
    assert!(
        !logs.contains(&KEY[..20]),
        "part of the EncodingAESKey is in the logs:\n{logs}"
    );
}
