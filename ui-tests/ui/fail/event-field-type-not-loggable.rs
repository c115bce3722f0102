use audit_runtime::log_event;

pub struct Connection {
    pub peer: String,
}

/// A connection was opened.
#[log_event]
pub struct ConnectionOpened {
    pub peer: String,
    pub connection: Connection,
}

fn main() {
    ConnectionOpened { peer: String::new(), connection: Connection { peer: String::new() } }.emit();
}
