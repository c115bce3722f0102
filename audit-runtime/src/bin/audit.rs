//! `audit`: check, read and trim an audit store from the command line.
//!
//! Reading commands (`verify`, `history`, `versions`, `views`, `purge --dry-run`) open the store
//! read-only: they never create, migrate or change it. A missing SQLite file is an error.
//!
//! Exit codes, for scripts:
//! - 0: done; for `verify`, the chain is intact (and matches the anchor or witness given)
//! - 1: `verify` found tampering, or the store does not match the anchor or the witness
//!   (a truncated tail, a rewritten chain, a checkpoint signed by another key)
//! - 2: the command line is wrong (unknown command, bad date, URL, anchor or key file)
//! - 3: the store could not be opened (a missing file, an unreachable server, no audit tables,
//!   an older or newer schema) or refused the operation

use std::path::PathBuf;
use std::process::ExitCode;

use audit_runtime::store::witness::{DirectoryWitness, PublicKey, SecretKey, WitnessError};
use audit_runtime::store::{Anchor, AuditStore, EntryQuery, StoreError, StoredEntry, VerifyReport};
use audit_runtime::{Action, Actor};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

const EXIT_TAMPERED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_DATABASE: u8 = 3;

#[derive(Parser)]
#[command(name = "audit", version, about = "Check, read and trim an audit store.", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Reading commands open the store read-only and never create it.\n\
                          Exit codes: 0 done (verify: intact), 1 verify found tampering or a mismatch with the \
                          anchor or witness, 2 bad command line or key file, 3 store missing, unreachable, of \
                          another schema version, or operation refused.";

