//! The audit trail's rules: what an entry is, how entries chain, how the chain's head is
//! signed, and how a stored trail is verified. Storage is `rampart-store`'s; recording is the
//! server's; both `rampart audit verify` and `GET /api/admin/audit/verify` run [`Verifier`].
//!
//! **Chain.** Entry `n` stores `prev_hash` = entry `n-1`'s `hash` (the genesis value for
//! entry 1), and `hash` = SHA-256 over a canonical encoding of every stored column of the
//! entry, `prev_hash` included ([`Entry::compute_hash`]). The encoding is length-prefixed, so
//! it is unambiguous whatever the values contain, and it is computed over the exact stored
//! text: verifying never re-serializes anything.
//!
//! **Checkpoints.** Every so often the head `(seq, hash)` is signed with the audit key (an
//! Ed25519 key used for nothing else; not the token-signing key). Someone who can write to the
//! database but cannot read the key file can rewrite a consistent chain, but not one that
//! matches the signed checkpoints; and cannot cut entries off the end below the last checkpoint.
//! What such a writer *can* do, and no verifier could notice, is change or drop entries after
//! the last checkpoint: checkpoints are frequent for that reason (see the server's settings).
//!
//! **Redaction.** [`Event::new`] runs the metadata through [`crate::redact::redact_value`]
//! before it can be stored: an entry never holds a password, token or secret.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::keys::{PrivateFileError, new_kid, read_private, write_private};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The largest metadata an entry stores; larger is replaced by its size.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The authenticated user, if any.
    pub user_id: Option<String>,
    /// The client's IP as the server resolved it (`unknown` without one).
    pub ip: String,
    /// The user agent (truncated, control characters removed).
    pub user_agent: String,
}

/// What was acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The kind: `user`, `session`, `record:<collection>`, `route`, `key`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id (or route template, for `route`).
    pub id: String,
}

/// How the action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Success,
    /// Attempted and failed (wrong password, invalid token, ...).
    Failure,
    /// Refused by a rule (authorization, rate limit, lockout).
    Denied,
}

impl Outcome {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// An event about to be appended; the store gives it its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `auth.login.failed`, `record.updated`, ... (dotted, lowercase).
    pub action: &'static str,
    /// Who.
    pub actor: Actor,
    /// On what.
    pub target: Option<Target>,
    /// How it ended.
    pub result: Outcome,
    /// The request's id (`None` for events from the command line).
    pub request_id: Option<String>,
    /// Further facts, already redacted; stored as canonical JSON text.
    metadata: String,
}

impl Event {
    /// An event; `metadata` is redacted here, so nothing unredacted can be stored.
    pub fn new(
        action: &'static str,
        actor: Actor,
        target: Option<Target>,
        result: Outcome,
        request_id: Option<String>,
        mut metadata: serde_json::Value,
    ) -> Self {
        crate::redact::redact_value(&mut metadata);
        let mut metadata = canonical_json(&metadata);
        if metadata.len() > MAX_METADATA_BYTES {
            // Client-influenced metadata must not grow the (undeletable) trail without bound.
            metadata = canonical_json(&serde_json::json!({
                "truncated": true,
                "bytes": metadata.len(),
            }));
        }
        Self {
            action,
            actor,
            target,
            result,
            request_id,
            metadata,
        }
    }

    /// The redacted metadata as stored.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }

