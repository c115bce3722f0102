//! A `main` written the way the Rust book writes it, returning `Result<(), Box<dyn Error>>`:
//! the logging tests check what it prints when the configuration is wrong.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let _guard = audit_runtime::logging::init_from_env()?;
    tracing::info!("probe_started");
    Ok(())
}
