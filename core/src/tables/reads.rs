//! Queries: validation, counts, the read loop over a [`Plan`], cursors and `expand`.
//!
//! Everything a query answers depends only on records the caller may read: plans read
//! only entries of such records ([`super::plan`]), counts are kept per owner and group,
//! and cursors are encrypted, so they carry nothing the caller could decode.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::keys::{COUNT_SHARDS, cnt_pk, id_of_ix_sk, rec_pk};
use super::plan::{self, Plan, PlanInput};
use super::query::{
    Condition, DEFAULT_LIMIT, MAX_ANY, MAX_CONDITIONS, MAX_LIMIT, MAX_PAGE_OFFSET, QuerySpec,
    parse_condition, parse_order,
};
pub use super::records::DEFAULT_SCAN_LIMIT;
use super::records::{QueryResult, Tables};
use super::rules::{self, Reach, visible};
use super::schema::{FieldType, Schema};
use crate::auth::Caller;
use crate::error::{Code, Error, Result};
use crate::store::{Cond, Item, Query, SkRange, StoreError};

/// Most distinct records one request expands.
pub const MAX_EXPAND: usize = 200;

impl Tables {
    /// Maintained count under a counter prefix: a few items read, never a scan.
    async fn read_count(&self, table: &str, prefix: String) -> Result<u64> {
        let page = self
            .store
            .query(
                Query::partition(cnt_pk(table))
                    .range(SkRange::Prefix(prefix))
                    .limit(COUNT_SHARDS as usize * 2),
            )
            .await?;
        let n: i64 = page
            .items
            .iter()
            .filter_map(|i| i.get("n").and_then(Value::as_i64))
            .sum();
        Ok(n.max(0) as u64)
    }

    /// How many records the plan's streams hold together, restricted to one equality
    /// (`None`: all of them), if counters keep it. Records in two streams count twice.
    async fn stream_count(
        &self,
        schema: &Schema,
        plan: &Plan,
        eq: Option<&Condition>,
    ) -> Result<Option<u64>> {
        let mut sum = 0;
        for s in &plan.streams {
            match Plan::count_prefix(schema, s.scope.as_ref(), eq) {
                Some(p) => sum += self.read_count(&schema.name, p).await?,
                None => return Ok(None),
            }
        }
        Ok(Some(sum))
    }

