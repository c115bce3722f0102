//! Signed checkpoints of the chain, written to a witness outside the database (feature
//! `witness`).
//!
//! Someone who can write the database can rewrite the whole chain, hashes included, and
//! `verify()` cannot tell. A [`SignedCheckpoint`] (the chain's newest position, its hash and the
//! time, signed with an Ed25519 key the database never sees) kept where that person cannot
//! write (a [`DirectoryWitness`] on another machine or mount, or any [`Witness`] the application
//! gives) makes that visible: [`verify_with_witness`] checks the store against the newest one.
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use audit_runtime::store::witness::{CheckpointSchedule, DirectoryWitness, SecretKey};
//! use audit_runtime::store::{AuditStore, Auditor};
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let store = AuditStore::connect("sqlite://audit.db").await?;
//! let key = SecretKey::read("/etc/app/audit-signing.key")?; // made by `audit keygen`
//! let witness = DirectoryWitness::new("/mnt/witness/app")?;
//! let schedule = CheckpointSchedule::entries(10_000).with_interval(std::time::Duration::from_secs(60));
//! let auditor = Auditor::builder(store).witness(key, witness, schedule).build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # Ok(()) }
//! ```
//!
//! Key files are text: a first line naming the kind of key, then 64 hex digits (the 32-byte
//! Ed25519 secret seed, or the 32-byte public key); blank lines and lines starting with `#`
//! are ignored.
//!
//! ```text
//! audit-runtime ed25519 secret key
//! 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60
//! ```

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use time::OffsetDateTime;

use super::{Anchor, AuditStore, StoreError, VerifyReport};

const SECRET_HEADER: &str = "audit-runtime ed25519 secret key";
const PUBLIC_HEADER: &str = "audit-runtime ed25519 public key";
/// Domain separation: a checkpoint signature can never be taken for another signed message.
const CHECKPOINT_DOMAIN: &str = "audit-runtime checkpoint v1";
/// After a failed write, how long the witness waits before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What can go wrong with keys, checkpoints and witnesses. Messages name the file and what is
/// accepted; they never hold a secret key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A key file (or text) does not hold a key of the expected kind.
    #[error(
        "{source_name} is not an {kind}: {reason}; expected a line {header:?} and then 64 hex digits \
         (as `audit keygen` writes them)"
    )]
    BadKey {
        /// The file (or "the key text").
        source_name: String,
        /// `ed25519 secret key` or `ed25519 public key`.
        kind: &'static str,
        /// The first line expected.
        header: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint file does not have the shape a witness writes.
    #[error("{path} is not a signed checkpoint: {reason}")]
    BadCheckpoint {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint's signature was not made by the given public key (or the checkpoint was
    /// changed after it was signed).
    #[error(
        "the checkpoint at entry {seq} is not signed by the public key {expected}: it was signed by another key \
         (it names {claimed}) or changed since"
    )]
    BadSignature {
        /// The checkpoint's position.
        seq: i64,
        /// The public key it was checked with (hex).
        expected: String,
        /// The key the checkpoint names (hex), which is not trusted.
        claimed: String,
    },
    /// The witness holds no checkpoint.
    #[error("the witness {path} holds no checkpoint yet")]
    NoCheckpoint {
        /// The witness directory.
        path: String,
    },
    /// The operating system gave no randomness for a new key.
    #[error("cannot make a key: the operating system gave no randomness: {0}")]
    Randomness(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> WitnessError + '_ {
    move |source| WitnessError::Io { path: path.display().to_string(), source }
}

/// An Ed25519 signing key, kept outside the database. Its `Debug` shows only the public key.
pub struct SecretKey {
    key: SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey").field("public_key", &self.public_key().to_hex()).finish_non_exhaustive()
    }
}

