//! WeChat's pushed events (issue 23, message push), on every face: the echo handshake;
//! forged, stale, replayed and wrong-app pushes refused with nothing handed on; a good
//! one (plaintext or safe mode) reaches the configured export once, however often
//! WeChat sends it.

mod common;

use common::{ADMIN_KEY, Api, Server};
use serde_json::{Value, json};

const TOKEN: &str = "pushToken42";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

const SAFE_MODE: &[(&str, &str)] = &[
    ("YUNQIAO_WECHAT_PUSH_TOKEN", TOKEN),
    ("YUNQIAO_WECHAT_PUSH_AES_KEY", AES_KEY),
    ("YUNQIAO_WECHAT_PUSH_FUNCTION", "inbox"),
];

on_every_face!(env = super::SAFE_MODE;
    handshake_echoes_only_a_good_signature,
    only_good_pushes_reach_the_export,
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
    let r = reqwest::Client::new()
        .post(format!("{}/mock/push", s.wechat_mock))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Sends a request the mock made (its query and payload) again, as a replayer would.
async fn resend(s: &Server, sent: &Value, payload: &Value) -> (u16, String) {
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
    let (st, body) = resend(&s, &good, &good["payload"]).await;
    assert_eq!((st, code(&body).as_str()), (409, "PUSH_REPLAYED"));
    // The ciphertext changed (msg_signature no longer matches).
    let mut tampered = good["payload"].clone();
    tampered["Encrypt"] = json!(format!(
        "A{}",
        &good["payload"]["Encrypt"].as_str().unwrap()[1..]
    ));
    let (st, body) = resend(&s, &good, &tampered).await;
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
