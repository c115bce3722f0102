//! The exporter's configuration, read from the standard `OTEL_*` variables.

use std::ffi::OsString;
use std::time::Duration;

use super::record::Resource;
use super::sampler::Sampler;

/// The variables [`OtlpConfig::from_env`] reads.
pub mod vars {
    /// Base URL of the collector; `/v1/traces` is appended. Default `http://localhost:4318`.
    pub const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// Full URL of the traces endpoint, used as it is; wins over [`ENDPOINT`].
    pub const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    /// `http/protobuf` (the only protocol supported).
    pub const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
    /// Same, for traces only; wins over [`PROTOCOL`].
    pub const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
    /// Extra request headers, `key=value,key=value` (for example an API key).
    pub const HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
    /// Export timeout in milliseconds (default 10000).
    pub const TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
    /// `service.name` of the resource.
    pub const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
    /// More resource attributes, `key=value,key=value` (values percent-encoded).
    pub const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
    /// `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`,
    /// `parentbased_always_off`, `parentbased_traceidratio` (default `parentbased_always_on`).
    pub const SAMPLER: &str = "OTEL_TRACES_SAMPLER";
    /// The ratio of the `*traceidratio` samplers, in `[0, 1]` (default 1).
    pub const SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
    /// Delay between two exports, in milliseconds (default 1000).
    pub const SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
    /// Spans kept while waiting for export; past it spans are dropped (default 2048).
    pub const MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
    /// Spans sent in one request at most (default 512).
    pub const MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
    /// `true` turns export off: no exporter thread, nothing sent (logs are unchanged).
    pub const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
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
        /// Its value.
        value: String,
        /// What is accepted.
        accepted: String,
    },
    /// The logging configuration is invalid.
    #[error(transparent)]
    Logging(#[from] crate::logging::ConfigError),
    /// A global subscriber is installed already.
    #[error(
        "a global tracing subscriber is already installed; call telemetry::init_from_env() once, instead of logging::init_from_env()"
    )]
    AlreadyInstalled,
    /// The exporter thread could not be started.
    #[error("could not start the span exporter thread: {0}")]
    Thread(#[source] std::io::Error),
}

fn invalid(variable: &str, value: &str, accepted: impl Into<String>) -> TelemetryError {
    TelemetryError::Variable { variable: variable.to_owned(), value: value.to_owned(), accepted: accepted.into() }
}

/// Where spans are sent: a plain-HTTP URL split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (default 80).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/path]`; `variable` names the source in the error.
    pub fn parse(variable: &str, url: &str) -> Result<Self, TelemetryError> {
        let accepted = "an http:// URL such as http://localhost:4318 (https is not supported: send to a local OpenTelemetry Collector, which forwards over TLS)";
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            _ => return Err(invalid(variable, url, accepted)),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(|| invalid(variable, url, accepted))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(invalid(variable, url, accepted));
        }
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| invalid(variable, url, "a port number between 0 and 65535"))?,
            None => 80,
        };
        Ok(Endpoint {
            host: host.to_owned(),
            port,
            path: if path.is_empty() { "/".to_owned() } else { path.to_owned() },
        })
    }

    /// `host:port` for the `Host` header.
    pub(crate) fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The exporter's settings. [`OtlpConfig::from_env`] reads them from the standard variables;
/// the fields can be changed in code.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpConfig {
    /// Where spans are posted.
    pub endpoint: Endpoint,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// How long one export may take (connect, send, answer).
    pub timeout: Duration,
    /// `service.name`, first of the resource attributes.
    pub service_name: String,
    /// Other resource attributes.
    pub resource_attributes: Vec<(String, String)>,
    /// Which traces are recorded.
    pub sampler: Sampler,
    /// Delay between two exports.
    pub schedule_delay: Duration,
    /// Spans kept while waiting for export; past it they are dropped and counted.
    pub max_queue_size: usize,
    /// Spans sent in one request at most.
    pub max_export_batch_size: usize,
    /// Writes `trace_id` and `span_id` into the log lines written inside spans (default true).
    pub log_ids: bool,
    /// Export turned off (`OTEL_SDK_DISABLED=true`): no thread is started, nothing is sent.
    pub disabled: bool,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: Endpoint { host: "localhost".to_owned(), port: 4318, path: "/v1/traces".to_owned() },
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            service_name: default_service_name(),
            resource_attributes: Vec::new(),
            sampler: Sampler::default(),
            schedule_delay: Duration::from_millis(1000),
            max_queue_size: 2048,
            max_export_batch_size: 512,
            log_ids: true,
            disabled: false,
        }
    }
}

