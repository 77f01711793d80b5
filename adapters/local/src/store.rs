//! The embedded ItemStore: redb on disk.
//!
//! * Every write is a redb transaction committed with immediate durability (fsync), so an
//!   acknowledged write survives `kill -9` and a transaction is never half applied.
//! * Writes go through one writer thread that takes every request waiting in its queue
//!   and commits them together (group commit): one fsync for many writes under load.
//!   Each request keeps its own all-or-nothing semantics inside the shared commit, and
//!   they are applied one after another, so the outcome is the same as one commit each.
//! * Reads use redb's MVCC read transactions and never wait for the writer.
//! * Items with an expiry are also listed in an expiry table so the sweeper removes them
//!   without scanning; until then reads and conditions treat them as absent.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use async_trait::async_trait;
use redb::{Database, ReadableTable, Table, TableDefinition};
use serde_json::Value;
use tokio::sync::oneshot;
use yunqiao_core::clock::SharedClock;
use yunqiao_core::store::{
    Attrs, Cond, Item, ItemStore, Page, Query, SkRange, StoreError, Update, WriteOp, check_size,
    validate_key, validate_transaction,
};

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
const EXPIRY: TableDefinition<(i64, &str, &str), ()> = TableDefinition::new("expiry");
/// Requests folded into one commit at most.
const MAX_GROUP: usize = 256;
/// Expired items removed per sweep commit.
const SWEEP_BATCH: usize = 1000;

type Reply = oneshot::Sender<Result<Option<Item>, StoreError>>;

enum Job {
    Write {
        ops: Vec<WriteOp>,
        single: bool,
        reply: Reply,
    },
    Sweep {
        reply: oneshot::Sender<Result<usize, StoreError>>,
    },
}

#[derive(Clone)]
pub struct LocalStore {
    db: Arc<Database>,
    clock: SharedClock,
    writer: mpsc::Sender<Job>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn encode(item: &Item) -> Vec<u8> {
    let mut m = serde_json::Map::with_capacity(2);
    m.insert("a".into(), Value::Object(item.attrs.clone()));
    if let Some(t) = item.expires_at {
        m.insert("t".into(), Value::from(t));
    }
    serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
}

/// The stored form `encode` writes, read straight into its parts (no map around them).
#[derive(serde::Deserialize)]
struct Stored {
    a: Attrs,
    #[serde(default)]
    t: Option<i64>,
}

fn decode(pk: &str, sk: &str, bytes: &[u8]) -> Result<Item, StoreError> {
    let v: Stored = serde_json::from_slice(bytes)
        .map_err(|e| unavailable(format!("corrupt item {pk}/{sk}: {e}")))?;
    Ok(Item {
        pk: pk.to_string(),
        sk: sk.to_string(),
        attrs: v.a,
        expires_at: v.t,
    })
}

/// The partition's upper bound: no key sorts between `pk` and `pk\0`.
fn partition_end(pk: &str) -> String {
    format!("{pk}\0")
}

/// An sk bound above every sk with this prefix (sks are at most 1024 bytes).
fn prefix_end(p: &str) -> String {
    let mut s = String::with_capacity(p.len() + 4096);
    s.push_str(p);
    s.extend(std::iter::repeat_n(char::MAX, 1024));
    s
}

impl LocalStore {
    /// Opens (creating if needed) the store file at `path`.
    pub fn open(path: &Path, clock: SharedClock) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(unavailable)?;
        let txn = db.begin_write().map_err(unavailable)?;
        {
            txn.open_table(ITEMS).map_err(unavailable)?;
            txn.open_table(EXPIRY).map_err(unavailable)?;
        }
        txn.commit().map_err(unavailable)?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel();
        let wdb = db.clone();
        let wclock = clock.clone();
        std::thread::Builder::new()
            .name("yunqiao-store-writer".into())
            .spawn(move || writer_loop(&wdb, &wclock, &rx))
            .map_err(unavailable)?;
        Ok(LocalStore {
            db,
            clock,
            writer: tx,
        })
    }

