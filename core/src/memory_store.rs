//! An [`ItemStore`] in memory: the port's semantics with nothing else, for the fast test
//! tier (unit tests and in-process API tests). It passes the same conformance suite as
//! the embedded store and DynamoDB. Nothing survives the process.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::clock::SharedClock;
use crate::store::{
    Cond, Item, ItemStore, Page, Query, SkRange, StoreError, Update, WriteOp, check_size,
    validate_key, validate_transaction,
};

type Key = (String, String);

pub struct MemoryStore {
    items: Mutex<BTreeMap<Key, Item>>,
    clock: SharedClock,
}

impl MemoryStore {
    pub fn new(clock: SharedClock) -> MemoryStore {
        MemoryStore {
            items: Mutex::new(BTreeMap::new()),
            clock,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<Key, Item>>, StoreError> {
        self.items
            .lock()
            .map_err(|_| StoreError::Unavailable("the memory store is poisoned".into()))
    }

    /// Checks every condition first, then computes every new version, then writes: all
    /// or nothing, as one transaction. Returns the updated item of the last update.
    fn apply(&self, ops: &[WriteOp], single: bool) -> Result<Option<Item>, StoreError> {
        let now = self.clock.now_secs();
        let mut items = self.lock()?;
        let mut failed = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let (pk, sk) = op.key();
            let live = items
                .get(&(pk.to_string(), sk.to_string()))
                .filter(|it| it.is_live(now));
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
        }
        if !failed.is_empty() {
            return Err(if single {
                StoreError::ConditionFailed
            } else {
                StoreError::TransactionCanceled { failed }
            });
        }
        let mut next: Vec<(Key, Option<Item>)> = Vec::with_capacity(ops.len());
        let mut returned = None;
        for op in ops {
            let (pk, sk) = op.key();
            let key = (pk.to_string(), sk.to_string());
            match op {
                WriteOp::Put { item, .. } => next.push((key, Some(item.clone()))),
                WriteOp::Update { update, .. } => {
                    let cur = items
                        .get(&key)
                        .filter(|it| it.is_live(now))
                        .cloned()
                        .unwrap_or_else(|| Item::new(pk, sk, Default::default()));
                    let it = update.apply(&cur)?;
                    check_size(&it)?;
                    returned = Some(it.clone());
                    next.push((key, Some(it)));
                }
                WriteOp::Delete { .. } => next.push((key, None)),
                WriteOp::Check { .. } => {}
            }
        }
        for (key, new) in next {
            match new {
                Some(it) => {
                    items.insert(key, it);
                }
                None => {
                    items.remove(&key);
                }
            }
        }
        // Expired items are invisible already; dropping them now and then keeps memory flat.
        if items.len() > 4096 && rand::random::<u8>() == 0 {
            items.retain(|_, it| it.is_live(now));
        }
        Ok(returned)
    }
}

#[async_trait]
impl ItemStore for MemoryStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        validate_key(pk, sk)?;
        let now = self.clock.now_secs();
        Ok(self
            .lock()?
            .get(&(pk.to_string(), sk.to_string()))
            .filter(|it| it.is_live(now))
            .cloned())
    }

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        let ops = vec![WriteOp::Put { item, cond }];
        validate_transaction(&ops)?;
        self.apply(&ops, true).map(|_| ())
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
        self.apply(&ops, true)?
            .ok_or_else(|| StoreError::Unavailable("update returned no item".into()))
    }

    async fn delete(&self, pk: &str, sk: &str, cond: Option<Cond>) -> Result<(), StoreError> {
        let ops = vec![WriteOp::Delete {
            pk: pk.to_string(),
            sk: sk.to_string(),
            cond,
        }];
        validate_transaction(&ops)?;
        self.apply(&ops, true).map(|_| ())
    }

    async fn query(&self, q: Query) -> Result<Page, StoreError> {
        let start_after = q.start_after()?;
        if let SkRange::Between(a, b) = &q.range
            && a > b
        {
            return Err(StoreError::Invalid(
                "Between takes the lower bound first".into(),
            ));
        }
        let pk = q.pk.clone();
        let lo = match (&start_after, q.forward) {
            (Some(c), true) => Bound::Excluded((pk.clone(), c.clone())),
            _ => Bound::Included((pk.clone(), String::new())),
        };
        let hi = match (&start_after, q.forward) {
            (Some(c), false) => Bound::Excluded((pk.clone(), c.clone())),
            _ => Bound::Excluded((format!("{pk}\0"), String::new())),
        };
        let now = self.clock.now_secs();
        let items = self.lock()?;
        let fits = |(k, it): (&Key, &Item)| {
            (k.0 == pk && q.range.contains(&k.1) && it.is_live(now)).then(|| it.clone())
        };
        let range = items.range((lo, hi));
        let found: Vec<Item> = if q.forward {
            range.filter_map(fits).take(q.limit + 1).collect()
        } else {
            range.rev().filter_map(fits).take(q.limit + 1).collect()
        };
        Ok(Page::from_overfetched(found, q.limit))
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        self.apply(&ops, false).map(|_| ())
    }
}
