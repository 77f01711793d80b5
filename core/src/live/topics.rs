//! Topics: names, the rules for who may subscribe and publish, subscriber records,
//! sequence numbers and the retained log that resumes read from.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::auth::{Caller, valid_group};
use crate::store::Item;
use crate::{Error, Result};

/// App-wide presence: subscribers hear users come online and go offline.
pub const PRESENCE: &str = "presence";
/// Not a topic: the rule named `direct` governs who may `send` to users and connections.
pub const DIRECT: &str = "direct";
/// Prefix of the topics that carry a table's record changes.
pub const TABLE_PREFIX: &str = "table:";
pub const MAX_TOPIC_BYTES: usize = 128;

/// What a topic name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic<'a> {
    /// Published to by clients and the server, under its rule.
    Plain(&'a str),
    Presence,
    /// `table:<name>`: that table's record changes.
    Table(&'a str),
}

fn plain_name(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TOPIC_BYTES
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

pub fn parse(t: &str) -> Result<Topic<'_>> {
    if let Some(table) = t.strip_prefix(TABLE_PREFIX) {
        if crate::tables::names::valid_name(table) {
            return Ok(Topic::Table(table));
        }
        return Err(Error::invalid_field("topic", "no such table name"));
    }
    match t {
        PRESENCE => Ok(Topic::Presence),
        DIRECT => Err(Error::invalid_field(
            "topic",
            "\"direct\" is reserved (it names the rule for direct messages)",
        )),
        _ if plain_name(t) => Ok(Topic::Plain(t)),
        _ => Err(Error::invalid_field(
            "topic",
            format!(
                "topic names are 1 to {MAX_TOPIC_BYTES} of A-Z a-z 0-9 _ - ., starting with a letter or digit"
            ),
        )),
    }
}

/// Who a rule lets in. Admins (the admin key, the `admin` group) always are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Any logged-in user.
    Users,
    /// Members of a group.
    Group(String),
    /// The user whose id is the topic's last `.`-separated part (`inbox.<user id>`).
    Owner,
    /// Nobody but admins and the server.
    Nobody,
}

impl Who {
    pub fn allows(&self, caller: &Caller, topic: &str) -> bool {
        if caller.is_admin() {
            return true;
        }
        let Some(u) = caller.user() else {
            return false;
        };
        match self {
            Who::Users => true,
            Who::Group(g) => u.in_group(g),
            Who::Owner => topic.rsplit('.').next() == Some(u.id.as_str()),
            Who::Nobody => false,
        }
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Users => f.write_str("users"),
            Who::Group(g) => write!(f, "group:{g}"),
            Who::Owner => f.write_str("owner"),
            Who::Nobody => f.write_str("nobody"),
        }
    }
}

impl std::str::FromStr for Who {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Who, String> {
        match s {
            "users" => Ok(Who::Users),
            "owner" => Ok(Who::Owner),
            "nobody" => Ok(Who::Nobody),
            _ => match s.strip_prefix("group:") {
                Some(g) if valid_group(g) => Ok(Who::Group(g.to_string())),
                _ => Err(format!(
                    "{s:?} is not one of \"users\", \"owner\", \"nobody\", \"group:<name>\""
                )),
            },
        }
    }
}

