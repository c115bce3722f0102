// Every field option, alone and in one attribute list, and split over several attributes.
use audit_runtime::Audited;
use serde::Serialize;

#[derive(Audited, Clone, Serialize)]
struct Patient {
    #[audited(id)]
    number: u64,
    #[audited(rename = "ssn", redact)]
    social_security_number: String,
    #[audited(skip)]
    cache: std::cell::Cell<u8>,
    #[audited(rename = "display_name")]
    #[audited(redact)]
    name: String,
    r#type: String,
}

fn main() {
    let p = Patient {
        number: 1,
        social_security_number: "x".into(),
        cache: Default::default(),
        name: "n".into(),
        r#type: "t".into(),
    };
    assert_eq!(p.object_id(), "1");
    assert!(p.snapshot().get("type").is_some());
    assert!(p.snapshot().get("ssn").is_none());
}
