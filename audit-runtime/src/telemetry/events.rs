//! The events of span export, declared once so that they are listed in the catalog.

use crate::log_event;

/// Spans could not be exported: the exporter answered with an error (the collector is down,
/// refused the spans, or the time ran out). The spans of the failed batches are dropped and
/// counted; written at most once a minute.
#[log_event(name = "otlp_export_failed", level = "warning", group = "Span export")]
pub struct OtlpExportFailed<'a> {
    /// The exporter, as it describes itself (its endpoint for OTLP).
    pub exporter: &'a str,
    /// The exporter's error.
    pub error: &'a str,
    /// Failed exports since the previous warning.
    pub failed_exports: u64,
    /// Spans dropped since the exporter started.
    pub dropped_spans_total: u64,
}

/// Span export is turned off by `OTEL_SDK_DISABLED=true`: no exporter thread, nothing is sent
/// (the logs are unchanged).
#[log_event(name = "otlp_export_disabled", level = "debug", group = "Span export")]
pub struct OtlpExportDisabled<'a> {
    /// The variable that turned it off.
    pub variable: &'a str,
}

pub(crate) fn otlp_export_failed(exporter: &str, error: &str, failed_exports: u64, dropped_spans_total: u64) {
    OtlpExportFailed { exporter, error, failed_exports, dropped_spans_total }.emit();
}
