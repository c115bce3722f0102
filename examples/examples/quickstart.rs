//! The README's main job: a realistic run of the toolkit on the embedded SQLite store.
//!
//! `cargo run --example quickstart`
//!
//! Log lines go to stdout (JSON by default; `LOG_FORMAT=console` for the readable form); the
//! narration and the tables at the end go to stderr, so `cargo run --example quickstart | jq .`
//! works. The audit store is `./quickstart-audit.db`, made afresh on every run.
//! `cargo run --example quickstart -- --event-catalog rst` prints the event catalog instead.

use std::error::Error;
use std::fmt;

use audit_examples::objects::{ObjectCreated, ObjectUpdated};
use audit_runtime::store::{AuditStore, Auditor, EntryQuery};
use audit_runtime::{Action, Actor, Audited, catalog, logging, report};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the service keeps, and what it audits.
#[derive(Audited, Clone, Debug, Serialize, Deserialize)]
#[audited(object_type = "observation")]
struct Observation {
    id: i64,
    value: f64,
    unit: String,
    note: Option<String>,
    /// Never in a log line, the store, or a snapshot.
    #[audited(redact)]
    #[serde(default)]
    patient_ssn: String,
}

const DATABASE: &str = "quickstart-audit.db";
const JOURNAL: &str = "quickstart-audit.journal";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    catalog::print_if_requested();
    // One call configures logging from LOG_LEVEL, LOG_FORMAT, LOGFILE, LOG_ERRORS, ...
    let _logs = logging::init_from_env()?;

    for leftover in [DATABASE, "quickstart-audit.db-wal", "quickstart-audit.db-shm", "quickstart-audit.db.spool"] {
        let _ = std::fs::remove_file(leftover);
    }
    let _ = std::fs::remove_dir_all(JOURNAL);
    let store = AuditStore::connect(&format!("sqlite://{DATABASE}")).await?;
    // With a journal, each recording call returns once its record is on local disk: a crash
    // of this process loses nothing it was told was recorded.
    let auditor = Auditor::builder(store.clone()).journal(JOURNAL).build()?;
    let alice = Actor::user("alice");
    let object_uuid = Uuid::new_v4();
    let objecttype_uuid = Uuid::new_v4();

    step("An observation is created through the API");
    let created =
        Observation { id: 17, value: 36.6, unit: "°C".into(), note: None, patient_ssn: "123-45-6789".into() };
    // `commit()` returns the revision's id once it is in the database.
    let first_revision = in_request("2f9e9a5b-d549-4faa-a411-594aa8a52eee", async {
        ObjectCreated {
            object_uuid,
            objecttype_uuid,
            objecttype_version: 1,
            token_identifier: "frontend",
            token_application: "Ward dashboard",
        }
        .emit();
        auditor.log_action(&alice, Action::Create, &created, "created via the API");
        let mut revision = auditor.create_revision();
        revision.set_user(&alice);
        revision.set_comment("Created revision 1");
        revision.add(&created);
        revision.commit().await
    })
    .await?;
    print_revision(first_revision);

    step("It is changed twice (the second change touches a redacted field)");
    let measured = Observation { value: 38.2, ..created.clone() };
    let annotated = Observation {
        note: Some("fever: recheck in 2 hours".into()),
        patient_ssn: "987-65-4321".into(),
        ..measured.clone()
    };
    let second_revision = in_request("5aa21b5c-d113-4dfa-a3c1-164ce7f325c8", async {
        ObjectUpdated {
            object_uuid,
            objecttype_uuid,
            objecttype_version: 1,
            token_identifier: "frontend",
            token_application: "Ward dashboard",
        }
        .emit();
        auditor.track_change(&alice, &created, &measured);
        auditor.track_change(&Actor::user("bob"), &measured, &annotated);
        let mut revision = auditor.create_revision();
        revision.set_user(&Actor::user("bob"));
        revision.set_comment("Created revision 2");
        revision.add(&annotated);
        revision.commit().await
    })
    .await?;
    print_revision(second_revision);

    step("It is viewed three times (anonymous analytics: object, day, count)");
    for _ in 0..3 {
        auditor.log_view(&annotated);
    }

    step("A request fails with an error, reported with its cause");
    in_request("68b46bf0-a5b8-43f7-a550-e37dee617bff", async {
        let error = UpstreamError { service: "objecttypes", cause: std::io::Error::other("connection refused") };
        // One `error_captured` line, the cause chain in `exception` (and Sentry, when configured).
        report::capture_error(&error);
    })
    .await;

    step("It is deleted by a retention job");
    auditor.log_action(&Actor::system("retention"), Action::Delete, &annotated, "deleted after 30 days");
    auditor.flush().await?;

    summary(&store).await?;
    Ok(())
}

