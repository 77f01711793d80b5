//! `/v1/auth`: WeChat login, the caller's own profile, sessions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::routes;

use crate::caller::UserCaller;
use crate::error::{ApiJson, ApiResult, ErrorBody};
use crate::views::{CodeBody, LoginView, ProfileBody, UserView};
use crate::{ApiRouter, AppState};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(me, update_me))
        .routes(routes!(logout))
        .routes(routes!(refresh))
        .routes(routes!(phone))
}

/// Log in with a `wx.login()` code; the user is created on first login.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = CodeBody,
    responses((status = 200, body = LoginView),
              (status = 400, body = ErrorBody), (status = 401, description = "INVALID_LOGIN_CODE", body = ErrorBody),
              (status = 429, description = "RATE_LIMITED", body = ErrorBody)))]
pub async fn login(
    State(s): State<AppState>,
    ApiJson(b): ApiJson<CodeBody>,
) -> ApiResult<Json<LoginView>> {
    Ok(Json(s.auth.login(&b.code).await?.into()))
}

/// The caller's own user.
#[utoipa::path(get, path = "/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn me(u: UserCaller) -> Json<UserView> {
    Json(u.user.into())
}

/// Change the caller's nickname, avatar or other profile fields.
#[utoipa::path(patch, path = "/v1/auth/me", tag = "auth", security(("bearer" = [])), request_body = ProfileBody,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn update_me(
    State(s): State<AppState>,
    u: UserCaller,
    ApiJson(patch): ApiJson<ProfileBody>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(
        s.auth
            .update_profile(&u.user.id, patch.into())
            .await?
            .into(),
    ))
}

/// End this session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(s): State<AppState>, u: UserCaller) -> ApiResult<StatusCode> {
    s.auth.logout(&u.caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new token for this session; the old one keeps working for a short grace period.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = LoginView), (status = 401, body = ErrorBody)))]
pub async fn refresh(State(s): State<AppState>, u: UserCaller) -> ApiResult<Json<LoginView>> {
    Ok(Json(s.auth.refresh(&u.caller).await?.into()))
}

/// Bind the phone number behind a `getPhoneNumber` button code.
#[utoipa::path(post, path = "/v1/auth/phone", tag = "auth", security(("bearer" = [])), request_body = CodeBody,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn phone(
    State(s): State<AppState>,
    u: UserCaller,
    ApiJson(b): ApiJson<CodeBody>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(s.auth.bind_phone(&u.user.id, &b.code).await?.into()))
}
