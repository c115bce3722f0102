//! `OTEL_SDK_DISABLED=true`: `telemetry::init_from_env()` sets up the logs only: no exporter
//! thread, nothing sent. Its own test binary: it installs the global subscriber.

mod otlp_support;

use std::time::Duration;

use audit_runtime::trace_span;
use otlp_support::Receiver;

#[trace_span]
fn work() {
    tracing::info!("work_done");
}

fn exporter_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "audit-otlp-expo")
        .count()
}

#[test]
fn sdk_disabled_exports_nothing_and_starts_no_thread() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("app.log");
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe {
        std::env::set_var("OTEL_SDK_DISABLED", "true");
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint());
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "50");
        std::env::set_var("LOGFILE", &logfile);
        std::env::set_var("LOG_LEVEL", "debug");
        std::env::set_var("CONSOLE_LOG_LEVEL", "critical");
    }
    let guard = audit_runtime::telemetry::init_from_env().unwrap();
    assert_eq!(exporter_threads(), 0, "no exporter thread");
    work();
    assert!(guard.flush(Duration::from_secs(1)));
    std::thread::sleep(Duration::from_millis(200));
    assert!(receiver.requests().is_empty(), "nothing was sent");
    assert_eq!(guard.exported_spans(), 0);
    drop(guard);

    let text = std::fs::read_to_string(&logfile).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l["event"] == "otlp_export_disabled"), "a debug line says so: {text}");
    let done = lines.iter().find(|l| l["event"] == "work_done").expect("the logs still work");
    assert!(done.get("trace_id").is_none(), "no exporter, no trace ids");
}
