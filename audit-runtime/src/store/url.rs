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
                let authority = rest[2..].split(['/', '?']).next().unwrap_or("");
                let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                if let Some((_, port)) = host_port.rsplit_once(':').filter(|_| !host_port.ends_with(']')) {
                    if port.parse::<u16>().is_err() {
                        return Err(invalid(format!("the port {port:?} is not a number from 0 to 65535")));
                    }
                }
                if !cfg!(feature = "postgres") {
                    return Err(StoreError::BackendNotBuilt { backend: "PostgreSQL", feature: "postgres" });
                }
                Ok(DatabaseUrl { backend: Backend::Postgres, connect: url.to_owned(), shown, sqlite_path: None })
            }
            other => Err(invalid(format!("the scheme {other:?} is not supported; expected {ACCEPTED}"))),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub(crate) fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..].find(['/', '?']).map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***@{}", &url[..authority_start], user, &url[authority_start + userinfo.len() + 1..])
        }
        _ => url.to_owned(),
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
        ] {
            let error = DatabaseUrl::parse(url).err().unwrap_or_else(|| panic!("{url} accepted"));
            let message = error.to_string();
            assert!(message.contains(says), "{url}: {message}");
            assert!(!message.contains("pw@"), "{message}");
        }
    }
}
