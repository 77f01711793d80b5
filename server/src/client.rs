//! The command-line admin client: `yunqiao functions deploy DIR` and `yunqiao apply FILE`
//! against a running server (local or AWS), with the admin key.
//!
//! Both are idempotent: a module whose source and settings are what is deployed is
//! `unchanged` (no new version), and tables, namespaces and topic rules are `PUT`s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Digest;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The admin key: `YUNQIAO_ADMIN_KEY`, else `<data dir>/admin.key`.
pub fn admin_key(data_dir: &Path) -> Result<String, BoxError> {
    if let Ok(k) = std::env::var("YUNQIAO_ADMIN_KEY")
        && !k.is_empty()
    {
        return Ok(k);
    }
    let path = data_dir.join("admin.key");
    std::fs::read_to_string(&path)
        .map(|k| k.trim().to_string())
        .map_err(|e| {
            format!(
                "no admin key: set YUNQIAO_ADMIN_KEY or give --data-dir with admin.key ({}: {e})",
                path.display()
            )
            .into()
        })
}

pub struct Admin {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Changed,
    Unchanged,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Changed => "changed",
            Outcome::Unchanged => "unchanged",
        }
    }
}

fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Admin {
    pub fn new(url: &str, key: String) -> Result<Admin, BoxError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(120))
            .build()?;
        Ok(Admin {
            http,
            base: url.trim_end_matches('/').to_string(),
            key,
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), BoxError> {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {}", self.base, e.without_url()))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, v))
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), BoxError> {
        let (status, v) = self.send(method.clone(), path, body).await?;
        if status >= 400 {
            let code = v["error"]["code"].as_str().unwrap_or("?");
            let msg = v["error"]["message"].as_str().unwrap_or("");
            let field = v["error"]["details"]["field"]
                .as_str()
                .map(|f| format!(" (field {f})"))
                .unwrap_or_default();
            return Err(format!("{method} {path}: {status} {code}: {msg}{field}").into());
        }
        Ok((status, v))
    }

    /// Deploys a module unless exactly this source and these settings are deployed.
    pub async fn deploy(
        &self,
        module: &str,
        source: &str,
        settings: &Map<String, Value>,
    ) -> Result<(Outcome, Value), BoxError> {
        let path = format!("/v1/functions/{}", seg(module));
        let (status, current) = self.send(reqwest::Method::GET, &path, None).await?;
        let sha = hex::encode(sha2::Sha256::digest(source.as_bytes()));
        let mut body = settings.clone();
        body.insert("source".into(), json!(source));
        if status == 200 && current["sha256"] == json!(sha) && same_settings(&current, settings) {
            return Ok((Outcome::Unchanged, current));
        }
        let (status, v) = self
            .ok(reqwest::Method::PUT, &path, Some(&Value::Object(body)))
            .await?;
        Ok((
            if status == 201 {
                Outcome::Created
            } else {
                Outcome::Changed
            },
            v,
        ))
    }
}

/// Settings as the server shows them (defaults filled in) against the file's.
fn same_settings(current: &Value, wanted: &Map<String, Value>) -> bool {
    let pick = |k: &str, default: Value| wanted.get(k).cloned().unwrap_or(default);
    let exports_now: BTreeMap<String, Value> = current["exports"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| Some((e["name"].as_str()?.to_string(), e.clone())))
                .collect()
        })
        .unwrap_or_default();
    let default_access = pick("access", json!("users"));
    let wanted_exports = wanted
        .get("exports")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, e) in &exports_now {
        let w = wanted_exports.get(name);
        let access = w
            .and_then(|w| w.get("access"))
            .cloned()
            .unwrap_or(default_access.clone());
        let schedule = w
            .and_then(|w| w.get("schedule"))
            .cloned()
            .unwrap_or(Value::Null);
        if e["access"] != access || e.get("schedule").cloned().unwrap_or(Value::Null) != schedule {
            return false;
        }
    }
    current["access"] == default_access
        && current["timeout_ms"]
            == pick(
                "timeout_ms",
                json!(yunqiao_core::functions::settings::DEFAULT_TIMEOUT_MS),
            )
        && current["memory_mb"]
            == pick(
                "memory_mb",
                json!(yunqiao_core::functions::settings::DEFAULT_MEMORY_MB),
            )
        && current["secrets"] == pick("secrets", json!([]))
        && current["hosts"] == pick("hosts", json!([]))
}

fn read_json(path: &Path) -> Result<Value, BoxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()).into())
}

/// `yunqiao functions deploy DIR`: every `DIR/<module>.js`, with settings from
/// `DIR/<module>.json` when present. Prints a line per module; fails if any failed.
pub async fn deploy_dir(admin: &Admin, dir: &Path) -> Result<(), BoxError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "js"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no .js modules in {}", dir.display()).into());
    }
    let mut failed = 0;
    for f in files {
        let module = f
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let settings_file = f.with_extension("json");
        let r = async {
            let source = std::fs::read_to_string(&f)
                .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            let settings = if settings_file.exists() {
                match read_json(&settings_file)? {
                    Value::Object(m) => m,
                    _ => {
                        return Err(
                            format!("{} must hold an object", settings_file.display()).into()
                        );
                    }
                }
            } else {
                Map::new()
            };
            admin.deploy(&module, &source, &settings).await
        }
        .await;
        match r {
            Ok((o, v)) => println!(
                "{module}: {} (version {}, exports: {})",
                o.as_str(),
                v["version"],
                export_names(&v)
            ),
            Err(e) => {
                failed += 1;
                println!("{module}: FAILED: {e}");
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} module(s) failed").into());
    }
    Ok(())
}

