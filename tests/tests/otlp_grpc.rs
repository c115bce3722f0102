//! `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`: spans reach a gRPC collector (a tonic `TraceService` on
//! a loopback socket, in this test) with the metadata of `OTEL_EXPORTER_OTLP_HEADERS`.

use std::ffi::OsString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_runtime::telemetry::{OtlpConfig, Protocol, vars};
use audit_runtime::trace_span;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::trace::v1::Span;
use tracing_subscriber::prelude::*;

/// Keeps the spans of the requests that carry the right `x-api-key`; refuses the others.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
    refused: Arc<Mutex<usize>>,
}

#[tonic::codegen::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if request.metadata().get("x-api-key").and_then(|v| v.to_str().ok()) != Some("grpc-key") {
            *self.refused.lock().unwrap() += 1;
            return Err(tonic::Status::unauthenticated("no or wrong x-api-key"));
        }
        for resource_spans in request.into_inner().resource_spans {
            for scope_spans in resource_spans.scope_spans {
                self.spans.lock().unwrap().extend(scope_spans.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// Starts the collector on its own runtime thread; gives its `http://127.0.0.1:port` URL.
fn start(collector: Collector) -> String {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.block_on(async move {
            let incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            sender.send(incoming.local_addr().unwrap()).unwrap();
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector))
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
    });
    format!("http://{}", receiver.recv().unwrap())
}

#[trace_span(fields(shipment))]
fn ship(shipment: &str) {
    tracing::info!("shipment_sent");
}

fn config(vars: &[(&str, String)]) -> OtlpConfig {
    let vars: Vec<(String, OsString)> = vars.iter().map(|(k, v)| (k.to_string(), v.into())).collect();
    let mut config =
        OtlpConfig::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).unwrap();
    config.schedule_delay = Duration::from_millis(50);
    config.timeout = Duration::from_secs(3);
    config
}

#[test]
fn spans_reach_a_grpc_collector_with_the_headers_as_metadata() {
    let collector = Collector::default();
    let endpoint = start(collector.clone());
    let config = config(&[
        (vars::ENDPOINT, endpoint.clone()),
        (vars::PROTOCOL, "grpc".to_owned()),
        (vars::HEADERS, "x-api-key=grpc-key".to_owned()),
    ]);
    assert_eq!(config.protocol, Protocol::Grpc);
    assert_eq!(config.endpoint.as_deref(), Some(endpoint.as_str()), "gRPC endpoints have no path");
    let (otlp, guard) = config.build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(otlp), || {
        ship("A-1");
        ship("A-2");
    });
    assert!(guard.flush(Duration::from_secs(10)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while collector.spans.lock().unwrap().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let spans = collector.spans.lock().unwrap().clone();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["otlp_grpc::ship", "otlp_grpc::ship"]);
    assert_eq!(guard.exported_spans(), 2);
    assert_eq!(*collector.refused.lock().unwrap(), 0);
}

#[test]
fn a_grpc_collector_that_refuses_the_key_counts_the_spans_as_dropped() {
    let collector = Collector::default();
    let endpoint = start(collector.clone());
    let config = config(&[
        (vars::TRACES_ENDPOINT, endpoint),
        (vars::TRACES_PROTOCOL, "grpc".to_owned()),
        (vars::HEADERS, "x-api-key=wrong".to_owned()),
    ]);
    let (otlp, guard) = config.build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(otlp), || ship("B-1"));
    assert!(guard.flush(Duration::from_secs(10)));
    assert!(*collector.refused.lock().unwrap() >= 1, "the request reached the collector");
    assert_eq!(guard.dropped_spans(), 1);
    assert!(collector.spans.lock().unwrap().is_empty());
}
