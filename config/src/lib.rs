//! yunqiao's one configuration, for `yunqiao serve` and for the Lambda functions alike:
//! one [`Config`], one set of names (a key in the TOML file, a `YUNQIAO_*` variable in
//! the environment, listed in [`SETTINGS`]), one set of bounds and defaults.
//!
//! * `yunqiao serve`: [`Config::load`] — defaults, then a TOML file, then the
//!   environment; its command-line flags go on top.
//! * A Lambda sandbox: [`Config::from_env`] — defaults, then the environment, through
//!   the very layer `load` applies.
//!
//! Both read the environment from the [`Env`] they are given, never from the process:
//! the faces' `main` takes one snapshot ([`Env::process`]) and nothing downstream looks
//! again. Function secrets (`[functions.secrets]`, `YUNQIAO_SECRETS_JSON`,
//! `YUNQIAO_SECRET_<NAME>`) are read here, into [`FunctionsSection::secrets`].
//!
//! A value out of its range is refused with the setting's names, never clamped. An empty
//! variable counts as unset (a template's empty parameter). A few settings mean
//! something to one face only ([`SERVER_ONLY`], [`LAMBDA_ONLY`]); the other reads and
//! checks them the same way and does not use them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use yunqiao_core::functions::admission::{AdmissionConfig, MAX_WORKERS};

mod pay;
pub use pay::{PAY_MAX_QUANTITY, PaySection};

/// Every setting: its key in the TOML file and its environment variable, on both faces.
pub const SETTINGS: &[(&str, &str)] = &[
    ("addr", "YUNQIAO_ADDR"),
    ("data_dir", "YUNQIAO_DATA_DIR"),
    ("admin_key", "YUNQIAO_ADMIN_KEY"),
    ("body_limit", "YUNQIAO_BODY_LIMIT"),
    ("session_ttl_secs", "YUNQIAO_SESSION_TTL_SECS"),
    ("log", "YUNQIAO_LOG"),
    ("log_format", "YUNQIAO_LOG_FORMAT"),
    ("wechat.appid", "YUNQIAO_WECHAT_APPID"),
    ("wechat.secret", "YUNQIAO_WECHAT_SECRET"),
    ("wechat.api_base", "YUNQIAO_WECHAT_API_BASE"),
    (
        "wechat.mock_on_public_address",
        "YUNQIAO_WECHAT_MOCK_ON_PUBLIC_ADDRESS",
    ),
    ("wechat.push_token", "YUNQIAO_WECHAT_PUSH_TOKEN"),
    ("wechat.push_aes_key", "YUNQIAO_WECHAT_PUSH_AES_KEY"),
    ("wechat.push_function", "YUNQIAO_WECHAT_PUSH_FUNCTION"),
    ("wechat.qrcode_users", "YUNQIAO_WECHAT_QRCODE_USERS"),
    ("store.kind", "YUNQIAO_STORE"),
    ("store.dynamodb_table", "YUNQIAO_DYNAMODB_TABLE"),
    ("store.dynamodb_region", "AWS_REGION"),
    ("store.dynamodb_endpoint", "YUNQIAO_DYNAMODB_ENDPOINT"),
    (
        "store.dynamodb_create_table",
        "YUNQIAO_DYNAMODB_CREATE_TABLE",
    ),
    ("files.kind", "YUNQIAO_FILES"),
    ("files.public_url", "YUNQIAO_PUBLIC_URL"),
    ("files.max_upload_bytes", "YUNQIAO_FILES_MAX_UPLOAD_BYTES"),
    ("files.max_bytes", "YUNQIAO_FILES_MAX_BYTES"),
    // A comma-separated list in the environment, an array in the file.
    ("files.allowed_types", "YUNQIAO_FILES_ALLOWED_TYPES"),
    ("files.quota_bytes", "YUNQIAO_FILES_QUOTA_BYTES"),
    ("files.upload_ttl_secs", "YUNQIAO_FILES_UPLOAD_TTL_SECS"),
    ("files.url_ttl_secs", "YUNQIAO_FILES_URL_TTL_SECS"),
    ("files.pending_ttl_secs", "YUNQIAO_FILES_PENDING_TTL_SECS"),
    // A comma-separated list in the environment, an array in the file.
    ("files.thumb_sizes", "YUNQIAO_FILES_THUMB_SIZES"),
    ("files.media_check", "YUNQIAO_FILES_MEDIA_CHECK"),
    ("files.bucket", "YUNQIAO_BUCKET"),
    ("files.s3_region", "YUNQIAO_S3_REGION"),
    ("files.s3_endpoint", "YUNQIAO_S3_ENDPOINT"),
    ("files.s3_path_style", "YUNQIAO_S3_PATH_STYLE"),
    ("files.s3_create_bucket", "YUNQIAO_S3_CREATE_BUCKET"),
    ("tables.scan_limit", "YUNQIAO_TABLES_SCAN_LIMIT"),
    ("cache.bound_ms", "YUNQIAO_CACHE_BOUND_MS"),
    ("live.ws_endpoint", "YUNQIAO_WS_ENDPOINT"),
    ("live.ws_url", "YUNQIAO_WS_URL"),
    ("functions.workers", "YUNQIAO_FUNCTIONS_WORKERS"),
    ("functions.memory_mb", "YUNQIAO_FUNCTIONS_MEMORY_MB"),
    ("functions.per_caller", "YUNQIAO_FUNCTIONS_PER_CALLER"),
    (
        "functions.per_caller_queued",
        "YUNQIAO_FUNCTIONS_PER_CALLER_QUEUED",
    ),
    ("functions.per_module", "YUNQIAO_FUNCTIONS_PER_MODULE"),
    ("functions.queue", "YUNQIAO_FUNCTIONS_QUEUE"),
    (
        "functions.allow_private_hosts",
        "YUNQIAO_FUNCTIONS_ALLOW_PRIVATE_HOSTS",
    ),
    ("functions.scheduler", "YUNQIAO_FUNCTIONS_SCHEDULER"),
    // `{"NAME": "value"}` (the stack's NoEcho parameter), then one variable per secret.
    ("functions.secrets", "YUNQIAO_SECRETS_JSON"),
    ("pay.mchid", "YUNQIAO_PAY_MCHID"),
    ("pay.merchant_serial", "YUNQIAO_PAY_MERCHANT_SERIAL"),
    // Secrets: the stack's NoEcho parameters.
    ("pay.merchant_key", "YUNQIAO_PAY_MERCHANT_KEY"),
    ("pay.api_v3_key", "YUNQIAO_PAY_API_V3_KEY"),
    ("pay.platform_cert", "YUNQIAO_PAY_PLATFORM_CERT"),
    ("pay.public_key_id", "YUNQIAO_PAY_PUBLIC_KEY_ID"),
    ("pay.public_key", "YUNQIAO_PAY_PUBLIC_KEY"),
    ("pay.notify_url", "YUNQIAO_PAY_NOTIFY_URL"),
    ("pay.api_base", "YUNQIAO_PAY_API_BASE"),
    // A comma-separated list in the environment, an array in the file.
    ("pay.tables", "YUNQIAO_PAY_TABLES"),
    ("pay.price_field", "YUNQIAO_PAY_PRICE_FIELD"),
    ("pay.description_field", "YUNQIAO_PAY_DESCRIPTION_FIELD"),
    ("pay.max_quantity", "YUNQIAO_PAY_MAX_QUANTITY"),
    ("pay.client_amount_min", "YUNQIAO_PAY_CLIENT_AMOUNT_MIN"),
    ("pay.client_amount_max", "YUNQIAO_PAY_CLIENT_AMOUNT_MAX"),
    ("pay.on_paid", "YUNQIAO_PAY_ON_PAID"),
    ("pay.price_function", "YUNQIAO_PAY_PRICE_FUNCTION"),
    // A JSON array in the environment, `[[pay.actions]]` in the file.
    ("pay.actions", "YUNQIAO_PAY_ACTIONS"),
    ("pay.topic", "YUNQIAO_PAY_TOPIC"),
    ("pay.order_ttl_secs", "YUNQIAO_PAY_ORDER_TTL_SECS"),
    (
        "pay.reconcile_after_secs",
        "YUNQIAO_PAY_RECONCILE_AFTER_SECS",
    ),
];

