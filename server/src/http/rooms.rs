//! Conversation routes (`docs/api.md`, "Conversations"): rooms, members, DMs, read markers and
//! ignores. Each handler parses, calls a use case of `Services`, and maps its answer.

use super::extract::{ApiJson, ApiPath, AuthUser};
use crate::services::conversations::Added;
use crate::services::paging::{optional_number, Page};
use crate::state::AppState;
use app::error::ApiError;
use app::models::{ChatMessage, CreateRoom, Invitation, Member, ReadMarker, Room, UpdateRoom, UsernameBody};
use app::protocol::{HISTORY_PAGE, MEMBERS_PAGE, PUBLIC_ROOMS_PAGE};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use std::collections::HashMap;

type Params = Query<HashMap<String, String>>;

/// `GET /rooms`: my conversations.
pub async fn mine(State(state): State<AppState>, AuthUser(user): AuthUser) -> Result<Json<Vec<Room>>, ApiError> {
    state.services.my_rooms(&user).await.map(Json)
}

/// `GET /rooms/public?after=ID&limit=N`: a page of the public rooms, by id, with whether I am in
/// each.
pub async fn public(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(params): Params,
) -> Result<Json<Vec<Room>>, ApiError> {
    let page = Page::after_from_query(&params, PUBLIC_ROOMS_PAGE)?;
    state.services.public_rooms(&user, page).await.map(Json)
}

/// `POST /rooms`: 201 and the new room.
pub async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(request): ApiJson<CreateRoom>,
) -> Result<(StatusCode, Json<Room>), ApiError> {
    let room = state.services.create_room(&user, request).await?;
    Ok((StatusCode::CREATED, Json(room)))
}

/// `GET /rooms/{id}`.
pub async fn one(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Room>, ApiError> {
    state.services.room(&user, id).await.map(Json)
}

/// `PATCH /rooms/{id}`: rename, topic, archive.
pub async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(request): ApiJson<UpdateRoom>,
) -> Result<Json<Room>, ApiError> {
    state.services.update_room(&user, id, request).await.map(Json)
}

/// `POST /rooms/{id}/join`.
pub async fn join(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Room>, ApiError> {
    state.services.join(&user, id).await.map(Json)
}

/// `POST /rooms/{id}/leave`: 204.
pub async fn leave(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.services.leave(&user, id).await.map(|()| StatusCode::NO_CONTENT)
}

/// `GET /rooms/{id}/members?after=USERNAME&limit=N`.
pub async fn members(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    Query(params): Params,
) -> Result<Json<Vec<Member>>, ApiError> {
    let page = Page::checked(None, None, optional_number(&params, "limit")?, MEMBERS_PAGE)?;
    let after = params.get("after").map(String::as_str);
    state.services.members(&user, id, after, page.limit).await.map(Json)
}

/// `POST /rooms/{id}/members` `{"username"}`: adds someone (200), or invites them to a private
/// room when invitations need accepting (202).
pub async fn invite(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UsernameBody>,
) -> Result<(StatusCode, Json<Room>), ApiError> {
    Ok(match state.services.invite(&user, id, &body.username).await? {
        Added::Member(room) => (StatusCode::OK, Json(room)),
        Added::Invited(room) => (StatusCode::ACCEPTED, Json(room)),
    })
}

/// `GET /invitations`: the invitations waiting for my answer.
pub async fn invitations(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Vec<Invitation>>, ApiError> {
    state.services.invitations(&user).await.map(Json)
}

/// `DELETE /invitations/{room_id}`: 204, declined.
pub async fn decline(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.services.decline(&user, id).await.map(|()| StatusCode::NO_CONTENT)
}

/// `DELETE /rooms/{id}/members/{username}`: 204.
pub async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath((id, username)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.remove_member(&user, id, &username).await.map(|()| StatusCode::NO_CONTENT)
}

/// `POST /dm` `{"username"}`: the DM with that person.
pub async fn dm(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<UsernameBody>,
) -> Result<Json<Room>, ApiError> {
    state.services.open_dm(&user, &body.username).await.map(Json)
}

/// `GET /rooms/{id}/messages?before=ID&limit=N` (newest first) or `?after=ID` (oldest first).
pub async fn messages(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    Query(params): Params,
) -> Result<Json<Vec<ChatMessage>>, ApiError> {
    let page = Page::from_query(&params, HISTORY_PAGE)?;
    state.services.room_messages(&user, id, page).await.map(Json)
}

/// `POST /rooms/{id}/read` `{"last_read_id"}`: 204.
pub async fn read(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReadMarker>,
) -> Result<StatusCode, ApiError> {
    state.services.mark_read(&user, id, body.last_read_id).await.map(|()| StatusCode::NO_CONTENT)
}

/// `GET /ignores`: the usernames I ignore.
pub async fn ignores(State(state): State<AppState>, AuthUser(user): AuthUser) -> Result<Json<Vec<String>>, ApiError> {
    state.services.ignored(&user).await.map(Json)
}

/// `POST /ignores` `{"username"}`: 204.
pub async fn ignore(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<UsernameBody>,
) -> Result<StatusCode, ApiError> {
    state.services.ignore(&user, &body.username).await.map(|()| StatusCode::NO_CONTENT)
}

/// `DELETE /ignores/{username}`: 204.
pub async fn unignore(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(username): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.services.unignore(&user, &username).await.map(|()| StatusCode::NO_CONTENT)
}
