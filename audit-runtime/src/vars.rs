//! The environment variables the toolkit reads, by name, in one place. (`logging::vars`,
//! `report::vars` and `telemetry::vars` are this module under the names their modules have
//! always used.)

// Logging (`logging::init_from_env`, `LogConfig::from_env`).
/// Minimum level everywhere; plain levels or `EnvFilter` directives.
pub const LOG_LEVEL: &str = "LOG_LEVEL";
/// `json` or `console`.
pub const LOG_FORMAT: &str = "LOG_FORMAT";
/// Minimum level on stdout.
pub const CONSOLE_LOG_LEVEL: &str = "CONSOLE_LOG_LEVEL";
/// Path of a JSON log file.
pub const LOGFILE: &str = "LOGFILE";
/// Minimum level in the log file.
pub const LOGFILE_LOG_LEVEL: &str = "LOGFILE_LOG_LEVEL";
/// Path of a file that receives `error` and `critical` lines only.
pub const LOG_ERRORS: &str = "LOG_ERRORS";
/// The `source` value of every line.
pub const LOG_SOURCE: &str = "LOG_SOURCE";

// Error reports (`report::init_from_env`; mail needs the `smtp` feature, Sentry `sentry`).
/// An address that receives `error` and `critical` lines by mail, rate-limited like
/// configuration errors.
pub const EMAIL_ERRORS: &str = "EMAIL_ERRORS";
/// Where configuration errors are mailed; unset: not mailed.
pub const CONFIG_ERROR_REPORT_EMAIL: &str = "CONFIG_ERROR_REPORT_EMAIL";
/// Hours between two mails about the same error (default 24; fractions allowed).
pub const CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS: &str = "CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS";
/// The SMTP server: `smtp://host:port` (default `smtp://localhost:25`).
pub const SMTP_URL: &str = "SMTP_URL";
/// The sender address (default `audit@localhost`).
pub const EMAIL_FROM: &str = "EMAIL_FROM";
/// Sentry's DSN; unset: nothing is sent to Sentry.
pub const SENTRY_DSN: &str = "SENTRY_DSN";
/// The environment Sentry files reports under (`production`, `staging`).
pub const SENTRY_ENVIRONMENT: &str = "SENTRY_ENVIRONMENT";

// The event catalog (`catalog::print_if_requested`, `catalog::assert_compatible`).
/// Prints the catalog in this format and exits (`rst`, `markdown`, `json-schema`).
pub const EVENT_CATALOG: &str = crate::catalog::CATALOG_ENV;
/// `1` accepts breaking catalog changes on purpose.
pub const ACCEPT_CATALOG_CHANGES: &str = crate::catalog::ACCEPT_ENV;

// OpenTelemetry (`telemetry::init_from_env`, `OtlpConfig::from_env`): the standard names.
/// Base URL of the collector; `/v1/traces` is appended for HTTP. Default
/// `http://localhost:4318` (HTTP) or `http://localhost:4317` (gRPC).
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Full URL of the traces endpoint, used as it is; wins over [`OTEL_EXPORTER_OTLP_ENDPOINT`].
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// `http/protobuf` (default, feature `otlp-http`) or `grpc` (feature `otlp-grpc`).
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Same, for traces only; wins over [`OTEL_EXPORTER_OTLP_PROTOCOL`].
pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// Extra request headers (or gRPC metadata), `key=value,key=value`, values
/// percent-encoded (for example an API key).
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// Same, for traces only; wins over [`OTEL_EXPORTER_OTLP_HEADERS`].
pub const OTEL_EXPORTER_OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// A PEM file of CA certificates trusted for an `https` endpoint, besides the system's.
pub const OTEL_EXPORTER_OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// Same, for traces only; wins over [`OTEL_EXPORTER_OTLP_CERTIFICATE`].
pub const OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE";
/// `gzip` or `none` (read by opentelemetry-otlp).
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// Export timeout in milliseconds (default 10000).
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// `service.name` of the resource (read by the SDK).
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// More resource attributes, `key=value,key=value` (read by the SDK).
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`,
/// `parentbased_always_off`, `parentbased_traceidratio` (default `parentbased_always_on`).
pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
/// The ratio of the `*traceidratio` samplers, in `[0, 1]` (default 1).
pub const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
/// Delay between two exports, in milliseconds (default 1000).
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// Spans kept while waiting for export; past it spans are dropped (default 2048).
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// Spans sent in one request at most (default 512).
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
/// `true` turns export off: no exporter thread, nothing sent (logs are unchanged).
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