/// The prefix of one function secret's variable: `YUNQIAO_SECRET_<NAME>`.
pub const SECRET_PREFIX: &str = "YUNQIAO_SECRET_";
/// Where `yunqiao serve` finds its TOML file (else `--config`, else `./yunqiao.toml`).
pub const CONFIG_FILE_VAR: &str = "YUNQIAO_CONFIG";
/// Set by AWS Lambda: the function's memory, which bounds `functions.memory_mb`'s default.
pub const LAMBDA_MEMORY_VAR: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";

/// Settings only `yunqiao serve` uses (a Lambda sandbox reads and checks them too).
pub const SERVER_ONLY: &[&str] = &[
    "addr",
    "data_dir",
    "log_format", // Lambda logs are always JSON
    "wechat.mock_on_public_address",
    "store.kind", // Lambda always uses DynamoDB
    "store.dynamodb_create_table",
    "files.kind",       // Lambda always uses S3
    "files.public_url", // where the local server's /v1/blobs is reached
    "files.s3_create_bucket",
    "functions.scheduler", // Lambda: yq-schedule
];
/// Settings only the Lambda functions use (`yunqiao serve` holds its own sockets).
pub const LAMBDA_ONLY: &[&str] = &["live.ws_endpoint", "live.ws_url"];

/// The bounds, shared by both faces.
pub const BODY_LIMIT: (usize, usize) = (1024, 64 * 1024 * 1024);
pub const SESSION_TTL_SECS: (i64, i64) = (60, 10 * 365 * 24 * 3600);
pub const SCAN_LIMIT: (usize, usize) = (10, 1_000_000);
pub const CACHE_BOUND_MS: (i64, i64) = (0, 60_000);
pub const FUNCTIONS_MEMORY_MB: (usize, usize) = (64, 1024 * 1024);
pub const FUNCTIONS_PER_CALLER_QUEUED: (usize, usize) = (1, 10_000);
pub const FUNCTIONS_QUEUE: (usize, usize) = (1, 100_000);
/// From 1 KiB to S3's limit for one POST (5 GiB).
pub const MAX_UPLOAD_BYTES: (u64, u64) = (1024, yunqiao_core::blob::MAX_UPLOAD_BYTES);
/// From 1 byte to `files.max_upload_bytes`.
pub const FILES_MAX_BYTES: (u64, u64) = (1, yunqiao_core::blob::MAX_UPLOAD_BYTES);
/// From 1 KiB to 1 PiB per owner.
pub const FILES_QUOTA_BYTES: (u64, u64) = (1024, 1 << 50);
/// A form, from a minute to a day.
pub const FILES_UPLOAD_TTL_SECS: (u64, u64) = (60, 24 * 3600);
/// A private file's URL, from a minute to seven days (SigV4's longest).
pub const FILES_URL_TTL_SECS: (u64, u64) = (60, 7 * 24 * 3600);
/// A pending upload, from 5 minutes to 30 days, and never less than the form's life.
pub const FILES_PENDING_TTL_SECS: (u64, u64) = (300, 30 * 24 * 3600);
/// At most this many allowed types, each at most this long.
pub const FILES_ALLOWED_TYPES_MAX: usize = 100;
/// Thumbnail sizes, 0 (thumbnails off) to 20.
pub const FILES_THUMB_SIZES_MAX: usize = 20;
/// `functions.memory_mb` when nothing sets it: this, or half the Lambda function's
/// memory when that is less.
pub const DEFAULT_FUNCTIONS_MEMORY_MB: usize = 1024;

/// The environment variable of a setting.
///
/// # Panics
///
/// When `key` is not in [`SETTINGS`]: a mistake in this file, which every load meets.
pub fn env_name(key: &str) -> &'static str {
    SETTINGS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{key} is not in SETTINGS"))
}

/// `key (VARIABLE)`, as errors name a setting.
pub(crate) fn named(key: &str) -> String {
    format!("{key} ({})", env_name(key))
}

/// A snapshot of environment variables: what the loader reads instead of the process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// No variables.
    pub fn empty() -> Env {
        Env::default()
    }

    /// This process's environment (variables that are not Unicode are left out), taken
    /// once by a face's `main`.
    pub fn process() -> Env {
        Env::from_pairs(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value; an empty one counts as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `(rest, value)` of every variable named `prefix` + rest.
    fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.vars
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(move |(k, v)| (&k[prefix.len()..], v.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where `yunqiao serve` listens.
    pub addr: SocketAddr,
    /// The embedded store's directory, and `admin.key`'s (`yunqiao serve`).
    pub data_dir: PathBuf,
    /// Bearer key with full admin rights. `yunqiao serve` generates one into
    /// `<data_dir>/admin.key` if unset; a Lambda function without one has no admin.
    pub admin_key: Option<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    pub session_ttl_secs: i64,
    /// The log filter (`info`, `info,yunqiao=debug`).
    pub log: String,
    /// `text` or `json` (`yunqiao serve`; Lambda logs are JSON).
    pub log_format: String,
    pub wechat: WeChatSection,
    pub store: StoreSection,
    pub files: FilesSection,
    pub tables: TablesSection,
    pub cache: CacheSection,
    pub live: LiveSection,
    pub functions: FunctionsSection,
    pub pay: PaySection,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data_dir: PathBuf::from("data"),
            admin_key: None,
            body_limit: 1024 * 1024,
            session_ttl_secs: 30 * 24 * 3600,
            log: "info".into(),
            log_format: "text".into(),
            wechat: WeChatSection::default(),
            store: StoreSection::default(),
            files: FilesSection::default(),
            tables: TablesSection::default(),
            cache: CacheSection::default(),
            live: LiveSection::default(),
            functions: FunctionsSection::default(),
            pay: PaySection::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeChatSection {
    /// Empty: `yunqiao serve` runs its built-in mock (local development, no network).
    pub appid: String,
    pub secret: String,
    /// Unset: `https://api.weixin.qq.com`.
    pub api_base: Option<String>,
    /// Serve the mock on a non-loopback address (anyone could log in as anyone).
    pub mock_on_public_address: bool,
    /// The message push's Token (3 to 32 letters and digits), as set in the
    /// mini-program's admin; unset: `/v1/wechat/push` answers 404.
    pub push_token: Option<String>,
    /// The message push's EncodingAESKey (43 characters): safe mode, every push
    /// encrypted. Unset: plaintext mode.
    pub push_aes_key: Option<String>,
    /// The cloud function pushed events go to: `module` (export `on_wechat_event`) or
    /// `module.export`. Unset: events are verified and acknowledged only.
    pub push_function: Option<String>,
    /// Logged-in users may ask for QR codes (`POST /v1/qrcode`); unset: admins and
    /// cloud functions only.
    pub qrcode_users: bool,
}

impl WeChatSection {
    /// The push endpoint's secrets, when a Token is configured (checked by
    /// [`Config::validate`]).
    pub fn push_secrets(&self) -> Option<yunqiao_core::wechat::push::PushSecrets> {
        let token = self.push_token.as_deref()?;
        yunqiao_core::wechat::push::PushSecrets::new(token, self.push_aes_key.as_deref()).ok()
    }
}

/// Where data lives: the embedded store in `data_dir` (default), or a DynamoDB table
/// (always, on Lambda).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// `embedded` or `dynamodb`.
    pub kind: String,
    pub dynamodb_table: String,
    pub dynamodb_region: String,
    /// A DynamoDB-compatible endpoint (an emulator); unset: AWS.
    pub dynamodb_endpoint: Option<String>,
    /// Create the table when missing (development; in AWS `template.yaml` owns it).
    pub dynamodb_create_table: bool,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            kind: "embedded".into(),
            dynamodb_table: "yunqiao".into(),
            dynamodb_region: "us-east-1".into(),
            dynamodb_endpoint: None,
            dynamodb_create_table: false,
        }
    }
}

/// Where files (blobs) live: on disk under `data_dir/blobs` (default), or in an S3 bucket
/// (always, on Lambda).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesSection {
    /// `disk` or `s3` (`yunqiao serve`).
    pub kind: String,
    /// The URL clients reach this server at (`https://api.example.com`), which the disk
    /// store's upload forms and download URLs point to; unset: `http://` and the listen
    /// address (`yunqiao serve`).
    pub public_url: Option<String>,
    /// The largest object the blob store takes in one upload, whatever signed it: the
    /// disk store's `POST /v1/blobs` stops reading past it, and no form is signed for
    /// more. A ceiling on `max_bytes` (and on any later use of the blob store).
    pub max_upload_bytes: u64,
    /// The largest file a user may upload through the files API (`FILE_TOO_LARGE`), at
    /// most `max_upload_bytes`.
    pub max_bytes: u64,
    /// The content types users may upload: exact (`image/png`) or a family
    /// (`image/*`); anything else is `FILE_TYPE_NOT_ALLOWED`.
    pub allowed_types: Vec<String>,
    /// Bytes each user may keep, pending uploads included (`QUOTA_EXCEEDED`).
    pub quota_bytes: u64,
    /// How long an upload form works.
    pub upload_ttl_secs: u64,
    /// How long a private file's URL works (a public file's: seven days).
    pub url_ttl_secs: u64,
    /// How long an upload may stay pending (not completed) before it is removed with
    /// its bytes; at least `upload_ttl_secs`.
    pub pending_ttl_secs: u64,
    /// The thumbnail sizes readers may ask for (`?thumb=`), in PocketBase's syntax
    /// (`WxH`, `WxHt`, `WxHb`, `WxHf`, `0xH`, `Wx0`); empty: no thumbnails.
    pub thumb_sizes: Vec<String>,
    /// Image and audio types (exact, or `image/*`) whose uploads WeChat checks
    /// (`media_check_async`) once completed: `checking` until its pushed verdict, then
    /// `ready` or `rejected`. Needs the message push (`wechat.push_token`); empty: off.
    pub media_check: Vec<String>,
    pub bucket: String,
    /// Unset: the store's region (`AWS_REGION`).
    pub s3_region: Option<String>,
    /// An S3-compatible endpoint (MinIO, an emulator); unset: AWS.
    pub s3_endpoint: Option<String>,
    /// Address the bucket as `{endpoint}/{bucket}` rather than `{bucket}.{host}`.
    pub s3_path_style: bool,
    /// Create the bucket when missing (`yunqiao serve`, development; in AWS
    /// `template.yaml` owns it).
    pub s3_create_bucket: bool,
}

