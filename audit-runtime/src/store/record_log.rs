//! The on-disk format of the spool and the journal: a file of framed records that survives torn
//! writes and damaged bytes.
//!
//! Each frame is `MAGIC`, the payload's length (u32, little-endian), its CRC-32, then the
//! payload (a record as JSON). A reader keeps every frame whose length and checksum hold; where
//! they do not, it looks for the next frame that does (the magic marks where to try) and hands
//! back the bytes in between, for the caller to quarantine. A frame cut short at the end of the
//! file is what a crash during an append leaves: its writer was never told it was on disk.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::StoreError;
use super::record::Record;

const MAGIC: [u8; 4] = *b"\xA7AR1";
const HEADER: usize = 12;
/// A payload larger than this is damage, not a record (records are bounded far below it).
const MAX_PAYLOAD: usize = 64 << 20;

/// Appends the frame of `record` to `out`.
pub(crate) fn encode(record: &Record, out: &mut Vec<u8>) -> Result<(), StoreError> {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[0; 8]);
    serde_json::to_writer(&mut *out, record).map_err(StoreError::Serialize)?;
    let payload = &out[start + HEADER..];
    let len = u32::try_from(payload.len()).map_err(|_| StoreError::Corrupt { what: "a record over 4 GiB".into() })?;
    let crc = crc32fast::hash(payload);
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// What a file held.
#[derive(Default)]
pub(crate) struct Decoded {
    /// The records, in order, with the offset just past each.
    pub(crate) records: Vec<(Record, u64)>,
    /// Damaged stretches: their offset and bytes.
    pub(crate) damaged: Vec<(u64, Vec<u8>)>,
    /// A frame cut short at the end (bytes), never acknowledged.
    pub(crate) torn_tail: usize,
}

/// Reads every frame of `bytes`, which start at file offset `base`.
pub(crate) fn decode(bytes: &[u8], base: u64) -> Decoded {
    let mut decoded = Decoded::default();
    let mut at = 0;
    let mut damage_start: Option<usize> = None;
    while at < bytes.len() {
        match frame_at(bytes, at) {
            Frame::Valid { record, end } => {
                if let Some(start) = damage_start.take() {
                    decoded.damaged.push((base + start as u64, bytes[start..at].to_vec()));
                }
                decoded.records.push((*record, base + end as u64));
                at = end;
            }
            // Only the last frame can be torn: a frame whose length runs past the end while
            // another frame starts after it has a damaged length, and hides nothing.
            Frame::Truncated if damage_start.is_none() && next_magic(bytes, at + 1) == bytes.len() => {
                decoded.torn_tail = bytes.len() - at;
                return decoded;
            }
            Frame::Truncated | Frame::Invalid => {
                damage_start.get_or_insert(at);
                at = next_magic(bytes, at + 1);
            }
        }
    }
    if let Some(start) = damage_start {
        decoded.damaged.push((base + start as u64, bytes[start..].to_vec()));
    }
    decoded
}

enum Frame {
    Valid {
        record: Box<Record>,
        end: usize,
    },
    /// Plausible, but the file ends inside it.
    Truncated,
    Invalid,
}

fn frame_at(bytes: &[u8], at: usize) -> Frame {
    let rest = &bytes[at..];
    if rest.len() < HEADER {
        return if MAGIC.starts_with(&rest[..rest.len().min(4)]) { Frame::Truncated } else { Frame::Invalid };
    }
    if rest[..4] != MAGIC {
        return Frame::Invalid;
    }
    let len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
    if len > MAX_PAYLOAD {
        return Frame::Invalid;
    }
    if rest.len() < HEADER + len {
        return Frame::Truncated;
    }
    let payload = &rest[HEADER..HEADER + len];
    if crc32fast::hash(payload) != crc {
        return Frame::Invalid;
    }
    match serde_json::from_slice(payload) {
        Ok(record) => Frame::Valid { record: Box::new(record), end: at + HEADER + len },
        Err(_) => Frame::Invalid,
    }
}

fn next_magic(bytes: &[u8], from: usize) -> usize {
    bytes[from.min(bytes.len())..].windows(MAGIC.len()).position(|w| w == MAGIC).map_or(bytes.len(), |i| from + i)
}

