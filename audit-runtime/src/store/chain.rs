//! The hash chain: each stored entry's SHA-256 covers its content and the previous entry's hash,
//! so an edited, deleted, inserted or reordered entry breaks the chain where it happened.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::audit::{Action, Actor, AuditEntry, FieldChange};

use super::StoreError;

/// The `prev_hash` of the first entry.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation: a hash of this chain format can never be confused with another.
const DOMAIN: &[u8] = b"audit-runtime chain v1\n";

/// An entry as its columns hold it: the text that is hashed is the text that is stored, so
/// verification never depends on re-serialising anything.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EntryRow {
    pub(crate) seq: i64,
    pub(crate) time_us: i64,
    pub(crate) actor_kind: String,
    pub(crate) actor_id: String,
    pub(crate) action: String,
    pub(crate) object_type: String,
    pub(crate) object_id: String,
    pub(crate) object_repr: String,
    pub(crate) message: String,
    pub(crate) changes: String,
    pub(crate) request_id: Option<String>,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

impl EntryRow {
    /// The columns of `entry`; `seq`, `prev_hash` and `hash` are set when it is appended.
    pub(crate) fn from_entry(entry: &AuditEntry) -> Result<Self, StoreError> {
        let (actor_kind, actor_id) = actor_columns(&entry.actor);
        Ok(EntryRow {
            seq: 0,
            time_us: unix_micros(entry.time),
            actor_kind: actor_kind.to_owned(),
            actor_id: storable(actor_id),
            action: entry.action.as_str().to_owned(),
            object_type: storable(&entry.object_type),
            object_id: storable(&entry.object_id),
            object_repr: storable(&entry.object_repr),
            message: storable(&entry.message),
            // JSON text: serde_json writes NUL as `\u0000`, so nothing to replace.
            changes: serde_json::to_string(&entry.changes).map_err(StoreError::Serialize)?,
            request_id: entry.request_id.as_deref().map(storable),
            prev_hash: String::new(),
            hash: String::new(),
        })
    }

    /// Places the row after `prev` (`None` for the first) and computes its hash.
    pub(crate) fn chain_after(&mut self, seq: i64, prev_hash: &str) {
        self.seq = seq;
        self.prev_hash = prev_hash.to_owned();
        self.hash = self.compute_hash();
    }

    /// SHA-256 over every column but `hash`, each length-prefixed so no two rows share an encoding.
    pub(crate) fn compute_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN);
        // The numbers as decimal text, formatted on the stack (this runs once per entry).
        let (mut seq, mut time) = (itoa::Buffer::new(), itoa::Buffer::new());
        let fields: [Option<&str>; 12] = [
            Some(seq.format(self.seq)),
            Some(time.format(self.time_us)),
            Some(&self.actor_kind),
            Some(&self.actor_id),
            Some(&self.action),
            Some(&self.object_type),
            Some(&self.object_id),
            Some(&self.object_repr),
            Some(&self.message),
            Some(&self.changes),
            self.request_id.as_deref(),
            Some(&self.prev_hash),
        ];
        for field in fields {
            match field {
                Some(text) => {
                    hasher.update((text.len() as u64).to_be_bytes());
                    hasher.update(text.as_bytes());
                }
                None => hasher.update(u64::MAX.to_be_bytes()),
            }
        }
        hex(&hasher.finalize())
    }

    /// The entry back from its columns.
    pub(crate) fn to_entry(&self) -> Result<AuditEntry, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt { what: format!("entry {}: {what}", self.seq) };
        let actor = match self.actor_kind.as_str() {
            "user" => Actor::user(&self.actor_id),
            "system" => Actor::system(self.actor_id.clone()),
            other => return Err(corrupt(format!("unknown actor kind {other:?}"))),
        };
        let action = parse_action(&self.action).ok_or_else(|| corrupt(format!("unknown action {:?}", self.action)))?;
        let changes: Vec<FieldChange> =
            serde_json::from_str(&self.changes).map_err(|e| corrupt(format!("changes are not valid JSON: {e}")))?;
        Ok(AuditEntry {
            time: from_unix_micros(self.time_us),
            actor,
            action,
            object_type: self.object_type.clone(),
            object_id: self.object_id.clone(),
            object_repr: self.object_repr.clone(),
            message: self.message.clone(),
            changes,
            request_id: self.request_id.clone(),
        })
    }
}

