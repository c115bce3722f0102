//! Building the subscriber from a [`LogConfig`]: stdout, the log file and the errors file, each
//! with its own level; file sinks write on a background thread.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::Path;

use tracing::Dispatch;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

use super::config::{ConfigError, Level, LevelSpec, LogConfig, LogFormat, vars};
use super::filter::LogFilter;
use super::layer::{ConsoleLayer, JsonLayer};

/// Lines a file sink may hold in memory before the caller waits for the disk: enough for
/// bursts; past it the caller waits rather than a line being dropped.
const FILE_QUEUE_LINES: usize = 64 * 1024;

/// Keeps the logging sinks alive; dropping it writes out every queued line and flushes stdout.
/// Hold it in `main` for as long as the program logs.
#[must_use = "dropping the guard flushes and stops the file sinks: hold it until the program ends"]
pub struct LogGuard {
    file_workers: Vec<WorkerGuard>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // Each worker guard writes its queued lines out when dropped.
        self.file_workers.clear();
        let _ = std::io::stdout().flush();
    }
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard").field("file_sinks", &self.file_workers.len()).finish()
    }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

impl LogConfig {
    /// Builds the subscriber without installing it: for a scoped
    /// `tracing::dispatcher::with_default`, or to install it yourself.
    pub fn build(&self) -> Result<(Dispatch, LogGuard), ConfigError> {
        self.build_layers(None, true)
    }

    /// Builds the subscriber with one more layer beside the log sinks (for example the span
    /// exporter of `audit_runtime::telemetry`), filtered at the configured level.
    pub fn build_with<L>(&self, layer: L) -> Result<(Dispatch, LogGuard), ConfigError>
    where
        L: Layer<Registry> + Send + Sync + 'static,
    {
        self.build_layers(Some(layer.boxed()), true)
    }

    /// [`build_with`](Self::build_with) for a layer that applies the level itself.
    #[cfg(feature = "otlp")]
    pub(crate) fn build_with_prefiltered<L>(&self, layer: L) -> Result<(Dispatch, LogGuard), ConfigError>
    where
        L: Layer<Registry> + Send + Sync + 'static,
    {
        self.build_layers(Some(layer.boxed()), false)
    }

    fn build_layers(&self, extra: Option<BoxedLayer>, filter_extra: bool) -> Result<(Dispatch, LogGuard), ConfigError> {
        let mut layers: Vec<BoxedLayer> = Vec::new();
        let mut file_workers = Vec::new();

        if self.stdout {
            let level = self.effective_console_level();
            let layer: BoxedLayer = match self.format {
                LogFormat::Json => JsonLayer::new(std::io::stdout)
                    .with_source(&self.source)
                    .critical_only(level.is_critical_only())
                    .with_filter(LogFilter::env(level.env_filter()))
                    .boxed(),
                LogFormat::Console => ConsoleLayer::new(std::io::stdout, self.ansi.unwrap_or_else(stdout_wants_colour))
                    .critical_only(level.is_critical_only())
                    .with_filter(LogFilter::env(level.env_filter()))
                    .boxed(),
            };
            layers.push(layer);
        }
        if let Some(path) = &self.logfile {
            let (layer, guard) = self.json_file_layer(vars::LOGFILE, path, self.effective_logfile_level())?;
            layers.push(layer);
            file_workers.push(guard);
        }
        if let Some(path) = &self.errors_file {
            // At least `error`; `critical` when that is the configured level everywhere.
            let level = match &self.level {
                LevelSpec::Level(Level::Critical) => LevelSpec::Level(Level::Critical),
                _ => LevelSpec::Level(Level::Error),
            };
            let (layer, guard) = self.json_file_layer(vars::LOG_ERRORS, path, &level)?;
            layers.push(layer);
            file_workers.push(guard);
        }

        match extra {
            Some(extra) if filter_extra => layers.push(extra.with_filter(self.level.env_filter()).boxed()),
            Some(extra) => layers.push(extra),
            None => {}
        }
        if let Some(address) = &self.email_errors {
            #[cfg(feature = "smtp")]
            layers.push(crate::report::email_errors_layer(address, &self.source).map_err(|e| {
                ConfigError::InvalidValue { variable: e.variable, value: e.value, expected: e.expected }
            })?);
            #[cfg(not(feature = "smtp"))]
            return Err(ConfigError::InvalidValue {
                variable: vars::EMAIL_ERRORS.to_owned(),
                value: address.clone(),
                expected: "nothing in this build: mail needs the `smtp` feature of audit-runtime".to_owned(),
            });
        }

        let subscriber = tracing_subscriber::registry().with(layers);
        Ok((Dispatch::new(subscriber), LogGuard { file_workers }))
    }

    /// A JSON sink appending to the file `variable` names, written by a background thread.
    fn json_file_layer(
        &self,
        variable: &str,
        path: &Path,
        level: &LevelSpec,
    ) -> Result<(BoxedLayer, WorkerGuard), ConfigError> {
        let (writer, guard) = file_sink(variable, path)?;
        let layer = JsonLayer::new(writer)
            .with_source(&self.source)
            .critical_only(level.is_critical_only())
            .with_filter(LogFilter::env(level.env_filter()))
            .boxed();
        Ok((layer, guard))
    }

    /// Builds the subscriber and installs it as the global default.
    pub fn init(&self) -> Result<LogGuard, ConfigError> {
        let (dispatch, guard) = self.build()?;
        tracing::dispatcher::set_global_default(dispatch).map_err(|_| ConfigError::AlreadyInstalled {
            installed: crate::setup::installed().unwrap_or("another set-up call"),
        })?;
        crate::setup::record("logging::init_from_env");
        super::log_bridge::install();
        Ok(guard)
    }
}

/// Reads the configuration from the environment and installs it: the one call a service's
/// `main` makes. Keep the guard until the program ends.
///
/// ```no_run
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let _logs = audit_runtime::logging::init_from_env()?;
///     tracing::info!("service_started");
///     Ok(())
/// }
/// ```
pub fn init_from_env() -> Result<LogGuard, ConfigError> {
    LogConfig::from_env()?.init()
}

/// Opens `path` for appending and puts a background writer in front of it.
fn file_sink(
    variable: &str,
    path: &Path,
) -> Result<(tracing_appender::non_blocking::NonBlocking, WorkerGuard), ConfigError> {
    let file = open_append(path).map_err(|source| ConfigError::LogFile {
        variable: variable.to_owned(),
        path: path.to_owned(),
        reason: describe_open_error(path, &source),
        source,
    })?;
    Ok(NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(FILE_QUEUE_LINES)
        .thread_name("audit-log-file")
        .finish(file))
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Says why a log file could not be opened in the terms a person fixes it with.
fn describe_open_error(path: &Path, error: &std::io::Error) -> String {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    match (error.kind(), parent) {
        (std::io::ErrorKind::NotFound, Some(dir)) if !dir.exists() => {
            format!("the directory {} does not exist (create it first)", dir.display())
        }
        (std::io::ErrorKind::PermissionDenied, _) => format!("permission denied ({error})"),
        (_, _) if path.is_dir() => "it is a directory, expected a file path".to_owned(),
        _ => error.to_string(),
    }
}

/// Colours only for a person: stdout is a terminal and `NO_COLOR` is not set.
fn stdout_wants_colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}
