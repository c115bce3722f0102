//! The exporter's configuration: what is ours (sampling, batching, the log ids) read from the
//! standard `OTEL_*` variables, and the `SpanExporter` the spans go to.
//!
//! The OTLP exporter's own variables (endpoint, compression, timeouts) are read by
//! opentelemetry-otlp itself, and the resource's (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`) by the SDK's resource detectors. Only what they leave out, or
//! accept when they should not, is checked here: the protocol (which transport to build), the
//! headers (refused when a value holds a control character, which would inject headers) and the
//! CA certificate.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_sdk::trace::SpanExporter;

use super::exporter::{self, BoxedExporter};
use super::sampler::Sampler;

/// The variables [`OtlpConfig::from_env`] reads or checks, under the short names this module
/// has always used; they are [`crate::vars`]'s `OTEL_*` constants.
pub mod vars {
    pub use crate::vars::{
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE as MAX_EXPORT_BATCH_SIZE, OTEL_BSP_MAX_QUEUE_SIZE as MAX_QUEUE_SIZE,
        OTEL_BSP_SCHEDULE_DELAY as SCHEDULE_DELAY, OTEL_EXPORTER_OTLP_CERTIFICATE as CERTIFICATE,
        OTEL_EXPORTER_OTLP_COMPRESSION as COMPRESSION, OTEL_EXPORTER_OTLP_ENDPOINT as ENDPOINT,
        OTEL_EXPORTER_OTLP_HEADERS as HEADERS, OTEL_EXPORTER_OTLP_PROTOCOL as PROTOCOL,
        OTEL_EXPORTER_OTLP_TIMEOUT as TIMEOUT, OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE as TRACES_CERTIFICATE,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_HEADERS as TRACES_HEADERS,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL as TRACES_PROTOCOL, OTEL_RESOURCE_ATTRIBUTES as RESOURCE_ATTRIBUTES,
        OTEL_SDK_DISABLED as SDK_DISABLED, OTEL_SERVICE_NAME as SERVICE_NAME, OTEL_TRACES_SAMPLER as SAMPLER,
        OTEL_TRACES_SAMPLER_ARG as SAMPLER_ARG,
    };
}

/// A configuration that could not be used; says which variable, its value, and what is accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A variable has a value we cannot use.
    #[error("{variable}={value:?} is not valid: {accepted}")]
    Variable {
        /// The variable.
        variable: String,
        /// Its value (a header's value is not shown: it may be a key).
        value: String,
        /// What is accepted.
        accepted: String,
    },
    /// The logging configuration is invalid.
    #[error(transparent)]
    Logging(#[from] crate::logging::ConfigError),
    /// The error reports could not be set up.
    #[error(transparent)]
    Report(#[from] crate::report::ReportInitError),
    /// A set-up call was made already: `installed` says which.
    #[error(
        "{installed} is already installed in this process; call one set-up function once (telemetry::init_from_env sets up logs, spans and error reports together)"
    )]
    AlreadyInstalled {
        /// What is installed: the global subscriber set up by another call, or a previous
        /// `telemetry::init_from_env`.
        installed: String,
    },
    /// No exporter: none given with [`OtlpConfig::exporter`], and this build has no OTLP
    /// transport (features `otlp-http`, `otlp-grpc`).
    #[error(
        "no span exporter: give one with OtlpConfig::exporter(..), or enable the `otlp-http` or `otlp-grpc` feature of audit-runtime for the OTLP exporter"
    )]
    NoExporter,
    /// The OTLP exporter could not be built.
    #[error("could not build the OTLP span exporter: {0}")]
    Exporter(String),
    /// The exporter thread could not be started.
    #[error("could not start the span exporter thread: {0}")]
    Thread(#[source] std::io::Error),
}

pub(crate) fn invalid(variable: &str, value: &str, accepted: impl Into<String>) -> TelemetryError {
    TelemetryError::Variable { variable: variable.to_owned(), value: value.to_owned(), accepted: accepted.into() }
}

/// The transport of the OTLP exporter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP over HTTP with protobuf bodies (feature `otlp-http`).
    #[default]
    HttpProtobuf,
    /// OTLP over gRPC (feature `otlp-grpc`).
    Grpc,
}

/// The `SpanExporter` given with [`OtlpConfig::exporter`] (empty by default: the OTLP exporter
/// is built from the configuration). Taken by the first [`OtlpConfig::build`].
#[derive(Clone, Default)]
pub struct ExporterSlot(Arc<Mutex<Option<BoxedExporter>>>);

