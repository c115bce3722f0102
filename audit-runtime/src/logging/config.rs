//! [`LogConfig`]: what to log where, from the environment or in code.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Directive;

/// The variables [`LogConfig::from_env`] reads (all of them are in [`crate::vars`]).
pub use crate::vars;

/// The level names accepted in level variables, as said in error messages.
const ACCEPTED_LEVELS: &str = "debug, info, warning, error, critical (or trace, warn; any case)";

/// A configuration value that cannot be used. It names the variable (or builder method), the
/// value, and what is accepted. Its `Debug` is that message too, so `main` returning it prints
/// `Error: LOG_LEVEL="verbose" is not valid: expected ...`.
#[derive(thiserror::Error)]
pub enum ConfigError {
    /// A value outside what the variable accepts.
    #[error("{variable}={value:?} is not valid: expected {expected}")]
    InvalidValue {
        /// The variable, such as `LOG_LEVEL`.
        variable: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A value that is not valid Unicode.
    #[error("{variable} is not valid UTF-8 ({value:?}): expected {expected}")]
    NotUnicode {
        /// The variable.
        variable: String,
        /// The raw value, lossily shown.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A log file that cannot be opened for appending.
    #[error("{variable}={path:?}: cannot open the log file for appending: {reason}")]
    LogFile {
        /// `LOGFILE` or `LOG_ERRORS`.
        variable: String,
        /// The path given.
        path: PathBuf,
        /// Why (the directory does not exist, permission denied, ...).
        reason: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A global `tracing` subscriber was installed already.
    #[error("cannot install the logging subscriber: {installed} already installed one")]
    AlreadyInstalled {
        /// Which set-up call did (`telemetry::init_from_env`, `logging::init_from_env`), or a
        /// subscriber set up outside audit-runtime.
        installed: &'static str,
    },
}

debug_is_display!(ConfigError);

/// A level threshold: the schema's levels, or `EnvFilter` directives (`info,my_crate=debug`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LevelSpec {
    /// One level for everything.
    Level(Level),
    /// `EnvFilter` directives, as given (level names already normalised to `tracing`'s).
    Directives(String),
}

/// The schema's levels, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `debug` (and `trace`, which prints as `debug`).
    Debug,
    /// `info`.
    Info,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
    /// `critical`: only events declared critical.
    Critical,
}

impl Level {
    /// Parses a level name: `debug`, `info`, `warning`, `error`, `critical`, also `trace` and
    /// `warn`, in any case.
    pub fn parse(name: &str) -> Option<Self> {
        let level = match name.trim().to_ascii_lowercase().as_str() {
            "trace" | "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" | "warning" => Level::Warning,
            "error" => Level::Error,
            "critical" => Level::Critical,
            _ => return None,
        };
        Some(level)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Critical => "critical",
        })
    }
}

impl LevelSpec {
    /// Parses a level or `EnvFilter` directives. `variable` names the input in the error.
    ///
    /// A directive without `=` must be a level name: a bare word such as `verbose` would mean
    /// "everything from target `verbose`" to `EnvFilter`, which is never what was meant.
    pub fn parse(variable: &str, value: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::InvalidValue {
            variable: variable.to_owned(),
            value: value.to_owned(),
            expected: format!(
                "a level ({ACCEPTED_LEVELS}) or EnvFilter directives such as \"info,my_crate=debug,hyper=warning\""
            ),
        };
        if let Some(level) = Level::parse(value) {
            return Ok(LevelSpec::Level(level));
        }
        let mut normalised = Vec::new();
        for part in value.split(',').map(str::trim) {
            if part.is_empty() {
                continue;
            }
            let directive = match part.rsplit_once('=') {
                Some((target, level)) => {
                    let level = Level::parse(level).ok_or_else(invalid)?;
                    if target.is_empty() {
                        return Err(invalid());
                    }
                    let level = match level {
                        Level::Critical => Level::Error,
                        other => other,
                    };
                    format!("{target}={}", directive_level(level))
                }
                None => directive_level(Level::parse(part).ok_or_else(invalid)?).to_owned(),
            };
            directive.parse::<Directive>().map_err(|_| invalid())?;
            normalised.push(directive);
        }
        if normalised.is_empty() {
            return Err(invalid());
        }
        Ok(LevelSpec::Directives(normalised.join(",")))
    }

