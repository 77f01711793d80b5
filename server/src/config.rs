//! Server configuration: defaults, then a TOML file, then `YUNQIAO_*` environment
//! variables, then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Bearer key with full admin rights. Generated into `<data_dir>/admin.key` if unset.
    pub admin_key: Option<String>,
    pub body_limit: usize,
    pub session_ttl_secs: i64,
    /// `text` or `json`.
    pub log_format: String,
    pub wechat: WeChatSection,
    pub store: StoreSection,
    pub tables: TablesSection,
    pub functions: FunctionsSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FunctionsSection {
    /// Worker processes running cloud functions, one call each at a time (exactly this
    /// many: the pool never grows past it).
    pub workers: usize,
    /// The server-wide budget: the `memory_mb` of the calls running at once never adds
    /// up to more than this.
    pub memory_mb: usize,
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
    /// What `secrets.get(name)` answers (also `YUNQIAO_SECRET_<NAME>` in the environment).
    pub secrets: std::collections::BTreeMap<String, String>,
    /// Run due schedules (and the outbox sweep) in this process.
    pub scheduler: bool,
}

impl Default for FunctionsSection {
    fn default() -> Self {
        FunctionsSection {
            workers: 8,
            memory_mb: 1024,
            per_caller: None,
            per_caller_queued: None,
            per_module: None,
            queue: None,
            allow_private_hosts: false,
            secrets: Default::default(),
            scheduler: true,
        }
    }
}

impl FunctionsSection {
    pub fn admission(&self) -> yunqiao_core::functions::admission::AdmissionConfig {
        yunqiao_core::functions::admission::AdmissionConfig::for_workers(
            self.workers,
            self.memory_mb,
        )
        .with_overrides(
            self.per_caller,
            self.per_caller_queued,
            self.per_module,
            self.queue,
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
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

/// Where data lives: the embedded store in `data_dir` (default), or a DynamoDB table.
#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeChatSection {
    /// Empty: use the built-in mock (local development, no network).
    pub appid: String,
    pub secret: String,
    pub api_base: Option<String>,
    /// Serve the mock on a non-loopback address (anyone could log in as anyone).
    pub mock_on_public_address: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: "127.0.0.1:8787"
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8787))),
            data_dir: PathBuf::from("data"),
            admin_key: None,
            body_limit: 1024 * 1024,
            session_ttl_secs: 30 * 24 * 3600,
            log_format: "text".into(),
            wechat: WeChatSection::default(),
            store: StoreSection::default(),
            tables: TablesSection::default(),
            functions: FunctionsSection::default(),
        }
    }
}