impl Default for FilesSection {
    fn default() -> Self {
        let files = yunqiao_core::files::FilesConfig::default();
        FilesSection {
            kind: "disk".into(),
            public_url: None,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_bytes: files.max_bytes,
            allowed_types: files.allowed_types,
            quota_bytes: files.quota_bytes,
            upload_ttl_secs: files.upload_ttl.as_secs(),
            url_ttl_secs: files.url_ttl.as_secs(),
            pending_ttl_secs: files.pending_ttl.as_secs(),
            thumb_sizes: yunqiao_core::files::thumbs::DEFAULT_SIZES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            media_check: Vec::new(),
            bucket: "yunqiao".into(),
            s3_region: None,
            s3_endpoint: None,
            s3_path_style: false,
            s3_create_bucket: false,
        }
    }
}

/// `files.max_upload_bytes` when nothing sets it: 100 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;

impl FilesSection {
    /// The files API's limits.
    pub fn limits(&self) -> yunqiao_core::files::FilesConfig {
        use std::time::Duration;
        yunqiao_core::files::FilesConfig {
            max_bytes: self.max_bytes,
            allowed_types: self.allowed_types.clone(),
            quota_bytes: self.quota_bytes,
            upload_ttl: Duration::from_secs(self.upload_ttl_secs),
            url_ttl: Duration::from_secs(self.url_ttl_secs),
            pending_ttl: Duration::from_secs(self.pending_ttl_secs),
            media_check: self.media_check.clone(),
        }
    }

    /// The thumbnails' settings: the sizes (checked by [`Config::validate`]), the default
    /// image limits and concurrency.
    pub fn thumbs(&self) -> yunqiao_core::files::thumbs::ThumbsConfig {
        use yunqiao_core::files::thumbs::{ThumbsConfig, parse_sizes};
        ThumbsConfig {
            sizes: parse_sizes(self.thumb_sizes.iter().map(String::as_str)).unwrap_or_default(),
            ..ThumbsConfig::default()
        }
    }
}

/// Whether `t` is a content type users may be allowed to upload: `type/subtype` or
/// `type/*`, in lower case, of letters, digits and `+ - . _`.
fn valid_allowed_type(t: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 127
            && p.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'+' | b'-' | b'.' | b'_')
            })
    };
    match t.split_once('/') {
        Some((top, "*")) => part(top),
        Some((top, sub)) => part(top) && part(sub),
        None => false,
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TablesSection {
    /// Most rows one query examines, and the most records an unindexed query may scan.
    pub scan_limit: usize,
}

impl Default for TablesSection {
    fn default() -> Self {
        TablesSection {
            scan_limit: yunqiao_core::tables::reads::DEFAULT_SCAN_LIMIT,
        }
    }
}

/// The per-process caches of sessions, users, schemas and function modules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSection {
    /// Where other processes write the store too (DynamoDB, every Lambda sandbox): how
    /// long a cached entry is trusted, in milliseconds. 0 turns the caches off
    /// everywhere; the embedded store (one writer) forgets entries on its own writes.
    pub bound_ms: i64,
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            bound_ms: yunqiao_core::cache::DEFAULT_BOUND_MS,
        }
    }
}

