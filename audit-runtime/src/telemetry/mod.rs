//! Span export over OTLP (HTTP/protobuf), feature `otlp`.
//!
//! One call in `main` sets up the JSON logs *and* the exporter, in place of
//! [`logging::init_from_env`](crate::logging::init_from_env):
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _telemetry = audit_runtime::telemetry::init_from_env()?; // flushes spans on drop
//!     let _span = audit_runtime::trace::span("startup");
//!     tracing::info!("service_started"); // carries trace_id and span_id
//!     Ok(())
//! }
//! ```
//!
//! The exporter reads the standard variables in [`vars`]: `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (default `http://localhost:4318`, `/v1/traces` appended) or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is), `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, and the
//! `OTEL_BSP_*` batch settings. Only plain `http://` is supported: run an OpenTelemetry
//! Collector beside the service to forward over TLS.
//!
//! For a subscriber of your own, [`OtlpConfig::build`] gives the [`OtlpLayer`] and its guard;
//! [`LogConfig::build_with`](crate::logging::LogConfig::build_with) adds such a layer beside
//! the log sinks.
//!
//! Spans are exported off the caller's thread: on close, a span's record goes into a bounded
//! queue that a background thread sends in batches. When the collector cannot be reached, or
//! the queue is full, spans are dropped and counted ([`TelemetryGuard::dropped_spans`]), and a
//! warning `otlp_export_failed` is logged at most once a minute; the service never waits.
//! Log lines written inside a span carry `trace_id` and `span_id` as OTLP shows them (32 and
//! 16 lower-case hex digits).

mod config;
mod export;
mod ids;
mod layer;
mod proto;
pub(crate) mod record;
mod sampler;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use config::{Endpoint, OtlpConfig, TelemetryError, vars};
pub use layer::OtlpLayer;
pub use sampler::Sampler;

use crate::logging::{LogConfig, LogGuard};
use export::Shared;

/// Keeps the exporter (and, from [`init_from_env`], the log sinks) alive. Dropping it sends
/// every finished span still queued, waiting at most the export timeout, then stops the
/// exporter thread.
#[must_use = "dropping the guard stops the exporter: hold it until the program ends"]
pub struct TelemetryGuard {
    shared: Arc<Shared>,
    timeout: Duration,
    logs: Option<LogGuard>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("exported_spans", &self.exported_spans())
            .field("dropped_spans", &self.dropped_spans())
            .finish()
    }
}

impl TelemetryGuard {
    /// Spans dropped so far: the queue was full, or the collector could not be reached.
    pub fn dropped_spans(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Spans the collector accepted so far.
    pub fn exported_spans(&self) -> u64 {
        self.shared.exported.load(Ordering::Relaxed)
    }

    /// Sends every finished span now and waits for the answer, at most `timeout`. False when
    /// the time ran out first. (Spans still open are sent when they close.)
    pub fn flush(&self, timeout: Duration) -> bool {
        self.shared.flush(timeout)
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.shared.shutdown(self.timeout + Duration::from_millis(500));
        // The log sinks last, so that the exporter's last warning is written.
        self.logs.take();
    }
}

impl OtlpConfig {
    /// Starts the exporter thread and gives the layer to put in a subscriber, with the guard
    /// that flushes it.
    ///
    /// ```no_run
    /// use tracing_subscriber::prelude::*;
    /// let (otlp, _guard) = audit_runtime::telemetry::OtlpConfig::from_env()?.build()?;
    /// tracing_subscriber::registry()
    ///     .with(otlp)
    ///     .with(audit_runtime::logging::JsonLayer::new(std::io::stdout))
    ///     .init();
    /// # Ok::<(), audit_runtime::telemetry::TelemetryError>(())
    /// ```
    pub fn build(&self) -> Result<(OtlpLayer, TelemetryGuard), TelemetryError> {
        let shared = export::start(self).map_err(TelemetryError::Thread)?;
        let layer = OtlpLayer { shared: shared.clone(), sampler: self.sampler.clone(), log_ids: self.log_ids };
        Ok((layer, TelemetryGuard { shared, timeout: self.timeout, logs: None }))
    }
}

/// Reads the logging variables (as [`logging::init_from_env`](crate::logging::init_from_env))
/// and the `OTEL_*` variables, and installs the global subscriber: JSON logs and span export.
/// Call it once, instead of `logging::init_from_env`; keep the guard until the program ends.
pub fn init_from_env() -> Result<TelemetryGuard, TelemetryError> {
    init(&LogConfig::from_env()?, &OtlpConfig::from_env()?)
}

/// [`init_from_env`] with configurations made in code.
pub fn init(logs: &LogConfig, otlp: &OtlpConfig) -> Result<TelemetryGuard, TelemetryError> {
    let (layer, mut guard) = otlp.build()?;
    let (dispatch, log_guard) = logs.build_with(layer)?;
    tracing::dispatcher::set_global_default(dispatch).map_err(|_| TelemetryError::AlreadyInstalled)?;
    guard.logs = Some(log_guard);
    Ok(guard)
}
