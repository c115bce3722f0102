//! The "Objects" events of the Open Object API, one struct per event.

use audit_runtime::log_event;
use uuid::Uuid;

/// Created an `Object` via the API.
#[log_event(name = "object_created", level = "info", group = "Objects")]
pub struct ObjectCreated<'a> {
    /// UUID of the created object.
    pub object_uuid: Uuid,
    /// UUID of the object's type.
    pub objecttype_uuid: Uuid,
    /// Version of the object type the object follows.
    pub objecttype_version: u32,
    /// Identifier of the API token used.
    pub token_identifier: &'a str,
    /// Application the API token belongs to.
    pub token_application: &'a str,
}

/// Updated an `Object` via the API.
#[log_event(group = "Objects")]
pub struct ObjectUpdated<'a> {
    /// UUID of the updated object.
    pub object_uuid: Uuid,
    /// UUID of the object's type.
    pub objecttype_uuid: Uuid,
    /// Version of the object type the object follows.
    pub objecttype_version: u32,
    /// Identifier of the API token used.
    pub token_identifier: &'a str,
    /// Application the API token belongs to.
    pub token_application: &'a str,
}

// Also listed under "Objecttypes" (`ObjecttypeEvent::DeprecatedEndpointCalled`), as in the
// Open Object docs: one event, declared alike in both places, which `catalog::validate` allows.
/// A deprecated endpoint was called.
#[log_event(level = "warning", group = "Objects")]
pub struct DeprecatedEndpointCalled<'a> {
    /// Path of the endpoint.
    pub endpoint: &'a str,
}
