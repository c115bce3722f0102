//! What `#[trace_span]` expands to: its own callsites, and [`FnSpan`], which makes the `tracing`
//! span only when a layer other than the toolkit's wants it, and records the span for the log
//! layers and the exporter itself (see `trace::recorder`) without going through the registry.

use std::future::Future;
use std::pin::Pin;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tracing::callsite::Callsite;
use tracing::field::ValueSet;
use tracing::instrument::Instrumented;
use tracing::span::Id;
use tracing::subscriber::Interest;
use tracing::{Instrument as _, Metadata, Span};

use super::recorder::{self, FastSpan};

/// What a `#[trace_span]` callsite is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The `tracing` span of the function, for every layer but the toolkit's.
    Span,
    /// Never made: asks the subscriber whether the toolkit's filters let such a span through.
    Probe,
}

/// The metadata addresses of the registered `#[trace_span]` callsites, sorted, with their role:
/// how the toolkit's filters know them without a marker field that other layers would see.
static FN_CALLSITES: RwLock<Vec<(usize, Role)>> = RwLock::new(Vec::new());

/// The role of `meta` when it belongs to a `#[trace_span]` callsite.
pub(crate) fn role_of(meta: &Metadata<'_>) -> Option<Role> {
    if !meta.is_span() {
        return None;
    }
    let address = meta as *const Metadata<'_> as usize;
    let callsites = FN_CALLSITES.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    callsites.binary_search_by_key(&address, |(a, _)| *a).ok().map(|i| callsites[i].1)
}

const UNREGISTERED: u8 = 0;
const REGISTERING: u8 = 1;
const REGISTERED: u8 = 2;
const INTEREST_NEVER: u8 = 0;
const INTEREST_SOMETIMES: u8 = 1;
const INTEREST_ALWAYS: u8 = 2;
const INTEREST_UNKNOWN: u8 = 0xFF;

/// A callsite of `#[trace_span]` (a `tracing` callsite with its cached interest, as
/// `tracing`'s own, plus what the toolkit's layers need).
pub struct FnCallsite {
    meta: &'static Metadata<'static>,
    role: Role,
    interest: AtomicU8,
    registration: AtomicU8,
    /// For a probe: the last exporter that asked and its answer, `exporter id << 2 | 2 | wanted`
    /// (zero: nothing cached). Cleared whenever `tracing` rebuilds interests (filters changed).
    export_cache: AtomicU64,
    /// For a probe: the same for the log layers, keyed by the id of the first log filter of the
    /// subscriber that asked.
    log_cache: AtomicU64,
}

impl FnCallsite {
    /// The callsite of a function's `tracing` span.
    pub const fn span(meta: &'static Metadata<'static>) -> Self {
        Self::new(meta, Role::Span)
    }

    /// The probe callsite beside it.
    pub const fn probe(meta: &'static Metadata<'static>) -> Self {
        Self::new(meta, Role::Probe)
    }

    const fn new(meta: &'static Metadata<'static>, role: Role) -> Self {
        FnCallsite {
            meta,
            role,
            interest: AtomicU8::new(INTEREST_UNKNOWN),
            registration: AtomicU8::new(UNREGISTERED),
            export_cache: AtomicU64::new(0),
            log_cache: AtomicU64::new(0),
        }
    }

    pub(crate) fn meta(&self) -> &'static Metadata<'static> {
        self.meta
    }

    /// The interest of every subscriber in this callsite; registers it on first use.
    #[inline]
    pub(crate) fn interest(&'static self) -> Interest {
        match self.interest.load(Ordering::Relaxed) {
            INTEREST_NEVER => Interest::never(),
            INTEREST_SOMETIMES => Interest::sometimes(),
            INTEREST_ALWAYS => Interest::always(),
            _ => self.register(),
        }
    }

