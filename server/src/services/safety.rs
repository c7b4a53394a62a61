//! Trust and safety use cases, whatever door asks: the classifier's opinion of a message, reports
//! weighed by the reporter's standing, the review queue and an admin's decisions (approve a held
//! message, remove, strike), and removal (the text gone for everyone, kept for admins; every
//! member's open socket told on every node, through the room-change feed).

use super::admin::Admin;
use super::paging::Page;
use super::{internal, limited, Services};
use crate::config::ClassifierPolicy;
use crate::moderation::{Strike, MAX_WARNINGS};
use crate::store::{NewMessage, Removal, Reported, Resolution, Review, ReviewFilter};
use app::backend::RequestOrigin;
use app::error::ApiError;
use app::models::{
    Appeal, AppealCreated, AppealDecision, AppealRequest, PublicUser, ReviewDecision, ReviewItem, ServerFrame, Standing,
};
use app::protocol::{GENERAL_ROOM_ID, MAX_APPEAL_CHARS, MAX_REASON_CHARS};

/// Reports (summed by weight) that put an item in front of the queue: three from distinct
/// accounts in good standing (Draupnir's threshold).
pub const REPORTS_TO_FRONT: f64 = 3.0;

/// What the classifier makes of a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Below the threshold (or the classifier is off).
    Pass,
    /// At or above it: deliver, and queue for review.
    Flag(f64),
    /// At or above it: hold for review.
    Hold(f64),
}

/// How much a report counts, by the reporter's standing: in good standing (no warnings, and
/// an account older than `trusted_age_hours`) 1; a new account 0.5; a warned one 0.25.
pub fn report_weight(reporter: &PublicUser, trusted_age_hours: u64, now: chrono::DateTime<chrono::Utc>) -> f64 {
    if reporter.warning_count > 0 {
        return 0.25;
    }
    let age = chrono::DateTime::parse_from_rfc3339(&reporter.created_at)
        .map(|created| now.signed_duration_since(created))
        .unwrap_or_default();
    if age >= chrono::Duration::hours(i64::try_from(trusted_age_hours).unwrap_or(i64::MAX)) {
        1.0
    } else {
        0.5
    }
}

/// A reason as given: trimmed; at most [`MAX_REASON_CHARS`] characters; `required`: not blank.
pub(crate) fn reason(given: Option<&str>, required: bool) -> Result<String, ApiError> {
    let reason = given.unwrap_or_default().trim();
    if required && reason.is_empty() {
        return Err(ApiError::BadRequest { message: "reason is required".into() });
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::BadRequest { message: format!("reason is longer than {MAX_REASON_CHARS} characters") });
    }
    Ok(reason.to_owned())
}

impl Services {
    /// The classifier's verdict on `text` under the configured policy.
    pub fn classify(&self, text: &str) -> Verdict {
        let Some(classifier) = &self.classifier else { return Verdict::Pass };
        let score = classifier.score_message(text);
        if score < self.config.safety.classifier_threshold {
            return Verdict::Pass;
        }
        match self.config.safety.classifier {
            ClassifierPolicy::Hold => Verdict::Hold(score),
            ClassifierPolicy::Flag => Verdict::Flag(score),
            ClassifierPolicy::Off => Verdict::Pass,
        }
    }

    /// Holds `message` for review (the classifier scored it `score`): stored in the queue, not
    /// delivered. A retry of the same `client_id` is the same item.
    pub async fn hold(&self, message: &NewMessage, score: f64) -> Result<i64, ApiError> {
        let item = self.store.hold(message, score).await.map_err(internal)?;
        tracing::info!(sender_id = message.sender_id, room_id = message.room_id, item, "message held for review");
        Ok(item)
    }

