//! The standard OTLP exporter of `opentelemetry-otlp`, built from an [`OtlpConfig`]: HTTP with
//! protobuf bodies over a blocking reqwest client (feature `otlp-http`), or gRPC over tonic
//! (feature `otlp-grpc`), both with rustls. What opentelemetry-otlp reads itself (endpoint,
//! compression, timeout) is left to it; the CA certificate, which it does not read for HTTP,
//! and the checked headers are given to it here.

use super::config::{OtlpConfig, Protocol, TelemetryError, invalid, vars};
use super::exporter::BoxedExporter;

/// The exporter for `config.protocol`.
pub(crate) fn build(config: &OtlpConfig) -> Result<BoxedExporter, TelemetryError> {
    match config.protocol {
        #[cfg(feature = "otlp-http")]
        Protocol::HttpProtobuf => http::build(config),
        #[cfg(feature = "otlp-grpc")]
        Protocol::Grpc => grpc::build(config),
        #[allow(unreachable_patterns)]
        other => Err(invalid(
            vars::PROTOCOL,
            match other {
                Protocol::Grpc => "grpc",
                _ => "http/protobuf",
            },
            format!("a protocol this build has: enable the `{}` feature of audit-runtime", feature_of(other)),
        )),
    }
}

fn feature_of(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Grpc => "otlp-grpc",
        _ => "otlp-http",
    }
}

/// The endpoint the exporter will use, as far as TLS is concerned: set in code, else the
/// variables.
fn endpoint(config: &OtlpConfig) -> Option<String> {
    config
        .endpoint
        .clone()
        .or_else(|| std::env::var(vars::TRACES_ENDPOINT).ok().filter(|v| !v.trim().is_empty()))
        .or_else(|| std::env::var(vars::ENDPOINT).ok().filter(|v| !v.trim().is_empty()))
}

/// The PEM certificates of `OTEL_EXPORTER_OTLP_CERTIFICATE`, read whole.
fn certificate_pem(config: &OtlpConfig) -> Result<Option<Vec<u8>>, TelemetryError> {
    let Some(path) = &config.certificate else { return Ok(None) };
    std::fs::read(path).map(Some).map_err(|error| {
        invalid(vars::CERTIFICATE, &path.display().to_string(), format!("a readable PEM file ({error})"))
    })
}

#[cfg(feature = "otlp-http")]
mod http {
    use std::collections::HashMap;
    use std::sync::Arc;

    use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};

    use super::super::exporter::{Blocking, BoxedExporter};
    use super::{OtlpConfig, TelemetryError, certificate_pem, endpoint, invalid, vars};

    pub(super) fn build(config: &OtlpConfig) -> Result<BoxedExporter, TelemetryError> {
        let tls = tls_config(config)?;
        let timeout = config.timeout;
        // Built on a thread of its own: the blocking client starts a runtime, which must not
        // happen inside the caller's (a service calling this from `#[tokio::main]`).
        let client = std::thread::spawn(move || {
            reqwest::blocking::Client::builder().timeout(timeout).tls_backend_preconfigured(tls).build()
        })
        .join()
        .map_err(|_| TelemetryError::Exporter("the HTTP client could not be built (its thread panicked)".into()))?
        .map_err(|error| TelemetryError::Exporter(format!("the HTTP client could not be built: {error}")))?;
        let headers: HashMap<String, String> = config.headers.iter().cloned().collect();
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_http_client(client)
            .with_headers(headers)
            .with_timeout(timeout);
        if let Some(url) = &config.endpoint {
            builder = builder.with_endpoint(url.clone());
        }
        let exporter = builder.build().map_err(|error| TelemetryError::Exporter(error.to_string()))?;
        let name = endpoint(config).unwrap_or_else(|| "http://localhost:4318/v1/traces".to_owned());
        Ok(Box::new(Blocking { exporter, name }))
    }

    /// rustls with ring, the system's CA certificates and those of the certificate file.
    fn tls_config(config: &OtlpConfig) -> Result<rustls::ClientConfig, TelemetryError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(pem) = certificate_pem(config)? {
            let path = config.certificate.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            let mut added = 0;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|error| invalid(vars::CERTIFICATE, &path, format!("a PEM file ({error})")))?;
                roots
                    .add(cert)
                    .map_err(|error| invalid(vars::CERTIFICATE, &path, format!("CA certificates ({error})")))?;
                added += 1;
            }
            if added == 0 {
                return Err(invalid(vars::CERTIFICATE, &path, "a PEM file holding at least one certificate"));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| TelemetryError::Exporter(format!("TLS: {error}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tls)
    }
}

#[cfg(feature = "otlp-grpc")]
mod grpc {
    use std::time::Duration;

    use opentelemetry_otlp::{WithExportConfig as _, WithTonicConfig as _};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
    use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
    use tonic::transport::{Certificate, ClientTlsConfig};

    use super::super::exporter::{BoxedExporter, DynExporter};
    use super::{OtlpConfig, TelemetryError, certificate_pem, endpoint, invalid, vars};

    /// The tonic exporter with the runtime its channel runs on (one worker thread of its own,
    /// so that it works in a service with or without Tokio).
    struct OnRuntime {
        exporter: opentelemetry_otlp::SpanExporter,
        runtime: tokio::runtime::Runtime,
        name: String,
    }

    impl DynExporter for OnRuntime {
        fn export(&mut self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.runtime.block_on(self.exporter.export(batch))
        }
        fn shutdown(&mut self, timeout: Duration) {
            let _enter = self.runtime.enter();
            let _ = self.exporter.shutdown_with_timeout(timeout);
        }
        fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
            self.exporter.set_resource(resource);
        }
        fn describe(&self) -> String {
            self.name.clone()
        }
    }

    pub(super) fn build(config: &OtlpConfig) -> Result<BoxedExporter, TelemetryError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("audit-otlp-grpc")
            .enable_all()
            .build()
            .map_err(TelemetryError::Thread)?;
        let mut metadata = MetadataMap::new();
        for (name, value) in &config.headers {
            let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| invalid(vars::HEADERS, name, "header names of letters, digits and -"))?;
            let value = MetadataValue::try_from(value.as_str())
                .map_err(|_| invalid(vars::HEADERS, &format!("the value of {name}"), "visible ASCII"))?;
            metadata.insert(key, value);
        }
        let url = endpoint(config);
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_protocol(opentelemetry_otlp::Protocol::Grpc)
            .with_metadata(metadata)
            .with_timeout(config.timeout);
        if let Some(url) = &config.endpoint {
            builder = builder.with_endpoint(url.clone());
        }
        if url.as_deref().is_some_and(|url| url.starts_with("https://")) {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(pem) = certificate_pem(config)? {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            builder = builder.with_tls_config(tls);
        }
        // The channel is made inside the runtime: tonic spawns its connection task there.
        let exporter = {
            let _enter = runtime.enter();
            builder.build().map_err(|error| TelemetryError::Exporter(error.to_string()))?
        };
        let name = url.unwrap_or_else(|| "http://localhost:4317".to_owned());
        Ok(Box::new(OnRuntime { exporter, runtime, name }))
    }
}