    #[cold]
    #[inline(never)]
    fn register(&'static self) -> Interest {
        if self.registration.compare_exchange(UNREGISTERED, REGISTERING, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            {
                // Known as ours before any subscriber hears of it.
                let mut callsites = FN_CALLSITES.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                let address = self.meta as *const Metadata<'_> as usize;
                if let Err(at) = callsites.binary_search_by_key(&address, |(a, _)| *a) {
                    callsites.insert(at, (address, self.role));
                }
            }
            tracing::callsite::register(self);
            self.registration.store(REGISTERED, Ordering::Release);
        }
        match self.interest.load(Ordering::Relaxed) {
            INTEREST_NEVER => Interest::never(),
            INTEREST_ALWAYS => Interest::always(),
            // Being registered by another thread: ask the subscriber this time.
            _ => Interest::sometimes(),
        }
    }

    /// The cached answer of exporter `exporter_id` for this probe, if any.
    #[cfg(feature = "otlp")]
    pub(crate) fn cached_export(&self, exporter_id: u64) -> Option<bool> {
        let cached = self.export_cache.load(Ordering::Relaxed);
        (cached != 0 && cached >> 2 == exporter_id).then_some(cached & 1 == 1)
    }

    #[cfg(feature = "otlp")]
    pub(crate) fn cache_export(&self, exporter_id: u64, wanted: bool) {
        self.export_cache.store(exporter_id << 2 | 2 | u64::from(wanted), Ordering::Relaxed);
    }

    /// The cached answer of the log layers whose first filter is `filter_id`, if any.
    #[inline]
    pub(crate) fn cached_logs(&self, filter_id: u64) -> Option<bool> {
        let cached = self.log_cache.load(Ordering::Relaxed);
        (cached != 0 && cached >> 2 == filter_id).then_some(cached & 1 == 1)
    }

    pub(crate) fn cache_logs(&self, filter_id: u64, wanted: bool) {
        self.log_cache.store(filter_id << 2 | 2 | u64::from(wanted), Ordering::Relaxed);
    }
}

impl Callsite for FnCallsite {
    fn set_interest(&self, interest: Interest) {
        let value = if interest.is_never() {
            INTEREST_NEVER
        } else if interest.is_always() {
            INTEREST_ALWAYS
        } else {
            INTEREST_SOMETIMES
        };
        self.interest.store(value, Ordering::SeqCst);
        // Filters may have changed: the exporter and the log layers ask again.
        self.export_cache.store(0, Ordering::Relaxed);
        self.log_cache.store(0, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.meta
    }
}

impl std::fmt::Debug for FnCallsite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnCallsite").field("name", &self.meta.name()).field("role", &self.role).finish()
    }
}

/// The parent of a function's span: the current span, or the one given with `parent = ...`.
#[derive(Clone, Debug)]
pub enum Parent {
    /// The span entered on this thread.
    Contextual,
    /// `parent = expr`: a span, an id, or `None` for a root span.
    Explicit(Option<Id>),
}

impl Parent {
    /// `parent = expr`.
    pub fn explicit(parent: impl Into<Option<Id>>) -> Self {
        Parent::Explicit(parent.into())
    }
}

/// A function's span, not entered yet: the `tracing` span (disabled when no layer wants it)
/// and the span the toolkit's layers record themselves.
#[derive(Debug)]
pub struct FnSpan {
    span: Span,
    fast: Option<FastSpan>,
}

impl FnSpan {
    /// No span (its level is disabled).
    #[inline]
    pub fn none() -> Self {
        FnSpan { span: Span::none(), fast: None }
    }