    /// `reporter` reports message `id` (with an optional `reason`): 404 for a message they cannot
    /// read (never saying whether it exists), 400 for their own; repeating changes nothing; one
    /// report budget per account.
    pub async fn report(&self, reporter: &PublicUser, id: i64, given_reason: Option<&str>) -> Result<(), ApiError> {
        let reason = reason(given_reason, false)?;
        self.throttles.reports.check(&reporter.id).await.map_err(limited)?;
        let weight = report_weight(reporter, self.config.safety.trusted_account_age_hours, chrono::Utc::now());
        let reported =
            self.store.report_message(id, reporter.id, &reason, weight, REPORTS_TO_FRONT).await.map_err(internal)?;
        match reported {
            Reported::Recorded { item } => {
                tracing::info!(reporter_id = reporter.id, message_id = id, item, weight, "message reported");
                Ok(())
            }
            Reported::Already => Ok(()),
            Reported::Unreadable => Err(ApiError::NotFound),
            Reported::Own => Err(ApiError::BadRequest { message: "you cannot report your own message".into() }),
        }
    }

    /// Open review items, front of the queue first, behind `page.before` (an item id).
    pub async fn review_page(&self, _admin: &Admin, page: Page) -> Result<Vec<ReviewItem>, ApiError> {
        let filter = ReviewFilter::Open { before: page.before, limit: page.limit };
        let records = self.store.review_items(filter).await.map_err(internal)?;
        Ok(records.into_iter().map(|record| record.item).collect())
    }

    /// An admin's decision on review item `id`: `approve` (a held message is delivered now, as
    /// a new message), `remove` (the message is removed; a held one is never delivered), or
    /// `strike` (removed, and a warning for its sender as the word filter counts them: the
    /// third blocks). 404 for an unknown item, 409 for one resolved already, 400 for another
    /// action. The resolved item.
    pub async fn decide(&self, admin: &Admin, id: i64, decision: &ReviewDecision) -> Result<ReviewItem, ApiError> {
        let resolution = match decision.action.as_str() {
            "approve" => Resolution::Approved,
            "remove" => Resolution::Removed,
            "strike" => Resolution::Struck,
            _ => return Err(ApiError::BadRequest { message: "action must be approve, remove or strike".into() }),
        };
        let reason = reason(decision.reason.as_deref(), false)?;
        let admin_id = admin.user().id;
        let record = self.review_record(id).await?;
        // Resolved first, atomically: of two admins deciding at once, one acts.
        match self.store.resolve_review(id, admin_id, resolution.as_str(), &reason).await.map_err(internal)? {
            None => return Err(ApiError::NotFound),
            Some(false) => return Err(ApiError::Conflict { message: "this item was resolved already".into() }),
            Some(true) => {}
        }
        let item = &record.item;
        let sender = item.message.sender_id;
        match (resolution, record.message_id) {
            (Resolution::Approved, None) => self.deliver_approved(id, item).await?,
            (Resolution::Approved, Some(_)) => {}
            (Resolution::Removed | Resolution::Struck, Some(message)) => {
                let why = if reason.is_empty() { "review" } else { reason.as_str() };
                self.remove_and_tell(message, admin_id, why).await?;
            }
            // A held message removed is simply never delivered.
            (Resolution::Removed | Resolution::Struck, None) => {}
        }
        if resolution == Resolution::Struck {
            let (warning_count, blocked) = self
                .store
                .record_violation(
                    sender,
                    "admin review",
                    &item.content,
                    Some(item.message.room_id),
                    MAX_WARNINGS,
                    self.strikes_count_since().as_deref(),
                )
                .await
                .map_err(internal)?;
            let strike = Strike { warning_count, blocked };
            if blocked {
                self.hub.disconnect_user(sender);
            } else {
                let text = crate::moderation::removal_warning_text(strike);
                let frame =
                    ServerFrame::Warning { warning_count, max_warnings: MAX_WARNINGS, message: text, client_id: None };
                self.hub.tell(Some(&[sender]), &[], &frame);
            }
        }
        tracing::info!(admin_id, item = id, action = resolution.as_str(), "review item resolved");
        Ok(self.review_record(id).await?.item)
    }

    async fn review_record(&self, id: i64) -> Result<crate::store::ReviewRecord, ApiError> {
        let mut found = self.store.review_items(ReviewFilter::One(id)).await.map_err(internal)?;
        found.pop().ok_or(ApiError::NotFound)
    }

