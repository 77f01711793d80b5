//! How a query reads the store: which index partitions, which key range, in which
//! order — confined to entries of records the caller may read.
//!
//! Non-interference: everything a query answers (items, `scanned`, whether a cursor
//! comes back, counts, errors) must depend only on records the caller may read. So a
//! plan never reads an entry of a record the caller may not read: admins and readers of
//! tables anyone reads use the table's own indexes; everyone else reads the per-owner
//! and per-group copies of them ([`Schema::indexes`]) under their own id and groups.
//! Whose records and which fields that is, [`super::rules`] decides.

use std::collections::HashMap;

use serde_json::json;

use super::keys::{
    is_truncated, ix_pk, rec_pk, scoped_key, total_count_prefix, value_count_prefix, vkey,
};
use super::query::{Condition, Op};
use super::rules::{Reach, Scope, field_open, readable_by};
use super::schema::{FieldType, Schema};
use crate::auth::Caller;
use crate::error::{Code, Error, Result};
use crate::store::{Query, SkRange};

/// The key that leads a scope's entries in its index partitions.
fn scope_key(s: &Scope) -> String {
    vkey(FieldType::String, Some(&json!(s.value)))
}

/// One index partition (or the records' own) read in key order.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub pk: String,
    /// What every key of the stream starts with (the scope's key); entries of different
    /// streams of one plan compare by what follows it.
    pub prefix: String,
    pub scope: Option<Scope>,
}

/// How a query reads the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The field whose index orders the entries; `None`: `_id` order.
    pub field: Option<String>,
    /// Read together and merged by key (after the prefix), each record once.
    pub streams: Vec<Stream>,
    /// Inclusive bounds on keys after the prefix.
    pub lo: String,
    pub hi: String,
    pub backwards: bool,
}

impl Plan {
    fn nothing() -> Plan {
        Plan {
            field: None,
            streams: Vec::new(),
            lo: String::new(),
            hi: "~".into(),
            backwards: false,
        }
    }

    /// Whether the entries read are the records themselves (else index entries).
    pub fn reads_records(&self) -> bool {
        self.streams
            .first()
            .is_some_and(|s| s.pk.starts_with("rec#"))
    }

    /// A plan that can find nothing: no readable scope, or a contradictory range.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() || self.lo > self.hi
    }

    /// Whether the key range is the whole of each stream.
    pub fn unbounded(&self) -> bool {
        self.lo.is_empty() && self.hi == "~"
    }

    /// The store query of stream `i`, continuing after key suffix `after`.
    pub fn query(&self, i: usize, after: Option<&str>) -> Query {
        let s = &self.streams[i];
        let mut q = Query::partition(s.pk.clone());
        if !(s.prefix.is_empty() && self.unbounded()) {
            q = q.range(SkRange::Between(
                format!("{}{}", s.prefix, self.lo),
                format!("{}{}", s.prefix, self.hi),
            ));
        }
        if self.backwards {
            q = q.backwards();
        }
        q.after(after.map(|a| crate::store::encode_cursor(&format!("{}{a}", s.prefix))))
    }

    /// What the cursor is bound to besides the conditions.
    pub fn describe(&self) -> String {
        let streams: Vec<String> = self
            .streams
            .iter()
            .map(|s| format!("{}/{}", s.pk, s.prefix))
            .collect();
        format!(
            "{:?}|{}|{}|{}|{}",
            self.field,
            streams.join(","),
            self.lo,
            self.hi,
            self.backwards
        )
    }

    /// The counter prefix of what stream `i` holds, restricted to one equality on an
    /// indexed field (`None`: all of it); `None` when no counter keeps it.
    pub fn count_prefix(
        schema: &Schema,
        scope: Option<&Scope>,
        eq: Option<&Condition>,
    ) -> Option<String> {
        let Some(c) = eq else {
            return Some(match scope {
                None => total_count_prefix(),
                Some(s) => value_count_prefix(s.kind.field(), &scope_key(s)),
            });
        };
        if c.op != Op::Eq || c.path.len() != 1 {
            return None;
        }
        let name = match scope {
            None => c.field().to_string(),
            Some(s) => s.kind.index_name(c.field()),
        };
        let kind = schema.ready_index(&name)?;
        if is_truncated(kind, &c.value) {
            return None;
        }
        let k = vkey(kind, Some(&c.value));
        Some(match scope {
            None => value_count_prefix(&name, &k),
            Some(s) => value_count_prefix(&name, &scoped_key(&scope_key(s), &k)),
        })
    }
}