impl SecretKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<Self, WitnessError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| WitnessError::Randomness(e.to_string()))?;
        Ok(SecretKey { key: SigningKey::from_bytes(&seed) })
    }

    /// The key in a key file's text form.
    pub fn from_text(text: &str) -> Result<Self, WitnessError> {
        Self::parse(text, "the key text")
    }

    /// Reads a key file (see the [module](self) documentation for its form).
    pub fn read(path: impl AsRef<Path>) -> Result<Self, WitnessError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, source_name: &str) -> Result<Self, WitnessError> {
        let seed = parse_key_text(text, source_name, "ed25519 secret key", SECRET_HEADER)?;
        Ok(SecretKey { key: SigningKey::from_bytes(&seed) })
    }

    /// The key file's text.
    pub fn to_text(&self) -> String {
        format!("{SECRET_HEADER}\n{}\n", hex(self.key.as_bytes()))
    }

    /// Writes a new key file, readable by its owner only; refuses to replace an existing file.
    pub fn write_new(&self, path: impl AsRef<Path>) -> Result<(), WitnessError> {
        let path = path.as_ref();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io_error(path))?;
        file.write_all(self.to_text().as_bytes()).and_then(|()| file.sync_all()).map_err(io_error(path))
    }

    /// The public key that checks this key's signatures.
    pub fn public_key(&self) -> PublicKey {
        PublicKey { key: self.key.verifying_key() }
    }

    /// Signs the chain position `anchor` as of `time`.
    pub fn sign(&self, anchor: &Anchor, time: OffsetDateTime) -> SignedCheckpoint {
        let signature = self.key.sign(&checkpoint_message(anchor.seq, &anchor.hash, time));
        SignedCheckpoint {
            seq: anchor.seq,
            hash: anchor.hash.clone(),
            time,
            public_key: self.public_key().to_hex(),
            signature: hex(&signature.to_bytes()),
        }
    }
}

/// An Ed25519 public key: checks checkpoints signed with its [`SecretKey`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
}

impl PublicKey {
    /// The key in a key file's text form.
    pub fn from_text(text: &str) -> Result<Self, WitnessError> {
        Self::parse(text, "the key text")
    }

    /// Reads a public key file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, WitnessError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, source_name: &str) -> Result<Self, WitnessError> {
        let bytes = parse_key_text(text, source_name, "ed25519 public key", PUBLIC_HEADER)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| WitnessError::BadKey {
            source_name: source_name.to_owned(),
            kind: "ed25519 public key",
            header: PUBLIC_HEADER,
            reason: "the 32 bytes are not a point of the curve".to_owned(),
        })?;
        Ok(PublicKey { key })
    }

    /// The key file's text.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_HEADER}\n{}\n", self.to_hex())
    }

    /// Writes the key file (replacing an older one).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), WitnessError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_text()).map_err(io_error(path))
    }

    /// The key as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex(self.key.as_bytes())
    }
}

/// The chain position `seq` with its `hash` at `time`, signed. Serialised as JSON with the
/// time in RFC 3339, the public key and the signature in hex.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedCheckpoint {
    /// The newest entry's position when it was signed.
    pub seq: i64,
    /// That entry's chain hash.
    pub hash: String,
    /// When it was signed.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The public key that signed it (hex). Informative only: check with a key you trust.
    pub public_key: String,
    /// The Ed25519 signature (hex) over the position, the hash and the time.
    pub signature: String,
}

impl SignedCheckpoint {
    /// The chain position it vouches for.
    pub fn anchor(&self) -> Anchor {
        Anchor { seq: self.seq, hash: self.hash.clone() }
    }

    /// Checks the signature with `key`, and gives the position it vouches for.
    pub fn verify(&self, key: &PublicKey) -> Result<Anchor, WitnessError> {
        let bad = || WitnessError::BadSignature {
            seq: self.seq,
            expected: key.to_hex(),
            claimed: self.public_key.chars().take(64).collect(),
        };
        let bytes: [u8; 64] = unhex(&self.signature).and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
        let signature = Signature::from_bytes(&bytes);
        key.key.verify(&checkpoint_message(self.seq, &self.hash, self.time), &signature).map_err(|_| bad())?;
        Ok(self.anchor())
    }
}

