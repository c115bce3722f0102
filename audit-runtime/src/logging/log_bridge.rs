//! Records of the `log` crate (rustls, sqlx, reqwest and many libraries log through it) as
//! `tracing` events, so that they become JSON lines with the context of the span they are
//! written in (request id, user id, trace id), like any other line. The standard bridge,
//! tracing-log's `LogTracer`, does the work; the set-up calls install it with the global
//! subscriber.

use tracing::level_filters::LevelFilter;

/// Installs the bridge as the `log` crate's logger, passing on the records at the levels the
/// installed subscriber wants (the others are dropped by `log`'s macros, at the cost of one
/// comparison). Does nothing when the program has set a `log` logger of its own.
pub(crate) fn install() {
    let max = match LevelFilter::current() {
        LevelFilter::OFF => log::LevelFilter::Off,
        LevelFilter::ERROR => log::LevelFilter::Error,
        LevelFilter::WARN => log::LevelFilter::Warn,
        LevelFilter::INFO => log::LevelFilter::Info,
        LevelFilter::DEBUG => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    // An error means a logger is set already: the program's choice stands.
    let _ = tracing_log::LogTracer::builder().with_max_level(max).init();
}
