//! Shared helpers of the integration tests: a subscriber with our JSON layer writing into memory.
#![allow(dead_code)] // each test binary uses a different part

use std::io;
use std::sync::{Arc, Mutex};

use audit_runtime::logging::JsonLayer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Lines written by a layer, kept in memory.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("the layer writes UTF-8")
    }

    /// Every line parsed as JSON; panics with the line when one does not parse.
    pub fn json_lines(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.text()
            .lines()
            .map(|line| match serde_json::from_str(line) {
                Ok(serde_json::Value::Object(map)) => map,
                other => panic!("not a JSON object line: {line:?} ({other:?})"),
            })
            .collect()
    }

    /// The only line written; panics when there is not exactly one.
    pub fn only_line(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut lines = self.json_lines();
        assert_eq!(lines.len(), 1, "expected one line, got:\n{}", self.text());
        lines.remove(0)
    }
}

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

/// Runs `f` with a subscriber that has only our JSON layer, and returns what it wrote.
pub fn capture_json(f: impl FnOnce()) -> Capture {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(capture.clone()));
    tracing::subscriber::with_default(subscriber, f);
    capture
}

/// Like [`capture_json`], with only `max_level` and more severe enabled.
pub fn capture_json_at(max_level: tracing::Level, f: impl FnOnce()) -> Capture {
    let capture = Capture::default();
    let filter = tracing_subscriber::filter::LevelFilter::from_level(max_level);
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(capture.clone()).with_filter(filter));
    tracing::subscriber::with_default(subscriber, f);
    capture
}
