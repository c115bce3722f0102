//! The few calls of SQLite's C API the writer makes on its own connection's handle, borrowed
//! from sqlx-sqlite (`SqliteConnection::lock_handle`): statements prepared, bound and stepped
//! on the writer's thread. Through sqlx, every bound value was copied (to own it) and sent to
//! the connection's worker thread, then read back there: the worker thread had 57% of a
//! batch's samples, SQLite's work and those copies together (see docs/performance.md).
//!
//! All the `unsafe` of the store is here, and its contract is small: a [`Statement`] is used
//! only while the handle it was prepared on is locked away from sqlx's worker thread, and
//! is finalized (dropped) before that lock is released.

use std::ffi::c_int;
use std::ptr::NonNull;

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

/// A value bound to one parameter.
#[derive(Clone, Copy)]
pub(super) enum Value<'a> {
    Int(i64),
    Text(&'a str),
    Null,
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(text: Option<&'a str>) -> Self {
        text.map_or(Value::Null, Value::Text)
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(number: Option<i64>) -> Self {
        number.map_or(Value::Null, Value::Int)
    }
}

/// A prepared statement on a locked handle; finalized when dropped.
pub(super) struct Statement {
    stmt: NonNull<ffi::sqlite3_stmt>,
}

/// SQLite's error of the last call on `handle`, as sqlx reports it (with the result code that
/// the dialect's `refuses_data` reads).
pub(super) fn last_error(handle: &mut LockedSqliteHandle<'_>) -> sqlx::Error {
    match handle.last_error() {
        Some(error) => sqlx::Error::Database(Box::new(error)),
        None => sqlx::Error::Protocol("SQLite reported an error without a message".to_owned()),
    }
}

impl Statement {
    /// Prepares `sql` (one statement) on `handle`; on failure, the error is `last_error`'s.
    ///
    /// The statement must be dropped before `handle` is: it is then finalized while the handle
    /// is still locked.
    pub(super) fn prepare(handle: &mut LockedSqliteHandle<'_>, sql: &str) -> Result<Statement, sqlx::Error> {
        let db = handle.as_raw_handle().as_ptr();
        let mut stmt = std::ptr::null_mut();
        let length = c_int::try_from(sql.len()).map_err(|_| sqlx::Error::Protocol("statement too long".into()))?;
        // SAFETY: `db` is an open connection that no other thread uses while `handle` is
        // locked; `sql` is valid for `length` bytes (it need not end with NUL).
        let code = unsafe { ffi::sqlite3_prepare_v2(db, sql.as_ptr().cast(), length, &mut stmt, std::ptr::null_mut()) };
        match NonNull::new(stmt) {
            Some(stmt) if code == ffi::SQLITE_OK => Ok(Statement { stmt }),
            _ => Err(last_error(handle)),
        }
    }

    /// Binds `values` to the parameters 1, 2, … and runs the statement once (it returns no
    /// rows). On failure, the error is `last_error`'s, to be read before anything else runs on
    /// the handle.
    pub(super) fn run(&mut self, values: &[Value<'_>]) -> Result<(), ()> {
        let stmt = self.stmt.as_ptr();
        // SAFETY: `stmt` is a live statement on a locked handle (see `prepare`). Texts are bound
        // without a copy (SQLITE_STATIC): they are read only by the `sqlite3_step` below, and
        // the bindings are cleared before `values` goes out of scope.
        unsafe {
            let mut bound = ffi::SQLITE_OK;
            for (index, value) in (1..).zip(values) {
                bound = match *value {
                    Value::Int(number) => ffi::sqlite3_bind_int64(stmt, index, number),
                    Value::Text(text) => ffi::sqlite3_bind_text64(
                        stmt,
                        index,
                        text.as_ptr().cast(),
                        text.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                    Value::Null => ffi::sqlite3_bind_null(stmt, index),
                };
                if bound != ffi::SQLITE_OK {
                    break;
                }
            }
            let stepped = if bound == ffi::SQLITE_OK { ffi::sqlite3_step(stmt) } else { bound };
            // On failure the error stays readable on the handle until its next call.
            if stepped != ffi::SQLITE_DONE {
                ffi::sqlite3_clear_bindings(stmt);
                return Err(());
            }
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        Ok(())
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: the statement is live and its handle still locked (see `prepare`).
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}
