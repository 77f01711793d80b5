//! WeChat's pushed events (issue 23, message push), on every face: the echo handshake;
//! forged, stale, replayed and wrong-app pushes refused with nothing handed on; a good
//! one (JSON or XML, safe mode) reaches the configured export once, however often
//! WeChat sends it; an uploaded image stays `checking` (its owner's only) until the
//! mock's pushed verdict makes it `ready` or `rejected`.

mod common;

use common::{ADMIN_KEY, Api, Server};
use serde_json::{Value, json};

const TOKEN: &str = "pushToken42";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

const SAFE_MODE: &[(&str, &str)] = &[
    ("YUNQIAO_WECHAT_PUSH_TOKEN", TOKEN),
    ("YUNQIAO_WECHAT_PUSH_AES_KEY", AES_KEY),
    ("YUNQIAO_WECHAT_PUSH_FUNCTION", "inbox"),
    ("YUNQIAO_FILES_MEDIA_CHECK", "image/*"),
];

on_every_face!(env = super::SAFE_MODE;
    handshake_echoes_only_a_good_signature,
    only_good_pushes_reach_the_export,
    xml_pushes_are_read_as_json_ones,
    an_image_stays_checking_until_its_verdict,
    forged_verdicts_change_no_file,
    a_functions_media_check_reaches_its_export,
    a_push_that_failed_runs_when_sent_again,
);

/// The export logs every event it is handed (read back from the module's logs).
const INBOX: &str = r#"
export async function on_wechat_event(event) {
  console.log("event", JSON.stringify(event));
  return "ok";
}
"#;

