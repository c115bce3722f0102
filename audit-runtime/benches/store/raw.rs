//! The machine's limit for the store's work: the rows the `Auditor` stores for 1 000
//! `log_action` calls (same columns and values, each row's SHA-256 over its content and the
//! previous row's hash computed in the timed loop, as the chain does), inserted in one
//! transaction into a table with the store's indexes, the fastest plain way each database offers:
//!
//! - SQLite: one prepared single-row `INSERT`, bound and stepped per row through SQLite's C API
//!   on the connection's own handle (no driver in between), WAL, `synchronous = FULL`;
//! - PostgreSQL: one `INSERT … SELECT FROM UNNEST` of one binary array per column.
//!
//! Nothing else the store does is here (no record identities, no object heads, no queue).

use std::ffi::{CStr, CString, c_char, c_int};

use libsqlite3_sys as ffi;
use sha2::{Digest, Sha256};
use sqlx::Connection;

use super::{ENTRIES, Observation};

/// One entry's columns, before it is chained.
pub struct Row {
    time_us: i64,
    object_id: String,
    object_repr: String,
}

/// The rows of one iteration.
pub fn rows(objects: &[Observation]) -> Vec<Row> {
    objects
        .iter()
        .map(|o| Row {
            time_us: 1_700_000_000_000_000,
            object_id: o.id.to_string(),
            object_repr: format!("observation {}", o.id),
        })
        .collect()
}

const ACTOR_KIND: &str = "user";
const ACTOR_ID: &str = "42";
const ACTION: &str = "change";
const OBJECT_TYPE: &str = "observation";
const MESSAGE: &str = "value recorded";
const CHANGES: &str = "[]";

/// The chain's hash of a row: SHA-256 over each column, length-prefixed, and the previous hash.
fn hash(seq: i64, row: &Row, prev: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"audit-runtime chain v1\n");
    let (seq, time) = (seq.to_string(), row.time_us.to_string());
    for field in [
        seq.as_str(),
        &time,
        ACTOR_KIND,
        ACTOR_ID,
        ACTION,
        OBJECT_TYPE,
        &row.object_id,
        &row.object_repr,
        MESSAGE,
        CHANGES,
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hasher.update(u64::MAX.to_be_bytes()); // no request id
    hasher.update((prev.len() as u64).to_be_bytes());
    hasher.update(prev.as_bytes());
    let digest = hasher.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub enum Bulk {
    Sqlite { conn: sqlx::SqliteConnection, seq: i64, prev: String },
    Postgres { conn: sqlx::PgConnection, seq: i64, prev: String },
}

/// The store's SQLite table and indexes (`audit_entries` after its migrations).
const SQLITE_TABLE: &str = "CREATE TABLE IF NOT EXISTS raw_entries (seq INTEGER PRIMARY KEY, \
    time_us INTEGER NOT NULL, actor_kind TEXT NOT NULL, actor_id TEXT NOT NULL, action TEXT NOT NULL, \
    object_type TEXT NOT NULL, object_id TEXT NOT NULL, object_repr TEXT NOT NULL, message TEXT NOT NULL, \
    changes TEXT NOT NULL, request_id TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, object_prev INTEGER); \
    CREATE INDEX IF NOT EXISTS raw_by_actor ON raw_entries (actor_kind, actor_id, seq); \
    CREATE INDEX IF NOT EXISTS raw_by_time ON raw_entries (time_us); \
    CREATE INDEX IF NOT EXISTS raw_by_type ON raw_entries (object_type, seq)";
const SQLITE_INSERT: &str = "INSERT INTO raw_entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

/// The store's PostgreSQL table and indexes.
const POSTGRES_TABLE: &str = "DROP TABLE IF EXISTS raw_entries; CREATE TABLE raw_entries (seq BIGINT PRIMARY KEY, \
    time_us BIGINT NOT NULL, actor_kind TEXT COLLATE \"C\" NOT NULL, actor_id TEXT COLLATE \"C\" NOT NULL, \
    action TEXT NOT NULL, object_type TEXT COLLATE \"C\" NOT NULL, object_id TEXT COLLATE \"C\" NOT NULL, \
    object_repr TEXT NOT NULL, message TEXT NOT NULL, changes TEXT NOT NULL, request_id TEXT, \
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL); \
    CREATE INDEX raw_by_object ON raw_entries (object_type, object_id, seq); \
    CREATE INDEX raw_by_actor ON raw_entries (actor_kind, actor_id, seq); \
    CREATE INDEX raw_by_time ON raw_entries USING brin (time_us)";
const POSTGRES_INSERT: &str = "INSERT INTO raw_entries SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], \
    $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
    $13::text[])";