    /// The key that seals cursors: made once, kept in the store, so every process (and
    /// every Lambda sandbox) accepts every other's cursors.
    async fn ensure_cursor_key(&self) -> Result<&[u8]> {
        if let Some(k) = self.cursor_key.get() {
            return Ok(k);
        }
        let fresh = hex::encode(rand::random::<[u8; 32]>());
        let item = Item::new(
            "secret#cursor",
            "_",
            json!({ "k": fresh })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        match self.store.put(item, Some(Cond::NotExists)).await {
            Ok(()) | Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
        let stored = self
            .store
            .get("secret#cursor", "_")
            .await?
            .and_then(|i| i.str("k").and_then(|k| hex::decode(k).ok()))
            .filter(|k| k.len() == 32)
            .ok_or_else(|| Error::internal("cursor key unreadable"))?;
        let _ = self.cursor_key.set(stored);
        self.cursor_key
            .get()
            .map(Vec::as_slice)
            .ok_or_else(|| Error::internal("cursor key unset"))
    }

    pub async fn query(
        &self,
        caller: &Caller,
        table: &str,
        spec: QuerySpec,
    ) -> Result<QueryResult> {
        let schema = self.schema(table).await?;
        let q = Parsed::new(&schema, &spec)?;
        let Parsed {
            conds,
            any,
            order,
            paged,
            limit,
            page,
            skip,
        } = q;
        let reach = rules::reach(&schema, caller, &conds);

        // Equalities the planner might use: their counts pick the narrowest.
        let mut matches = HashMap::new();
        let candidates = plan::eq_candidates(&schema, caller, &reach, &conds);
        if candidates.len() > 1 {
            let probe = plan::plan(
                &schema,
                caller,
                &PlanInput {
                    reach: &reach,
                    conds: &conds,
                    order: None,
                    matches: &HashMap::new(),
                },
            )?;
            for i in candidates {
                if let Some(n) = self.stream_count(&schema, &probe, Some(&conds[i])).await? {
                    matches.insert(i, n);
                }
            }
        }
        let plan = plan::plan(
            &schema,
            caller,
            &PlanInput {
                reach: &reach,
                conds: &conds,
                order: order.as_ref(),
                matches: &matches,
            },
        )?;
        // What the streams do not already guarantee.
        let residual: Vec<&Condition> = conds.iter().filter(|c| !plan::implied(&plan, c)).collect();

        // Counts: maintained per table, owner and group, and per indexed value in each;
        // answered when they count exactly the records this caller may read.
        let total = if spec.count || paged {
            let countable = any.is_empty()
                && residual.len() <= 1
                && (plan.streams.len() <= 1)
                && residual
                    .first()
                    .is_none_or(|c| rules::field_open(&schema, caller, c.field()));
            let n = if plan.is_empty() && reach == Reach::Nothing {
                Some(0)
            } else if countable {
                self.stream_count(&schema, &plan, residual.first().copied())
                    .await?
            } else {
                None
            };
            if spec.count && n.is_none() {
                return Err(Error::new(
                    Code::CountUnavailable,
                    "counts are kept for a whole table (or your own records, or one group's) and for one equality on an indexed field within it",
                ));
            }
            n
        } else {
            None
        };

        if plan.is_empty() {
            return Ok(QueryResult {
                items: vec![],
                cursor: None,
                total: total.filter(|_| spec.count || paged),
                scanned: 0,
                page: paged.then_some(page),
                per_page: paged.then_some(limit),
                last_page: paged
                    .then(|| total.map(|t| t.div_ceil(limit as u64)))
                    .flatten(),
            });
        }

        if plan.field.is_none() && plan.unbounded() && !(residual.is_empty() && any.is_empty()) {
            // What the plan reads is all this caller may read (or the part its own
            // owner/group conditions pick): refused past a size, never scanned.
            let n = self.stream_count(&schema, &plan, None).await?.unwrap_or(0);
            if n > self.scan_limit as u64 {
                let suggest = residual
                    .iter()
                    .copied()
                    .chain(any.iter().flatten())
                    .find(|c| {
                        c.path.len() == 1
                            && schema.field(c.field()).is_some_and(|(_, f)| {
                                !matches!(f.kind, FieldType::Json | FieldType::Text) && !f.many
                            })
                    });
                let msg = match suggest {
                    Some(c) => format!(
                        "{table} has {n} records you may read and no index serves this query: add \"index\": true to field {:?}",
                        c.field()
                    ),
                    None => format!(
                        "{table} has {n} records you may read and no index serves this query: add a condition on an indexed field"
                    ),
                };
                return Err(Error::new(Code::IndexRequired, msg).with_details(
                    json!({ "field": suggest.map(|c| c.field().to_string()), "records": n }),
                ));
            }
        }

        // The cursor is bound to this table, plan, reader and query.
        let qhash = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            h.update(
                format!(
                    "{table}|{}|{:?}|{:?}|{:?}",
                    plan.describe(),
                    conds,
                    any,
                    order,
                )
                .as_bytes(),
            );
            hex::encode(&h.finalize()[..8])
        };
        let key = self.ensure_cursor_key().await?.to_vec();
        let mut after = match &spec.cursor {
            None => None,
            Some(c) => Some(open_cursor(&key, c, &qhash)?),
        };

        let mut items = Vec::new();
        let mut scanned = 0usize;
        let mut matched = 0usize;
        let mut last: Option<String> = None;
        let mut more = false;
        let budget = self.scan_limit + skip;
        'read: loop {
            // Index plans read one record per entry: at most 100 at a time.
            let want = (limit + skip)
                .saturating_sub(matched)
                .min(budget - scanned)
                .min(if plan.reads_records() { 999 } else { 100 })
                .max(1);
            let (batch, has_next) = self.read_streams(&plan, after.as_deref(), want).await?;
            let n_batch = batch.len();
            let records = self.records_for(&schema, &plan, batch).await?;
            for (i, (suffix, rec)) in records.into_iter().enumerate() {
                scanned += 1;
                last = Some(suffix);
                let Some(rec) = rec else { continue };
                let Some(view) = visible(&schema, caller, &rec) else {
                    continue;
                };
                if !conds.iter().all(|c| c.matches(&view))
                    || !(any.is_empty() || any.iter().any(|l| l.iter().all(|c| c.matches(&view))))
                {
                    continue;
                }
                matched += 1;
                if matched > skip {
                    items.push(view);
                }
                if items.len() == limit {
                    more = i + 1 < n_batch || has_next;
                    break 'read;
                }
            }
            if !has_next {
                break;
            }
            if scanned >= budget {
                more = true;
                break;
            }
            after = last.clone();
        }
        let cursor = match (more, &last) {
            (true, Some(pos)) => Some(seal_cursor(&key, &qhash, pos)),
            _ => None,
        };
        let mut out: Vec<Value> = items
            .into_iter()
            .map(|mut m| {
                if let Some(f) = &spec.fields {
                    m.retain(|k, _| k == "_id" || f.contains(k) || spec.expand.contains(k));
                }
                Value::Object(m)
            })
            .collect();
        self.expand(caller, &schema, &mut out, &spec.expand).await?;
        Ok(QueryResult {
            items: out,
            cursor,
            total: total.filter(|_| spec.count || paged),
            scanned,
            page: paged.then_some(page),
            per_page: paged.then_some(limit),
            last_page: if paged {
                total.map(|t| t.div_ceil(limit as u64))
            } else {
                None
            },
        })
    }

