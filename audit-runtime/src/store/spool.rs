//! The local spool: records the database could not take, appended (and fsynced) to a file of
//! checksummed frames (see `record_log.rs`), and written to the database in order when it
//! returns, also after a restart.
//!
//! Progress through the file is kept in a sidecar `<spool>.offset`, replaced atomically after
//! each batch the database committed. A crash between a commit and the offset write replays
//! that batch, and the records' identities make the replay store nothing twice. Damaged bytes
//! found when the spool is opened are moved to a file of their own, which is named in the log;
//! every valid record around them is kept.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use super::StoreError;
use super::record::Record;
use super::record_log;

pub(crate) struct Spool {
    path: PathBuf,
    offset_path: PathBuf,
    /// Records not yet in the database.
    pending: u64,
}

impl Spool {
    /// Opens the spool at `path`, counting what an earlier run left in it. Damaged stretches
    /// are quarantined and the file is rewritten with the valid records only.
    pub(crate) fn open(path: PathBuf) -> Result<Self, StoreError> {
        let mut offset_path = path.clone().into_os_string();
        offset_path.push(".offset");
        let mut spool = Spool { path, offset_path: PathBuf::from(offset_path), pending: 0 };
        let offset = spool.offset();
        let bytes = record_log::read_from(&spool.path, offset).map_err(|e| spool.error(e))?;
        let legacy = offset == 0 && bytes.first() == Some(&b'{');
        let decoded = if legacy { legacy_lines(&bytes) } else { record_log::decode(&bytes, offset) };
        if legacy || !decoded.damaged.is_empty() || decoded.torn_tail > 0 {
            record_log::quarantine(&spool.path, &decoded.damaged);
            let mut clean = Vec::new();
            for (record, _) in &decoded.records {
                record_log::encode(record, &mut clean)?;
            }
            // The offset goes first: a crash in between replays records (harmless), never
            // skips them.
            remove_if_present(&spool.offset_path).map_err(|e| spool.error(e))?;
            record_log::write_atomically(&spool.path, &clean).map_err(|e| spool.error(e))?;
        }
        spool.pending = decoded.records.len() as u64;
        Ok(spool)
    }

    /// A spool whose earlier content could not be read: new records are still appended.
    pub(crate) fn empty(path: PathBuf) -> Self {
        let mut offset_path = path.clone().into_os_string();
        offset_path.push(".offset");
        Spool { path, offset_path: PathBuf::from(offset_path), pending: 0 }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn pending(&self) -> u64 {
        self.pending
    }

    fn error(&self, source: std::io::Error) -> StoreError {
        StoreError::Spool { path: self.path.display().to_string(), source }
    }

    /// Where unwritten records start: the sidecar's offset, when it is a number within the file.
    fn offset(&self) -> u64 {
        let length = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        std::fs::read_to_string(&self.offset_path)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .filter(|offset| *offset <= length)
            .unwrap_or(0)
    }

    /// Appends records and waits until they are on disk. On error nothing of them stays in
    /// the file.
    pub(crate) fn append(&mut self, records: &[Record]) -> Result<(), StoreError> {
        let mut bytes = Vec::with_capacity(records.len() * 256);
        for record in records {
            record_log::encode(record, &mut bytes)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&self.path).map_err(|e| self.error(e))?;
        record_log::append_durably(&file, &bytes).map_err(|e| self.error(e))?;
        self.pending += records.len() as u64;
        Ok(())
    }

    /// The records not yet written, with the byte offset just after each.
    pub(crate) fn read_pending(&self) -> Result<Vec<(Record, u64)>, StoreError> {
        let offset = self.offset();
        let bytes = record_log::read_from(&self.path, offset).map_err(|e| self.error(e))?;
        let decoded = record_log::decode(&bytes, offset);
        // Damage appearing while the spool is in use (another program writing into it):
        // kept aside like at start, and the valid records still go.
        record_log::quarantine(&self.path, &decoded.damaged);
        Ok(decoded.records)
    }

    /// Marks everything up to `offset` as written; when that is all, empties the spool.
    pub(crate) fn advance(&mut self, offset: u64, records: u64, everything: bool) -> Result<(), StoreError> {
        if everything {
            remove_if_present(&self.offset_path).map_err(|e| self.error(e))?;
            let file = OpenOptions::new().write(true).open(&self.path).map_err(|e| self.error(e))?;
            file.set_len(0).map_err(|e| self.error(e))?;
            file.sync_all().map_err(|e| self.error(e))?;
            self.pending = 0;
        } else {
            record_log::write_atomically(&self.offset_path, offset.to_string().as_bytes())
                .map_err(|e| self.error(e))?;
            self.pending = self.pending.saturating_sub(records);
        }
        Ok(())
    }
}

/// A spool of the JSON-lines format earlier releases wrote: its records get an identity of
/// their own (they were never stored, or the old format would not have kept them) and the file
/// is rewritten in frames.
fn legacy_lines(bytes: &[u8]) -> record_log::Decoded {
    let origin = super::record::new_origin();
    let mut decoded = record_log::Decoded::default();
    let mut at = 0u64;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        let start = at;
        at += line.len() as u64;
        if !line.ends_with(b"\n") {
            decoded.torn_tail = line.len();
            break;
        }
        match serde_json::from_slice::<super::record::RecordBody>(line) {
            Ok(body) => {
                let number = decoded.records.len() as u64 + 1;
                decoded.records.push((Record { origin: origin.clone(), number, body }, at));
            }
            Err(_) => decoded.damaged.push((start, line.to_vec())),
        }
    }
    decoded
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Appends records the database refused for what they hold to `path`, one frame each.
pub(crate) fn quarantine_records(path: &Path, records: &[Record]) -> Result<(), std::io::Error> {
    let mut bytes = Vec::new();
    for record in records {
        record_log::encode(record, &mut bytes).map_err(std::io::Error::other)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    record_log::append_durably(&file, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_of_the_earlier_json_lines_format_is_read_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.spool");
        let view = r#"{"kind":"view","object_type":"observation","object_id":"17","day":"2026-01-01"}"#;
        std::fs::write(&path, format!("{view}\n{view}\nnot json\n{view}\n{{\"kind\":\"vi")).unwrap();
        let spool = Spool::open(path.clone()).unwrap();
        assert_eq!(spool.pending(), 3);
        let records = spool.read_pending().unwrap();
        let numbers: Vec<u64> = records.iter().map(|(r, _)| r.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        // Rewritten as frames: a second open reads the same records.
        assert_eq!(Spool::open(path).unwrap().pending(), 3);
    }
}
