//! Who may do what ([`Access`]), and the anti-forgery check of the revert form.
//!
//! A revert is a `POST` that must come from the explorer's own confirmation page, by the user
//! it was shown to. Two checks, both needed:
//! - a token in the form: an HMAC (SHA-256, a key only the server knows) over the action, the
//!   object, the version, the user and an expiry. Another site cannot read it (the browser's
//!   same-origin policy), so it cannot forge a form that carries it; it is bound to one user and
//!   one revert and expires after an hour, so a leaked token is worth little. The explorer has
//!   no session of its own to bind it to: the user is the application's.
//! - the browser's own word on where the request comes from: a `Sec-Fetch-Site` other than
//!   `same-origin`/`none`, or an `Origin` whose host is not the request's `Host`, is refused.

use hmac::{Hmac, Mac as _};
use http::HeaderMap;
use http::header::{HOST, ORIGIN};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::store::chain::{hex, unhex};

/// What a request may do in the explorer, as the application's check decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: answered 403.
    Denied,
    /// Read every page and JSON form.
    Read,
    /// Read, and revert objects of the revertible types.
    Write,
}

/// How long a revert form stays valid.
const TOKEN_LIFETIME_SECS: i64 = 3600;

/// The HMAC key of the revert forms' tokens.
#[derive(Clone)]
pub(super) struct CsrfKey(Hmac<Sha256>);

impl CsrfKey {
    /// A random key (two v4 UUIDs' worth of the OS's randomness).
    pub(super) fn random() -> Self {
        let mut seed = Vec::with_capacity(32);
        seed.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self::new(&seed)
    }

    pub(super) fn new(key: &[u8]) -> Self {
        // HMAC takes a key of any length.
        CsrfKey(Hmac::new_from_slice(key).expect("HMAC accepts keys of any length"))
    }

    fn mac(&self, message: &str) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(message.as_bytes());
        mac
    }

    /// A token for reverting `object` to `version` by `user`, valid for an hour.
    pub(super) fn token(&self, user: &str, object: (&str, &str), version: i64) -> String {
        let expires = OffsetDateTime::now_utc().unix_timestamp() + TOKEN_LIFETIME_SECS;
        let tag = self.mac(&message(expires, user, object, version)).finalize().into_bytes();
        format!("{expires}.{}", hex(&tag))
    }

    /// Whether `token` was made by [`token`](Self::token) for the same revert and user, and has
    /// not expired.
    pub(super) fn verify(&self, token: &str, user: &str, object: (&str, &str), version: i64) -> bool {
        let Some((expires, hex)) = token.split_once('.') else { return false };
        let Ok(expires) = expires.parse::<i64>() else { return false };
        if expires < OffsetDateTime::now_utc().unix_timestamp() {
            return false;
        }
        let Some(tag) = unhex(hex) else { return false };
        // Constant time: a mismatch's position must not leak through timing.
        self.mac(&message(expires, user, object, version)).verify_slice(&tag).is_ok()
    }
}

fn message(expires: i64, user: &str, (object_type, object_id): (&str, &str), version: i64) -> String {
    // Each text with its length first: no two different inputs give the same message.
    let field = |text: &str| format!("{}:{text}", text.len());
    format!("revert|{expires}|{}|{}|{}|{version}", field(user), field(object_type), field(object_id))
}

/// Why a `POST` is refused as cross-site, or `None` when the browser says it is same-origin
/// (or says nothing: a non-browser client with a valid token).
pub(super) fn cross_site(headers: &HeaderMap) -> Option<&'static str> {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Some("the browser says this request comes from another site (Sec-Fetch-Site)");
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let host = headers.get(HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, host)| host);
        if origin_host.is_none() || origin_host != host {
            return Some("the Origin header names another site than the Host header");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_for_its_own_revert_and_user() {
        let key = CsrfKey::new(b"k");
        let token = key.token("alice", ("observation", "17"), 3);
        assert!(key.verify(&token, "alice", ("observation", "17"), 3));
        assert!(!key.verify(&token, "bob", ("observation", "17"), 3));
        assert!(!key.verify(&token, "alice", ("observation", "18"), 3));
        assert!(!key.verify(&token, "alice", ("observation", "17"), 4));
        assert!(!CsrfKey::new(b"other").verify(&token, "alice", ("observation", "17"), 3));
        let (_, mac) = token.split_once('.').unwrap();
        assert!(!key.verify(&format!("1.{mac}"), "alice", ("observation", "17"), 3), "expired");
    }

    #[test]
    fn a_damaged_token_is_refused() {
        let key = CsrfKey::new(b"k");
        let token = key.token("alice", ("observation", "17"), 3);
        let object = ("observation", "17");
        let (expires, hex) = token.split_once('.').unwrap();
        let first = if hex.as_bytes()[0] == b'0' { '1' } else { '0' };
        let flipped = format!("{first}{}", &hex[1..]);
        assert!(!key.verify(&format!("{expires}.{flipped}"), "alice", object, 3));
        assert!(!key.verify(&format!("{expires}.{}", &hex[1..]), "alice", object, 3), "odd length");
        assert!(!key.verify(&format!("{expires}.zz{}", &hex[2..]), "alice", object, 3), "not hex");
        assert!(!key.verify(expires, "alice", object, 3), "no tag");
    }
}
