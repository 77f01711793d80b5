//! `/v1/admin`: user management for admins (the admin key or the `admin` group).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::routes;
use yunqiao_core::Code;

use crate::caller::AdminCaller;
use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody, error};
use crate::views::{GroupsBody, UserPage, UserView};
use crate::{ApiRouter, AppState};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user, set_groups))
        .routes(routes!(about))
}

/// What this process runs on: its face, store, WeChat mode and version (the console's
/// health page). `GET /v1/health` says only whether the store answers, to anyone.
#[utoipa::path(get, path = "/v1/admin/about", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = crate::About), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn about(
    State(s): State<AppState>,
    AdminCaller(_): AdminCaller,
) -> ApiResult<Json<crate::About>> {
    Ok(Json(crate::About {
        version: env!("CARGO_PKG_VERSION").into(),
        ..s.about.clone()
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 100, default 50.
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// All users, oldest first.
#[utoipa::path(get, path = "/v1/admin/users", tag = "admin", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = UserPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(s): State<AppState>,
    AdminCaller(c): AdminCaller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Json<UserPage>> {
    let limit = match p.limit.as_deref() {
        None => 50,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => return Err(error(Code::InvalidArgument, "limit must be 1 to 100")),
        },
    };
    let (users, cursor) = s.auth.list_users(&c, limit, p.cursor).await?;
    Ok(Json(UserPage {
        items: users.into_iter().map(Into::into).collect(),
        cursor,
    }))
}

#[utoipa::path(get, path = "/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(s): State<AppState>,
    AdminCaller(c): AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(s.auth.user_for_admin(&c, &id).await?.into()))
}

/// Set a user's groups (what table ACLs use; `admin` makes an admin).
#[utoipa::path(patch, path = "/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])), request_body = GroupsBody,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_groups(
    State(s): State<AppState>,
    AdminCaller(c): AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<GroupsBody>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(s.auth.set_groups(&c, &id, b.groups).await?.into()))
}
