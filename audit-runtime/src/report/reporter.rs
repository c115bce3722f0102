//! The mail reporter behind `handle_config_error` and `EMAIL_ERRORS`: a background thread that
//! sends each distinct error at most once per window, counting in the audit store when it has
//! one (so every process sharing the store shares the limit), in memory otherwise.

#[cfg(feature = "smtp")]
pub use enabled::*;

#[cfg(not(feature = "smtp"))]
pub(crate) fn mail_config_error(_error: &super::ConfigurationError) {
    use std::sync::Once;
    static WARNED: Once = Once::new();
    if std::env::var_os(vars::CONFIG_ERROR_REPORT_EMAIL).is_some_and(|v| !v.is_empty()) {
        WARNED.call_once(|| {
            super::events::ReportMail::MailUnavailable {
                reason: "CONFIG_ERROR_REPORT_EMAIL is set but audit-runtime was built without the `smtp` feature",
            }
            .emit();
        });
    }
}

/// The variables the reporter reads (all of them are in [`crate::vars`]).
pub use crate::vars;

#[cfg(feature = "smtp")]
mod enabled {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
    use std::sync::{Arc, Mutex, OnceLock};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use super::vars;
    use crate::report::ConfigurationError;
    use crate::report::events::ReportMail;
    use crate::report::mail::{self, Address, Mail, MailConfigError, SmtpUrl};

    /// How long a process trusts its own memory of "already mailed" before asking the shared
    /// store again: bounds the store queries to one per distinct error per minute per process.
    const RECHECK: Duration = Duration::from_secs(60);
    /// Mails waiting to be sent; past this, new ones are dropped with a warning (every error
    /// is in the logs regardless).
    const QUEUE: usize = 1024;
    /// The reporter thread's name; the `EMAIL_ERRORS` layer ignores lines logged on it, so a
    /// failing mail server cannot cause mail about itself.
    pub(crate) const THREAD_NAME: &str = "audit-report";

    /// What the reporter sends, where, and how often.
    #[derive(Clone, Debug)]
    pub struct ReportConfig {
        config_error_email: Option<Address>,
        errors_email: Option<Address>,
        smtp: SmtpUrl,
        from: Address,
        window: Duration,
        source: String,
    }

    impl ReportConfig {
        /// Reads `CONFIG_ERROR_REPORT_EMAIL`, `CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS`,
        /// `EMAIL_ERRORS`, `SMTP_URL`, `EMAIL_FROM` and `LOG_SOURCE`; a bad value is an error
        /// naming the variable.
        pub fn from_env() -> Result<Self, MailConfigError> {
            let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
            let mut config = ReportConfig::new(
                get(vars::SMTP_URL).as_deref().map(|v| SmtpUrl::parse(vars::SMTP_URL, v)).transpose()?,
            );
            config.config_error_email = get(vars::CONFIG_ERROR_REPORT_EMAIL)
                .map(|v| Address::parse(vars::CONFIG_ERROR_REPORT_EMAIL, &v))
                .transpose()?;
            config.errors_email =
                get(vars::EMAIL_ERRORS).map(|v| Address::parse(vars::EMAIL_ERRORS, &v)).transpose()?;
            if let Some(from) = get(vars::EMAIL_FROM) {
                config.from = Address::parse(vars::EMAIL_FROM, &from)?;
            }
            if let Some(hours) = get(vars::CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS) {
                let parsed = hours.trim().parse::<f64>().ok().filter(|h| h.is_finite() && *h > 0.0 && *h < 1e6);
                let hours_value = parsed.ok_or_else(|| MailConfigError {
                    variable: vars::CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS.to_owned(),
                    value: hours.escape_debug().to_string(),
                    expected: "a positive number of hours, such as 24 or 0.5".to_owned(),
                })?;
                config.window = Duration::from_secs_f64(hours_value * 3600.0);
            }
            if let Some(source) = get("LOG_SOURCE") {
                config.source = source;
            }
            Ok(config)
        }

