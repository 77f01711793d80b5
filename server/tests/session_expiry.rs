//! Session expiry and the WeChat token/refresh path, with a clock the test moves.

use std::sync::Arc;

use yunqiao_core::Code;
use yunqiao_core::auth::{Auth, AuthConfig, Caller};
use yunqiao_core::clock::ManualClock;
use yunqiao_local::LocalStore;
use yunqiao_wechat::{MockConfig, WeChatClient, WeChatConfig, WeChatMock};

#[tokio::test]
async fn sessions_end_at_their_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(1_800_000_000_000);
    let shared = Arc::new(clock.clone());
    let mock = WeChatMock::new(
        MockConfig {
            appid: "wxa".into(),
            secret: "s".into(),
            unionid: false,
        },
        shared.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = mock.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let wechat = WeChatClient::new(
        WeChatConfig {
            api_base: base,
            appid: "wxa".into(),
            secret: "s".into(),
        },
        shared.clone(),
    )
    .unwrap();
    let store = LocalStore::open(&dir.path().join("s.redb"), shared.clone()).unwrap();
    let auth = Auth::new(
        Arc::new(store),
        Arc::new(wechat),
        shared,
        AuthConfig {
            session_ttl_secs: 3600,
            refresh_grace_secs: 60,
            admin_key: None,
        },
    );
    let login = auth.login("mock:gus").await.unwrap();
    assert!(matches!(
        auth.authenticate(Some(&login.token)).await.unwrap(),
        Caller::User { .. }
    ));
    clock.advance_ms(3_599_000);
    let caller = auth.authenticate(Some(&login.token)).await.unwrap();
    // A refresh near the end: the new token lives on, the old one only for the grace period.
    let fresh = auth.refresh(&caller).await.unwrap();
    clock.advance_ms(1_000);
    let err = auth.authenticate(Some(&login.token)).await.unwrap_err();
    assert_eq!(
        err.code,
        Code::InvalidToken,
        "expired exactly at expires_at"
    );
    clock.advance_ms(3_000_000);
    assert!(auth.authenticate(Some(&fresh.token)).await.is_ok());
    clock.advance_ms(600_000);
    assert_eq!(
        auth.authenticate(Some(&fresh.token))
            .await
            .unwrap_err()
            .code,
        Code::InvalidToken
    );
}
