//! A TCP proxy on 127.0.0.1 between the auditor and PostgreSQL that injects the network's
//! faults: it cuts every connection, stalls (holds every byte in both directions while the
//! connections stay open, and delivers them when un-stalled), and drops the reply to a
//! `COMMIT` after the server has it.
//!
//! The `COMMIT` faults read the PostgreSQL wire protocol, so connections through the proxy
//! must not use TLS: [`Proxy::plain_url_for`] adds `sslmode=disable`.
#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::db::TestDb;

/// The simple-query message `COMMIT` (`Q`, length 11, the text and its NUL): how the writer
/// commits (`sqlx::raw_sql("COMMIT")`).
const COMMIT_QUERY: &[u8] = b"Q\0\0\0\x0bCOMMIT\0";
/// The server's `CommandComplete` for a `COMMIT` that committed (a failed transaction's
/// `COMMIT` completes as `ROLLBACK`).
const COMMIT_COMPLETE: &[u8] = b"C\0\0\0\x0bCOMMIT\0";

/// The faults armed, and what the proxy saw of them.
struct Faults {
    stalled: watch::Sender<bool>,
    stall_at_commit: AtomicBool,
    drop_commit_reply: AtomicBool,
    commits_held: AtomicU64,
    held_commits_completed: AtomicU64,
    replies_dropped: AtomicU64,
}

/// One proxied connection's state.
#[derive(Default)]
struct Connection {
    /// Its `COMMIT` started a stall.
    held_commit: AtomicBool,
    /// Its `COMMIT` went to the server; whatever the server says now is thrown away.
    discard_replies: AtomicBool,
}

/// The proxy: listens on `address`, forwards to `upstream`.
pub struct Proxy {
    pub address: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    faults: Arc<Faults>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let faults = Faults {
            stalled: watch::channel(false).0,
            stall_at_commit: AtomicBool::new(false),
            drop_commit_reply: AtomicBool::new(false),
            commits_held: AtomicU64::new(0),
            held_commits_completed: AtomicU64::new(0),
            replies_dropped: AtomicU64::new(0),
        };
        let proxy = Proxy {
            address: listener.local_addr().unwrap(),
            upstream,
            tasks: Arc::default(),
            faults: Arc::new(faults),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream;
        let tasks = self.tasks.clone();
        let faults = self.faults.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let faults = faults.clone();
                let connection = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let state = Arc::new(Connection::default());
                    tokio::join!(
                        client_to_server(client_read, server_write, faults.clone(), state.clone()),
                        server_to_client(server_read, client_write, faults, state),
                    );
                });
                tasks.lock().unwrap().push(connection);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Cuts every connection and closes the port: connecting is refused.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        let mut attempts = 0;
        while let Err(error) = socket.bind(self.address) {
            attempts += 1;
            assert!(attempts < 50, "cannot bind {} again: {error}", self.address);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.serve(socket.listen(64).unwrap());
    }

    /// Stops forwarding in both directions; connections stay open and new ones are accepted.
    pub fn stall(&self) {
        self.faults.stalled.send_replace(true);
    }

    /// Forwards again, starting with everything held meanwhile.
    pub fn unstall(&self) {
        self.faults.stalled.send_replace(false);
    }

    /// The next `COMMIT` a client sends is held, and everything stalls with it: the client
    /// never learns whether it committed; the server gets it when un-stalled.
    pub fn stall_at_next_commit(&self) {
        self.faults.stall_at_commit.store(true, Ordering::SeqCst);
    }

    /// `COMMIT`s that started a stall.
    pub fn commits_held(&self) -> u64 {
        self.faults.commits_held.load(Ordering::SeqCst)
    }

    /// Held `COMMIT`s the server later completed as `COMMIT` (the transaction did commit).
    pub fn held_commits_completed(&self) -> u64 {
        self.faults.held_commits_completed.load(Ordering::SeqCst)
    }

    /// The next `COMMIT` goes to the server, but its reply is thrown away and the client's side
    /// of the connection closed: the server commits, the client sees an error.
    pub fn drop_next_commit_reply(&self) {
        self.faults.drop_commit_reply.store(true, Ordering::SeqCst);
    }

    /// Replies thrown away that said the transaction committed.
    pub fn replies_dropped(&self) -> u64 {
        self.faults.replies_dropped.load(Ordering::SeqCst)
    }

    /// `postgres://.../db` with the host and port replaced by the proxy's.
    pub fn url_for(&self, db: &TestDb) -> String {
        let (scheme_user, rest) = db.url.split_once('@').unwrap();
        let path = &rest[rest.find('/').unwrap()..];
        format!("{scheme_user}@{}{path}", self.address)
    }

    /// [`url_for`](Self::url_for) without TLS, so the proxy can read the protocol.
    pub fn plain_url_for(&self, db: &TestDb) -> String {
        let url = self.url_for(db);
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}sslmode=disable")
    }
}

