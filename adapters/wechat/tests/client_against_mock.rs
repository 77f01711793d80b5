//! The real client against the mock over real HTTP on 127.0.0.1.

use std::sync::Arc;

use yunqiao_core::clock::{ManualClock, SharedClock};
use yunqiao_core::wechat::api::{SubscribeMessage, TextCheck};
use yunqiao_core::wechat::{WeChat, WxApi, WxError};
use yunqiao_wechat::{MockConfig, WeChatClient, WeChatConfig, WeChatMock};

struct Fixture {
    base: String,
    mock: WeChatMock,
    clock: ManualClock,
    http: reqwest::Client,
}

async fn start(unionid: bool) -> Fixture {
    let clock = ManualClock::at(1_800_000_000_000);
    let shared: SharedClock = Arc::new(clock.clone());
    let mock = WeChatMock::new(
        MockConfig {
            appid: "wxtestapp".into(),
            secret: "s3cret".into(),
            unionid,
        },
        shared,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = mock.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Fixture {
        base,
        mock,
        clock,
        http: reqwest::Client::new(),
    }
}

impl Fixture {
    fn client(&self, secret: &str) -> WeChatClient {
        WeChatClient::new(
            WeChatConfig {
                api_base: self.base.clone(),
                appid: "wxtestapp".into(),
                secret: secret.into(),
            },
            Arc::new(self.clock.clone()),
        )
        .unwrap()
    }

    async fn issue(&self, path: &str, body: serde_json::Value) -> String {
        let v: serde_json::Value = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["code"].as_str().unwrap().to_string()
    }

    async fn issue_raw(&self, path: &str, body: serde_json::Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

fn errcode(r: Result<impl std::fmt::Debug, WxError>) -> i64 {
    match r {
        Err(WxError::Api { errcode, .. }) => errcode,
        other => panic!("expected a WeChat error, got {other:?}"),
    }
}

#[tokio::test]
async fn login_codes_are_single_use_and_openids_stable() {
    let f = start(true).await;
    let c = f.client("s3cret");
    let a1 = c.code_to_session("mock:alice:1").await.unwrap();
    let a2 = c.code_to_session("mock:alice:2").await.unwrap();
    let b = c.code_to_session("mock:bob").await.unwrap();
    assert_eq!(a1.openid, a2.openid, "stable openid per name");
    assert_ne!(a1.openid, b.openid);
    assert_eq!(a1.openid, f.mock.openid_for("alice"));
    assert_eq!(
        a1.unionid.as_deref(),
        Some(f.mock.unionid_for("alice").as_str())
    );
    assert_ne!(
        a1.session_key, a2.session_key,
        "fresh session key per login"
    );
    assert_eq!(
        errcode(c.code_to_session("mock:alice:1").await),
        40163,
        "reuse"
    );
    assert_eq!(errcode(c.code_to_session("garbage").await), 40029);
    assert_eq!(errcode(c.code_to_session("mock:bad name").await), 40029);
    assert_eq!(errcode(c.code_to_session("mock-error:40226").await), 40226);
    assert_eq!(errcode(c.code_to_session("mock-error:-1").await), -1);
    assert_eq!(
        errcode(f.client("wrong").code_to_session("mock:x").await),
        40125
    );

    let issued = f
        .issue(
            "/mock/login-code",
            serde_json::json!({"name": "carol", "unionid": false}),
        )
        .await;
    let s = c.code_to_session(&issued).await.unwrap();
    assert_eq!(s.openid, f.mock.openid_for("carol"));
    assert_eq!(s.unionid, None);
    assert_eq!(errcode(c.code_to_session(&issued).await), 40163);
    let stale = f
        .issue("/mock/login-code", serde_json::json!({"name": "carol"}))
        .await;
    f.clock.advance_ms(5 * 60 * 1000 + 1);
    assert_eq!(
        errcode(c.code_to_session(&stale).await),
        40029,
        "codes last 5 minutes"
    );
}

#[tokio::test]
async fn unionid_is_optional() {
    let f = start(false).await;
    let s = f
        .client("s3cret")
        .code_to_session("mock:dave")
        .await
        .unwrap();
    assert_eq!(s.unionid, None);
}

#[tokio::test]
async fn rate_limit_answers_45011() {
    let f = start(true).await;
    let c = f.client("s3cret");
    for i in 0..100 {
        c.code_to_session(&format!("mock:eve:{i}")).await.unwrap();
    }
    assert_eq!(errcode(c.code_to_session("mock:eve:100").await), 45011);
    f.clock.advance_ms(60_000);
    c.code_to_session("mock:eve:101")
        .await
        .expect("next minute");
}

/// The domain's WeChat API (shared token, refresh and retry) over the real client.
fn api(f: &Fixture) -> WxApi {
    let clock: SharedClock = Arc::new(f.clock.clone());
    let store = Arc::new(yunqiao_core::memory_store::MemoryStore::new(clock.clone()));
    WxApi::new(Arc::new(f.client("s3cret")), store, clock)
}

async fn token_fetches(f: &Fixture) -> u64 {
    let v: serde_json::Value = f
        .http
        .get(format!("{}/mock/stats", f.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token_fetches"].as_u64().unwrap()
}

#[tokio::test]
async fn phone_numbers_and_token_refresh() {
    let f = start(true).await;
    let c = api(&f);
    let code = f
        .issue(
            "/mock/phone-code",
            serde_json::json!({"phone": "13800138000"}),
        )
        .await;
    let p = c.phone_number(&code).await.unwrap();
    assert_eq!(p.phone_number, "13800138000");
    assert_eq!(p.country_code, "86");
    assert_eq!(
        errcode(c.phone_number(&code).await),
        40029,
        "phone codes are single use"
    );
    assert_eq!(token_fetches(&f).await, 1, "the token is kept");
    // WeChat expires the token behind the client's back: it is renewed and the call made again.
    f.http
        .post(format!("{}/mock/expire-access-tokens", f.base))
        .send()
        .await
        .unwrap();
    let p = c.phone_number("mock-phone:13900139000").await.unwrap();
    assert_eq!(p.pure_phone_number, "13900139000");
    assert_eq!(token_fetches(&f).await, 2, "a new token was fetched");
    // Near expiry the kept token is renewed before use.
    f.clock.advance_ms(7200 * 1000 - 60_000);
    c.phone_number("mock-phone:13900139001").await.unwrap();
    assert_eq!(token_fetches(&f).await, 3);
    assert_eq!(errcode(c.phone_number("nope").await), 40029);
    // A bad secret never yields a token.
    assert_eq!(errcode(f.client("wrong").stable_token(false).await), 40125);
}

#[tokio::test]
async fn text_checks_and_subscribe_messages() {
    let f = start(true).await;
    let c = api(&f);
    let alice = c.code_to_session("mock:alice").await.unwrap().openid;
    let check = |content: &str| TextCheck {
        openid: alice.clone(),
        content: content.into(),
        scene: 2,
        ..Default::default()
    };
    assert_eq!(
        c.msg_sec_check(&check("hello")).await.unwrap().suggest,
        "pass"
    );
    let v = c.msg_sec_check(&check("buy [risky] now")).await.unwrap();
    assert_eq!((v.suggest.as_str(), v.label), ("risky", 20001));
    assert!(v.trace_id.is_some());
    assert_eq!(
        c.msg_sec_check(&check("[review]")).await.unwrap().suggest,
        "review"
    );
    let stranger = TextCheck {
        openid: "o-nobody".into(),
        ..check("hi")
    };
    assert_eq!(errcode(c.msg_sec_check(&stranger).await), 40003);

    let msg = SubscribeMessage {
        template_id: "tpl-1".into(),
        page: Some("pages/index/index".into()),
        data: serde_json::json!({"thing1": {"value": "shipped"}}),
        miniprogram_state: None,
    };
    assert_eq!(errcode(c.subscribe_send(&alice, &msg).await), 43101);
    f.issue_raw(
        "/mock/subscriptions",
        serde_json::json!({"name": "alice", "template_id": "tpl-1"}),
    )
    .await;
    c.subscribe_send(&alice, &msg).await.unwrap();
    assert_eq!(
        errcode(c.subscribe_send(&alice, &msg).await),
        43101,
        "one acceptance, one message"
    );
    let sent: serde_json::Value = f
        .http
        .get(format!("{}/mock/subscribe-messages", f.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent["messages"].as_array().unwrap().len(), 1);
    assert_eq!(sent["messages"][0]["touser"], alice.as_str());
    assert_eq!(sent["messages"][0]["data"]["thing1"]["value"], "shipped");
    assert_eq!(token_fetches(&f).await, 1);
}
