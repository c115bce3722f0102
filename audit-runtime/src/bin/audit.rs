//! `audit`: check, read and trim an audit store from the command line.
//!
//! Exit codes, for scripts:
//! - 0: done; for `verify`, the chain is intact
//! - 1: `verify` found tampering (the first broken entry is printed)
//! - 2: the command line is wrong (unknown command, bad date, bad URL)
//! - 3: the database could not be reached or refused the operation

use std::process::ExitCode;

use audit_runtime::store::{AuditStore, EntryQuery, StoreError};
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

const EXIT_CODES: &str = "Exit codes: 0 done (verify: intact), 1 verify found tampering, 2 bad command line, \
                          3 database unreachable or operation refused.";

#[derive(Subcommand)]
enum Command {
    /// Check the hash chain: every entry, from the oldest (or the last purge checkpoint).
    Verify {
        /// sqlite://path/to/audit.db or postgres://user@host/database
        url: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The actions and changes of one object, newest first.
    History {
        /// sqlite://path/to/audit.db or postgres://user@host/database
        url: String,
        /// The object type, such as `observation`.
        object_type: String,
        /// The object id.
        object_id: String,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: u32,
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
        /// Only say how many entries would be removed.
        #[arg(long)]
        dry_run: bool,
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
        Err(error) => {
            eprintln!("audit: {error}");
            let code = match error {
                StoreError::InvalidUrl { .. } | StoreError::BackendNotBuilt { .. } => EXIT_USAGE,
                _ => EXIT_DATABASE,
            };
            ExitCode::from(code)
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, StoreError> {
    match command {
        Command::Verify { url, json } => {
            let store = AuditStore::connect(&url).await?;
            let total = store.entry_count().await?;
            let bar = progress(total, "verifying");
            let report = store.verify_with_progress(|checked| bar.set_position(checked)).await?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                match &report.first_broken {
                    None => println!("intact: {} entries verified ({})", report.checked, store.url()),
                    Some(broken) => println!(
                        "TAMPERED: entry {} {} ({} entries checked before it)",
                        broken.seq,
                        broken.tampering,
                        report.checked.saturating_sub(1)
                    ),
                }
            }
            Ok(if report.is_intact() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_TAMPERED) })
        }
        Command::History { url, object_type, object_id, limit, json } => {
            let store = AuditStore::connect(&url).await?;
            let entries = store.entries(&EntryQuery::new().object(&object_type, &object_id).limit(limit)).await?;
            if json {
                for stored in &entries {
                    println!("{}", serde_json::to_string(stored).unwrap_or_default());
                }
            } else if entries.is_empty() {
                println!("no entries for {object_type} {object_id}");
            } else {
                println!("{:>6}  {:<27}  {:<22}  {:<7}  message / changes", "seq", "time (UTC)", "actor", "action");
                for stored in &entries {
                    let entry = &stored.entry;
                    let time = entry.time.format(&Rfc3339).unwrap_or_default();
                    let mut line = entry.message.clone();
                    for change in &entry.changes {
                        line.push_str(&format!("  {}: {} -> {}", change.field, change.old, change.new));
                    }
                    println!(
                        "{:>6}  {:<27}  {:<22}  {:<7}  {}",
                        stored.seq,
                        time,
                        printable(&entry.actor.to_string()),
                        entry.action.as_str(),
                        printable(&line)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge { url, before, dry_run } => {
            let store = AuditStore::connect(&url).await?;
            if dry_run {
                let old = store.entries(&EntryQuery::new().until(before)).await?.len();
                println!("would remove up to {old} entries older than {}", before.format(&Rfc3339).unwrap_or_default());
                return Ok(ExitCode::SUCCESS);
            }
            let bar = progress(0, "verifying before purge");
            let report = store.purge_before(before).await?;
            bar.finish_and_clear();
            match report.checkpoint {
                Some(seq) => println!("removed {} entries; checkpoint at entry {seq}", report.removed),
                None => println!("nothing to remove"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A progress bar on stderr; hidden when stderr is not a terminal (indicatif checks).
fn progress(total: u64, what: &'static str) -> ProgressBar {
    let bar = if total > 0 { ProgressBar::new(total) } else { ProgressBar::new_spinner() };
    if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({eta})") {
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
