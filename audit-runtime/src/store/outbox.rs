//! Audit records written inside the application's own transaction.
//!
//! [`Auditor::in_transaction`] writes each record as one row of `audit_outbox`, on the
//! application's connection, inside its transaction: the rows commit with the business change
//! or vanish with its rollback, and writing them takes no lock but the row's own (the chain's
//! lock is never held inside an application transaction). The `Auditor`'s writer then seals
//! committed rows into the hash chain, oldest row first, deleting exactly the rows it appended
//! in the same transaction, so each row is sealed once, also by another replica's writer or
//! after a restart.

use std::future::Future;
use std::pin::Pin;

use time::OffsetDateTime;

use super::auditor::{revision_record, version_record};
use super::chain::unix_micros;
use super::conn::{WriteConn, on_conn};
use super::record::{RecordBody, VersionRecord};
use super::{Auditor, Backend, StoreError, db_error};
use crate::audit::{self, Action, Actor, Audited};

/// A transaction [`Auditor::in_transaction`] can write into: `sqlx::Transaction` on SQLite
/// (feature `sqlite`) or PostgreSQL (feature `postgres`), on the audit store's database.
pub trait AuditTransaction: Send + sealed::Sealed {
    #[doc(hidden)]
    fn backend(&self) -> Backend;

    #[doc(hidden)]
    fn insert_outbox<'a>(
        &'a mut self,
        created_us: i64,
        record: String,
    ) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'a>>;
}

mod sealed {
    pub trait Sealed {}
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
const INSERT: &str = "INSERT INTO audit_outbox (created_us, record) VALUES ($1, $2)";

/// The outbox insert on one driver's transaction: the same statement on both.
macro_rules! audit_transaction {
    ($feature:literal, $database:ty, $backend:expr) => {
        #[cfg(feature = $feature)]
        impl sealed::Sealed for sqlx::Transaction<'_, $database> {}

        #[cfg(feature = $feature)]
        impl AuditTransaction for sqlx::Transaction<'_, $database> {
            fn backend(&self) -> Backend {
                $backend
            }

            fn insert_outbox<'a>(
                &'a mut self,
                created_us: i64,
                record: String,
            ) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'a>> {
                Box::pin(async move {
                    sqlx::query(INSERT).bind(created_us).bind(record).execute(&mut **self).await.map(drop)
                })
            }
        }
    };
}

audit_transaction!("sqlite", sqlx::Sqlite, Backend::Sqlite);
audit_transaction!("postgres", sqlx::Postgres, Backend::Postgres);

impl Auditor {
    /// Records inside the application's transaction `tx` (on the store's database): the
    /// entries commit with it or vanish with its rollback, and join the hash chain once the
    /// `Auditor` seals them after the commit (within its outbox poll interval, 200 ms by
    /// default, or at the next [`flush`](Auditor::flush); also after a restart, by any
    /// `Auditor` on the store). Sealing many rows at each poll, rather than each row as soon as
    /// it is written, keeps the chain's lock out of the way of the application's transactions.
    ///
    /// The `audit.action` / `audit.change` log line is written when the call is made, before
    /// the transaction's fate is known.
    ///
    /// ```no_run
    /// # async fn demo(pool: sqlx::SqlitePool, auditor: audit_runtime::store::Auditor) -> Result<(), Box<dyn std::error::Error>> {
    /// # #[derive(audit_runtime::Audited, Clone, serde::Serialize)]
    /// # struct Observation { id: i64, value: f64 }
    /// # let (old, new) = (Observation { id: 17, value: 37.0 }, Observation { id: 17, value: 38.2 });
    /// use audit_runtime::{Action, Actor};
    /// let actor = Actor::user(42);
    /// let mut tx = pool.begin().await?;
    /// sqlx::query("UPDATE observation SET value = $1 WHERE id = $2").bind(38.2).bind(17).execute(&mut *tx).await?;
    /// {
    ///     let mut audit = auditor.in_transaction(&mut tx);
    ///     audit.track_change(&actor, &old, &new).await?;
    ///     audit.log_action(&actor, Action::Change, &new, "changed value").await?;
    /// }
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub fn in_transaction<'a, X: AuditTransaction + ?Sized>(&'a self, tx: &'a mut X) -> InTransaction<'a, X> {
        InTransaction { auditor: self, tx }
    }
}

/// The recording calls of an [`Auditor`], inside an application transaction; from
/// [`Auditor::in_transaction`].
pub struct InTransaction<'a, X: ?Sized> {
    auditor: &'a Auditor,
    tx: &'a mut X,
}

impl<'a, X: AuditTransaction + ?Sized> InTransaction<'a, X> {
    /// Records an action on an object (and logs it as `audit.action`).
    pub async fn log_action<T: Audited>(
        &mut self,
        actor: &Actor,
        action: Action,
        object: &T,
        message: impl Into<String>,
    ) -> Result<(), StoreError> {
        let entry = audit::log_action(actor, action, object, message);
        self.insert(RecordBody::Entry(entry)).await
    }

