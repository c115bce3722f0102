//! Which traces are recorded: the standard `OTEL_TRACES_SAMPLER` samplers.

use super::config::{TelemetryError, invalid as invalid_value, vars};

/// A sampler of the OpenTelemetry specification.
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    /// Every trace.
    AlwaysOn,
    /// No trace (ids are still assigned, so log lines and `traceparent` still carry them).
    AlwaysOff,
    /// A fixed share of traces, decided from the trace id so every service decides alike.
    TraceIdRatio(f64),
    /// The parent's decision for a child span; `root` decides for a root span.
    ParentBased(Box<Sampler>),
}

impl Default for Sampler {
    /// `parentbased_always_on`, the specification's default.
    fn default() -> Self {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    }
}

const ACCEPTED: &str =
    "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio";

impl Sampler {
    /// Reads `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` values.
    pub fn parse(name: Option<&str>, arg: Option<&str>) -> Result<Self, TelemetryError> {
        let ratio = || -> Result<f64, TelemetryError> {
            match arg {
                None => Ok(1.0),
                Some(text) => match text.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                    _ => Err(invalid_value(vars::SAMPLER_ARG, text, "a ratio between 0 and 1, such as 0.25")),
                },
            }
        };
        Ok(match name.unwrap_or("parentbased_always_on") {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio()?),
            "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            "parentbased_traceidratio" => Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(ratio()?))),
            other => return Err(invalid_value(vars::SAMPLER, other, format!("one of {ACCEPTED}"))),
        })
    }

    /// Whether a span of `trace_id` is recorded; `parent` is the parent's decision, if any.
    pub(crate) fn sample(&self, parent: Option<bool>, trace_id: u128) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(ratio) => ratio_bound(*ratio).is_none_or(|bound| below(trace_id, bound)),
            Sampler::ParentBased(root) => match parent {
                Some(sampled) => sampled,
                None => root.sample(None, trace_id),
            },
        }
    }
}

/// The SDK's `TraceIdRatioBased` decision: the low 64 bits of the trace id, shifted right by
/// one, against the ratio's share of 2^63; `None` for a ratio of 1 or more (always sampled).
fn ratio_bound(ratio: f64) -> Option<u64> {
    (ratio < 1.0).then(|| (ratio.max(0.0) * (1u64 << 63) as f64) as u64)
}

#[inline]
fn below(trace_id: u128, bound: u64) -> bool {
    ((trace_id as u64) >> 1) < bound
}

impl From<&Sampler> for opentelemetry_sdk::trace::Sampler {
    /// The SDK's sampler that decides alike, for services that also use the SDK's own tracer.
    fn from(sampler: &Sampler) -> Self {
        use opentelemetry_sdk::trace::Sampler as Sdk;
        match sampler {
            Sampler::AlwaysOn => Sdk::AlwaysOn,
            Sampler::AlwaysOff => Sdk::AlwaysOff,
            Sampler::TraceIdRatio(ratio) => Sdk::TraceIdRatioBased(*ratio),
            Sampler::ParentBased(root) => Sdk::ParentBased(Box::new(Sdk::from(&**root))),
        }
    }
}

/// A [`Sampler`] flattened for the fast path: no box to follow (its heap line may be shared
/// with data another thread writes) and the ratio's bound computed once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct FlatSampler {
    parent_based: bool,
    root: Root,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Root {
    On,
    Off,
    /// Trace ids whose low 64 bits shifted right by one are below this are sampled.
    Below(u64),
}

impl FlatSampler {
    pub(crate) fn new(sampler: &Sampler) -> Self {
        match sampler {
            Sampler::AlwaysOn => FlatSampler { parent_based: false, root: Root::On },
            Sampler::AlwaysOff => FlatSampler { parent_based: false, root: Root::Off },
            Sampler::TraceIdRatio(ratio) => {
                FlatSampler { parent_based: false, root: ratio_bound(*ratio).map_or(Root::On, Root::Below) }
            }
            // A parent-based sampler asks its root only when there is no parent, so a nested
            // one decides as the innermost root does.
            Sampler::ParentBased(root) => FlatSampler { parent_based: true, ..FlatSampler::new(root) },
        }
    }

    /// As [`Sampler::sample`].
    #[inline]
    pub(crate) fn sample(&self, parent: Option<bool>, trace_id: u128) -> bool {
        if let (true, Some(sampled)) = (self.parent_based, parent) {
            return sampled;
        }
        match self.root {
            Root::On => true,
            Root::Off => false,
            Root::Below(bound) => below(trace_id, bound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flat_sampler_decides_as_the_sampler() {
        let samplers = [
            Sampler::AlwaysOn,
            Sampler::AlwaysOff,
            Sampler::TraceIdRatio(0.25),
            Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.5))),
            Sampler::ParentBased(Box::new(Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.1))))),
        ];
        let mut rng = super::super::ids::Rng::seeded(11);
        for sampler in &samplers {
            let flat = FlatSampler::new(sampler);
            for _ in 0..1_000 {
                let trace_id = rng.trace_id();
                for parent in [None, Some(true), Some(false)] {
                    assert_eq!(flat.sample(parent, trace_id), sampler.sample(parent, trace_id), "{sampler:?}");
                }
            }
        }
    }

    #[test]
    fn ratio_samples_about_that_share() {
        let sampler = Sampler::TraceIdRatio(0.25);
        let mut rng = super::super::ids::Rng::seeded(7);
        let kept = (0..10_000).filter(|_| sampler.sample(None, rng.trace_id())).count();
        assert!((2_200..2_800).contains(&kept), "{kept}");
    }

    /// Same trace id, same ratio, same answer as the OpenTelemetry SDK's sampler.
    #[test]
    fn ratio_decisions_agree_with_the_sdk() {
        use opentelemetry::trace::{SpanKind, TraceId};
        use opentelemetry_sdk::trace::ShouldSample as _;
        let mut rng = super::super::ids::Rng::seeded(3);
        for ratio in [0.0, 0.1, 0.25, 0.5, 0.9, 1.0] {
            let ours = Sampler::TraceIdRatio(ratio);
            let flat = FlatSampler::new(&ours);
            let sdk = opentelemetry_sdk::trace::Sampler::from(&ours);
            for _ in 0..2_000 {
                let trace_id = rng.trace_id();
                let result = sdk.should_sample(None, TraceId::from(trace_id), "span", &SpanKind::Internal, &[], &[]);
                let sdk_sampled = result.decision == opentelemetry_sdk::trace::SamplingDecision::RecordAndSample;
                assert_eq!(ours.sample(None, trace_id), sdk_sampled, "ratio {ratio}, trace id {trace_id:032x}");
                assert_eq!(flat.sample(None, trace_id), sdk_sampled, "ratio {ratio}, trace id {trace_id:032x}");
            }
        }
    }

    #[test]
    fn parent_based_follows_the_parent() {
        let sampler = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        assert!(!sampler.sample(Some(false), 1));
        assert!(sampler.sample(None, 1));
    }

    #[test]
    fn unknown_names_and_bad_ratios_are_clear_errors() {
        let e = Sampler::parse(Some("sometimes"), None).unwrap_err().to_string();
        assert!(e.contains("OTEL_TRACES_SAMPLER=\"sometimes\"") && e.contains("traceidratio"), "{e}");
        let e = Sampler::parse(Some("traceidratio"), Some("2")).unwrap_err().to_string();
        assert!(e.contains("OTEL_TRACES_SAMPLER_ARG=\"2\""), "{e}");
    }
}