/// What the planner is given besides the schema and the caller.
pub struct PlanInput<'a> {
    pub reach: &'a Reach,
    pub conds: &'a [Condition],
    pub order: Option<&'a (String, bool)>,
    /// Rows matched by equality `conds[i]`, where known (to pick the narrowest index).
    pub matches: &'a HashMap<usize, u64>,
}

/// Equalities the planner could read an index for: it consults [`PlanInput::matches`]
/// when there are several.
pub fn eq_candidates(
    schema: &Schema,
    caller: &Caller,
    reach: &Reach,
    conds: &[Condition],
) -> Vec<usize> {
    conds
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.op == Op::Eq
                && c.path.len() == 1
                && usable(schema, caller, reach, c.field()).is_some()
        })
        .map(|(i, _)| i)
        .collect()
}

/// The type of `field`'s index when the plan for `reach` may read it.
fn usable(schema: &Schema, caller: &Caller, reach: &Reach, field: &str) -> Option<FieldType> {
    match reach {
        Reach::Nothing => None,
        Reach::All => {
            if !field_open(schema, caller, field) {
                return None;
            }
            schema.ready_index(field)
        }
        Reach::Scopes(scopes) => {
            // Scoped copies exist for declared fields only.
            schema.field(field)?;
            let mut kind = None;
            for s in scopes {
                if !readable_by(schema, caller, field, s.roles()) {
                    return None;
                }
                kind = Some(schema.ready_index(&s.kind.index_name(field))?);
            }
            kind
        }
    }
}