impl std::fmt::Debug for ExporterSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given = self.0.lock().map(|slot| slot.as_ref().map(|e| e.describe())).unwrap_or_default();
        f.debug_tuple("ExporterSlot").field(&given).finish()
    }
}

impl ExporterSlot {
    pub(crate) fn take(&self) -> Option<BoxedExporter> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }
}

/// The exporter's settings. [`OtlpConfig::from_env`] reads them from the standard variables;
/// the fields can be changed in code, and [`exporter`](OtlpConfig::exporter) sends the spans
/// to any `SpanExporter` instead of the OTLP one.
#[derive(Clone)]
pub struct OtlpConfig {
    /// The OTLP endpoint, used as it is (the full traces URL for HTTP); `None`: the default
    /// (`http://localhost:4318/v1/traces`, or `http://localhost:4317` for gRPC).
    pub endpoint: Option<String>,
    /// The OTLP transport.
    pub protocol: Protocol,
    /// Extra request headers (gRPC metadata), checked: no control characters.
    pub headers: Vec<(String, String)>,
    /// A PEM file of CA certificates trusted besides the system's, for an `https` endpoint.
    pub certificate: Option<PathBuf>,
    /// How long one export may take; the guard waits this long for the last one.
    pub timeout: Duration,
    /// `service.name`; `None`: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, else
    /// `unknown_service:<executable>`.
    pub service_name: Option<String>,
    /// Resource attributes added to those the SDK detects.
    pub resource_attributes: Vec<(String, String)>,
    /// Which traces are recorded.
    pub sampler: Sampler,
    /// Delay between two exports.
    pub schedule_delay: Duration,
    /// Spans kept while waiting for export; past it they are dropped and counted.
    pub max_queue_size: usize,
    /// Spans handed to the exporter in one batch at most.
    pub max_export_batch_size: usize,
    /// Writes `trace_id` and `span_id` into the log lines written inside spans (default true).
    pub log_ids: bool,
    /// Export turned off (`OTEL_SDK_DISABLED=true`): no thread is started, nothing is sent.
    pub disabled: bool,
    /// The exporter given with [`exporter`](OtlpConfig::exporter), if any.
    pub exporter: ExporterSlot,
}

impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are left out: they are usually keys.
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OtlpConfig")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("header_names", &header_names)
            .field("certificate", &self.certificate)
            .field("timeout", &self.timeout)
            .field("service_name", &self.service_name)
            .field("sampler", &self.sampler)
            .field("disabled", &self.disabled)
            .field("exporter", &self.exporter)
            .finish_non_exhaustive()
    }
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: None,
            protocol: Protocol::default(),
            headers: Vec::new(),
            certificate: None,
            timeout: Duration::from_secs(10),
            service_name: None,
            resource_attributes: Vec::new(),
            sampler: Sampler::default(),
            schedule_delay: Duration::from_millis(1000),
            max_queue_size: 2048,
            max_export_batch_size: 512,
            log_ids: true,
            disabled: false,
            exporter: ExporterSlot::default(),
        }
    }
}

impl OtlpConfig {
    /// Reads the variables in [`vars`] from the process environment.
    pub fn from_env() -> Result<Self, TelemetryError> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Sends the spans to `exporter` (any `opentelemetry_sdk` `SpanExporter`: OTLP built your
    /// own way, Azure Monitor's, stdout, in-memory) instead of the OTLP exporter built from the
    /// variables. It is called on the exporter thread, never on the threads that record spans.
    ///
    /// ```
    /// use opentelemetry_sdk::error::OTelSdkResult;
    /// use opentelemetry_sdk::trace::{SpanData, SpanExporter};
    ///
    /// /// Counts the spans it is given.
    /// #[derive(Debug, Default)]
    /// struct Counting(std::sync::atomic::AtomicUsize);
    ///
    /// impl SpanExporter for Counting {
    ///     async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
    ///         self.0.fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let otlp = audit_runtime::telemetry::OtlpConfig::from_env()?.exporter(Counting::default());
    /// # Ok::<(), audit_runtime::telemetry::TelemetryError>(())
    /// ```
    pub fn exporter<E: SpanExporter + 'static>(mut self, exporter: E) -> Self {
        self.exporter = ExporterSlot(Arc::new(Mutex::new(Some(exporter::boxed(exporter)))));
        self
    }

