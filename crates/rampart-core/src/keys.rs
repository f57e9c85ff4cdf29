//! The signing key ring: a JSON file (mode 0600) holding the token-signing keys, which one is
//! active, and the secret that derives refresh-token successors.
//!
//! Rotation adds a key and makes it active; older keys keep verifying (and stay in JWKS) until
//! retired. Tokens name their key by `kid`, and verification looks `kid` up only in this ring,
//! so a token cannot bring its own key (`jku`, `x5u`, `jwk`) or point at a file or row.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::secrets::{WeakSecret, check_secret};

/// Token signing algorithms Rampart supports. Exactly one is configured; verification
/// accepts no other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// Ed25519 (the default).
    EdDSA,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// HMAC-SHA-256 with a secret of at least 32 random bytes. No public keys: JWKS is empty.
    HS256,
}

impl SigningAlg {
    /// Parses a configured algorithm name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "EdDSA" => Some(Self::EdDSA),
            "ES256" => Some(Self::ES256),
            "HS256" => Some(Self::HS256),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::HS256 => "HS256",
        }
    }
}

/// The fewest secret bytes accepted for HS256 keys and the refresh secret.
pub const MIN_SECRET_BYTES: usize = 32;

/// One key as stored in the ring file.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredKey {
    /// Key id, as put in token headers.
    pub kid: String,
    /// The key's algorithm.
    pub alg: SigningAlg,
    /// Unix seconds.
    pub created_at: i64,
    /// Base64url: PKCS#8 DER for EdDSA/ES256, raw secret bytes for HS256.
    pub private: String,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("private", &"[REDACTED]")
            .finish()
    }
}

/// The ring file's contents.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRingFile {
    /// Format version (1).
    pub version: u32,
    /// The kid that signs new tokens.
    pub active: String,
    /// All keys that still verify.
    pub keys: Vec<StoredKey>,
    /// Base64url secret (≥ 32 bytes) from which refresh-token successors are derived.
    pub refresh_secret: String,
}

impl std::fmt::Debug for KeyRingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRingFile")
            .field("version", &self.version)
            .field("active", &self.active)
            .field("keys", &self.keys)
            .field("refresh_secret", &"[REDACTED]")
            .finish()
    }
}

/// Why a key ring could not be used. Each names the problem so start-up can say which
/// setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// No file at the path.
    #[error("key ring {0} does not exist (create it with `rampart keys init`)")]
    Missing(PathBuf),
    /// The file exists but cannot be read.
    #[error("key ring {0} cannot be read: {1}")]
    Unreadable(PathBuf, std::io::Error),
    /// Group or others may read or write the file.
    #[error("key ring {0} is accessible to group or others (mode {1:o}); chmod 600 it")]
    Permissions(PathBuf, u32),
    /// The file is not a valid ring.
    #[error("key ring {0} is malformed: {1}")]
    Malformed(PathBuf, String),
    /// A secret in the file is weak.
    #[error("key ring {path}: {what} {reason}")]
    Weak {
        /// The file.
        path: PathBuf,
        /// Which secret.
        what: String,
        /// Why.
        reason: WeakSecret,
    },
    /// The file could not be written.
    #[error("key ring {0} cannot be written: {1}")]
    Write(PathBuf, std::io::Error),
    /// A rotation or retirement named something impossible.
    #[error("{0}")]
    Usage(String),
}

pub(crate) fn random_bytes(n: usize) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(vec![0u8; n]);
    // The system RNG failing is unrecoverable for a security product; refuse to go on.
    #[allow(clippy::expect_used)]
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random number generator failed");
    buf
}

/// A fresh key id: 96 random bits, base64url.
pub(crate) fn new_kid() -> String {
    B64.encode(&*random_bytes(12))
}

