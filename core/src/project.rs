//! Applying a project (`POST /v1/apply`, `yunqiao apply`): a mini-program's whole
//! server side — cloud-function modules, tables, key-value namespaces, topic rules —
//! checked as one and written as one. Every item is checked first, by the same code that
//! writes it (modules compiled, table changes judged against the tables as they are,
//! hooks resolved against the project's modules or the deployed ones); when any is
//! refused nothing is written. Then the items are written in order (modules first, so a
//! table's hooks find them), and a write that fails undoes the ones before it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{Code, Error, Result};
use crate::functions::{CheckedModule, Functions, ModuleInput};
use crate::kv::{Kv, NamespaceDef};
use crate::live::Live;
use crate::live::topics::TopicRule;
use crate::tables::{TableDef, Tables};

/// A project: what `yunqiao.json` defines, with each module's source in place of its
/// file name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    #[serde(default)]
    pub functions: BTreeMap<String, ModuleInput>,
    #[serde(default)]
    pub tables: BTreeMap<String, TableDef>,
    #[serde(default)]
    pub kv: BTreeMap<String, NamespaceDef>,
    #[serde(default)]
    pub topics: BTreeMap<String, TopicRule>,
}

/// How an apply runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Check and answer the plan; change nothing.
    pub dry_run: bool,
    /// Let table changes drop fields (their values are lost, and not restored by an
    /// undo).
    pub drop: bool,
}

/// The kinds of item a project has, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Function,
    Table,
    Kv,
    Topic,
}

pub use crate::outcome::Outcome;

/// One item of the plan, and (after a real apply) what it became.
#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    pub kind: ItemKind,
    pub name: String,
    pub outcome: Outcome,
    /// A module's version after the apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// What an apply did (or, dry, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub dry_run: bool,
    pub items: Vec<PlanItem>,
}

/// The services an apply writes through.
pub struct Applier<'a> {
    pub tables: &'a Tables,
    pub kv: &'a Kv,
    pub live: &'a Live,
    pub functions: &'a Functions,
}

/// An item checked and ready to write, with what undoing it needs.
enum Step {
    Function {
        name: String,
        checked: Option<CheckedModule>,
        /// The deployed version before (`None`: created).
        before: Option<i64>,
    },
    Table {
        name: String,
        def: TableDef,
        before: Option<TableDef>,
    },
    Kv {
        name: String,
        def: NamespaceDef,
        before: Option<NamespaceDef>,
    },
    Topic {
        pattern: String,
        rule: TopicRule,
        before: Option<TopicRule>,
    },
}

impl ItemKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ItemKind::Function => "function",
            ItemKind::Table => "table",
            ItemKind::Kv => "kv",
            ItemKind::Topic => "topic",
        }
    }
}

impl Step {
    fn kind(&self) -> (ItemKind, &str) {
        match self {
            Step::Function { name, .. } => (ItemKind::Function, name),
            Step::Table { name, .. } => (ItemKind::Table, name),
            Step::Kv { name, .. } => (ItemKind::Kv, name),
            Step::Topic { pattern, .. } => (ItemKind::Topic, pattern),
        }
    }
}

fn refusal(kind: ItemKind, name: &str, e: &Error) -> Value {
    let mut v = json!({
        "kind": kind,
        "name": name,
        "code": e.code_str(),
        "message": e.message,
    });
    if let Some(f) = e.details.get("field") {
        v["field"] = f.clone();
    }
    v
}

