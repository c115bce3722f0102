//! The store's own events, declared once so that they are in the catalog.

use crate::log_event;

/// The writer could not write a batch to the database (unreachable, stalled past the write
/// timeout, or refused); the records go to the spool and are written when it is back.
#[log_event(name = "audit.write_failed", level = "warning", group = "Audit store")]
pub struct WriteFailed<'a> {
    /// Records in the batch.
    pub records: u64,
    /// The spool file that keeps them meanwhile.
    pub spool: &'a str,
    /// What went wrong (no password is ever part of it).
    pub reason: &'a str,
}

/// The database took a batch again after failures.
#[log_event(name = "audit.store_recovered", level = "info", group = "Audit store")]
pub struct StoreRecovered<'a> {
    /// The database, password hidden.
    pub url: &'a str,
}

/// Records could be kept neither in the database nor on local disk and were lost; counted in
/// `AuditorStats::lost`, and the next `flush()` returns an error.
#[log_event(name = "audit.records_lost", level = "critical", group = "Audit store")]
pub struct RecordsLost<'a> {
    /// Records lost.
    pub records: u64,
    /// Why.
    pub reason: &'a str,
}

/// Records held in memory because neither the database nor the spool's disk took them; they
/// are written as soon as either does.
#[log_event(name = "audit.records_held", level = "error", group = "Audit store")]
pub struct RecordsHeld<'a> {
    /// Records held in memory.
    pub records: u64,
    /// Why the spool refused them.
    pub reason: &'a str,
}

/// A spool left by an earlier run was found; its records are written first.
#[log_event(name = "audit.spool_found", level = "info", group = "Audit store")]
pub struct SpoolFound<'a> {
    /// Records waiting in it.
    pub records: u64,
    /// The spool file.
    pub spool: &'a str,
}

/// The writer stopped with records still in the spool (the database was unreachable).
#[log_event(name = "audit.spool_left", level = "warning", group = "Audit store")]
pub struct SpoolLeft<'a> {
    /// Records left in the spool.
    pub records: u64,
    /// The spool file.
    pub spool: &'a str,
}

/// Every spooled record is in the database now.
#[log_event(name = "audit.spool_drained", level = "info", group = "Audit store")]
pub struct SpoolDrained {
    /// Records written from the spool.
    pub records: u64,
}

/// A record was refused because the auditor had been shut down.
#[log_event(name = "audit.record_refused", level = "error", group = "Audit store")]
pub struct RecordRefused<'a> {
    /// Why.
    pub reason: &'a str,
}

/// The writer's WAL checkpoint failed (SQLite); the automatic checkpoint remains.
#[log_event(name = "audit.checkpoint_failed", level = "debug", group = "Audit store")]
pub struct CheckpointFailed<'a> {
    /// The driver's message.
    pub reason: &'a str,
}

/// A transaction could not be rolled back after an error (the connection is dropped).
#[log_event(name = "audit.rollback_failed", level = "warning", group = "Audit store")]
pub struct RollbackFailed<'a> {
    /// The driver's message.
    pub reason: &'a str,
}

/// Old entries were removed by `purge_before`, leaving a checkpoint.
#[log_event(name = "audit.purged", level = "info", group = "Audit store")]
pub struct Purged {
    /// Entries removed.
    pub removed: u64,
    /// The `seq` of the checkpoint left in their place.
    pub checkpoint: i64,
}

/// The audit tables were brought to a newer schema version.
#[log_event(name = "audit.schema_migrated", level = "info", group = "Audit store")]
pub struct SchemaMigrated {
    /// The version applied.
    pub schema_version: i64,
}

/// Damaged bytes in a spool or journal file (not a valid record) were moved to a file of their
/// own; every valid record around them was kept.
#[log_event(name = "audit.damaged_records_quarantined", level = "error", group = "Audit store")]
pub struct DamagedRecordsQuarantined<'a> {
    /// The spool or journal file.
    pub file: &'a str,
    /// Damaged bytes.
    pub bytes: u64,
    /// Where they are kept.
    pub quarantine: &'a str,
}

/// Damaged bytes in a spool or journal file could not even be saved aside.
#[log_event(name = "audit.damaged_records_unsaved", level = "critical", group = "Audit store")]
pub struct DamagedRecordsUnsaved<'a> {
    /// The spool or journal file.
    pub file: &'a str,
    /// Damaged bytes.
    pub bytes: u64,
    /// Why they could not be saved.
    pub reason: &'a str,
}

/// The database refused a record for what it holds (not for an outage); it was moved to the
/// quarantine file so that the records behind it are written.
#[log_event(name = "audit.record_quarantined", level = "error", group = "Audit store")]
pub struct RecordQuarantined<'a> {
    /// The record's identity (`writer:number`).
    pub record: &'a str,
    /// The quarantine file.
    pub quarantine: &'a str,
    /// The database's reason.
    pub reason: &'a str,
}

/// Records of an earlier run were found in the journal; those not yet stored are written.
#[log_event(name = "audit.journal_recovered", level = "info", group = "Audit store")]
pub struct JournalRecovered<'a> {
    /// Records found.
    pub records: u64,
    /// The journal directory.
    pub journal: &'a str,
}

/// The journal could not be written (a full disk?): the records still go to the database, but a
/// crash before that would lose them.
#[log_event(name = "audit.journal_write_failed", level = "error", group = "Audit store")]
pub struct JournalWriteFailed<'a> {
    /// The journal directory.
    pub journal: &'a str,
    /// The I/O error.
    pub reason: &'a str,
}
