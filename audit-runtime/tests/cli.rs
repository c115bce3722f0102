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
    assert!(text(&out).contains("head: 3:"), "the head anchor is printed: {}", text(&out));

    let out = audit(&["history", &url, "observation", "17"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = text(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[1].contains("system cleanup") && lines[1].contains("delete"), "{table}");
    assert!(lines[0].contains("request id"), "{table}");
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

    let out = audit(&["verify", &url, "--anchor", "3"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("expected SEQ:HEX"), "{}", text(&out));

    let out = audit(&["verify", "postgres://nobody:pw@127.0.0.1:1/audit"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("cannot connect to postgres://nobody:***@127.0.0.1:1/audit"), "{}", text(&out));
}

/// The SQLite file names every command was run on, as they are in `dir` afterwards.
fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[test]
fn a_missing_store_is_an_error_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.db");
    let url = format!("sqlite://{}", path.display());
    for args in [
        vec!["verify", url.as_str()],
        vec!["history", url.as_str(), "observation", "17"],
        vec!["history", url.as_str()],
        vec!["versions", url.as_str(), "observation", "17"],
        vec!["views", url.as_str(), "observation"],
        vec!["purge", url.as_str(), "--before", "2999-01-01", "--dry-run"],
        vec!["purge", url.as_str(), "--before", "2999-01-01"],
    ] {
        let out = audit(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", text(&out));
        let message = text(&out);
        assert!(message.contains(&path.display().to_string()), "{args:?} names the path: {message}");
        assert!(message.contains("does not exist"), "{args:?}: {message}");
        assert!(files_in(dir.path()).is_empty(), "{args:?} created {:?}", files_in(dir.path()));
    }
}

#[tokio::test]
async fn reading_commands_never_migrate_or_change_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    AuditStore::create_at_version(&url, 2).await.unwrap();
    let out = audit(&["verify", &url]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("version 2, older than this build reads"), "{}", text(&out));
    let out = audit(&["history", &url, "observation", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let version: String = sqlx::query_scalar("SELECT value FROM audit_meta WHERE key = 'schema_version'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(version, "2", "the store was not migrated");

    // A SQLite file that is not an audit store: refused, left as it was.
    let other = dir.path().join("other.db");
    std::fs::write(&other, b"").unwrap();
    let out = audit(&["verify", &format!("sqlite://{}", other.display())]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("no audit tables"), "{}", text(&out));
    assert_eq!(std::fs::metadata(&other).unwrap().len(), 0);
}

#[tokio::test]
async fn anchors_from_verify_find_a_cut_tail() {
    let dir = tempfile::tempdir().unwrap();
    let url = store_with_entries(dir.path()).await;
    let out = audit(&["verify", &url]);
    let head = text(&out).lines().find_map(|l| l.strip_prefix("head: ")).expect("a head line").to_owned();
    let out = audit(&["verify", &url, "--anchor", &head]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(&format!("anchor {head}: present and unchanged")), "{}", text(&out));
    let out = audit(&["verify", &url, "--json"]);
    let report: serde_json::Value = serde_json::from_str(text(&out).trim()).unwrap();
    assert_eq!(report["head"], head.as_str());

    // A careful intruder also points the object index at what is left (else `verify` itself
    // reports the edited index).
    tamper(
        &url,
        &format!("DROP TRIGGER audit_entries_no_delete; DELETE FROM audit_entries WHERE seq = 3; {TIDY_HEADS}"),
    )
    .await;
    let out = audit(&["verify", &url]);
    assert_eq!(out.status.code(), Some(0), "a cut tail alone verifies: {}", text(&out));
    let out = audit(&["verify", &url, "--anchor", &head]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("TAMPERED: anchor") && text(&out).contains("tail was removed"), "{}", text(&out));
}

/// Points each object's head at its newest remaining entry, as an intruder who cut entries
/// would, so that only an anchor or a witness can tell.
const TIDY_HEADS: &str = "DELETE FROM audit_object_heads WHERE NOT EXISTS (SELECT 1 FROM audit_entries e \
     WHERE e.object_type = audit_object_heads.object_type AND e.object_id = audit_object_heads.object_id); \
     UPDATE audit_object_heads SET last_seq = (SELECT MAX(seq) FROM audit_entries e \
     WHERE e.object_type = audit_object_heads.object_type AND e.object_id = audit_object_heads.object_id)";

async fn tamper(url: &str, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
}

#[tokio::test]
async fn keygen_and_the_witness_check() {
    use audit_runtime::store::witness::{CheckpointSchedule, DirectoryWitness, SecretKey};
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = (dir.path().join("signing.key"), dir.path().join("signing.pub"));
    let out = audit(&["keygen", "--secret", secret.to_str().unwrap(), "--public", public.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let out = audit(&["keygen", "--secret", secret.to_str().unwrap(), "--public", public.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "an existing key is never replaced: {}", text(&out));

    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let witness_dir = dir.path().join("witness");
    let store = AuditStore::connect(&url).await.unwrap();
    let auditor = Auditor::builder(store)
        .spool_path(dir.path().join("spool"))
        .witness(
            SecretKey::read(&secret).unwrap(),
            DirectoryWitness::new(&witness_dir).unwrap(),
            CheckpointSchedule::entries(1000),
        )
        .build()
        .unwrap();
    for id in 0..5 {
        auditor.log_action(&Actor::user(1), Action::Create, &Observation { id, value: 0.0 }, "created");
    }
    auditor.shutdown().await.unwrap();

    let witness_args = ["--witness", witness_dir.to_str().unwrap(), "--public-key", public.to_str().unwrap()];
    let out = audit(&[&["verify", url.as_str()][..], &witness_args].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("witnessed checkpoint 5:"), "{}", text(&out));

    // Another key's public half: refused.
    let (other_secret, other_public) = (dir.path().join("other.key"), dir.path().join("other.pub"));
    audit(&["keygen", "--secret", other_secret.to_str().unwrap(), "--public", other_public.to_str().unwrap()]);
    let out = audit(&[
        "verify",
        &url,
        "--witness",
        witness_dir.to_str().unwrap(),
        "--public-key",
        other_public.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not signed by the public key"), "{}", text(&out));
    // A secret key given as the public key: a clear usage error.
    let out =
        audit(&["verify", &url, "--witness", witness_dir.to_str().unwrap(), "--public-key", secret.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("audit-runtime ed25519 public key"), "{}", text(&out));
    assert!(!text(&out).contains(&std::fs::read_to_string(&secret).unwrap().lines().nth(1).unwrap().to_owned()));

    // The tail cut: the witness check fails though the chain verifies.
    tamper(
        &url,
        &format!("DROP TRIGGER audit_entries_no_delete; DELETE FROM audit_entries WHERE seq > 3; {TIDY_HEADS}"),
    )
    .await;
    let out = audit(&[&["verify", url.as_str()][..], &witness_args].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("TAMPERED: witnessed checkpoint"), "{}", text(&out));
}

#[tokio::test]
async fn versions_views_and_history_filters() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let store = AuditStore::connect(&url).await.unwrap();
    let auditor = Auditor::builder(store).spool_path(dir.path().join("spool")).build().unwrap();
    let obj = Observation { id: 17, value: 1.0 };
    // The toolkit's layer keeps span fields, so the entry picks up the bound request id.
    use tracing_subscriber::prelude::*;
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(audit_runtime::logging::JsonLayer::new(std::io::sink)),
    );
    {
        let _request = tracing::info_span!("request", request_id = "req-42").entered();
        auditor.log_action(&Actor::user(42), Action::Create, &obj, "created in a request");
    }
    auditor.log_action(&Actor::user(7), Action::Change, &obj, "changed by 7");
    auditor.log_action(&Actor::system("cleanup"), Action::Delete, &Observation { id: 18, value: 0.0 }, "gone");
    auditor.log_view(&obj);
    auditor.log_view(&obj);
    let mut rev = auditor.create_revision();
    rev.set_user(&Actor::user(42));
    rev.set_comment("first version");
    rev.add(&obj);
    rev.commit().await.unwrap();
    auditor.shutdown().await.unwrap();

    let out = audit(&["versions", &url, "observation", "17"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("first version") && text(&out).contains("user 42"), "{}", text(&out));
    let out = audit(&["versions", &url, "observation", "17", "--json"]);
    let version: serde_json::Value = serde_json::from_str(text(&out).lines().next().unwrap()).unwrap();
    assert_eq!(version["object_id"], "17");
    assert_eq!(version["object"]["value"], 1.0);
    assert!(version["created_at"].is_string(), "{version}");

    let out = audit(&["views", &url, "observation"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).lines().any(|l| l.split_whitespace().eq(["2", "17"])), "{}", text(&out));
    let out = audit(&["views", &url, "observation", "--since", "2999-01-01"]);
    assert!(text(&out).contains("no views"), "{}", text(&out));

    let seqs = |args: &[&str]| -> Vec<i64> {
        let out = audit(&[&["history", url.as_str()][..], args, &["--json"]].concat());
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        text(&out)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(seqs(&[]), [3, 2, 1]);
    assert_eq!(seqs(&["observation"]), [3, 2, 1]);
    assert_eq!(seqs(&["--actor", "user:42"]), [1]);
    assert_eq!(seqs(&["--actor", "system:cleanup"]), [3]);
    assert_eq!(seqs(&["--action", "change"]), [2]);
    assert_eq!(seqs(&["--request-id", "req-42"]), [1]);
    assert_eq!(seqs(&["observation", "17", "--action", "create"]), [1]);
    assert_eq!(seqs(&["--since", "2999-01-01"]), Vec::<i64>::new());
    assert_eq!(seqs(&["--until", "2999-01-01"]), [3, 2, 1]);

    let out = audit(&["history", &url, "--actor", "42"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("expected user:ID or system:NAME"), "{}", text(&out));
    let out = audit(&["history", &url, "--action", "edit"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("expected create, change, delete or view"), "{}", text(&out));

    // The table: the request id, and times of one width.
    let out = audit(&["history", &url]);
    let table = text(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[3].contains("req-42"), "{table}");
    let time_columns: Vec<&str> = lines[1..].iter().map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    for time in &time_columns {
        assert_eq!(time.len(), "2025-01-31T12:00:00.000000Z".len(), "{table}");
        assert!(time.ends_with('Z'), "{table}");
    }
}
