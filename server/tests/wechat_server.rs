//! The app's own server in WeChat's eyes (issue 23, first half), on every face: one
//! access token shared by every process, the `wechat` host module (text checks, subscribe
//! messages, the guarded `call`), `context.caller`'s openid for server code only, and
//! `http.fetch` keeping bytes intact.

mod common;

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};

/// The echo server of `fetch_keeps_bytes_intact` is on 127.0.0.1.
const PRIVATE_HOSTS: &[(&str, &str)] = &[("YUNQIAO_FUNCTIONS_ALLOW_PRIVATE_HOSTS", "1")];

on_every_face!(env = super::PRIVATE_HOSTS;
    twenty_first_calls_fetch_one_token,
    functions_check_text_and_send_subscribe_messages,
    wechat_call_is_guarded,
    openids_reach_server_code_only,
    fetch_keeps_bytes_intact,
    checked_fields_refuse_risky_text_on_every_write_path,
);

async fn deploy(api: &Api, module: &str, src: &str, extra: Value) -> Answer {
    let mut body = json!({ "source": src });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    let r = api.deploy(module, body).await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
    r
}

/// Every token the mock issued appears in none of `texts`.
async fn no_token_in(s: &Server, texts: &[&str]) {
    let tokens = s.mock_get("/mock/access-tokens").await;
    let tokens = tokens["tokens"].as_array().unwrap();
    assert!(!tokens.is_empty(), "a token was issued");
    for t in tokens {
        let t = t.as_str().unwrap();
        for text in texts {
            assert!(!text.contains(t), "an access token leaked: {text}");
        }
    }
}