    /// Places the event at `seq` after an entry whose hash is `prev_hash`, at `ts_ms`.
    pub fn seal(&self, seq: i64, ts_ms: i64, prev_hash: &str) -> Entry {
        let mut entry = Entry {
            seq,
            ts_ms,
            action: self.action.to_owned(),
            actor_user_id: self.actor.user_id.clone(),
            actor_ip: self.actor.ip.clone(),
            actor_user_agent: self.actor.user_agent.clone(),
            target_type: self.target.as_ref().map(|t| t.kind.clone()),
            target_id: self.target.as_ref().map(|t| t.id.clone()),
            result: self.result.as_str().to_owned(),
            request_id: self.request_id.clone(),
            metadata: self.metadata.clone(),
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }
}

/// JSON with object keys sorted at every level and no insignificant whitespace, whatever
/// map type serde_json was built with.
fn canonical_json(value: &serde_json::Value) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let ordered: BTreeMap<&String, serde_json::Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                serde_json::Value::Object(
                    ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sorted).collect())
            }
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// A stored entry: every column, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When it was appended, unix milliseconds.
    pub ts_ms: i64,
    /// The action.
    pub action: String,
    /// The acting user, if authenticated.
    pub actor_user_id: Option<String>,
    /// The client's IP.
    pub actor_ip: String,
    /// The client's user agent.
    pub actor_user_agent: String,
    /// The target's kind.
    pub target_type: Option<String>,
    /// The target's id.
    pub target_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub result: String,
    /// The request id.
    pub request_id: Option<String>,
    /// Redacted metadata, canonical JSON text.
    pub metadata: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl Entry {
    /// SHA-256 (lowercase hex) over the canonical encoding of every column but `hash`:
    /// a version tag, then each value as `<byte length>:<bytes>` (`-` for an absent one),
    /// separated by `,`. Length prefixes make the encoding injective.
    pub fn compute_hash(&self) -> String {
        let seq = self.seq.to_string();
        let ts = self.ts_ms.to_string();
        let fields: [Option<&str>; 12] = [
            Some(&seq),
            Some(&ts),
            Some(&self.action),
            self.actor_user_id.as_deref(),
            Some(&self.actor_ip),
            Some(&self.actor_user_agent),
            self.target_type.as_deref(),
            self.target_id.as_deref(),
            Some(&self.result),
            self.request_id.as_deref(),
            Some(&self.metadata),
            Some(&self.prev_hash),
        ];
        let mut hasher = Sha256::new();
        hasher.update(b"rampart.audit.entry.v1");
        for field in fields {
            hasher.update(b",");
            match field {
                None => hasher.update(b"-"),
                Some(value) => {
                    hasher.update(value.len().to_string().as_bytes());
                    hasher.update(b":");
                    hasher.update(value.as_bytes());
                }
            }
        }
        hex(&hasher.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A signed statement that the chain's entry `seq` had hash `hash` at `created_ms`, and that
/// the checkpoint before it was at `prev_seq` (0 for the first): checkpoints chain too, so
/// removing one is visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The head's sequence number.
    pub seq: i64,
    /// The previous checkpoint's `seq` (0 for the first).
    pub prev_seq: i64,
    /// The head's hash.
    pub hash: String,
    /// When it was signed, unix milliseconds.
    pub created_ms: i64,
    /// Which audit key signed it.
    pub key_id: String,
    /// Ed25519 signature over [`Checkpoint::message`], base64url.
    pub signature: String,
}

impl Checkpoint {
    /// The signed bytes.
    fn message(c: &Checkpoint) -> Vec<u8> {
        format!(
            "rampart.audit.checkpoint.v1\n{}\n{}\n{}\n{}\n{}",
            c.seq, c.hash, c.prev_seq, c.created_ms, c.key_id
        )
        .into_bytes()
    }
}

/// Why the audit key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    /// No file at the path.
    #[error("audit key {0} does not exist (create it with `rampart audit init-key`)")]
    Missing(PathBuf),
    /// Unreadable.
    #[error("audit key {0} cannot be read: {1}")]
    Unreadable(PathBuf, std::io::Error),
    /// Readable by group or others.
    #[error("audit key {0} is accessible to group or others (mode {1:o}); chmod 600 it")]
    Permissions(PathBuf, u32),
    /// Not a valid key document.
    #[error("audit key {0} is malformed: {1}")]
    Malformed(PathBuf, String),
    /// Could not be written.
    #[error("audit key {0} cannot be written: {1}")]
    Write(PathBuf, std::io::Error),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditKeyFile {
    version: u32,
    kid: String,
    /// PKCS#8 v2 Ed25519 document, base64url.
    private_key: String,
    /// Public keys of earlier audit keys, which still verify the checkpoints they signed.
    #[serde(default)]
    previous: Vec<PublicKeyEntry>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicKeyEntry {
    kid: String,
    public_key: String,
}

/// The audit signing key, and the public keys of its predecessors.
pub struct AuditKey {
    kid: String,
    pair: Ed25519KeyPair,
    verifying: VerifyingKeys,
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey").field("kid", &self.kid).finish()
    }
}

impl AuditKey {
    /// Creates a new key file at `path` (mode 0600); refuses to overwrite one.
    pub fn create(path: &Path) -> Result<Self, AuditKeyError> {
        if path.exists() {
            return Err(AuditKeyError::Write(
                path.to_owned(),
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "refusing to overwrite an existing audit key",
                ),
            ));
        }
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| {
            AuditKeyError::Malformed(path.to_owned(), "key generation failed".into())
        })?;
        let file = AuditKeyFile {
            version: 1,
            kid: new_kid(),
            private_key: B64.encode(pkcs8.as_ref()),
            previous: Vec::new(),
        };
        let json = Zeroizing::new(
            serde_json::to_string_pretty(&file)
                .map_err(|e| AuditKeyError::Malformed(path.to_owned(), e.to_string()))?,
        );
        write_private(path, &json).map_err(|e| AuditKeyError::Write(path.to_owned(), e))?;
        Self::load(path)
    }

    /// Reads and checks the key file (private to its owner, well formed).
    pub fn load(path: &Path) -> Result<Self, AuditKeyError> {
        let text = read_private(path).map_err(|e| match e {
            PrivateFileError::Missing => AuditKeyError::Missing(path.to_owned()),
            PrivateFileError::Unreadable(e) => AuditKeyError::Unreadable(path.to_owned(), e),
            PrivateFileError::Permissions(m) => AuditKeyError::Permissions(path.to_owned(), m),
        })?;
        let malformed = |why: &str| AuditKeyError::Malformed(path.to_owned(), why.to_owned());
        let file: AuditKeyFile =
            serde_json::from_str(&text).map_err(|_| malformed("not an audit key document"))?;
        if file.version != 1 {
            return Err(malformed("unsupported version"));
        }
        let der = Zeroizing::new(
            B64.decode(file.private_key.as_bytes())
                .map_err(|_| malformed("private_key is not base64url"))?,
        );
        let pair = Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|_| malformed("private_key is not an Ed25519 PKCS#8 key"))?;
        let mut keys = BTreeMap::new();
        for old in &file.previous {
            let public = B64
                .decode(old.public_key.as_bytes())
                .map_err(|_| malformed("a previous public_key is not base64url"))?;
            keys.insert(old.kid.clone(), public);
        }
        keys.insert(file.kid.clone(), pair.public_key().as_ref().to_vec());
        Ok(Self {
            kid: file.kid,
            pair,
            verifying: VerifyingKeys(keys),
        })
    }

    /// The key id checkpoints name.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs the head `(seq, hash)` at `created_ms`, after the checkpoint at `prev_seq`.
    pub fn checkpoint(&self, seq: i64, hash: &str, prev_seq: i64, created_ms: i64) -> Checkpoint {
        let mut c = Checkpoint {
            seq,
            prev_seq,
            hash: hash.to_owned(),
            created_ms,
            key_id: self.kid.clone(),
            signature: String::new(),
        };
        c.signature = B64.encode(self.pair.sign(&Checkpoint::message(&c)).as_ref());
        c
    }

    /// The public keys that verify checkpoints (this key's and its predecessors').
    pub fn verifying_keys(&self) -> &VerifyingKeys {
        &self.verifying
    }
}