impl Bulk {
    pub async fn open(name: &str, url: &str) -> Bulk {
        let genesis = "0".repeat(64);
        if name == "sqlite" {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::raw_sql("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL").execute(&mut conn).await.unwrap();
            sqlx::raw_sql(SQLITE_TABLE).execute(&mut conn).await.unwrap();
            Bulk::Sqlite { conn, seq: 0, prev: genesis }
        } else {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::raw_sql(POSTGRES_TABLE).execute(&mut conn).await.unwrap();
            Bulk::Postgres { conn, seq: 0, prev: genesis }
        }
    }

    /// Chains `rows` after the last ones and inserts them in one transaction.
    pub async fn insert(&mut self, rows: &[Row]) {
        match self {
            Bulk::Sqlite { conn, seq, prev } => {
                let mut handle = conn.lock_handle().await.unwrap();
                // SAFETY: the handle is locked away from sqlx's worker thread for the whole call,
                // the statement is finalized before it returns, and every bound text outlives
                // the `step` that reads it (SQLITE_STATIC).
                unsafe { sqlite_insert(handle.as_raw_handle().as_ptr(), rows, seq, prev) };
            }
            Bulk::Postgres { conn, seq, prev } => {
                let first = *seq + 1;
                let mut hashes = Vec::with_capacity(rows.len());
                let mut prevs = Vec::with_capacity(rows.len());
                for row in rows {
                    *seq += 1;
                    let hash = hash(*seq, row, prev);
                    prevs.push(std::mem::replace(prev, hash.clone()));
                    hashes.push(hash);
                }
                let n = rows.len();
                let mut tx = conn.begin().await.unwrap();
                sqlx::query(POSTGRES_INSERT)
                    .bind((first..first + n as i64).collect::<Vec<i64>>())
                    .bind(rows.iter().map(|r| r.time_us).collect::<Vec<i64>>())
                    .bind(vec![ACTOR_KIND; n])
                    .bind(vec![ACTOR_ID; n])
                    .bind(vec![ACTION; n])
                    .bind(vec![OBJECT_TYPE; n])
                    .bind(rows.iter().map(|r| r.object_id.as_str()).collect::<Vec<&str>>())
                    .bind(rows.iter().map(|r| r.object_repr.as_str()).collect::<Vec<&str>>())
                    .bind(vec![MESSAGE; n])
                    .bind(vec![CHANGES; n])
                    .bind(vec![None::<&str>; n])
                    .bind(&prevs)
                    .bind(&hashes)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }
    }
}

unsafe fn check(db: *mut ffi::sqlite3, code: c_int, what: &str) {
    if code != ffi::SQLITE_OK && code != ffi::SQLITE_DONE {
        let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) };
        panic!("{what}: {code} {message:?}");
    }
}

unsafe fn exec(db: *mut ffi::sqlite3, sql: &str) {
    let sql = CString::new(sql).unwrap();
    unsafe { check(db, ffi::sqlite3_exec(db, sql.as_ptr(), None, std::ptr::null_mut(), std::ptr::null_mut()), "exec") };
}

unsafe fn bind_text(stmt: *mut ffi::sqlite3_stmt, index: c_int, text: &str) {
    let code = unsafe {
        ffi::sqlite3_bind_text(stmt, index, text.as_ptr().cast::<c_char>(), text.len() as c_int, ffi::SQLITE_STATIC())
    };
    assert_eq!(code, ffi::SQLITE_OK);
}

unsafe fn sqlite_insert(db: *mut ffi::sqlite3, rows: &[Row], seq: &mut i64, prev: &mut String) {
    unsafe {
        exec(db, "BEGIN IMMEDIATE");
        let mut stmt = std::ptr::null_mut();
        let sql = SQLITE_INSERT;
        let code =
            ffi::sqlite3_prepare_v2(db, sql.as_ptr().cast(), sql.len() as c_int, &mut stmt, std::ptr::null_mut());
        check(db, code, "prepare");
        for row in rows {
            *seq += 1;
            let hash = hash(*seq, row, prev);
            ffi::sqlite3_bind_int64(stmt, 1, *seq);
            ffi::sqlite3_bind_int64(stmt, 2, row.time_us);
            bind_text(stmt, 3, ACTOR_KIND);
            bind_text(stmt, 4, ACTOR_ID);
            bind_text(stmt, 5, ACTION);
            bind_text(stmt, 6, OBJECT_TYPE);
            bind_text(stmt, 7, &row.object_id);
            bind_text(stmt, 8, &row.object_repr);
            bind_text(stmt, 9, MESSAGE);
            bind_text(stmt, 10, CHANGES);
            ffi::sqlite3_bind_null(stmt, 11);
            bind_text(stmt, 12, prev);
            bind_text(stmt, 13, &hash);
            if *seq > ENTRIES as i64 {
                ffi::sqlite3_bind_int64(stmt, 14, *seq - ENTRIES as i64);
            } else {
                ffi::sqlite3_bind_null(stmt, 14);
            }
            check(db, ffi::sqlite3_step(stmt), "insert");
            ffi::sqlite3_reset(stmt);
            *prev = hash;
        }
        ffi::sqlite3_finalize(stmt);
        exec(db, "COMMIT");
    }
}