    /// The next `want` entries of the plan after key suffix `after`, merged in key order
    /// across its streams with each record once, as `(suffix, item)`; and whether more
    /// may follow.
    async fn read_streams(
        &self,
        plan: &Plan,
        after: Option<&str>,
        want: usize,
    ) -> Result<(Vec<(String, Item)>, bool)> {
        let reads =
            (0..plan.streams.len()).map(|i| self.store.query(plan.query(i, after).limit(want + 1)));
        let pages = futures_util::future::try_join_all(reads).await?;
        let mut more = false;
        let mut merged: Vec<(String, Item)> = Vec::new();
        for (s, page) in plan.streams.iter().zip(pages) {
            more |= page.cursor.is_some() || page.items.len() > want;
            for it in page.items.into_iter().take(want) {
                let suffix = it.sk.strip_prefix(&s.prefix).unwrap_or(&it.sk).to_string();
                merged.push((suffix, it));
            }
        }
        if plan.streams.len() > 1 {
            merged.sort_by(|a, b| a.0.cmp(&b.0));
            if plan.backwards {
                merged.reverse();
            }
            // One record is in its owner's stream and in its group's under one suffix.
            merged.dedup_by(|a, b| a.0 == b.0);
        }
        if merged.len() > want {
            merged.truncate(want);
            more = true;
        }
        Ok((merged, more))
    }

    /// The records behind a page of keys: the items themselves on the primary plan, else
    /// one read per index entry (concurrently).
    async fn records_for(
        &self,
        schema: &Schema,
        plan: &Plan,
        batch: Vec<(String, Item)>,
    ) -> Result<Vec<(String, Option<Map<String, Value>>)>> {
        if plan.reads_records() {
            return Ok(batch
                .into_iter()
                .map(|(suffix, i)| (suffix, Some(i.attrs)))
                .collect());
        }
        let pk = rec_pk(&schema.name);
        let reads = batch.iter().map(|(_, i)| {
            let pk = pk.clone();
            let id = id_of_ix_sk(&i.sk).unwrap_or_default().to_string();
            async move { self.store.get(&pk, &id).await }
        });
        let got = futures_util::future::join_all(reads).await;
        let mut out = Vec::with_capacity(batch.len());
        for ((suffix, _), rec) in batch.into_iter().zip(got) {
            out.push((suffix, rec?.map(|r| r.attrs)));
        }
        Ok(out)
    }

