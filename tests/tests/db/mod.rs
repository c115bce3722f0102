//! Real databases for the store tests: a SQLite file in a temporary directory, and a fresh
//! database on the machine's PostgreSQL for each test.
//!
//! PostgreSQL is found at `AUDIT_TEST_POSTGRES_URL`, else `DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`. When it cannot be reached, a test under CI (`CI`
//! set) fails; elsewhere it prints that it was skipped and why.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Connection};

/// The object of the DESIGN examples.
#[derive(audit_runtime::Audited, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[audited(object_type = "observation")]
pub struct Observation {
    #[audited(id)]
    pub id: i64,
    pub value: f64,
    pub note: Option<String>,
    #[audited(redact)]
    #[serde(default)]
    pub patient_ssn: String,
    #[audited(skip)]
    #[serde(default)]
    pub cache: Vec<u8>,
}

impl Observation {
    pub fn new(id: i64, value: f64) -> Self {
        Observation { id, value, note: None, patient_ssn: format!("SSN-SECRET-{id:04}"), cache: vec![1, 2, 3] }
    }
}

pub enum Kind {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

/// A database that lives for one test.
pub struct TestDb {
    pub url: String,
    pub kind: Kind,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn postgres_base_url() -> String {
    std::env::var("AUDIT_TEST_POSTGRES_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    TestDb { url, kind: Kind::Sqlite(dir) }
}

/// A fresh PostgreSQL database, or `None` (with a message) where PostgreSQL is not available
/// and this is not CI.
pub async fn postgres(test: &str) -> Option<TestDb> {
    sqlx::any::install_default_drivers();
    let admin_url = postgres_base_url();
    let mut admin = match AnyConnection::connect(&admin_url).await {
        Ok(conn) => conn,
        Err(error) => {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL is required in CI but {admin_url} is not reachable: {error}");
            }
            eprintln!("SKIPPED {test} on PostgreSQL: {admin_url} is not reachable ({error})");
            return None;
        }
    };
    let name = format!(
        "audit_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        test.chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect::<String>().to_lowercase()
    );
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create the test database");
    let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base).to_owned();
    Some(TestDb { url: format!("{base}/{name}"), kind: Kind::Postgres { admin_url, name } })
}

impl TestDb {
    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, Kind::Postgres { .. })
    }

    /// Runs plain SQL on the database, as a tamperer or an operator would.
    pub async fn sql(&self, sql: &str) -> Result<(), sqlx::Error> {
        let mut conn = AnyConnection::connect(&self.url).await?;
        sqlx::raw_sql(sql).execute(&mut conn).await?;
        conn.close().await
    }

    /// One text value from plain SQL.
    pub async fn text(&self, sql: &str) -> String {
        let mut conn = AnyConnection::connect(&self.url).await.unwrap();
        sqlx::query_scalar::<_, String>(sql).fetch_one(&mut conn).await.unwrap()
    }

    /// Drops the append-only triggers, as someone tampering with the database would.
    pub async fn drop_triggers(&self) {
        let sql = if self.is_postgres() {
            "DROP TRIGGER audit_entries_append_only ON audit_entries;"
        } else {
            "DROP TRIGGER audit_entries_no_update; DROP TRIGGER audit_entries_no_delete;"
        };
        self.sql(sql).await.unwrap();
    }

    /// Deletes the entries matching `condition` with plain SQL, append-only triggers dropped
    /// first and the SQLite object index tidied, as an intruder covering their tracks would.
    pub async fn delete_entries(&self, condition: &str) {
        let sql = if self.is_postgres() {
            format!(
                "DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries; \
                 DELETE FROM audit_entries WHERE {condition};"
            )
        } else {
            format!(
                "DROP TRIGGER IF EXISTS audit_entries_no_update; DROP TRIGGER IF EXISTS audit_entries_no_delete; \
                 DELETE FROM audit_entries WHERE {condition}; \
                 DELETE FROM audit_object_heads WHERE last_seq NOT IN (SELECT seq FROM audit_entries);"
            )
        };
        self.sql(&sql).await.unwrap();
    }

    /// Removes a PostgreSQL test database.
    pub async fn cleanup(self) {
        if let Kind::Postgres { admin_url, name } = &self.kind {
            if let Ok(mut admin) = AnyConnection::connect(admin_url).await {
                let _ =
                    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
            }
        }
    }
}

/// Runs an async test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($body:ident),* $(,)?) => {$(
        mod $body {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::db::sqlite().await;
                super::$body(&db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::db::postgres(stringify!($body)).await {
                    super::$body(&db).await;
                    db.cleanup().await;
                }
            }
        }
    )*};
}