    /// The `EnvFilter` for this threshold.
    pub(crate) fn env_filter(&self) -> EnvFilter {
        let directives = match self {
            LevelSpec::Level(level) => directive_level(*level).to_owned(),
            LevelSpec::Directives(d) => d.clone(),
        };
        // Every directive was checked when parsed.
        EnvFilter::builder().parse_lossy(directives)
    }

    /// Whether only `critical` lines pass.
    pub(crate) fn is_critical_only(&self) -> bool {
        matches!(self, LevelSpec::Level(Level::Critical))
    }
}

impl Default for LevelSpec {
    fn default() -> Self {
        LevelSpec::Level(Level::Info)
    }
}

/// `tracing`'s name for one of our levels in a directive.
fn directive_level(level: Level) -> &'static str {
    match level {
        Level::Debug => "trace",
        Level::Info => "info",
        Level::Warning => "warn",
        Level::Error | Level::Critical => "error",
    }
}

/// How stdout lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line (the default).
    #[default]
    Json,
    /// One readable line per event, coloured when stdout is a terminal.
    Console,
}

impl LogFormat {
    fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "console" => Ok(LogFormat::Console),
            _ => Err(ConfigError::InvalidValue {
                variable: vars::LOG_FORMAT.to_owned(),
                value: value.to_owned(),
                expected: "json or console".to_owned(),
            }),
        }
    }
}

/// What to log where. Build it with [`LogConfig::from_env`], or in code:
///
/// ```
/// use audit_runtime::logging::{Level, LogConfig, LogFormat};
/// let config = LogConfig::default()
///     .level(Level::Debug)
///     .format(LogFormat::Console)
///     .console_level(Level::Warning)
///     .source("worker");
/// assert_eq!(config.source_value(), "worker");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    pub(crate) level: LevelSpec,
    pub(crate) format: LogFormat,
    pub(crate) console_level: Option<LevelSpec>,
    pub(crate) logfile: Option<PathBuf>,
    pub(crate) logfile_level: Option<LevelSpec>,
    pub(crate) errors_file: Option<PathBuf>,
    pub(crate) source: String,
    pub(crate) stdout: bool,
    pub(crate) ansi: Option<bool>,
    pub(crate) email_errors: Option<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: LevelSpec::default(),
            format: LogFormat::default(),
            console_level: None,
            logfile: None,
            logfile_level: None,
            errors_file: None,
            source: super::DEFAULT_SOURCE.to_owned(),
            stdout: true,
            ansi: None,
            email_errors: None,
        }
    }
}

impl LogConfig {
    /// Reads `LOG_LEVEL`, `LOG_FORMAT`, `CONSOLE_LOG_LEVEL`, `LOGFILE`, `LOGFILE_LOG_LEVEL`,
    /// `LOG_ERRORS` and `LOG_SOURCE`. An unset or empty variable takes its default; a bad
    /// value is an error naming it.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (for tests, or a
    /// configuration source of your own).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, ConfigError> {
        let get = |name: &str, expected: &str| -> Result<Option<String>, ConfigError> {
            match lookup(name) {
                None => Ok(None),
                Some(raw) => match raw.into_string() {
                    Ok(s) if s.trim().is_empty() => Ok(None),
                    Ok(s) => Ok(Some(s)),
                    Err(raw) => Err(ConfigError::NotUnicode {
                        variable: name.to_owned(),
                        value: raw.to_string_lossy().into_owned(),
                        expected: expected.to_owned(),
                    }),
                },
            }
        };
        let level_of = |name: &str| -> Result<Option<LevelSpec>, ConfigError> {
            get(name, ACCEPTED_LEVELS)?.map(|v| LevelSpec::parse(name, &v)).transpose()
        };
        let path_of = |name: &str| -> Option<PathBuf> { lookup(name).filter(|v| !v.is_empty()).map(PathBuf::from) };