    /// Replaces ref ids with the referenced records as the caller may see them (`null`
    /// when missing or unreadable — the two look the same; unreadable entries are left
    /// out of lists), and adds the files of `file` fields under `_expand`
    /// ([`super::file_fields::expand`]).
    pub(super) async fn expand(
        &self,
        caller: &Caller,
        schema: &Schema,
        items: &mut [Value],
        fields: &[String],
    ) -> Result<()> {
        let mut file_fields = Vec::new();
        for (i, name) in fields.iter().enumerate() {
            let Some((_, f)) = schema
                .field(name)
                .filter(|(_, f)| matches!(f.kind, FieldType::Ref | FieldType::File))
            else {
                return Err(Error::new(
                    Code::InvalidQuery,
                    format!("{name:?} is not a ref or file field"),
                )
                .with_details(json!({"field": format!("expand.{i}")})));
            };
            if f.kind == FieldType::File {
                file_fields.push((i, name.as_str()));
                continue;
            }
            let target_name = f.table.clone().unwrap_or_default();
            let mut ids: BTreeSet<String> = BTreeSet::new();
            for it in items.iter() {
                match it.get(name) {
                    Some(Value::String(s)) => {
                        ids.insert(s.clone());
                    }
                    Some(Value::Array(a)) => {
                        ids.extend(a.iter().filter_map(Value::as_str).map(str::to_string))
                    }
                    _ => {}
                }
            }
            if ids.len() > MAX_EXPAND {
                return Err(Error::new(
                    Code::InvalidQuery,
                    format!(
                        "expanding {name} would read {} records; the limit is {MAX_EXPAND} per request",
                        ids.len()
                    ),
                )
                .with_details(json!({"field": format!("expand.{i}")})));
            }
            let target = match self.schema(&target_name).await {
                Ok(s) => Some(s),
                Err(e) if e.code == Code::NotFound => None,
                Err(e) => return Err(e),
            };
            let mut found: HashMap<String, Value> = HashMap::new();
            if let Some(target) = &target {
                let pk = rec_pk(&target.name);
                let reads = ids.iter().map(|id| {
                    let pk = pk.clone();
                    async move { (id.clone(), self.store.get(&pk, id).await) }
                });
                for (id, got) in futures_util::future::join_all(reads).await {
                    if let Some(rec) = got?
                        && let Some(v) = visible(target, caller, &rec.attrs)
                    {
                        found.insert(id, Value::Object(v));
                    }
                }
            }
            for it in items.iter_mut() {
                let Some(slot) = it.get_mut(name) else {
                    continue;
                };
                *slot = match slot.take() {
                    Value::String(s) => found.get(&s).cloned().unwrap_or(Value::Null),
                    Value::Array(a) => Value::Array(
                        a.iter()
                            .filter_map(|x| x.as_str().and_then(|s| found.get(s)).cloned())
                            .collect(),
                    ),
                    other => other,
                };
            }
        }
        super::file_fields::expand(
            self.files.as_deref(),
            caller,
            items,
            &file_fields,
            MAX_EXPAND,
        )
        .await
    }
}

/// A query request checked against the schema: nothing here reads the store.
struct Parsed {
    conds: Vec<Condition>,
    any: Vec<Vec<Condition>>,
    order: Option<(String, bool)>,
    paged: bool,
    limit: usize,
    page: usize,
    skip: usize,
}

impl Parsed {
    fn new(schema: &Schema, spec: &QuerySpec) -> Result<Parsed> {
        if spec.where_.len() > MAX_CONDITIONS
            || spec.any.len() > MAX_ANY
            || spec
                .any
                .iter()
                .any(|a| a.is_empty() || a.len() > MAX_CONDITIONS)
        {
            return Err(Error::new(
                Code::InvalidQuery,
                format!(
                    "at most {MAX_CONDITIONS} conditions in where, and {MAX_ANY} non-empty lists in any"
                ),
            ));
        }
        let conds = spec
            .where_
            .iter()
            .enumerate()
            .map(|(i, c)| parse_condition(schema, &format!("where.{i}"), c))
            .collect::<Result<Vec<_>>>()?;
        let any = spec
            .any
            .iter()
            .enumerate()
            .map(|(i, l)| {
                l.iter()
                    .enumerate()
                    .map(|(j, c)| parse_condition(schema, &format!("any.{i}.{j}"), c))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let order = parse_order(schema, &spec.order)?;
        if let Some(f) = &spec.fields {
            for (i, name) in f.iter().enumerate() {
                if schema.kind_of(name).is_none() {
                    return Err(
                        Error::new(Code::InvalidQuery, format!("unknown field {name:?}"))
                            .with_details(json!({"field": format!("fields.{i}")})),
                    );
                }
            }
        }
        let paged = spec.page.is_some() || spec.per_page.is_some();
        if paged && spec.cursor.is_some() {
            return Err(Error::new(
                Code::InvalidQuery,
                "use either cursor or page, not both",
            ));
        }
        let limit = if paged {
            spec.per_page.unwrap_or(DEFAULT_LIMIT)
        } else {
            spec.limit.unwrap_or(DEFAULT_LIMIT)
        };
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::new(
                Code::InvalidQuery,
                format!("limit and per_page are 1 to {MAX_LIMIT}"),
            )
            .with_details(json!({"field": if paged {"per_page"} else {"limit"}})));
        }
        let page = spec.page.unwrap_or(1);
        let skip = if paged {
            if page == 0 {
                return Err(Error::new(Code::InvalidQuery, "pages count from 1")
                    .with_details(json!({"field": "page"})));
            }
            (page - 1).saturating_mul(limit)
        } else {
            0
        };
        if skip > MAX_PAGE_OFFSET {
            return Err(Error::new(
                Code::InvalidQuery,
                format!("page-number paging reaches {MAX_PAGE_OFFSET} rows; use the cursor beyond"),
            )
            .with_details(json!({"field": "page"})));
        }
        Ok(Parsed {
            conds,
            any,
            order,
            paged,
            limit,
            page,
            skip,
        })
    }
}

