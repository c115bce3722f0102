use audit_runtime::{Audited, trace_span};

/// An audited value without `Debug`: `ret` records its snapshot, which leaves redacted fields out.
#[derive(Audited, Clone, serde::Serialize)]
pub struct Patient {
    pub id: i64,
    #[audited(redact)]
    pub ssn: String,
}

#[trace_span(ret)]
fn admit() -> Patient {
    Patient { id: 1, ssn: "123-45-6789".into() }
}

#[trace_span(ret)]
fn find() -> Option<Patient> {
    None
}

#[trace_span(ret)]
fn all() -> Vec<Patient> {
    Vec::new()
}

#[trace_span(err, ret)]
fn load() -> Result<Patient, std::io::Error> {
    Ok(admit())
}

fn main() {
    let _ = (admit(), find(), all(), load());
}