/// Whether a `kid` has the shape this server issues. Anything else (paths, quotes, SQL) is
/// refused before any lookup.
pub fn is_well_formed_kid(kid: &str) -> bool {
    (8..=64).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl StoredKey {
    /// Generates a new key for `alg`.
    pub fn generate(alg: SigningAlg, now_unix: i64) -> Self {
        let rng = SystemRandom::new();
        #[allow(clippy::expect_used)]
        let private = match alg {
            SigningAlg::EdDSA => B64.encode(
                Ed25519KeyPair::generate_pkcs8(&rng)
                    .expect("Ed25519 key generation failed")
                    .as_ref(),
            ),
            SigningAlg::ES256 => B64.encode(
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .expect("P-256 key generation failed")
                    .as_ref(),
            ),
            SigningAlg::HS256 => B64.encode(&*random_bytes(MIN_SECRET_BYTES)),
        };
        Self {
            kid: new_kid(),
            alg,
            created_at: now_unix,
            private,
        }
    }

    /// The decoded private material.
    pub fn private_bytes(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        B64.decode(self.private.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| format!("key {} is not valid base64url", self.kid))
    }

    /// The public key bytes (raw Ed25519 key, or uncompressed P-256 point); `None` for HS256.
    pub fn public_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        let der = self.private_bytes()?;
        match self.alg {
            SigningAlg::EdDSA => Ed25519KeyPair::from_pkcs8(&der)
                .map(|k| Some(k.public_key().as_ref().to_vec()))
                .map_err(|_| format!("key {} is not a valid Ed25519 PKCS#8 key", self.kid)),
            SigningAlg::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                .map(|k| Some(k.public_key().as_ref().to_vec()))
                .map_err(|_| format!("key {} is not a valid P-256 PKCS#8 key", self.kid)),
            SigningAlg::HS256 => Ok(None),
        }
    }
}

impl KeyRingFile {
    /// A new ring with one active key of `alg` and a fresh refresh secret.
    pub fn generate(alg: SigningAlg, now_unix: i64) -> Self {
        let key = StoredKey::generate(alg, now_unix);
        Self {
            version: 1,
            active: key.kid.clone(),
            keys: vec![key],
            refresh_secret: B64.encode(&*random_bytes(MIN_SECRET_BYTES)),
        }
    }

    /// Reads and checks a ring file: it must exist, be readable, be private to its owner,
    /// parse, and hold only strong, well-formed keys.
    pub fn load(path: &Path) -> Result<Self, KeyRingError> {
        let text = read_private(path).map_err(|e| match e {
            PrivateFileError::Missing => KeyRingError::Missing(path.to_owned()),
            PrivateFileError::Unreadable(e) => KeyRingError::Unreadable(path.to_owned(), e),
            PrivateFileError::Permissions(mode) => KeyRingError::Permissions(path.to_owned(), mode),
        })?;
        let ring: Self = serde_json::from_str(&text).map_err(|e| {
            KeyRingError::Malformed(path.to_owned(), format!("not a key ring document ({e})"))
        })?;
        ring.check(path)?;
        Ok(ring)
    }

