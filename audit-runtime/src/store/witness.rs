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

mod keys;
mod schedule;

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Verifier as _};
use time::OffsetDateTime;

use super::{Anchor, AuditStore, StoreError, VerifyReport};

use super::chain::unhex;
pub use keys::{PublicKey, SecretKey};
pub use schedule::CheckpointSchedule;
pub(crate) use schedule::{WitnessHook, WitnessSetup};

/// Domain separation: a checkpoint signature can never be taken for another signed message.
const CHECKPOINT_DOMAIN: &str = "audit-runtime checkpoint v1";

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

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> WitnessError + '_ {
    move |source| WitnessError::Io { path: path.display().to_string(), source }
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
        key.verifying_key()
            .verify(&checkpoint_message(self.seq, &self.hash, self.time), &signature)
            .map_err(|_| bad())?;
        Ok(self.anchor())
    }
}

/// What is signed: the domain, the position, the hash and the time (Unix nanoseconds).
pub(crate) fn checkpoint_message(seq: i64, hash: &str, time: OffsetDateTime) -> Vec<u8> {
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