    /// Starts the span of `callsite`; `values` is called at most once, to record the fields
    /// (evaluated once for both kinds of span). Not inlined: the function it is called from
    /// stays small, so that a call whose level is disabled costs what `#[tracing::instrument]`
    /// costs.
    #[inline(never)]
    pub fn new(
        callsite: &'static FnCallsite,
        probe: &'static FnCallsite,
        parent: Parent,
        values: impl FnOnce(&mut dyn FnMut(&ValueSet<'_>)),
    ) -> Self {
        let meta = callsite.meta;
        let interest = callsite.interest();
        let wanted = !interest.is_never()
            && (interest.is_always() || tracing::dispatcher::get_default(|dispatch| dispatch.enabled(meta)));
        let mut fast = None;
        recorder::begin(probe, &parent, &mut fast);
        if !wanted && fast.is_none() {
            return FnSpan::none();
        }
        let mut span = Span::none();
        values(&mut |values| {
            if wanted {
                span = match &parent {
                    Parent::Contextual => Span::new(meta, values),
                    Parent::Explicit(parent) => Span::child_of(parent.clone(), meta, values),
                };
            }
            if let Some(fast) = &mut fast {
                fast.record(values);
            }
        });
        #[cfg(feature = "otlp")]
        if let (Some(fast), Some(id)) = (&mut fast, span.id()) {
            fast.attach(id);
        }
        FnSpan { span, fast }
    }

    /// `follows_from = ...`: links this span to `cause`.
    pub fn follows_from(&mut self, cause: impl Into<Option<Id>>) {
        let cause = cause.into();
        #[cfg(feature = "otlp")]
        if let (Some(fast), Some(cause)) = (&mut self.fast, &cause) {
            fast.link(cause);
        }
        self.span.follows_from(cause);
    }

    /// Enters the span until the guard is dropped (a plain function).
    #[inline]
    pub fn entered(self) -> EnteredFnSpan {
        let span = self.span.entered();
        EnteredFnSpan { fast: self.fast.map(FastSpan::enter), span }
    }

    /// Runs `f` inside the span (the body of a function returning `impl Future`).
    pub fn in_scope<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let _entered = self.span.enter();
        let _pushed = recorder::Pushed::new(&mut self.fast);
        f()
    }

    /// The future `future` inside the span: entered at every poll, on whatever thread; the span
    /// ends when the future completes or is dropped.
    pub fn instrument<F: Future>(self, future: F) -> FnFuture<F> {
        FnFuture { inner: future.instrument(self.span), fast: self.fast.map(FastSpan::detach) }
    }
}

/// An entered [`FnSpan`]; leaving the scope ends it.
#[derive(Debug)]
pub struct EnteredFnSpan {
    fast: Option<u64>,
    // Dropped after `Drop::drop`: the toolkit's span is left first, as it was entered last.
    #[allow(dead_code)]
    span: tracing::span::EnteredSpan,
}

impl Drop for EnteredFnSpan {
    #[inline]
    fn drop(&mut self) {
        if let Some(span_id) = self.fast.take() {
            recorder::end_entered(span_id);
        }
    }
}

/// The future of an `async fn` with `#[trace_span]`.
#[derive(Debug)]
pub struct FnFuture<F> {
    inner: Instrumented<F>,
    fast: Option<FastSpan>,
}

impl<F: Future> Future for FnFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned (never moved out of `self`, not even in
        // `Drop`); `fast` is not pinned and only ever moved in and out by value.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let pushed = recorder::Pushed::new(&mut this.fast);
        let poll = inner.poll(cx);
        drop(pushed);
        if poll.is_ready() {
            if let Some(fast) = this.fast.take() {
                fast.end();
            }
        }
        poll
    }
}

impl<F> Drop for FnFuture<F> {
    fn drop(&mut self) {
        // A future dropped before completing still ends its span (as `Instrumented` does).
        if let Some(fast) = self.fast.take() {
            fast.end();
        }
    }
}

/// The field of `fields` at `index` (the generated code names the fields in order).
#[inline]
pub fn field_at(fields: &tracing::field::FieldSet, index: usize) -> tracing::field::Field {
    match fields.iter().nth(index) {
        Some(field) => field,
        None => unreachable!("the generated code names only the fields it declares"),
    }
}
