//! PostgreSQL over TLS: `sslmode=require` encrypts the connection (the server says so in
//! `pg_stat_ssl`), `verify-full` checks the server's certificate (against `sslrootcert` and the
//! system's roots) and its host name, and the audit store connects with such URLs. Needs the machine's PostgreSQL with
//! SSL on (as CI runs it).

use std::sync::atomic::{AtomicU32, Ordering};

use audit_runtime::AuditStore;
use sqlx::{Connection, PgConnection};

fn base_url() -> String {
    std::env::var("AUDIT_TEST_POSTGRES_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `base_url` with `query` appended.
fn with_query(query: &str) -> String {
    let base = base_url();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{query}")
}

/// Whether the connection's session is encrypted, as the server sees it.
async fn is_encrypted(connection: &mut PgConnection) -> bool {
    sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetch_one(connection).await.unwrap()
}

#[tokio::test]
async fn sslmode_require_encrypts_the_connection() {
    let mut plain = PgConnection::connect(&with_query("sslmode=disable")).await.unwrap();
    assert!(!is_encrypted(&mut plain).await, "the check can tell: without TLS the session is plain");
    let mut tls = PgConnection::connect(&with_query("sslmode=require")).await.unwrap();
    assert!(is_encrypted(&mut tls).await, "sslmode=require gives an encrypted session");
}

#[tokio::test]
async fn verify_full_checks_the_certificate_against_sslrootcert() {
    let mut probe = PgConnection::connect(&base_url()).await.unwrap();
    let cert_file: String =
        sqlx::query_scalar("select current_setting('ssl_cert_file')").fetch_one(&mut probe).await.unwrap();
    // The server's certificate is for `localhost`: trusted as its own root, it verifies.
    let url = base_url().replace("127.0.0.1", "localhost");
    let separator = if url.contains('?') { '&' } else { '?' };
    let trusted = format!("{url}{separator}sslmode=verify-full&sslrootcert={cert_file}");
    let mut verified = PgConnection::connect(&trusted).await.unwrap_or_else(|e| panic!("{trusted}: {e}"));
    assert!(is_encrypted(&mut verified).await);

    // The same certificate, but the host is not the name it is for: refused, nothing is sent
    // in clear instead.
    let wrong_host = format!(
        "{}{separator}sslmode=verify-full&sslrootcert={cert_file}",
        base_url().replace("localhost", "127.0.0.1")
    );
    let error = PgConnection::connect(&wrong_host).await.expect_err("a name mismatch is refused").to_string();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
}

#[tokio::test]
async fn the_audit_store_connects_with_sslmode_require() {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!("audit_tls_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let mut admin = PgConnection::connect(&base_url()).await.unwrap();
    sqlx::query(&format!("create database {name}")).execute(&mut admin).await.unwrap();

    let base = base_url();
    let server = base.rsplit_once('/').map_or(base.as_str(), |(server, _)| server);
    let url = format!("{server}/{name}?sslmode=require");
    let store = AuditStore::connect(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(store.entry_count().await.unwrap(), 0, "the store was created and read over TLS");
    drop(store);
    sqlx::query(&format!("drop database {name} with (force)")).execute(&mut admin).await.unwrap();
}