#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::error::Error for ConfigError {}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// Loads `file` (or `yunqiao.toml` in the working directory when it exists), then
    /// applies the environment.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let default_file = PathBuf::from("yunqiao.toml");
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None => env("YUNQIAO_CONFIG")
                .map(PathBuf::from)
                .or_else(|| default_file.exists().then_some(default_file)),
        };
        let mut cfg = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(format!("cannot read config {}: {e}", p.display())))?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError(format!("bad config {}: {e}", p.display())))?
            }
            None => Config::default(),
        };
        let parse_err = |k: &str, v: &str| ConfigError(format!("bad value for {k}: {v:?}"));
        if let Some(v) = env("YUNQIAO_ADDR") {
            cfg.addr = v.parse().map_err(|_| parse_err("YUNQIAO_ADDR", &v))?;
        }
        if let Some(v) = env("YUNQIAO_DATA_DIR") {
            cfg.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("YUNQIAO_ADMIN_KEY").filter(|v| !v.is_empty()) {
            cfg.admin_key = Some(v);
        }
        if let Some(v) = env("YUNQIAO_BODY_LIMIT") {
            cfg.body_limit = v.parse().map_err(|_| parse_err("YUNQIAO_BODY_LIMIT", &v))?;
        }
        if let Some(v) = env("YUNQIAO_SESSION_TTL_SECS") {
            cfg.session_ttl_secs = v
                .parse()
                .map_err(|_| parse_err("YUNQIAO_SESSION_TTL_SECS", &v))?;
        }
        if let Some(v) = env("YUNQIAO_TABLES_SCAN_LIMIT") {
            cfg.tables.scan_limit = v
                .parse()
                .map_err(|_| parse_err("YUNQIAO_TABLES_SCAN_LIMIT", &v))?;
        }
        if let Some(v) = env("YUNQIAO_FUNCTIONS_WORKERS") {
            cfg.functions.workers = v
                .parse()
                .map_err(|_| parse_err("YUNQIAO_FUNCTIONS_WORKERS", &v))?;
        }
        if let Some(v) = env("YUNQIAO_FUNCTIONS_MEMORY_MB") {
            cfg.functions.memory_mb = v
                .parse()
                .map_err(|_| parse_err("YUNQIAO_FUNCTIONS_MEMORY_MB", &v))?;
        }
        for (name, slot) in [
            (
                "YUNQIAO_FUNCTIONS_PER_CALLER",
                &mut cfg.functions.per_caller,
            ),
            (
                "YUNQIAO_FUNCTIONS_PER_CALLER_QUEUED",
                &mut cfg.functions.per_caller_queued,
            ),
            (
                "YUNQIAO_FUNCTIONS_PER_MODULE",
                &mut cfg.functions.per_module,
            ),
            ("YUNQIAO_FUNCTIONS_QUEUE", &mut cfg.functions.queue),
        ] {
            if let Some(v) = env(name) {
                *slot = Some(v.parse().map_err(|_| parse_err(name, &v))?);
            }
        }
        if let Some(v) = env("YUNQIAO_FUNCTIONS_ALLOW_PRIVATE_HOSTS") {
            cfg.functions.allow_private_hosts = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = env("YUNQIAO_FUNCTIONS_SCHEDULER") {
            cfg.functions.scheduler = !matches!(v.as_str(), "0" | "false" | "no");
        }
        if let Some(v) = env("YUNQIAO_LOG_FORMAT") {
            cfg.log_format = v;
        }
        if let Some(v) = env("YUNQIAO_WECHAT_APPID") {
            cfg.wechat.appid = v;
        }
        if let Some(v) = env("YUNQIAO_WECHAT_SECRET") {
            cfg.wechat.secret = v;
        }
        if let Some(v) = env("YUNQIAO_WECHAT_API_BASE") {
            cfg.wechat.api_base = Some(v);
        }
        if let Some(v) = env("YUNQIAO_WECHAT_MOCK_ON_PUBLIC_ADDRESS") {
            cfg.wechat.mock_on_public_address = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = env("YUNQIAO_STORE") {
            cfg.store.kind = v;
        }
        if let Some(v) = env("YUNQIAO_DYNAMODB_TABLE") {
            cfg.store.dynamodb_table = v;
        }
        if let Some(v) = env("AWS_REGION") {
            cfg.store.dynamodb_region = v;
        }
        if let Some(v) = env("YUNQIAO_DYNAMODB_ENDPOINT").filter(|v| !v.is_empty()) {
            cfg.store.dynamodb_endpoint = Some(v);
        }
        if let Some(v) = env("YUNQIAO_DYNAMODB_CREATE_TABLE") {
            cfg.store.dynamodb_create_table = matches!(v.as_str(), "1" | "true" | "yes");
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.session_ttl_secs < 60 {
            return Err(ConfigError("session_ttl_secs must be at least 60".into()));
        }
        if self.body_limit < 1024 {
            return Err(ConfigError("body_limit must be at least 1024".into()));
        }
        if !self.wechat.appid.is_empty() && self.wechat.secret.is_empty() {
            return Err(ConfigError(
                "wechat.secret is required with wechat.appid".into(),
            ));
        }
        if let Some(k) = &self.admin_key
            && let Err(e) = yunqiao_core::auth::check_admin_key(k)
        {
            return Err(ConfigError(format!("admin_key: {e}")));
        }
        if !matches!(self.store.kind.as_str(), "embedded" | "dynamodb") {
            return Err(ConfigError("store.kind is embedded or dynamodb".into()));
        }
        self.functions
            .admission()
            .validate()
            .map_err(|e| ConfigError(format!("functions.{e}")))?;
        if let Some(n) = self
            .functions
            .secrets
            .keys()
            .find(|n| !yunqiao_core::functions::settings::valid_secret_name(n))
        {
            return Err(ConfigError(format!(
                "functions.secrets: {n:?} is not a secret name (A-Z 0-9 _, starting with a letter)"
            )));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError("log_format is text or json".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("y.toml");
        std::fs::write(&f, "addr = \"127.0.0.1:9000\"\ndata_dir = \"/tmp/x\"\n[wechat]\nappid = \"wx1\"\nsecret = \"s\"\n").unwrap();
        let env = |k: &str| (k == "YUNQIAO_DATA_DIR").then(|| "/tmp/y".to_string());
        let c = Config::load(Some(&f), env).unwrap();
        assert_eq!(c.addr.port(), 9000);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/y"));
        assert_eq!(c.wechat.appid, "wx1");
        std::fs::write(&f, "nonsense = 1\n").unwrap();
        assert!(Config::load(Some(&f), |_| None).is_err());
        assert!(Config::load(Some(&f.with_extension("missing")), |_| None).is_err());
        let bad = |k: &str| (k == "YUNQIAO_ADDR").then(|| "nope".to_string());
        assert!(Config::load(None, bad).is_err());
    }
}
