//! The "Objecttypes" events of the Open Object API, one enum with a variant per event.

use audit_runtime::log_event;
use uuid::Uuid;

/// Events of the Objecttypes API.
#[log_event(group = "Objecttypes")]
pub enum ObjecttypeEvent<'a> {
    /// Created an `Objecttype` via the API.
    ObjecttypeCreated {
        /// UUID of the object type.
        uuid: Uuid,
        /// Name of the object type.
        naam: &'a str,
        /// Identifier of the API token used.
        token_identifier: &'a str,
        /// Application the API token belongs to.
        token_application: &'a str,
    },
    /// Updated an `Objecttype` via the API.
    ObjecttypeUpdated {
        /// UUID of the object type.
        uuid: Uuid,
        /// Name of the object type.
        naam: &'a str,
        /// Identifier of the API token used.
        token_identifier: &'a str,
        /// Application the API token belongs to.
        token_application: &'a str,
    },
    /// Deleted an `Objecttype` via the API.
    ObjecttypeDeleted {
        /// UUID of the object type.
        uuid: Uuid,
        /// Name of the object type.
        naam: &'a str,
        /// Identifier of the API token used.
        token_identifier: &'a str,
        /// Application the API token belongs to.
        token_application: &'a str,
    },
    /// Created an `Object_version` via the API.
    ObjectVersionCreated {
        /// Number of the object type version.
        version: u32,
        /// UUID of the object type.
        objecttype_uuid: Uuid,
        /// Identifier of the API token used.
        token_identifier: &'a str,
        /// Application the API token belongs to.
        token_application: &'a str,
    },
    /// Updated an `Object_version` via the API.
    ObjectVersionUpdated {
        /// Number of the object type version.
        version: u32,
        /// UUID of the object type.
        objecttype_uuid: Uuid,
        /// Identifier of the API token used.
        token_identifier: &'a str,
        /// Application the API token belongs to.
        token_application: &'a str,
    },
    /// Deleted an `Object_version` via the API.
    ObjectVersionDeleted {
        /// Number of the object type version.
        version: u32,
        /// UUID of the object type.
        objecttype_uuid: Uuid,
        /// Identifier of the API token used.
        token_identifier: &'a str,
        /// Application the API token belongs to.
        token_application: &'a str,
    },
    /// A deprecated endpoint was called.
    #[event(level = "warning")]
    DeprecatedEndpointCalled {
        /// Path of the endpoint.
        endpoint: &'a str,
    },
}
