//! `POST /v1/apply`: a whole project (what `yunqiao.json` defines, with the modules'
//! sources) checked as one and applied all or nothing. The rules are in
//! [`yunqiao_core::project`]. Served with the cloud functions (modules are compiled to
//! be checked).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;
use yunqiao_core::Error;
use yunqiao_core::project::{Applied, Applier, ApplyOptions, Project};

use crate::caller::AnyCaller;
use crate::error::{ApiJson, ApiQuery, ApiResult, ErrorBody};
use crate::events::RuleBody;
use crate::views::{KvNamespaceBody, ModuleBody, TableDefBody};
use crate::{ApiRouter, AppState};

pub fn router() -> ApiRouter {
    ApiRouter::new().routes(routes!(apply))
}

// Read as the domain reads its `Project` (tested), then handed to it.
/// A project: cloud-function modules (with their source), tables, key-value namespaces
/// and topic rules, each by name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectBody {
    #[serde(default)]
    pub functions: BTreeMap<String, ModuleBody>,
    #[serde(default)]
    pub tables: BTreeMap<String, TableDefBody>,
    #[serde(default)]
    pub kv: BTreeMap<String, KvNamespaceBody>,
    #[serde(default)]
    pub topics: BTreeMap<String, RuleBody>,
}

impl From<ProjectBody> for Project {
    fn from(b: ProjectBody) -> Project {
        Project {
            functions: b
                .functions
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            tables: b.tables.into_iter().map(|(k, v)| (k, v.into())).collect(),
            kv: b.kv.into_iter().map(|(k, v)| (k, v.into())).collect(),
            topics: b.topics.into_iter().map(|(k, v)| (k, v.into())).collect(),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApplyParams {
    /// `true`: check everything and answer the plan; change nothing.
    pub dry_run: Option<String>,
    /// `true`: let table changes drop fields (their values are lost).
    pub drop: Option<String>,
}

/// One item of the project and what applying it did (or, dry, would do).
#[derive(Serialize, ToSchema)]
pub struct ApplyItemView {
    /// `function`, `table`, `kv` or `topic`.
    pub kind: String,
    pub name: String,
    /// `created`, `changed` or `unchanged`.
    pub outcome: String,
    /// A module's version after the apply (before it, in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ApplyView {
    pub dry_run: bool,
    /// In the order they were (or would be) written: modules, tables, namespaces, topic
    /// rules.
    pub items: Vec<ApplyItemView>,
}

impl From<Applied> for ApplyView {
    fn from(a: Applied) -> ApplyView {
        ApplyView {
            dry_run: a.dry_run,
            items: a
                .items
                .into_iter()
                .map(|i| ApplyItemView {
                    kind: i.kind.as_str().to_string(),
                    name: i.name,
                    outcome: match i.outcome {
                        yunqiao_core::project::Outcome::Created => "created",
                        yunqiao_core::project::Outcome::Changed => "changed",
                        yunqiao_core::project::Outcome::Unchanged => "unchanged",
                    }
                    .to_string(),
                    version: i.version,
                })
                .collect(),
        }
    }
}

fn flag(name: &str, v: Option<&str>) -> Result<bool, Error> {
    match v {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(Error::invalid_field(
            name,
            format!("{name} is true or false"),
        )),
    }
}

/// Apply a project (admins): every item is checked first (modules compiled, table
/// changes judged, hooks resolved against the project's modules or the deployed ones);
/// if any is refused nothing changes. Items are then written modules first, then tables,
/// namespaces and topic rules; a write that fails undoes the ones before it.
#[utoipa::path(post, path = "/v1/apply", tag = "functions", security(("bearer" = [])), params(ApplyParams),
    request_body = ProjectBody,
    responses((status = 200, description = "applied (or, with `dry_run`, the plan)", body = ApplyView),
        (status = 400, description = "`PROJECT_REFUSED`: `details.refused` lists every item that cannot be applied (`kind`, `name`, `code`, `message`, `field`); nothing was changed", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = "5XX", description = "a write failed midway: the error of that write, with `details.item`, `details.undone` (written before it and undone) and `details.not_undone` (if any)", body = ErrorBody)))]
pub async fn apply(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiQuery(p): ApiQuery<ApplyParams>,
    ApiJson(body): ApiJson<ProjectBody>,
) -> ApiResult<Json<ApplyView>> {
    let opts = ApplyOptions {
        dry_run: flag("dry_run", p.dry_run.as_deref())?,
        drop: flag("drop", p.drop.as_deref())?,
    };
    let applier = Applier {
        tables: &s.tables,
        kv: &s.kv,
        live: &s.live,
        functions: &s.functions,
    };
    let applied = applier.apply(&c, body.into(), opts).await?;
    Ok(Json(applied.into()))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The body reads what the domain's `Project` reads, and refuses what it refuses.
    #[test]
    fn the_body_reads_as_the_domain_reads() {
        fn same(raw: Value) {
            let ours = serde_json::from_value::<ProjectBody>(raw.clone())
                .map(|o| format!("{:?}", Project::from(o)))
                .map_err(|e| e.to_string());
            let theirs = serde_json::from_value::<Project>(raw)
                .map(|t| format!("{t:?}"))
                .map_err(|e| e.to_string());
            assert_eq!(ours.is_ok(), theirs.is_ok(), "{ours:?} / {theirs:?}");
            if let (Ok(a), Ok(b)) = (ours, theirs) {
                assert_eq!(a, b);
            }
        }
        for raw in [
            json!({}),
            json!({"functions": {"m": {"source": "export function f(){}", "access": "users", "exports": {"f": {"access": "admins", "schedule": "0 * * * * *"}}, "timeout_ms": 100, "memory_mb": 64, "secrets": ["K"], "hosts": ["a.example"]}}}),
            json!({"tables": {"t": {"fields": [{"name": "a", "type": "string", "index": true}], "acl": {"record": "rw:r:-", "create": "users"}, "hooks": {"before_create": "m.f"}}}}),
            json!({"kv": {"k": {"scope": "user", "read": "users", "write": "admins"}}}),
            json!({"topics": {"room.*": {"subscribe": "users", "publish": "nobody"}}}),
            json!({"functions": {"m": {"file": "m.js"}}}),
            json!({"tables": {"t": {}}}),
            json!({"topics": {"x": {"subscribe": "admins", "publish": "users"}}}),
            json!({"other": {}}),
        ] {
            same(raw);
        }
    }
}
