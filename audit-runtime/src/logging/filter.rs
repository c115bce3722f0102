//! [`LogFilter`], the per-layer filter of the log layers: a level filter that also takes the
//! spans of `#[trace_span]` functions off the registry. The log layers read such a span's fields
//! from its entry on the per-thread context (`trace::recorder` records them there), so its
//! `tracing` span is made only when a layer other than ours wants it, and a span costs what the
//! toolkit's own bookkeeping costs rather than the registry's.
//!
//! Whether a log layer wants a function's fields is asked once per callsite and subscriber
//! through the probe callsite beside the function's own (see `trace::fn_span`): the filters
//! answer while the probe is registered with that subscriber alone.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::Dispatch;
use tracing::field::ValueSet;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Metadata, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

use super::span_fields::SpanFieldVisitor;
use crate::context::fields::FlatFields;
use crate::trace::recorder::{self, FieldRecorder};
use crate::trace::{FnCallsite, Role, role_of};

/// Ids of log filters; zero is "none".
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Set by a log filter that let a probe through while it was registered on this thread.
    static PROBE_WANTED: Cell<bool> = const { Cell::new(false) };
}

/// The per-layer filter of a [`JsonLayer`](super::JsonLayer) or
/// [`ConsoleLayer`](super::ConsoleLayer): lines at a level (or as an `EnvFilter`'s directives
/// say), with the spans of `#[trace_span]` functions kept by the toolkit instead of by the
/// registry. Every set-up of this crate uses it; use it too when you compose a subscriber
/// yourself:
///
/// ```
/// use audit_runtime::logging::{JsonLayer, LogFilter};
/// use tracing_subscriber::filter::LevelFilter;
/// use tracing_subscriber::prelude::*;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(JsonLayer::new(std::io::stdout).with_filter(LogFilter::level(LevelFilter::INFO)));
/// # let _ = subscriber;
/// ```
///
/// A log layer with another filter, or none, still writes the fields of every enclosing span;
/// it only makes the registry record `#[trace_span]` spans too.
pub struct LogFilter {
    id: u64,
    level: LevelChoice,
}

enum LevelChoice {
    Level(LevelFilter),
    // Boxed: an `EnvFilter` is large, and a filter is asked often.
    Env(Box<EnvFilter>),
}

impl std::fmt::Debug for LogFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.level {
            LevelChoice::Level(level) => f.debug_tuple("LogFilter").field(level).finish(),
            LevelChoice::Env(env) => f.debug_tuple("LogFilter").field(env).finish(),
        }
    }
}

impl LogFilter {
    /// Lines at `level` and above.
    pub fn level(level: LevelFilter) -> Self {
        Self::new(LevelChoice::Level(level))
    }

    /// The lines `filter`'s directives enable (targets, levels, span fields).
    pub fn env(filter: EnvFilter) -> Self {
        Self::new(LevelChoice::Env(Box::new(filter)))
    }

    fn new(level: LevelChoice) -> Self {
        recorder::install_fields(&LOG_FIELDS);
        LogFilter { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), level }
    }

    fn inner_callsite_enabled<S>(&self, meta: &'static Metadata<'static>) -> Interest
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        match &self.level {
            LevelChoice::Level(level) => Filter::<S>::callsite_enabled(level, meta),
            LevelChoice::Env(env) => Filter::<S>::callsite_enabled(&**env, meta),
        }
    }
}

impl<S> Filter<S> for LogFilter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        if role_of(meta).is_some() {
            return false;
        }
        match &self.level {
            LevelChoice::Level(level) => Filter::<S>::enabled(level, meta, cx),
            LevelChoice::Env(env) => Filter::<S>::enabled(&**env, meta, cx),
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = self.inner_callsite_enabled::<S>(meta);
        if interest.is_never() {
            return interest;
        }
        match role_of(meta) {
            // Recorded by the toolkit: the registry need not make it for us.
            Some(Role::Span) => Interest::never(),
            Some(Role::Probe) => {
                PROBE_WANTED.with(|wanted| wanted.set(true));
                Interest::always()
            }
            None => interest,
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        match &self.level {
            LevelChoice::Level(level) => Filter::<S>::max_level_hint(level),
            LevelChoice::Env(env) => Filter::<S>::max_level_hint(&**env),
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, cx: Context<'_, S>) {
        if let LevelChoice::Env(env) = &self.level {
            Filter::<S>::on_new_span(&**env, attrs, id, cx);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, cx: Context<'_, S>) {
        if let LevelChoice::Env(env) = &self.level {
            Filter::<S>::on_record(&**env, id, values, cx);
        }
    }

    fn on_enter(&self, id: &Id, cx: Context<'_, S>) {
        if let LevelChoice::Env(env) = &self.level {
            Filter::<S>::on_enter(&**env, id, cx);
        }
    }

    fn on_exit(&self, id: &Id, cx: Context<'_, S>) {
        if let LevelChoice::Env(env) = &self.level {
            Filter::<S>::on_exit(&**env, id, cx);
        }
    }

    fn on_close(&self, id: Id, cx: Context<'_, S>) {
        if let LevelChoice::Env(env) = &self.level {
            Filter::<S>::on_close(&**env, id, cx);
        }
    }
}

/// The log layers' side of `trace::recorder`.
struct LogFields;

static LOG_FIELDS: LogFields = LogFields;

impl FieldRecorder for LogFields {
    #[inline]
    fn wanted(&self, dispatch: &Dispatch, probe: &'static FnCallsite) -> bool {
        // The first log filter of the subscriber names it in the probe's cache.
        let Some(filter) = dispatch.downcast_ref::<LogFilter>() else { return false };
        match probe.cached_logs(filter.id) {
            Some(wanted) => wanted,
            None => {
                let wanted = ask(dispatch, probe);
                probe.cache_logs(filter.id, wanted);
                wanted
            }
        }
    }

    #[inline]
    fn record(&self, fields: &mut FlatFields, values: &ValueSet<'_>) {
        values.record(&mut SpanFieldVisitor { fields });
    }
}

/// Whether a log filter of `dispatch` lets spans of `probe`'s function through: the filters
/// answer while the probe is registered with this subscriber alone, unless another layer
/// vetoed it.
#[cold]
fn ask(dispatch: &Dispatch, probe: &'static FnCallsite) -> bool {
    PROBE_WANTED.with(|wanted| wanted.set(false));
    let interest = dispatch.register_callsite(probe.meta());
    let answered = PROBE_WANTED.with(|wanted| wanted.replace(false));
    !interest.is_never() && answered
}
