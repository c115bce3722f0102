//! A tiny service for the logging tests: it configures logging from the environment exactly as a
//! user's `main` does, emits one event per level (or a burst), and exits.
//!
//! `log-probe` emits debug, info, warning, error and critical events;
//! `log-probe burst N` emits N info events as fast as it can.

use std::process::ExitCode;

fn main() -> ExitCode {
    let _guard = match audit_runtime::logging::init_from_env() {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("log-probe: {error}");
            return ExitCode::from(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("burst") => {
            let count: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
            for sequence in 0..count {
                tracing::info!(sequence, "burst_line");
            }
        }
        _ => {
            let _request = tracing::info_span!("request", request_id = "7f0c1d2e").entered();
            tracing::debug!(detail = "cache miss", "probe_debug");
            tracing::info!(object_id = 17, "probe_info");
            tracing::warn!(retries = 3, "probe_warning");
            let error = std::io::Error::other("upstream timed out");
            tracing::error!(error = &error as &dyn std::error::Error, "probe_error");
            tracing::error!(level = "critical", "probe_critical");
        }
    }
    ExitCode::SUCCESS
}