    fn check(&self, path: &Path) -> Result<(), KeyRingError> {
        let malformed = |msg: String| KeyRingError::Malformed(path.to_owned(), msg);
        if self.version != 1 {
            return Err(malformed(format!("unsupported version {}", self.version)));
        }
        if !self.keys.iter().any(|k| k.kid == self.active) {
            return Err(malformed("the active kid names no key in the ring".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for key in &self.keys {
            if !is_well_formed_kid(&key.kid) {
                return Err(malformed(
                    "a kid is not 8..64 characters of [A-Za-z0-9_-]".into(),
                ));
            }
            if !seen.insert(key.kid.as_str()) {
                return Err(malformed(format!("kid {} appears twice", key.kid)));
            }
            let bytes = key.private_bytes().map_err(malformed)?;
            match key.alg {
                SigningAlg::HS256 => {
                    check_secret(&bytes, MIN_SECRET_BYTES).map_err(|reason| KeyRingError::Weak {
                        path: path.to_owned(),
                        what: format!("HS256 key {}", key.kid),
                        reason,
                    })?
                }
                SigningAlg::EdDSA | SigningAlg::ES256 => {
                    key.public_bytes().map_err(malformed)?;
                }
            }
        }
        let refresh = B64
            .decode(self.refresh_secret.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| malformed("refresh_secret is not valid base64url".into()))?;
        check_secret(&refresh, MIN_SECRET_BYTES).map_err(|reason| KeyRingError::Weak {
            path: path.to_owned(),
            what: "refresh_secret".into(),
            reason,
        })?;
        Ok(())
    }

    /// The decoded refresh secret.
    pub fn refresh_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(
            B64.decode(self.refresh_secret.as_bytes())
                .unwrap_or_default(),
        )
    }

    /// The active key.
    pub fn active_key(&self) -> Option<&StoredKey> {
        self.keys.iter().find(|k| k.kid == self.active)
    }

    /// Adds a new key of `alg` and makes it active. Returns its kid.
    pub fn rotate(&mut self, alg: SigningAlg, now_unix: i64) -> String {
        let key = StoredKey::generate(alg, now_unix);
        let kid = key.kid.clone();
        self.keys.push(key);
        self.active = kid.clone();
        kid
    }

    /// Removes a key that is not active: tokens it signed stop verifying.
    pub fn retire(&mut self, kid: &str) -> Result<(), KeyRingError> {
        if kid == self.active {
            return Err(KeyRingError::Usage(format!(
                "{kid} is the active key; rotate first, then retire it"
            )));
        }
        let before = self.keys.len();
        self.keys.retain(|k| k.kid != kid);
        if self.keys.len() == before {
            return Err(KeyRingError::Usage(format!("no key {kid} in the ring")));
        }
        Ok(())
    }

    /// Writes the ring atomically (temp file + rename) with mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), KeyRingError> {
        let write_err = |e| KeyRingError::Write(path.to_owned(), e);
        let json = Zeroizing::new(
            serde_json::to_string_pretty(self)
                .map_err(|e| write_err(std::io::Error::other(e.to_string())))?,
        );
        write_private(path, &json).map_err(write_err)
    }
}

/// Why a private file (key ring, audit key) could not be read.
#[derive(Debug)]
pub(crate) enum PrivateFileError {
    /// No file at the path.
    Missing,
    /// It exists but cannot be read.
    Unreadable(std::io::Error),
    /// Group or others may read or write it (the mode).
    Permissions(u32),
}

/// Reads a file that must be private to its owner (mode 0600 or stricter on Unix).
pub(crate) fn read_private(path: &Path) -> Result<Zeroizing<String>, PrivateFileError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PrivateFileError::Missing);
        }
        Err(e) => return Err(PrivateFileError::Unreadable(e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(PrivateFileError::Permissions(mode));
        }
    }
    let _ = meta;
    fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(PrivateFileError::Unreadable)
}

/// Writes `text` atomically (temp file + fsync + rename) with mode 0600.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(text.as_bytes())?;
    tmp.1.sync_all()?;
    fs::rename(&tmp.0, path)
}

/// Creates a new file readable only by its owner, next to where the ring will live.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, fs::File)> {
    let name = format!(".keys.{}.tmp", B64.encode(&*random_bytes(6)));
    let path = dir.join(name);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&path)?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_rings_round_trip_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        for alg in [SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::HS256] {
            let ring = KeyRingFile::generate(alg, 0);
            ring.save(&path).unwrap();
            let loaded = KeyRingFile::load(&path).unwrap();
            assert_eq!(loaded.active, ring.active);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600);
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        KeyRingFile::generate(SigningAlg::EdDSA, 0)
            .save(&path)
            .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            KeyRingFile::load(&path),
            Err(KeyRingError::Permissions(..))
        ));
    }

    #[test]
    fn placeholder_hs256_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let mut ring = KeyRingFile::generate(SigningAlg::HS256, 0);
        ring.keys[0].private = B64.encode(b"changeme-changeme-changeme-changeme");
        ring.save(&path).unwrap();
        assert!(matches!(
            KeyRingFile::load(&path),
            Err(KeyRingError::Weak { .. })
        ));
    }

    #[test]
    fn rotate_and_retire() {
        let mut ring = KeyRingFile::generate(SigningAlg::EdDSA, 0);
        let first = ring.active.clone();
        let second = ring.rotate(SigningAlg::EdDSA, 1);
        assert_eq!(ring.active, second);
        assert!(
            ring.retire(&second).is_err(),
            "the active key cannot be retired"
        );
        ring.retire(&first).unwrap();
        assert_eq!(ring.keys.len(), 1);
        assert!(ring.retire(&first).is_err());
    }

    #[test]
    fn kid_shape() {
        assert!(is_well_formed_kid("abcDEF12_-"));
        for bad in [
            "",
            "short",
            "../../etc/passwd",
            "1' OR '1'='1",
            "a/b/c/d/e/f",
        ] {
            assert!(!is_well_formed_kid(bad), "{bad:?}");
        }
    }
}