impl CacheSection {
    /// The caches' freshness for a store only this process writes, or a shared one.
    pub fn freshness(&self, store_shared: bool) -> yunqiao_core::cache::Freshness {
        use yunqiao_core::cache::Freshness;
        match (self.bound_ms, store_shared) {
            (0, _) => Freshness::None,
            (_, false) => Freshness::OwnWrites,
            (ms, true) => Freshness::Bounded(ms),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveSection {
    /// The WebSocket API's management URL, where API Gateway holds the sockets (the
    /// Lambda functions that push). `yunqiao serve` holds its own and ignores it.
    pub ws_endpoint: Option<String>,
    /// Where clients open their sockets (`wss://…`, the stack's `WebSocketUrl`): the
    /// admin console's channel debugger connects there. `yunqiao serve` serves
    /// `/v1/ws` itself and ignores it.
    pub ws_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FunctionsSection {
    /// Worker processes running cloud functions, one call each at a time (exactly this
    /// many at most, started as needed).
    pub workers: usize,
    /// The budget: the `memory_mb` of the calls running at once never adds up to more
    /// than this (default [`DEFAULT_FUNCTIONS_MEMORY_MB`], or half a Lambda function's
    /// memory when that is less).
    pub memory_mb: Option<usize>,
    /// Client calls one caller may run at once (default: a third of the workers not kept
    /// for hooks), and may have waiting.
    pub per_caller: Option<usize>,
    pub per_caller_queued: Option<usize>,
    /// Client calls of one module running at once (default: three quarters of them).
    pub per_module: Option<usize>,
    /// Client calls waiting for a worker, in all (default 256).
    pub queue: Option<usize>,
    /// Let modules list and reach loopback and private-network hosts (services on the
    /// server's own network, local mocks). Link-local and metadata addresses never.
    pub allow_private_hosts: bool,
    /// What `secrets.get(name)` answers: the file's `[functions.secrets]`, then
    /// `YUNQIAO_SECRETS_JSON`, then `YUNQIAO_SECRET_<NAME>` variables.
    pub secrets: BTreeMap<String, String>,
    /// Run due schedules (and the outbox sweep) in this process (`yunqiao serve`).
    pub scheduler: bool,
}

impl Default for FunctionsSection {
    fn default() -> Self {
        FunctionsSection {
            workers: 8,
            memory_mb: None,
            per_caller: None,
            per_caller_queued: None,
            per_module: None,
            queue: None,
            allow_private_hosts: false,
            secrets: BTreeMap::new(),
            scheduler: true,
        }
    }
}

impl FunctionsSection {
    /// Who gets a worker and who waits.
    pub fn admission(&self) -> AdmissionConfig {
        AdmissionConfig::for_workers(
            self.workers,
            self.memory_mb.unwrap_or(DEFAULT_FUNCTIONS_MEMORY_MB),
        )
        .with_overrides(
            self.per_caller,
            self.per_caller_queued,
            self.per_module,
            self.queue,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::error::Error for ConfigError {}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// `yunqiao serve`'s configuration: `file` (else the file `YUNQIAO_CONFIG` names,
    /// else `yunqiao.toml` in the working directory when it exists), then `env`.
    pub fn load(file: Option<&Path>, env: &Env) -> Result<Config, ConfigError> {
        let default_file = PathBuf::from("yunqiao.toml");
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None => env
                .get(CONFIG_FILE_VAR)
                .map(PathBuf::from)
                .or_else(|| default_file.exists().then_some(default_file)),
        };
        let base = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(format!("cannot read config {}: {e}", p.display())))?;
                Config::from_toml(&text)
                    .map_err(|e| ConfigError(format!("bad config {}: {e}", p.display())))?
            }
            None => Config::default(),
        };
        base.with_env(env)
    }

    /// A Lambda sandbox's configuration: the defaults, then `env` (the same layer
    /// [`Config::load`] applies over its file).
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Config::default().with_env(env)
    }

    /// The defaults, then a TOML document (not yet checked: see [`Config::with_env`]).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }

    /// This configuration with what `env` sets instead, checked.
    pub fn with_env(mut self, env: &Env) -> Result<Config, ConfigError> {
        self.apply_env(env)?;
        self.validate()?;
        Ok(self)
    }

    fn apply_env(&mut self, env: &Env) -> Result<(), ConfigError> {
        let e = EnvLayer(env);
        e.set("addr", &mut self.addr)?;
        e.set("data_dir", &mut self.data_dir)?;
        e.set_opt("admin_key", &mut self.admin_key)?;
        e.set("body_limit", &mut self.body_limit)?;
        e.set("session_ttl_secs", &mut self.session_ttl_secs)?;
        e.set("log", &mut self.log)?;
        e.set("log_format", &mut self.log_format)?;

        let w = &mut self.wechat;
        e.set("wechat.appid", &mut w.appid)?;
        e.set("wechat.secret", &mut w.secret)?;
        e.set_opt("wechat.api_base", &mut w.api_base)?;
        e.set_bool(
            "wechat.mock_on_public_address",
            &mut w.mock_on_public_address,
        )?;
        e.set_opt("wechat.push_token", &mut w.push_token)?;
        e.set_opt("wechat.push_aes_key", &mut w.push_aes_key)?;
        e.set_opt("wechat.push_function", &mut w.push_function)?;
        e.set_bool("wechat.qrcode_users", &mut w.qrcode_users)?;
        // The stack passes its optional parameters as empty strings: unset.
        for v in [&mut w.push_token, &mut w.push_aes_key, &mut w.push_function] {
            if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *v = None;
            }
        }

        let s = &mut self.store;
        e.set("store.kind", &mut s.kind)?;
        e.set("store.dynamodb_table", &mut s.dynamodb_table)?;
        e.set("store.dynamodb_region", &mut s.dynamodb_region)?;
        e.set_opt("store.dynamodb_endpoint", &mut s.dynamodb_endpoint)?;
        e.set_bool("store.dynamodb_create_table", &mut s.dynamodb_create_table)?;

        let fi = &mut self.files;
        e.set("files.kind", &mut fi.kind)?;
        e.set_opt("files.public_url", &mut fi.public_url)?;
        e.set("files.max_upload_bytes", &mut fi.max_upload_bytes)?;
        e.set("files.max_bytes", &mut fi.max_bytes)?;
        if let Some(v) = env.get(env_name("files.allowed_types")) {
            fi.allowed_types = v
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
        }
        e.set("files.quota_bytes", &mut fi.quota_bytes)?;
        e.set("files.upload_ttl_secs", &mut fi.upload_ttl_secs)?;
        e.set("files.url_ttl_secs", &mut fi.url_ttl_secs)?;
        e.set("files.pending_ttl_secs", &mut fi.pending_ttl_secs)?;
        if let Some(v) = env.get(env_name("files.thumb_sizes")) {
            fi.thumb_sizes = v
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
        }
        if let Some(v) = env.get(env_name("files.media_check")) {
            fi.media_check = v
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect();
        }
        e.set("files.bucket", &mut fi.bucket)?;
        e.set_opt("files.s3_region", &mut fi.s3_region)?;
        e.set_opt("files.s3_endpoint", &mut fi.s3_endpoint)?;
        e.set_bool("files.s3_path_style", &mut fi.s3_path_style)?;
        e.set_bool("files.s3_create_bucket", &mut fi.s3_create_bucket)?;

        e.set("tables.scan_limit", &mut self.tables.scan_limit)?;
        e.set("cache.bound_ms", &mut self.cache.bound_ms)?;
        e.set_opt("live.ws_endpoint", &mut self.live.ws_endpoint)?;
        e.set_opt("live.ws_url", &mut self.live.ws_url)?;

        let f = &mut self.functions;
        e.set("functions.workers", &mut f.workers)?;
        e.set_opt("functions.memory_mb", &mut f.memory_mb)?;
        e.set_opt("functions.per_caller", &mut f.per_caller)?;
        e.set_opt("functions.per_caller_queued", &mut f.per_caller_queued)?;
        e.set_opt("functions.per_module", &mut f.per_module)?;
        e.set_opt("functions.queue", &mut f.queue)?;
        e.set_bool("functions.allow_private_hosts", &mut f.allow_private_hosts)?;
        e.set_bool("functions.scheduler", &mut f.scheduler)?;
        if f.memory_mb.is_none()
            && let Some(v) = env.get(LAMBDA_MEMORY_VAR)
        {
            let lambda_mb: usize = v
                .parse()
                .map_err(|_| ConfigError(format!("{LAMBDA_MEMORY_VAR}: {v:?} is not a number")))?;
            let half = (lambda_mb / 2).max(FUNCTIONS_MEMORY_MB.0);
            f.memory_mb = Some(half.min(DEFAULT_FUNCTIONS_MEMORY_MB));
        }

        let p = &mut self.pay;
        e.set("pay.mchid", &mut p.mchid)?;
        e.set("pay.merchant_serial", &mut p.merchant_serial)?;
        e.set("pay.merchant_key", &mut p.merchant_key)?;
        e.set("pay.api_v3_key", &mut p.api_v3_key)?;
        e.set_opt("pay.platform_cert", &mut p.platform_cert)?;
        e.set_opt("pay.public_key_id", &mut p.public_key_id)?;
        e.set_opt("pay.public_key", &mut p.public_key)?;
        e.set("pay.notify_url", &mut p.notify_url)?;
        e.set_opt("pay.api_base", &mut p.api_base)?;
        if let Some(v) = env.get(env_name("pay.tables")) {
            p.tables = v
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
        }
        e.set("pay.price_field", &mut p.price_field)?;
        e.set("pay.description_field", &mut p.description_field)?;
        e.set("pay.max_quantity", &mut p.max_quantity)?;
        e.set_opt("pay.client_amount_min", &mut p.client_amount_min)?;
        e.set_opt("pay.client_amount_max", &mut p.client_amount_max)?;
        e.set_opt("pay.on_paid", &mut p.on_paid)?;
        e.set_opt("pay.price_function", &mut p.price_function)?;
        if let Some(v) = env.get(env_name("pay.actions")) {
            p.actions = serde_json::from_str(v).map_err(|e| {
                ConfigError(format!(
                    "{}: a JSON array of {{table, op, id, data}}: {e}",
                    env_name("pay.actions")
                ))
            })?;
        }
        e.set_opt("pay.topic", &mut p.topic)?;
        e.set("pay.order_ttl_secs", &mut p.order_ttl_secs)?;
        e.set("pay.reconcile_after_secs", &mut p.reconcile_after_secs)?;

        let json_var = env_name("functions.secrets");
        if let Some(j) = env.get(json_var) {
            let m: BTreeMap<String, String> = serde_json::from_str(j).map_err(|_| {
                ConfigError(format!(
                    "{json_var} must be a JSON object of strings ({{\"NAME\": \"value\"}})"
                ))
            })?;
            if let Some(n) = m
                .keys()
                .find(|n| !yunqiao_core::functions::settings::valid_secret_name(n))
            {
                return Err(ConfigError(format!(
                    "{json_var}: {n:?} is not a secret name (A-Z 0-9 _, starting with a letter)"
                )));
            }
            f.secrets.extend(m);
        }
        for (name, value) in env.with_prefix(SECRET_PREFIX) {
            if !yunqiao_core::functions::settings::valid_secret_name(name) {
                return Err(ConfigError(format!(
                    "{SECRET_PREFIX}{name}: {name:?} is not a secret name (A-Z 0-9 _, starting with a letter)"
                )));
            }
            f.secrets.insert(name.to_string(), value.to_string());
        }
        Ok(())
    }

