//! A PostgreSQL password never shows, whatever the URL's form: not in errors, log lines,
//! stats, the store's URL, the auditor's `Debug`, nor in the names of the files the auditor
//! creates. The local server trusts every connection, so any password connects.
//!
//! Its own test binary: it changes the working directory (where the default spool goes) and
//! installs a global subscriber (the writer logs from its own thread).

mod common;
mod db;
mod proxy;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use audit_runtime::logging::JsonLayer;
use audit_runtime::store::{AuditStore, Auditor};
use audit_runtime::{Action, Actor};
use common::Capture;
use db::Observation;
use proxy::{Proxy, postgres_address};
use tracing_subscriber::prelude::*;

/// A URL form: how the password is written, and every spelling of it that must not show.
struct Form {
    name: &'static str,
    url: fn(host: &str, database: &str) -> String,
    secrets: &'static [&'static str],
}

const FORMS: &[Form] = &[
    Form {
        name: "user:password@",
        url: |host, database| format!("postgres://postgres:Hunter2Secret@{host}/{database}"),
        secrets: &["Hunter2Secret"],
    },
    Form {
        name: "?password=",
        url: |host, database| format!("postgres://postgres@{host}/{database}?password=Param7Secret"),
        secrets: &["Param7Secret"],
    },
    Form {
        name: "percent-escaped",
        url: |host, database| format!("postgres://postgres:Esc9Secret%2Fx%3Fy@{host}/{database}"),
        secrets: &["Esc9Secret", "Esc9Secret/x?y", "Esc9Secret%2Fx%3Fy"],
    },
    Form {
        name: "raw / and ?",
        url: |host, database| format!("postgres://postgres:Se/cr?et@{host}/{database}"),
        secrets: &["Se/cr?et", "Se%2Fcr%3Fet", "cr?et", "cr%3Fet"],
    },
    Form {
        name: "raw @",
        url: |host, database| format!("postgres://postgres:Mail@Secret5@{host}/{database}"),
        secrets: &["Mail@Secret5", "Mail%40Secret5", "Secret5"],
    },
    Form {
        name: "raw #",
        url: |host, database| format!("postgres://postgres:Hash#Secret6@{host}/{database}"),
        secrets: &["Hash#Secret6", "Hash%23Secret6", "Secret6"],
    },
    Form {
        name: "bad escape",
        url: |host, database| format!("postgres://postgres:Bad%zzSecret3@{host}/{database}"),
        secrets: &["Bad%zzSecret3", "Secret3"],
    },
    Form {
        name: "postgresql://",
        url: |host, database| format!("postgresql://postgres:Scheme1Secret@{host}/{database}?application_name=x"),
        secrets: &["Scheme1Secret"],
    },
];

/// A secret parameter the driver does not know (it would log its value): refused at once,
/// naming the parameter and hiding the value.
#[tokio::test]
async fn an_unsupported_secret_parameter_is_refused_without_its_value() {
    let error = AuditStore::connect("postgres://postgres@127.0.0.1:5432/test?sslpassword=Ssl4Secret")
        .await
        .expect_err("sslpassword is not supported");
    let text = error_texts(&error);
    assert!(text.contains("sslpassword") && text.contains("not supported"), "{text}");
    assert!(!text.contains("Ssl4Secret"), "{text}");
}

struct Setup {
    capture: Capture,
    dir: tempfile::TempDir,
}

/// The working directory is a fresh temporary one; log lines of every thread are captured.
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_current_dir(dir.path()).unwrap();
        let capture = Capture::default();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(JsonLayer::new(capture.clone())))
            .unwrap();
        Setup { capture, dir }
    })
}

/// Fails naming the output and the form when any spelling of the password shows in `text`.
fn assert_hidden(form: &Form, what: &str, text: &str) {
    for secret in form.secrets {
        if let Some(line) = text.lines().find(|line| line.contains(secret)) {
            panic!("the {} password ({secret}) shows in {what}: {line}", form.name);
        }
    }
}

