//! Spans: `#[trace_span]` and the scope form. (Being written: issue #6.)