/// Picks how to read: an index that serves the order, else the most selective
/// equality (by maintained counts), else a range, else the records in `_id` order.
pub fn plan(schema: &Schema, caller: &Caller, input: &PlanInput) -> Result<Plan> {
    let PlanInput {
        reach,
        conds,
        order,
        matches,
    } = input;
    if **reach == Reach::Nothing {
        return Ok(Plan::nothing());
    }
    let usable = |f: &str| usable(schema, caller, reach, f);
    let narrow = |f: &str, kind: FieldType| -> (String, String) {
        let mut lo = String::new();
        let mut hi = "~".to_string();
        for c in conds.iter() {
            if let Some((l, h)) = c.bounds(f, kind) {
                lo = lo.max(l);
                hi = hi.min(h);
            }
        }
        (lo, hi)
    };
    let by_id = || {
        let mut lo = String::new();
        let mut hi = "~".to_string();
        for c in conds.iter() {
            if let Some((l, h)) = c.id_bounds() {
                lo = lo.max(l);
                hi = hi.min(h);
            }
        }
        (lo, hi)
    };
    let build = |field: Option<&str>, (lo, hi): (String, String), backwards: bool| {
        let streams = streams(schema, reach, field)?;
        Ok(Plan {
            field: field.map(str::to_string),
            streams,
            lo,
            hi,
            backwards,
        })
    };
    if let Some((f, desc)) = order {
        if f == "_id" || f == "_created" {
            // Entries of one value are in `_id` order: an equality on an index serves
            // "newest first where x = v" reading only what it returns.
            let eq = conds.iter().find(|c| {
                c.op == Op::Eq
                    && c.path.len() == 1
                    && usable(c.field()).is_some_and(|k| !is_truncated(k, &c.value))
            });
            if let Some(c) = eq {
                let kind = usable(c.field()).unwrap_or(FieldType::String);
                return build(Some(c.field()), narrow(c.field(), kind), *desc);
            }
            return build(None, by_id(), *desc);
        }
        if let Some(kind) = usable(f) {
            return build(Some(f), narrow(f, kind), *desc);
        }
        let open = field_open(schema, caller, f)
            && match reach {
                Reach::Scopes(s) => s.iter().all(|s| readable_by(schema, caller, f, s.roles())),
                _ => true,
            };
        let why = if !open {
            "is not readable by everyone who reads these records"
        } else if schema
            .pending
            .iter()
            .any(|p| p == f || p.starts_with(&format!("{f}@")))
        {
            "has an index that is still being built"
        } else {
            "has no index"
        };
        let e = if open {
            Error::new(
                Code::IndexRequired,
                format!("cannot order by {f}: it {why}; add \"index\": true to the field"),
            )
        } else {
            Error::forbidden(format!("cannot order by {f}: it {why}"))
        };
        return Err(e.with_details(json!({ "field": f })));
    }
    // Equalities on indexes: choose the fewest rows.
    let eqs = eq_candidates(schema, caller, reach, conds);
    let pick = match eqs.as_slice() {
        [] => None,
        [one] => Some(*one),
        many => many
            .iter()
            .min_by_key(|i| {
                let unique = schema
                    .field(conds[**i].field())
                    .is_some_and(|(_, f)| f.unique);
                if unique {
                    1
                } else {
                    matches.get(i).copied().unwrap_or(u64::MAX)
                }
            })
            .copied(),
    };
    if let Some(i) = pick {
        let c = &conds[i];
        let kind = usable(c.field()).unwrap_or(FieldType::String);
        return build(Some(c.field()), narrow(c.field(), kind), false);
    }
    for c in conds.iter() {
        if c.path.len() == 1
            && c.field() != "_id"
            && let Some(kind) = usable(c.field())
            && c.bounds(c.field(), kind).is_some()
        {
            return build(Some(c.field()), narrow(c.field(), kind), false);
        }
    }
    build(None, by_id(), false)
}

/// The streams that read `field`'s index (`None`: `_id` order) within `reach`.
fn streams(schema: &Schema, reach: &Reach, field: Option<&str>) -> Result<Vec<Stream>> {
    let t = &schema.name;
    match reach {
        Reach::Nothing => Ok(Vec::new()),
        Reach::All => Ok(vec![Stream {
            pk: field.map_or_else(|| rec_pk(t), |f| ix_pk(t, f)),
            prefix: String::new(),
            scope: None,
        }]),
        Reach::Scopes(scopes) => scopes
            .iter()
            .map(|s| {
                let name = s.kind.index_name(field.unwrap_or("_id"));
                if schema.ready_index(&name).is_none() {
                    return Err(Error::new(
                        Code::IndexRequired,
                        format!(
                            "the read rule of {t} changed and its index {name} is still being built; retry after POST /v1/tables/{t}/backfill"
                        ),
                    )
                    .with_details(json!({ "field": field })));
                }
                Ok(Stream {
                    pk: ix_pk(t, &name),
                    prefix: format!("{}.", scope_key(s)),
                    scope: Some(s.clone()),
                })
            })
            .collect(),
    }
}