/// Runs `work` as one request: everything logged and audited inside carries its request id.
async fn in_request<T>(request_id: &str, work: impl Future<Output = T>) -> T {
    use tracing::Instrument;
    work.instrument(tracing::info_span!("request", request_id)).await
}

/// What a newcomer wants to see at the end: the object's history, its versions, the view count
/// and whether the chain verifies.
async fn summary(store: &AuditStore) -> Result<(), Box<dyn Error>> {
    eprintln!("\n── History of observation 17 in ./{DATABASE} (newest first)");
    eprintln!("{:>4}  {:<16}  {:<6}  {:<38}  changes", "seq", "actor", "action", "request");
    for stored in store.entries(&EntryQuery::new().object("observation", "17")).await? {
        let entry = &stored.entry;
        let changes: Vec<String> =
            entry.changes.iter().map(|c| format!("{}: {} → {}", c.field, c.old, c.new)).collect();
        eprintln!(
            "{:>4}  {:<16}  {:<6}  {:<38}  {}",
            stored.seq,
            entry.actor.to_string(),
            entry.action.as_str(),
            entry.request_id.as_deref().unwrap_or("-"),
            if changes.is_empty() { entry.message.clone() } else { changes.join(", ") }
        );
    }

    eprintln!("\n── Versions (revisions: who, why, and the object as it was)");
    for version in store.versions::<Observation>("17").await? {
        let user = version.user.map_or("-".to_owned(), |u| u.to_string());
        eprintln!(
            "  version {}  by {:<10}  {:<20}  value {} {}, note {:?}",
            version.id,
            user,
            version.comment.unwrap_or_default(),
            version.object.value,
            version.object.unit,
            version.object.note
        );
    }
    let views = store.view_counts("observation", time::OffsetDateTime::now_utc()).await?;
    eprintln!("\n── Views today: {}", views.first().map_or(0, |v| v.views));

    let report = store.verify().await?;
    eprintln!(
        "\n── Hash chain: {} ({} entries checked)",
        if report.is_intact() { "intact" } else { "TAMPERED" },
        report.checked
    );
    if let Some(head) = report.head() {
        // Kept somewhere the database's users cannot write, it later proves the trail was not
        // cut or recomputed: `audit verify sqlite://quickstart-audit.db --anchor <it>`.
        eprintln!("   head anchor: {head}");
    }
    eprintln!("\nThe patient's SSN is in no log line above, and in no entry or snapshot in ./{DATABASE}.");
    eprintln!("Try LOG_FORMAT=console, LOG_LEVEL=warning, or: cargo run --example quickstart -- --event-catalog rst");
    eprintln!(
        "\n── The same trail in the audit explorer (history, versions and their diff, views, the chain):\n   \
         AUDIT_STORE=sqlite://{DATABASE} EXPLORER_OPEN=1 cargo run -p audit-examples --features http --example service\n   \
         then open http://127.0.0.1:3000/audit/objects/observation/17"
    );
    Ok(())
}

fn print_revision(id: Option<i64>) {
    match id {
        Some(id) => eprintln!("   revision {id} committed"),
        None => eprintln!("   revision committed to the spool (the database is away)"),
    }
}

/// Narration, on stderr so that stdout holds only log lines.
fn step(title: &str) {
    eprintln!("\n── {title}");
}

/// An error with a source, as services have them.
#[derive(Debug)]
struct UpstreamError {
    service: &'static str,
    cause: std::io::Error,
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} service did not answer", self.service)
    }
}

impl Error for UpstreamError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}
