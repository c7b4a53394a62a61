//! Conversation routes (`docs/api.md`, "Conversations"): rooms, members, DMs, read markers and
//! ignores. Each handler parses, calls a use case of `Services`, and maps its answer.

use super::extract::{ApiJson, ApiPath, AuthUser};
use super::openapi::ErrorBody;
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
#[utoipa::path(
    get,
    path = "/rooms",
    tag = "conversations",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "My conversations: `general` first, then by newest activity", body = Vec<Room>)
    )
)]
pub async fn mine(State(state): State<AppState>, AuthUser(user): AuthUser) -> Result<Json<Vec<Room>>, ApiError> {
    state.services.my_rooms(&user).await.map(Json)
}

/// `GET /rooms/public?after=ID&limit=N`: a page of the public rooms, by id, with whether I am in
/// each.
#[utoipa::path(
    get,
    path = "/rooms/public",
    tag = "conversations",
    params(("after" = Option<i64>, Query, description = "Only those with a higher id (the next page)"), ("limit" = Option<i64>, Query, description = "At most this many (default 100, 1..=1000)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "A page of the public rooms not archived, in id order", body = Vec<Room>),
        (status = 400, description = "A bad `limit` or `after`", body = ErrorBody)
    )
)]
pub async fn public(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(params): Params,
) -> Result<Json<Vec<Room>>, ApiError> {
    let page = Page::after_from_query(&params, PUBLIC_ROOMS_PAGE)?;
    state.services.public_rooms(&user, page).await.map(Json)
}

/// `POST /rooms`: 201 and the new room.
#[utoipa::path(
    post,
    path = "/rooms",
    tag = "conversations",
    request_body = CreateRoom,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 201, description = "Created; I am its owner and first member", body = Room),
        (status = 403, description = "I am in 500 conversations, or created `max_rooms_per_account` rooms", body = ErrorBody),
        (status = 409, description = "A public room's name is taken", body = ErrorBody),
        (status = 422, description = "An invalid name, topic or kind; the word filter", body = ErrorBody),
        (status = 429, description = "The room-action budget (`room_actions_burst`, `room_actions_per_min`)", body = ErrorBody)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(request): ApiJson<CreateRoom>,
) -> Result<(StatusCode, Json<Room>), ApiError> {
    let room = state.services.create_room(&user, request).await?;
    Ok((StatusCode::CREATED, Json(room)))
}

/// `GET /rooms/{id}`.
#[utoipa::path(
    get,
    path = "/rooms/{id}",
    tag = "conversations",
    params(("id" = i64, Path, description = "The room id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "A public room, or one I am in", body = Room),
        (status = 404, description = "Unknown id; a private room or DM I am not in", body = ErrorBody)
    )
)]
pub async fn one(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Room>, ApiError> {
    state.services.room(&user, id).await.map(Json)
}

/// `PATCH /rooms/{id}`: rename, topic, archive.
#[utoipa::path(
    patch,
    path = "/rooms/{id}",
    tag = "conversations",
    params(("id" = i64, Path, description = "The room id")),
    request_body = UpdateRoom,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Changed", body = Room),
        (status = 400, description = "No change asked; renaming or archiving `general`; a name or topic for a DM", body = ErrorBody),
        (status = 403, description = "Not allowed to change this (docs/api.md)", body = ErrorBody),
        (status = 404, description = "Unknown id; a private room or DM I am not in", body = ErrorBody),
        (status = 409, description = "A public room's name is taken", body = ErrorBody),
        (status = 422, description = "An invalid name or topic; the word filter", body = ErrorBody),
        (status = 429, description = "The room-action budget (`room_actions_burst`, `room_actions_per_min`)", body = ErrorBody)
    )
)]
pub async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(request): ApiJson<UpdateRoom>,
) -> Result<Json<Room>, ApiError> {
    state.services.update_room(&user, id, request).await.map(Json)
}

