//! Server-side publishing (`POST /v1/events/{topic}`) and the topic rules admins set
//! (`/v1/topics/rules`). Live channels themselves are frames on a WebSocket; see
//! `docs/live-protocol.md` and [`yunqiao_core::live`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::routes;
use yunqiao_core::live::topics::{TopicRule, Who};

use crate::caller::AnyCaller;
use crate::error::{ApiJson, ApiPath, ApiResult, ErrorBody, Object};
use crate::{ApiRouter, AppState};

/// `POST /v1/events/{topic}`: served where pushes can be made (the tables function on
/// AWS).
pub fn publish_router() -> ApiRouter {
    ApiRouter::new().routes(routes!(publish))
}

/// The topic rules: served with the other admin APIs.
pub fn rules_router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(list_rules))
        .routes(routes!(put_rule, delete_rule))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// Any JSON; subscribers receive it as the event's `data`.
    #[serde(default)]
    pub data: Value,
}

#[derive(Serialize, ToSchema)]
pub struct Published {
    pub topic: String,
    /// The event's sequence number; `null` when nobody was subscribed (nor left within
    /// the retention window), so the event went nowhere and was not kept.
    pub seq: Option<u64>,
    /// Connections it reached.
    pub delivered: usize,
}

/// Publish an event to a topic's subscribers (admins and cloud functions). It is kept
/// for resumes like any other frame on the topic, with `from: null`.
#[utoipa::path(post, path = "/v1/events/{topic}", tag = "live", security(("bearer" = [])),
    request_body = PublishBody,
    responses((status = 200, body = Published), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn publish(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(topic): ApiPath<String>,
    ApiJson(Object(body)): ApiJson<Object<PublishBody>>,
) -> ApiResult<Json<Published>> {
    let p = s.live.publish(&c, &topic, body.data).await?;
    Ok(Json(Published {
        topic,
        seq: p.seq,
        delivered: p.delivery.sent,
    }))
}

/// Who may subscribe and publish: `users` (any logged-in user), `owner` (the user whose
/// id ends the topic name, as in `inbox.<user id>`), `group:<name>`, or `nobody` (only
/// admins and the server).
// Read as the domain reads its `TopicRule` (tested), then handed to it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    #[schema(value_type = String)]
    pub subscribe: Who,
    #[schema(value_type = String)]
    pub publish: Who,
}

impl From<RuleBody> for TopicRule {
    fn from(b: RuleBody) -> TopicRule {
        TopicRule {
            subscribe: b.subscribe,
            publish: b.publish,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RuleView {
    /// A topic name, `presence`, `direct` (who may send direct messages), or a prefix
    /// ending in `*`.
    pub pattern: String,
    pub subscribe: String,
    pub publish: String,
}

#[derive(Serialize, ToSchema)]
pub struct RuleList {
    pub items: Vec<RuleView>,
}

fn view(pattern: String, r: &TopicRule) -> RuleView {
    RuleView {
        pattern,
        subscribe: r.subscribe.to_string(),
        publish: r.publish.to_string(),
    }
}

/// Every topic rule (admins). Topics no rule matches let logged-in users subscribe and
/// publish; `presence` is published only by the server.
#[utoipa::path(get, path = "/v1/topics/rules", tag = "live", security(("bearer" = [])),
    responses((status = 200, body = RuleList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_rules(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
) -> ApiResult<Json<RuleList>> {
    let rules = s.live.list_rules(&c).await?;
    Ok(Json(RuleList {
        items: rules.into_iter().map(|(p, r)| view(p, &r)).collect(),
    }))
}

/// Set the rule for a topic or a prefix (`room.*`); an exact pattern wins over prefixes,
/// a longer prefix over a shorter.
#[utoipa::path(put, path = "/v1/topics/rules/{pattern}", tag = "live", security(("bearer" = [])),
    request_body = RuleBody,
    responses((status = 200, body = RuleView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn put_rule(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(pattern): ApiPath<String>,
    ApiJson(Object(rule)): ApiJson<Object<RuleBody>>,
) -> ApiResult<Json<RuleView>> {
    let rule = TopicRule::from(rule);
    s.live.put_rule(&c, &pattern, rule.clone()).await?;
    Ok(Json(view(pattern, &rule)))
}

#[utoipa::path(delete, path = "/v1/topics/rules/{pattern}", tag = "live", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(pattern): ApiPath<String>,
) -> ApiResult<StatusCode> {
    s.live.delete_rule(&c, &pattern).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A rule reads as the domain reads it: the same values, the same refusals.
    #[test]
    fn a_rule_body_reads_as_the_domain_reads_it() {
        for raw in [
            json!({"subscribe": "users", "publish": "group:g"}),
            json!({"subscribe": "owner", "publish": "nobody"}),
            json!({"subscribe": "everyone", "publish": "nobody"}),
            json!({"subscribe": "users"}),
            json!({"subscribe": "users", "publish": "users", "x": 1}),
        ] {
            let ours = serde_json::from_value::<RuleBody>(raw.clone())
                .map(TopicRule::from)
                .map_err(|e| e.to_string());
            let theirs = serde_json::from_value::<TopicRule>(raw).map_err(|e| e.to_string());
            assert_eq!(ours, theirs);
        }
    }
}
