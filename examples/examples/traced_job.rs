//! A small traced job: nested spans, one failure, exported over OTLP to whatever
//! `OTEL_EXPORTER_OTLP_ENDPOINT` names (default `http://localhost:4318`).
//!
//! ```text
//! OTEL_SERVICE_NAME=traced-job cargo run -p audit-examples --features otlp --example traced_job
//! ```
//!
//! Log lines (JSON on stdout) carry the `trace_id` and `span_id` of the span they were written
//! in; the summary goes to stderr. See docs/tracing.md to see the spans in Jaeger.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use audit_runtime::{telemetry, trace, trace_span};

#[derive(Debug)]
struct RowRejected {
    row: u32,
    reason: &'static str,
}

impl fmt::Display for RowRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {} rejected: {}", self.row, self.reason)
    }
}

impl Error for RowRejected {}

#[derive(Debug)]
struct BatchFailed {
    batch: u32,
    cause: RowRejected,
}

impl fmt::Display for BatchFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "batch {} failed", self.batch)
    }
}

impl Error for BatchFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}

/// One row: a child span of its batch.
#[trace_span(level = "debug", fields(row))]
fn check_row(row: u32) -> Result<(), RowRejected> {
    std::thread::sleep(Duration::from_millis(2));
    if row == 13 { Err(RowRejected { row, reason: "missing objecttype" }) } else { Ok(()) }
}

/// One batch: records its number and size, and fails (with its cause) when a row does.
#[trace_span(name = "import_batch", err, fields(batch, rows = rows.len()))]
fn import_batch(batch: u32, rows: &[u32], api_token: &str) -> Result<usize, BatchFailed> {
    // `api_token` is not named in `fields`: it is never recorded.
    let _ = api_token;
    for &row in rows {
        check_row(row).map_err(|cause| BatchFailed { batch, cause })?;
    }
    tracing::info!(imported = rows.len(), "batch_imported");
    Ok(rows.len())
}

fn main() -> Result<(), Box<dyn Error>> {
    // Logs (LOG_* variables) and span export (OTEL_* variables) in one call.
    let telemetry = telemetry::init_from_env()?;

    {
        let job = trace::span!("nightly_import", job = "objects");
        let mut imported = 0;
        for (batch, rows) in [(1, vec![1, 2, 3]), (2, vec![11, 12, 13, 14]), (3, vec![21, 22])] {
            match import_batch(batch, &rows, "secret-token") {
                Ok(count) => imported += count,
                Err(error) => tracing::warn!(batch, error = &error as &dyn Error, "batch_skipped"),
            }
        }
        tracing::info!(imported, "job_finished");
        if let Some(traceparent) = trace::current_traceparent() {
            eprintln!("trace: {} (traceparent for a downstream call: {traceparent})", hex(traceparent.trace_id));
        }
        drop(job);
    }

    let flushed = telemetry.flush(Duration::from_secs(5));
    eprintln!(
        "spans exported: {}, dropped: {}{}",
        telemetry.exported_spans(),
        telemetry.dropped_spans(),
        if flushed { "" } else { " (the collector did not answer in time)" }
    );
    if telemetry.dropped_spans() > 0 {
        eprintln!("is a collector listening? see docs/tracing.md");
    }
    Ok(())
}

fn hex(trace_id: u128) -> String {
    format!("{trace_id:032x}")
}
