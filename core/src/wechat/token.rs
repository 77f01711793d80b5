//! The app's one access token, shared by every process through the store.
//!
//! WeChat allows 10,000 `stable_token` fetches a day, and on AWS every Lambda sandbox is a
//! process of its own: each fetching its own token would spend the quota. So the token
//! lives in the item store (`wxtoken` / `token`, expiring with it), and:
//!
//! * **in one process**, callers queue on one lock: twenty concurrent first calls make
//!   one fetch, the others find it on their turn (and in this process's copy after);
//! * **across processes**, whoever finds no usable token in the store claims a short
//!   lease (`wxtoken` / `lease`, a conditional put that only one wins) and fetches; the
//!   others read the store again until the winner's token is there (or the lease lapses,
//!   when they fetch themselves — a crashed holder never blocks the app);
//! * a token is renewed [`MARGIN_MS`] before WeChat says it expires, and at once when
//!   WeChat rejects it (40001, 40014, 42001): [`AccessTokens::get`] with the rejected
//!   token skips it, in this process's copy and in the store, and asks WeChat for a new
//!   one (`force_refresh`) only if nobody has already.
//!
//! The token never leaves the server: no answer carries it, the port's `Debug` hides it,
//! and cloud functions' logs are cleaned of every token this process has held
//! ([`AccessTokens::known`]).

use std::sync::Arc;

use serde_json::json;

use super::port::{WeChat, WxError};
use crate::clock::SharedClock;
use crate::keys;
use crate::store::{Cond, Item, ItemStore, StoreError};

/// Renew a token this long before it expires.
pub const MARGIN_MS: i64 = 5 * 60 * 1000;
/// How long a lease holds others off (seconds): longer than a `stable_token` call takes.
const LEASE_SECS: i64 = 10;
/// How often a process waiting for another's fetch reads the store again.
const POLL: std::time::Duration = std::time::Duration::from_millis(50);
/// Polls before a waiting process stops trusting the lease and fetches itself.
const MAX_POLLS: u32 = 200;
/// Tokens remembered for redaction.
const KNOWN: usize = 4;

#[derive(Clone)]
struct Held {
    token: String,
    expires_at_ms: i64,
}

pub struct AccessTokens {
    port: Arc<dyn WeChat>,
    store: Arc<dyn ItemStore>,
    clock: SharedClock,
    held: tokio::sync::Mutex<Option<Held>>,
    known: std::sync::Mutex<Vec<String>>,
}

fn store_err(e: StoreError) -> WxError {
    WxError::Transport(format!("the token store: {e}"))
}

