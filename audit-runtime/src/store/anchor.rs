//! Anchors: a copy of one chain position (`seq` and hash) kept outside the database, so that
//! what `verify()` cannot see from inside (a truncated tail, a store emptied or deleted, a chain
//! recomputed from scratch) is found by comparing the store with it.

use std::fmt;
use std::str::FromStr;

use super::chain::BrokenEntry;
use super::{AuditStore, StoreError, VerifyReport, db_error};

/// One position of the hash chain: the entry `seq` and its hash, written `SEQ:HEX`
/// (`1042:9f86d081…`, 64 hex digits), as `audit verify` prints it.
///
/// ```
/// use audit_runtime::store::Anchor;
/// let text = format!("1042:{}", "ab".repeat(32));
/// let anchor: Anchor = text.parse().unwrap();
/// assert_eq!(anchor.seq, 1042);
/// assert_eq!(anchor.to_string(), text);
/// assert!("1042".parse::<Anchor>().unwrap_err().to_string().contains("SEQ:HEX"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Anchor {
    /// The entry's position in the chain (1 for the first entry ever written).
    pub seq: i64,
    /// The entry's SHA-256 chain hash, 64 lowercase hex digits.
    pub hash: String,
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// A text that is not an [`Anchor`]; the message names it and the accepted form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid anchor {input:?}: {reason}; expected SEQ:HEX, an entry's sequence number and its 64-hex-digit hash \
     as `audit verify` prints them (such as 1042:9f86d081884c7d65…)"
)]
pub struct AnchorParseError {
    /// The text given (cut to 100 characters).
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for Anchor {
    type Err = AnchorParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| AnchorParseError { input: text.chars().take(100).collect(), reason };
        let trimmed = text.trim();
        let (seq, hash) = trimmed.split_once(':').ok_or_else(|| error("it has no ':'"))?;
        let seq: i64 = seq.parse().map_err(|_| error("the part before ':' is not a whole number"))?;
        if seq < 1 {
            return Err(error("the sequence number must be 1 or more"));
        }
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(error("the part after ':' is not 64 hex digits"));
        }
        Ok(Anchor { seq, hash: hash.to_ascii_lowercase() })
    }
}

impl serde::Serialize for Anchor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Anchor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a store does not hold what an [`Anchor`] saw.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum AnchorMismatch {
    /// The chain itself does not verify.
    Broken {
        /// Where it breaks first.
        entry: BrokenEntry,
    },
    /// The store holds no entry and no purge checkpoint: it was emptied, or replaced by a new one.
    Empty,
    /// The chain ends before the anchored entry: its tail was cut off.
    Truncated {
        /// The newest position the store still has.
        last: i64,
    },
    /// The entry at the anchored position has another hash: the chain was rewritten (recomputed
    /// from scratch, or forked) since the anchor was taken.
    Rewritten {
        /// The hash found at the anchored position.
        found: String,
    },
    /// The anchored entry was purged: the anchor is older than the last purge checkpoint and can
    /// no longer be checked. Anchor a newer head.
    Purged {
        /// The purge checkpoint's position.
        checkpoint: i64,
    },
}

impl fmt::Display for AnchorMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnchorMismatch::Broken { entry } => {
                write!(f, "the chain is broken at entry {}: {}", entry.seq, entry.tampering)
            }
            AnchorMismatch::Empty => f.write_str("the store is empty: it was emptied or replaced"),
            AnchorMismatch::Truncated { last } => {
                write!(f, "the chain ends at entry {last}, before the anchored entry: its tail was removed")
            }
            AnchorMismatch::Rewritten { found } => {
                write!(f, "the anchored entry now has the hash {found}: the chain was rewritten")
            }
            AnchorMismatch::Purged { checkpoint } => write!(
                f,
                "the anchored entry was purged (the purge checkpoint is at entry {checkpoint}): check against a newer anchor"
            ),
        }
    }
}

impl VerifyReport {
    /// The newest chain position when the chain is intact (the newest entry, or the purge
    /// checkpoint when every entry was purged); `None` for an empty store or a broken chain.
    /// Keep it outside the database and check the store against it later with
    /// [`AuditStore::verify_against`].
    pub fn head(&self) -> Option<Anchor> {
        self.head.clone()
    }
}

impl AuditStore {
    /// [`verify`](Self::verify), and then checks that the anchored entry is still there with the
    /// anchored hash: this also finds a truncated tail, an emptied or replaced store, and a chain
    /// recomputed from scratch. `Ok` only when both hold; otherwise
    /// [`StoreError::AnchorMismatch`] says what was found.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), audit_runtime::store::StoreError> {
    /// use audit_runtime::store::{Anchor, AuditStore};
    /// let store = AuditStore::connect("sqlite://audit.db").await?;
    /// let anchor: Anchor = "1042:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".parse().unwrap();
    /// store.verify_against(&anchor).await?;
    /// # Ok(()) }
    /// ```
    pub async fn verify_against(&self, anchor: &Anchor) -> Result<VerifyReport, StoreError> {
        self.verify_against_with_progress(anchor, |_| {}).await
    }

    /// [`verify_against`](Self::verify_against), calling `progress` as
    /// [`verify_with_progress`](Self::verify_with_progress) does.
    pub async fn verify_against_with_progress(
        &self,
        anchor: &Anchor,
        progress: impl FnMut(u64),
    ) -> Result<VerifyReport, StoreError> {
        let report = self.verify_with_progress(progress).await?;
        self.check_anchor(&report, anchor).await?;
        Ok(report)
    }

    /// The second half of [`verify_against`](Self::verify_against): checks `anchor` against a
    /// `report` that [`verify`](Self::verify) just gave, without walking the chain again (for a
    /// tool checking several anchors).
    pub async fn check_anchor(&self, report: &VerifyReport, anchor: &Anchor) -> Result<(), StoreError> {
        let mismatch = |mismatch| Err(StoreError::AnchorMismatch { anchor: anchor.clone(), mismatch });
        if let Some(entry) = &report.first_broken {
            return mismatch(AnchorMismatch::Broken { entry: entry.clone() });
        }
        let Some(head) = report.head() else { return mismatch(AnchorMismatch::Empty) };
        if head.seq < anchor.seq {
            return mismatch(AnchorMismatch::Truncated { last: head.seq });
        }
        let found = match report.checkpoint {
            Some(checkpoint) if anchor.seq < checkpoint => return mismatch(AnchorMismatch::Purged { checkpoint }),
            Some(checkpoint) if anchor.seq == checkpoint => self.checkpoint_hash(checkpoint).await?,
            _ => self.entry_hash(anchor.seq).await?,
        };
        match found {
            Some(found) if found == anchor.hash => Ok(()),
            Some(found) => mismatch(AnchorMismatch::Rewritten { found }),
            // The chain verified from the checkpoint to the head, so every position between was
            // there; a row gone now was removed since.
            None => mismatch(AnchorMismatch::Truncated { last: anchor.seq - 1 }),
        }
    }

    async fn entry_hash(&self, seq: i64) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT hash FROM audit_entries WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(db_error("reading the anchored entry"))
    }

    async fn checkpoint_hash(&self, seq: i64) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT hash FROM audit_checkpoints WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(db_error("reading the purge checkpoint"))
    }
}