/// What is signed: the domain, the position, the hash and the time (Unix nanoseconds).
fn checkpoint_message(seq: i64, hash: &str, time: OffsetDateTime) -> Vec<u8> {
    format!("{CHECKPOINT_DOMAIN}\n{seq}\n{hash}\n{}\n", time.unix_timestamp_nanos()).into_bytes()
}

/// Where signed checkpoints go: a directory ([`DirectoryWitness`]), or any sink the
/// application gives (an object store, a transparency log, another service). Called from the
/// auditor's witness thread, never on a recording caller's path.
pub trait Witness: Send + 'static {
    /// Keeps `checkpoint`; an error is logged and the checkpoint is tried again later.
    fn record(&mut self, checkpoint: &SignedCheckpoint) -> Result<(), WitnessError>;
}

/// A directory of checkpoint files, `checkpoint-<seq>.json`, each written whole (a temporary
/// file, `fsync`, then a rename) so a crash never leaves half a checkpoint.
#[derive(Clone, Debug)]
pub struct DirectoryWitness {
    dir: PathBuf,
}

impl DirectoryWitness {
    /// The directory `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, WitnessError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(DirectoryWitness { dir })
    }

    /// An existing directory, to read: missing is an error, and nothing is created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, WitnessError> {
        let dir = dir.into();
        if !dir.is_dir() {
            let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such witness directory");
            return Err(WitnessError::Io { path: dir.display().to_string(), source });
        }
        Ok(DirectoryWitness { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The checkpoint of the newest chain position in the directory, if any.
    pub fn latest(&self) -> Result<Option<SignedCheckpoint>, WitnessError> {
        let mut newest: Option<(i64, PathBuf)> = None;
        for entry in std::fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let entry = entry.map_err(io_error(&self.dir))?;
            let name = entry.file_name();
            let Some(seq) = name.to_str().and_then(seq_of_file_name) else { continue };
            if newest.as_ref().is_none_or(|(best, _)| seq > *best) {
                newest = Some((seq, entry.path()));
            }
        }
        let Some((seq, path)) = newest else { return Ok(None) };
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        let bad = |reason: String| WitnessError::BadCheckpoint { path: path.display().to_string(), reason };
        let checkpoint: SignedCheckpoint = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if checkpoint.seq != seq {
            return Err(bad(format!("its name says entry {seq}, its content entry {}", checkpoint.seq)));
        }
        Ok(Some(checkpoint))
    }
}

fn file_name(seq: i64) -> String {
    format!("checkpoint-{seq:020}.json")
}

fn seq_of_file_name(name: &str) -> Option<i64> {
    name.strip_prefix("checkpoint-")?.strip_suffix(".json")?.parse().ok()
}

impl Witness for DirectoryWitness {
    fn record(&mut self, checkpoint: &SignedCheckpoint) -> Result<(), WitnessError> {
        let name = file_name(checkpoint.seq);
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(name);
        let json = serde_json::to_string_pretty(checkpoint).unwrap_or_default();
        let mut file = File::create(&temporary).map_err(io_error(&temporary))?;
        file.write_all(json.as_bytes()).and_then(|()| file.sync_all()).map_err(io_error(&temporary))?;
        std::fs::rename(&temporary, &path).map_err(io_error(&path))?;
        // The rename is durable once the directory is.
        #[cfg(unix)]
        File::open(&self.dir).and_then(|dir| dir.sync_all()).map_err(io_error(&self.dir))?;
        Ok(())
    }
}

/// When the auditor signs a checkpoint: after a number of new entries, after a time with new
/// entries, or both (whichever comes first); and always at shutdown when entries are new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointSchedule {
    entries: Option<u64>,
    interval: Option<Duration>,
}

impl CheckpointSchedule {
    /// Every `count` entries (at least 1).
    pub fn entries(count: u64) -> Self {
        CheckpointSchedule { entries: Some(count.max(1)), interval: None }
    }

