//! Any `opentelemetry_sdk::trace::SpanExporter`, behind an object-safe face for the exporter
//! thread (the SDK's trait returns `impl Future`, so it cannot be a trait object).

use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// What the exporter thread needs of an exporter.
pub(crate) trait DynExporter: Send {
    /// Exports one batch and waits for the answer.
    fn export(&mut self, batch: Vec<SpanData>) -> OTelSdkResult;
    fn shutdown(&mut self, timeout: Duration);
    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource);
    /// Names it in warnings: its endpoint, or its type.
    fn describe(&self) -> String;
}

pub(crate) type BoxedExporter = Box<dyn DynExporter>;

/// An exporter whose futures complete on the calling thread's executor (the HTTP exporters,
/// stdout, in-memory; also a gRPC exporter built inside a Tokio runtime that keeps running).
pub(crate) struct Blocking<E> {
    pub(crate) exporter: E,
    pub(crate) name: String,
}

impl<E: SpanExporter + 'static> DynExporter for Blocking<E> {
    fn export(&mut self, batch: Vec<SpanData>) -> OTelSdkResult {
        futures_executor::block_on(self.exporter.export(batch))
    }
    fn shutdown(&mut self, timeout: Duration) {
        let _ = self.exporter.shutdown_with_timeout(timeout);
    }
    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.exporter.set_resource(resource);
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// Boxes any exporter given in code.
pub(crate) fn boxed<E: SpanExporter + 'static>(exporter: E) -> BoxedExporter {
    Box::new(Blocking { exporter, name: std::any::type_name::<E>().to_owned() })
}
