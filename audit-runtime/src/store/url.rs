//! Database URLs: which backend, checked before anything connects, and shown without passwords.

use std::path::PathBuf;

use super::StoreError;

/// What a URL may look like, for error messages.
const ACCEPTED: &str =
    "sqlite://path/to/audit.db, sqlite:///absolute/path.db or postgres://user:password@host:5432/database";

/// The backend a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A checked database URL.
#[derive(Clone)]
pub(crate) struct DatabaseUrl {
    pub(crate) backend: Backend,
    /// The URL as sqlx takes it (for SQLite: with `mode=rwc` so the file is created).
    pub(crate) connect: String,
    /// The URL with any password replaced, for messages and logs.
    pub(crate) shown: String,
    /// The SQLite file, for the default spool path.
    pub(crate) sqlite_path: Option<PathBuf>,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl DatabaseUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, StoreError> {
        let shown = redact_password(url);
        let invalid = |reason: String| StoreError::InvalidUrl { url: shown.clone(), reason };
        if url.chars().any(char::is_control) {
            return Err(invalid(format!("it contains control characters; expected {ACCEPTED}")));
        }
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(invalid(format!("it has no scheme; expected {ACCEPTED}")));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                let (path, query) = path.split_once('?').unwrap_or((path, ""));
                if path.is_empty() {
                    return Err(invalid(format!("it names no file; expected {ACCEPTED}")));
                }
                if path == ":memory:" || query.contains("mode=memory") {
                    return Err(invalid(
                        "an in-memory SQLite database is private to one connection, and the Auditor's writer \
                         uses its own: name a file (a temporary one in tests)"
                            .to_owned(),
                    ));
                }
                if !cfg!(feature = "sqlite") {
                    return Err(StoreError::BackendNotBuilt { backend: "SQLite", feature: "sqlite" });
                }
                let mut connect = format!("sqlite://{path}");
                let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
                if !params.iter().any(|p| p.starts_with("mode=")) {
                    params.push("mode=rwc");
                }
                connect.push('?');
                connect.push_str(&params.join("&"));
                Ok(DatabaseUrl { backend: Backend::Sqlite, connect, shown, sqlite_path: Some(PathBuf::from(path)) })
            }
            "postgres" | "postgresql" => {
                if !rest.starts_with("//") {
                    return Err(invalid(format!("expected {ACCEPTED}")));
                }
                // The host starts after the last `@`: a password may hold a raw `/`, `?` or `@`.
                let after = &rest[2..];
                let (userinfo, host_and_path) = match after.rfind('@') {
                    Some(at) => (Some(&after[..at]), &after[at + 1..]),
                    None => (None, after),
                };
                let host_port = host_and_path.split(['/', '?']).next().unwrap_or("");
                // The driver logs the value of a parameter it does not know: a secret other than
                // `password` would reach the log. Refused, naming the parameter only.
                let query = host_and_path.split_once('?').map_or("", |(_, q)| q);
                for key in query.split('&').filter_map(|p| p.split('=').next()) {
                    let lower = key.to_ascii_lowercase();
                    if lower.contains("password") && lower != "password" {
                        return Err(invalid(format!(
                            "the parameter {key:?} is not supported (the driver would log its value); \
                             give the database password as `password=` or in `user:password@`, and use an \
                             unencrypted client key with `sslkey=`"
                        )));
                    }
                }
                if let Some((_, port)) = host_port.rsplit_once(':').filter(|_| !host_port.ends_with(']')) {
                    if port.parse::<u16>().is_err() {
                        return Err(invalid(format!("the port {port:?} is not a number from 0 to 65535")));
                    }
                }
                if !cfg!(feature = "postgres") {
                    return Err(StoreError::BackendNotBuilt { backend: "PostgreSQL", feature: "postgres" });
                }
                let connect = match userinfo {
                    Some(userinfo) => format!("{scheme}://{}@{host_and_path}", escape_userinfo(userinfo)),
                    None => url.to_owned(),
                };
                Ok(DatabaseUrl { backend: Backend::Postgres, connect, shown, sqlite_path: None })
            }
            other => Err(invalid(format!("the scheme {other:?} is not supported; expected {ACCEPTED}"))),
        }
    }
}

