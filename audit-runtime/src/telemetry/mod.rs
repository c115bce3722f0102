//! Span export to any OpenTelemetry SDK `SpanExporter`, feature `otlp` (and `otlp-http` /
//! `otlp-grpc` for the standard OTLP exporter built from the environment).
//!
//! One call in `main` sets up the JSON logs, span export and error reports, in place of
//! [`logging::init_from_env`](crate::logging::init_from_env):
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _telemetry = audit_runtime::telemetry::init_from_env()?; // flushes everything on drop
//!     let _span = audit_runtime::trace::span("startup");
//!     tracing::info!("service_started"); // carries trace_id and span_id
//!     Ok(())
//! }
//! ```
//!
//! With the `otlp-http` or `otlp-grpc` feature the spans go to the OTLP exporter of
//! `opentelemetry-otlp`, built from the standard variables in [`vars`]:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://` or `https://`), `OTEL_EXPORTER_OTLP_PROTOCOL`
//! (`http/protobuf` or `grpc`), `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_CERTIFICATE`,
//! `OTEL_EXPORTER_OTLP_COMPRESSION`, `OTEL_EXPORTER_OTLP_TIMEOUT` (and their `_TRACES_`
//! forms), `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG`, and the `OTEL_BSP_*` batch settings. TLS is rustls, with the
//! system's CA certificates. In code, [`OtlpConfig::exporter`] sends the spans to any
//! `SpanExporter` instead.
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
//! Spans are recorded on the caller's thread into compact records, and converted into the SDK's
//! `SpanData` on the exporter thread, which hands them to the exporter in batches. When the
//! exporter fails, or the queue is full, spans are dropped and counted
//! ([`TelemetryGuard::dropped_spans`]), and a warning `otlp_export_failed` is logged at most
//! once a minute; the service never waits. Log lines written inside a span carry `trace_id`
//! and `span_id` as OTLP shows them (32 and 16 lower-case hex digits).

mod body;
mod config;
mod convert;
mod events;
mod export;
mod exporter;
pub(crate) mod fast;
mod ids;
mod layer;
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
mod otlp;
mod propagation;
pub(crate) mod record;
mod sampler;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use config::{ExporterSlot, OtlpConfig, Protocol, TelemetryError, vars};
pub use events::{OtlpExportDisabled, OtlpExportFailed};
pub use fast::ExportFilter;
pub use layer::OtlpLayer;
pub use propagation::{current_span_context, extract_remote_parent, inject_context};
pub use sampler::Sampler;
use tracing_core::Subscriber;
use tracing_subscriber::filter::{EnvFilter, Filtered};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer as _, Registry};

use crate::logging::{LogConfig, LogGuard};
use crate::report::ReportGuard;
use crate::trace::recorder::LIVE_EXPORTERS;
use export::Shared;

/// The exporter layer [`OtlpConfig::build`] gives: the [`OtlpLayer`] behind its per-layer
/// [`ExportFilter`], for a subscriber `S` (inferred where it is added).
pub type OtlpExportLayer<S> = Filtered<OtlpLayer, ExportFilter, S>;

/// Keeps the exporter (and, from [`init`] and [`init_from_env`], the log sinks and error
/// reports) alive. Dropping it sends every finished span still queued, waiting at most the
/// export timeout, shuts the exporter down, then flushes the logs and the reports.
#[must_use = "dropping the guard stops the exporter: hold it until the program ends"]
pub struct TelemetryGuard {
    shared: Arc<Shared>,
    timeout: Duration,
    logs: Option<LogGuard>,
    reports: Option<ReportGuard>,
    /// Counted in `trace::recorder::LIVE_EXPORTERS` (an exporter thread was started).
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
    /// Spans dropped so far: the queue was full, or the exporter failed.
    pub fn dropped_spans(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Spans the exporter accepted so far.
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
            LIVE_EXPORTERS.fetch_sub(1, Ordering::Relaxed);
        }
        // Reports, then the log sinks last, so that the exporter's last warning is written.
        self.reports.take();
        self.logs.take();
    }
}