    /// Delivers an approved held message as a new message (a new id, in order with every other
    /// message, so a reconnecting client's `since` catch-up stays exact); the store refuses it
    /// if its sender has left the conversation or been blocked since.
    async fn deliver_approved(&self, id: i64, item: &ReviewItem) -> Result<(), ApiError> {
        let room_id = item.message.room_id;
        let room = if room_id == GENERAL_ROOM_ID {
            "general".to_owned()
        } else {
            match self.store.room(room_id).await.map_err(internal)? {
                Some(record) if record.kind == app::models::RoomKind::Dm => "dm".to_owned(),
                Some(record) => record.name.unwrap_or_default(),
                None => return Ok(()),
            }
        };
        // Its mentions as the conversation's members are now (a held message keeps no reply).
        let mentions = self.mentions_in(room_id, item.message.sender_id, &item.content).await?;
        let message = NewMessage {
            sender_id: item.message.sender_id,
            username: item.message.username.clone(),
            room_id,
            room,
            content: item.content.clone(),
            client_id: item.message.client_id.clone(),
            review: Some(Review::Approved { item: id }),
            reply_to: None,
            mentions,
            search: None,
            // A held message was held before its files were claimed: it carries none.
            attachments: Vec::new(),
            claim: None,
        };
        if self.hub.submit_detached(message).await {
            Ok(())
        } else {
            Err(ApiError::Internal)
        }
    }

    /// With strikes expiring (`strike_expiry_days`), when counting starts now.
    pub(crate) fn strikes_count_since(&self) -> Option<String> {
        self.config.safety.strikes_count_since(chrono::Utc::now())
    }

    /// Where `user`'s account stands: warnings, the cap, and every violation (newest first).
    /// With strikes expiring, the warnings are those that count today.
    pub async fn my_standing(&self, user: &PublicUser) -> Result<Standing, ApiError> {
        let since = self.strikes_count_since();
        let history = self.store.standing_history(user.id, since.as_deref()).await.map_err(internal)?;
        let warnings = match since {
            Some(_) => history.iter().filter(|entry| entry.counted).count() as i64,
            None => user.warning_count,
        };
        Ok(Standing { warnings, max_warnings: MAX_WARNINGS, blocked: user.is_blocked, history })
    }

    /// A blocked person appeals their block: the same checks and answer as a login (401 for a
    /// wrong password, and for an account that is not blocked); the text is required, at most
    /// [`MAX_APPEAL_CHARS`] characters (400) and passes the word filter (422, counting nothing);
    /// 409 when this block has an appeal already.
    pub async fn appeal(&self, request: &AppealRequest, origin: &RequestOrigin) -> Result<AppealCreated, ApiError> {
        let record = self.check_password(&request.username, &request.password, origin).await?;
        if !record.public.is_blocked {
            return Err(ApiError::BadCredentials);
        }
        let text = request.text.trim();
        if text.is_empty() {
            return Err(ApiError::BadRequest { message: "text is required".into() });
        }
        if text.chars().count() > MAX_APPEAL_CHARS {
            return Err(ApiError::BadRequest { message: format!("text is longer than {MAX_APPEAL_CHARS} characters") });
        }
        if self.moderator.check(text).is_some() {
            return Err(ApiError::InvalidInput { message: "the appeal contains a blocked word".into() });
        }
        let user = record.public.id;
        match self.store.create_appeal(user, text).await.map_err(internal)? {
            Some(id) => {
                tracing::info!(user_id = user, appeal = id, "block appealed");
                Ok(AppealCreated { id, state: "open".into() })
            }
            None => Err(ApiError::Conflict { message: "this block has been appealed already".into() }),
        }
    }

    /// Appeals in `state` (`open`, `accepted`, `rejected`; every one without), newest first.
    pub async fn appeals_page(&self, _admin: &Admin, state: Option<&str>, page: Page) -> Result<Vec<Appeal>, ApiError> {
        if state.is_some_and(|s| !matches!(s, "open" | "accepted" | "rejected")) {
            return Err(ApiError::BadRequest { message: "state must be open, accepted or rejected".into() });
        }
        self.store.appeals(state, page.before, page.limit).await.map_err(internal)
    }