impl Applier<'_> {
    /// Applies `project` (admins): all of it or none of it. Refusals are answered
    /// together as `PROJECT_REFUSED` with `details.refused`; a write that fails after
    /// others undoes them and answers its own error with `details.undone` (and
    /// `details.not_undone`, when an undo failed too).
    pub async fn apply(
        &self,
        caller: &Caller,
        project: Project,
        opts: ApplyOptions,
    ) -> Result<Applied> {
        caller.require_admin()?;
        let (steps, plan) = self.check(project, opts).await?;
        if opts.dry_run {
            return Ok(Applied {
                dry_run: true,
                items: plan,
            });
        }
        let mut items = Vec::with_capacity(plan.len());
        let mut written: Vec<Step> = Vec::new();
        for (step, mut item) in steps.into_iter().zip(plan) {
            if item.outcome == Outcome::Unchanged {
                items.push(item);
                continue;
            }
            match self.write(caller, &step, opts).await {
                Ok(version) => {
                    item.version = version.or(item.version);
                    items.push(item);
                    written.push(step);
                }
                Err(e) => {
                    let (kind, name) = step.kind();
                    let (undone, not_undone) = self.undo(caller, written).await;
                    let mut details = e.details.clone();
                    if !details.is_object() {
                        details = json!({});
                    }
                    details["item"] = json!({"kind": kind, "name": name});
                    details["undone"] = json!(undone);
                    if !not_undone.is_empty() {
                        details["not_undone"] = json!(not_undone);
                    }
                    let message = format!("{} {name:?}: {}", kind.as_str(), e.message);
                    let mut out = Error::new(e.code, message).with_details(details);
                    out.app = e.app;
                    return Err(out);
                }
            }
        }
        Ok(Applied {
            dry_run: false,
            items,
        })
    }

    /// Checks every item; answers the steps and the plan, or every refusal at once.
    async fn check(
        &self,
        project: Project,
        opts: ApplyOptions,
    ) -> Result<(Vec<Step>, Vec<PlanItem>)> {
        let mut steps = Vec::new();
        let mut plan = Vec::new();
        let mut refused = Vec::new();
        // Each module's exports as they will be: the project's, else the deployed ones.
        let mut exports: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, input) in project.functions {
            let head = match self.functions.head(&name).await {
                Ok(h) => h,
                Err(e) => {
                    refused.push(refusal(ItemKind::Function, &name, &e));
                    continue;
                }
            };
            match self.functions.check_module(&name, input).await {
                Ok(checked) => {
                    let before = head
                        .as_ref()
                        .and_then(|h| h.get("version"))
                        .and_then(Value::as_i64);
                    let same = head.as_ref().is_some_and(|h| {
                        h.get("sha256") == Some(&json!(checked.sha256))
                            && h.get("settings").cloned().unwrap_or(json!({}))
                                == serde_json::to_value(&checked.settings).unwrap_or(json!({}))
                    });
                    exports.insert(name.clone(), checked.exports.clone());
                    plan.push(PlanItem {
                        kind: ItemKind::Function,
                        name: name.clone(),
                        outcome: match (before, same) {
                            (None, _) => Outcome::Created,
                            (Some(_), true) => Outcome::Unchanged,
                            (Some(_), false) => Outcome::Changed,
                        },
                        version: before,
                    });
                    steps.push(Step::Function {
                        name,
                        checked: Some(checked),
                        before,
                    });
                }
                Err(e) => refused.push(refusal(ItemKind::Function, &name, &e)),
            }
        }
        for (name, def) in project.tables {
            match self.tables.check_schema(&name, &def, opts.drop).await {
                Ok((schema, before)) => {
                    for (event, target) in &schema.hooks {
                        if let Err(m) = self.hook_found(target, &exports).await {
                            let e = Error::invalid_field(&format!("hooks.{event}"), m);
                            refused.push(refusal(ItemKind::Table, &name, &e));
                        }
                    }
                    let before = before.map(|s| s.to_def());
                    let outcome = match &before {
                        None => Outcome::Created,
                        Some(b) if same_json(b, &schema.to_def()) => Outcome::Unchanged,
                        Some(_) => Outcome::Changed,
                    };
                    plan.push(PlanItem {
                        kind: ItemKind::Table,
                        name: name.clone(),
                        outcome,
                        version: None,
                    });
                    steps.push(Step::Table { name, def, before });
                }
                Err(e) => refused.push(refusal(ItemKind::Table, &name, &e)),
            }
        }
        for (name, def) in project.kv {
            match self.kv.check_namespace(&name, &def).await {
                Ok((wanted, before)) => {
                    let outcome = match &before {
                        None => Outcome::Created,
                        Some(b) if b.read == wanted.read && b.write == wanted.write => {
                            Outcome::Unchanged
                        }
                        Some(_) => Outcome::Changed,
                    };
                    plan.push(PlanItem {
                        kind: ItemKind::Kv,
                        name: name.clone(),
                        outcome,
                        version: None,
                    });
                    let before = before.map(|b| NamespaceDef {
                        read: Some(b.read.as_string()),
                        write: Some(b.write.as_string()),
                        scope: Some(b.scope.as_str().to_string()),
                    });
                    steps.push(Step::Kv { name, def, before });
                }
                Err(e) => refused.push(refusal(ItemKind::Kv, &name, &e)),
            }
        }
        if !project.topics.is_empty() {
            let rules: BTreeMap<String, TopicRule> = self.live.rules().await?.into_iter().collect();
            for (pattern, rule) in project.topics {
                if !crate::live::topics::valid_pattern(&pattern) {
                    let e = Error::invalid_field(
                        "pattern",
                        "a pattern is a topic name, \"presence\", \"direct\", or a prefix ending in *",
                    );
                    refused.push(refusal(ItemKind::Topic, &pattern, &e));
                    continue;
                }
                let before = rules.get(&pattern).cloned();
                plan.push(PlanItem {
                    kind: ItemKind::Topic,
                    name: pattern.clone(),
                    outcome: match &before {
                        None => Outcome::Created,
                        Some(b) if *b == rule => Outcome::Unchanged,
                        Some(_) => Outcome::Changed,
                    },
                    version: None,
                });
                steps.push(Step::Topic {
                    pattern,
                    rule,
                    before,
                });
            }
        }
        if !refused.is_empty() {
            let first = refused[0]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let n = refused.len();
            return Err(Error::new(
                Code::ProjectRefused,
                format!(
                    "{n} item(s) of the project cannot be applied, nothing was changed; first: {} {}: {first}",
                    refused[0]["kind"].as_str().unwrap_or_default(),
                    refused[0]["name"].as_str().unwrap_or_default()
                ),
            )
            .with_details(json!({ "refused": refused })));
        }
        Ok((steps, plan))
    }

    /// Whether a hook's `<module>.<export>` will exist: among the project's modules, or
    /// else the deployed ones.
    async fn hook_found(
        &self,
        target: &str,
        project: &BTreeMap<String, Vec<String>>,
    ) -> std::result::Result<(), String> {
        let Some((module, export)) = target.split_once('.') else {
            return Err(format!("{target:?} is not <module>.<export>"));
        };
        let exports = match project.get(module) {
            Some(e) => e.clone(),
            None => match self.functions.head(module).await {
                Ok(Some(h)) => h
                    .get("exports")
                    .cloned()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default(),
                Ok(None) => {
                    return Err(format!(
                        "the hook runs {target:?}, but neither the project nor the server has a module {module:?}"
                    ));
                }
                Err(e) => return Err(e.message),
            },
        };
        if exports.iter().any(|e| e == export) {
            Ok(())
        } else {
            Err(format!(
                "the hook runs {target:?}, but module {module:?} exports no function {export:?}"
            ))
        }
    }

    /// Writes one step; a module answers its new version.
    async fn write(&self, caller: &Caller, step: &Step, opts: ApplyOptions) -> Result<Option<i64>> {
        match step {
            Step::Function { name, checked, .. } => {
                let checked = checked
                    .clone()
                    .ok_or_else(|| Error::internal("a module step without its module"))?;
                let (view, _) = self.functions.write_module(name, checked).await?;
                Ok(view.get("version").and_then(Value::as_i64))
            }
            Step::Table { name, def, .. } => {
                self.tables.put_schema(caller, name, def, opts.drop).await?;
                Ok(None)
            }
            Step::Kv { name, def, .. } => {
                self.kv.put_namespace(caller, name, def).await?;
                Ok(None)
            }
            Step::Topic { pattern, rule, .. } => {
                self.live.put_rule(caller, pattern, rule.clone()).await?;
                Ok(None)
            }
        }
    }

    /// Undoes written steps, last first. Answers what was undone and what could not be
    /// (with why), as `"<kind> <name>"`.
    async fn undo(&self, caller: &Caller, written: Vec<Step>) -> (Vec<String>, Vec<String>) {
        let mut undone = Vec::new();
        let mut not_undone = Vec::new();
        for step in written.into_iter().rev() {
            let (kind, name) = step.kind();
            let label = format!("{} {name}", kind.as_str());
            let r: Result<bool> = match &step {
                Step::Function { name, before, .. } => match before {
                    None => self.functions.delete(caller, name).await.map(|_| true),
                    Some(v) => match self.functions.stored_module(name, *v).await {
                        Ok(m) => self.functions.write_module(name, m).await.map(|_| true),
                        Err(e) => Err(e),
                    },
                },
                Step::Table { name, before, .. } => match before {
                    None => self.tables.remove_new_table(name).await,
                    Some(def) => self
                        .tables
                        .put_schema(caller, name, def, true)
                        .await
                        .map(|_| true),
                },
                Step::Kv { name, before, .. } => match before {
                    None => self.kv.remove_new_namespace(name).await,
                    Some(def) => self.kv.put_namespace(caller, name, def).await.map(|_| true),
                },
                Step::Topic {
                    pattern, before, ..
                } => match before {
                    None => self.live.delete_rule(caller, pattern).await.map(|_| true),
                    Some(rule) => self
                        .live
                        .put_rule(caller, pattern, rule.clone())
                        .await
                        .map(|_| true),
                },
            };
            match r {
                Ok(true) => undone.push(label),
                Ok(false) => not_undone.push(format!("{label}: written to meanwhile, kept")),
                Err(e) => not_undone.push(format!("{label}: {}", e.message)),
            }
        }
        (undone, not_undone)
    }
}

fn same_json<T: Serialize>(a: &T, b: &T) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

#[cfg(test)]
#[path = "project_tests.rs"]
mod tests;