/// Conditions a stream's every record meets (so no index or filter is needed for them).
pub fn implied(plan: &Plan, c: &Condition) -> bool {
    !plan.streams.is_empty()
        && plan
            .streams
            .iter()
            .all(|s| s.scope.as_ref().is_some_and(|s| s.implies(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::query::parse_condition;
    use crate::tables::rules::reach;
    use crate::tables::schema::ScopeKind;
    use crate::tables::schema::TableDef;
    use serde_json::Value;

    fn schema(record_acl: &str, email_acl: Option<&str>) -> Schema {
        let def: TableDef = serde_json::from_value(json!({
            "fields": [
                {"name": "email", "type": "string", "index": true, "acl": email_acl},
                {"name": "amount", "type": "integer", "index": true},
                {"name": "note", "type": "string"}
            ],
            "acl": {"record": record_acl}
        }))
        .unwrap();
        Schema::from_def("t", &def).unwrap()
    }

    fn conds(s: &Schema, list: Value) -> Vec<Condition> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| parse_condition(s, "w", c).unwrap())
            .collect()
    }

    fn plan_of(s: &Schema, who: &Caller, list: Value, order: Option<(&str, bool)>) -> Result<Plan> {
        let cs = conds(s, list);
        let reach = reach(s, who, &cs);
        let order = order.map(|(f, d)| (f.to_string(), d));
        plan(
            s,
            who,
            &PlanInput {
                reach: &reach,
                conds: &cs,
                order: order.as_ref(),
                matches: &HashMap::new(),
            },
        )
    }

    fn pks(p: &Plan) -> Vec<(String, String)> {
        p.streams
            .iter()
            .map(|s| (s.pk.clone(), s.prefix.clone()))
            .collect()
    }

    fn k(v: &str) -> String {
        vkey(FieldType::String, Some(&json!(v)))
    }

    #[test]
    fn open_tables_use_the_tables_own_indexes() {
        let s = schema("rwd:r:r", None);
        let alice = Caller::test_user("alice", &[]);
        let p = plan_of(
            &s,
            &alice,
            json!([["email", "prefix", "bob."]]),
            Some(("email", false)),
        )
        .unwrap();
        assert_eq!(pks(&p), vec![("ix#t#email".into(), String::new())]);
        let p = plan_of(&s, &Caller::Anonymous, json!([]), None).unwrap();
        assert_eq!(pks(&p), vec![("rec#t".into(), String::new())]);
        assert!(p.reads_records());
    }

    #[test]
    fn owner_only_tables_read_only_the_callers_entries() {
        let s = schema("rwd:-:-", None);
        let alice = Caller::test_user("alice", &["staff"]);
        // The attack of issue 11: order by a hidden-to-others field.
        let p = plan_of(
            &s,
            &alice,
            json!([["email", "prefix", "bob."]]),
            Some(("email", false)),
        )
        .unwrap();
        assert_eq!(
            pks(&p),
            vec![("ix#t#email@o".into(), format!("{}.", k("alice")))]
        );
        // Without an index condition: her records in `_id` order.
        let p = plan_of(&s, &alice, json!([["note", "eq", "x"]]), None).unwrap();
        assert_eq!(
            pks(&p),
            vec![("ix#t#_owner".into(), format!("{}.", k("alice")))]
        );
        assert!(!p.reads_records());
        // Asking for someone else's records reaches nothing.
        let p = plan_of(&s, &alice, json!([["_owner", "eq", "bob"]]), None).unwrap();
        assert!(p.is_empty());
        assert!(
            plan_of(&s, &Caller::Anonymous, json!([]), None)
                .unwrap()
                .is_empty()
        );
        // Admins read the table's own index.
        let p = plan_of(&s, &Caller::AdminKey, json!([["amount", "gte", 5]]), None).unwrap();
        assert_eq!(pks(&p), vec![("ix#t#amount".into(), String::new())]);
    }

    #[test]
    fn group_tables_read_the_callers_and_its_groups_entries() {
        let s = schema("rwd:r:-", None);
        let alice = Caller::test_user("alice", &["g1", "g2"]);
        let p = plan_of(&s, &alice, json!([["amount", "gte", 5]]), None).unwrap();
        assert_eq!(
            pks(&p),
            vec![
                ("ix#t#amount@o".into(), format!("{}.", k("alice"))),
                ("ix#t#amount@g".into(), format!("{}.", k("g1"))),
                ("ix#t#amount@g".into(), format!("{}.", k("g2"))),
            ]
        );
        // `_group = g2` narrows to that group; `_owner = bob` leaves only groups.
        let p = plan_of(&s, &alice, json!([["_group", "eq", "g2"]]), None).unwrap();
        assert_eq!(
            pks(&p),
            vec![("ix#t#_group".into(), format!("{}.", k("g2")))]
        );
        assert!(implied(&p, &conds(&s, json!([["_group", "eq", "g2"]]))[0]));
        let p = plan_of(&s, &alice, json!([["_owner", "eq", "bob"]]), None).unwrap();
        assert_eq!(p.streams.len(), 2);
        assert!(p.streams.iter().all(|s| s.pk == "ix#t#_group"));
        let p = plan_of(&s, &alice, json!([["_owner", "eq", "alice"]]), None).unwrap();
        assert_eq!(
            pks(&p),
            vec![("ix#t#_owner".into(), format!("{}.", k("alice")))]
        );
        // A group she is not in holds nothing for her but her own records.
        let p = plan_of(&s, &alice, json!([["_group", "eq", "g9"]]), None).unwrap();
        assert_eq!(
            pks(&p),
            vec![("ix#t#_owner".into(), format!("{}.", k("alice")))]
        );
    }

    #[test]
    fn hidden_fields_are_never_an_index_or_an_order() {
        // email readable by its owner only: others' plans cannot use it.
        let s = schema("rwd:r:r", Some("rw:-:-"));
        let alice = Caller::test_user("alice", &[]);
        let e = plan_of(&s, &alice, json!([]), Some(("email", false))).unwrap_err();
        assert_eq!(e.code, Code::Forbidden);
        let p = plan_of(&s, &alice, json!([["email", "eq", "a@b"]]), None).unwrap();
        assert_eq!(pks(&p), vec![("rec#t".into(), String::new())]);
        // In an owner-only table the owner reads it, so her scoped index serves it.
        let s = schema("rwd:-:-", Some("rw:-:-"));
        let p = plan_of(&s, &alice, json!([["email", "eq", "a@b"]]), None).unwrap();
        assert_eq!(
            pks(&p),
            vec![("ix#t#email@o".into(), format!("{}.", k("alice")))]
        );
        // In a group table group members cannot read it: no index for a member.
        let s = schema("rwd:r:-", Some("rw:-:-"));
        let member = Caller::test_user("alice", &["g1"]);
        let p = plan_of(&s, &member, json!([["email", "eq", "a@b"]]), None).unwrap();
        assert_eq!(
            pks(&p),
            vec![
                ("ix#t#_owner".into(), format!("{}.", k("alice"))),
                ("ix#t#_group".into(), format!("{}.", k("g1"))),
            ]
        );
    }

    #[test]
    fn ranges_narrow_every_stream_and_contradictions_are_empty() {
        let s = schema("rwd:r:-", None);
        let alice = Caller::test_user("alice", &["g1"]);
        let p = plan_of(
            &s,
            &alice,
            json!([["amount", "gte", 5000000], ["amount", "lt", 1000000]]),
            None,
        )
        .unwrap();
        assert!(p.is_empty());
        let p = plan_of(&s, &alice, json!([["amount", "gte", 5]]), None).unwrap();
        let q = p.query(1, None);
        let SkRange::Between(lo, hi) = &q.range else {
            panic!("{:?}", q.range)
        };
        assert!(
            lo.starts_with(&format!("{}.", k("g1"))) && hi.starts_with(&format!("{}.", k("g1")))
        );
    }

    #[test]
    fn scoped_counts_are_per_scope() {
        let s = schema("rwd:-:-", None);
        let alice = Scope {
            kind: ScopeKind::Owner,
            value: "alice".into(),
        };
        assert_eq!(
            Plan::count_prefix(&s, Some(&alice), None).unwrap(),
            format!("_owner|{}|", k("alice"))
        );
        let c = conds(&s, json!([["amount", "eq", 3]]));
        let p = Plan::count_prefix(&s, Some(&alice), Some(&c[0])).unwrap();
        assert!(p.starts_with(&format!("amount@o|{}.", k("alice"))), "{p}");
        let n = conds(&s, json!([["note", "eq", "x"]]));
        assert_eq!(Plan::count_prefix(&s, Some(&alice), Some(&n[0])), None);
    }
}