    /// Refuses what no face may run with, naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        in_range("session_ttl_secs", self.session_ttl_secs, SESSION_TTL_SECS)?;
        in_range("body_limit", self.body_limit, BODY_LIMIT)?;
        in_range("tables.scan_limit", self.tables.scan_limit, SCAN_LIMIT)?;
        in_range("cache.bound_ms", self.cache.bound_ms, CACHE_BOUND_MS)?;
        in_range(
            "files.max_upload_bytes",
            self.files.max_upload_bytes,
            MAX_UPLOAD_BYTES,
        )?;
        let fi = &self.files;
        in_range("files.max_bytes", fi.max_bytes, FILES_MAX_BYTES)?;
        if fi.max_bytes > fi.max_upload_bytes {
            return Err(ConfigError(format!(
                "{} is at most {} ({}), not {}",
                named("files.max_bytes"),
                named("files.max_upload_bytes"),
                fi.max_upload_bytes,
                fi.max_bytes
            )));
        }
        in_range("files.quota_bytes", fi.quota_bytes, FILES_QUOTA_BYTES)?;
        in_range(
            "files.upload_ttl_secs",
            fi.upload_ttl_secs,
            FILES_UPLOAD_TTL_SECS,
        )?;
        in_range("files.url_ttl_secs", fi.url_ttl_secs, FILES_URL_TTL_SECS)?;
        in_range(
            "files.pending_ttl_secs",
            fi.pending_ttl_secs,
            FILES_PENDING_TTL_SECS,
        )?;
        if fi.pending_ttl_secs < fi.upload_ttl_secs {
            return Err(ConfigError(format!(
                "{} is at least {} ({}), not {}",
                named("files.pending_ttl_secs"),
                named("files.upload_ttl_secs"),
                fi.upload_ttl_secs,
                fi.pending_ttl_secs
            )));
        }
        if fi.allowed_types.is_empty() || fi.allowed_types.len() > FILES_ALLOWED_TYPES_MAX {
            return Err(ConfigError(format!(
                "{} lists 1 to {FILES_ALLOWED_TYPES_MAX} content types",
                named("files.allowed_types")
            )));
        }
        if let Some(t) = fi.allowed_types.iter().find(|t| !valid_allowed_type(t)) {
            return Err(ConfigError(format!(
                "{}: {t:?} is not a content type (type/subtype or type/*, lower case)",
                named("files.allowed_types")
            )));
        }
        if let Some(t) = fi.media_check.iter().find(|t| {
            !valid_allowed_type(t) || !(t.starts_with("image/") || t.starts_with("audio/"))
        }) {
            return Err(ConfigError(format!(
                "{}: {t:?} is not an image or audio type WeChat checks (image/*, audio/mpeg, …)",
                named("files.media_check")
            )));
        }
        if fi.thumb_sizes.len() > FILES_THUMB_SIZES_MAX {
            return Err(ConfigError(format!(
                "{} lists 0 to {FILES_THUMB_SIZES_MAX} sizes",
                named("files.thumb_sizes")
            )));
        }
        for t in &fi.thumb_sizes {
            if let Err(e) = t.parse::<yunqiao_core::files::thumbs::ThumbSpec>() {
                return Err(ConfigError(format!("{}: {e}", named("files.thumb_sizes"))));
            }
        }
        if let Some(u) = &self.live.ws_url
            && !(u.starts_with("wss://") || u.starts_with("ws://"))
        {
            return Err(ConfigError(format!(
                "{}: {u:?} is not a wss:// (or ws://) URL",
                named("live.ws_url")
            )));
        }
        if !matches!(self.files.kind.as_str(), "disk" | "s3") {
            return Err(ConfigError(format!(
                "{} is disk or s3, not {:?}",
                named("files.kind"),
                self.files.kind
            )));
        }
        if let Some(u) = &self.files.public_url
            && !valid_public_url(u)
        {
            return Err(ConfigError(format!(
                "{} is an http:// or https:// URL with no query, not {u:?}",
                named("files.public_url")
            )));
        }
        if self.files.bucket.is_empty() {
            return Err(ConfigError(format!(
                "{} is not empty",
                named("files.bucket")
            )));
        }
        let f = &self.functions;
        in_range("functions.workers", f.workers, (1, MAX_WORKERS))?;
        let optional = [
            ("functions.memory_mb", f.memory_mb, FUNCTIONS_MEMORY_MB),
            ("functions.per_caller", f.per_caller, (1, MAX_WORKERS)),
            (
                "functions.per_caller_queued",
                f.per_caller_queued,
                FUNCTIONS_PER_CALLER_QUEUED,
            ),
            ("functions.per_module", f.per_module, (1, MAX_WORKERS)),
            ("functions.queue", f.queue, FUNCTIONS_QUEUE),
        ];
        for (key, v, bounds) in optional {
            if let Some(v) = v {
                in_range(key, v, bounds)?;
            }
        }
        f.admission()
            .validate()
            .map_err(|e| ConfigError(format!("functions: {e}")))?;
        if let Some(n) = f
            .secrets
            .keys()
            .find(|n| !yunqiao_core::functions::settings::valid_secret_name(n))
        {
            return Err(ConfigError(format!(
                "functions.secrets: {n:?} is not a secret name (A-Z 0-9 _, starting with a letter)"
            )));
        }
        self.pay.validate()?;
        if !self.wechat.appid.is_empty() && self.wechat.secret.is_empty() {
            return Err(ConfigError(format!(
                "{} is required with {}",
                named("wechat.secret"),
                named("wechat.appid")
            )));
        }
        {
            use yunqiao_core::wechat::push::{check_token, parse_aes_key};
            let w = &self.wechat;
            if let Some(t) = &w.push_token
                && let Err(e) = check_token(t)
            {
                return Err(ConfigError(format!("{}: {e}", named("wechat.push_token"))));
            }
            if let Some(k) = &w.push_aes_key {
                if let Err(e) = parse_aes_key(k) {
                    return Err(ConfigError(format!(
                        "{}: {e}",
                        named("wechat.push_aes_key")
                    )));
                }
                if w.push_token.is_none() {
                    return Err(ConfigError(format!(
                        "{} is required with {}",
                        named("wechat.push_token"),
                        named("wechat.push_aes_key")
                    )));
                }
            }
        }
        if let Some(k) = &self.admin_key
            && let Err(e) = yunqiao_core::auth::check_admin_key(k)
        {
            return Err(ConfigError(format!("{}: {e}", named("admin_key"))));
        }
        if !matches!(self.store.kind.as_str(), "embedded" | "dynamodb") {
            return Err(ConfigError(format!(
                "{} is embedded or dynamodb, not {:?}",
                named("store.kind"),
                self.store.kind
            )));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError(format!(
                "{} is text or json, not {:?}",
                named("log_format"),
                self.log_format
            )));
        }
        Ok(())
    }

    /// The S3 bucket's region: `files.s3_region`, else the store's (`AWS_REGION`).
    pub fn s3_region(&self) -> &str {
        self.files
            .s3_region
            .as_deref()
            .unwrap_or(&self.store.dynamodb_region)
    }

    /// Sessions and the admin key.
    pub fn auth(&self) -> yunqiao_core::auth::AuthConfig {
        yunqiao_core::auth::AuthConfig {
            session_ttl_secs: self.session_ttl_secs,
            admin_key: self.admin_key.clone(),
            ..yunqiao_core::auth::AuthConfig::default()
        }
    }
}