fn export_names(v: &Value) -> String {
    v["exports"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["name"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Project {
    #[serde(default)]
    tables: BTreeMap<String, Value>,
    #[serde(default)]
    kv: BTreeMap<String, Value>,
    #[serde(default)]
    topics: BTreeMap<String, Value>,
    #[serde(default)]
    functions: BTreeMap<String, Map<String, Value>>,
}

/// How `yunqiao apply` runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Print what would change; change nothing.
    pub dry_run: bool,
    /// Allow table changes that drop fields (their values are lost).
    pub drop: bool,
}

/// `yunqiao apply FILE`: reads the project and its modules' files and sends it whole to
/// `POST /v1/apply`, which checks every item before it writes any and undoes what it
/// wrote when a write fails: all of it or none of it. Prints the plan (with `--dry-run`,
/// what would change) or every refusal.
pub async fn apply(admin: &Admin, file: &Path, opts: ApplyOptions) -> Result<(), BoxError> {
    let project: Project =
        serde_json::from_value(read_json(file)?).map_err(|e| format!("{}: {e}", file.display()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut functions = Map::new();
    for (module, spec) in project.functions {
        let mut settings = spec;
        let src = settings
            .remove("file")
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or_else(|| format!("functions.{module}: give \"file\": the module's .js path"))?;
        let path = base.join(src);
        let source = std::fs::read_to_string(&path)
            .map_err(|e| format!("functions.{module}: cannot read {}: {e}", path.display()))?;
        settings.insert("source".into(), json!(source));
        functions.insert(module, Value::Object(settings));
    }
    let body = json!({
        "functions": functions,
        "tables": project.tables,
        "kv": project.kv,
        "topics": project.topics,
    });
    let path = format!("/v1/apply?dry_run={}&drop={}", opts.dry_run, opts.drop);
    let (status, v) = admin
        .send(reqwest::Method::POST, &path, Some(&body))
        .await?;
    if status < 400 {
        for item in v["items"].as_array().into_iter().flatten() {
            let label = format!(
                "{} {}",
                kind_label(&item["kind"]),
                item["name"].as_str().unwrap_or("?")
            );
            let outcome = item["outcome"].as_str().unwrap_or("?");
            let version = item["version"]
                .as_i64()
                .filter(|_| !opts.dry_run && outcome != "unchanged")
                .map(|n| format!(" (version {n})"))
                .unwrap_or_default();
            if opts.dry_run {
                println!("{label}: {}", would(outcome));
            } else {
                println!("{label}: {outcome}{version}");
            }
        }
        if opts.dry_run {
            println!("dry run: nothing was changed");
        }
        return Ok(());
    }
    let err = &v["error"];
    let code = err["code"].as_str().unwrap_or("?");
    let message = err["message"].as_str().unwrap_or("");
    match code {
        "PROJECT_REFUSED" => {
            let refused = err["details"]["refused"].as_array().cloned().unwrap_or_default();
            for r in &refused {
                let field = r["field"]
                    .as_str()
                    .map(|f| format!(" (field {f})"))
                    .unwrap_or_default();
                let hint = if r["kind"] == "table" && r["message"].as_str().is_some_and(|m| m.contains("drops fields")) {
                    "; run again with --drop to allow it (their values are lost)"
                } else {
                    ""
                };
                println!(
                    "{} {}: refused: {}{field}{hint}",
                    kind_label(&r["kind"]),
                    r["name"].as_str().unwrap_or("?"),
                    r["message"].as_str().unwrap_or("")
                );
            }
            Err(format!("{} item(s) refused; nothing was changed", refused.len()).into())
        }
        "BODY_TOO_LARGE" => Err(format!(
            "the project is larger than the server takes in one request ({message}); raise its body_limit, or deploy large modules one by one with `yunqiao functions deploy`"
        )
        .into()),
        _ if err["details"]["item"].is_object() => {
            let item = &err["details"]["item"];
            let list = |k: &str| -> String {
                err["details"][k]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            };
            let undone = list("undone");
            let not_undone = list("not_undone");
            let mut out = format!(
                "{} {}: {status} {code}: {message}; ",
                kind_label(&item["kind"]),
                item["name"].as_str().unwrap_or("?")
            );
            if undone.is_empty() {
                out.push_str("nothing before it was changed");
            } else {
                out.push_str(&format!("undone: {undone}"));
            }
            if !not_undone.is_empty() {
                out.push_str(&format!("; NOT undone: {not_undone}"));
            }
            Err(out.into())
        }
        _ => Err(format!("POST /v1/apply: {status} {code}: {message}").into()),
    }
}

/// How the CLI names an item's kind (`topic rule` for the API's `topic`).
fn kind_label(kind: &Value) -> &str {
    match kind.as_str() {
        Some("topic") => "topic rule",
        Some(k) => k,
        None => "?",
    }
}

fn would(o: &str) -> &'static str {
    match o {
        "created" => "would be created",
        "changed" => "would change",
        _ => "unchanged",
    }
}