    async fn write(&self, ops: Vec<WriteOp>, single: bool) -> Result<Option<Item>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Job::Write { ops, single, reply })
            .map_err(|_| unavailable("store writer stopped"))?;
        rx.await.map_err(|_| unavailable("store writer stopped"))?
    }

    /// Physically removes items whose expiry has passed; returns how many.
    pub async fn sweep_expired(&self) -> Result<usize, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Job::Sweep { reply })
            .map_err(|_| unavailable("store writer stopped"))?;
        rx.await.map_err(|_| unavailable("store writer stopped"))?
    }

    /// Runs [`Self::sweep_expired`] every `every` until the store is dropped.
    pub fn spawn_sweeper(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                loop {
                    match store.sweep_expired().await {
                        Ok(n) if n >= SWEEP_BATCH => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "sweeping expired items failed");
                            break;
                        }
                    }
                }
            }
        })
    }
}

#[async_trait]
impl ItemStore for LocalStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        validate_key(pk, sk)?;
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(ITEMS).map_err(unavailable)?;
        let Some(v) = table.get((pk, sk)).map_err(unavailable)? else {
            return Ok(None);
        };
        let item = decode(pk, sk, v.value())?;
        Ok(item.is_live(self.clock.now_secs()).then_some(item))
    }

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        let ops = vec![WriteOp::Put { item, cond }];
        validate_transaction(&ops)?;
        self.write(ops, true).await.map(|_| ())
    }

    async fn update(
        &self,
        pk: &str,
        sk: &str,
        update: Update,
        cond: Option<Cond>,
    ) -> Result<Item, StoreError> {
        let ops = vec![WriteOp::Update {
            pk: pk.to_string(),
            sk: sk.to_string(),
            update,
            cond,
        }];
        validate_transaction(&ops)?;
        self.write(ops, true)
            .await?
            .ok_or_else(|| unavailable("update returned no item"))
    }

    async fn delete(&self, pk: &str, sk: &str, cond: Option<Cond>) -> Result<(), StoreError> {
        let ops = vec![WriteOp::Delete {
            pk: pk.to_string(),
            sk: sk.to_string(),
            cond,
        }];
        validate_transaction(&ops)?;
        self.write(ops, true).await.map(|_| ())
    }

    async fn query(&self, q: Query) -> Result<Page, StoreError> {
        let start_after = q.start_after()?;
        let (mut lo, mut hi): (Bound<String>, Bound<String>) = match &q.range {
            SkRange::All => (Bound::Unbounded, Bound::Unbounded),
            SkRange::Eq(x) => (Bound::Included(x.clone()), Bound::Included(x.clone())),
            SkRange::Prefix(p) => (Bound::Included(p.clone()), Bound::Included(prefix_end(p))),
            SkRange::Between(a, b) => {
                if a > b {
                    return Err(StoreError::Invalid(
                        "Between takes the lower bound first".into(),
                    ));
                }
                (Bound::Included(a.clone()), Bound::Included(b.clone()))
            }
            SkRange::Lt(x) => (Bound::Unbounded, Bound::Excluded(x.clone())),
            SkRange::Le(x) => (Bound::Unbounded, Bound::Included(x.clone())),
            SkRange::Gt(x) => (Bound::Excluded(x.clone()), Bound::Unbounded),
            SkRange::Ge(x) => (Bound::Included(x.clone()), Bound::Unbounded),
        };
        if let Some(c) = start_after {
            if q.forward {
                lo = Bound::Excluded(c);
            } else {
                hi = Bound::Excluded(c);
            }
        }
        let pk = q.pk.as_str();
        let end = partition_end(pk);
        let lo_key = match &lo {
            Bound::Unbounded => Bound::Included((pk, "")),
            Bound::Included(s) => Bound::Included((pk, s.as_str())),
            Bound::Excluded(s) => Bound::Excluded((pk, s.as_str())),
        };
        let hi_key = match &hi {
            Bound::Unbounded => Bound::Excluded((end.as_str(), "")),
            Bound::Included(s) => Bound::Included((pk, s.as_str())),
            Bound::Excluded(s) => Bound::Excluded((pk, s.as_str())),
        };
        let now = self.clock.now_secs();
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(ITEMS).map_err(unavailable)?;
        let iter = table
            .range::<(&str, &str)>((lo_key, hi_key))
            .map_err(unavailable)?;
        let mut items = Vec::with_capacity(q.limit.min(128) + 1);
        let mut visit = |entry: Result<
            (
                redb::AccessGuard<'_, (&str, &str)>,
                redb::AccessGuard<'_, &[u8]>,
            ),
            redb::StorageError,
        >|
         -> Result<bool, StoreError> {
            let (k, v) = entry.map_err(unavailable)?;
            let (kpk, ksk) = k.value();
            if kpk != pk || !q.range.contains(ksk) {
                return Ok(true);
            }
            let item = decode(kpk, ksk, v.value())?;
            if item.is_live(now) {
                items.push(item);
            }
            Ok(items.len() <= q.limit)
        };
        if q.forward {
            for e in iter {
                if !visit(e)? {
                    break;
                }
            }
        } else {
            for e in iter.rev() {
                if !visit(e)? {
                    break;
                }
            }
        }
        Ok(Page::from_overfetched(items, q.limit))
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        self.write(ops, false).await.map(|_| ())
    }
}