/// Public keys by key id.
#[derive(Debug, Clone, Default)]
pub struct VerifyingKeys(BTreeMap<String, Vec<u8>>);

impl VerifyingKeys {
    fn verify(&self, c: &Checkpoint) -> Result<(), BreakKind> {
        let Some(public) = self.0.get(&c.key_id) else {
            return Err(BreakKind::UnknownKey);
        };
        let signature = B64
            .decode(c.signature.as_bytes())
            .map_err(|_| BreakKind::BadSignature)?;
        let message = Checkpoint::message(c);
        UnparsedPublicKey::new(&ED25519, public)
            .verify(&message, &signature)
            .map_err(|_| BreakKind::BadSignature)
    }
}

/// What is wrong at the first broken place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The entry's contents no longer match its hash: modified, or moved from another place.
    Modified,
    /// The entry is absent: the sequence jumps over it.
    Missing,
    /// The entry's `prev_hash` is not the previous entry's hash.
    Unlinked,
    /// The entry differs from the one a signed checkpoint recorded (the chain was rewritten
    /// up to here).
    CheckpointMismatch,
    /// The entries from here on are gone: a signed checkpoint names a later head.
    Truncated,
    /// A checkpoint's signature does not verify.
    BadSignature,
    /// A signed checkpoint was removed: the next one names it as its predecessor.
    CheckpointMissing,
    /// The entries from here on are not covered by a checkpoint although one is signed every
    /// few entries: the checkpoints that covered them were removed (or the entries were added
    /// by something other than Rampart).
    Unsealed,
    /// The table holds rows the chain does not account for (outside the sequence).
    Unaccounted,
    /// A checkpoint names a key id that is not an audit key.
    UnknownKey,
}

