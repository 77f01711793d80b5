//! The decision matrix of [`super`]: every kind of caller × read/write/delete × a
//! record, a field and a create, under several rules; and the agreement of a query's
//! reach with the per-record rules.

use serde_json::{Map, Value, json};

use super::*;
use crate::tables::attrs::{IX_ATTR, IXT_ATTR, UQ_ATTR};
use crate::tables::query::parse_condition;
use crate::tables::schema::TableDef;

fn schema(record_acl: &str, note_acl: &str, create: &str) -> Schema {
    let def: TableDef = serde_json::from_value(json!({
        "fields": [
            {"name": "title", "type": "string", "index": true},
            {"name": "note", "type": "string", "acl": note_acl}
        ],
        "acl": {"record": record_acl, "create": create}
    }))
    .unwrap();
    Schema::from_def("t", &def).unwrap()
}

fn record(owner: Option<&str>, group: Option<&str>) -> Map<String, Value> {
    json!({
        "_id": "r1", "_owner": owner, "_group": group, "_created": 1, "_updated": 2, "_v": 1,
        "title": "t", "note": "secret",
    })
    .as_object()
    .cloned()
    .unwrap()
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Read,
    Write,
    Delete,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    /// Alice's record in group `g`.
    Record,
    /// Its `note` field (clearing a field is writing `null`: fields have no delete right).
    Field,
    /// A record the caller creates: whether it may create one and then read it, create
    /// one with `note` set, create one and then delete it.
    Create,
}

/// The rules' answer for one cell of the matrix, asked the way the tables service asks.
fn decide(s: &Schema, caller: &Caller, action: Action, target: Target) -> bool {
    let rec = record(Some("alice"), Some("g"));
    let note = |v: Value| Map::from_iter([("note".to_string(), v)]);
    match target {
        Target::Record => match action {
            Action::Read => {
                let seen = visible(s, caller, &rec).is_some();
                assert_eq!(
                    seen,
                    may_read(s, caller, &rec),
                    "may_read agrees with visible"
                );
                seen
            }
            Action::Write => authorize(s, caller, &rec, Perm::Write, "r1").is_ok(),
            Action::Delete => authorize(s, caller, &rec, Perm::Delete, "r1").is_ok(),
        },
        Target::Field => match action {
            Action::Read => visible(s, caller, &rec).is_some_and(|m| m.contains_key("note")),
            Action::Write | Action::Delete => {
                let v = match action {
                    Action::Write => json!("new"),
                    _ => Value::Null,
                };
                authorize(s, caller, &rec, Perm::Write, "r1").is_ok_and(|r| {
                    check_field_writes(s, caller, r, &note(v)).is_ok()
                        && check_relative_writes(s, caller, r, note(Value::Null).keys()).is_ok()
                })
            }
        },
        Target::Create => {
            let Ok(group) = create_rights(s, caller, &Map::new()) else {
                return false;
            };
            let created = record(caller.user().map(|u| u.id.as_str()), group.as_deref());
            match action {
                Action::Read => visible(s, caller, &created).is_some(),
                Action::Write => check_create_fields(s, caller, &note(json!("x"))).is_ok(),
                Action::Delete => authorize(s, caller, &created, Perm::Delete, "r1").is_ok(),
            }
        }
    }
}

/// Callers by kind: owner of the record, member of its group, another user, anonymous,
/// and admins (the admin key and a user of the `admin` group).
fn callers() -> Vec<(&'static str, Caller)> {
    vec![
        ("owner", Caller::test_user("alice", &[])),
        ("group", Caller::test_user("bob", &["g"])),
        ("other", Caller::test_user("carol", &["h"])),
        ("anonymous", Caller::Anonymous),
        ("admin key", Caller::AdminKey),
        (
            "admin user",
            Caller::test_user("root", &[crate::auth::ADMIN_GROUP]),
        ),
    ]
}

