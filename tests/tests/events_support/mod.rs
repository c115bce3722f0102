//! Captures what our JSON layer writes, for the event and catalog tests.
// Each test binary uses part of this module.
#![allow(dead_code)]

use std::io;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// An in-memory log file.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

pub struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(self.0.clone())
    }
}

impl Capture {
    /// Everything written, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("the layer writes UTF-8")
    }

    /// Every line, parsed; panics on a line that is not a JSON object.
    pub fn lines(&self) -> Vec<serde_json::Map<String, Value>> {
        self.text()
            .lines()
            .map(|line| match serde_json::from_str(line) {
                Ok(Value::Object(map)) => map,
                other => panic!("not a JSON object: {line:?} ({other:?})"),
            })
            .collect()
    }
}

/// Runs `f` with our JSON layer writing into the returned capture, everything enabled.
pub fn capture(f: impl FnOnce()) -> Capture {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(audit_runtime::logging::JsonLayer::new(capture.clone()));
    tracing::subscriber::with_default(subscriber, f);
    capture
}

/// Like [`capture`], with only `max_level` and more severe enabled.
pub fn capture_at(max_level: tracing::Level, f: impl FnOnce()) -> Capture {
    let capture = Capture::default();
    let filter = tracing_subscriber::filter::LevelFilter::from_level(max_level);
    let subscriber = tracing_subscriber::registry()
        .with(audit_runtime::logging::JsonLayer::new(capture.clone()).with_filter(filter));
    tracing::subscriber::with_default(subscriber, f);
    capture
}

/// The one line of `capture`; panics unless there is exactly one.
pub fn only_line(capture: &Capture) -> serde_json::Map<String, Value> {
    let mut lines = capture.lines();
    assert_eq!(lines.len(), 1, "expected one line, got: {}", capture.text());
    lines.remove(0)
}