/// The first broken place in a trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The first entry that cannot be trusted (for a checkpoint problem, the checkpoint's).
    pub seq: i64,
    /// What is wrong.
    pub kind: BreakKind,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = self.seq;
        match self.kind {
            BreakKind::Modified => write!(
                f,
                "entry {seq} was modified or moved: its contents do not match its hash"
            ),
            BreakKind::Missing => write!(f, "entry {seq} is missing: the sequence skips it"),
            BreakKind::Unlinked => write!(
                f,
                "entry {seq} does not link to entry {}: prev_hash differs (an entry was changed or removed before it)",
                seq - 1
            ),
            BreakKind::CheckpointMismatch => write!(
                f,
                "entry {seq} differs from the signed checkpoint at {seq}: the chain was rewritten up to here"
            ),
            BreakKind::Truncated => write!(
                f,
                "entry {seq} and later are missing: a signed checkpoint records a longer chain"
            ),
            BreakKind::CheckpointMissing => write!(
                f,
                "the signed checkpoint at entry {seq} was removed: the next checkpoint names it"
            ),
            BreakKind::Unsealed => write!(
                f,
                "entry {seq} and later are not covered by a signed checkpoint although one is due: checkpoints were removed, or entries added outside Rampart"
            ),
            BreakKind::Unaccounted => write!(
                f,
                "the trail holds rows outside the chain (from entry {seq} on): entries were added outside Rampart"
            ),
            BreakKind::BadSignature => {
                write!(f, "the checkpoint at entry {seq} has an invalid signature")
            }
            BreakKind::UnknownKey => write!(
                f,
                "the checkpoint at entry {seq} is signed by a key that is not an audit key"
            ),
        }
    }
}

/// The outcome of verifying a whole trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Entries read.
    pub entries: u64,
    /// Checkpoints read.
    pub checkpoints: u64,
    /// The last entry read: `(seq, hash)`.
    pub head: Option<(i64, String)>,
    /// The newest checkpoint.
    pub last_checkpoint: Option<Checkpoint>,
    /// The first broken place; `None` when intact.
    pub problem: Option<Break>,
}

impl Report {
    /// Whether nothing was found wrong.
    pub fn intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verifies a trail fed in sequence order, stopping at the first break. Feed entries with
/// [`Verifier::push`] (as the store pages them out), then call [`Verifier::finish`].
#[derive(Debug)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    entries: u64,
    checkpoints: BTreeMap<i64, Checkpoint>,
    checkpoint_count: u64,
    last_checkpoint: Option<Checkpoint>,
    max_unsigned: Option<i64>,
    problem: Option<Break>,
}

