//! The fields recorded on a span, each already encoded as JSON: kept in the span's extensions by
//! whichever of the toolkit's layers sees the span first (the log layers' visitor writes them),
//! flattened into every line written inside the span, and read here for the bound request and
//! user ids. Plain data, so that `context` depends on no other module of the crate.

/// The fields recorded on a span, each value already encoded as JSON; kept in the span's
/// extensions (by whichever of our layers sees the span first).
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    pub(crate) entries: Vec<(&'static str, String)>,
}

impl SpanFields {
    /// The JSON text of `key`'s value, if this span recorded it.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    pub(crate) fn set(&mut self, key: &'static str, value: String) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }
}
