//! Call logs: one item per call under `fnlog#<module>`, written off the request path.
//!
//! On a long-running server a call's log waits in memory (readable at once through
//! [`CallLog::pending_for`]) and a background writer keeps them in batches: it lingers
//! [`LINGER`] after the first one, then writes everything waiting as several
//! transactions at once, which the embedded store commits together. So a steady
//! stream of calls costs a few commits a second instead of one or more per call.
//! What a crash may lose is at most the last [`LINGER`] and one write of call logs,
//! never a record or anything a client was told was written. On Lambda nothing runs
//! after the answer, so each call writes its own log before answering.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::store::{Item, ItemStore, MAX_TRANSACTION_OPS, WriteOp};

/// Call logs held for writing at most (past it, under a flood, logs are dropped).
pub const MAX_PENDING: usize = 10_000;
/// How long the writer waits after the first log of a batch.
pub const LINGER: Duration = Duration::from_millis(50);
/// Transactions one write sends at once.
const PARALLEL_WRITES: usize = 16;

pub struct CallLog {
    store: Arc<dyn ItemStore>,
    /// Logs waiting to be written (copied, not taken, while a write runs, so they stay
    /// readable until they are in the store).
    pending: Mutex<Vec<Item>>,
    /// Whether a writer is at it.
    writing: Mutex<bool>,
}

impl CallLog {
    pub fn new(store: Arc<dyn ItemStore>) -> Arc<CallLog> {
        Arc::new(CallLog {
            store,
            pending: Mutex::new(Vec::new()),
            writing: Mutex::new(false),
        })
    }

    /// Writes `item` now (Lambda: `background` is false) or queues it; returns the
    /// writer to run in the background when none is running.
    pub async fn keep(
        self: &Arc<Self>,
        item: Item,
        background: bool,
    ) -> Option<BoxFuture<'static, ()>> {
        if !background {
            if let Err(e) = self.store.put(item, None).await {
                tracing::warn!(error = %e, "could not keep a function log");
            }
            return None;
        }
        match self.pending.lock() {
            Ok(mut q) if q.len() < MAX_PENDING => q.push(item),
            _ => return None,
        }
        // Locks are taken one at a time here; the writer takes `writing` first.
        let start = !std::mem::replace(
            &mut *self.writing.lock().unwrap_or_else(|p| p.into_inner()),
            true,
        );
        let me = self.clone();
        start.then(|| futures_util::FutureExt::boxed(async move { me.drain().await }))
    }

    /// Logs of `pk` not yet in the store.
    pub fn pending_for(&self, pk: &str) -> Vec<Item> {
        self.pending
            .lock()
            .map(|q| q.iter().filter(|it| it.pk == pk).cloned().collect())
            .unwrap_or_default()
    }

    async fn drain(&self) {
        loop {
            tokio::time::sleep(LINGER).await;
            let batch: Vec<Item> = match self.pending.lock() {
                Ok(q) => q[..q.len().min(MAX_TRANSACTION_OPS * PARALLEL_WRITES)].to_vec(),
                Err(_) => Vec::new(),
            };
            let n = batch.len();
            if batch.is_empty() {
                // Checked again under the flag's lock: a log pushed meanwhile is drained.
                let mut writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
                if self.pending.lock().map(|q| q.is_empty()).unwrap_or(true) {
                    *writing = false;
                    return;
                }
                continue;
            }
            let mut chunks = Vec::new();
            let mut rest = batch.into_iter().peekable();
            while rest.peek().is_some() {
                let ops: Vec<WriteOp> = rest
                    .by_ref()
                    .take(MAX_TRANSACTION_OPS)
                    .map(|item| WriteOp::Put { item, cond: None })
                    .collect();
                chunks.push(self.store.transact(ops));
            }
            for r in futures_util::future::join_all(chunks).await {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "could not keep function logs");
                }
            }
            if let Ok(mut q) = self.pending.lock() {
                let n = n.min(q.len());
                q.drain(..n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Query;

    fn item(i: usize) -> Item {
        let mut attrs = serde_json::Map::new();
        attrs.insert("n".into(), serde_json::json!(i));
        Item::new("fnlog#m", format!("{i:013}"), attrs)
    }

    /// 1,000 logs queued at once reach the store (as ten transactions), stay readable
    /// until then, and the writer stops when nothing is left.
    #[tokio::test]
    async fn a_burst_is_written_whole_and_readable_meanwhile() {
        let store = Arc::new(crate::memory_store::MemoryStore::new(Arc::new(
            crate::clock::SystemClock,
        )));
        let log = CallLog::new(store.clone());
        let mut writer = None;
        for i in 0..1000 {
            if let Some(w) = log.keep(item(i), true).await {
                assert!(writer.is_none(), "one writer at a time");
                writer = Some(w);
            }
        }
        assert_eq!(log.pending_for("fnlog#m").len(), 1000);
        assert!(log.pending_for("fnlog#other").is_empty());
        writer.expect("the first log starts a writer").await;
        assert!(log.pending_for("fnlog#m").is_empty());
        let page = store
            .query(Query::partition("fnlog#m").limit(1000))
            .await
            .expect("query");
        assert_eq!(page.items.len(), 1000);
        assert!(page.cursor.is_none(), "exactly 1,000");
        // The writer has stopped: the next log starts another.
        assert!(log.keep(item(1000), true).await.is_some());
    }

    /// Without a background (Lambda), a log is in the store when `keep` returns.
    #[tokio::test]
    async fn without_a_background_a_log_is_written_before_the_answer() {
        let store = Arc::new(crate::memory_store::MemoryStore::new(Arc::new(
            crate::clock::SystemClock,
        )));
        let log = CallLog::new(store.clone());
        assert!(log.keep(item(1), false).await.is_none());
        assert!(
            store
                .get("fnlog#m", &format!("{:013}", 1))
                .await
                .expect("get")
                .is_some()
        );
    }
}