/// Twenty users bind a phone at once, each call needing the app's access token: one
/// fetch, however many processes (Lambda sandboxes) serve them.
async fn twenty_first_calls_fetch_one_token(s: Server) {
    let api = Api::new(&s.base);
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(api.login(&format!("mock:user{i}")).await.0);
    }
    assert_eq!(s.mock_get("/mock/stats").await["token_fetches"], 0);
    let calls = tokens.iter().enumerate().map(|(i, t)| {
        let api = api.clone();
        let t = t.clone();
        async move {
            api.call(
                "POST",
                "/v1/auth/phone",
                Some(&t),
                Some(json!({ "code": format!("mock-phone:138001380{i:02}") })),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    for (i, r) in answers.iter().enumerate() {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["phone"], format!("138001380{i:02}"));
    }
    assert_eq!(
        s.mock_get("/mock/stats").await["token_fetches"],
        1,
        "one token for twenty concurrent first calls"
    );
    // WeChat expires it: the next call gets 42001, renews it once and succeeds.
    s.mock_post_ok("/mock/expire-access-tokens", json!({}))
        .await;
    let r = api
        .call(
            "POST",
            "/v1/auth/phone",
            Some(&tokens[0]),
            Some(json!({"code": "mock-phone:13900000000"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(s.mock_get("/mock/stats").await["token_fetches"], 2);
    let texts: Vec<&str> = answers.iter().map(|a| a.text.as_str()).collect();
    no_token_in(&s, &texts).await;
}

const NOTIFY: &str = r#"
import { wechat, context } from "yunqiao";
export async function check(content, user) {
  return wechat.msgSecCheck(user === undefined ? { content } : { content, user });
}
export async function notify(user) {
  return wechat.subscribeMessage.send({
    user, template_id: "tpl-shipped", page: "pages/order/order?id=7",
    data: { thing1: { value: "your order shipped" } },
  });
}
export async function tryNotify(user) {
  try { return await notify(user) } catch (e) { return { code: e.code, status: e.status, details: e.details } }
}
"#;

async fn functions_check_text_and_send_subscribe_messages(s: Server) {
    let api = Api::new(&s.base);
    let (alice, alice_user) = api.login("mock:alice").await;
    let (_, bob_user) = api.login("mock:bob").await;
    deploy(&api, "notify", NOTIFY, json!({})).await;

    // Text checks: the verdict the mock's marker chose, for the calling user's openid.
    let r = api
        .call_fn(Some(&alice), "notify", "check", json!(["hello"]))
        .await;
    assert_eq!(r.body["result"]["suggest"], "pass", "{}", r.text);
    let r = api
        .call_fn(Some(&alice), "notify", "check", json!(["buy [risky] now"]))
        .await;
    assert_eq!(r.body["result"]["suggest"], "risky", "{}", r.text);
    assert_eq!(r.body["result"]["label"], 20001);
    let r = api
        .call_fn(Some(&alice), "notify", "check", json!(["[review] me"]))
        .await;
    assert_eq!(r.body["result"]["suggest"], "review", "{}", r.text);
    // The admin has no openid: it names the user whose text it is.
    let r = api
        .call_fn(Some(ADMIN_KEY), "notify", "check", json!(["hi"]))
        .await;
    assert_eq!(
        (r.status, r.code(), &r.body["error"]["details"]["field"]),
        (400, "INVALID_ARGUMENT", &json!("user")),
        "{}",
        r.text
    );
    let r = api
        .call_fn(
            Some(ADMIN_KEY),
            "notify",
            "check",
            json!(["hi [risky]", bob_user["id"]]),
        )
        .await;
    assert_eq!(r.body["result"]["suggest"], "risky", "{}", r.text);

    // Subscribe messages: bob did not accept the template — a clear error, nothing sent.
    let r = api
        .call_fn(Some(ADMIN_KEY), "notify", "notify", json!([bob_user["id"]]))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "WECHAT_NOT_SUBSCRIBED"),
        "{}",
        r.text
    );
    assert_eq!(r.body["error"]["details"]["wechat_errcode"], 43101);
    let r = api
        .call_fn(Some(&alice), "notify", "tryNotify", json!([bob_user["id"]]))
        .await;
    assert_eq!(
        r.body["result"]["code"], "WECHAT_NOT_SUBSCRIBED",
        "{}",
        r.text
    );
    assert_eq!(
        s.mock_get("/mock/subscribe-messages").await["messages"],
        json!([])
    );
    // alice accepted (what wx.requestSubscribeMessage stands for): it reaches the mock,
    // to her openid.
    s.mock_post_ok(
        "/mock/subscriptions",
        json!({"name": "alice", "template_id": "tpl-shipped"}),
    )
    .await;
    let bob = api.login("mock:bob:2").await.0;
    let r = api
        .call_fn(Some(&bob), "notify", "notify", json!([alice_user["id"]]))
        .await;
    assert_eq!(r.body["result"], json!({"sent": true}), "{}", r.text);
    let sent = s.mock_get("/mock/subscribe-messages").await;
    let sent = sent["messages"].as_array().unwrap();
    assert_eq!(sent.len(), 1);
    assert!(sent[0]["touser"].as_str().unwrap().starts_with('o'));
    assert_eq!(sent[0]["template_id"], "tpl-shipped");
    assert_eq!(sent[0]["data"]["thing1"]["value"], "your order shipped");
    // An unknown user is 404, not a WeChat call.
    let r = api
        .call_fn(Some(ADMIN_KEY), "notify", "notify", json!(["nobody"]))
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "{}", r.text);

    let logs = api
        .call("GET", "/v1/functions/notify/logs", Some(ADMIN_KEY), None)
        .await;
    no_token_in(&s, &[&logs.text]).await;
}

const RAW: &str = r#"
import { wechat } from "yunqiao";
export async function raw(path, body) {
  try { return { ok: await wechat.call(path, body) } }
  catch (e) { return { code: e.code, field: e.details.field ?? null } }
}
export async function leak() {
  // Whatever a module prints, no token is in it: it never holds one.
  console.log(JSON.stringify(await wechat.call("/wxa/msg_sec_check", { version: 2, openid: "x", scene: 1, content: "x" }).catch((e) => e.details)));
  return "done";
}
"#;

async fn wechat_call_is_guarded(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    deploy(&api, "raw", RAW, json!({})).await;
    // A path WeChat answers, with the token filled in by the server.
    let openid = mock_openid(&s, "alice").await;
    let r = api.call_fn(Some(&alice),
        "raw",
        "raw",
        json!(["/wxa/msg_sec_check", {"version": 2, "openid": openid, "scene": 2, "content": "[review]"}]),
    )
    .await;
    assert_eq!(
        r.body["result"]["ok"]["result"]["suggest"], "review",
        "{}",
        r.text
    );
    // Paths that hand out tokens, with a query, outside the prefixes: refused before WeChat.
    for bad in [
        "/cgi-bin/stable_token",
        "/cgi-bin/token",
        "/cgi-bin/ticket/getticket",
        "/wxa/msg_sec_check?access_token=x",
        "/wxa/../cgi-bin/token",
        "/sns/jscode2session",
        "https://api.weixin.qq.com/wxa/msg_sec_check",
    ] {
        let r = api
            .call_fn(Some(&alice), "raw", "raw", json!([bad, {}]))
            .await;
        assert_eq!(
            r.body["result"],
            json!({"code": "INVALID_ARGUMENT", "field": "path"}),
            "{bad}: {}",
            r.text
        );
    }
    // WeChat's own refusals come back with their errcode.
    let r = api.call_fn(Some(&alice),
        "raw",
        "raw",
        json!(["/wxa/msg_sec_check", {"version": 2, "openid": "o-nobody", "scene": 2, "content": "x"}]),
    )
    .await;
    assert_eq!(r.body["result"]["code"], "WECHAT_ERROR", "{}", r.text);
    let r = api.call_fn(Some(&alice), "raw", "leak", json!([])).await;
    assert_eq!(r.body["result"], "done", "{}", r.text);
    let logs = api
        .call("GET", "/v1/functions/raw/logs", Some(ADMIN_KEY), None)
        .await;
    assert!(logs.text.contains("40003"), "{}", logs.text);
    no_token_in(&s, &[&logs.text, &r.text]).await;
}

async fn mock_openid(s: &Server, name: &str) -> String {
    let r = s
        .mock_post_ok(
            "/mock/subscriptions",
            json!({"name": name, "template_id": "probe", "times": 0}),
        )
        .await;
    r["openid"].as_str().unwrap().to_string()
}

/// `context.caller` carries the openid and unionid for server code; no answer the server
/// makes itself does: login, `/v1/auth/me`, profile changes, admin views, live frames.
async fn openids_reach_server_code_only(s: Server) {
    let api = Api::new(&s.base);
    let login = api
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"code": "mock:carol"})),
        )
        .await;
    let token = login.body["token"].as_str().unwrap().to_string();
    let id = login.body["user"]["id"].as_str().unwrap().to_string();
    let openid = mock_openid(&s, "carol").await;
    deploy(
        &api,
        "who",
        r#"import { context } from "yunqiao"; export const me = async () => context.caller;"#,
        json!({}),
    )
    .await;
    let r = api.call_fn(Some(&token), "who", "me", json!([])).await;
    assert_eq!(r.body["result"]["openid"], openid.as_str(), "{}", r.text);
    assert!(
        r.body["result"]["unionid"]
            .as_str()
            .is_some_and(|u| u.starts_with('u'))
    );
    let answers = [
        login,
        api.call("GET", "/v1/auth/me", Some(&token), None).await,
        api.call(
            "PATCH",
            "/v1/auth/me",
            Some(&token),
            Some(json!({"nickname": "Carol"})),
        )
        .await,
        api.call("POST", "/v1/auth/refresh", Some(&token), None)
            .await,
        api.call(
            "GET",
            &format!("/v1/admin/users/{id}"),
            Some(ADMIN_KEY),
            None,
        )
        .await,
        api.call("GET", "/v1/admin/users", Some(ADMIN_KEY), None)
            .await,
    ];
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.text);
        assert!(
            !a.text.contains(&openid),
            "the openid in an answer: {}",
            a.text
        );
        assert!(!a.text.contains("unionid"), "{}", a.text);
    }
    // A live connection's hello and presence views.
    let fresh = answers[3].body["token"]
        .as_str()
        .unwrap_or(&token)
        .to_string();
    let mut ws = common::ws::Client::open(&s, &fresh).await;
    let hello = ws.ok(json!({"type": "hello"})).await;
    assert_eq!(hello["user"]["id"], id.as_str());
    assert!(!hello.to_string().contains(&openid), "{hello}");
}