impl Verifier {
    /// Starts a verification against `checkpoints` (any order), checking their signatures
    /// with `keys` and that none is missing from their chain first. `max_unsigned`: the
    /// writer signs as soon as this many entries follow the last checkpoint, so a longer
    /// unsigned tail means checkpoints were removed (`None`: not checked).
    pub fn new(
        checkpoints: Vec<Checkpoint>,
        keys: &VerifyingKeys,
        max_unsigned: Option<i64>,
    ) -> Self {
        let mut problem = None;
        let checkpoint_count = checkpoints.len() as u64;
        let mut by_seq = BTreeMap::new();
        for c in checkpoints {
            if let Err(kind) = keys.verify(&c) {
                let candidate = Break { seq: c.seq, kind };
                if problem
                    .as_ref()
                    .is_none_or(|p: &Break| candidate.seq < p.seq)
                {
                    problem = Some(candidate);
                }
                continue;
            }
            // Two valid checkpoints for one seq must agree; keep both to compare.
            if by_seq
                .get(&c.seq)
                .is_some_and(|p: &Checkpoint| p.hash != c.hash)
            {
                problem.get_or_insert(Break {
                    seq: c.seq,
                    kind: BreakKind::CheckpointMismatch,
                });
            }
            by_seq.insert(c.seq, c);
        }
        // Each checkpoint names its predecessor: a gap is a removed checkpoint.
        let mut expected_prev = 0;
        for c in by_seq.values() {
            if c.prev_seq != expected_prev {
                let candidate = Break {
                    seq: c.prev_seq.max(expected_prev),
                    kind: BreakKind::CheckpointMissing,
                };
                if problem
                    .as_ref()
                    .is_none_or(|p: &Break| candidate.seq < p.seq)
                {
                    problem = Some(candidate);
                }
                break;
            }
            expected_prev = c.seq;
        }
        let last_checkpoint = by_seq.values().next_back().cloned();
        Self {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            entries: 0,
            checkpoints: by_seq,
            checkpoint_count,
            last_checkpoint,
            max_unsigned,
            problem,
        }
    }

    /// Whether a break at or before entry `seq` was found: later entries cannot change the
    /// answer (a break found further on, such as a bad checkpoint, may still be preceded by
    /// an earlier one).
    pub fn broken_by(&self, seq: i64) -> bool {
        self.problem.as_ref().is_some_and(|p| p.seq <= seq)
    }

    /// Checks the next entry in sequence order.
    pub fn push(&mut self, entry: &Entry) {
        if self.problem.as_ref().is_some_and(|p| p.seq <= entry.seq) {
            return;
        }
        let fail = |kind| {
            Some(Break {
                seq: self.expected_seq,
                kind,
            })
        };
        let found = if entry.seq > self.expected_seq {
            fail(BreakKind::Missing)
        } else if entry.seq < self.expected_seq || entry.compute_hash() != entry.hash {
            // A repeated or backwards seq is an entry out of its place.
            fail(BreakKind::Modified)
        } else if entry.prev_hash != self.prev_hash {
            fail(BreakKind::Unlinked)
        } else if self
            .checkpoints
            .get(&entry.seq)
            .is_some_and(|c| c.hash != entry.hash)
        {
            fail(BreakKind::CheckpointMismatch)
        } else {
            None
        };
        if let Some(b) = found {
            if self.problem.as_ref().is_none_or(|p| b.seq < p.seq) {
                self.problem = Some(b);
            }
            return;
        }
        self.entries += 1;
        self.expected_seq += 1;
        self.prev_hash.clone_from(&entry.hash);
    }