fn writer_loop(db: &Database, clock: &SharedClock, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut writes = Vec::new();
        let mut sweeps = Vec::new();
        let mut push = |job| match job {
            Job::Write { ops, single, reply } => writes.push((ops, single, reply)),
            Job::Sweep { reply } => sweeps.push(reply),
        };
        push(first);
        for _ in 1..MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => push(job),
                Err(_) => break,
            }
        }
        if !writes.is_empty() {
            let now = clock.now_secs();
            let jobs: Vec<_> = writes
                .iter()
                .map(|(ops, single, _)| (ops.as_slice(), *single))
                .collect();
            match commit_group(db, now, &jobs) {
                Ok(results) => {
                    for ((_, _, reply), r) in writes.into_iter().zip(results) {
                        let _ = reply.send(r);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "store commit failed");
                    for (_, _, reply) in writes {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
        for reply in sweeps {
            let _ = reply.send(sweep(db, clock.now_secs()));
        }
    }
}

type JobResult = Result<Option<Item>, StoreError>;

/// Applies every job in one redb transaction. A job that fails its conditions changes
/// nothing and reports why; a storage error aborts the whole group.
fn commit_group(
    db: &Database,
    now: i64,
    jobs: &[(&[WriteOp], bool)],
) -> Result<Vec<JobResult>, StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    let mut results = Vec::with_capacity(jobs.len());
    {
        let mut items = txn.open_table(ITEMS).map_err(unavailable)?;
        let mut expiry = txn.open_table(EXPIRY).map_err(unavailable)?;
        for (ops, single) in jobs {
            results.push(apply_job(&mut items, &mut expiry, now, ops, *single)?);
        }
    }
    txn.commit().map_err(unavailable)?;
    Ok(results)
}

/// Returns `Err` only for storage failures (which abort the group); a job's own failure
/// is the inner `Err`.
fn apply_job(
    items: &mut Table<(&str, &str), &[u8]>,
    expiry: &mut Table<(i64, &str, &str), ()>,
    now: i64,
    ops: &[WriteOp],
    single: bool,
) -> Result<JobResult, StoreError> {
    // 1. Read what is stored now; check every condition before touching anything.
    let mut stored = Vec::with_capacity(ops.len());
    let mut failed = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let (pk, sk) = op.key();
        let raw = match items.get((pk, sk)).map_err(unavailable)? {
            Some(v) => Some(decode(pk, sk, v.value())?),
            None => None,
        };
        let live = raw.as_ref().filter(|it| it.is_live(now));
        let mut ok = op.cond().is_none_or(|c| c.eval(live.map(|it| &it.attrs)));
        if let WriteOp::Update { update, .. } = op
            && live.is_none()
            && !update.upsert
        {
            ok = false;
        }
        if !ok {
            failed.push(i);
        }
        stored.push(raw);
    }
    if !failed.is_empty() {
        return Ok(Err(if single {
            StoreError::ConditionFailed
        } else {
            StoreError::TransactionCanceled { failed }
        }));
    }
    // 2. Compute every new version; refuse oversized or ill-typed results.
    let mut next: Vec<Option<Option<Item>>> = Vec::with_capacity(ops.len());
    for (op, raw) in ops.iter().zip(&stored) {
        let new = match op {
            WriteOp::Put { item, .. } => Some(Some(item.clone())),
            WriteOp::Update { pk, sk, update, .. } => {
                let fresh;
                let cur = match raw.as_ref().filter(|it| it.is_live(now)) {
                    Some(cur) => cur,
                    None if update.upsert => {
                        fresh = Item::new(pk.clone(), sk.clone(), Default::default());
                        &fresh
                    }
                    None => return Ok(Err(StoreError::ConditionFailed)),
                };
                match update.apply(cur) {
                    Ok(it) => {
                        if let Err(e) = check_size(&it) {
                            return Ok(Err(e));
                        }
                        Some(Some(it))
                    }
                    Err(e) => return Ok(Err(e)),
                }
            }
            WriteOp::Delete { .. } => Some(None),
            WriteOp::Check { .. } => None,
        };
        next.push(new);
    }
    // 3. Write.
    let mut returned = None;
    for ((op, raw), new) in ops.iter().zip(&stored).zip(next) {
        let Some(new) = new else { continue };
        let (pk, sk) = op.key();
        if let Some(t) = raw.as_ref().and_then(|it| it.expires_at) {
            expiry.remove((t, pk, sk)).map_err(unavailable)?;
        }
        match &new {
            Some(it) => {
                items
                    .insert((pk, sk), encode(it).as_slice())
                    .map_err(unavailable)?;
                if let Some(t) = it.expires_at {
                    expiry.insert((t, pk, sk), ()).map_err(unavailable)?;
                }
            }
            None => {
                items.remove((pk, sk)).map_err(unavailable)?;
            }
        }
        if matches!(op, WriteOp::Update { .. }) {
            returned = new;
        }
    }
    Ok(Ok(returned))
}

