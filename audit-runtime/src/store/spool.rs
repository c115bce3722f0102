//! The local spool: records the database could not take, appended (and fsynced) to a JSON-lines
//! file, and written to the database in order when it returns, also after a restart.
//!
//! Progress through the file is kept in a sidecar `<spool>.offset` written after each batch the
//! database committed, so a drain interrupted by a crash resumes where it stopped. A crash in
//! the instant between a commit and the offset write replays that one batch: records are never
//! lost, and at worst one batch is written twice.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{RevisionRecord, StoreError};
use crate::audit::AuditEntry;

/// What the writer persists.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Record {
    Entry(AuditEntry),
    View { object_type: String, object_id: String, day: String },
    Revision(RevisionRecord),
}

pub(crate) struct Spool {
    path: PathBuf,
    offset_path: PathBuf,
    /// Records not yet in the database.
    pending: u64,
}

impl Spool {
    /// Opens the spool at `path`, counting what an earlier run left in it.
    pub(crate) fn open(path: PathBuf) -> Result<Self, StoreError> {
        let mut offset_path = path.clone().into_os_string();
        offset_path.push(".offset");
        let mut spool = Spool { path, offset_path: PathBuf::from(offset_path), pending: 0 };
        spool.pending = spool.read_pending()?.0.len() as u64;
        Ok(spool)
    }

    /// A spool whose earlier content could not be read: new records are still appended.
    pub(crate) fn unreadable(path: PathBuf) -> Self {
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

    /// Appends records and waits until they are on disk.
    pub(crate) fn append(&mut self, records: &[Record]) -> Result<(), StoreError> {
        let mut text = Vec::with_capacity(records.len() * 256);
        for record in records {
            serde_json::to_writer(&mut text, record).map_err(StoreError::Serialize)?;
            text.push(b'\n');
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path).map_err(|e| self.error(e))?;
        file.write_all(&text).map_err(|e| self.error(e))?;
        file.sync_data().map_err(|e| self.error(e))?;
        self.pending += records.len() as u64;
        Ok(())
    }

    /// The records not yet written, with the byte offset just after each.
    pub(crate) fn read_pending(&self) -> Result<(Vec<Record>, Vec<u64>), StoreError> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
            Err(e) => return Err(self.error(e)),
        };
        let start = match std::fs::read_to_string(&self.offset_path) {
            Ok(text) => text.trim().parse::<u64>().unwrap_or(0),
            Err(_) => 0,
        };
        let mut reader = BufReader::new(file);
        reader.seek(SeekFrom::Start(start)).map_err(|e| self.error(e))?;
        let (mut records, mut ends) = (Vec::new(), Vec::new());
        let mut position = start;
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(|e| self.error(e))?;
            if read == 0 {
                break;
            }
            position += read as u64;
            if !line.ends_with('\n') {
                // A line cut short by a crash during append was never acknowledged: skip it.
                tracing::warn!(spool = %self.path.display(), "audit.spool_partial_line_skipped");
                break;
            }
            let record = serde_json::from_str(&line).map_err(|e| StoreError::Corrupt {
                what: format!("spool {} at byte {}: {e}", self.path.display(), position - read as u64),
            })?;
            records.push(record);
            ends.push(position);
        }
        Ok((records, ends))
    }

    /// Marks everything up to `offset` as written; when that is all, empties the spool.
    pub(crate) fn advance(&mut self, offset: u64, records: u64, everything: bool) -> Result<(), StoreError> {
        if everything {
            let file = OpenOptions::new().write(true).open(&self.path).map_err(|e| self.error(e))?;
            file.set_len(0).map_err(|e| self.error(e))?;
            file.sync_all().map_err(|e| self.error(e))?;
            match std::fs::remove_file(&self.offset_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.error(e)),
            }
            self.pending = 0;
        } else {
            let mut file = File::create(&self.offset_path).map_err(|e| self.error(e))?;
            file.write_all(offset.to_string().as_bytes()).map_err(|e| self.error(e))?;
            file.sync_all().map_err(|e| self.error(e))?;
            self.pending = self.pending.saturating_sub(records);
        }
        Ok(())
    }
}
