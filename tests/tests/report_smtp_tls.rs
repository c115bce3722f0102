//! Error mail through a server that demands TLS and authentication, as Office 365, Gmail or SES
//! do: STARTTLS on the submission port, or implicit TLS (`smtps://`), then `AUTH PLAIN`. The
//! server is a real listener on a loopback socket with a certificate made for this test, which
//! the process trusts through `SSL_CERT_FILE` (the standard variable for the CA store).

mod smtp;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use audit_runtime::report::{Address, ConfigurationError, ReportConfig, Reporter, SmtpUrl};
use smtp::{Security, SmtpServer};

#[derive(audit_runtime::Audited, serde::Serialize)]
#[audited(object_type = "ward")]
struct Ward {
    id: i64,
}

/// The servers' TLS configuration, with one certificate for this test binary, trusted through
/// `SSL_CERT_FILE` (set before any mail is sent).
fn tls() -> Arc<rustls::ServerConfig> {
    static TLS: OnceLock<(Arc<rustls::ServerConfig>, tempfile::TempDir)> = OnceLock::new();
    let (config, _dir) = TLS.get_or_init(|| {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, certified.cert.pem()).unwrap();
        // SAFETY: set once, under the `OnceLock`, before any mail of this binary is sent.
        unsafe { std::env::set_var("SSL_CERT_FILE", &ca) };
        (Arc::new(config), dir)
    });
    config.clone()
}

fn server(implicit: bool) -> SmtpServer {
    SmtpServer::start_secure(Security {
        tls: tls(),
        implicit,
        user: "alerts@example.org".to_owned(),
        password: "p@ss word".to_owned(),
    })
}

/// Mails one configuration error through `url` and waits for the reporter.
fn mail_through(url: &str) -> Reporter {
    let smtp = SmtpUrl::parse("SMTP_URL", url).unwrap();
    let config = ReportConfig::new(Some(smtp))
        .config_error_email(Address::parse("CONFIG_ERROR_REPORT_EMAIL", "ops@example.org").unwrap())
        .from_address(Address::parse("EMAIL_FROM", "alerts@example.org").unwrap());
    let reporter = Reporter::new(config);
    reporter
        .mail_config_error(&ConfigurationError::new("ward_id is missing\r\nBcc: thief@evil.example", &Ward { id: 3 }));
    reporter.flush();
    reporter
}

fn wait_for_mail(server: &SmtpServer) -> Vec<smtp::Received> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.messages().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.messages()
}

#[test]
fn starttls_then_auth_delivers_the_mail_encrypted() {
    let server = server(false);
    let url = format!("smtp://alerts%40example.org:p%40ss%20word@localhost:{}?tls=required", server.port);
    let reporter = mail_through(&url);
    assert_eq!(reporter.stats().mailed, 1, "{:?}", server.refusals.lock().unwrap());
    let mails = wait_for_mail(&server);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].over_tls, "the message crossed the network encrypted");
    assert_eq!(mails[0].user.as_deref(), Some("alerts@example.org"));
    assert_eq!(mails[0].rcpt_to, ["<ops@example.org>"]);
    // The hostile text stays in the subject line and the body, never a header of its own.
    assert!(mails[0].header("Bcc").is_none());
    assert!(mails[0].body().contains("Bcc: thief@evil.example"));
}

#[test]
fn implicit_tls_then_auth_delivers_the_mail() {
    let server = server(true);
    let reporter = mail_through(&format!("smtps://alerts%40example.org:p%40ss%20word@localhost:{}", server.port));
    assert_eq!(reporter.stats().mailed, 1, "{:?}", server.refusals.lock().unwrap());
    let mails = wait_for_mail(&server);
    assert!(mails[0].over_tls);
    assert_eq!(mails[0].user.as_deref(), Some("alerts@example.org"));
}

#[test]
fn a_wrong_password_is_a_counted_failure_and_nothing_is_delivered() {
    let server = server(false);
    let reporter = mail_through(&format!("smtp://alerts%40example.org:wrong@localhost:{}?tls=required", server.port));
    assert_eq!(reporter.stats().failed, 1);
    assert_eq!(reporter.stats().mailed, 0);
    assert!(server.messages().is_empty());
    assert_eq!(*server.refusals.lock().unwrap(), ["wrong credentials"]);
}

#[test]
fn without_tls_the_server_that_demands_it_gets_nothing() {
    // A plain `smtp://` URL: the client never starts TLS, so no credentials or text cross in
    // clear and the server refuses the mail.
    let server = server(false);
    let reporter = mail_through(&format!("smtp://localhost:{}", server.port));
    assert_eq!(reporter.stats().failed, 1);
    assert!(server.messages().is_empty());
    assert_eq!(*server.refusals.lock().unwrap(), ["MAIL before TLS"]);
}