/// A fresh database and a proxy to the PostgreSQL server it lives on.
pub async fn postgres_behind_proxy(test: &str) -> Option<(TestDb, Proxy)> {
    let db = crate::db::postgres(test).await?;
    let proxy = Proxy::start(postgres_address().await).await;
    Some((db, proxy))
}

/// The PostgreSQL server the tests use, as a socket address.
pub async fn postgres_address() -> SocketAddr {
    let base = crate::db::postgres_base_url();
    let after_at = base.rsplit_once('@').map_or(base.as_str(), |(_, h)| h);
    let host_port = after_at.trim_start_matches("postgres://").split(['/', '?']).next().unwrap().to_owned();
    let host_port = if host_port.contains(':') { host_port } else { format!("{host_port}:5432") };
    tokio::net::lookup_host(host_port).await.unwrap().find(SocketAddr::is_ipv4).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn wait_while_stalled(stalled: &mut watch::Receiver<bool>) {
    let _ = stalled.wait_for(|stalled| !*stalled).await;
}

async fn client_to_server(
    mut client: OwnedReadHalf,
    mut server: OwnedWriteHalf,
    faults: Arc<Faults>,
    connection: Arc<Connection>,
) {
    let mut stalled = faults.stalled.subscribe();
    let mut buffer = vec![0u8; 64 * 1024];
    // The end of the previous read, so that a message split across two reads is still seen.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let read = match client.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let chunk = &buffer[..read];
        tail.extend_from_slice(chunk);
        if contains(&tail, COMMIT_QUERY) {
            if faults.stall_at_commit.swap(false, Ordering::SeqCst) {
                connection.held_commit.store(true, Ordering::SeqCst);
                faults.commits_held.fetch_add(1, Ordering::SeqCst);
                faults.stalled.send_replace(true);
            } else if faults.drop_commit_reply.swap(false, Ordering::SeqCst) {
                // Set before the COMMIT leaves: every byte the server sends from now on is its
                // reply (a client sends nothing more until it has that reply).
                connection.discard_replies.store(true, Ordering::SeqCst);
            }
        }
        tail.drain(..tail.len().saturating_sub(COMMIT_QUERY.len() - 1));
        wait_while_stalled(&mut stalled).await;
        if server.write_all(chunk).await.is_err() {
            break;
        }
    }
    let _ = server.shutdown().await;
}

async fn server_to_client(
    mut server: OwnedReadHalf,
    mut client: OwnedWriteHalf,
    faults: Arc<Faults>,
    connection: Arc<Connection>,
) {
    let mut stalled = faults.stalled.subscribe();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut client_open = true;
    // Reads until the server closes, even after the client is gone: closing a socket with
    // unread data resets it, and the server must be left to finish what it was sent.
    loop {
        let read = match server.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let chunk = &buffer[..read];
        wait_while_stalled(&mut stalled).await;
        if connection.held_commit.load(Ordering::SeqCst) && contains(chunk, COMMIT_COMPLETE) {
            faults.held_commits_completed.fetch_add(1, Ordering::SeqCst);
        }
        if connection.discard_replies.load(Ordering::SeqCst) {
            if client_open {
                let _ = client.shutdown().await;
                client_open = false;
            }
            if contains(chunk, COMMIT_COMPLETE) {
                faults.replies_dropped.fetch_add(1, Ordering::SeqCst);
            }
            continue;
        }
        if client_open && client.write_all(chunk).await.is_err() {
            client_open = false;
        }
    }
    if client_open {
        let _ = client.shutdown().await;
    }
}
