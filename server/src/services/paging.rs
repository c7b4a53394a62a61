//! Paging, validated once for every door: `before` / `after` cursors (ids) and a `limit` within
//! the list's [`PageRule`]. REST parses it from the query string, server functions from their
//! arguments; both get the same answers (400 `BadRequest` with the same messages).

use app::error::ApiError;
use app::protocol::PageRule;
use std::collections::HashMap;

/// One page of a list ordered by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows with an id below this one (newest first), or from the newest when `None`.
    pub before: Option<i64>,
    /// Rows with an id above this one (oldest first); never together with `before`.
    pub after: Option<i64>,
    pub limit: i64,
}

impl Page {
    /// A page from its parts, checked against `rule`.
    pub fn checked(
        before: Option<i64>,
        after: Option<i64>,
        limit: Option<i64>,
        rule: PageRule,
    ) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(rule.default);
        if !(1..=rule.max).contains(&limit) {
            return Err(ApiError::BadRequest { message: format!("limit must be 1..={}", rule.max) });
        }
        for (name, value) in [("before", before), ("after", after)] {
            if value.is_some_and(|id| id < 0) {
                return Err(non_negative(name));
            }
        }
        if before.is_some() && after.is_some() {
            return Err(ApiError::BadRequest { message: "give before or after, not both".into() });
        }
        Ok(Self { before, after, limit })
    }

    /// A page newest first from a query string's `before` and `limit` (`after` is not read).
    pub fn before_from_query(params: &HashMap<String, String>, rule: PageRule) -> Result<Self, ApiError> {
        Self::checked(optional_number(params, "before")?, None, optional_number(params, "limit")?, rule)
    }

    /// A page oldest first from a query string's `after` and `limit` (`before` is not read).
    pub fn after_from_query(params: &HashMap<String, String>, rule: PageRule) -> Result<Self, ApiError> {
        Self::checked(None, optional_number(params, "after")?, optional_number(params, "limit")?, rule)
    }

    /// A page from a query string's `before`, `after` and `limit`.
    pub fn from_query(params: &HashMap<String, String>, rule: PageRule) -> Result<Self, ApiError> {
        let before = optional_number(params, "before")?;
        let after = optional_number(params, "after")?;
        Self::checked(before, after, optional_number(params, "limit")?, rule)
    }
}

/// A non-negative integer query parameter, if present.
pub fn optional_number(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(non_negative(name)),
        },
    }
}

fn non_negative(name: &str) -> ApiError {
    ApiError::BadRequest { message: format!("{name} must be a non-negative integer") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::{ADMIN_PAGE, HISTORY_PAGE};

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_and_bounds_follow_the_rule() {
        assert_eq!(Page::from_query(&query(&[]), HISTORY_PAGE).unwrap().limit, 50);
        assert_eq!(Page::from_query(&query(&[]), ADMIN_PAGE).unwrap().limit, 100);
        assert!(Page::from_query(&query(&[("limit", "200")]), HISTORY_PAGE).is_ok());
        for bad in ["0", "201", "-1", "x", ""] {
            assert!(Page::from_query(&query(&[("limit", bad)]), HISTORY_PAGE).is_err(), "{bad}");
        }
        assert!(Page::checked(None, None, Some(1001), ADMIN_PAGE).is_err());
    }

    #[test]
    fn cursors_are_ids_and_never_both() {
        let page = Page::from_query(&query(&[("after", "7")]), HISTORY_PAGE).unwrap();
        assert_eq!((page.before, page.after), (None, Some(7)));
        assert!(Page::from_query(&query(&[("before", "abc")]), HISTORY_PAGE).is_err());
        assert!(Page::from_query(&query(&[("before", "1"), ("after", "2")]), HISTORY_PAGE).is_err());
        assert!(Page::checked(None, Some(-3), None, ADMIN_PAGE).is_err());
    }
}
