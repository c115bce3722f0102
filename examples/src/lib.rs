//! Runnable examples live in `examples/`; the modules here hold the events they emit, ported
//! from the Open Object docs. Their catalog, with the toolkit's own events (requests, API
//! errors, audit entries, reports), is `docs/events.md`; `events.schema.json` is the committed
//! JSON Schema that a test keeps compatible (see `audit_runtime::catalog::assert_compatible`).

pub mod objects;
pub mod objecttypes;
