//! Authentication as extractors, so a handler's signature says who may call it.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use yunqiao_core::Code;
use yunqiao_core::auth::{Caller, User};

use crate::AppState;
use crate::error::{ApiError, error};

/// Anyone: anonymous, a user or an admin. A present but bad token is still refused.
pub struct AnyCaller(pub Caller);

/// A logged-in user.
pub struct UserCaller {
    pub user: User,
    pub caller: Caller,
}

/// The admin key, or a user in the `admin` group.
pub struct AdminCaller(pub Caller);

fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(v) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| error(Code::InvalidToken, "malformed Authorization header"))?;
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(error(
            Code::InvalidToken,
            "use Authorization: Bearer <token>",
        )),
    }
}

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(AnyCaller(c.clone()));
        }
        let caller = state.auth.authenticate(bearer(parts)?).await?;
        parts.extensions.insert(caller.clone());
        Ok(AnyCaller(caller))
    }
}

impl FromRequestParts<AppState> for UserCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AnyCaller(caller) = AnyCaller::from_request_parts(parts, state).await?;
        match caller.user() {
            Some(u) => Ok(UserCaller {
                user: u.clone(),
                caller,
            }),
            None => Err(error(
                Code::Unauthenticated,
                "log in first: send Authorization: Bearer <token>",
            )),
        }
    }
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AnyCaller(caller) = AnyCaller::from_request_parts(parts, state).await?;
        caller.require_admin()?;
        Ok(AdminCaller(caller))
    }
}
