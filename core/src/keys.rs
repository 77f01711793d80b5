//! Every partition of the one item store, in one place. All services share one table (one
//! DynamoDB table on AWS), so two families must never be able to produce the same
//! partition key: a family is a prefix ending in `#` followed by names that cannot make
//! it look like another family, and a fixed partition has no `#` at all.

/// Partition families: the key is the prefix followed by a name.
pub const FAMILIES: &[&str] = &[
    // auth
    USER,
    SESSION,
    OPENID,
    // tables
    SCHEMA,
    SCHEMA_VERSION,
    RECORDS,
    INDEX,
    UNIQUE,
    COUNTS,
    // kv
    KV,
    KV_NAMESPACE,
    // live
    CONNECTION,
    USER_CONNECTIONS,
    CONNECTION_SLOTS,
    SUBSCRIBERS,
    CONNECTION_SUBS,
    TOPIC_LOG,
    // functions
    FN_VERSIONS,
    FN_LOGS,
    FN_TICKS,
    FILE,
    OWNER_FILES,
    FILE_QUOTA,
    FILE_CHECK,
    // wechat
    WX_QRCODE,
    // pay
    PAY_ORDER,
    PAY_BUYER,
    PAY_STATE,
    PAY_HISTORY,
];

/// Partitions with a fixed name.
pub const FIXED: &[&str] = &[
    USERS,
    SCHEMAS,
    KV_NAMESPACES,
    ONLINE,
    TOPIC_RULES,
    FN_MODULES,
    OUTBOX,
    FILES_PENDING,
    WX_TOKEN,
    WX_PUSH,
    PAY_LOG,
];

pub const USER: &str = "user#";
pub const SESSION: &str = "session#";
pub const OPENID: &str = "openid#";
pub const USERS: &str = "users";

pub const SCHEMA: &str = "schema#";
pub const SCHEMA_VERSION: &str = "sv#";
pub const RECORDS: &str = "rec#";
pub const INDEX: &str = "ix#";
pub const UNIQUE: &str = "uq#";
pub const COUNTS: &str = "cnt#";
pub const SCHEMAS: &str = "schemas";

pub const KV: &str = "kv#";
pub const KV_NAMESPACE: &str = "kvns#";
pub const KV_NAMESPACES: &str = "kvns";

pub const CONNECTION: &str = "conn#";
pub const USER_CONNECTIONS: &str = "connu#";
/// A user's connection slots: `connslot#<user>` / `<n>` `{connection}`, one per open
/// connection, claimed with a conditional put (the per-user limit).
pub const CONNECTION_SLOTS: &str = "connslot#";
pub const SUBSCRIBERS: &str = "sub#";
pub const CONNECTION_SUBS: &str = "csub#";
pub const TOPIC_LOG: &str = "log#";
pub const ONLINE: &str = "online";
pub const TOPIC_RULES: &str = "topicrule";

/// Deployed modules: `fnmod` / `<module>`.
pub const FN_MODULES: &str = "fnmod";
/// Every deployed version: `fnv#<module>` / `<version, 10 digits>`.
pub const FN_VERSIONS: &str = "fnv#";
/// Recent calls: `fnlog#<module>` / `<ms, 13 digits>#<random>`, expiring.
pub const FN_LOGS: &str = "fnlog#";
/// Schedule claims: `fntick#<module>.<export>` / `<tick, epoch seconds>`, expiring.
pub const FN_TICKS: &str = "fntick#";
/// After-hooks waiting to run: `outbox` / `<id>`.
pub const OUTBOX: &str = "outbox";

pub const FILE: &str = "file#";
pub const OWNER_FILES: &str = "ufile#";
pub const FILE_QUOTA: &str = "fquota#";
pub const FILES_PENDING: &str = "fpending";

/// The app's WeChat access token, shared by every process: `wxtoken` / `token`
/// `{token, expires_at_ms}` (expiring with it), and `wxtoken` / `lease` `{holder}`, the
/// short claim of whoever is fetching a new one (see `wechat::token`).
pub const WX_TOKEN: &str = "wxtoken";
/// QR codes kept by their parameters: `wxqr#<sha256 of the parameters>` / `_`
/// `{file}` (the public file of the image), and `/ lease` `{holder}`, the short claim of
/// whoever is asking WeChat for it (see `wechat::qrcode`).
pub const WX_QRCODE: &str = "wxqr#";
/// WeChat pushes: nonces seen (`n#<timestamp>#<nonce>`) and events handled
/// (`e#<id>`), each expiring.
pub const WX_PUSH: &str = "wxpush";
/// A file's media check by WeChat's trace id: `fcheck#<sha256 of the trace id>` / `_`
/// `{file, trace_id}` (see `files::media`).
pub const FILE_CHECK: &str = "fcheck#";

/// WeChat Pay orders: `payord#<out_trade_no>` / `o`.
pub const PAY_ORDER: &str = "payord#";
/// A buyer's orders: `paybuy#<user>` / `<created ms>#<out_trade_no>`.
pub const PAY_BUYER: &str = "paybuy#";

/// Orders by state: `paystate#<STATE>` / `<created ms>#<out_trade_no>`, moved in the
/// transaction that changes the state (`PENDING` is what reconciliation reads).
pub const PAY_STATE: &str = "paystate#";
/// Every order, for admins: `paylog` / `<created ms>#<out_trade_no>`.
pub const PAY_LOG: &str = "paylog";
/// An order's history: `payhist#<out_trade_no>` / `<ms>#<random>` (transitions, refunds,
/// after-payment action runs and failures).
pub const PAY_HISTORY: &str = "payhist#";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_partitions_can_meet() {
        for (i, a) in FAMILIES.iter().enumerate() {
            assert!(a.ends_with('#') && a[..a.len() - 1].chars().all(|c| c.is_ascii_lowercase()));
            for (j, b) in FAMILIES.iter().enumerate() {
                // `kv#` + a name never starts like `kvns#`: names have no `#`, and the
                // part before the first `#` tells the family.
                if i != j {
                    assert_ne!(a.split('#').next(), b.split('#').next(), "{a} vs {b}");
                }
            }
        }
        for f in FIXED {
            assert!(!f.contains('#'), "{f}");
            assert_eq!(FIXED.iter().filter(|g| g == &f).count(), 1, "{f} twice");
        }
    }
}
