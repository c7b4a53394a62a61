//! `ApiError`: the one error type of the public layer. REST handlers turn it into a status code and
//! a JSON `{"error": "..."}` body; server functions carry it to the client typed. Internal details
//! (database errors and the like) are logged where they happen and never reach this type.

use crate::domain::ValidationError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApiError {
    #[error("{error}")]
    Validation { error: ValidationError },
    #[error("username is already taken")]
    UsernameTaken,
    #[error("email is already registered")]
    EmailTaken,
    /// The same answer for an unknown user and a wrong password.
    #[error("invalid username or password")]
    BadCredentials,
    #[error("authentication required")]
    Unauthenticated,
    /// A signed-in account's own password, asked again (`POST /me/password`, `DELETE /me`), wrong.
    #[error("the password is wrong")]
    WrongPassword,
    #[error("account is blocked")]
    Blocked,
    /// A blocked account's login with the right password: where its appeal stands (`none`,
    /// `open`, `rejected`) and, once rejected, the admin's reason.
    #[error("account is blocked")]
    BlockedLogin { appeal: String, reason: Option<String> },
    #[error("admin access required")]
    AdminOnly,
    #[error("{message}")]
    Forbidden { message: String },
    #[error("not found")]
    NotFound,
    #[error("no such user")]
    UnknownUser,
    #[error("a room with that name already exists")]
    RoomNameTaken,
    /// The request conflicts with the state it acts on (a review item resolved already).
    #[error("{message}")]
    Conflict { message: String },
    #[error("bad request: {message}")]
    BadRequest { message: String },
    /// A well-formed request whose body does not have the expected fields or types.
    #[error("invalid input: {message}")]
    InvalidInput { message: String },
    /// Refused by the word filter, at the cost of a warning (the body says how many).
    #[error("{message}")]
    Warned { message: String, warning_count: i64, max_warnings: i64 },
    #[error("too many requests, retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// A body over a size limit or a quota (the message says which).
    #[error("{message}")]
    TooLarge { message: String },
    #[error("internal server error")]
    Internal,
    /// A transport failure reported by the server-function machinery.
    #[error("request failed: {message}")]
    Transport { message: String },
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::Validation { error }
    }
}

impl ApiError {
    /// HTTP status code of this error on REST routes.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Validation { .. } | ApiError::InvalidInput { .. } | ApiError::Warned { .. } => 422,
            ApiError::UsernameTaken | ApiError::EmailTaken | ApiError::RoomNameTaken | ApiError::Conflict { .. } => 409,
            ApiError::BadCredentials | ApiError::Unauthenticated | ApiError::WrongPassword => 401,
            ApiError::Blocked | ApiError::BlockedLogin { .. } | ApiError::AdminOnly | ApiError::Forbidden { .. } => 403,
            ApiError::NotFound | ApiError::UnknownUser => 404,
            ApiError::BadRequest { .. } => 400,
            ApiError::RateLimited { .. } => 429,
            ApiError::TooLarge { .. } => 413,
            ApiError::Internal | ApiError::Transport { .. } => 500,
        }
    }

    /// A stable code for the `?error=` query of the no-JavaScript forms.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation { error } => error.code(),
            ApiError::UsernameTaken => "username_taken",
            ApiError::EmailTaken => "email_taken",
            ApiError::BadCredentials => "bad_credentials",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::WrongPassword => "wrong_password",
            ApiError::Blocked | ApiError::BlockedLogin { .. } => "blocked",
            ApiError::AdminOnly => "admin_only",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::UnknownUser => "unknown_user",
            ApiError::RoomNameTaken => "room_name_taken",
            ApiError::Conflict { .. } => "conflict",
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::InvalidInput { .. } => "invalid_input",
            ApiError::Warned { .. } => "warned",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::Internal | ApiError::Transport { .. } => "internal",
        }
    }

    /// The inverse of [`ApiError::code`] for the codes a form page may show.
    pub fn from_code(code: &str) -> Option<ApiError> {
        if let Some(error) = ValidationError::from_code(code) {
            return Some(ApiError::Validation { error });
        }
        Some(match code {
            "username_taken" => ApiError::UsernameTaken,
            "email_taken" => ApiError::EmailTaken,
            "bad_credentials" => ApiError::BadCredentials,
            "unauthenticated" => ApiError::Unauthenticated,
            "blocked" => ApiError::Blocked,
            "rate_limited" => ApiError::RateLimited { retry_after: 60 },
            // The chat page sends a reader here when its session could not be renewed.
            "session_ended" => ApiError::Forbidden { message: "your session has ended: log in again".into() },
            "internal" => ApiError::Internal,
            _ => return None,
        })
    }
}

impl leptos::server_fn::error::FromServerFnError for ApiError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        ApiError::Transport { message: value.to_string() }
    }
}

#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let status = http::StatusCode::from_u16(self.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = serde_json::json!({ "error": self.to_string() });
        if let ApiError::Warned { warning_count, max_warnings, .. } = &self {
            body["warning_count"] = (*warning_count).into();
            body["max_warnings"] = (*max_warnings).into();
        }
        if let ApiError::BlockedLogin { appeal, reason } = &self {
            body["appeal"] = appeal.clone().into();
            if let Some(reason) = reason {
                body["reason"] = reason.clone().into();
            }
        }
        let body = axum::Json(body);
        let mut response = (status, body).into_response();
        if let ApiError::RateLimited { retry_after } = self {
            response.headers_mut().insert(http::header::RETRY_AFTER, retry_after.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_for_form_errors() {
        let all = [
            ApiError::UsernameTaken,
            ApiError::EmailTaken,
            ApiError::BadCredentials,
            ApiError::Blocked,
            ApiError::Validation { error: ValidationError::PasswordTooShort },
        ];
        for e in all {
            assert_eq!(ApiError::from_code(e.code()), Some(e.clone()));
        }
        assert_eq!(ApiError::from_code("<script>"), None);
    }

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(ApiError::from(ValidationError::InvalidEmail).status(), 422);
        assert_eq!(ApiError::UsernameTaken.status(), 409);
        assert_eq!(ApiError::BadCredentials.status(), 401);
        assert_eq!(ApiError::Blocked.status(), 403);
    }
}
