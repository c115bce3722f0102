//! The pages' query parameters, parsed with errors that name the parameter and what it accepts.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, Time};

use crate::audit::{Action, Actor};
use crate::http::ApiError;
use crate::store::EntryQuery;

/// Entries per page unless `limit` says otherwise, and the most a page shows.
pub(super) const DEFAULT_LIMIT: u32 = 50;
pub(super) const MAX_LIMIT: u32 = 500;

/// The query string, as pairs; every parameter is checked against the names a page accepts.
pub(super) struct Params {
    values: HashMap<String, String>,
}

fn invalid(name: &str, reason: String) -> ApiError {
    ApiError::new(400, "invalid", "Invalid query parameter.").with_invalid_param(name, "invalid", reason)
}

impl Params {
    /// Parses `query`; a parameter not in `accepted` is an error listing those that are.
    pub(super) fn parse(query: Option<&str>, accepted: &[&str]) -> Result<Self, ApiError> {
        let mut values = HashMap::new();
        for pair in query.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name).ok_or_else(|| invalid("", "the query string is not valid UTF-8".into()))?;
            let value = decode(value).ok_or_else(|| invalid(&name, "not valid UTF-8 once decoded".into()))?;
            if !accepted.contains(&name.as_str()) {
                return Err(invalid(&name, format!("unknown parameter; accepted: {}", accepted.join(", "))));
            }
            // Empty form fields mean "not given".
            if !value.trim().is_empty() {
                values.insert(name, value.trim().to_owned());
            }
        }
        Ok(Params { values })
    }

    pub(super) fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub(super) fn number(&self, name: &str, accepted: &str) -> Result<Option<i64>, ApiError> {
        self.text(name)
            .map(|text| text.parse::<i64>().map_err(|_| invalid(name, format!("{text:?} is not {accepted}"))))
            .transpose()
    }

    /// `name` as a whole number in `range` (`accepted` says so in words), `default` when not
    /// given.
    pub(super) fn number_in(
        &self,
        name: &str,
        range: RangeInclusive<i64>,
        default: i64,
        accepted: &str,
    ) -> Result<i64, ApiError> {
        match self.number(name, accepted)? {
            None => Ok(default),
            Some(number) if range.contains(&number) => Ok(number),
            Some(number) => Err(invalid(name, format!("{number} is not {accepted}"))),
        }
    }

    /// `limit`: 1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
    pub(super) fn limit(&self) -> Result<u32, ApiError> {
        let accepted = format!("a whole number from 1 to {MAX_LIMIT}");
        let limit = self.number_in("limit", 1..=i64::from(MAX_LIMIT), i64::from(DEFAULT_LIMIT), &accepted)?;
        Ok(limit as u32)
    }

    /// `before`: the keyset cursor, the `seq` of the last entry of the previous page.
    pub(super) fn before(&self) -> Result<Option<i64>, ApiError> {
        self.number("before", "an entry's seq (a whole number), as the previous page's `next` link gives it")
    }

    fn time(&self, name: &str, end_of_day: bool) -> Result<Option<OffsetDateTime>, ApiError> {
        let Some(text) = self.text(name) else { return Ok(None) };
        if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
            return Ok(Some(time));
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        match Date::parse(text, &format) {
            // A day as `until` includes that whole day.
            Ok(day) if end_of_day => Ok(day.next_day().map(|next| next.with_time(Time::MIDNIGHT).assume_utc())),
            Ok(day) => Ok(Some(day.with_time(Time::MIDNIGHT).assume_utc())),
            Err(_) => Err(invalid(
                name,
                format!("{text:?} is not a time: use RFC 3339 (2025-05-19T14:09:20Z) or a day (2025-05-19)"),
            )),
        }
    }

    /// The search form's filters as a store query (without `limit`).
    pub(super) fn entry_query(&self) -> Result<EntryQuery, ApiError> {
        let mut query = EntryQuery::new();
        match (self.text("object_type"), self.text("object_id")) {
            (Some(object_type), Some(object_id)) => query = query.object(object_type, object_id),
            (Some(object_type), None) => query = query.object_type(object_type),
            (None, Some(_)) => {
                return Err(invalid("object_id", "an object id needs its object_type too".into()));
            }
            (None, None) => {}
        }
        if let Some(actor) = self.text("actor") {
            query = query.actor(&parse_actor(actor));
        }
        if let Some(action) = self.text("action") {
            query = query.action(parse_action(action)?);
        }
        if let Some(request_id) = self.text("request_id") {
            query = query.request_id(request_id);
        }
        if let Some(since) = self.time("since", false)? {
            query = query.since(since);
        }
        if let Some(until) = self.time("until", true)? {
            query = query.until(until);
        }
        if let Some(before) = self.before()? {
            query = query.before(before);
        }
        Ok(query)
    }

    /// The filters as a query string (encoded), without the cursor: for the next page's link.
    pub(super) fn filters_query(&self, names: &[&str]) -> String {
        names
            .iter()
            .filter_map(|name| self.text(name).map(|value| format!("{name}={}", super::links::encode(value))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// `system:NAME` is a system actor; anything else (optionally `user:ID`) a user id.
pub(super) fn parse_actor(text: &str) -> Actor {
    match text.split_once(':') {
        Some(("system", name)) => Actor::system(name),
        Some(("user", id)) => Actor::user(id),
        _ => Actor::user(text),
    }
}

fn parse_action(text: &str) -> Result<Action, ApiError> {
    [Action::Create, Action::Change, Action::Delete, Action::View]
        .into_iter()
        .find(|action| action.as_str() == text)
        .ok_or_else(|| invalid("action", format!("{text:?} is not an action; accepted: create, change, delete, view")))
}

/// Percent-decoding of a query component (`+` is a space, as HTML forms send it); `None` when
/// a `%` is followed by two characters that are not hex digits, or the decoded bytes are not
/// UTF-8. (A `%` too near the end to start an escape stays a `%`.)
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let malformed = text
        .match_indices('%')
        .any(|(at, _)| bytes.get(at + 1..at + 3).is_some_and(|digits| !digits.iter().all(u8::is_ascii_hexdigit)));
    if malformed {
        return None;
    }
    // `+` first: an encoded plus (`%2B`) stays a plus.
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(|text| text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms_and_percent_escapes() {
        assert_eq!(decode("a+b%20c%2Fd").as_deref(), Some("a b c/d"));
        assert_eq!(decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(decode("%FF"), None);
        assert_eq!(decode("100%").as_deref(), Some("100%"));
        assert_eq!(decode("a%zzb"), None, "a malformed escape");
        assert_eq!(decode("%2B+").as_deref(), Some("+ "));
    }

    #[test]
    fn an_unknown_parameter_names_the_accepted_ones() {
        let error = Params::parse(Some("colour=red"), &["limit", "before"]).err().unwrap();
        assert_eq!(error.invalid_params()[0].name, "colour");
        assert!(error.invalid_params()[0].reason.contains("limit, before"));
    }
}