        let mut config = LogConfig::default();
        if let Some(level) = level_of(vars::LOG_LEVEL)? {
            config.level = level;
        }
        if let Some(format) = get(vars::LOG_FORMAT, "json or console")? {
            config.format = LogFormat::parse(&format)?;
        }
        config.console_level = level_of(vars::CONSOLE_LOG_LEVEL)?;
        config.logfile = path_of(vars::LOGFILE);
        config.logfile_level = level_of(vars::LOGFILE_LOG_LEVEL)?;
        config.errors_file = path_of(vars::LOG_ERRORS);
        if let Some(source) = get(vars::LOG_SOURCE, "a non-empty name such as app or worker")? {
            config.source = source;
        }
        config.email_errors = get(vars::EMAIL_ERRORS, "one mail address")?;
        Ok(config)
    }

    /// The minimum level everywhere (`LOG_LEVEL`).
    pub fn level(mut self, level: Level) -> Self {
        self.level = LevelSpec::Level(level);
        self
    }

    /// `EnvFilter` directives such as `info,my_crate=debug` (`LOG_LEVEL`); level names may be
    /// ours (`warning`).
    pub fn directives(mut self, directives: &str) -> Result<Self, ConfigError> {
        self.level = LevelSpec::parse(vars::LOG_LEVEL, directives)?;
        Ok(self)
    }

    /// JSON or console on stdout (`LOG_FORMAT`).
    pub fn format(mut self, format: LogFormat) -> Self {
        self.format = format;
        self
    }

    /// The minimum level on stdout (`CONSOLE_LOG_LEVEL`); defaults to [`level`](Self::level).
    pub fn console_level(mut self, level: Level) -> Self {
        self.console_level = Some(LevelSpec::Level(level));
        self
    }

    /// Also write JSON lines to this file (`LOGFILE`), appending.
    pub fn logfile(mut self, path: impl Into<PathBuf>) -> Self {
        self.logfile = Some(path.into());
        self
    }

    /// The minimum level in the log file (`LOGFILE_LOG_LEVEL`); defaults to [`level`](Self::level).
    pub fn logfile_level(mut self, level: Level) -> Self {
        self.logfile_level = Some(LevelSpec::Level(level));
        self
    }

    /// Write `error` and `critical` lines to this file as well (`LOG_ERRORS`).
    pub fn errors_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.errors_file = Some(path.into());
        self
    }

    /// The `source` value of every line (`LOG_SOURCE`), `app` by default.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Whether to write to stdout at all (on by default; off for a process whose stdout is
    /// its output).
    pub fn stdout(mut self, enabled: bool) -> Self {
        self.stdout = enabled;
        self
    }

    /// Force colours in the console format on or off; by default they are on only when stdout
    /// is a terminal and `NO_COLOR` is unset.
    pub fn ansi(mut self, enabled: bool) -> Self {
        self.ansi = Some(enabled);
        self
    }

    /// Mail `error` and `critical` lines to `address` (`EMAIL_ERRORS`; feature `smtp`), at most
    /// once per event and logger per `CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS`, through the same
    /// reporter as configuration errors (see [`crate::report`]).
    pub fn email_errors(mut self, address: impl Into<String>) -> Self {
        self.email_errors = Some(address.into());
        self
    }

    /// The `source` value lines will carry.
    pub fn source_value(&self) -> &str {
        &self.source
    }

    /// The threshold of stdout.
    pub(crate) fn effective_console_level(&self) -> &LevelSpec {
        self.console_level.as_ref().unwrap_or(&self.level)
    }

    /// The threshold of the log file.
    pub(crate) fn effective_logfile_level(&self) -> &LevelSpec {
        self.logfile_level.as_ref().unwrap_or(&self.level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_levels_parse_in_any_case() {
        assert_eq!(LevelSpec::parse("LOG_LEVEL", "WARNING").unwrap(), LevelSpec::Level(Level::Warning));
        assert_eq!(LevelSpec::parse("LOG_LEVEL", "warn").unwrap(), LevelSpec::Level(Level::Warning));
        assert_eq!(LevelSpec::parse("LOG_LEVEL", "critical").unwrap(), LevelSpec::Level(Level::Critical));
    }

    #[test]
    fn directives_are_normalised_to_tracing_names() {
        assert_eq!(
            LevelSpec::parse("LOG_LEVEL", "info, my_crate=debug,hyper=warning").unwrap(),
            LevelSpec::Directives("info,my_crate=trace,hyper=warn".to_owned())
        );
    }

    #[test]
    fn a_bare_word_is_not_a_directive() {
        let err = LevelSpec::parse("LOG_LEVEL", "verbose").unwrap_err().to_string();
        assert!(err.contains("LOG_LEVEL=\"verbose\" is not valid"), "{err}");
        assert!(err.contains("debug, info, warning, error, critical"), "{err}");
        assert!(LevelSpec::parse("LOG_LEVEL", "my_crate=loud").is_err());
        assert!(LevelSpec::parse("LOG_LEVEL", "=info").is_err());
    }
}
