//! `/v1/auth`: WeChat login, the caller's own profile, sessions.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
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

/// Change the caller's nickname, avatar or other profile fields. `avatar_file` sets the
/// avatar to one of your public images.
#[utoipa::path(patch, path = "/v1/auth/me", tag = "auth", security(("bearer" = [])), request_body = ProfileBody,
    responses((status = 200, body = UserView),
        (status = 400, description = "`INVALID_ARGUMENT`, or `FILE_NOT_USABLE`: `avatar_file` is not a ready, public image of your own", body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn update_me(
    State(s): State<AppState>,
    u: UserCaller,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<ProfileBody>,
) -> ApiResult<Json<UserView>> {
    let origin = origin(s.public_url.as_deref(), &headers);
    Ok(Json(
        s.auth
            .update_profile(&u.user.id, patch.into(), &origin)
            .await?
            .into(),
    ))
}

/// Where the client reached this server: `files.public_url` when configured, else the
/// request's `Host` with `X-Forwarded-Proto` (API Gateway sets it; default `http`).
/// Empty when neither says (then no URL under it is made). A client choosing its own
/// `Host` only changes the URLs in its own answers and profile.
pub fn origin(public_url: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(u) = public_url {
        return u.trim_end_matches('/').to_string();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(host) = header("host").filter(|h| !h.is_empty()) else {
        return String::new();
    };
    let scheme = match header("x-forwarded-proto").map(|p| p.split(',').next().unwrap_or("").trim())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
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

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_origin_is_the_configured_address_else_the_requests() {
        let mut h = HeaderMap::new();
        assert_eq!(origin(None, &h), "", "nothing says");
        h.insert("host", HeaderValue::from_static("api.example.com"));
        assert_eq!(origin(None, &h), "http://api.example.com");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https, http"));
        assert_eq!(origin(None, &h), "https://api.example.com");
        assert_eq!(
            origin(Some("https://files.example.com/"), &h),
            "https://files.example.com"
        );
    }
}
