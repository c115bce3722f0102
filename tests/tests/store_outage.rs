//! The database goes away mid-run: a TCP proxy between the auditor and PostgreSQL is stopped and
//! started again. Nothing is lost, the order is kept, the chain stays valid, and callers never
//! wait on the outage. Also a restart of the process with a non-empty spool.

mod db;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_runtime::store::{AuditStore, Auditor, EntryQuery};
use audit_runtime::{Action, Actor};
use db::{Observation, TestDb};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy on 127.0.0.1 that can be cut (every connection dropped, the port closed) and
/// restored on the same port.
struct Proxy {
    address: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy { address: listener.local_addr().unwrap(), upstream, tasks: Arc::default() };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream;
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                let connection = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(connection);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Cuts every connection and closes the port.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    async fn restore(&self) {
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

    /// `postgres://.../db` with the host and port replaced by the proxy's.
    fn url_for(&self, db: &TestDb) -> String {
        let (scheme_user, rest) = db.url.split_once('@').unwrap();
        let path = &rest[rest.find('/').unwrap()..];
        format!("{scheme_user}@{}{path}", self.address)
    }
}

async fn postgres_behind_proxy(test: &str) -> Option<(TestDb, Proxy)> {
    let db = db::postgres(test).await?;
    let upstream: SocketAddr = {
        let base = db::postgres_base_url();
        let host_port = base.rsplit_once('@').map_or(base.as_str(), |(_, h)| h).split('/').next().unwrap().to_owned();
        let host_port = if host_port.contains(':') { host_port } else { format!("{host_port}:5432") };
        tokio::net::lookup_host(host_port).await.unwrap().find(SocketAddr::is_ipv4).unwrap()
    };
    let proxy = Proxy::start(upstream).await;
    Some((db, proxy))
}

async fn log_range(auditor: &Auditor, range: std::ops::Range<i64>) -> Duration {
    let mut slowest = Duration::ZERO;
    for id in range {
        let started = Instant::now();
        auditor.log_action(&Actor::user(7), Action::Change, &Observation::new(id, 0.0), format!("entry {id}"));
        slowest = slowest.max(started.elapsed());
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_the_database_goes_away_mid_run() {
    let Some((db, proxy)) = postgres_behind_proxy("outage").await else { return };
    let store = AuditStore::connect(&proxy.url_for(&db)).await.unwrap();
    let spool = tempfile::tempdir().unwrap();
    let auditor = Auditor::builder(store).spool_path(spool.path().join("audit.spool")).build().unwrap();

    log_range(&auditor, 0..100).await;
    auditor.flush().await.unwrap();
    assert_eq!(auditor.stats().written, 100);

    proxy.cut();
    let slowest = log_range(&auditor, 100..250).await;
    assert!(slowest < Duration::from_millis(100), "a caller waited {slowest:?} during the outage");
    auditor.flush().await.expect("flush succeeds: the records are durable in the spool");
    let stats = auditor.stats();
    assert_eq!(stats.spooled, 150, "{stats:?}");
    assert!(stats.write_errors >= 1);
    assert!(stats.last_error.is_some());

    proxy.restore().await;
    log_range(&auditor, 250..300).await;
    // The writer retries on its own; a flush also retries at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        auditor.flush().await.unwrap();
        if auditor.stats().spooled == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the spool was not drained: {:?}", auditor.stats());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Read back directly, not through the proxy.
    let direct = AuditStore::connect(&db.url).await.unwrap();
    let entries = direct.entries(&EntryQuery::new()).await.unwrap();
    let messages: Vec<String> = entries.iter().rev().map(|s| s.entry.message.clone()).collect();
    let expected: Vec<String> = (0..300).map(|id| format!("entry {id}")).collect();
    assert_eq!(messages, expected, "every entry, in order");
    assert!(direct.verify().await.unwrap().is_intact());
    assert!(std::fs::metadata(spool.path().join("audit.spool")).unwrap().len() == 0);
    drop(auditor);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_writes_what_the_spool_holds() {
    let Some((db, proxy)) = postgres_behind_proxy("restart").await else { return };
    let store = AuditStore::connect(&proxy.url_for(&db)).await.unwrap();
    let spool_dir = tempfile::tempdir().unwrap();
    let spool = spool_dir.path().join("audit.spool");

    proxy.cut();
    let auditor = Auditor::builder(store.clone()).spool_path(&spool).build().unwrap();
    log_range(&auditor, 0..50).await;
    auditor.shutdown().await.unwrap();
    // Each spooled record is a frame that starts with the spool format's marker.
    let spooled = std::fs::read(&spool).unwrap();
    let frames = spooled.windows(4).filter(|window| *window == b"\xA7AR1").count();
    assert_eq!(frames, 50, "the process ends with its records in the spool");

    // "Restart": the database is back and a new auditor opens the same spool.
    proxy.restore().await;
    let auditor = Auditor::builder(store).spool_path(&spool).build().unwrap();
    assert_eq!(auditor.stats().spooled, 50);
    log_range(&auditor, 50..60).await;
    auditor.flush().await.unwrap();
    assert_eq!(auditor.stats().spooled, 0);

    let direct = AuditStore::connect(&db.url).await.unwrap();
    let entries = direct.entries(&EntryQuery::new()).await.unwrap();
    let messages: Vec<String> = entries.iter().rev().map(|s| s.entry.message.clone()).collect();
    assert_eq!(messages, (0..60).map(|id| format!("entry {id}")).collect::<Vec<_>>());
    assert!(direct.verify().await.unwrap().is_intact());
    drop(auditor);
    db.cleanup().await;
}
