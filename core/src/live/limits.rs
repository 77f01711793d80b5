//! Per-connection frame rate: a fixed window of [`RATE_WINDOW_SECS`] seconds admitting
//! [`RATE_LIMIT`] frames. The local server counts in memory; Lambda sandboxes share
//! nothing, so there the count lives on the connection's record, one conditional update
//! per frame. Both count the same way.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;

use crate::store::{Cond, ItemStore, StoreError, Update};
use crate::{Error, Result};

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