    /// The report: also catches truncation (a checkpoint beyond the last entry) and an
    /// unsigned tail longer than the writer ever leaves. `rows`: how many rows the table
    /// holds, when known; more than the chain accounts for is tampering too.
    pub fn finish(mut self, rows: Option<u64>) -> Report {
        let head_seq = self.expected_seq - 1;
        let signed = self.last_checkpoint.as_ref().map_or(0, |c| c.seq);
        if self.problem.is_none() {
            self.problem = if signed > head_seq {
                Some(Break {
                    seq: head_seq + 1,
                    kind: BreakKind::Truncated,
                })
            } else if self.max_unsigned.is_some_and(|n| head_seq - signed >= n) {
                Some(Break {
                    seq: signed + 1,
                    kind: BreakKind::Unsealed,
                })
            } else if rows.is_some_and(|n| n != self.entries) {
                Some(Break {
                    seq: head_seq + 1,
                    kind: BreakKind::Unaccounted,
                })
            } else {
                None
            };
        }
        let head = (head_seq > 0).then(|| (head_seq, self.prev_hash.clone()));
        Report {
            entries: self.entries,
            checkpoints: self.checkpoint_count,
            head,
            last_checkpoint: self.last_checkpoint,
            problem: self.problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> Event {
        Event::new(
            "record.created",
            Actor {
                user_id: Some(format!("user-{i}")),
                ip: "127.0.0.1".into(),
                user_agent: "test".into(),
            },
            Some(Target {
                kind: "record:posts".into(),
                id: format!("id-{i}"),
            }),
            Outcome::Success,
            Some(format!("req-{i}")),
            serde_json::json!({"fields": ["title"], "password": "hunter2"}),
        )
    }

    fn chain(n: usize) -> Vec<Entry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|i| {
                let e = event(i).seal(i as i64, 1_700_000_000_000 + i as i64, &prev);
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    fn new_key() -> (tempfile::TempDir, AuditKey) {
        let dir = tempfile::tempdir().unwrap();
        let key = AuditKey::create(&dir.path().join("audit-key.json")).unwrap();
        (dir, key)
    }

    fn verify(entries: &[Entry], checkpoints: Vec<Checkpoint>, key: &AuditKey) -> Report {
        let mut v = Verifier::new(checkpoints, key.verifying_keys(), None);
        for e in entries {
            v.push(e);
        }
        v.finish(None)
    }

    fn signed(key: &AuditKey, entries: &[Entry], seq: i64) -> Checkpoint {
        signed_after(key, entries, seq, 0)
    }

    fn signed_after(key: &AuditKey, entries: &[Entry], seq: i64, prev: i64) -> Checkpoint {
        let e = &entries[usize::try_from(seq - 1).unwrap()];
        key.checkpoint(e.seq, &e.hash, prev, 1_700_000_000_000)
    }

    #[test]
    fn oversized_metadata_is_replaced_by_its_size() {
        let e = Event::new(
            "validation.failed",
            Actor {
                user_id: None,
                ip: "127.0.0.1".into(),
                user_agent: String::new(),
            },
            None,
            Outcome::Failure,
            None,
            serde_json::json!({ "fields": ["x".repeat(10_000)] }),
        );
        assert_eq!(e.metadata(), r#"{"bytes":10015,"truncated":true}"#);
    }

    #[test]
    fn metadata_is_redacted_and_canonical() {
        let e = event(1);
        assert_eq!(
            e.metadata(),
            r#"{"fields":["title"],"password":"[REDACTED]"}"#
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (_d, key) = new_key();
        let entries = chain(10);
        let report = verify(
            &entries,
            vec![
                signed(&key, &entries, 5),
                signed_after(&key, &entries, 10, 5),
            ],
            &key,
        );
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.entries, 10);
        assert_eq!(report.checkpoints, 2);
        assert_eq!(report.head, Some((10, entries[9].hash.clone())));
        assert!(verify(&[], vec![], &key).intact());
    }

    #[test]
    fn each_kind_of_tampering_names_the_first_broken_entry() {
        let (_d, key) = new_key();
        let entries = chain(10);
        let cps = || vec![signed(&key, &entries, 8)];
        let check = |tampered: Vec<Entry>, seq: i64, kind: BreakKind| {
            let report = verify(&tampered, cps(), &key);
            assert_eq!(report.problem, Some(Break { seq, kind }), "{report:?}");
        };

        let mut modified = entries.clone();
        modified[3].actor_ip = "10.0.0.1".into();
        check(modified, 4, BreakKind::Modified);

        // Modified and re-hashed: the next entry no longer links.
        let mut rehashed = entries.clone();
        rehashed[3].metadata = "{}".into();
        rehashed[3].hash = rehashed[3].compute_hash();
        check(rehashed, 5, BreakKind::Unlinked);

        // The whole chain rewritten consistently from entry 4: only the checkpoint sees it.
        let mut rewritten = entries[..3].to_vec();
        let mut prev = rewritten[2].hash.clone();
        for (i, e) in entries[3..].iter().enumerate() {
            let mut e = e.clone();
            if i == 0 {
                e.result = "failure".into();
            }
            e.prev_hash = prev.clone();
            e.hash = e.compute_hash();
            prev.clone_from(&e.hash);
            rewritten.push(e);
        }
        check(rewritten, 8, BreakKind::CheckpointMismatch);

        let mut deleted = entries.clone();
        deleted.remove(5);
        check(deleted, 6, BreakKind::Missing);

        // Two rows swapped by exchanging their seq values: read back in seq order.
        let mut swapped = entries.clone();
        swapped.swap(2, 3);
        swapped[2].seq = 3;
        swapped[3].seq = 4;
        check(swapped, 3, BreakKind::Modified);

        check(entries[..6].to_vec(), 7, BreakKind::Truncated);
    }

    #[test]
    fn removed_checkpoints_are_detected() {
        let (_d, key) = new_key();
        let entries = chain(12);
        let all = vec![
            signed(&key, &entries, 5),
            signed_after(&key, &entries, 10, 5),
        ];
        let check = |cps: Vec<Checkpoint>, upto: usize, max: Option<i64>| {
            let mut v = Verifier::new(cps, key.verifying_keys(), max);
            for e in &entries[..upto] {
                v.push(e);
            }
            v.finish(Some(upto as u64)).problem
        };
        assert_eq!(check(all.clone(), 12, Some(5)), None);
        // The middle one removed: the later one names it.
        assert_eq!(
            check(vec![all[1].clone()], 12, Some(5)),
            Some(Break {
                seq: 5,
                kind: BreakKind::CheckpointMissing
            })
        );
        // The last one removed (and the tail cut below it): the unsigned tail is too long.
        assert_eq!(
            check(vec![all[0].clone()], 12, Some(5)),
            Some(Break {
                seq: 6,
                kind: BreakKind::Unsealed
            })
        );
        assert_eq!(
            check(vec![all[0].clone()], 7, Some(5)),
            None,
            "a tail shorter than the cadence is what a crash leaves"
        );
        // All removed and the chain rewritten from scratch.
        assert_eq!(
            check(vec![], 12, Some(5)),
            Some(Break {
                seq: 1,
                kind: BreakKind::Unsealed
            })
        );
        // Rows the chain does not account for.
        let mut v = Verifier::new(all, key.verifying_keys(), Some(5));
        for e in &entries {
            v.push(e);
        }
        assert_eq!(
            v.finish(Some(13)).problem,
            Some(Break {
                seq: 13,
                kind: BreakKind::Unaccounted
            })
        );
    }

    #[test]
    fn truncation_after_the_last_checkpoint_is_not_detectable() {
        let (_d, key) = new_key();
        let entries = chain(10);
        assert!(verify(&entries[..9], vec![signed(&key, &entries, 8)], &key).intact());
    }

    #[test]
    fn forged_checkpoints_are_refused() {
        let (_d, key) = new_key();
        let (_d2, other) = new_key();
        let entries = chain(5);
        let forged = signed(&other, &entries, 5);
        assert_eq!(
            verify(&entries, vec![forged], &key).problem,
            Some(Break {
                seq: 5,
                kind: BreakKind::UnknownKey
            })
        );
        let mut bad = signed(&key, &entries, 5);
        bad.seq = 4;
        assert_eq!(
            verify(&entries, vec![bad], &key).problem,
            Some(Break {
                seq: 4,
                kind: BreakKind::BadSignature
            })
        );
    }

    #[test]
    fn the_key_file_is_private_and_round_trips() {
        let (dir, key) = new_key();
        let path = dir.path().join("audit-key.json");
        let again = AuditKey::load(&path).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert!(matches!(
            AuditKey::create(&path),
            Err(AuditKeyError::Write(..))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                AuditKey::load(&path),
                Err(AuditKeyError::Permissions(..))
            ));
        }
        assert!(matches!(
            AuditKey::load(&dir.path().join("nope.json")),
            Err(AuditKeyError::Missing(_))
        ));
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        let entries = chain(1);
        let mut a = entries[0].clone();
        let mut b = a.clone();
        a.actor_ip = "1,2".into();
        a.actor_user_agent = "3".into();
        b.actor_ip = "1".into();
        b.actor_user_agent = "2,3".into();
        assert_ne!(a.compute_hash(), b.compute_hash());
        let mut none = entries[0].clone();
        none.actor_user_id = None;
        let mut dash = none.clone();
        dash.actor_user_id = Some("-".into());
        assert_ne!(none.compute_hash(), dash.compute_hash());
    }
}