    /// Reads the variables through `lookup` (for tests and other sources).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, TelemetryError> {
        let get = |name: &str| -> Result<Option<String>, TelemetryError> {
            match lookup(name) {
                None => Ok(None),
                Some(value) => match value.into_string() {
                    Ok(text) if text.trim().is_empty() => Ok(None),
                    Ok(text) => Ok(Some(text.trim().to_owned())),
                    Err(raw) => Err(invalid(name, &raw.to_string_lossy(), "valid UTF-8 text")),
                },
            }
        };
        let first = |names: [&'static str; 2]| -> Result<Option<(&'static str, String)>, TelemetryError> {
            for name in names {
                if let Some(value) = get(name)? {
                    return Ok(Some((name, value)));
                }
            }
            Ok(None)
        };
        let mut config = OtlpConfig::default();
        if let Some(value) = get(vars::SDK_DISABLED)? {
            config.disabled = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(invalid(vars::SDK_DISABLED, &value, "true or false")),
            };
        }
        if let Some((variable, protocol)) = first([vars::TRACES_PROTOCOL, vars::PROTOCOL])? {
            config.protocol = match protocol.as_str() {
                "http/protobuf" => Protocol::HttpProtobuf,
                "grpc" => Protocol::Grpc,
                _ => return Err(invalid(variable, &protocol, "http/protobuf or grpc (http/json is not supported)")),
            };
        }
        if let Some((variable, url)) = first([vars::TRACES_ENDPOINT, vars::ENDPOINT])? {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(variable, &url, "an http:// or https:// URL such as https://collector:4318"));
            }
            // The base URL gets the traces path over HTTP (gRPC has no path), as the
            // specification says and opentelemetry-otlp does.
            config.endpoint = Some(match (variable, config.protocol) {
                (vars::ENDPOINT, Protocol::HttpProtobuf) => format!("{}/v1/traces", url.trim_end_matches('/')),
                _ => url,
            });
        }
        if let Some((variable, headers)) = first([vars::TRACES_HEADERS, vars::HEADERS])? {
            config.headers = parse_headers(variable, &headers)?;
        }
        if let Some((variable, path)) = first([vars::TRACES_CERTIFICATE, vars::CERTIFICATE])? {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(invalid(
                    variable,
                    &path.display().to_string(),
                    "the path of a PEM file of CA certificates",
                ));
            }
            config.certificate = Some(path);
        }
        if let Some(ms) = get(vars::TIMEOUT)? {
            config.timeout = Duration::from_millis(parse_number(vars::TIMEOUT, &ms, 1)?);
        }
        let sampler = get(vars::SAMPLER)?;
        let arg = get(vars::SAMPLER_ARG)?;
        config.sampler = Sampler::parse(sampler.as_deref(), arg.as_deref())?;
        if let Some(ms) = get(vars::SCHEDULE_DELAY)? {
            config.schedule_delay = Duration::from_millis(parse_number(vars::SCHEDULE_DELAY, &ms, 1)?);
        }
        if let Some(n) = get(vars::MAX_QUEUE_SIZE)? {
            config.max_queue_size = parse_number(vars::MAX_QUEUE_SIZE, &n, 1)? as usize;
        }
        if let Some(n) = get(vars::MAX_EXPORT_BATCH_SIZE)? {
            config.max_export_batch_size = parse_number(vars::MAX_EXPORT_BATCH_SIZE, &n, 1)? as usize;
        }
        Ok(config)
    }

    /// The resource: what the SDK detects from the environment, then the fields set in code.
    pub(crate) fn resource(&self) -> opentelemetry_sdk::Resource {
        let mut builder = opentelemetry_sdk::Resource::builder();
        if let Some(name) = &self.service_name {
            builder = builder.with_service_name(name.clone());
        }
        let attributes =
            self.resource_attributes.iter().map(|(k, v)| opentelemetry::KeyValue::new(k.clone(), v.clone()));
        builder.with_attributes(attributes).build()
    }
}

fn parse_number(variable: &str, value: &str, min: u64) -> Result<u64, TelemetryError> {
    match value.parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(invalid(variable, value, format!("a whole number, at least {min}"))),
    }
}

