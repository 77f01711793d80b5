//! Record changes, reported after they commit to whoever listens (the live-channel
//! service, which turns them into table events).

use std::sync::{OnceLock, Weak};

use async_trait::async_trait;
use serde_json::{Map, Value};

/// One record going from `before` to `after` (`None`: absent). Both are whole records
/// without their index bookkeeping; readers' rules are applied by the listener.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordChange {
    pub table: String,
    pub id: String,
    pub before: Option<Map<String, Value>>,
    pub after: Option<Map<String, Value>>,
}

/// Told about committed changes. It must not fail the write: the write has happened.
#[async_trait]
pub trait ChangeListener: Send + Sync {
    async fn records_changed(&self, changes: Vec<RecordChange>);
}

/// The listener slot of the tables service. Weak, because the listener (the live
/// service) itself holds the tables service.
#[derive(Default)]
pub(crate) struct Listener(OnceLock<Weak<dyn ChangeListener>>);

impl Listener {
    pub fn set(&self, l: Weak<dyn ChangeListener>) {
        let _ = self.0.set(l);
    }

    pub async fn notify(&self, changes: Vec<RecordChange>) {
        if changes.is_empty() {
            return;
        }
        if let Some(l) = self.0.get().and_then(Weak::upgrade) {
            l.records_changed(changes).await;
        }
    }
}
