// `repr` as a path, as a serde-style string, and the type's Display.
use audit_runtime::Audited;
use serde::Serialize;

fn bed_label(bed: &Bed) -> String {
    format!("bed {}", bed.id)
}

#[derive(Audited, Serialize)]
#[audited(repr = bed_label)]
struct Bed {
    id: u32,
}

#[derive(Audited, Serialize)]
#[audited(repr = "Room::label", object_type = "room")]
struct Room {
    id: u32,
}

impl Room {
    fn label(&self) -> String {
        format!("room {}", self.id)
    }
}

#[derive(Audited, Serialize)]
struct Ward {
    id: u32,
}

impl std::fmt::Display for Ward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ward #{}", self.id)
    }
}

#[derive(Audited, Serialize)]
struct Plain {
    id: u32,
}

fn main() {
    assert_eq!(Bed { id: 1 }.object_repr(), "bed 1");
    assert_eq!(Room { id: 2 }.object_repr(), "room 2");
    assert_eq!(Ward { id: 3 }.object_repr(), "ward #3");
    assert_eq!(Plain { id: 4 }.object_repr(), "plain 4");
}
