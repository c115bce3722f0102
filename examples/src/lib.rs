//! Runnable examples live in `examples/`; the modules here hold the events they emit, ported
//! from the Open Object docs. Their catalog is `docs/events.md`.

pub mod exceptions;
pub mod objects;
pub mod objecttypes;