/// Text as both databases store it: PostgreSQL refuses NUL in `TEXT`, and a record it refuses
/// would block every record behind it, so NUL becomes U+FFFD (on SQLite too, for one behaviour).
pub(crate) fn storable(text: &str) -> String {
    if text.contains('\0') { text.replace('\0', "\u{fffd}") } else { text.to_owned() }
}

/// `(kind, id)` columns of an actor.
pub(crate) fn actor_columns(actor: &Actor) -> (&'static str, &str) {
    match actor {
        Actor::User { id } => ("user", id),
        Actor::System { name } => ("system", name),
    }
}

/// The actor back from its columns, when both are present.
pub(crate) fn actor_from_columns(kind: Option<&str>, id: Option<String>) -> Option<Actor> {
    match (kind, id) {
        (Some("user"), Some(id)) => Some(Actor::User { id }),
        (Some("system"), Some(name)) => Some(Actor::System { name }),
        _ => None,
    }
}

pub(crate) fn parse_action(text: &str) -> Option<Action> {
    [Action::Create, Action::Change, Action::Delete, Action::View].into_iter().find(|a| a.as_str() == text)
}

pub(crate) fn unix_micros(time: OffsetDateTime) -> i64 {
    (time.unix_timestamp_nanos() / 1_000) as i64
}

pub(crate) fn from_unix_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Lower-case hex digits of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// The bytes `text` spells in hex digits (either case), or `None` when it is not hex.
#[cfg_attr(not(any(feature = "witness", feature = "explorer")), allow(dead_code))]
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// What is wrong at the first broken place of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tampering {
    /// The entry's content (or its position) no longer matches its hash: it was edited.
    Edited,
    /// Entries are missing before this one: deleted (or purged without a checkpoint).
    Deleted,
    /// The entry's hash is consistent but it does not follow the entry before it: it was
    /// inserted, or entries were reordered.
    InsertedOrReordered,
    /// The oldest remaining entry does not continue the last purge checkpoint.
    CheckpointMismatch,
    /// A revision or version row differs from what the chain attests, or no entry attests it
    /// (forged); `seq` is the attesting entry (0 when none).
    RevisionAltered,
    /// The view counts differ from the counts the chain attests.
    ViewCountsAltered,
    /// The newest purge checkpoint is not one the chain names: forged.
    CheckpointForged,
    /// The object index (an object's list of entries, or its newest entry) does not match the
    /// chain: entries would be hidden from its history.
    ObjectIndexAltered,
}

impl std::fmt::Display for Tampering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tampering::Edited => "edited: its content no longer matches its hash",
            Tampering::Deleted => "entries before it were deleted",
            Tampering::InsertedOrReordered => "inserted or reordered: it does not follow the entry before it",
            Tampering::CheckpointMismatch => "it does not continue the last purge checkpoint",
            Tampering::RevisionAltered => "a revision or version differs from what the chain attests",
            Tampering::ViewCountsAltered => "the view counts differ from what the chain attests",
            Tampering::CheckpointForged => "the newest purge checkpoint is not one the chain names",
            Tampering::ObjectIndexAltered => "the object index does not match the chain",
        })
    }
}

/// Where the chain breaks first.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BrokenEntry {
    /// The chain position (`seq`) of the first entry that does not verify.
    pub seq: i64,
    /// What is wrong there.
    pub tampering: Tampering,
}

/// Walks rows in `seq` order and finds the first break. Stateful so rows can be streamed.
pub(crate) struct ChainWalker {
    expected_seq: i64,
    prev_hash: String,
    pub(crate) checked: u64,
}

impl ChainWalker {
    /// Starts after a checkpoint (`seq`, `hash`), or at the genesis.
    pub(crate) fn new(checkpoint: Option<(i64, String)>) -> Self {
        let (seq, hash) = checkpoint.unwrap_or((0, GENESIS.to_owned()));
        ChainWalker { expected_seq: seq + 1, prev_hash: hash, checked: 0 }
    }

