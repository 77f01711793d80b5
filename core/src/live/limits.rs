//! Per-connection frame rate: a fixed window of [`RATE_WINDOW_SECS`] seconds admitting
//! [`RATE_LIMIT`] frames. The local server counts in memory; Lambda sandboxes share
//! nothing, so there the count lives on the connection's record, one conditional update
//! per frame. Both count the same way.
//!
//! Connections per user: a user has `MAX_CONNECTIONS_PER_USER` slots,
//! `connslot#<user>` / `<n>`, and a connection is recorded only once it holds one,
//! claimed with a put conditioned on the slot being free. Concurrent handshakes cannot
//! both win a slot, on the embedded store or on DynamoDB; a slot expires with its
//! connection, so one whose `$disconnect` never came frees itself.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;

use crate::store::{Cond, Item, ItemStore, Query, StoreError, Update};
use crate::{Code, Error, Result};

pub const RATE_WINDOW_SECS: i64 = 10;
pub const RATE_LIMIT: i64 = 100;

pub enum RateLimiter {
    /// For a process that holds its connections (the local server).
    InMemory(Mutex<HashMap<String, (i64, i64)>>),
    /// For stateless handlers: counts on `conn#<id>`.
    InStore,
}

/// Whether a frame may be handled; `Open` carries the connection's record.
pub enum Admit {
    Open(crate::store::Item),
    Limited,
}

impl RateLimiter {
    pub fn in_memory() -> Self {
        RateLimiter::InMemory(Mutex::new(HashMap::new()))
    }

    /// Counts one frame of `connection` at `now_secs`. `NOT_FOUND` for a connection
    /// that is not open.
    pub async fn admit(
        &self,
        store: &dyn ItemStore,
        pk: &str,
        connection: &str,
        now_secs: i64,
    ) -> Result<Admit> {
        let window = now_secs.div_euclid(RATE_WINDOW_SECS);
        let gone = || Error::not_found("no such connection");
        match self {
            RateLimiter::InMemory(m) => {
                let allowed = {
                    let mut m = m.lock().map_err(|_| Error::internal("limiter poisoned"))?;
                    let e = m.entry(connection.to_string()).or_insert((window, 0));
                    if e.0 != window {
                        *e = (window, 0);
                    }
                    e.1 += 1;
                    e.1 <= RATE_LIMIT
                };
                if !allowed {
                    return Ok(Admit::Limited);
                }
                store.get(pk, "_").await?.map(Admit::Open).ok_or_else(gone)
            }
            RateLimiter::InStore => {
                let same_window = Cond::And(vec![
                    Cond::eq("rw", window),
                    Cond::Lt("rn".into(), json!(RATE_LIMIT)),
                ]);
                match store
                    .update(pk, "_", Update::default().add("rn", 1), Some(same_window))
                    .await
                {
                    Ok(item) => return Ok(Admit::Open(item)),
                    Err(StoreError::ConditionFailed) => {}
                    Err(e) => return Err(e.into()),
                }
                let new_window = Cond::Or(vec![
                    Cond::AttrNotExists("rw".into()),
                    Cond::Lt("rw".into(), json!(window)),
                ]);
                let fresh = Update::default().set("rw", window).set("rn", 1);
                match store.update(pk, "_", fresh, Some(new_window)).await {
                    Ok(item) => Ok(Admit::Open(item)),
                    Err(StoreError::ConditionFailed) => match store.get(pk, "_").await? {
                        Some(_) => Ok(Admit::Limited),
                        None => Err(gone()),
                    },
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    pub fn forget(&self, connection: &str) {
        if let RateLimiter::InMemory(m) = self
            && let Ok(mut m) = m.lock()
        {
            m.remove(connection);
        }
    }
}

fn slots_pk(user_id: &str) -> String {
    format!("{}{user_id}", crate::keys::CONNECTION_SLOTS)
}

/// Claims a free slot of `user_id`'s `max` for `connection`, expiring with it at
/// `expires` (epoch seconds): the slot's number, or 429 `TOO_MANY_CONNECTIONS` when every
/// slot is held.
pub async fn claim_connection_slot(
    store: &dyn ItemStore,
    user_id: &str,
    connection: &str,
    max: usize,
    expires: i64,
) -> Result<u64> {
    let pk = slots_pk(user_id);
    let held: std::collections::HashSet<String> = store
        .query(Query::partition(pk.clone()).limit(max.clamp(1, 1000)))
        .await?
        .items
        .into_iter()
        .map(|i| i.sk)
        .collect();
    // Handshakes racing for slots start at different ones.
    let start = connection
        .bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
    for k in 0..max {
        let n = ((start + k) % max) as u64;
        if held.contains(&n.to_string()) {
            continue;
        }
        let mut attrs = serde_json::Map::new();
        attrs.insert("connection".into(), json!(connection));
        let slot = Item::new(pk.clone(), n.to_string(), attrs).expiring_at(expires);
        match store.put(slot, Some(Cond::NotExists)).await {
            Ok(()) => return Ok(n),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::new(
        Code::TooManyConnections,
        format!("a user may have at most {max} live connections open"),
    ))
}

/// Frees `slot` of `user_id` if `connection` still holds it.
pub async fn release_connection_slot(
    store: &dyn ItemStore,
    user_id: &str,
    slot: u64,
    connection: &str,
) -> Result<()> {
    match store
        .delete(
            &slots_pk(user_id),
            &slot.to_string(),
            Some(Cond::eq("connection", connection)),
        )
        .await
    {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