impl AccessTokens {
    pub fn new(port: Arc<dyn WeChat>, store: Arc<dyn ItemStore>, clock: SharedClock) -> Self {
        AccessTokens {
            port,
            store,
            clock,
            held: tokio::sync::Mutex::new(None),
            known: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Every token this process has held lately (for redaction, never for use).
    pub fn known(&self) -> Vec<String> {
        self.known.lock().map(|k| k.clone()).unwrap_or_default()
    }

    fn remember(&self, t: &Held) {
        if let Ok(mut k) = self.known.lock()
            && !k.contains(&t.token)
        {
            k.push(t.token.clone());
            if k.len() > KNOWN {
                k.remove(0);
            }
        }
    }

    fn usable(&self, t: &Held, rejected: Option<&str>) -> bool {
        t.expires_at_ms - MARGIN_MS > self.clock.now_ms() && Some(t.token.as_str()) != rejected
    }

    /// A usable token: not within [`MARGIN_MS`] of its expiry, and not `rejected` (the
    /// one WeChat just refused).
    pub async fn get(&self, rejected: Option<&str>) -> Result<String, WxError> {
        let mut held = self.held.lock().await;
        if let Some(h) = held.as_ref().filter(|h| self.usable(h, rejected)) {
            return Ok(h.token.clone());
        }
        let fresh = self.shared(rejected).await?;
        self.remember(&fresh);
        let token = fresh.token.clone();
        *held = Some(fresh);
        Ok(token)
    }

    async fn stored(&self) -> Result<Option<Held>, WxError> {
        let item = self
            .store
            .get(keys::WX_TOKEN, "token")
            .await
            .map_err(store_err)?;
        Ok(item.and_then(|i| {
            Some(Held {
                token: i.str("token")?.to_string(),
                expires_at_ms: i.get("expires_at_ms")?.as_i64()?,
            })
        }))
    }

    /// The store's token, or a new one fetched by the one process holding the lease.
    async fn shared(&self, rejected: Option<&str>) -> Result<Held, WxError> {
        let holder = crate::ids::new_id(self.clock.now_ms());
        for _ in 0..MAX_POLLS {
            if let Some(t) = self.stored().await?.filter(|t| self.usable(t, rejected)) {
                return Ok(t);
            }
            let lease = Item::new(
                keys::WX_TOKEN,
                "lease",
                json!({ "holder": holder })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
            .expiring_at(self.clock.now_secs() + LEASE_SECS);
            match self.store.put(lease, Some(Cond::NotExists)).await {
                Ok(()) => {
                    let out = self.fetch(rejected.is_some()).await;
                    // Whatever happened, let the next one try at once.
                    let _ = self
                        .store
                        .delete(
                            keys::WX_TOKEN,
                            "lease",
                            Some(Cond::eq("holder", holder.as_str())),
                        )
                        .await;
                    return out;
                }
                Err(StoreError::ConditionFailed) => tokio::time::sleep(POLL).await,
                Err(e) => return Err(store_err(e)),
            }
        }
        // The lease kept being renewed by others and none of them stored a token: fetch.
        self.fetch(rejected.is_some()).await
    }

    /// Asks WeChat, and keeps the answer in the store until it expires.
    async fn fetch(&self, force_refresh: bool) -> Result<Held, WxError> {
        let now = self.clock.now_ms();
        let t = self.port.stable_token(force_refresh).await?;
        let held = Held {
            expires_at_ms: now + t.expires_in.max(0) * 1000,
            token: t.token,
        };
        let item = Item::new(
            keys::WX_TOKEN,
            "token",
            json!({ "token": held.token, "expires_at_ms": held.expires_at_ms })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )
        .expiring_at(held.expires_at_ms.div_euclid(1000));
        self.store.put(item, None).await.map_err(store_err)?;
        tracing::info!(
            expires_in = t.expires_in,
            force_refresh,
            "fetched a WeChat access token"
        );
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::memory_store::MemoryStore;
    use crate::wechat::port::{WxAccessToken, WxSession};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A WeChat whose `stable_token` counts its calls and takes a little time.
    struct Counting {
        fetches: AtomicU32,
        forced: AtomicU32,
    }

    #[async_trait::async_trait]
    impl WeChat for Counting {
        async fn code_to_session(&self, _: &str) -> Result<WxSession, WxError> {
            Err(WxError::Transport("none".into()))
        }
        async fn stable_token(&self, force: bool) -> Result<WxAccessToken, WxError> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            if force {
                self.forced.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok(WxAccessToken {
                token: format!("tok-{n}"),
                expires_in: 7200,
            })
        }
    }

    fn setup() -> (Arc<Counting>, Arc<dyn ItemStore>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::at(1_700_000_000_000));
        let store: Arc<dyn ItemStore> = Arc::new(MemoryStore::new(clock.clone()));
        let port = Arc::new(Counting {
            fetches: AtomicU32::new(0),
            forced: AtomicU32::new(0),
        });
        (port, store, clock)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_callers_in_many_processes_fetch_once() {
        let (port, store, clock) = setup();
        // Three "processes": three providers over one store and one WeChat.
        let procs: Vec<Arc<AccessTokens>> = (0..3)
            .map(|_| {
                Arc::new(AccessTokens::new(
                    port.clone(),
                    store.clone(),
                    clock.clone(),
                ))
            })
            .collect();
        let mut tasks = Vec::new();
        for i in 0..30 {
            let p = procs[i % 3].clone();
            tasks.push(tokio::spawn(async move { p.get(None).await }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "tok-1");
        }
        assert_eq!(port.fetches.load(Ordering::SeqCst), 1);
        // Near expiry it is renewed, once again.
        clock.advance_ms(7200 * 1000 - MARGIN_MS + 1);
        assert_eq!(procs[0].get(None).await.unwrap(), "tok-2");
        assert_eq!(procs[1].get(None).await.unwrap(), "tok-2");
        assert_eq!(port.fetches.load(Ordering::SeqCst), 2);
        assert_eq!(port.forced.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_rejected_token_is_replaced_once() {
        let (port, store, clock) = setup();
        let a = AccessTokens::new(port.clone(), store.clone(), clock.clone());
        let b = AccessTokens::new(port.clone(), store.clone(), clock.clone());
        assert_eq!(a.get(None).await.unwrap(), "tok-1");
        assert_eq!(b.get(None).await.unwrap(), "tok-1");
        // WeChat rejects tok-1 for a: a forces a new one…
        assert_eq!(a.get(Some("tok-1")).await.unwrap(), "tok-2");
        assert_eq!(port.forced.load(Ordering::SeqCst), 1);
        // …and b, rejected too, finds it in the store instead of fetching again.
        assert_eq!(b.get(Some("tok-1")).await.unwrap(), "tok-2");
        assert_eq!(port.fetches.load(Ordering::SeqCst), 2);
        assert_eq!(a.known(), vec!["tok-1".to_string(), "tok-2".to_string()]);
    }

    #[tokio::test]
    async fn a_lapsed_lease_does_not_block() {
        let (port, store, clock) = setup();
        // A process claimed the lease and died.
        let lease = Item::new(keys::WX_TOKEN, "lease", Default::default())
            .expiring_at(clock.now_secs() + LEASE_SECS);
        store.put(lease, None).await.unwrap();
        clock.advance_ms(LEASE_SECS * 1000);
        let a = AccessTokens::new(port.clone(), store, clock);
        assert_eq!(a.get(None).await.unwrap(), "tok-1");
    }

    #[test]
    fn debug_hides_the_token() {
        let t = WxAccessToken {
            token: "secret-token".into(),
            expires_in: 7200,
        };
        assert!(!format!("{t:?}").contains("secret-token"));
    }
}