/// `POST /rooms/{id}/join`.
#[utoipa::path(
    post,
    path = "/rooms/{id}/join",
    tag = "conversations",
    params(("id" = i64, Path, description = "The room id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Joined, or accepted the invitation (also when already a member)", body = Room),
        (status = 400, description = "The room is archived", body = ErrorBody),
        (status = 403, description = "An admin removed me from it; I am in 500 conversations", body = ErrorBody),
        (status = 404, description = "Unknown id; a private room (without an invitation for me) or DM I am not in", body = ErrorBody),
        (status = 429, description = "The room-action budget (`room_actions_burst`, `room_actions_per_min`)", body = ErrorBody)
    )
)]
pub async fn join(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Room>, ApiError> {
    state.services.join(&user, id).await.map(Json)
}

/// `POST /rooms/{id}/leave`: 204.
#[utoipa::path(
    post,
    path = "/rooms/{id}/leave",
    tag = "conversations",
    params(("id" = i64, Path, description = "The room id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Left"),
        (status = 400, description = "`general`; a DM; a public room I am not in", body = ErrorBody),
        (status = 404, description = "Unknown id; a private room or DM I am not in", body = ErrorBody),
        (status = 429, description = "The room-action budget (`room_actions_burst`, `room_actions_per_min`)", body = ErrorBody)
    )
)]
pub async fn leave(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.services.leave(&user, id).await.map(|()| StatusCode::NO_CONTENT)
}

/// `GET /rooms/{id}/members?after=USERNAME&limit=N`.
#[utoipa::path(
    get,
    path = "/rooms/{id}/members",
    tag = "conversations",
    params(("id" = i64, Path, description = "The room id"), ("after" = Option<String>, Query, description = "The last username of the previous page"), ("limit" = Option<i64>, Query, description = "At most this many (default 200, 1..=1000)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Members by username, after `after`", body = Vec<Member>),
        (status = 400, description = "A bad `limit`", body = ErrorBody),
        (status = 404, description = "Unknown id; a private room or DM I am not in", body = ErrorBody)
    )
)]
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
#[utoipa::path(
    post,
    path = "/rooms/{id}/members",
    tag = "conversations",
    params(("id" = i64, Path, description = "The room id")),
    request_body = UsernameBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Added (also when already a member): the room as I see it", body = Room),
        (status = 202, description = "Invited (a private room while invitations need accepting)", body = Room),
        (status = 400, description = "A DM; an archived room", body = ErrorBody),
        (status = 403, description = "You cannot add this person; join the room first; an admin removed this person", body = ErrorBody),
        (status = 404, description = "No such account (or it is blocked); unknown room id; a private room or DM I am not in", body = ErrorBody),
        (status = 429, description = "The room-action or the invitation budget", body = ErrorBody)
    )
)]
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
#[utoipa::path(
    get,
    path = "/invitations",
    tag = "conversations",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The invitations waiting for my answer, oldest first", body = Vec<Invitation>)
    )
)]
pub async fn invitations(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Vec<Invitation>>, ApiError> {
    state.services.invitations(&user).await.map(Json)
}

/// `DELETE /invitations/{room_id}`: 204, declined.
#[utoipa::path(
    delete,
    path = "/invitations/{id}",
    tag = "conversations",
    params(("id" = i64, Path, description = "The room id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Declined"),
        (status = 404, description = "No invitation waits", body = ErrorBody),
        (status = 429, description = "The room-action budget (`room_actions_burst`, `room_actions_per_min`)", body = ErrorBody)
    )
)]
pub async fn decline(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.services.decline(&user, id).await.map(|()| StatusCode::NO_CONTENT)
}

/// `DELETE /rooms/{id}/members/{username}`: 204.
#[utoipa::path(
    delete,
    path = "/rooms/{id}/members/{username}",
    tag = "conversations",
    params(("id" = i64, Path, description = "The room id"), ("username" = String, Path, description = "A username")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "`general`; a DM", body = ErrorBody),
        (status = 403, description = "Neither the owner, an admin nor the member themself", body = ErrorBody),
        (status = 404, description = "That user is not a member; unknown id; a private room or DM I am not in", body = ErrorBody),
        (status = 429, description = "The room-action budget (`room_actions_burst`, `room_actions_per_min`)", body = ErrorBody)
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath((id, username)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.remove_member(&user, id, &username).await.map(|()| StatusCode::NO_CONTENT)
}