/// A tiny HTTP server on 127.0.0.1 that answers every request's body as it came, as
/// `application/octet-stream`.
async fn bytes_echo() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 8192];
                // Read the head, then as many bytes as content-length says.
                let body = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break Vec::new();
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        while buf.len() < end + 4 + len {
                            let n = sock.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break buf[end + 4..].to_vec();
                    }
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    (addr, task)
}

const BYTES: &str = r#"
import { http } from "yunqiao";
export async function roundTrip(url) {
  // Every byte value, then invalid UTF-8 on its own.
  const sent = new Uint8Array(256 + 3);
  for (let i = 0; i < 256; i++) sent[i] = i;
  sent.set([0xff, 0xfe, 0x80], 256);
  const r = await http.fetch(url, { method: "POST", body: sent });
  const got = await r.bytes();
  const buf = new Uint8Array(await r.arrayBuffer());
  let same = got.length === sent.length && buf.length === sent.length;
  for (let i = 0; same && i < sent.length; i++) same = got[i] === sent[i] && buf[i] === sent[i];
  // An ArrayBuffer body, and text that is UTF-8, both ways.
  const r2 = await http.fetch(url, { method: "POST", body: sent.buffer.slice(250, 259) });
  const tail = Array.from(await r2.bytes());
  const r3 = await http.fetch(url, { method: "POST", body: "你好 ✓" });
  return { same, length: got.length, tail, text: await r3.text(), textBytes: Array.from(await r3.bytes()) };
}
"#;