        /// Nothing mailed until an address is set; `smtp://localhost:25` unless `smtp` is given.
        pub fn new(smtp: Option<SmtpUrl>) -> Self {
            ReportConfig {
                config_error_email: None,
                errors_email: None,
                smtp: smtp.unwrap_or_else(|| SmtpUrl::parse("SMTP_URL", "smtp://localhost:25").expect("valid")),
                from: Address::parse("EMAIL_FROM", "audit@localhost").expect("valid"),
                window: Duration::from_secs(24 * 3600),
                source: crate::logging::DEFAULT_SOURCE.to_owned(),
            }
        }

        /// Mail configuration errors to `address`.
        pub fn config_error_email(mut self, address: Address) -> Self {
            self.config_error_email = Some(address);
            self
        }

        /// Mail `error` and `critical` log lines to `address`.
        pub fn errors_email(mut self, address: Address) -> Self {
            self.errors_email = Some(address);
            self
        }

        /// The sender.
        pub fn from_address(mut self, address: Address) -> Self {
            self.from = address;
            self
        }

        /// At most one mail per distinct error per `window` (default 24 hours).
        pub fn rate_limit(mut self, window: Duration) -> Self {
            self.window = window;
            self
        }

        /// Whether anything is mailed at all.
        pub fn mails_anything(&self) -> bool {
            self.config_error_email.is_some() || self.errors_email.is_some()
        }

        /// The address `error`/`critical` lines go to.
        pub fn errors_address(&self) -> Option<&Address> {
            self.errors_email.as_ref()
        }
    }