/// `unknown_service:<executable>`, as the specification asks when nothing is configured.
fn default_service_name() -> String {
    let exe = std::env::current_exe().ok().and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
    match exe {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}

impl OtlpConfig {
    /// Reads the variables in [`vars`] from the process environment.
    pub fn from_env() -> Result<Self, TelemetryError> {
        Self::from_lookup(|name| std::env::var_os(name))
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
        let mut config = OtlpConfig::default();
        if let Some(value) = get(vars::SDK_DISABLED)? {
            config.disabled = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(invalid(vars::SDK_DISABLED, &value, "true or false")),
            };
        }
        if let Some(url) = get(vars::TRACES_ENDPOINT)? {
            config.endpoint = Endpoint::parse(vars::TRACES_ENDPOINT, &url)?;
        } else if let Some(url) = get(vars::ENDPOINT)? {
            // Checked as written, so that an error shows the value the user set.
            let mut endpoint = Endpoint::parse(vars::ENDPOINT, &url)?;
            endpoint.path = format!("{}/v1/traces", endpoint.path.trim_end_matches('/'));
            config.endpoint = endpoint;
        }
        for variable in [vars::TRACES_PROTOCOL, vars::PROTOCOL] {
            if let Some(protocol) = get(variable)? {
                if protocol != "http/protobuf" {
                    return Err(invalid(variable, &protocol, "http/protobuf (grpc and http/json are not supported)"));
                }
                break;
            }
        }
        if let Some(headers) = get(vars::HEADERS)? {
            config.headers = parse_pairs(vars::HEADERS, &headers)?;
        }
        if let Some(ms) = get(vars::TIMEOUT)? {
            config.timeout = Duration::from_millis(parse_number(vars::TIMEOUT, &ms, 1)?);
        }
        let mut resource = match get(vars::RESOURCE_ATTRIBUTES)? {
            Some(text) => parse_pairs(vars::RESOURCE_ATTRIBUTES, &text)?,
            None => Vec::new(),
        };
        if let Some(position) = resource.iter().position(|(k, _)| k == "service.name") {
            config.service_name = resource.remove(position).1;
        }
        if let Some(name) = get(vars::SERVICE_NAME)? {
            config.service_name = name;
        }
        config.resource_attributes = resource;
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

    pub(crate) fn resource(&self) -> Resource {
        let mut attributes = vec![
            ("service.name".to_owned(), self.service_name.clone()),
            ("telemetry.sdk.name".to_owned(), "audit-runtime".to_owned()),
            ("telemetry.sdk.language".to_owned(), "rust".to_owned()),
            ("telemetry.sdk.version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
        ];
        for (key, value) in &self.resource_attributes {
            match attributes.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value.clone(),
                None => attributes.push((key.clone(), value.clone())),
            }
        }
        Resource { attributes }
    }
}

pub(crate) fn invalid_value(variable: &str, value: &str, accepted: impl Into<String>) -> TelemetryError {
    invalid(variable, value, accepted)
}

fn parse_number(variable: &str, value: &str, min: u64) -> Result<u64, TelemetryError> {
    match value.parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(invalid(variable, value, format!("a whole number, at least {min}"))),
    }
}

/// `key=value,key=value`, values percent-decoded (W3C baggage style, as the spec asks).
fn parse_pairs(variable: &str, text: &str) -> Result<Vec<(String, String)>, TelemetryError> {
    let accepted = "comma-separated key=value pairs, such as deployment.environment=prod,team=core";
    let mut pairs = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item.split_once('=').ok_or_else(|| invalid(variable, text, accepted))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(invalid(variable, text, accepted));
        }
        let value = percent_decode(value.trim()).ok_or_else(|| invalid(variable, text, accepted))?;
        pairs.push((key.to_owned(), value));
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
    fn the_base_endpoint_gets_the_traces_path() {
        let c = config(&[(vars::ENDPOINT, "http://collector:4318/")]).unwrap();
        assert_eq!(c.endpoint, Endpoint { host: "collector".into(), port: 4318, path: "/v1/traces".into() });
    }

    #[test]
    fn the_traces_endpoint_is_used_as_it_is_and_wins() {
        let c = config(&[(vars::ENDPOINT, "http://a:1"), (vars::TRACES_ENDPOINT, "http://[::1]:9/x")]).unwrap();
        assert_eq!(c.endpoint, Endpoint { host: "::1".into(), port: 9, path: "/x".into() });
    }

    #[test]
    fn https_is_refused_naming_the_variable() {
        let error = config(&[(vars::ENDPOINT, "https://collector:4318")]).unwrap_err().to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_ENDPOINT=\"https://collector:4318\""), "{error}");
        assert!(error.contains("http://"), "{error}");
    }

    #[test]
    fn service_name_and_resource_attributes() {
        let c = config(&[
            (vars::RESOURCE_ATTRIBUTES, "service.name=from-attrs,team=core%20team"),
            (vars::SERVICE_NAME, "billing"),
        ])
        .unwrap();
        assert_eq!(c.service_name, "billing");
        assert_eq!(c.resource_attributes, vec![("team".to_owned(), "core team".to_owned())]);
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

    #[test]
    fn grpc_is_refused() {
        let error = config(&[(vars::PROTOCOL, "grpc")]).unwrap_err().to_string();
        assert!(error.contains("http/protobuf"), "{error}");
    }
}