fn error_texts(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{error} / {error:?}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(" / {cause} / {cause:?}"));
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_errors_never_show_the_password() {
    setup();
    for form in FORMS {
        let unreachable = (form.url)("127.0.0.1:1", "test");
        let error = AuditStore::connect(&unreachable).await.expect_err("nothing listens on port 1");
        assert!(error.to_string().contains("127.0.0.1:1"), "the error names the server: {error}");
        assert_hidden(form, "a connect error", &error_texts(&error));

        let bad_port = (form.url)("127.0.0.1:54x2", "test");
        let error = AuditStore::connect(&bad_port).await.expect_err("the port is not a number");
        assert!(error.to_string().contains("54x2"), "the error names the bad port: {error}");
        assert_hidden(form, "an invalid URL error", &error_texts(&error));
    }
}

/// Files under `dir`, with their contents.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            let content = std::fs::read(&path).unwrap_or_default();
            found.push((path, content));
        }
    }
    found
}

async fn outage_outputs(form: &Form, proxy: &Proxy, database: &str) -> Vec<(String, String)> {
    let url = (form.url)(&proxy.address.to_string(), database);
    let store = AuditStore::connect(&url).await.unwrap_or_else(|e| panic!("{}: {e}", form.name));
    let mut outputs = vec![
        ("store.url()".to_owned(), store.url().to_owned()),
        ("the store's Debug".to_owned(), format!("{store:?}")),
    ];
    // The default spool path: in the working directory.
    let auditor = Auditor::builder(store.clone()).write_timeout(Duration::from_secs(1)).build().unwrap();
    let observation = Observation::new(1, 0.5);
    auditor.log_action(&Actor::user(7), Action::Change, &observation, "before the outage");
    auditor.flush().await.unwrap();

    proxy.cut();
    auditor.log_action(&Actor::user(7), Action::Change, &observation, "during the outage");
    auditor.flush().await.expect("the record is spooled");
    let stats = auditor.stats();
    assert!(stats.write_errors >= 1 && stats.spooled == 1, "{}: {stats:?}", form.name);
    outputs.push(("stats().last_error".to_owned(), stats.last_error.clone().expect("the failure is kept")));
    outputs.push(("the stats' Debug".to_owned(), format!("{stats:?}")));
    outputs.push(("the auditor's Debug".to_owned(), format!("{auditor:?}")));
    let error = AuditStore::connect(&url).await.expect_err("the proxy is cut");
    outputs.push(("a connect error through the cut proxy".to_owned(), error_texts(&error)));

    proxy.restore().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while auditor.stats().spooled > 0 {
        assert!(Instant::now() < deadline, "{}: the spool was not drained: {:?}", form.name, auditor.stats());
        let _ = auditor.flush().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    outputs.push(("the auditor's Debug after recovery".to_owned(), format!("{auditor:?}")));
    auditor.shutdown().await.unwrap();
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_never_shows_the_password() {
    let setup = setup();
    let Some(db) = db::postgres("secrets").await else { return };
    let database = db.url.rsplit_once('/').unwrap().1.to_owned();
    let address: SocketAddr = postgres_address().await;
    let proxy = Proxy::start(address).await;

    for form in FORMS {
        for (what, text) in outage_outputs(form, &proxy, &database).await {
            assert_hidden(form, &what, &text);
        }
    }

    let logs = setup.capture.text();
    let failures = logs.lines().filter(|line| line.contains("\"audit.write_failed\"")).count();
    assert!(failures >= FORMS.len(), "an audit.write_failed line for each outage:\n{logs}");
    assert!(logs.contains("\"audit.store_recovered\""), "{logs}");
    let spools: Vec<(PathBuf, Vec<u8>)> = files(setup.dir.path());
    let spool_names = spools
        .iter()
        .filter(|(path, _)| path.file_name().unwrap().to_string_lossy().starts_with("audit-spool-"))
        .count();
    // Named by a hash of the URL as shown (password hidden): URLs that differ only in their
    // password share one, as they name one database.
    assert!(spool_names >= 1, "the default spools are in the working directory: {spools:?}");
    for form in FORMS {
        assert_hidden(form, "the log lines", &logs);
        for (path, content) in &spools {
            assert_hidden(form, "a file name", &path.display().to_string());
            assert_hidden(form, &format!("the file {}", path.display()), &String::from_utf8_lossy(content));
        }
    }
    db.cleanup().await;
}
