//! The `audit` command on a real SQLite file: its output and the exit codes scripts rely on.

use std::process::{Command, Output};

use audit_runtime::store::{AuditStore, Auditor};
use audit_runtime::{Action, Actor};

#[derive(audit_runtime::Audited, Clone, serde::Serialize, serde::Deserialize)]
#[audited(object_type = "observation")]
struct Observation {
    id: i64,
    value: f64,
}

fn audit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_audit")).args(args).output().expect("the audit binary runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

async fn store_with_entries(dir: &std::path::Path) -> String {
    let url = format!("sqlite://{}", dir.join("audit.db").display());
    let store = AuditStore::connect(&url).await.unwrap();
    let auditor = Auditor::builder(store).spool_path(dir.join("spool")).build().unwrap();
    let old = Observation { id: 17, value: 1.0 };
    let new = Observation { id: 17, value: 2.5 };
    auditor.log_action(&Actor::user(42), Action::Create, &old, "created");
    auditor.track_change(&Actor::user(42), &old, &new);
    auditor.log_action(&Actor::system("cleanup"), Action::Delete, &new, "deleted\u{1b}[31m");
    auditor.shutdown().await.unwrap();
    url
}

#[tokio::test]
async fn verify_history_and_purge() {
    let dir = tempfile::tempdir().unwrap();
    let url = store_with_entries(dir.path()).await;

    let out = audit(&["verify", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("intact: 3 entries verified"), "{}", text(&out));

    let out = audit(&["history", &url, "observation", "17"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = text(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[1].contains("system cleanup") && lines[1].contains("delete"), "{table}");
    assert!(lines[2].contains("value: 1.0 -> 2.5"), "{table}");
    assert!(!table.contains('\u{1b}'), "control characters are escaped: {table:?}");

    let out = audit(&["history", &url, "observation", "17", "--json"]);
    let first: serde_json::Value = serde_json::from_str(text(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 3);
    assert_eq!(first["action"], "delete");

    let out = audit(&["purge", &url, "--before", "2999-01-01", "--dry-run"]);
    assert!(text(&out).contains("would remove up to 3 entries"), "{}", text(&out));
    let out = audit(&["purge", &url, "--before", "2999-01-01"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("removed 3 entries; checkpoint at entry 3"), "{}", text(&out));
    let out = audit(&["verify", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[tokio::test]
async fn exit_codes_tell_tampering_usage_and_database_errors_apart() {
    let dir = tempfile::tempdir().unwrap();
    let url = store_with_entries(dir.path()).await;
    // Tamper with plain SQL, as someone with database access could.
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("DROP TRIGGER audit_entries_no_update; UPDATE audit_entries SET message = 'x' WHERE seq = 2")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let out = audit(&["verify", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("TAMPERED: entry 2 edited"), "{}", text(&out));
    let out = audit(&["verify", &url, "--json"]);
    let report: serde_json::Value = serde_json::from_str(text(&out).trim()).unwrap();
    assert_eq!(report["first_broken"]["seq"], 2);

    let out = audit(&["verify", "mysql://localhost/audit"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("scheme \"mysql\" is not supported"), "{}", text(&out));
    let out = audit(&["purge", &url, "--before", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("expected YYYY-MM-DD"), "{}", text(&out));
    let out = audit(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));

    let out = audit(&["verify", "postgres://nobody:pw@127.0.0.1:1/audit"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("cannot connect to postgres://nobody:***@127.0.0.1:1/audit"), "{}", text(&out));
}