/// `http(s)://host[:port][/path]`, nothing after the path.
fn valid_public_url(u: &str) -> bool {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r.starts_with('/')
            && !r.contains(['?', '#', ' '])
            && r.chars().all(|c| c.is_ascii_graphic())
    })
}

pub(crate) fn in_range<T: PartialOrd + std::fmt::Display>(
    key: &str,
    v: T,
    (lo, hi): (T, T),
) -> Result<(), ConfigError> {
    if v < lo || v > hi {
        return Err(ConfigError(format!(
            "{} is {lo} to {hi}, not {v}",
            named(key)
        )));
    }
    Ok(())
}

/// The environment over a configuration: each setting from its variable, when set.
struct EnvLayer<'a>(&'a Env);

impl EnvLayer<'_> {
    fn parse<T: FromStr>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        let var = env_name(key);
        self.0
            .get(var)
            .map(|v| {
                v.parse().map_err(|_| {
                    // Strings always parse: a value shown here is never a secret.
                    ConfigError(format!("bad value for {var} ({key}): {v:?}"))
                })
            })
            .transpose()
    }

    fn set<T: FromStr>(&self, key: &str, slot: &mut T) -> Result<(), ConfigError> {
        if let Some(v) = self.parse(key)? {
            *slot = v;
        }
        Ok(())
    }

    fn set_opt<T: FromStr>(&self, key: &str, slot: &mut Option<T>) -> Result<(), ConfigError> {
        if let Some(v) = self.parse(key)? {
            *slot = Some(v);
        }
        Ok(())
    }

    fn set_bool(&self, key: &str, slot: &mut bool) -> Result<(), ConfigError> {
        let var = env_name(key);
        if let Some(v) = self.0.get(var) {
            *slot = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(ConfigError(format!(
                        "bad value for {var} ({key}): {v:?} (1, true, yes, on or 0, false, no, off)"
                    )));
                }
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    fn err(r: Result<Config, ConfigError>) -> String {
        r.expect_err("refused").0
    }

    #[test]
    fn file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("y.toml");
        std::fs::write(&f, "addr = \"127.0.0.1:9000\"\ndata_dir = \"/tmp/x\"\n[wechat]\nappid = \"wx1\"\nsecret = \"s\"\n").unwrap();
        let c = Config::load(Some(&f), &env(&[("YUNQIAO_DATA_DIR", "/tmp/y")])).unwrap();
        assert_eq!(c.addr.port(), 9000);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/y"));
        assert_eq!(c.wechat.appid, "wx1");
        // The file YUNQIAO_CONFIG names.
        let by_var = env(&[("YUNQIAO_CONFIG", f.to_str().unwrap())]);
        assert_eq!(Config::load(None, &by_var).unwrap().addr.port(), 9000);
        std::fs::write(&f, "nonsense = 1\n").unwrap();
        assert!(Config::load(Some(&f), &Env::empty()).is_err());
        assert!(Config::load(Some(&f.with_extension("missing")), &Env::empty()).is_err());
        let bad = err(Config::load(None, &env(&[("YUNQIAO_ADDR", "nope")])));
        assert!(
            bad.contains("YUNQIAO_ADDR") && bad.contains("addr"),
            "{bad}"
        );
    }

    /// Every setting given in TOML, and the same values as environment variables.
    const TOML: &str = r#"