/// A cursor is the position (a key suffix) encrypted with the query's hash inside:
/// XChaCha20-Poly1305 under the stored key, with a random nonce, so its bytes say
/// nothing — not even whether two cursors point at one place.
fn seal_cursor(key: &[u8], qhash: &str, pos: &str) -> String {
    use base64::Engine;
    use chacha20poly1305::XChaCha20Poly1305;
    use chacha20poly1305::aead::{Aead, KeyInit};
    let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key));
    let nonce: [u8; 24] = rand::random();
    let sealed = cipher
        .encrypt(
            chacha20poly1305::XNonce::from_slice(&nonce),
            format!("{qhash}|{pos}").as_bytes(),
        )
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend(sealed);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
}

fn open_cursor(key: &[u8], cursor: &str, qhash: &str) -> Result<String> {
    use base64::Engine;
    use chacha20poly1305::XChaCha20Poly1305;
    use chacha20poly1305::aead::{Aead, KeyInit};
    let bad = |m: &str| {
        Error::new(Code::InvalidCursor, m.to_string()).with_details(json!({"field": "cursor"}))
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad("malformed cursor"))?;
    if raw.len() < 24 + 16 {
        return Err(bad("malformed cursor"));
    }
    let (nonce, sealed) = raw.split_at(24);
    let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key));
    let plain = cipher
        .decrypt(chacha20poly1305::XNonce::from_slice(nonce), sealed)
        .map_err(|_| bad("this cursor was not issued by this server"))?;
    let inner = String::from_utf8(plain).map_err(|_| bad("malformed cursor"))?;
    let (h, pos) = inner
        .split_once('|')
        .ok_or_else(|| bad("malformed cursor"))?;
    if h != qhash {
        return Err(bad("this cursor belongs to a different query"));
    }
    Ok(pos.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_opaque_and_bound_to_their_query() {
        let key = [7u8; 32];
        let a = seal_cursor(&key, "q1", "1616c6963652e.01ABC");
        let b = seal_cursor(&key, "q1", "1616c6963652e.01ABC");
        assert_ne!(a, b, "a fresh nonce every time");
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&a)
            .unwrap();
        let hay = String::from_utf8_lossy(&raw);
        assert!(!hay.contains("01ABC") && !hay.contains("616c"), "{hay}");
        assert_eq!(open_cursor(&key, &a, "q1").unwrap(), "1616c6963652e.01ABC");
        assert_eq!(
            open_cursor(&key, &a, "q2").unwrap_err().code,
            Code::InvalidCursor
        );
        assert_eq!(
            open_cursor(&[8u8; 32], &a, "q1").unwrap_err().code,
            Code::InvalidCursor
        );
        let mut tampered = raw.clone();
        *tampered.last_mut().unwrap() ^= 1;
        let t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tampered);
        assert_eq!(
            open_cursor(&key, &t, "q1").unwrap_err().code,
            Code::InvalidCursor
        );
        assert_eq!(
            open_cursor(&key, "!!", "q1").unwrap_err().code,
            Code::InvalidCursor
        );
    }
}