    /// Decides appeal `id`: `accept` unblocks the account (warnings reset, as the unblock route
    /// does); `reject` keeps the block, and the person reads `reason` at their next login. 404 for
    /// an unknown appeal, 409 for one decided already, 400 for another decision. Audited.
    pub async fn decide_appeal(&self, admin: &Admin, id: i64, decision: &AppealDecision) -> Result<Appeal, ApiError> {
        let accept = match decision.decision.as_str() {
            "accept" => true,
            "reject" => false,
            _ => return Err(ApiError::BadRequest { message: "decision must be accept or reject".into() }),
        };
        let reason = reason(decision.reason.as_deref(), false)?;
        let admin_id = admin.user().id;
        match self.store.decide_appeal(id, admin_id, accept, &reason).await.map_err(internal)? {
            None => Err(ApiError::NotFound),
            Some(Err(())) => Err(ApiError::Conflict { message: "this appeal was decided already".into() }),
            Some(Ok(appeal)) => {
                tracing::info!(admin_id, appeal = id, accept, "appeal decided");
                Ok(appeal)
            }
        }
    }

    /// Removes message `id` for everyone, audited under `admin` with `reason`: 404 for an unknown
    /// id; removing a removed message changes nothing. Returns once this node told its members.
    pub async fn remove_message(&self, admin: &Admin, id: i64, given_reason: Option<&str>) -> Result<(), ApiError> {
        let reason = reason(given_reason, true)?;
        match self.remove_and_tell(id, admin.user().id, &reason).await? {
            Removal::NotFound => Err(ApiError::NotFound),
            Removal::Already { .. } | Removal::Removed { .. } => Ok(()),
        }
    }

    /// Removes message `id` in the store and, when it was removed now, returns once this node
    /// has told its members (every other node tells its own from the feed).
    async fn remove_and_tell(&self, id: i64, admin_id: i64, reason: &str) -> Result<Removal, ApiError> {
        let removal = self.store.remove_message(id, admin_id, reason).await.map_err(internal)?;
        if let Removal::Removed { room, seq } = removal {
            tracing::info!(admin_id, message_id = id, room_id = room, "admin removed a message");
            self.hub.changed(seq).await;
        }
        Ok(removal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(created_at: &str, warning_count: i64) -> PublicUser {
        PublicUser {
            id: 2,
            username: "r".into(),
            email: "r@x.io".into(),
            is_admin: false,
            is_blocked: false,
            warning_count,
            created_at: created_at.into(),
        }
    }

    #[test]
    fn reports_weigh_by_standing() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-10T12:00:00.000Z").unwrap().to_utc();
        assert_eq!(report_weight(&user("2026-12-01T00:00:00.000Z", 0), 72, now), 1.0, "established, no warnings");
        assert_eq!(report_weight(&user("2026-12-10T11:00:00.000Z", 0), 72, now), 0.5, "an hour old");
        assert_eq!(report_weight(&user("2026-12-01T00:00:00.000Z", 1), 72, now), 0.25, "warned");
        assert_eq!(report_weight(&user("2026-12-10T11:59:59.000Z", 0), 0, now), 1.0, "no age asked");
        assert_eq!(report_weight(&user("not a time", 0), 72, now), 0.5, "an unreadable age is new");
        assert!(3.0 * report_weight(&user("2026-12-01T00:00:00.000Z", 0), 72, now) >= REPORTS_TO_FRONT);
        let new = report_weight(&user("2026-12-10T11:00:00.000Z", 0), 72, now);
        assert!(5.0 * new < REPORTS_TO_FRONT, "five new accounts are not three established ones");
    }

    #[test]
    fn reasons_are_trimmed_bounded_and_required_where_asked() {
        assert_eq!(reason(Some("  spam  "), true).unwrap(), "spam");
        assert!(reason(None, true).is_err());
        assert!(reason(Some("   "), true).is_err());
        assert_eq!(reason(None, false).unwrap(), "");
        assert!(reason(Some(&"x".repeat(MAX_REASON_CHARS)), true).is_ok());
        assert!(reason(Some(&"é".repeat(MAX_REASON_CHARS + 1)), false).is_err());
    }
}