async fn fetch_keeps_bytes_intact(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let (echo, _task) = bytes_echo().await;
    deploy(&api, "bytes", BYTES, json!({"hosts": [echo]})).await;
    let r = api
        .call_fn(
            Some(&alice),
            "bytes",
            "roundTrip",
            json!([format!("http://{echo}/")]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let out = &r.body["result"];
    assert_eq!(out["same"], true, "{}", r.text);
    assert_eq!(out["length"], 259);
    assert_eq!(
        out["tail"],
        json!([250, 251, 252, 253, 254, 255, 255, 254, 128])
    );
    assert_eq!(out["text"], "你好 ✓");
    assert_eq!(out["textBytes"], json!("你好 ✓".as_bytes()));
}

const WRITER: &str = r#"
import { db } from "yunqiao";
export async function post(text) { return db.table("posts").create({ room: "r", text }) }
export async function postAsAdmin(text) { return db.admin().table("posts").create({ room: "r", text }) }
"#;

async fn checked_fields_refuse_risky_text_on_every_write_path(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let r = api
        .call(
            "PUT",
            "/v1/tables/posts",
            Some(ADMIN_KEY),
            Some(json!({
                "fields": [
                    {"name": "room", "type": "string", "index": true},
                    {"name": "text", "type": "text", "check": "text"},
                    {"name": "title", "type": "string", "check": "text", "review": "refuse"}],
                "acl": {"record": "rwd:r:r", "create": "anyone"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The definition reads back as written.
    let def = api
        .call("GET", "/v1/tables/posts", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(def.body["fields"][2]["review"], "refuse", "{}", def.text);
    let bad = api
        .call(
            "PUT",
            "/v1/tables/bad",
            Some(ADMIN_KEY),
            Some(json!({"fields": [{"name": "n", "type": "integer", "check": "text"}]})),
        )
        .await;
    assert_eq!(
        (
            bad.status,
            bad.code(),
            &bad.body["error"]["details"]["field"]
        ),
        (400, "INVALID_ARGUMENT", &json!("fields.n.check")),
        "{}",
        bad.text
    );
    let count = || async {
        let q = api
            .call(
                "POST",
                "/v1/tables/posts/query",
                Some(ADMIN_KEY),
                Some(json!({"count": true})),
            )
            .await;
        q.body["total"].as_i64().unwrap()
    };
    let create = |data: Value| {
        let api = api.clone();
        let alice = alice.clone();
        async move {
            api.call("POST", "/v1/tables/posts/records", Some(&alice), Some(data))
                .await
        }
    };

    // Create: risky refused with its field, nothing written; clean text and review pass.
    let r = create(json!({"room": "r", "text": "buy now [risky]"})).await;
    assert_eq!((r.status, r.code()), (400, "CONTENT_RISKY"), "{}", r.text);
    assert_eq!(r.body["error"]["details"]["field"], "text");
    assert_eq!(r.body["error"]["details"]["suggest"], "risky");
    assert_eq!(count().await, 0);
    let ok = create(json!({"room": "r", "text": "hello [review]"})).await;
    assert_eq!(ok.status, 201, "review is allowed by default: {}", ok.text);
    let r = create(json!({"room": "r", "title": "a [review] title"})).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "CONTENT_NEEDS_REVIEW"),
        "{}",
        r.text
    );
    assert_eq!(count().await, 1);

    // Update: refused, the record unchanged.
    let id = ok.body["_id"].as_str().unwrap();
    let r = api
        .call(
            "PATCH",
            &format!("/v1/tables/posts/records/{id}"),
            Some(&alice),
            Some(json!({"text": "[risky] edit"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "CONTENT_RISKY"), "{}", r.text);
    let rec = api
        .call(
            "GET",
            &format!("/v1/tables/posts/records/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(rec.body["text"], "hello [review]");

    // Batch: one risky operation refuses all of them.
    let r = api
        .call(
            "POST",
            "/v1/batch",
            Some(&alice),
            Some(json!({"ops": [
                {"op": "create", "table": "posts", "data": {"room": "r", "text": "fine"}},
                {"op": "create", "table": "posts", "data": {"room": "r", "text": "[risky]"}}]})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "CONTENT_RISKY"), "{}", r.text);
    assert_eq!(count().await, 1);

    // A cloud function writing with the caller's rights is checked; with the admin's, not.
    deploy(&api, "writer", WRITER, json!({})).await;
    let r = api
        .call_fn(Some(&alice), "writer", "post", json!(["[risky] via fn"]))
        .await;
    assert_eq!((r.status, r.code()), (400, "CONTENT_RISKY"), "{}", r.text);
    assert_eq!(count().await, 1);
    let r = api
        .call_fn(
            Some(&alice),
            "writer",
            "postAsAdmin",
            json!(["[risky] admin"]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The admin key is not checked either; anonymous writers cannot be.
    let r = api
        .call(
            "POST",
            "/v1/tables/posts/records",
            Some(ADMIN_KEY),
            Some(json!({"room": "r", "text": "[risky] by the admin"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/tables/posts/records",
            None,
            Some(json!({"room": "r", "text": "anonymous"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/tables/posts/records",
            None,
            Some(json!({"room": "r"})),
        )
        .await;
    assert_eq!(r.status, 201, "unchecked fields need no user: {}", r.text);
    assert_eq!(count().await, 4);
}