    /// Records one action over many objects of one type: one entry per object.
    pub async fn log_bulk_action<'o, T: Audited + 'o>(
        &mut self,
        actor: &Actor,
        action: Action,
        objects: impl IntoIterator<Item = &'o T>,
        message: impl Into<String>,
    ) -> Result<(), StoreError> {
        for entry in audit::log_bulk_action(actor, action, objects, message) {
            self.insert(RecordBody::Entry(entry)).await?;
        }
        Ok(())
    }

    /// Records the changed fields of an object (one entry; none when nothing changed).
    /// Returns whether anything changed.
    pub async fn track_change<T: Audited>(&mut self, actor: &Actor, old: &T, new: &T) -> Result<bool, StoreError> {
        match audit::track_change(actor, old, new) {
            Some(entry) => self.insert(RecordBody::Entry(entry)).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Starts a revision written into this transaction by its [`commit`](TransactionRevision::commit).
    pub fn create_revision(&mut self) -> TransactionRevision<'_, 'a, X> {
        TransactionRevision { audit: self, user: None, comment: None, versions: Vec::new() }
    }

    async fn insert(&mut self, body: RecordBody) -> Result<(), StoreError> {
        let store = self.auditor.inner.backend;
        if self.tx.backend() != store {
            return Err(StoreError::WrongDatabase {
                reason: format!(
                    "the transaction is on {:?} but the audit store is on {store:?}: use a transaction on the store's own database",
                    self.tx.backend()
                ),
            });
        }
        let record = serde_json::to_string(&body).map_err(StoreError::Serialize)?;
        self.tx.insert_outbox(unix_micros(OffsetDateTime::now_utc()), record).await.map_err(|source| {
            if is_missing_table(&source) {
                StoreError::WrongDatabase {
                    reason:
                        "the transaction's database has no audit tables: in_transaction needs a transaction on the \
                             audit store's own database (AuditStore::connect creates the tables)"
                            .to_owned(),
                }
            } else {
                StoreError::Database { context: "writing an audit record into the transaction", source }
            }
        })?;
        Ok(())
    }
}

fn is_missing_table(error: &sqlx::Error) -> bool {
    let text = error.to_string();
    text.contains("no such table: audit_outbox") || text.contains("relation \"audit_outbox\" does not exist")
}

/// A revision inside an application transaction; from [`InTransaction::create_revision`].
pub struct TransactionRevision<'t, 'a, X: ?Sized> {
    audit: &'t mut InTransaction<'a, X>,
    user: Option<Actor>,
    comment: Option<String>,
    versions: Vec<VersionRecord>,
}

impl<X: AuditTransaction + ?Sized> TransactionRevision<'_, '_, X> {
    /// Who made the revision.
    pub fn set_user(&mut self, user: &Actor) {
        self.user = Some(user.clone());
    }

    /// Why.
    pub fn set_comment(&mut self, comment: impl Into<String>) {
        self.comment = Some(comment.into());
    }

    /// Adds the current state of `object` (redacted and skipped fields are never stored).
    pub fn add<T: Audited>(&mut self, object: &T) {
        self.versions.push(version_record(object));
    }

    /// Writes the revision into the transaction.
    pub async fn commit(self) -> Result<(), StoreError> {
        let record = revision_record(self.user, self.comment, self.versions);
        self.audit.insert(RecordBody::Revision(record)).await
    }
}

/// Whether the outbox holds no row (committed ones; others are not visible).
pub(crate) async fn is_empty(conn: &mut WriteConn) -> Result<bool, StoreError> {
    let any: Option<i64> =
        on_conn!(conn, c => sqlx::query_scalar("SELECT id FROM audit_outbox LIMIT 1").fetch_optional(&mut *c).await)
            .map_err(db_error("looking into the outbox"))?;
    Ok(any.is_none())
}

/// The oldest outbox rows: id and record text.
pub(crate) async fn oldest(conn: &mut WriteConn, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
    on_conn!(conn, c => {
        sqlx::query_as("SELECT id, record FROM audit_outbox ORDER BY id LIMIT $1").bind(limit).fetch_all(&mut *c).await
    })
    .map_err(db_error("reading the outbox"))
}

/// Deletes exactly the rows `ids` (a range could take a row another transaction committed
/// since they were read).
pub(crate) async fn delete(conn: &mut WriteConn, ids: &[i64]) -> Result<(), StoreError> {
    for chunk in ids.chunks(500) {
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        let sql = format!("DELETE FROM audit_outbox WHERE id IN ({})", list.join(","));
        conn.raw(&sql, "removing sealed outbox rows").await?;
    }
    Ok(())
}
