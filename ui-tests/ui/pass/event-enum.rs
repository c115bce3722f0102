//! An enum declares one event per variant: unit and braced variants, per-variant names and
//! levels, dotted names, enum-wide level and group.
#![deny(warnings)]

use audit_runtime::event::Event;
use audit_runtime::log_event;
use audit_runtime::logging::Level;

/// Events of the token configuration step.
#[log_event(group = "Setup configuration", level = "debug")]
pub enum TokenSetup<'a> {
    /// While running the token configuration step, it was detected that neither permissions
    /// nor `is_superuser` was set for the token.
    #[event(level = "warning")]
    NoPermissionsDefined {
        /// The token.
        token_identifier: &'a str,
    },
    /// The config file did not define any tokens.
    NoTokensDefined,
    /// Configuring a token failed.
    #[event(name = "setup.token_configuration_failure", level = "error")]
    TokenConfigurationFailure {
        /// The token.
        token_identifier: &'a str,
        /// What went wrong.
        error_chain: String,
    },
    /// The token store is unusable.
    #[event(level = "critical", group = "Storage")]
    StoreUnusable {
        /// Redacted in an enum.
        #[event(redact)]
        dsn: String,
    },
    /// Empty braces are fine too.
    Nothing {},
}

fn main() {
    let events = [
        TokenSetup::NoPermissionsDefined { token_identifier: "t" },
        TokenSetup::NoTokensDefined,
        TokenSetup::TokenConfigurationFailure { token_identifier: "t", error_chain: "e".into() },
        TokenSetup::StoreUnusable { dsn: "postgres://u:p@h/db".into() },
        TokenSetup::Nothing {},
    ];
    for event in &events {
        event.emit();
    }
    let levels: Vec<(&str, Level, &str)> =
        events.iter().map(|e| (e.schema().name, e.schema().level, e.schema().group)).collect();
    assert_eq!(
        levels,
        [
            ("no_permissions_defined", Level::Warning, "Setup configuration"),
            ("no_tokens_defined", Level::Debug, "Setup configuration"),
            ("setup.token_configuration_failure", Level::Error, "Setup configuration"),
            ("store_unusable", Level::Critical, "Storage"),
            ("nothing", Level::Debug, "Setup configuration"),
        ]
    );
}