impl Serialize for Who {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Who {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Who, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Who may subscribe to and publish on the topics a pattern matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicRule {
    pub subscribe: Who,
    pub publish: Who,
}

impl TopicRule {
    /// The rule where none is set: logged-in users may subscribe and publish; only the
    /// server announces presence.
    pub fn default_for(topic: &str) -> TopicRule {
        TopicRule {
            subscribe: Who::Users,
            publish: if topic == PRESENCE {
                Who::Nobody
            } else {
                Who::Users
            },
        }
    }
}

/// A rule's pattern: a topic name (or `presence`, `direct`), or a prefix ending in `*`.
pub fn valid_pattern(p: &str) -> bool {
    match p.strip_suffix('*') {
        Some(prefix) => prefix.is_empty() || plain_name(prefix),
        None => p == PRESENCE || p == DIRECT || plain_name(p),
    }
}

/// The rule for `topic` among `(pattern, rule)`s: an exact pattern wins, then the longest
/// matching prefix, then the default.
/// `presence` and `direct` take only their own exact rule, so that a broad `*` never
/// opens them.
pub fn rule_for(topic: &str, rules: &[(String, TopicRule)]) -> TopicRule {
    if let Some((_, r)) = rules.iter().find(|(p, _)| p == topic) {
        return r.clone();
    }
    if topic == PRESENCE || topic == DIRECT {
        return TopicRule::default_for(topic);
    }
    rules
        .iter()
        .filter_map(|(p, r)| {
            let prefix = p.strip_suffix('*')?;
            topic.starts_with(prefix).then_some((prefix.len(), r))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| TopicRule::default_for(topic))
}

// ---- store records ---------------------------------------------------------------------

pub const RULES_PK: &str = crate::keys::TOPIC_RULES;
/// Sort key of a topic's state item, in the subscribers' partition; after every
/// connection id.
pub const STATE_SK: &str = "~";

pub fn sub_pk(topic: &str) -> String {
    format!("{}{topic}", crate::keys::SUBSCRIBERS)
}

pub fn conn_subs_pk(connection: &str) -> String {
    format!("{}{connection}", crate::keys::CONNECTION_SUBS)
}

pub fn log_pk(topic: &str) -> String {
    format!("{}{topic}", crate::keys::TOPIC_LOG)
}

/// How many of its latest numbers a table watch remembers the topic position of: a
/// resume may start from any of them (the client may not have got the last few frames
/// sent before its connection dropped).
pub const WATCH_RING: u64 = 8;

/// The attribute holding `[number, position]` where a table watch started (the number
/// its subscribe answered): a resume from it is always possible, ring or not.
pub const WATCH_START: &str = "b";

/// The attribute holding `[m, position]` for a watch's number `m`.
pub fn ring_attr(m: u64) -> String {
    format!("h{}", m % WATCH_RING)
}

/// Where table watches that ended are kept for resumes, in their topic's log partition
/// (after every position key): `r#<user id, or - for the admin key>#`, then the
/// connection.
pub fn ended_prefix(user_id: Option<&str>) -> String {
    format!("r#{}#", user_id.unwrap_or("-"))
}

/// The topic position a resume from number `since` of this watch (or ended watch)
/// picks up after: every change it numbered up to `since` is at or before it.
pub fn watch_point(item: &Item, since: u64) -> Option<u64> {
    let n = item.get("n").and_then(Value::as_u64)?;
    if since == n {
        return item.get("p").and_then(Value::as_u64);
    }
    let pair = |attr: &str| {
        let h = item.get(attr)?.as_array()?;
        match (
            h.first().and_then(Value::as_u64),
            h.get(1).and_then(Value::as_u64),
        ) {
            (Some(m), Some(p)) if m == since && since < n => Some(p),
            _ => None,
        }
    };
    pair(&ring_attr(since)).or_else(|| pair(WATCH_START))
}

/// Where a watch started: its first number and the topic position then (`(0, 0)` for a
/// record written before watches kept it).
pub fn watch_start(item: &Item) -> (u64, u64) {
    let b = item.get(WATCH_START).and_then(Value::as_array);
    let at = |i: usize| {
        b.and_then(|b| b.get(i))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    (at(0), at(1))
}

/// Sequence numbers as sort keys that order like numbers.
pub fn seq_key(seq: u64) -> String {
    format!("{seq:020}")
}

/// One connection's subscription to a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Sub {
    pub connection: String,
    /// `None`: the admin key.
    pub user_id: Option<String>,
    pub filter: Option<Map<String, Value>>,
    /// Hears others join and leave.
    pub presence: bool,
    /// A table watch's last number, the last topic position it numbered, and the
    /// position its subscribe covered (see `Live::number`).
    pub n: u64,
    pub p: u64,
    pub r: u64,
}

impl Sub {
    pub fn attrs(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(u) = &self.user_id {
            m.insert("user_id".into(), json!(u));
        }
        if let Some(f) = &self.filter {
            m.insert("where".into(), Value::Object(f.clone()));
        }
        if self.presence {
            m.insert("presence".into(), json!(true));
        }
        m
    }

    pub fn from_item(item: &Item) -> Sub {
        Sub {
            connection: item.sk.clone(),
            user_id: item.str("user_id").map(str::to_string),
            filter: item.get("where").and_then(Value::as_object).cloned(),
            presence: item.get("presence").and_then(Value::as_bool) == Some(true),
            n: item.get("n").and_then(Value::as_u64).unwrap_or(0),
            p: item.get("p").and_then(Value::as_u64).unwrap_or(0),
            r: item.get("r").and_then(Value::as_u64).unwrap_or(0),
        }
    }
}

/// A topic's counters, kept with its subscribers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicState {
    /// The last sequence number handed out.
    pub seq: u64,
    /// When a subscriber last left (epoch ms): frames are logged for a retention window
    /// after, so that it can resume.
    pub left_at: i64,
    /// Frames after this number may be missing from the log (nobody was subscribed, or
    /// one was too large to keep): a resume from at or before it must re-fetch.
    pub gap: Option<u64>,
}

impl TopicState {
    pub fn from_item(item: &Item) -> TopicState {
        TopicState {
            seq: item.get("seq").and_then(Value::as_u64).unwrap_or(0),
            left_at: item.get("left_at").and_then(Value::as_i64).unwrap_or(0),
            gap: item.get("gap").and_then(Value::as_u64),
        }
    }
}

/// What a resume from `since` can give, before reading the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumePlan {
    /// Nothing was missed.
    UpToDate,
    /// Read these numbers from the log; all must be there.
    Read { from: u64, to: u64 },
    /// Too much was missed, or some of it was not kept.
    Refetch,
}

pub fn plan_resume(state: &TopicState, since: u64, max_replay: u64) -> ResumePlan {
    if since > state.seq || state.gap.is_some_and(|g| since <= g) {
        return ResumePlan::Refetch;
    }
    if since == state.seq {
        return ResumePlan::UpToDate;
    }
    if state.seq - since > max_replay {
        return ResumePlan::Refetch;
    }
    ResumePlan::Read {
        from: since + 1,
        to: state.seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_are_checked_and_reserved_ones_kept_apart() {
        assert_eq!(parse("room.1").ok(), Some(Topic::Plain("room.1")));
        assert_eq!(parse("presence").ok(), Some(Topic::Presence));
        assert_eq!(parse("table:posts").ok(), Some(Topic::Table("posts")));
        for bad in [
            "",
            ".x",
            "a b",
            "a#b",
            "direct",
            "table:",
            "table:Posts",
            "a:b",
            "é",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&"a".repeat(MAX_TOPIC_BYTES)).is_ok());
        assert!(parse(&"a".repeat(MAX_TOPIC_BYTES + 1)).is_err());
    }

    #[test]
    fn rules_pick_exact_then_longest_prefix_then_default() {
        let r = |s: &str, p: &str| TopicRule {
            subscribe: s.parse().unwrap(),
            publish: p.parse().unwrap(),
        };
        let rules = vec![
            ("*".to_string(), r("users", "nobody")),
            ("room.*".to_string(), r("group:staff", "users")),
            ("room.lobby".to_string(), r("users", "users")),
            ("inbox.*".to_string(), r("owner", "users")),
        ];
        assert_eq!(rule_for("room.lobby", &rules), r("users", "users"));
        assert_eq!(rule_for("room.7", &rules), r("group:staff", "users"));
        assert_eq!(rule_for("news", &rules), r("users", "nobody"));
        assert_eq!(rule_for("news", &[]), r("users", "users"));
        assert_eq!(rule_for(PRESENCE, &[]), r("users", "nobody"));
        let open_all = vec![("*".to_string(), r("users", "users"))];
        assert_eq!(rule_for(PRESENCE, &open_all), r("users", "nobody"));
        assert_eq!(
            rule_for(DIRECT, &[("*".to_string(), r("users", "nobody"))]),
            r("users", "users")
        );

        let (alice, staff) = (
            Caller::test_user("alice", &[]),
            Caller::test_user("bob", &["staff"]),
        );
        assert!(Who::Owner.allows(&alice, "inbox.alice"));
        assert!(!Who::Owner.allows(&alice, "inbox.bob"));
        assert!(!Who::Owner.allows(&alice, "inbox.alice.x"));
        assert!(Who::Group("staff".into()).allows(&staff, "x"));
        assert!(!Who::Group("staff".into()).allows(&alice, "x"));
        assert!(!Who::Nobody.allows(&alice, "x"));
        assert!(Who::Nobody.allows(&Caller::AdminKey, "x"));
        assert!(!Who::Users.allows(&Caller::Anonymous, "x"));
        assert!("group:".parse::<Who>().is_err());
        assert!("everyone".parse::<Who>().is_err());
        assert!(valid_pattern("room.*") && valid_pattern("*") && valid_pattern("direct"));
        assert!(!valid_pattern("room*x") && !valid_pattern("**") && !valid_pattern("a b*"));
    }

    #[test]
    fn a_watch_resumes_from_its_latest_numbers() {
        let watch = |attrs: Value| {
            Item::new(
                "sub#table:t",
                "c1",
                attrs.as_object().cloned().unwrap_or_default(),
            )
        };
        let w = watch(
            json!({"n": 10, "p": 40, "h2": [10, 40], "h1": [9, 33], "h0": [8, 30], "h7": [7, 21]}),
        );
        assert_eq!(watch_point(&w, 10), Some(40));
        assert_eq!(watch_point(&w, 9), Some(33));
        assert_eq!(watch_point(&w, 7), Some(21));
        // Not remembered (slot 6 holds nothing; 2 would be slot 2, which holds 10).
        assert_eq!(watch_point(&w, 6), None);
        assert_eq!(watch_point(&w, 2), None);
        assert_eq!(watch_point(&w, 11), None);
        assert_eq!(watch_point(&watch(json!({"n": 0, "p": 5})), 0), Some(5));
        // Where it started, however far the ring has moved on.
        let w = watch(json!({"n": 20, "p": 30, "b": [11, 11], "h3": [19, 29]}));
        assert_eq!(watch_point(&w, 11), Some(11));
        assert_eq!(watch_point(&w, 12), None);
    }

    #[test]
    fn resumes_read_the_log_only_when_it_is_whole() {
        let st = |seq, gap| TopicState {
            seq,
            left_at: 0,
            gap,
        };
        assert_eq!(plan_resume(&st(5, None), 5, 100), ResumePlan::UpToDate);
        assert_eq!(
            plan_resume(&st(5, None), 2, 100),
            ResumePlan::Read { from: 3, to: 5 }
        );
        // Ahead of the topic (a reset store), or behind frames that were never logged.
        assert_eq!(plan_resume(&st(5, None), 9, 100), ResumePlan::Refetch);
        assert_eq!(plan_resume(&st(5, Some(3)), 3, 100), ResumePlan::Refetch);
        assert_eq!(
            plan_resume(&st(5, Some(3)), 4, 100),
            ResumePlan::Read { from: 5, to: 5 }
        );
        assert_eq!(plan_resume(&st(500, None), 1, 100), ResumePlan::Refetch);
    }
}
