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
//! For a subscriber of your own, [`OtlpConfig::build`] gives the exporter layer (an
//! [`OtlpLayer`] with its per-layer [`ExportFilter`]) and its guard;
//! [`LogConfig::build_with`](crate::logging::LogConfig::build_with) adds such a layer beside
//! the log sinks.
//!
//! A function with [`#[trace_span]`](crate::trace_span) is recorded for the exporter without a
//! `tracing` span when no other layer wants one (see `docs/tracing.md`): its `tracing` span is
//! made only for the other layers, and the exporter layer never sees it.
//!
//! Spans are exported off the caller's thread: on close, a span's record goes into a bounded
//! queue (the spans of `#[trace_span]` into a per-thread buffer, handed over in chunks) that a
//! background thread sends in batches. When the collector cannot be reached, or
//! the queue is full, spans are dropped and counted ([`TelemetryGuard::dropped_spans`]), and a
//! warning `otlp_export_failed` is logged at most once a minute; the service never waits.
//! Log lines written inside a span carry `trace_id` and `span_id` as OTLP shows them (32 and
//! 16 lower-case hex digits).

mod clock;
mod config;
pub(crate) mod context;
mod export;
pub(crate) mod fast;
mod ids;
mod layer;
mod proto;
pub(crate) mod record;
mod sampler;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use config::{Endpoint, OtlpConfig, TelemetryError, vars};
pub use fast::ExportFilter;
pub use layer::OtlpLayer;
pub use sampler::Sampler;
use tracing_core::Subscriber;
use tracing_subscriber::filter::{EnvFilter, Filtered};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer as _, Registry};

use crate::logging::{LogConfig, LogGuard};
use export::Shared;

/// The exporter layer [`OtlpConfig::build`] gives: the [`OtlpLayer`] behind its per-layer
/// [`ExportFilter`], for a subscriber `S` (inferred where it is added).
pub type OtlpExportLayer<S> = Filtered<OtlpLayer, ExportFilter, S>;

/// Keeps the exporter (and, from [`init_from_env`], the log sinks) alive. Dropping it sends
/// every finished span still queued, waiting at most the export timeout, then stops the
/// exporter thread.
#[must_use = "dropping the guard stops the exporter: hold it until the program ends"]
pub struct TelemetryGuard {
    shared: Arc<Shared>,
    timeout: Duration,
    logs: Option<LogGuard>,
    /// Counted in `fast::LIVE_EXPORTERS` (an exporter thread was started).
    live: bool,
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
        if self.live {
            fast::LIVE_EXPORTERS.fetch_sub(1, Ordering::Relaxed);
        }
        // The log sinks last, so that the exporter's last warning is written.
        self.logs.take();
    }
}

impl OtlpConfig {
    /// Starts the exporter thread and gives the layer to put in a subscriber, with the guard
    /// that flushes it. With [`disabled`](OtlpConfig::disabled) no thread is started and the
    /// layer wants nothing.
    ///
    /// The layer carries its own per-layer filter ([`ExportFilter`]); a filter of your own
    /// around it works, but then the registry makes the `tracing` span of every
    /// `#[trace_span]` call that filter lets through (to be ignored), which costs time: to
    /// filter what is exported, prefer [`init`] (the log level applies inside the filter).
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
    pub fn build<S>(&self) -> Result<(OtlpExportLayer<S>, TelemetryGuard), TelemetryError>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.build_filtered(None)
    }

    /// [`build`](Self::build) with `level` applied inside the export filter.
    fn build_filtered<S>(
        &self,
        level: Option<EnvFilter>,
    ) -> Result<(OtlpExportLayer<S>, TelemetryGuard), TelemetryError>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let shared = if self.disabled {
            tracing::debug!(variable = vars::SDK_DISABLED, "otlp_export_disabled");
            export::inert(self)
        } else {
            let shared = export::start(self).map_err(TelemetryError::Thread)?;
            fast::LIVE_EXPORTERS.fetch_add(1, Ordering::Relaxed);
            shared
        };
        let layer = OtlpLayer { shared: shared.clone(), sampler: self.sampler.clone(), log_ids: self.log_ids };
        let filter = ExportFilter { shared: shared.clone(), level, disabled: self.disabled };
        let guard = TelemetryGuard { shared, timeout: self.timeout, logs: None, live: !self.disabled };
        Ok((layer.with_filter(filter), guard))
    }
}

/// Reads the logging variables (as [`logging::init_from_env`](crate::logging::init_from_env))
/// and the `OTEL_*` variables, and installs the global subscriber: JSON logs and span export.
/// Call it once, instead of `logging::init_from_env`; keep the guard until the program ends.
pub fn init_from_env() -> Result<TelemetryGuard, TelemetryError> {
    init(&LogConfig::from_env()?, &OtlpConfig::from_env()?)
}

/// [`init_from_env`] with configurations made in code.
///
/// With `OTEL_SDK_DISABLED=true` ([`OtlpConfig::disabled`]) only the logs are set up: no
/// exporter thread, nothing exported; a debug line `otlp_export_disabled` says so.
pub fn init(logs: &LogConfig, otlp: &OtlpConfig) -> Result<TelemetryGuard, TelemetryError> {
    if otlp.disabled {
        let log_guard = logs.init()?;
        tracing::debug!(variable = vars::SDK_DISABLED, "otlp_export_disabled");
        let guard =
            TelemetryGuard { shared: export::inert(otlp), timeout: otlp.timeout, logs: Some(log_guard), live: false };
        return Ok(guard);
    }
    // The log level goes inside the export filter, not around it (see `OtlpConfig::build`).
    let (layer, mut guard) = otlp.build_filtered::<Registry>(Some(logs.level.env_filter()))?;
    let (dispatch, log_guard) = logs.build_with_prefiltered(layer)?;
    tracing::dispatcher::set_global_default(dispatch).map_err(|_| TelemetryError::AlreadyInstalled)?;
    guard.logs = Some(log_guard);
    Ok(guard)
}