/// Record rule, `note`'s rule, create rule.
type RuleSet = (&'static str, &'static str, &'static str);
/// Per caller kind, nine answers.
type Answers = [(&'static str, &'static str); 6];

/// Each rule set, and per caller kind the expected answers as `y`/`-` for record
/// read/write/delete, field read/write/delete and create read/write/delete.
#[test]
fn decision_matrix() {
    let cases: &[(RuleSet, Answers)] = &[
        (
            ("rwd:rw:r", "rw:r:-", "users"),
            [
                ("owner", "yyy yyy yyy"),
                ("group", "yy- y-- yyy"),
                ("other", "y-- --- yyy"),
                ("anonymous", "y-- --- ---"),
                ("admin key", "yyy yyy yyy"),
                ("admin user", "yyy yyy yyy"),
            ],
        ),
        (
            ("rwd:r:-", "rw:-:-", "group:g"),
            [
                ("owner", "yyy yyy ---"),
                ("group", "y-- --- yyy"),
                ("other", "--- --- ---"),
                ("anonymous", "--- --- ---"),
                ("admin key", "yyy yyy yyy"),
                ("admin user", "yyy yyy yyy"),
            ],
        ),
        (
            // Only the owner reads `note`, nobody but admins writes it; anyone creates,
            // but an anonymous creator owns nothing, so it cannot see what it made.
            ("rwd:-:-", "r:-:-", "anyone"),
            [
                ("owner", "yyy y-- y-y"),
                ("group", "--- --- y-y"),
                ("other", "--- --- y-y"),
                ("anonymous", "--- --- ---"),
                ("admin key", "yyy yyy yyy"),
                ("admin user", "yyy yyy yyy"),
            ],
        ),
        (
            // A group that may write but not read: writes by a non-reader are refused
            // as "not found", never as "forbidden".
            ("rwd:w:-", "rw:rw:-", "admins"),
            [
                ("owner", "yyy yyy ---"),
                ("group", "-y- -yy ---"),
                ("other", "--- --- ---"),
                ("anonymous", "--- --- ---"),
                ("admin key", "yyy yyy yyy"),
                ("admin user", "yyy yyy yyy"),
            ],
        ),
    ];
    let cells = [
        (Action::Read, Target::Record),
        (Action::Write, Target::Record),
        (Action::Delete, Target::Record),
        (Action::Read, Target::Field),
        (Action::Write, Target::Field),
        (Action::Delete, Target::Field),
        (Action::Read, Target::Create),
        (Action::Write, Target::Create),
        (Action::Delete, Target::Create),
    ];
    let callers = callers();
    let mut checked = 0;
    for ((record_acl, note_acl, create), expected) in cases {
        let s = schema(record_acl, note_acl, create);
        for (kind, want) in expected {
            let caller = &callers.iter().find(|(k, _)| k == kind).unwrap().1;
            let want: Vec<bool> = want
                .chars()
                .filter(|c| *c != ' ')
                .map(|c| c == 'y')
                .collect();
            assert_eq!(want.len(), cells.len());
            for ((action, target), want) in cells.iter().zip(want) {
                let got = decide(&s, caller, *action, *target);
                assert_eq!(
                    got, want,
                    "{kind} {action:?} {target:?} under record {record_acl}, note {note_acl}, create {create}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 4 * 6 * 9);
}

/// A caller who may not read a record learns nothing from trying to change it (404);
/// one who may read it but not change it is told so (403).
#[test]
fn refusals_do_not_reveal_unreadable_records() {
    let s = schema("rwd:r:-", "rw:-:-", "users");
    let rec = record(Some("alice"), Some("g"));
    let code = |c: &Caller, p: Perm| authorize(&s, c, &rec, p, "r1").unwrap_err().code;
    let member = Caller::test_user("bob", &["g"]);
    let stranger = Caller::test_user("carol", &[]);
    assert_eq!(code(&member, Perm::Write), Code::Forbidden);
    assert_eq!(code(&member, Perm::Delete), Code::Forbidden);
    assert_eq!(code(&stranger, Perm::Write), Code::NotFound);
    assert_eq!(code(&Caller::Anonymous, Perm::Delete), Code::NotFound);
    // Creating: anonymous callers are asked to log in, users are refused.
    let s = schema("rwd:r:-", "rw:-:-", "group:g");
    let code = |c: &Caller| create_rights(&s, c, &Map::new()).unwrap_err().code;
    assert_eq!(code(&Caller::Anonymous), Code::Unauthenticated);
    assert_eq!(code(&stranger), Code::Forbidden);
    // A record goes only into a group its creator belongs to.
    let into = |g: &str| Map::from_iter([("_group".to_string(), json!(g))]);
    assert_eq!(
        create_rights(&s, &member, &into("g")).unwrap(),
        Some("g".into())
    );
    assert!(create_rights(&s, &member, &into("h")).is_err());
    assert!(create_rights(&s, &Caller::AdminKey, &into("h")).is_ok());
}

/// A KV namespace's rules are create rules: the same answers for every caller kind.
#[test]
fn rules_pass_their_callers() {
    let callers = callers();
    for (rule, want) in [
        ("anyone", "yyyyyy"),
        ("users", "yyy-yy"),
        ("group:g", "-y--yy"),
        ("admins", "----yy"),
    ] {
        let rule = CreateRule::parse(rule).unwrap();
        let got: String = callers
            .iter()
            .map(|(_, c)| if passes(&rule, c) { 'y' } else { '-' })
            .collect();
        assert_eq!(got, want, "{rule:?}");
    }
}

/// The copy-free form used by get-by-id answers exactly what `visible` answers, for
/// every kind of caller, and never shows internal attributes.
#[test]
fn into_visible_answers_what_visible_answers() {
    let mut record = record(Some("alice"), Some("g"));
    record.insert("stray".into(), json!("old field"));
    for k in [IX_ATTR, UQ_ATTR, IXT_ATTR] {
        record.insert(k.into(), json!({"x": 1}));
    }
    let mut shown = 0;
    for (record_acl, note_acl) in [
        ("rwd:r:r", "rw:r:-"),
        ("rwd:r:-", "rw:-:-"),
        ("rwd:-:-", "rw:r:r"),
    ] {
        let s = schema(record_acl, note_acl, "users");
        for (kind, c) in callers() {
            let want = visible(&s, &c, &record);
            let got = into_visible(&s, &c, record.clone());
            assert_eq!(got, want, "{record_acl} {note_acl} {kind}");
            if let Some(m) = got {
                shown += 1;
                if !c.is_admin() {
                    assert!(!m.contains_key("stray"), "stray field shown to {kind}");
                }
                for k in [IX_ATTR, UQ_ATTR, IXT_ATTR] {
                    assert!(!m.contains_key(k), "{k} shown to {kind}");
                }
            }
        }
    }
    assert!(shown > 5, "the cases must show something ({shown})");
}

fn in_reach(reach: &Reach, rec: &Map<String, Value>) -> bool {
    match reach {
        Reach::All => true,
        Reach::Nothing => false,
        Reach::Scopes(scopes) => scopes.iter().any(|s| s.holds(rec)),
    }
}

/// A query's reach holds exactly the records the caller may read (narrowed by
/// equalities on `_owner` and `_group`, it still holds every readable record that
/// meets them), and a field a plan may use (open to every reader, or to every reader
/// of a scope) is shown on every such record — for every kind of caller.
#[test]
fn query_reach_agrees_with_per_record_rules() {
    let callers = vec![
        ("owner", Caller::test_user("alice", &["g1"])),
        ("group", Caller::test_user("bob", &["g1", "g2"])),
        ("other", Caller::test_user("carol", &[])),
        ("anonymous", Caller::Anonymous),
        ("admin", Caller::AdminKey),
    ];
    let mut records = Vec::new();
    for owner in [Some("alice"), Some("bob"), Some("carol"), None] {
        for group in [Some("g1"), Some("g2"), Some("g3"), None] {
            records.push(record(owner, group));
        }
    }
    let mut compared = 0;
    // Read rights nest (a schema says so): other ⊆ group ⊆ owner.
    for record_acl in ["rwd:r:r", "rwd:r:-", "rwd:-:-", "r:r:-", "-:-:-"] {
        for note_acl in ["rw:r:r", "rw:r:-", "rw:-:-", "-:-:-"] {
            let s = schema(record_acl, note_acl, "users");
            let mut narrowings = vec![json!([])];
            for v in ["alice", "bob", "dave"] {
                narrowings.push(json!([["_owner", "eq", v]]));
            }
            for v in ["g1", "g2", "g3"] {
                narrowings.push(json!([["_group", "eq", v]]));
            }
            for (kind, caller) in &callers {
                for narrowing in &narrowings {
                    let conds: Vec<_> = narrowing
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| parse_condition(&s, "w", c).unwrap())
                        .collect();
                    let reach = reach(&s, caller, &conds);
                    let meets = |rec: &Map<String, Value>| {
                        conds.iter().all(|c| rec.get(c.field()) == Some(&c.value))
                    };
                    let at = format!("{kind} under {record_acl}/{note_acl} where {narrowing}");
                    for rec in &records {
                        let readable = may_read(&s, caller, rec);
                        if in_reach(&reach, rec) {
                            assert!(readable, "{at}: reach holds an unreadable {rec:?}");
                        } else if meets(rec) {
                            assert!(!readable, "{at}: reach misses a readable {rec:?}");
                        }
                        // Fields a plan may order, index or count by are shown.
                        let open = match &reach {
                            Reach::All => field_open(&s, caller, "note"),
                            Reach::Scopes(scopes) => scopes
                                .iter()
                                .filter(|sc| sc.holds(rec))
                                .any(|sc| readable_by(&s, caller, "note", sc.roles())),
                            Reach::Nothing => false,
                        };
                        if open && in_reach(&reach, rec) {
                            let shown = visible(&s, caller, rec).unwrap();
                            assert!(shown.contains_key("note"), "{at}: note hidden on {rec:?}");
                        }
                        compared += 1;
                    }
                }
            }
        }
    }
    assert_eq!(compared, 5 * 4 * 5 * 7 * 16);
}
