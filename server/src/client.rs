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

/// Whether every key of `want` is in `have` with the same value (the server fills in
/// defaults the file may leave out).
fn covers(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| h.get(k).is_some_and(|hv| covers(hv, v))),
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(a, b)| covers(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => have == want,
    }
}

/// How `yunqiao apply` runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Print what would change; change nothing.
    pub dry_run: bool,
    /// Allow table changes that drop fields (their values are lost).
    pub drop: bool,
}

/// One item of a project and what applying it does.
struct Step {
    label: String,
    outcome: Outcome,
    /// Why it cannot be applied as it is (found before anything changes).
    refused: Option<String>,
    kind: StepKind,
}

enum StepKind {
    Function {
        module: String,
        source: String,
        settings: Map<String, Value>,
    },
    Put {
        path: String,
        def: Value,
    },
}

/// `yunqiao apply FILE`: reads every item's current state first, prints the plan, and
/// changes nothing when any item would be refused (a dropped field without `--drop`, an
/// unreadable module file); then functions, tables (whose hooks name them), namespaces
/// and topic rules, in that order. `--dry-run` stops after the plan.
pub async fn apply(admin: &Admin, file: &Path, opts: ApplyOptions) -> Result<(), BoxError> {
    let project: Project =
        serde_json::from_value(read_json(file)?).map_err(|e| format!("{}: {e}", file.display()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut steps = Vec::new();
    for (module, spec) in &project.functions {
        let mut settings = spec.clone();
        let src = settings
            .remove("file")
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or_else(|| format!("functions.{module}: give \"file\": the module's .js path"))?;
        let path = base.join(src);
        let source = std::fs::read_to_string(&path)
            .map_err(|e| format!("functions.{module}: cannot read {}: {e}", path.display()))?;
        let (status, current) = admin
            .send(
                reqwest::Method::GET,
                &format!("/v1/functions/{}", seg(module)),
                None,
            )
            .await?;
        let sha = hex::encode(sha2::Sha256::digest(source.as_bytes()));
        let outcome = if status == 404 {
            Outcome::Created
        } else if current["sha256"] == json!(sha) && same_settings(&current, &settings) {
            Outcome::Unchanged
        } else {
            Outcome::Changed
        };
        steps.push(Step {
            label: format!("function {module}"),
            outcome,
            refused: None,
            kind: StepKind::Function {
                module: module.clone(),
                source,
                settings,
            },
        });
    }
    for (table, def) in &project.tables {
        let path = format!("/v1/tables/{}", seg(table));
        let (status, current) = admin.send(reqwest::Method::GET, &path, None).await?;
        let (outcome, refused) = if status == 404 {
            (Outcome::Created, None)
        } else if covers(&current, def) {
            (Outcome::Unchanged, None)
        } else {
            let names = |v: &Value| -> Vec<String> {
                v["fields"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|f| f["name"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let wanted = names(def);
            let dropped: Vec<String> = names(&current)
                .into_iter()
                .filter(|n| !wanted.contains(n))
                .collect();
            let refused = (!dropped.is_empty() && !opts.drop).then(|| {
                format!(
                    "drops fields {dropped:?} (their values are lost); run again with --drop to allow it"
                )
            });
            (Outcome::Changed, refused)
        };
        let path = if opts.drop {
            format!("{path}?drop=true")
        } else {
            path
        };
        steps.push(Step {
            label: format!("table {table}"),
            outcome,
            refused,
            kind: StepKind::Put {
                path,
                def: def.clone(),
            },
        });
    }
    for (ns, def) in &project.kv {
        let path = format!("/v1/kv/{}", seg(ns));
        let (status, current) = admin.send(reqwest::Method::GET, &path, None).await?;
        let outcome = match status {
            404 => Outcome::Created,
            _ if covers(&current, def) => Outcome::Unchanged,
            _ => Outcome::Changed,
        };
        steps.push(Step {
            label: format!("kv {ns}"),
            outcome,
            refused: None,
            kind: StepKind::Put {
                path,
                def: def.clone(),
            },
        });
    }
    if !project.topics.is_empty() {
        let (_, rules) = admin
            .ok(reqwest::Method::GET, "/v1/topics/rules", None)
            .await?;
        for (pattern, rule) in &project.topics {
            let current = rules["items"]
                .as_array()
                .and_then(|a| a.iter().find(|r| r["pattern"] == json!(pattern)))
                .cloned();
            let outcome = match current {
                Some(c) if covers(&c, rule) => Outcome::Unchanged,
                Some(_) => Outcome::Changed,
                None => Outcome::Created,
            };
            steps.push(Step {
                label: format!("topic rule {pattern}"),
                outcome,
                refused: None,
                kind: StepKind::Put {
                    path: format!("/v1/topics/rules/{}", seg(pattern)),
                    def: rule.clone(),
                },
            });
        }
    }

    let refused: Vec<&Step> = steps.iter().filter(|s| s.refused.is_some()).collect();
    if !refused.is_empty() {
        for s in &refused {
            println!(
                "{}: refused: {}",
                s.label,
                s.refused.as_deref().unwrap_or_default()
            );
        }
        return Err(format!("{} item(s) refused; nothing was changed", refused.len()).into());
    }
    if opts.dry_run {
        for s in &steps {
            println!("{}: {}", s.label, would(s.outcome));
        }
        println!("dry run: nothing was changed");
        return Ok(());
    }
    let mut done = Vec::new();
    for s in &steps {
        let r = match (&s.kind, s.outcome) {
            (_, Outcome::Unchanged) => Ok(String::new()),
            (
                StepKind::Function {
                    module,
                    source,
                    settings,
                },
                _,
            ) => admin
                .deploy(module, source, settings)
                .await
                .map(|(_, v)| format!(" (version {})", v["version"])),
            (StepKind::Put { path, def }, _) => admin
                .ok(reqwest::Method::PUT, path, Some(def))
                .await
                .map(|_| String::new()),
        };
        match r {
            Ok(extra) => {
                println!("{}: {}{extra}", s.label, s.outcome.as_str());
                if s.outcome != Outcome::Unchanged {
                    done.push(s.label.clone());
                }
            }
            Err(e) => {
                let before = if done.is_empty() {
                    "nothing before it was changed".to_string()
                } else {
                    format!("changed before it: {}", done.join(", "))
                };
                return Err(format!("{}: {e}; {before}; fix it and apply again", s.label).into());
            }
        }
    }
    Ok(())
}

fn would(o: Outcome) -> &'static str {
    match o {
        Outcome::Created => "would be created",
        Outcome::Changed => "would change",
        Outcome::Unchanged => "unchanged",
    }
}
