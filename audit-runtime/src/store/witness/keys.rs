//! Ed25519 key pairs for signed checkpoints, and their text files.

use std::io::Write as _;
use std::path::Path;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use time::OffsetDateTime;

use super::{SignedCheckpoint, WitnessError, checkpoint_message, io_error};
use crate::store::Anchor;
use crate::store::chain::{hex, unhex};

const SECRET_HEADER: &str = "audit-runtime ed25519 secret key";
const PUBLIC_HEADER: &str = "audit-runtime ed25519 public key";

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

    /// Reads a key file (see the [module](super) documentation for its form).
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

    pub(super) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The key as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex(self.key.as_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