/// Reads `path` from `offset` (a missing file holds nothing).
pub(crate) fn read_from(path: &Path, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Appends `bytes` to `file` and waits until they are on disk. On failure (a full disk) the
/// file is cut back to its length before, so no partial frame stays behind to be glued to the
/// next one.
pub(crate) fn append_durably(file: &File, bytes: &[u8]) -> std::io::Result<()> {
    let before = file.metadata()?.len();
    let result = (|| {
        let mut writer = file;
        writer.write_all(bytes)?;
        file.sync_data()
    })();
    if result.is_err() {
        let _ = file.set_len(before);
        let _ = file.sync_data();
    }
    result
}

/// Writes `text` to `path` atomically: a temporary file, fsynced, renamed over it.
pub(crate) fn write_atomically(path: &Path, text: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = File::create(&temporary)?;
    file.write_all(text)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// Keeps damaged bytes in a file of their own beside `path`, and says where, loudly.
pub(crate) fn quarantine(path: &Path, damaged: &[(u64, Vec<u8>)]) -> Option<PathBuf> {
    if damaged.is_empty() {
        return None;
    }
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".damaged-{stamp}"));
    let target = PathBuf::from(name);
    let mut bytes = Vec::new();
    for (offset, stretch) in damaged {
        bytes.extend_from_slice(format!("# {} bytes from offset {offset}\n", stretch.len()).as_bytes());
        bytes.extend_from_slice(stretch);
        bytes.push(b'\n');
    }
    let written = OpenOptions::new().create_new(true).write(true).open(&target).and_then(|mut f| {
        f.write_all(&bytes)?;
        f.sync_all()
    });
    let total: usize = damaged.iter().map(|(_, b)| b.len()).sum();
    match written {
        Ok(()) => {
            crate::store::events::DamagedRecordsQuarantined {
                file: &path.display().to_string(),
                bytes: total as u64,
                quarantine: &target.display().to_string(),
            }
            .emit();
            Some(target)
        }
        Err(error) => {
            crate::store::events::DamagedRecordsUnsaved {
                file: &path.display().to_string(),
                bytes: total as u64,
                reason: &error.to_string(),
            }
            .emit();
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::{Record, RecordBody};

    fn view(n: u64) -> Record {
        Record {
            origin: "w".into(),
            number: n,
            body: RecordBody::View { object_type: "t".into(), object_id: n.to_string(), day: "2026-01-01".into() },
        }
    }

    fn numbers(decoded: &Decoded) -> Vec<u64> {
        decoded.records.iter().map(|(r, _)| r.number).collect()
    }

    #[test]
    fn frames_round_trip_and_a_torn_tail_is_not_damage() {
        let mut bytes = Vec::new();
        for n in 1..=3 {
            encode(&view(n), &mut bytes).unwrap();
        }
        let whole = decode(&bytes, 0);
        assert_eq!(numbers(&whole), [1, 2, 3]);
        assert_eq!(whole.records[2].1, bytes.len() as u64);
        let cut = decode(&bytes[..bytes.len() - 5], 0);
        assert_eq!(numbers(&cut), [1, 2]);
        assert!(cut.damaged.is_empty());
        assert!(cut.torn_tail > 0);
    }

    #[test]
    fn damage_in_the_middle_keeps_every_valid_frame_and_returns_the_rest() {
        let mut bytes = Vec::new();
        encode(&view(1), &mut bytes).unwrap();
        let second = bytes.len();
        encode(&view(2), &mut bytes).unwrap();
        encode(&view(3), &mut bytes).unwrap();
        bytes[second + HEADER + 3] ^= 0xff; // a flipped byte inside record 2
        let decoded = decode(&bytes, 100);
        assert_eq!(numbers(&decoded), [1, 3]);
        assert_eq!(decoded.damaged.len(), 1);
        assert_eq!(decoded.damaged[0].0, 100 + second as u64);

        // A torn append glued to the next one (the old JSON-lines failure).
        let mut glued = Vec::new();
        encode(&view(1), &mut glued).unwrap();
        let mut torn = Vec::new();
        encode(&view(2), &mut torn).unwrap();
        glued.extend_from_slice(&torn[..torn.len() / 2]);
        encode(&view(3), &mut glued).unwrap();
        assert_eq!(numbers(&decode(&glued, 0)), [1, 3]);
    }
}