/// `POST /dm` `{"username"}`: the DM with that person.
#[utoipa::path(
    post,
    path = "/dm",
    tag = "conversations",
    request_body = UsernameBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The DM between me and that person (the same room every time)", body = Room),
        (status = 400, description = "My own username", body = ErrorBody),
        (status = 403, description = "They ignore me", body = ErrorBody),
        (status = 404, description = "No such account, or it is blocked", body = ErrorBody),
        (status = 429, description = "The room-action budget (`room_actions_burst`, `room_actions_per_min`)", body = ErrorBody)
    )
)]
pub async fn dm(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<UsernameBody>,
) -> Result<Json<Room>, ApiError> {
    state.services.open_dm(&user, &body.username).await.map(Json)
}

/// `GET /rooms/{id}/messages?before=ID&limit=N` (newest first) or `?after=ID` (oldest first).
#[utoipa::path(
    get,
    path = "/rooms/{id}/messages",
    tag = "conversations",
    params(("id" = i64, Path, description = "The room id"), ("before" = Option<i64>, Query, description = "Only those with a lower id (the next page)"), ("after" = Option<i64>, Query, description = "Only those with a higher id (the next page)"), ("limit" = Option<i64>, Query, description = "At most this many (default 50, 1..=200)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "With `before` (or neither) newest first; with `after` oldest first", body = Vec<ChatMessage>),
        (status = 400, description = "A bad parameter; `before` and `after` together", body = ErrorBody),
        (status = 404, description = "Unknown id; a private room or DM I am not in", body = ErrorBody)
    )
)]
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
#[utoipa::path(
    post,
    path = "/rooms/{id}/read",
    tag = "conversations",
    params(("id" = i64, Path, description = "The room id")),
    request_body = ReadMarker,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "A public room I am not in", body = ErrorBody),
        (status = 404, description = "Unknown id; a private room or DM I am not in", body = ErrorBody),
        (status = 422, description = "`last_read_id` is negative", body = ErrorBody)
    )
)]
pub async fn read(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReadMarker>,
) -> Result<StatusCode, ApiError> {
    state.services.mark_read(&user, id, body.last_read_id).await.map(|()| StatusCode::NO_CONTENT)
}

/// `GET /ignores`: the usernames I ignore.
#[utoipa::path(
    get,
    path = "/ignores",
    tag = "conversations",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The usernames I ignore", body = Vec<String>)
    )
)]
pub async fn ignores(State(state): State<AppState>, AuthUser(user): AuthUser) -> Result<Json<Vec<String>>, ApiError> {
    state.services.ignored(&user).await.map(Json)
}

/// `POST /ignores` `{"username"}`: 204.
#[utoipa::path(
    post,
    path = "/ignores",
    tag = "conversations",
    request_body = UsernameBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Ignored (idempotent)"),
        (status = 400, description = "My own username", body = ErrorBody),
        (status = 403, description = "1000 ignores already", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 429, description = "The room-action budget (`room_actions_burst`, `room_actions_per_min`)", body = ErrorBody)
    )
)]
pub async fn ignore(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<UsernameBody>,
) -> Result<StatusCode, ApiError> {
    state.services.ignore(&user, &body.username).await.map(|()| StatusCode::NO_CONTENT)
}

/// `DELETE /ignores/{username}`: 204.
#[utoipa::path(
    delete,
    path = "/ignores/{username}",
    tag = "conversations",
    params(("username" = String, Path, description = "A username")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "No longer ignored (idempotent)"),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 429, description = "The room-action budget (`room_actions_burst`, `room_actions_per_min`)", body = ErrorBody)
    )
)]
pub async fn unignore(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(username): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.services.unignore(&user, &username).await.map(|()| StatusCode::NO_CONTENT)
}