/// `key=value,key=value`, values percent-decoded (W3C baggage style, as the specification asks).
/// A name that is not an HTTP token, or a value with a control character once decoded (`%0D%0A`
/// would end the header and start another), is refused: the error names the variable and the
/// header, never the value (it is usually a key).
fn parse_headers(variable: &str, text: &str) -> Result<Vec<(String, String)>, TelemetryError> {
    let accepted = "comma-separated name=value pairs such as x-api-key=<key>, names of letters, digits and - _ ., values without control characters";
    let refuse = |what: String| invalid(variable, &what, accepted);
    let mut pairs = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((name, value)) = item.split_once('=') else {
            return Err(refuse(format!("an item without '=' ({} characters)", item.len())));
        };
        let name = name.trim();
        let is_token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(is_token) {
            return Err(refuse(format!("the header name {:?}", name.escape_debug().to_string())));
        }
        let value = percent_decode(value.trim())
            .ok_or_else(|| refuse(format!("the value of {name} (invalid percent-encoding)")))?;
        if value.chars().any(|c| c.is_control()) {
            return Err(refuse(format!("the value of {name} (it holds a control character such as CR or LF)")));
        }
        pairs.push((name.to_owned(), value));
    }
    Ok(pairs)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<OtlpConfig, TelemetryError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        OtlpConfig::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.into()))
    }

    #[test]
    fn headers_are_decoded_and_a_crlf_is_refused_naming_the_variable() {
        let c = config(&[(vars::HEADERS, "api-key=a%20b, x-team=core")]).unwrap();
        assert_eq!(c.headers, vec![("api-key".into(), "a b".into()), ("x-team".into(), "core".into())]);
        let error = config(&[(vars::HEADERS, "api-key=secret%0D%0AX-Evil: 1")]).unwrap_err().to_string();
        assert!(error.starts_with("OTEL_EXPORTER_OTLP_HEADERS="), "{error}");
        assert!(error.contains("api-key") && !error.contains("secret"), "{error}");
        let error = config(&[(vars::TRACES_HEADERS, "bad name=1")]).unwrap_err().to_string();
        assert!(error.starts_with("OTEL_EXPORTER_OTLP_TRACES_HEADERS="), "{error}");
    }

    #[test]
    fn the_protocol_is_checked_naming_the_variable() {
        assert_eq!(config(&[(vars::PROTOCOL, "grpc")]).unwrap().protocol, Protocol::Grpc);
        assert_eq!(config(&[]).unwrap().protocol, Protocol::HttpProtobuf);
        let error = config(&[(vars::TRACES_PROTOCOL, "http/json")]).unwrap_err().to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=\"http/json\""), "{error}");
    }

    #[test]
    fn an_endpoint_must_be_http_or_https() {
        assert!(config(&[(vars::ENDPOINT, "https://collector:4318")]).is_ok());
        let error = config(&[(vars::ENDPOINT, "collector:4318")]).unwrap_err().to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_ENDPOINT=\"collector:4318\""), "{error}");
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_over_http_only() {
        let c = config(&[(vars::ENDPOINT, "https://collector:4318/")]).unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("https://collector:4318/v1/traces"));
        let c = config(&[(vars::ENDPOINT, "https://collector:4317"), (vars::PROTOCOL, "grpc")]).unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("https://collector:4317"));
        let c = config(&[(vars::ENDPOINT, "http://a:1"), (vars::TRACES_ENDPOINT, "http://b:2/x")]).unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("http://b:2/x"));
    }

    #[test]
    fn a_missing_certificate_file_names_the_variable() {
        let error = config(&[(vars::CERTIFICATE, "/nonexistent/ca.pem")]).unwrap_err().to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_CERTIFICATE=\"/nonexistent/ca.pem\""), "{error}");
    }

    #[test]
    fn a_bad_number_names_the_variable() {
        let error = config(&[(vars::MAX_QUEUE_SIZE, "lots")]).unwrap_err().to_string();
        assert!(error.starts_with("OTEL_BSP_MAX_QUEUE_SIZE=\"lots\""), "{error}");
    }

    #[test]
    fn sdk_disabled_is_read_and_checked() {
        assert!(config(&[(vars::SDK_DISABLED, "TRUE")]).unwrap().disabled);
        assert!(!config(&[(vars::SDK_DISABLED, "false")]).unwrap().disabled);
        assert!(!config(&[]).unwrap().disabled);
        let error = config(&[(vars::SDK_DISABLED, "yes")]).unwrap_err().to_string();
        assert!(error.contains("OTEL_SDK_DISABLED=\"yes\"") && error.contains("true or false"), "{error}");
    }
}
