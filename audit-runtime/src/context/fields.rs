//! The fields recorded on a span, each already encoded as JSON: kept in the span's extensions by
//! whichever of the toolkit's layers sees the span first (the log layers' visitor writes them),
//! flattened into every line written inside the span, and read here for the bound request and
//! user ids. Plain data, so that `context` depends on no other module of the crate.

/// The fields recorded on a span, each value already encoded as JSON; kept in the span's
/// extensions (by whichever of our layers sees the span first).
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    pub(crate) entries: Vec<(&'static str, String)>,
    /// The span was given its parent (or made a root) rather than taking the current span: the
    /// spans entered around it on the thread are not its parents.
    pub(crate) detached: bool,
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

/// The fields of a span `#[trace_span]` records itself (no `tracing` span holds them): each
/// value already encoded as JSON, all in one buffer, so that a span costs no allocation once
/// the thread's spare buffers have grown (see `spans::take_fields`).
#[derive(Debug, Default)]
pub(crate) struct FlatFields {
    /// The JSON values, one after another (valid UTF-8: the log layers' encoders write them).
    pub(crate) text: Vec<u8>,
    /// Each field's key and the end of its value in `text` (it starts where the one before
    /// ends); a key recorded twice keeps its last value (`get` and `iter` see that one only).
    pub(crate) keys: Vec<(&'static str, u32)>,
    /// A span given its parent: `Some(None)` a root, `Some(Some(id))` the child of the
    /// `tracing` span `id`; the spans entered further out on the thread are not its parents.
    pub(crate) detached: Option<Option<tracing_core::span::Id>>,
}

impl FlatFields {
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.keys.clear();
        self.detached = None;
    }

    /// Ends the value of `key` just written at the end of `text`.
    pub(crate) fn end_value(&mut self, key: &'static str) {
        let end = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.keys.push((key, end));
    }

    /// The fields in the order recorded, a later value of a key replacing an earlier one.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &[u8])> + '_ {
        let mut start = 0;
        self.keys.iter().enumerate().filter_map(move |(i, &(key, end))| {
            let value = self.text.get(start as usize..end as usize).unwrap_or_default();
            start = end;
            // Replaced when recorded again later (rare: a field declared empty and recorded).
            let replaced = self.keys[i + 1..].iter().any(|(k, _)| *k == key);
            (!replaced).then_some((key, value))
        })
    }

    /// The JSON text of `key`'s value, if recorded.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}