fn sweep(db: &Database, now: i64) -> Result<usize, StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    let mut removed = 0;
    {
        let mut items = txn.open_table(ITEMS).map_err(unavailable)?;
        let mut expiry = txn.open_table(EXPIRY).map_err(unavailable)?;
        let due: Vec<(i64, String, String)> = expiry
            .range::<(i64, &str, &str)>(..=(now, "\u{10FFFF}", "\u{10FFFF}"))
            .map_err(unavailable)?
            .take(SWEEP_BATCH)
            .map(|e| {
                e.map(|(k, _)| {
                    let (t, pk, sk) = k.value();
                    (t, pk.to_string(), sk.to_string())
                })
            })
            .collect::<Result<_, _>>()
            .map_err(unavailable)?;
        for (t, pk, sk) in due {
            expiry
                .remove((t, pk.as_str(), sk.as_str()))
                .map_err(unavailable)?;
            let still_due = match items.get((pk.as_str(), sk.as_str())).map_err(unavailable)? {
                Some(v) => decode(&pk, &sk, v.value())?.expires_at == Some(t),
                None => false,
            };
            if still_due {
                items
                    .remove((pk.as_str(), sk.as_str()))
                    .map_err(unavailable)?;
                removed += 1;
            }
        }
    }
    txn.commit().map_err(unavailable)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use yunqiao_core::clock::ManualClock;

    #[tokio::test]
    async fn sweeper_removes_only_expired_items() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(1_000_000);
        let store = LocalStore::open(&dir.path().join("s.redb"), Arc::new(clock.clone())).unwrap();
        store
            .put(Item::new("p", "a", Attrs::new()).expiring_at(1_010), None)
            .await
            .unwrap();
        store
            .put(Item::new("p", "b", Attrs::new()).expiring_at(5_000), None)
            .await
            .unwrap();
        store
            .put(Item::new("p", "c", Attrs::new()), None)
            .await
            .unwrap();
        // Re-put with a later expiry: the old expiry entry must not remove it.
        store
            .put(Item::new("p", "d", Attrs::new()).expiring_at(1_005), None)
            .await
            .unwrap();
        store
            .put(Item::new("p", "d", Attrs::new()).expiring_at(9_000), None)
            .await
            .unwrap();
        assert_eq!(store.sweep_expired().await.unwrap(), 0);
        clock.set_ms(2_000_000);
        assert_eq!(store.sweep_expired().await.unwrap(), 1);
        let txn = store.db.begin_read().unwrap();
        let t = txn.open_table(ITEMS).unwrap();
        assert!(t.get(("p", "a")).unwrap().is_none());
        assert!(t.get(("p", "b")).unwrap().is_some());
        assert!(t.get(("p", "d")).unwrap().is_some());
    }
}