addr = "0.0.0.0:9001"
data_dir = "/srv/yq"
admin_key = "an-admin-key-of-some-length"
body_limit = 2048
session_ttl_secs = 3600
log = "debug"
log_format = "json"
[wechat]
appid = "wx0123456789abcdef"
secret = "s3cret"
api_base = "http://127.0.0.1:9/wx"
mock_on_public_address = true
push_token = "pushTok3n"
push_aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
push_function = "hooks.on_push"
qrcode_users = true
[store]
kind = "dynamodb"
dynamodb_table = "t1"
dynamodb_region = "eu-west-1"
dynamodb_endpoint = "http://127.0.0.1:5000"
dynamodb_create_table = true
[files]
kind = "s3"
public_url = "https://files.example.com/yq"
max_upload_bytes = 2048
max_bytes = 1500
allowed_types = ["image/*", "application/pdf"]
quota_bytes = 4096
upload_ttl_secs = 120
url_ttl_secs = 300
pending_ttl_secs = 3600
thumb_sizes = ["100x100", "0x300", "200x200f"]
media_check = ["image/*", "audio/mpeg"]
bucket = "b1"
s3_region = "cn-north-1"
s3_endpoint = "http://127.0.0.1:9000"
s3_path_style = true
s3_create_bucket = true
[tables]
scan_limit = 50
[cache]
bound_ms = 250
[live]
ws_endpoint = "https://ws.example/v1"
ws_url = "wss://live.example"
[functions]
workers = 3
memory_mb = 256
per_caller = 1
per_caller_queued = 4
per_module = 2
queue = 9
allow_private_hosts = true
scheduler = false
[functions.secrets]
PAYMENT_KEY = "pk"
OTHER = "o"
[pay]
mchid = "1900000001"
merchant_serial = "ABC123"
merchant_key = "mk"
api_v3_key = "v3"
platform_cert = "pc"
public_key_id = "PUB_KEY_ID_01"
public_key = "pk"
notify_url = "https://api.example.com/v1/pay/notify"
api_base = "http://127.0.0.1:9/pay"
tables = ["products", "plans"]
price_field = "cents"
description_field = "name"
max_quantity = 5
client_amount_min = 100
client_amount_max = 5000
on_paid = "shop.paid"
price_function = "shop.price"
topic = "sales"
order_ttl_secs = 900
reconcile_after_secs = 120
[[pay.actions]]
table = "receipts"
data = { order = "{{out_trade_no}}", fen = "{{amount}}" }
[[pay.actions]]
table = "{{item.table}}"
op = "update"
id = "{{item.id}}"
data = { sold = true }
"#;

    const ENV: &[(&str, &str)] = &[
        ("YUNQIAO_ADDR", "0.0.0.0:9001"),
        ("YUNQIAO_DATA_DIR", "/srv/yq"),
        ("YUNQIAO_ADMIN_KEY", "an-admin-key-of-some-length"),
        ("YUNQIAO_BODY_LIMIT", "2048"),
        ("YUNQIAO_SESSION_TTL_SECS", "3600"),
        ("YUNQIAO_LOG", "debug"),
        ("YUNQIAO_LOG_FORMAT", "json"),
        ("YUNQIAO_WECHAT_APPID", "wx0123456789abcdef"),
        ("YUNQIAO_WECHAT_SECRET", "s3cret"),
        ("YUNQIAO_WECHAT_API_BASE", "http://127.0.0.1:9/wx"),
        ("YUNQIAO_WECHAT_MOCK_ON_PUBLIC_ADDRESS", "true"),
        ("YUNQIAO_WECHAT_PUSH_TOKEN", "pushTok3n"),
        (
            "YUNQIAO_WECHAT_PUSH_AES_KEY",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        ),
        ("YUNQIAO_WECHAT_PUSH_FUNCTION", "hooks.on_push"),
        ("YUNQIAO_WECHAT_QRCODE_USERS", "true"),
        ("YUNQIAO_STORE", "dynamodb"),
        ("YUNQIAO_DYNAMODB_TABLE", "t1"),
        ("AWS_REGION", "eu-west-1"),
        ("YUNQIAO_DYNAMODB_ENDPOINT", "http://127.0.0.1:5000"),
        ("YUNQIAO_DYNAMODB_CREATE_TABLE", "1"),
        ("YUNQIAO_FILES", "s3"),
        ("YUNQIAO_PUBLIC_URL", "https://files.example.com/yq"),
        ("YUNQIAO_FILES_MAX_UPLOAD_BYTES", "2048"),
        ("YUNQIAO_FILES_MAX_BYTES", "1500"),
        ("YUNQIAO_FILES_ALLOWED_TYPES", "image/*, application/pdf"),
        ("YUNQIAO_FILES_QUOTA_BYTES", "4096"),
        ("YUNQIAO_FILES_UPLOAD_TTL_SECS", "120"),
        ("YUNQIAO_FILES_URL_TTL_SECS", "300"),
        ("YUNQIAO_FILES_PENDING_TTL_SECS", "3600"),
        ("YUNQIAO_FILES_THUMB_SIZES", "100x100, 0x300,200x200f"),
        ("YUNQIAO_FILES_MEDIA_CHECK", "image/*, audio/mpeg"),
        ("YUNQIAO_BUCKET", "b1"),
        ("YUNQIAO_S3_REGION", "cn-north-1"),
        ("YUNQIAO_S3_ENDPOINT", "http://127.0.0.1:9000"),
        ("YUNQIAO_S3_PATH_STYLE", "true"),
        ("YUNQIAO_S3_CREATE_BUCKET", "on"),
        ("YUNQIAO_TABLES_SCAN_LIMIT", "50"),
        ("YUNQIAO_CACHE_BOUND_MS", "250"),
        ("YUNQIAO_WS_ENDPOINT", "https://ws.example/v1"),
        ("YUNQIAO_WS_URL", "wss://live.example"),
        ("YUNQIAO_FUNCTIONS_WORKERS", "3"),
        ("YUNQIAO_FUNCTIONS_MEMORY_MB", "256"),
        ("YUNQIAO_FUNCTIONS_PER_CALLER", "1"),
        ("YUNQIAO_FUNCTIONS_PER_CALLER_QUEUED", "4"),
        ("YUNQIAO_FUNCTIONS_PER_MODULE", "2"),
        ("YUNQIAO_FUNCTIONS_QUEUE", "9"),
        ("YUNQIAO_FUNCTIONS_ALLOW_PRIVATE_HOSTS", "yes"),
        ("YUNQIAO_FUNCTIONS_SCHEDULER", "0"),
        ("YUNQIAO_SECRETS_JSON", r#"{"PAYMENT_KEY": "pk"}"#),
        ("YUNQIAO_SECRET_OTHER", "o"),
        ("YUNQIAO_PAY_MCHID", "1900000001"),
        ("YUNQIAO_PAY_MERCHANT_SERIAL", "ABC123"),
        ("YUNQIAO_PAY_MERCHANT_KEY", "mk"),
        ("YUNQIAO_PAY_API_V3_KEY", "v3"),
        ("YUNQIAO_PAY_PLATFORM_CERT", "pc"),
        ("YUNQIAO_PAY_PUBLIC_KEY_ID", "PUB_KEY_ID_01"),
        ("YUNQIAO_PAY_PUBLIC_KEY", "pk"),
        (
            "YUNQIAO_PAY_NOTIFY_URL",
            "https://api.example.com/v1/pay/notify",
        ),
        ("YUNQIAO_PAY_API_BASE", "http://127.0.0.1:9/pay"),
        ("YUNQIAO_PAY_TABLES", "products, plans"),
        ("YUNQIAO_PAY_PRICE_FIELD", "cents"),
        ("YUNQIAO_PAY_DESCRIPTION_FIELD", "name"),
        ("YUNQIAO_PAY_MAX_QUANTITY", "5"),
        ("YUNQIAO_PAY_CLIENT_AMOUNT_MIN", "100"),
        ("YUNQIAO_PAY_CLIENT_AMOUNT_MAX", "5000"),
        ("YUNQIAO_PAY_ON_PAID", "shop.paid"),
        ("YUNQIAO_PAY_PRICE_FUNCTION", "shop.price"),
        (
            "YUNQIAO_PAY_ACTIONS",
            r#"[{"table": "receipts", "data": {"order": "{{out_trade_no}}", "fen": "{{amount}}"}},
                {"table": "{{item.table}}", "op": "update", "id": "{{item.id}}", "data": {"sold": true}}]"#,
        ),
        ("YUNQIAO_PAY_TOPIC", "sales"),
        ("YUNQIAO_PAY_ORDER_TTL_SECS", "900"),
        ("YUNQIAO_PAY_RECONCILE_AFTER_SECS", "120"),
    ];

    #[test]
    fn the_same_settings_give_the_same_config_on_both_loaders() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("yunqiao.toml");
        std::fs::write(&f, TOML).unwrap();
        let served = Config::load(Some(&f), &Env::empty()).unwrap();
        let lambda = Config::from_env(&env(ENV)).unwrap();
        assert_eq!(served, lambda);
        // The server's loader with the environment alone, too.
        let empty = dir.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(Config::load(Some(&empty), &env(ENV)).unwrap(), lambda);
        // Nothing set anywhere: the same defaults.
        assert_eq!(
            Config::load(Some(&empty), &Env::empty()).unwrap(),
            Config::from_env(&Env::empty()).unwrap()
        );
        assert_eq!(Config::from_env(&Env::empty()).unwrap(), Config::default());
        // Every setting is in SETTINGS, and its variable is what the test set.
        for (key, var) in SETTINGS {
            assert!(
                ENV.iter().any(|(k, _)| k == var),
                "{key}: {var} not exercised"
            );
        }
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_settings_name() {
        for (var, value, key) in [
            ("YUNQIAO_FUNCTIONS_WORKERS", "0", "functions.workers"),
            ("YUNQIAO_FUNCTIONS_WORKERS", "65", "functions.workers"),
            ("YUNQIAO_FUNCTIONS_WORKERS", "256", "functions.workers"),
            ("YUNQIAO_FUNCTIONS_MEMORY_MB", "32", "functions.memory_mb"),
            ("YUNQIAO_FUNCTIONS_PER_CALLER", "0", "functions.per_caller"),
            ("YUNQIAO_FUNCTIONS_PER_MODULE", "65", "functions.per_module"),
            ("YUNQIAO_FUNCTIONS_QUEUE", "0", "functions.queue"),
            (
                "YUNQIAO_FUNCTIONS_PER_CALLER_QUEUED",
                "10001",
                "functions.per_caller_queued",
            ),
            ("YUNQIAO_CACHE_BOUND_MS", "60001", "cache.bound_ms"),
            ("YUNQIAO_CACHE_BOUND_MS", "-1", "cache.bound_ms"),
            ("YUNQIAO_BODY_LIMIT", "100", "body_limit"),
            ("YUNQIAO_SESSION_TTL_SECS", "59", "session_ttl_secs"),
            ("YUNQIAO_TABLES_SCAN_LIMIT", "5", "tables.scan_limit"),
            ("YUNQIAO_TABLES_SCAN_LIMIT", "many", "tables.scan_limit"),
            ("YUNQIAO_FUNCTIONS_WORKERS", "two", "functions.workers"),
            (
                "YUNQIAO_FUNCTIONS_ALLOW_PRIVATE_HOSTS",
                "maybe",
                "functions.allow_private_hosts",
            ),
            ("YUNQIAO_STORE", "s3", "store.kind"),
            ("YUNQIAO_FILES", "dynamodb", "files.kind"),
            ("YUNQIAO_PUBLIC_URL", "example.com", "files.public_url"),
            ("YUNQIAO_WS_URL", "https://live.example", "live.ws_url"),
            (
                "YUNQIAO_PUBLIC_URL",
                "https://x.example/?a=1",
                "files.public_url",
            ),
            (
                "YUNQIAO_FILES_MAX_UPLOAD_BYTES",
                "5368709121",
                "files.max_upload_bytes",
            ),
            (
                "YUNQIAO_FILES_MAX_UPLOAD_BYTES",
                "10",
                "files.max_upload_bytes",
            ),
            ("YUNQIAO_S3_PATH_STYLE", "maybe", "files.s3_path_style"),
            ("YUNQIAO_FILES_MAX_BYTES", "0", "files.max_bytes"),
            // More than max_upload_bytes (100 MiB by default).
            (
                "YUNQIAO_FILES_MAX_BYTES",
                "104857601",
                "files.max_upload_bytes",
            ),
            ("YUNQIAO_FILES_QUOTA_BYTES", "1", "files.quota_bytes"),
            (
                "YUNQIAO_FILES_UPLOAD_TTL_SECS",
                "10",
                "files.upload_ttl_secs",
            ),
            (
                "YUNQIAO_FILES_UPLOAD_TTL_SECS",
                "86401",
                "files.upload_ttl_secs",
            ),
            ("YUNQIAO_FILES_URL_TTL_SECS", "604801", "files.url_ttl_secs"),
            (
                "YUNQIAO_FILES_PENDING_TTL_SECS",
                "60",
                "files.pending_ttl_secs",
            ),
            (
                "YUNQIAO_FILES_PENDING_TTL_SECS",
                "soon",
                "files.pending_ttl_secs",
            ),
            (
                "YUNQIAO_FILES_ALLOWED_TYPES",
                "image",
                "files.allowed_types",
            ),
            (
                "YUNQIAO_FILES_ALLOWED_TYPES",
                "Image/PNG",
                "files.allowed_types",
            ),
            ("YUNQIAO_FILES_ALLOWED_TYPES", "*/*", "files.allowed_types"),
            ("YUNQIAO_FILES_ALLOWED_TYPES", " , ", "files.allowed_types"),
            (
                "YUNQIAO_FILES_MEDIA_CHECK",
                "application/pdf",
                "files.media_check",
            ),
            (
                "YUNQIAO_FILES_MEDIA_CHECK",
                "image/*,*/*",
                "files.media_check",
            ),
            ("YUNQIAO_WECHAT_PUSH_TOKEN", "a b", "wechat.push_token"),
            (
                "YUNQIAO_WECHAT_PUSH_AES_KEY",
                "short",
                "wechat.push_aes_key",
            ),
            ("YUNQIAO_FILES_THUMB_SIZES", "100", "files.thumb_sizes"),
            (
                "YUNQIAO_FILES_THUMB_SIZES",
                "100x100,0x0",
                "files.thumb_sizes",
            ),
            (
                "YUNQIAO_FILES_THUMB_SIZES",
                "5000x5000",
                "files.thumb_sizes",
            ),
            ("YUNQIAO_FILES_THUMB_SIZES", "100x100c", "files.thumb_sizes"),
            (
                "YUNQIAO_FILES_THUMB_SIZES",
                "1x1,2x2,3x3,4x4,5x5,6x6,7x7,8x8,9x9,10x10,11x11,12x12,13x13,14x14,15x15,16x16,17x17,18x18,19x19,20x20,21x21",
                "files.thumb_sizes",
            ),
            ("YUNQIAO_LOG_FORMAT", "xml", "log_format"),
            ("YUNQIAO_ADMIN_KEY", "short", "admin_key"),
            ("YUNQIAO_WECHAT_APPID", "wx1", "wechat.secret"),
        ] {
            let e = env(&[(var, value)]);
            for refused in [
                err(Config::from_env(&e)),
                err(Config::load(Some(Path::new("/dev/null")), &e)),
            ] {
                assert!(
                    refused.contains(key) && refused.contains(env_name(key)),
                    "{var}={value}: {refused}"
                );
            }
        }
        // The file is held to the same bounds.
        let e = err(Config::from_toml("[functions]\nworkers = 100\n")
            .and_then(|c| c.with_env(&Env::empty())));
        assert!(
            e.contains("functions.workers (YUNQIAO_FUNCTIONS_WORKERS) is 1 to 64"),
            "{e}"
        );
        // A secret's value is never echoed.
        let e = err(Config::from_env(&env(&[(
            "YUNQIAO_SECRETS_JSON",
            "[\"hunter2\"]",
        )])));
        assert!(
            e.contains("YUNQIAO_SECRETS_JSON") && !e.contains("hunter2"),
            "{e}"
        );
        let e = err(Config::from_env(&env(&[(
            "YUNQIAO_SECRET_lower",
            "hunter2",
        )])));
        assert!(
            e.contains("YUNQIAO_SECRET_lower") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let c = Config::from_env(&env(&[
            ("YUNQIAO_SESSION_TTL_SECS", ""),
            ("YUNQIAO_FUNCTIONS_WORKERS", ""),
            ("YUNQIAO_WS_ENDPOINT", ""),
            ("YUNQIAO_SECRETS_JSON", ""),
        ]))
        .unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn secrets_come_from_the_configuration_passed_in() {
        // Whatever this process's environment holds, a loader reads only its Env.
        let c = Config::from_env(&Env::empty()).unwrap();
        assert!(c.functions.secrets.is_empty());
        let c = Config::from_env(&env(&[
            ("YUNQIAO_SECRETS_JSON", r#"{"A": "from-json", "B": "b"}"#),
            ("YUNQIAO_SECRET_A", "from-var"),
        ]))
        .unwrap();
        assert_eq!(c.functions.secrets["A"], "from-var");
        assert_eq!(c.functions.secrets["B"], "b");
        // The file's, then the environment's over them.
        let c = Config::from_toml("[functions.secrets]\nA = \"file\"\nC = \"c\"\n")
            .unwrap()
            .with_env(&env(&[("YUNQIAO_SECRET_A", "env")]))
            .unwrap();
        assert_eq!(c.functions.secrets["A"], "env");
        assert_eq!(c.functions.secrets["C"], "c");
    }

    #[test]
    fn defaults_are_one_rule_on_both_faces() {
        let d = Config::default();
        assert_eq!(d.functions.workers, 8);
        assert_eq!(
            d.functions.admission().memory_mb,
            DEFAULT_FUNCTIONS_MEMORY_MB
        );
        assert_eq!(d.cache.bound_ms, 1_000);
        assert_eq!(d.body_limit, 1024 * 1024);
        // Files: on disk, 100 MiB at most; S3 in the store's region unless set.
        assert_eq!(d.files.kind, "disk");
        assert_eq!(d.files.max_upload_bytes, 100 * 1024 * 1024);
        // The files API's limits are the domain's defaults.
        assert_eq!(
            d.files.limits(),
            yunqiao_core::files::FilesConfig::default()
        );
        // A pending upload outlives its form.
        let e = err(Config::from_env(&env(&[
            ("YUNQIAO_FILES_UPLOAD_TTL_SECS", "3600"),
            ("YUNQIAO_FILES_PENDING_TTL_SECS", "600"),
        ])));
        assert!(
            e.contains("files.pending_ttl_secs") && e.contains("files.upload_ttl_secs"),
            "{e}"
        );
        assert_eq!(d.s3_region(), "us-east-1");
        let c = Config::from_env(&env(&[("AWS_REGION", "cn-northwest-1")])).unwrap();
        assert_eq!(c.s3_region(), "cn-northwest-1");
        let c = Config::from_env(&env(&[
            ("AWS_REGION", "cn-northwest-1"),
            ("YUNQIAO_S3_REGION", "ap-east-1"),
        ]))
        .unwrap();
        assert_eq!(c.s3_region(), "ap-east-1");
        // A Lambda function's memory bounds the budget's default, never a set value.
        let lambda = |mb: &str, set: Option<&str>| {
            let mut pairs = vec![(LAMBDA_MEMORY_VAR, mb)];
            if let Some(v) = set {
                pairs.push(("YUNQIAO_FUNCTIONS_MEMORY_MB", v));
            }
            Config::from_env(&env(&pairs))
                .unwrap()
                .functions
                .admission()
                .memory_mb
        };
        assert_eq!(lambda("512", None), 256);
        assert_eq!(lambda("4096", None), 1024);
        assert_eq!(lambda("128", None), 64);
        assert_eq!(lambda("512", Some("300")), 300);
        use yunqiao_core::cache::Freshness;
        assert_eq!(d.cache.freshness(false), Freshness::OwnWrites);
        assert_eq!(d.cache.freshness(true), Freshness::Bounded(1_000));
        let off = CacheSection { bound_ms: 0 };
        assert_eq!(off.freshness(false), Freshness::None);
        assert_eq!(off.freshness(true), Freshness::None);
    }
}