    /// Every `interval` while entries are written.
    pub fn interval(interval: Duration) -> Self {
        CheckpointSchedule { entries: None, interval: Some(interval) }
    }

    /// Also every `count` entries.
    pub fn with_entries(mut self, count: u64) -> Self {
        self.entries = Some(count.max(1));
        self
    }

    /// Also every `interval`.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }
}

/// Checks `store` against the newest checkpoint in `witness`, signed by `key`: the signature,
/// then [`AuditStore::verify_against`] its position. Gives the checkpoint and the report.
pub async fn verify_with_witness(
    store: &AuditStore,
    witness: &DirectoryWitness,
    key: &PublicKey,
) -> Result<(SignedCheckpoint, VerifyReport), StoreError> {
    let checkpoint =
        witness.latest()?.ok_or_else(|| WitnessError::NoCheckpoint { path: witness.path().display().to_string() })?;
    let anchor = checkpoint.verify(key)?;
    let report = store.verify_against(&anchor).await?;
    Ok((checkpoint, report))
}

/// The auditor's side: the writer hands over the chain's end after each commit (a lock and a
/// store, nothing more); a thread of its own signs and writes on the schedule.
pub(crate) struct WitnessHook {
    shared: Arc<(Mutex<Pending>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Pending {
    end: Option<(i64, String)>,
    stop: bool,
}

/// What the builder keeps until the writer starts.
pub(crate) struct WitnessSetup {
    pub(crate) key: SecretKey,
    pub(crate) witness: Box<dyn Witness>,
    pub(crate) schedule: CheckpointSchedule,
}

impl WitnessHook {
    pub(crate) fn start(setup: WitnessSetup) -> Self {
        let shared = Arc::new((Mutex::new(Pending::default()), Condvar::new()));
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("audit-witness".into())
            .spawn(move || run(setup, &theirs))
            .map_err(|error| tracing::error!(event = "audit.witness_not_started", error = %error))
            .ok();
        WitnessHook { shared, thread }
    }

    /// The chain ends at `seq` with `hash` after a commit.
    pub(crate) fn committed(&self, seq: i64, hash: &str) {
        let (lock, wake) = &*self.shared;
        if let Ok(mut pending) = lock.lock() {
            pending.end = Some((seq, hash.to_owned()));
            wake.notify_one();
        }
    }
}

impl Drop for WitnessHook {
    /// Signs the last end if it is new, then stops.
    fn drop(&mut self) {
        let (lock, wake) = &*self.shared;
        if let Ok(mut pending) = lock.lock() {
            pending.stop = true;
            wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut setup: WitnessSetup, shared: &(Mutex<Pending>, Condvar)) {
    let (lock, wake) = shared;
    let schedule = setup.schedule;
    let mut signed_seq = 0_i64;
    let mut last_signed = Instant::now();
    let mut retry_at: Option<Instant> = None;
    loop {
        let Ok(mut pending) = lock.lock() else { return };
        let (end, stop) = loop {
            let now = Instant::now();
            let new = pending.end.as_ref().map_or(0, |(seq, _)| seq - signed_seq).max(0) as u64;
            let retry_due = retry_at.is_none_or(|at| now >= at);
            let by_count = schedule.entries.is_some_and(|n| new >= n);
            let by_time = schedule.interval.is_some_and(|t| new > 0 && now.duration_since(last_signed) >= t);
            if pending.stop || (retry_due && (by_count || by_time)) {
                break (pending.end.clone().filter(|_| new > 0), pending.stop);
            }
            // Asleep until a commit, the interval's end (with new entries), or the retry time.
            let wait = match retry_at.filter(|at| *at > now) {
                Some(at) => Some(at - now),
                None if new > 0 => schedule.interval.map(|t| (last_signed + t).saturating_duration_since(now)),
                None => None,
            };
            pending = match wait {
                Some(wait) => match wake.wait_timeout(pending, wait.max(Duration::from_millis(1))) {
                    Ok((guard, _)) => guard,
                    Err(_) => return,
                },
                None => match wake.wait(pending) {
                    Ok(guard) => guard,
                    Err(_) => return,
                },
            };
        };
        drop(pending);
        if let Some((seq, hash)) = end {
            let checkpoint = setup.key.sign(&Anchor { seq, hash }, OffsetDateTime::now_utc());
            match setup.witness.record(&checkpoint) {
                Ok(()) => {
                    signed_seq = seq;
                    last_signed = Instant::now();
                    retry_at = None;
                    tracing::debug!(event = "audit.checkpoint_witnessed", seq);
                }
                Err(error) => {
                    tracing::error!(event = "audit.witness_failed", seq, error = &error as &dyn std::error::Error);
                    retry_at = Some(Instant::now() + RETRY_AFTER);
                }
            }
        }
        if stop {
            return;
        }
    }
}

fn parse_key_text(
    text: &str,
    source_name: &str,
    kind: &'static str,
    header: &'static str,
) -> Result<[u8; 32], WitnessError> {
    let bad = |reason: &str| WitnessError::BadKey {
        source_name: source_name.to_owned(),
        kind,
        header,
        reason: reason.to_owned(),
    };
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#'));
    match lines.next() {
        Some(line) if line == header => {}
        Some(_) => return Err(bad("its first line names another kind of file or key")),
        None => return Err(bad("it is empty")),
    }
    let line = lines.next().ok_or_else(|| bad("the key line is missing"))?;
    if lines.next().is_some() {
        return Err(bad("it has more than one key line"));
    }
    unhex(line).and_then(|bytes| bytes.try_into().ok()).ok_or_else(|| bad("the key line is not 64 hex digits"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor() -> Anchor {
        Anchor { seq: 42, hash: "ab".repeat(32) }
    }

    #[test]
    fn a_checkpoint_verifies_with_its_key_only() {
        let key = SecretKey::generate().unwrap();
        let checkpoint = key.sign(&anchor(), OffsetDateTime::now_utc());
        assert_eq!(checkpoint.verify(&key.public_key()).unwrap(), anchor());
        let json = serde_json::to_string(&checkpoint).unwrap();
        let back: SignedCheckpoint = serde_json::from_str(&json).unwrap();
        assert_eq!(back.verify(&key.public_key()).unwrap(), anchor(), "RFC 3339 keeps the signed time");

        let other = SecretKey::generate().unwrap();
        let error = checkpoint.verify(&other.public_key()).unwrap_err();
        assert!(matches!(error, WitnessError::BadSignature { seq: 42, .. }), "{error}");
        let mut edited = checkpoint.clone();
        edited.seq = 41;
        assert!(edited.verify(&key.public_key()).is_err());
    }

    #[test]
    fn key_files_round_trip_and_bad_ones_say_what_is_expected() {
        let key = SecretKey::generate().unwrap();
        let again = SecretKey::from_text(&key.to_text()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert_eq!(PublicKey::from_text(&key.public_key().to_text()).unwrap(), key.public_key());
        assert!(!format!("{key:?}").contains(&hex(key.key.as_bytes())), "Debug never shows the secret");

        let error = PublicKey::from_text(&key.to_text()).unwrap_err().to_string();
        assert!(error.contains("another kind") && error.contains(PUBLIC_HEADER), "{error}");
        let error = SecretKey::from_text(&format!("{SECRET_HEADER}\nxyz\n")).unwrap_err().to_string();
        assert!(error.contains("64 hex digits"), "{error}");
    }

    #[test]
    fn the_directory_gives_the_newest_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut witness = DirectoryWitness::new(dir.path()).unwrap();
        let key = SecretKey::generate().unwrap();
        assert_eq!(witness.latest().unwrap(), None);
        for seq in [9, 100, 10] {
            witness.record(&key.sign(&Anchor { seq, hash: "cd".repeat(32) }, OffsetDateTime::now_utc())).unwrap();
        }
        assert_eq!(witness.latest().unwrap().map(|c| c.seq), Some(100));
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }
}