#[derive(Subcommand)]
enum Command {
    /// Check the hash chain: every entry, from the oldest (or the last purge checkpoint), and
    /// print the head anchor (SEQ:HEX) to keep elsewhere.
    Verify {
        /// sqlite://path/to/audit.db or postgres://user@host/database
        url: String,
        /// Also check that the entry SEQ still has the hash HEX (an anchor printed by an
        /// earlier `verify`): finds a truncated tail and a chain recomputed from scratch.
        #[arg(long, value_name = "SEQ:HEX")]
        anchor: Option<Anchor>,
        /// Also check against the newest signed checkpoint in this witness directory.
        #[arg(long, value_name = "DIR", requires = "public_key")]
        witness: Option<PathBuf>,
        /// The public key file that signed the witness's checkpoints (see `audit keygen`).
        #[arg(long, value_name = "KEY", requires = "witness")]
        public_key: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Entries, newest first: of one object, one object type, or all, with filters.
    History {
        /// sqlite://path/to/audit.db or postgres://user@host/database
        url: String,
        /// The object type, such as `observation`.
        object_type: Option<String>,
        /// The object id.
        object_id: Option<String>,
        /// Only entries by this actor: user:ID or system:NAME.
        #[arg(long, value_parser = parse_actor)]
        actor: Option<Actor>,
        /// Only entries of this action: create, change, delete or view.
        #[arg(long, value_parser = parse_action)]
        action: Option<Action>,
        /// Only entries recorded in this request.
        #[arg(long)]
        request_id: Option<String>,
        /// Only entries at or after this date (YYYY-MM-DD, UTC) or RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        since: Option<OffsetDateTime>,
        /// Only entries before this date (YYYY-MM-DD, UTC) or RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        until: Option<OffsetDateTime>,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The snapshots (versions) of one object, newest first, with who, when and why.
    Versions {
        /// sqlite://path/to/audit.db or postgres://user@host/database
        url: String,
        /// The object type, such as `observation`.
        object_type: String,
        /// The object id.
        object_id: String,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Views per object of one type (anonymous analytics), most viewed first.
    Views {
        /// sqlite://path/to/audit.db or postgres://user@host/database
        url: String,
        /// The object type, such as `observation`.
        object_type: String,
        /// Count views from this day (YYYY-MM-DD, UTC; default: all).
        #[arg(long, value_parser = parse_time)]
        since: Option<OffsetDateTime>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove entries older than a date, leaving a checkpoint so `verify` still holds.
    Purge {
        /// sqlite://path/to/audit.db or postgres://user@host/database
        url: String,
        /// A date (2025-01-31, UTC midnight) or an RFC 3339 time (2025-01-31T12:00:00Z).
        #[arg(long, value_parser = parse_time)]
        before: OffsetDateTime,
        /// Only say how many entries would be removed (read-only).
        #[arg(long)]
        dry_run: bool,
    },
    /// Make an Ed25519 key pair for signed checkpoints: a secret key file (owner-only) for the
    /// application, a public key file for `verify --public-key`.
    Keygen {
        /// The secret key file to create (an existing file is never replaced).
        #[arg(long, value_name = "PATH")]
        secret: PathBuf,
        /// The public key file to write.
        #[arg(long, value_name = "PATH")]
        public: PathBuf,
    },
}

fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(time);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).map(|date| date.midnight().assume_utc()).map_err(|_| {
        format!("{text:?} is not a date: expected YYYY-MM-DD or an RFC 3339 time such as 2025-01-31T12:00:00Z")
    })
}

fn parse_actor(text: &str) -> Result<Actor, String> {
    match text.split_once(':') {
        Some(("user", id)) if !id.is_empty() => Ok(Actor::user(id)),
        Some(("system", name)) if !name.is_empty() => Ok(Actor::system(name)),
        _ => Err(format!("{text:?} is not an actor: expected user:ID or system:NAME (such as user:42)")),
    }
}

fn parse_action(text: &str) -> Result<Action, String> {
    [Action::Create, Action::Change, Action::Delete, Action::View]
        .into_iter()
        .find(|action| action.as_str() == text)
        .ok_or_else(|| format!("{text:?} is not an action: expected create, change, delete or view"))
}

/// Why the command failed, and the exit code that says so.
enum Failure {
    Store(StoreError),
    Usage(String),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("audit: cannot start: {error}");
            return ExitCode::from(EXIT_DATABASE);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("audit: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Store(error)) => {
            eprintln!("audit: {error}");
            ExitCode::from(exit_code(&error))
        }
    }
}

fn exit_code(error: &StoreError) -> u8 {
    match error {
        StoreError::InvalidUrl { .. } | StoreError::BackendNotBuilt { .. } => EXIT_USAGE,
        StoreError::AnchorMismatch { .. } => EXIT_TAMPERED,
        StoreError::Witness(
            WitnessError::BadSignature { .. } | WitnessError::BadCheckpoint { .. } | WitnessError::NoCheckpoint { .. },
        ) => EXIT_TAMPERED,
        StoreError::Witness(_) => EXIT_USAGE,
        _ => EXIT_DATABASE,
    }
}

async fn run(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Verify { url, anchor, witness, public_key, json } => {
            // The witness and key are read before the store: a typo fails fast.
            let witnessed = match (witness, public_key) {
                (Some(dir), Some(key)) => {
                    let key = PublicKey::read(&key).map_err(StoreError::from)?;
                    let witness = DirectoryWitness::open(dir).map_err(StoreError::from)?;
                    let checkpoint = witness
                        .latest()
                        .map_err(StoreError::from)?
                        .ok_or_else(|| WitnessError::NoCheckpoint { path: witness.path().display().to_string() })
                        .map_err(StoreError::from)?;
                    Some(checkpoint.verify(&key).map_err(StoreError::from)?)
                }
                _ => None,
            };
            let store = AuditStore::open_existing(&url).await?;
            verify(&store, anchor.as_ref(), witnessed.as_ref(), json).await
        }
        Command::History { url, object_type, object_id, actor, action, request_id, since, until, limit, json } => {
            let mut query = EntryQuery::new().limit(limit);
            match (&object_type, &object_id) {
                (Some(object_type), Some(object_id)) => query = query.object(object_type, object_id),
                (Some(object_type), None) => query = query.object_type(object_type),
                _ => {}
            }
            if let Some(actor) = &actor {
                query = query.actor(actor);
            }
            if let Some(action) = action {
                query = query.action(action);
            }
            if let Some(request_id) = &request_id {
                query = query.request_id(request_id);
            }
            if let Some(since) = since {
                query = query.since(since);
            }
            if let Some(until) = until {
                query = query.until(until);
            }
            let store = AuditStore::open_existing(&url).await?;
            let entries = store.entries(&query).await?;
            if json {
                for stored in &entries {
                    println!("{}", serde_json::to_string(stored).unwrap_or_default());
                }
            } else if entries.is_empty() {
                println!("no entries");
            } else {
                print_entries(&entries);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Versions { url, object_type, object_id, json } => {
            let store = AuditStore::open_existing(&url).await?;
            let versions = store.version_snapshots(&object_type, &object_id).await?;
            if json {
                for version in &versions {
                    println!("{}", serde_json::to_string(version).unwrap_or_default());
                }
            } else if versions.is_empty() {
                println!("no versions of {} {}", printable(&object_type), printable(&object_id));
            } else {
                println!("{:>6}  {:>8}  {:<27}  {:<22}  comment / snapshot", "id", "revision", "time (UTC)", "user");
                for version in &versions {
                    let user = version.user.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
                    let comment = version.comment.as_deref().unwrap_or("-");
                    println!(
                        "{:>6}  {:>8}  {:<27}  {:<22}  {}  {}",
                        version.id,
                        version.revision_id,
                        fixed_width_time(version.created_at),
                        printable(&user),
                        printable(comment),
                        printable(&version.object.to_string())
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Views { url, object_type, since, json } => {
            let store = AuditStore::open_existing(&url).await?;
            let since = since.unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let counts = store.view_counts(&object_type, since).await?;
            if json {
                for count in &counts {
                    println!("{}", serde_json::to_string(count).unwrap_or_default());
                }
            } else if counts.is_empty() {
                println!("no views of {}", printable(&object_type));
            } else {
                println!("{:>10}  object id", "views");
                for count in &counts {
                    println!("{:>10}  {}", count.views, printable(&count.object_id));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge { url, before, dry_run } => {
            // The store must exist (and have this build's schema) before anything is written.
            let read_only = AuditStore::open_existing(&url).await?;
            if dry_run {
                let old = read_only.entries(&EntryQuery::new().until(before)).await?.len();
                println!("would remove up to {old} entries older than {}", before.format(&Rfc3339).unwrap_or_default());
                return Ok(ExitCode::SUCCESS);
            }
            let store = AuditStore::connect(&url).await?;
            let bar = progress(0, "verifying before purge");
            let report = store.purge_before(before).await?;
            bar.finish_and_clear();
            match report.checkpoint {
                Some(seq) => println!("removed {} entries; checkpoint at entry {seq}", report.removed),
                None => println!("nothing to remove"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { secret, public } => {
            let usage = |error: WitnessError| Failure::Usage(error.to_string());
            let key = SecretKey::generate().map_err(usage)?;
            key.write_new(&secret).map_err(usage)?;
            key.public_key().write(&public).map_err(usage)?;
            println!(
                "secret key: {} (keep it outside the database, readable by the application only)",
                secret.display()
            );
            println!("public key: {} ({})", public.display(), key.public_key().to_hex());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn verify(
    store: &AuditStore,
    anchor: Option<&Anchor>,
    witnessed: Option<&Anchor>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let total = store.entry_count().await?;
    let bar = progress(total, "verifying");
    let report = store.verify_with_progress(|checked| bar.set_position(checked)).await;
    bar.finish_and_clear();
    let report = report?;
    if !report.is_intact() {
        print_report(store, &report, json);
        return Ok(ExitCode::from(EXIT_TAMPERED));
    }
    // The chain was just walked: each anchor needs one more lookup, not another walk.
    for (what, anchor) in [("anchor", anchor), ("witnessed checkpoint", witnessed)] {
        let Some(anchor) = anchor else { continue };
        match store.check_anchor(&report, anchor).await {
            Ok(()) => {
                if !json {
                    println!("{what} {anchor}: present and unchanged");
                }
            }
            Err(error @ StoreError::AnchorMismatch { .. }) => {
                if json {
                    let mismatch = serde_json::json!({ "what": what, "anchor": anchor, "error": error.to_string() });
                    println!("{mismatch}");
                } else {
                    println!("TAMPERED: {what}: {error}");
                }
                return Ok(ExitCode::from(EXIT_TAMPERED));
            }
            Err(error) => return Err(error.into()),
        }
    }
    print_report(store, &report, json);
    Ok(ExitCode::SUCCESS)
}

fn print_report(store: &AuditStore, report: &VerifyReport, json: bool) {
    if json {
        let mut value = serde_json::to_value(report).unwrap_or_default();
        value["head"] = report.head().map_or(serde_json::Value::Null, |head| head.to_string().into());
        println!("{value}");
        return;
    }
    match (&report.first_broken, report.head()) {
        (None, Some(head)) => {
            println!("intact: {} entries verified ({})", report.checked, store.url());
            println!("head: {head}");
        }
        (None, None) => println!("intact: 0 entries verified ({}): the store is empty", store.url()),
        (Some(broken), _) => println!(
            "TAMPERED: entry {} {} ({} entries checked before it)",
            broken.seq,
            broken.tampering,
            report.checked.saturating_sub(1)
        ),
    }
}

fn print_entries(entries: &[StoredEntry]) {
    println!(
        "{:>6}  {:<27}  {:<22}  {:<7}  {:<20}  message / changes",
        "seq", "time (UTC)", "actor", "action", "request id"
    );
    for stored in entries {
        let entry = &stored.entry;
        let mut line = entry.message.clone();
        for change in &entry.changes {
            line.push_str(&format!("  {}: {} -> {}", change.field, change.old, change.new));
        }
        println!(
            "{:>6}  {:<27}  {:<22}  {:<7}  {:<20}  {}",
            stored.seq,
            fixed_width_time(entry.time),
            printable(&entry.actor.to_string()),
            entry.action.as_str(),
            printable(entry.request_id.as_deref().unwrap_or("-")),
            printable(&line)
        );
    }
}

/// `2025-01-31T12:00:00.000000Z`: always UTC and six fractional digits, so columns line up.
fn fixed_width_time(time: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    time.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// A progress bar on stderr; hidden when stderr is not a terminal (indicatif checks).
fn progress(total: u64, what: &'static str) -> ProgressBar {
    let bar = if total > 0 { ProgressBar::new(total) } else { ProgressBar::new_spinner() };
    if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({per_sec}, {eta})") {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar
}

/// Control characters from stored text are shown escaped, so a hostile value cannot drive the
/// terminal.
fn printable(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}