async fn deploy_inbox(api: &Api) {
    let r = api
        .call(
            "PUT",
            "/v1/functions/inbox",
            Some(ADMIN_KEY),
            Some(json!({ "source": INBOX })),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
}

/// How many events the export was handed, and the trace ids it logged.
async fn handled(api: &Api) -> (usize, String) {
    let r = api
        .call(
            "GET",
            "/v1/functions/inbox/logs?limit=100",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let runs: Vec<Value> = r.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l["export"] == "on_wechat_event")
        .collect();
    for l in &runs {
        assert_eq!(l["trigger"], "wechat_event", "{l}");
        assert_eq!(l["outcome"], "ok", "{l}");
    }
    (runs.len(), r.text)
}

fn push_url(s: &Server) -> String {
    format!("{}/v1/wechat/push", s.base)
}

/// Fires `event` through the mock (`/mock/push`), with overrides.
async fn fire(s: &Server, event: Value, extra: Value) -> Value {
    let mut body =
        json!({ "url": push_url(s), "token": TOKEN, "aes_key": AES_KEY, "event": event });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    s.mock_post_ok("/mock/push", body).await
}

/// Sends a request the mock made (its query and payload) again, as a replayer would.
async fn resend(s: &Server, sent: &Value, payload: &str) -> (u16, String) {
    let query: Vec<(String, String)> = sent["query"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
        .collect();
    let r = reqwest::Client::new()
        .post(push_url(s))
        .query(&query)
        .header("content-type", "application/json")
        .body(payload.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn code(text: &str) -> String {
    serde_json::from_str::<Value>(text).unwrap_or_default()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn media_check(trace: &str) -> Value {
    json!({
        "ToUserName": "gh_0000000000", "FromUserName": "o-user-1", "CreateTime": now(),
        "MsgType": "event", "Event": "wxa_media_check", "isrisky": 0,
        "trace_id": trace, "version": 2, "result": {"suggest": "pass", "label": 100},
    })
}

async fn handshake_echoes_only_a_good_signature(s: Server) {
    let c = reqwest::Client::new();
    let ts = now().to_string();
    let sig = yunqiao_core::wechat::push::sign(&[TOKEN, &ts, "8812"]);
    let get = |sig: String, ts: String| {
        let c = c.clone();
        let url = push_url(&s);
        async move {
            let r = c
                .get(url)
                .query(&[
                    ("signature", sig.as_str()),
                    ("timestamp", ts.as_str()),
                    ("nonce", "8812"),
                    ("echostr", "echo-5518"),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        get(sig.clone(), ts.clone()).await,
        (200, "echo-5518".into())
    );
    let (st, body) = get("0".repeat(40), ts.clone()).await;
    assert_eq!((st, code(&body).as_str()), (403, "SIGNATURE_INVALID"));
    let old = (now() - 3600).to_string();
    let old_sig = yunqiao_core::wechat::push::sign(&[TOKEN, &old, "8812"]);
    let (st, body) = get(old_sig, old).await;
    assert_eq!((st, code(&body).as_str()), (403, "SIGNATURE_EXPIRED"));
    // Neither the token nor the key is in any answer.
    assert!(!body.contains(TOKEN) && !body.contains(AES_KEY));
}

async fn only_good_pushes_reach_the_export(s: Server) {
    let api = Api::new(&s.base);
    deploy_inbox(&api).await;

    // Forged: signed with another token.
    let r = fire(&s, media_check("t-forged"), json!({"token": "notTheToken"})).await;
    assert_eq!(
        (
            r["status"].as_i64(),
            code(r["body"].as_str().unwrap()).as_str()
        ),
        (Some(403), "SIGNATURE_INVALID")
    );
    // Stale: ten minutes old (and from the future).
    let r = fire(
        &s,
        media_check("t-stale"),
        json!({"timestamp": now() - 600}),
    )
    .await;
    assert_eq!(
        (
            r["status"].as_i64(),
            code(r["body"].as_str().unwrap()).as_str()
        ),
        (Some(403), "SIGNATURE_EXPIRED")
    );
    let r = fire(
        &s,
        media_check("t-future"),
        json!({"timestamp": now() + 600}),
    )
    .await;
    assert_eq!(r["status"], 403);
    // For another mini-program (well signed, encrypted with our key, another app id).
    let r = fire(
        &s,
        media_check("t-other"),
        json!({"appid": "wx1111111111111111"}),
    )
    .await;
    assert_eq!(
        (
            r["status"].as_i64(),
            code(r["body"].as_str().unwrap()).as_str()
        ),
        (Some(403), "PUSH_WRONG_APP")
    );
    // Plaintext where safe mode is configured.
    let r = fire(&s, media_check("t-plain"), json!({"aes_key": null})).await;
    assert_eq!(
        (
            r["status"].as_i64(),
            code(r["body"].as_str().unwrap()).as_str()
        ),
        (Some(400), "INVALID_BODY")
    );
    assert_eq!(
        handled(&api).await.0,
        0,
        "no refused push reached the export"
    );

    // A good one: decrypted and handed on.
    let good = fire(&s, media_check("t-good"), json!({})).await;
    assert_eq!(
        (good["status"].as_i64(), good["body"].as_str()),
        (Some(200), Some("success")),
        "{good}"
    );
    let (n, logs) = handled(&api).await;
    assert_eq!(n, 1, "{logs}");
    assert!(
        logs.contains("t-good") && logs.contains("wxa_media_check"),
        "{logs}"
    );
    assert!(
        !logs.contains("t-forged") && !logs.contains("t-other"),
        "{logs}"
    );

    // Replayed as it was: refused.
    let payload = good["payload"].as_str().unwrap();
    let (st, body) = resend(&s, &good, payload).await;
    assert_eq!((st, code(&body).as_str()), (409, "PUSH_REPLAYED"));
    // The ciphertext changed (msg_signature no longer matches).
    let mut tampered: Value = serde_json::from_str(payload).unwrap();
    let enc = tampered["Encrypt"].as_str().unwrap().to_string();
    let first = if enc.starts_with('A') { "B" } else { "A" };
    tampered["Encrypt"] = json!(format!("{first}{}", &enc[1..]));
    let (st, body) = resend(&s, &good, &tampered.to_string()).await;
    assert_eq!((st, code(&body).as_str()), (403, "SIGNATURE_INVALID"));
    // WeChat sending the same event again (new nonce): answered, not handed on again.
    let again = fire(&s, media_check("t-good"), json!({})).await;
    assert_eq!(
        (again["status"].as_i64(), again["body"].as_str()),
        (Some(200), Some("success"))
    );
    assert_eq!(handled(&api).await.0, 1, "a duplicate is harmless");

    // Another event goes through.
    let next = fire(&s, media_check("t-next"), json!({})).await;
    assert_eq!(next["status"], 200, "{next}");
    let (n, logs) = handled(&api).await;
    assert_eq!(n, 2, "{logs}");
    assert!(logs.contains("t-next"), "{logs}");
    for r in [&good, &again, &next] {
        let b = r["body"].as_str().unwrap();
        assert!(!b.contains(TOKEN) && !b.contains(AES_KEY));
    }
}

/// The same checks and hand-over in XML, WeChat's other push format.
async fn xml_pushes_are_read_as_json_ones(s: Server) {
    let api = Api::new(&s.base);
    deploy_inbox(&api).await;
    let event = json!({
        "ToUserName": "gh_0000000000", "FromUserName": "o-user-2", "CreateTime": now(),
        "MsgType": "event", "Event": "user_enter_tempsession", "SessionFrom": "a <b> & c",
    });
    let forged = fire(
        &s,
        event.clone(),
        json!({"format": "xml", "token": "notTheToken"}),
    )
    .await;
    assert_eq!(forged["status"], 403, "{forged}");
    let r = fire(&s, event.clone(), json!({"format": "xml"})).await;
    assert_eq!(
        (r["status"].as_i64(), r["body"].as_str()),
        (Some(200), Some("success")),
        "{r}"
    );
    assert!(r["payload"].as_str().unwrap().starts_with("<xml>"), "{r}");
    let (n, logs) = handled(&api).await;
    assert_eq!(n, 1, "{logs}");
    // The export got the fields as JSON, numbers as numbers and the text unescaped.
    let logged = logs_of_events(&logs);
    assert_eq!(logged.len(), 1, "{logs}");
    assert_eq!(logged[0], event, "{logs}");
    // Again (WeChat's retry, new nonce): not handed on twice.
    let again = fire(&s, event, json!({"format": "xml"})).await;
    assert_eq!(again["status"], 200, "{again}");
    assert_eq!(handled(&api).await.0, 1);
    // Not XML WeChat writes: refused.
    let ts = now().to_string();
    let q = [
        (
            "signature",
            yunqiao_core::wechat::push::sign(&[TOKEN, &ts, "77"]),
        ),
        ("timestamp", ts.clone()),
        ("nonce", "77".to_string()),
    ];
    let r = reqwest::Client::new()
        .post(push_url(&s))
        .query(&q)
        .body("<!DOCTYPE x [<!ENTITY e \"x\">]><xml><Encrypt>&e;</Encrypt></xml>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(&r.text().await.unwrap()), "INVALID_BODY");
}

/// The events the export logged, parsed.
fn logs_of_events(logs: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(logs).unwrap();
    let mut out = Vec::new();
    for item in v["items"].as_array().unwrap() {
        for line in item["logs"].as_array().into_iter().flatten() {
            let text = line["message"].as_str().unwrap_or_default();
            if let Some(j) = text.strip_prefix("event ") {
                out.push(serde_json::from_str(j).unwrap());
            }
        }
    }
    out
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// Signs, posts (as `wx.uploadFile` does) and completes an upload; the completion.
async fn upload(api: &Api, token: &str, bytes: &[u8], public: bool) -> common::Answer {
    let started = api
        .call(
            "POST",
            "/v1/files",
            Some(token),
            Some(json!({"name": "p.png", "size": bytes.len(), "content_type": "image/png", "public": public})),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let up = &started.body["upload"];
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in up["fields"].as_object().unwrap() {
        form = form.text(k.clone(), v.as_str().unwrap().to_string());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("x.png"),
    );
    let r = reqwest::Client::new()
        .post(up["url"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let id = started.body["file"]["id"].as_str().unwrap();
    api.call(
        "POST",
        &format!("/v1/files/{id}/complete"),
        Some(token),
        None,
    )
    .await
}

/// The checks the mock was asked for.
async fn checks(s: &Server) -> Vec<Value> {
    let r = s.mock_get("/mock/media-checks").await;
    r["checks"].as_array().unwrap().clone()
}

/// Who sees what of file `id`: (owner's status or 404, a stranger's status code,
/// anonymous status code, the owner's content status).
async fn seen(api: &Api, id: &str, owner: &str, other: &str) -> (String, u16, u16, u16) {
    let path = format!("/v1/files/{id}");
    let mine = api.call("GET", &path, Some(owner), None).await;
    let status = if mine.status == 200 {
        mine.body["status"].as_str().unwrap().to_string()
    } else {
        mine.status.to_string()
    };
    let theirs = api.call("GET", &path, Some(other), None).await.status;
    let anon = api.call("GET", &path, None, None).await.status;
    let content = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}/content", api.base))
        .bearer_auth(owner)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    (status, theirs, anon, content)
}

async fn an_image_stays_checking_until_its_verdict(s: Server) {
    let api = Api::new(&s.base);
    deploy_inbox(&api).await;
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;

    // Two public images: one passes, one (a marker in its bytes) is risky.
    let good = upload(&api, &alice, PNG, true).await;
    assert_eq!(good.status, 200, "{}", good.text);
    assert_eq!(good.body["status"], "checking", "{}", good.text);
    let good_id = good.body["id"].as_str().unwrap().to_string();
    let mut risky_bytes = PNG.to_vec();
    risky_bytes.extend_from_slice(b"[risky]");
    let bad = upload(&api, &alice, &risky_bytes, true).await;
    assert_eq!(bad.body["status"], "checking", "{}", bad.text);
    let bad_id = bad.body["id"].as_str().unwrap().to_string();
    let asked = checks(&s).await;
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked
            .iter()
            .all(|c| c["media_type"] == 2 && c["delivered"] == false)
    );

    // Checking: its owner reads it (with a URL); anyone else is told it does not exist,
    // and a record of someone else's cannot point at it.
    for id in [&good_id, &bad_id] {
        assert_eq!(
            seen(&api, id, &alice, &bob).await,
            ("checking".into(), 404, 404, 302)
        );
    }
    let mine = api
        .call("GET", &format!("/v1/files/{good_id}"), Some(&alice), None)
        .await;
    assert!(mine.body["url"].is_string(), "{}", mine.text);

    // WeChat's verdicts arrive (pushed, signed, encrypted): ready and rejected.
    let r = s
        .mock_post_ok("/mock/media-checks/deliver", json!({}))
        .await;
    let delivered = r["delivered"].as_array().unwrap();
    assert_eq!(delivered.len(), 2, "{r}");
    assert!(
        delivered
            .iter()
            .all(|d| d["status"] == 200 && d["body"] == "success"),
        "{r}"
    );
    assert_eq!(
        seen(&api, &good_id, &alice, &bob).await,
        ("ready".into(), 200, 200, 302)
    );
    assert_eq!(
        seen(&api, &bad_id, &alice, &bob).await,
        ("rejected".into(), 404, 404, 410)
    );
    let rejected = api
        .call("GET", &format!("/v1/files/{bad_id}"), Some(&alice), None)
        .await;
    assert!(rejected.body.get("url").is_none(), "{}", rejected.text);
    // The rejected bytes are gone; the passed ones are there.
    assert!(!s.has_blob(&format!("f/{bad_id}")));
    assert!(s.has_blob(&format!("f/{good_id}")));
    // Settling is not handing on: the export saw neither verdict.
    assert_eq!(handled(&api).await.0, 0);

    // The same verdict again (WeChat's retry), even a contrary one: nothing changes.
    let trace = asked.iter().find(|c| c["delivered"] == false).unwrap()["trace_id"].clone();
    for suggest in ["pass", "risky"] {
        let r = s
            .mock_post_ok(
                "/mock/media-checks/deliver",
                json!({"trace_id": trace, "suggest": suggest}),
            )
            .await;
        assert_eq!(r["delivered"][0]["status"], 200, "{r}");
    }
    assert_eq!(seen(&api, &good_id, &alice, &bob).await.0, "ready");
    assert_eq!(seen(&api, &bad_id, &alice, &bob).await.0, "rejected");
    assert_eq!(handled(&api).await.0, 0);

    // A check that failed (WeChat could not download it) rejects too.
    let third = upload(&api, &alice, PNG, false).await;
    let third_id = third.body["id"].as_str().unwrap().to_string();
    let all = checks(&s).await;
    let t3 = all.last().unwrap()["trace_id"].clone();
    let r = s
        .mock_post_ok(
            "/mock/media-checks/deliver",
            json!({"trace_id": t3, "errcode": -1008}),
        )
        .await;
    assert_eq!(r["delivered"][0]["status"], 200, "{r}");
    assert_eq!(seen(&api, &third_id, &alice, &bob).await.0, "rejected");
    // Its owner may delete a rejected file.
    let d = api
        .call("DELETE", &format!("/v1/files/{bad_id}"), Some(&alice), None)
        .await;
    assert_eq!(d.status, 204, "{}", d.text);
}

/// A verdict that is not WeChat's — forged, stale, replayed, for another app — leaves
/// the file `checking`.
async fn forged_verdicts_change_no_file(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let (bob, _) = api.login("mock:bob").await;
    let up = upload(&api, &alice, PNG, true).await;
    assert_eq!(up.body["status"], "checking", "{}", up.text);
    let id = up.body["id"].as_str().unwrap().to_string();
    let trace = checks(&s).await[0]["trace_id"]
        .as_str()
        .unwrap()
        .to_string();
    let verdict = |suggest: &str| {
        json!({"ToUserName": "gh_0000mock0000", "FromUserName": "o", "CreateTime": now(),
               "MsgType": "event", "Event": "wxa_media_check", "trace_id": trace, "version": 2,
               "errcode": 0, "result": {"suggest": suggest, "label": 100}})
    };
    let cases = [
        (json!({"token": "notTheToken"}), 403, "SIGNATURE_INVALID"),
        (json!({"timestamp": now() - 3600}), 403, "SIGNATURE_EXPIRED"),
        (
            json!({"appid": "wx1111111111111111"}),
            403,
            "PUSH_WRONG_APP",
        ),
        (json!({"aes_key": null}), 400, "INVALID_BODY"),
    ];
    for (extra, status, want) in cases {
        let r = fire(&s, verdict("pass"), extra.clone()).await;
        assert_eq!(
            (
                r["status"].as_i64(),
                code(r["body"].as_str().unwrap()).as_str()
            ),
            (Some(status), want),
            "{extra}: {r}"
        );
    }
    // Well signed, but encrypted with another key: what it decrypts to is noise, refused
    // as unreadable or (should the noise parse) as another app's.
    let other_key = json!({"aes_key": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg"});
    let r = fire(&s, verdict("pass"), other_key).await;
    let refused = (r["status"].as_i64(), code(r["body"].as_str().unwrap()));
    assert!(
        refused == (Some(400), "INVALID_BODY".into())
            || refused == (Some(403), "PUSH_WRONG_APP".into()),
        "{r}"
    );
    assert_eq!(seen(&api, &id, &alice, &bob).await.0, "checking");
    // A good one settles it; replaying that very request changes nothing more.
    let good = fire(&s, verdict("risky"), json!({})).await;
    assert_eq!(good["status"], 200, "{good}");
    assert_eq!(seen(&api, &id, &alice, &bob).await.0, "rejected");
    let (st, body) = resend(&s, &good, good["payload"].as_str().unwrap()).await;
    assert_eq!((st, code(&body).as_str()), (409, "PUSH_REPLAYED"));
    for text in [&good.to_string(), &body] {
        assert!(!text.contains(AES_KEY) && !text.contains(TOKEN), "{text}");
    }
}

/// `wechat.mediaCheck` from a function: the verdict, pushed later, is handed to the push
/// function (it is no upload's), once.
async fn a_functions_media_check_reaches_its_export(s: Server) {
    let api = Api::new(&s.base);
    deploy_inbox(&api).await;
    let src = r#"
import { wechat } from "yunqiao";
export async function check(url) { return wechat.mediaCheck({ url }) }
export async function bad() { return wechat.mediaCheck({ url: "file:///etc/passwd" }) }
"#;
    let r = api
        .call(
            "PUT",
            "/v1/functions/checker",
            Some(ADMIN_KEY),
            Some(json!({ "source": src })),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
    let (alice, _) = api.login("mock:alice").await;
    // A URL the mock can download: the server's own health answer, with a marker.
    let url = format!("{}/v1/health?[review]", s.base);
    let r = api
        .call(
            "POST",
            "/v1/fn/checker/check",
            Some(&alice),
            Some(json!({ "args": [url] })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let trace = r.body["result"]["trace_id"].as_str().unwrap().to_string();
    let bad = api
        .call(
            "POST",
            "/v1/fn/checker/bad",
            Some(&alice),
            Some(json!({ "args": [] })),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(handled(&api).await.0, 0);
    for _ in 0..2 {
        let d = s
            .mock_post_ok(
                "/mock/media-checks/deliver",
                json!({"trace_id": trace, "suggest": "review"}),
            )
            .await;
        assert_eq!(d["delivered"][0]["body"], "success", "{d}");
    }
    let (n, logs) = handled(&api).await;
    assert_eq!(n, 1, "once: {logs}");
    let events = logs_of_events(&logs);
    assert_eq!(events[0]["trace_id"], trace.as_str());
    assert_eq!(events[0]["result"]["suggest"], "review");
    assert_eq!(events[0]["Event"], "wxa_media_check");
}

/// A push whose function failed is not acknowledged; WeChat sends it again, perhaps as the
/// very same request (timestamp and nonce), and that retry runs — it is not a replay.
async fn a_push_that_failed_runs_when_sent_again(s: Server) {
    let api = Api::new(&s.base);
    let failing =
        r#"export async function on_wechat_event(event) { throw new Error("down for a moment") }"#;
    let r = api
        .call(
            "PUT",
            "/v1/functions/inbox",
            Some(ADMIN_KEY),
            Some(json!({ "source": failing })),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
    let first = fire(&s, media_check("t-retry"), json!({})).await;
    assert_ne!(first["status"], 200, "{first}");
    assert_ne!(first["body"].as_str(), Some("success"), "{first}");

    deploy_inbox(&api).await;
    let (st, body) = resend(&s, &first, first["payload"].as_str().unwrap()).await;
    assert_eq!(
        (st, body.as_str()),
        (200, "success"),
        "the first answer: {first}"
    );
    let r = api
        .call(
            "GET",
            "/v1/functions/inbox/logs?limit=100",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    let ok: Vec<Value> = r.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l["export"] == "on_wechat_event" && l["outcome"] == "ok")
        .collect();
    assert_eq!(ok.len(), 1, "{}", r.text);
    assert!(r.text.contains("t-retry"), "{}", r.text);
    // Acknowledged now: the same request once more is a replay.
    let (st, body) = resend(&s, &first, first["payload"].as_str().unwrap()).await;
    assert_eq!((st, code(&body).as_str()), (409, "PUSH_REPLAYED"));
}