    /// Checks the next row; the first break found is returned.
    pub(crate) fn check(&mut self, row: &EntryRow, after_checkpoint: bool) -> Option<BrokenEntry> {
        self.checked += 1;
        let broken = |tampering| Some(BrokenEntry { seq: row.seq, tampering });
        if row.compute_hash() != row.hash {
            return broken(Tampering::Edited);
        }
        if row.seq > self.expected_seq {
            return broken(Tampering::Deleted);
        }
        if row.prev_hash != self.prev_hash || row.seq < self.expected_seq {
            return broken(if self.checked == 1 && after_checkpoint {
                Tampering::CheckpointMismatch
            } else {
                Tampering::InsertedOrReordered
            });
        }
        self.expected_seq = row.seq + 1;
        self.prev_hash.clone_from(&row.hash);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, prev: &str) -> EntryRow {
        let mut row = EntryRow {
            seq: 0,
            time_us: 1_700_000_000_000_000,
            actor_kind: "user".into(),
            actor_id: "42".into(),
            action: "change".into(),
            object_type: "observation".into(),
            object_id: "17".into(),
            object_repr: "Observation 17".into(),
            message: "changed value".into(),
            changes: "[]".into(),
            request_id: None,
            prev_hash: String::new(),
            hash: String::new(),
        };
        row.chain_after(seq, prev);
        row
    }

    fn chain(n: i64) -> Vec<EntryRow> {
        let mut rows: Vec<EntryRow> = Vec::new();
        for seq in 1..=n {
            let prev = rows.last().map_or(GENESIS.to_owned(), |r: &EntryRow| r.hash.clone());
            rows.push(row(seq, &prev));
        }
        rows
    }

    fn first_break(rows: &[EntryRow]) -> Option<BrokenEntry> {
        let mut walker = ChainWalker::new(None);
        rows.iter().find_map(|r| walker.check(r, false))
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(first_break(&chain(5)), None);
    }

    #[test]
    fn each_kind_of_tampering_is_found_where_it_happened() {
        let mut edited = chain(5);
        edited[2].message = "nothing happened".into();
        assert_eq!(first_break(&edited), Some(BrokenEntry { seq: 3, tampering: Tampering::Edited }));

        let mut deleted = chain(5);
        deleted.remove(2);
        assert_eq!(first_break(&deleted), Some(BrokenEntry { seq: 4, tampering: Tampering::Deleted }));

        let mut reordered = chain(5);
        reordered.swap(1, 2);
        assert!(first_break(&reordered).is_some_and(|b| b.seq == 3));

        // A forged entry with a self-consistent hash, appended to the chain it does not follow.
        let mut inserted = chain(3);
        inserted.push(row(4, GENESIS));
        assert_eq!(first_break(&inserted), Some(BrokenEntry { seq: 4, tampering: Tampering::InsertedOrReordered }));
    }

    #[test]
    fn the_hash_covers_the_numbers_as_decimal_text() {
        // The chain's format, spelled out independently of `compute_hash`.
        let mut row = row(-3, GENESIS);
        row.time_us = -1_700_000_000_000_000;
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN);
        let (seq, time) = (row.seq.to_string(), row.time_us.to_string());
        let texts =
            [seq.as_str(), &time, "user", "42", "change", "observation", "17", "Observation 17", "changed value"];
        for text in texts.into_iter().chain(["[]"]) {
            hasher.update((text.len() as u64).to_be_bytes());
            hasher.update(text.as_bytes());
        }
        hasher.update(u64::MAX.to_be_bytes()); // no request id
        hasher.update((GENESIS.len() as u64).to_be_bytes());
        hasher.update(GENESIS.as_bytes());
        assert_eq!(row.compute_hash(), hex(&hasher.finalize()));
    }

    #[test]
    fn null_and_empty_request_ids_hash_differently() {
        let mut a = row(1, GENESIS);
        a.request_id = Some(String::new());
        assert_ne!(a.compute_hash(), row(1, GENESIS).compute_hash());
    }
}