    /// Counters of a [`Reporter`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct ReportStats {
        /// Mails sent.
        pub mailed: u64,
        /// Occurrences not mailed because the same error was mailed in the window.
        pub suppressed: u64,
        /// Mails the server did not take (each is logged as `report.mail_failed`).
        pub failed: u64,
        /// Mails dropped because the queue was full.
        pub dropped: u64,
    }

    #[derive(Default)]
    struct Counters {
        mailed: AtomicU64,
        suppressed: AtomicU64,
        failed: AtomicU64,
        dropped: AtomicU64,
    }

    enum Job {
        Mail {
            key: String,
            mail: Box<Mail>,
            /// The request the reported error happened in, for the `report.mailed` line.
            request_id: Option<String>,
        },
        #[cfg(feature = "store")]
        UseStore(crate::store::AuditStore),
        Flush(std::sync::mpsc::Sender<()>),
        Stop,
    }

    /// Sends reports by mail from a background thread, at most once per distinct error per
    /// window. Cheap to clone.
    #[derive(Clone)]
    pub struct Reporter {
        inner: Arc<Inner>,
    }

    struct Inner {
        config: ReportConfig,
        sender: SyncSender<Job>,
        /// Per key: until when this process does not even ask (mailed, or known to be mailed).
        recent: Mutex<HashMap<String, Instant>>,
        shares_store: std::sync::atomic::AtomicBool,
        counters: Arc<Counters>,
        thread: Mutex<Option<JoinHandle<()>>>,
    }

    impl Drop for Inner {
        fn drop(&mut self) {
            let _ = self.sender.send(Job::Stop);
            if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
                let _ = thread.join();
            }
        }
    }

    static GLOBAL: OnceLock<Option<Reporter>> = OnceLock::new();

    impl Reporter {
        /// Starts a reporter (its thread waits for work).
        pub fn new(config: ReportConfig) -> Self {
            let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
            let counters = Arc::new(Counters::default());
            let worker = Worker { config: config.clone(), counters: counters.clone() };
            let thread = std::thread::Builder::new()
                .name(THREAD_NAME.into())
                .spawn(move || worker.run(receiver))
                .expect("the operating system refused to start the report thread");
            Reporter {
                inner: Arc::new(Inner {
                    config,
                    sender,
                    recent: Mutex::default(),
                    shares_store: Default::default(),
                    counters,
                    thread: Mutex::new(Some(thread)),
                }),
            }
        }

        /// Counts in `store` from now on, so every process sharing it shares one limit.
        #[cfg(feature = "store")]
        pub fn share_limit_through(&self, store: &crate::store::AuditStore) {
            self.inner.shares_store.store(true, Ordering::Relaxed);
            let _ = self.inner.sender.send(Job::UseStore(store.clone()));
        }

        /// Makes this the reporter behind [`handle_config_error`](crate::report::handle_config_error)
        /// and `EMAIL_ERRORS`. Only the first installation counts; false when one was there.
        pub fn install(&self) -> bool {
            GLOBAL.set(Some(self.clone())).is_ok()
        }

        /// The installed reporter, or one made from the environment on first use (none when no
        /// address is configured, or the configuration is wrong: that is logged once).
        pub fn global() -> Option<&'static Reporter> {
            GLOBAL
                .get_or_init(|| match ReportConfig::from_env() {
                    Ok(config) if config.mails_anything() => Some(Reporter::new(config)),
                    Ok(_) => None,
                    Err(error) => {
                        ReportMail::Misconfigured { error: &error }.emit();
                        None
                    }
                })
                .as_ref()
        }

        /// The configuration.
        pub fn config(&self) -> &ReportConfig {
            &self.inner.config
        }

        /// Mails `error` to `CONFIG_ERROR_REPORT_EMAIL` unless the same error was mailed in the
        /// window. Does not log (see [`handle_config_error`](crate::report::handle_config_error)).
        pub fn mail_config_error(&self, error: &ConfigurationError) {
            let Some(to) = self.inner.config.config_error_email.clone() else { return };
            let hours = self.inner.config.window.as_secs_f64() / 3600.0;
            let subject = format!("[{}] Configuration error: {}", self.inner.config.source, error.message());
            self.submit(error.rate_limit_key(), || Mail {
                from: self.inner.config.from.clone(),
                to,
                subject,
                body: error.report_body(hours),
            });
        }

        /// Mails one `error`/`critical` JSON log line to `EMAIL_ERRORS`, once per event and
        /// logger per window.
        pub(crate) fn mail_error_line(&self, line: &[u8]) {
            let Some(to) = self.inner.config.errors_email.clone() else { return };
            let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(line) else {
                return;
            };
            let text = |key: &str| fields.get(key).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let (event, level, logger) = (text("event"), text("level"), text("logger"));
            let key = format!("error_line:{:016x}", super::super::config_error::fnv1a(&[&event, &logger]));
            let subject = format!("[{}] {level}: {event}", self.inner.config.source);
            let body = format!(
                "An {level} line was logged by {logger}.\n\n{}\n\nThe same event from the same logger is mailed at most \
                 once per window; every occurrence is in the logs.\n",
                serde_json::to_string_pretty(&fields).unwrap_or_default()
            );
            self.submit(key, || Mail { from: self.inner.config.from.clone(), to, subject, body });
        }

        fn submit(&self, key: String, mail: impl FnOnce() -> Mail) {
            let now = Instant::now();
            let hold = if self.inner.shares_store.load(Ordering::Relaxed) {
                RECHECK.min(self.inner.config.window)
            } else {
                self.inner.config.window
            };
            {
                let Ok(mut recent) = self.inner.recent.lock() else { return };
                if recent.get(&key).is_some_and(|until| now < *until) {
                    self.inner.counters.suppressed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                recent.retain(|_, until| now < *until);
                recent.insert(key.clone(), now + hold);
            }
            match self.inner.sender.try_send(Job::Mail {
                key,
                mail: Box::new(mail()),
                request_id: crate::context::current_request_id(),
            }) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    ReportMail::MailDropped { reason: "the report queue is full" }.emit();
                }
            }
        }

        /// Waits until every mail submitted before this call was sent or refused (blocking: from
        /// async code, call it through `spawn_blocking`).
        pub fn flush(&self) {
            let (done, wait) = std::sync::mpsc::channel();
            if self.inner.sender.send(Job::Flush(done)).is_ok() {
                let _ = wait.recv();
            }
        }

        /// Mails sent, suppressed, failed and dropped.
        pub fn stats(&self) -> ReportStats {
            let c = &self.inner.counters;
            ReportStats {
                mailed: c.mailed.load(Ordering::Relaxed),
                suppressed: c.suppressed.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
                dropped: c.dropped.load(Ordering::Relaxed),
            }
        }
    }

    /// The `EMAIL_ERRORS` sink: our JSON layer at `error` and above, each line handed to the
    /// reporter (the installed one when it mails to `address`, else a new one that is installed).
    pub(crate) fn email_errors_layer(
        address: &str,
        source: &str,
    ) -> Result<Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>, MailConfigError> {
        use tracing_subscriber::Layer as _;
        let address = Address::parse(vars::EMAIL_ERRORS, address)?;
        let reporter = match Reporter::global() {
            Some(reporter) if reporter.config().errors_address() == Some(&address) => reporter.clone(),
            _ => {
                let reporter = Reporter::new(ReportConfig::from_env()?.errors_email(address));
                reporter.install();
                reporter
            }
        };
        Ok(crate::logging::JsonLayer::new(MailLines { reporter })
            .with_source(source)
            .with_filter(crate::logging::LogFilter::level(tracing_subscriber::filter::LevelFilter::ERROR))
            .boxed())
    }

    /// Hands each line the JSON layer writes to the reporter.
    struct MailLines {
        reporter: Reporter,
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MailLines {
        type Writer = MailLine<'a>;
        fn make_writer(&'a self) -> Self::Writer {
            MailLine { reporter: &self.reporter }
        }
    }

    struct MailLine<'a> {
        reporter: &'a Reporter,
    }

    impl std::io::Write for MailLine<'_> {
        fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
            // The layer writes one whole line per call. Lines the reporter itself logs (a mail
            // server that refuses) are not mailed: that would loop.
            if std::thread::current().name() != Some(THREAD_NAME) {
                self.reporter.mail_error_line(line);
            }
            Ok(line.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Mails a configuration error through the installed (or environment's) reporter.
    pub(crate) fn mail_config_error(error: &ConfigurationError) {
        if let Some(reporter) = Reporter::global() {
            reporter.mail_config_error(error);
        }
    }

    struct Worker {
        config: ReportConfig,
        counters: Arc<Counters>,
    }

    impl Worker {
        fn run(self, receiver: Receiver<Job>) {
            #[cfg(feature = "store")]
            let mut limiter: Option<(tokio::runtime::Runtime, sqlx::AnyPool)> = None;
            while let Ok(job) = receiver.recv() {
                match job {
                    Job::Mail { key, mail, request_id } => {
                        #[cfg(feature = "store")]
                        let first = match &limiter {
                            Some((runtime, pool)) => {
                                match runtime.block_on(crate::store::claim(pool, &key, self.config.window)) {
                                    Ok(first) => first,
                                    Err(error) => {
                                        // Better one mail too many than a report lost.
                                        ReportMail::RateLimitUnavailable { error: &error }.emit();
                                        true
                                    }
                                }
                            }
                            None => true,
                        };
                        #[cfg(not(feature = "store"))]
                        let first = {
                            let _ = &key;
                            true
                        };
                        if !first {
                            self.counters.suppressed.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        match mail::send(&self.config.smtp, &mail) {
                            Ok(()) => {
                                self.counters.mailed.fetch_add(1, Ordering::Relaxed);
                                // In the reported request's scope, so the line carries its id.
                                let scope = request_id
                                    .as_deref()
                                    .map(|request_id| tracing::info_span!("report", request_id).entered());
                                ReportMail::Mailed { to: mail.to.as_str(), key: key.as_str() }.emit();
                                drop(scope);
                            }
                            Err(error) => {
                                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                                ReportMail::MailFailed { to: mail.to.as_str(), error: &error }.emit();
                            }
                        }
                    }
                    #[cfg(feature = "store")]
                    Job::UseStore(store) => {
                        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                        match runtime {
                            Ok(runtime) => {
                                // A pool of this thread's own runtime (tokio I/O is bound to it).
                                let pool = {
                                    let _inside = runtime.enter();
                                    crate::store::open_pool(store.database_url(), 1, Duration::from_secs(5))
                                };
                                match pool {
                                    Ok(pool) => limiter = Some((runtime, pool)),
                                    Err(error) => ReportMail::RateLimitUnavailable { error: &error }.emit(),
                                }
                            }
                            Err(error) => ReportMail::RateLimitUnavailable { error: &error }.emit(),
                        }
                    }
                    Job::Flush(done) => {
                        let _ = done.send(());
                    }
                    Job::Stop => break,
                }
            }
        }
    }
}