/// The URL with every password hidden, whatever its form: `user:secret@` (also when the
/// password holds a raw `/`, `?` or `@`, or is percent-escaped) becomes `user:***@`, and a
/// `password=` (or `sslpassword=`) parameter becomes `password=***`.
pub(crate) fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return redact_parameters(url) };
    let authority_start = scheme_end + 3;
    // The userinfo ends at the last `@` before the path, but a password may hold a raw `/` or
    // `?`: take the last `@` of the whole URL when it comes before any `/` that follows it.
    let shown = match url[authority_start..].rfind('@') {
        Some(at) => {
            let userinfo = &url[authority_start..authority_start + at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:***@{}", &url[..authority_start], &url[authority_start + at + 1..])
                }
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    redact_parameters(&shown)
}

/// `?password=secret&x=1` → `?password=***&x=1`.
fn redact_parameters(url: &str) -> String {
    let Some((head, query)) = url.split_once('?') else { return url.to_owned() };
    let parameters: Vec<String> = query
        .split('&')
        .map(|parameter| match parameter.split_once('=') {
            Some((key, _)) if key.to_ascii_lowercase().contains("password") => format!("{key}=***"),
            _ => parameter.to_owned(),
        })
        .collect();
    format!("{head}?{}", parameters.join("&"))
}

/// Percent-escapes the characters that would end the userinfo early (`/ ? # @`), so that a
/// password written raw reaches the driver whole; `%` escapes already there are kept.
fn escape_userinfo(userinfo: &str) -> String {
    let mut out = String::with_capacity(userinfo.len());
    for c in userinfo.chars() {
        match c {
            '/' => out.push_str("%2F"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            '@' => out.push_str("%40"),
            c => out.push(c),
        }
    }
    out
}

impl DatabaseUrl {
    /// A connection error, shown with the URL whose password is hidden.
    pub(crate) fn connect_error(&self, source: sqlx::Error) -> StoreError {
        StoreError::Connect { url: self.shown.clone(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact_password("postgres://app:s3cret@db:5432/audit"), "postgres://app:***@db:5432/audit");
        assert_eq!(redact_password("postgres://app@db/audit"), "postgres://app@db/audit");
        assert_eq!(redact_password("sqlite://audit.db"), "sqlite://audit.db");
        for (url, shown) in [
            ("postgres://app@db/audit?password=s3cret", "postgres://app@db/audit?password=***"),
            (
                "postgres://db/audit?user=app&password=s3cret&sslmode=require",
                "postgres://db/audit?user=app&password=***&sslmode=require",
            ),
            ("postgres://app:s3%40cret@db/audit", "postgres://app:***@db/audit"),
            ("postgres://app:s3/cr?et@db/audit", "postgres://app:***@db/audit"),
            ("postgres://app:s3@cret@db/audit", "postgres://app:***@db/audit"),
        ] {
            assert_eq!(redact_password(url), shown, "{url}");
        }
    }

    #[test]
    fn sqlite_urls_create_the_file() {
        let url = DatabaseUrl::parse("sqlite://audit.db").unwrap();
        assert_eq!(url.connect, "sqlite://audit.db?mode=rwc");
        assert_eq!(url.sqlite_path, Some(PathBuf::from("audit.db")));
        let url = DatabaseUrl::parse("sqlite:///tmp/a.db?mode=ro").unwrap();
        assert_eq!(url.connect, "sqlite:///tmp/a.db?mode=ro");
    }

    #[test]
    fn bad_urls_say_what_is_accepted() {
        for (url, says) in [
            ("audit.db", "has no scheme"),
            ("mysql://root@localhost/db", "scheme \"mysql\" is not supported"),
            ("sqlite://", "names no file"),
            ("sqlite::memory:", "in-memory"),
            ("postgres://u:pw@host:54x2/db", "port \"54x2\""),
            ("postgres:db", "expected"),
            ("sqlite://a\u{0}.db", "control characters"),
            ("postgres://u@host/db?sslpassword=pw", "\"sslpassword\" is not supported"),
        ] {
            let error = DatabaseUrl::parse(url).err().unwrap_or_else(|| panic!("{url} accepted"));
            let message = error.to_string();
            assert!(message.contains(says), "{url}: {message}");
            assert!(!message.contains("pw@"), "{message}");
        }
    }
}