impl OtlpConfig {
    /// Starts the exporter thread and gives the layer to put in a subscriber, with the guard
    /// that flushes it. With [`disabled`](OtlpConfig::disabled) no thread is started and the
    /// layer wants nothing.
    ///
    /// The spans go to the exporter given with [`exporter`](OtlpConfig::exporter), else to
    /// the OTLP exporter (features `otlp-http`, `otlp-grpc`) built from this configuration.
    ///
    /// The layer carries its own per-layer filter ([`ExportFilter`]); a filter of your own
    /// around it works, but then the registry makes the `tracing` span of every
    /// `#[trace_span]` call that filter lets through (to be ignored), which costs time: to
    /// filter what is exported, prefer [`init`] (the log level applies inside the filter).
    ///
    /// ```no_run
    /// use audit_runtime::logging::{JsonLayer, LogFilter};
    /// use tracing_subscriber::filter::LevelFilter;
    /// use tracing_subscriber::prelude::*;
    /// let (otlp, _guard) = audit_runtime::telemetry::OtlpConfig::from_env()?.build()?;
    /// tracing_subscriber::registry()
    ///     .with(otlp)
    ///     .with(JsonLayer::new(std::io::stdout).with_filter(LogFilter::level(LevelFilter::INFO)))
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
            export::inert(self)
        } else {
            let mut exporter = self.exporter.take().map_or_else(|| self.otlp_exporter(), Ok)?;
            exporter.set_resource(&self.resource());
            let shared = export::start(self, exporter).map_err(TelemetryError::Thread)?;
            crate::trace::recorder::install(&fast::RECORDER);
            LIVE_EXPORTERS.fetch_add(1, Ordering::Relaxed);
            shared
        };
        let layer = OtlpLayer { shared: shared.clone(), sampler: self.sampler.clone(), log_ids: self.log_ids };
        let filter = ExportFilter { shared: shared.clone(), level, disabled: self.disabled };
        let guard = TelemetryGuard { shared, timeout: self.timeout, logs: None, reports: None, live: !self.disabled };
        Ok((layer.with_filter(filter), guard))
    }

    #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
    fn otlp_exporter(&self) -> Result<exporter::BoxedExporter, TelemetryError> {
        otlp::build(self)
    }

    #[cfg(not(any(feature = "otlp-http", feature = "otlp-grpc")))]
    fn otlp_exporter(&self) -> Result<exporter::BoxedExporter, TelemetryError> {
        Err(TelemetryError::NoExporter)
    }
}

/// The one set-up call of a service: reads the logging variables (as
/// [`logging::init_from_env`](crate::logging::init_from_env)), the `OTEL_*` variables and the
/// error-report variables (as [`report::init_from_env`](crate::report::init_from_env)), and
/// installs the global subscriber: JSON logs, span export, the `log` crate's records, and
/// error reports. Keep the one guard until the program ends.
///
/// Called when a set-up call has installed the global subscriber already (this one, or
/// `logging::init_from_env`), it fails with [`TelemetryError::AlreadyInstalled`] naming it.
pub fn init_from_env() -> Result<TelemetryGuard, TelemetryError> {
    already_installed()?;
    let logs = LogConfig::from_env()?;
    let otlp = OtlpConfig::from_env()?;
    #[cfg(feature = "store")]
    let reports = crate::report::init_from_env(None)?;
    #[cfg(not(feature = "store"))]
    let reports = crate::report::init_from_env()?;
    let mut guard = init(&logs, &otlp)?;
    guard.reports = Some(reports);
    Ok(guard)
}

fn already_installed() -> Result<(), TelemetryError> {
    match crate::setup::installed() {
        Some(by) => Err(TelemetryError::AlreadyInstalled { installed: by.to_owned() }),
        None => Ok(()),
    }
}

/// Logs and span export with configurations made in code: installs the global subscriber
/// (and the `log` crate's bridge).
///
/// With `OTEL_SDK_DISABLED=true` ([`OtlpConfig::disabled`]) only the logs are set up: no
/// exporter thread, nothing exported; a debug line `otlp_export_disabled` says so.
pub fn init(logs: &LogConfig, otlp: &OtlpConfig) -> Result<TelemetryGuard, TelemetryError> {
    already_installed()?;
    // The log level goes inside the export filter, not around it (see `OtlpConfig::build`).
    let (layer, mut guard) = otlp.build_filtered::<Registry>(Some(logs.level.env_filter()))?;
    let (dispatch, log_guard) = logs.build_with_prefiltered(layer)?;
    tracing::dispatcher::set_global_default(dispatch).map_err(|_| TelemetryError::AlreadyInstalled {
        installed: crate::setup::installed().unwrap_or("a global tracing subscriber").to_owned(),
    })?;
    crate::setup::record("telemetry::init_from_env");
    crate::logging::log_bridge::install();
    guard.logs = Some(log_guard);
    if otlp.disabled {
        events::OtlpExportDisabled { variable: vars::SDK_DISABLED }.emit();
    }
    Ok(guard)
}
