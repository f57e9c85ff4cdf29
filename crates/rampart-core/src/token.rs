//! Access tokens (JWT, `typ: at+jwt`) and refresh tokens (opaque, stored only as a hash).
//!
//! Threats stopped here, all answered `invalid_token`: `alg: none` in any capitalisation,
//! algorithm confusion (an HMAC signed with our public key), unknown or malformed `kid`
//! (paths, SQL), `jku`/`x5u`/`jwk`/`x5c` headers that ask us to trust a key the token brings,
//! stripped or foreign signatures, tokens for another issuer or audience, and tokens whose
//! claims have the wrong JSON types. Verification pins the configured algorithm, issuer and
//! audience, requires `exp`, `nbf`, `iat`, `sub`, `sid`, `jti`, `role`, allows at most 30 s
//! of clock leeway, and finds keys by `kid` only in the server's own ring.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::domain::{Role, SessionId, UserId};
use crate::keys::{KeyRingFile, SigningAlg, is_well_formed_kid};

/// The `typ` header of every access token (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The most clock leeway verification will ever allow.
pub const MAX_LEEWAY_SECS: u64 = 30;

/// Longest token accepted before any parsing.
const MAX_TOKEN_LEN: usize = 4096;

/// Token settings that do not change while the server runs.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// The only algorithm accepted.
    pub alg: SigningAlg,
    /// `iss` of issued tokens, and the only issuer accepted.
    pub issuer: String,
    /// `aud` of issued tokens, and the only audience accepted.
    pub audience: String,
    /// Access-token lifetime in seconds.
    pub access_ttl_secs: u64,
    /// Clock leeway in seconds (capped at [`MAX_LEEWAY_SECS`]).
    pub leeway_secs: u64,
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject: the user id.
    pub sub: String,
    /// Expiry (unix seconds).
    pub exp: u64,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Not before (unix seconds).
    pub nbf: u64,
    /// Unique token id.
    pub jti: String,
    /// Session id: revoking the session revokes the token.
    pub sid: String,
    /// Role at issue time (authorization uses the live role, see the server's session cache).
    pub role: String,
}

/// A verified access token, parsed into domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccess {
    /// The user.
    pub user_id: UserId,
    /// The session.
    pub session_id: SessionId,
    /// The role claimed at issue time.
    pub role: Role,
    /// Token id.
    pub jti: String,
    /// Expiry (unix seconds).
    pub exp: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Forged, malformed, foreign or otherwise unacceptable.
    #[error("invalid token")]
    Invalid,
    /// Genuine but past its expiry.
    #[error("token expired")]
    Expired,
}

struct Ring {
    active_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
    refresh_secret: Zeroizing<Vec<u8>>,
    /// Tokens this ring's keys verified: a new ring (rotation, retirement) starts empty.
    verified: VerifiedCache,
}

/// Most verified tokens remembered; then expired ones are swept, and if that is not enough
/// the cache starts over. Only tokens with a valid signature get in, and each costs a login,
/// so a flood of garbage cannot fill it.
const VERIFIED_CACHE_MAX: usize = 16_384;

/// What a successful verification established about one exact token, kept so that a token
/// presented again costs a SHA-256 and a map lookup instead of a signature check (~45 µs for
/// EdDSA). Keyed by the SHA-256 of the whole token text: a lookup compares digests, never
/// the token itself, so probing the cache tells nothing about the tokens in it, and any
/// change to the token (header, claims or signature) is a miss that goes through full
/// verification. The time-dependent checks (`exp`, `nbf`, `iat`) are made again on every
/// hit.
#[derive(Default)]
struct VerifiedCache(Mutex<HashMap<[u8; 32], CachedAccess>>);

#[derive(Clone)]
struct CachedAccess {
    access: VerifiedAccess,
    nbf: u64,
    iat: u64,
}

impl VerifiedCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], CachedAccess>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, digest: &[u8; 32]) -> Option<CachedAccess> {
        self.lock().get(digest).cloned()
    }

    fn put(&self, digest: [u8; 32], entry: CachedAccess, now_unix: u64, leeway: u64) {
        let mut map = self.lock();
        if map.len() >= VERIFIED_CACHE_MAX {
            map.retain(|_, e| e.access.exp.saturating_add(leeway) >= now_unix);
            if map.len() >= VERIFIED_CACHE_MAX {
                map.clear();
            }
        }
        map.insert(digest, entry);
    }
}

/// Issues and verifies tokens with the current key ring. The ring can be swapped while the
/// server runs ([`TokenService::install`]); in-flight verifications keep the ring they
/// started with.
pub struct TokenService {
    settings: TokenSettings,
    validation: Validation,
    ring: RwLock<Arc<Ring>>,
}

/// Why a ring cannot be used with the configured algorithm.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RingMismatch(pub String);

fn jose_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::EdDSA => Algorithm::EdDSA,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::HS256 => Algorithm::HS256,
    }
}

fn build_ring(settings: &TokenSettings, file: &KeyRingFile) -> Result<Ring, RingMismatch> {
    let active = file
        .active_key()
        .ok_or_else(|| RingMismatch("the ring has no active key".into()))?;
    if active.alg != settings.alg {
        return Err(RingMismatch(format!(
            "the active key {} is {} but tokens.algorithm is {}; run `rampart keys rotate`",
            active.kid,
            active.alg.as_str(),
            settings.alg.as_str()
        )));
    }
    let der = active.private_bytes().map_err(RingMismatch)?;
    let signing = match active.alg {
        SigningAlg::EdDSA => EncodingKey::from_ed_der(&der),
        SigningAlg::ES256 => EncodingKey::from_ec_der(&der),
        SigningAlg::HS256 => EncodingKey::from_secret(&der),
    };
    let mut verifying = HashMap::new();
    let mut jwks = Vec::new();
    // Only keys of the configured algorithm verify: a ring left with keys of another
    // algorithm after a switch cannot be used to smuggle that algorithm back in.
    for key in file.keys.iter().filter(|k| k.alg == settings.alg) {
        let decoding = match key.alg {
            SigningAlg::HS256 => {
                DecodingKey::from_secret(&key.private_bytes().map_err(RingMismatch)?)
            }
            SigningAlg::EdDSA => {
                let public = key
                    .public_bytes()
                    .map_err(RingMismatch)?
                    .unwrap_or_default();
                jwks.push(serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                    "kid": key.kid, "x": B64.encode(&public),
                }));
                DecodingKey::from_ed_der(&public)
            }
            SigningAlg::ES256 => {
                let public = key
                    .public_bytes()
                    .map_err(RingMismatch)?
                    .unwrap_or_default();
                // Uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
                if public.len() != 65 {
                    return Err(RingMismatch(format!(
                        "key {} has a bad public point",
                        key.kid
                    )));
                }
                jwks.push(serde_json::json!({
                    "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
                    "kid": key.kid, "x": B64.encode(&public[1..33]), "y": B64.encode(&public[33..]),
                }));
                DecodingKey::from_ec_der(&public)
            }
        };
        verifying.insert(key.kid.clone(), decoding);
    }
    Ok(Ring {
        active_kid: active.kid.clone(),
        signing,
        verifying,
        jwks: serde_json::json!({ "keys": jwks }),
        refresh_secret: file.refresh_secret_bytes(),
        verified: VerifiedCache::default(),
    })
}

impl TokenService {
    /// Builds the service from settings and a loaded ring.
    pub fn new(settings: TokenSettings, file: &KeyRingFile) -> Result<Self, RingMismatch> {
        let ring = build_ring(&settings, file)?;
        let mut validation = Validation::new(jose_alg(settings.alg));
        validation.leeway = settings.leeway_secs.min(MAX_LEEWAY_SECS);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Ok(Self {
            settings,
            validation,
            ring: RwLock::new(Arc::new(ring)),
        })
    }

    /// Replaces the ring (after `rampart keys rotate` or `retire`).
    pub fn install(&self, file: &KeyRingFile) -> Result<(), RingMismatch> {
        let ring = Arc::new(build_ring(&self.settings, file)?);
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = ring;
        Ok(())
    }

    fn ring(&self) -> Arc<Ring> {
        Arc::clone(&self.ring.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The settings in force.
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// The kid that signs new tokens.
    pub fn active_kid(&self) -> String {
        self.ring().active_kid.clone()
    }

    /// The public JWKS document (empty for HS256).
    pub fn jwks(&self) -> serde_json::Value {
        self.ring().jwks.clone()
    }

    /// Issues an access token for a session. Returns the token and its lifetime in seconds.
    pub fn issue(
        &self,
        user: UserId,
        session: SessionId,
        role: Role,
        now_unix: u64,
    ) -> Result<(String, u64), jsonwebtoken::errors::Error> {
        let ring = self.ring();
        let mut header = Header::new(jose_alg(self.settings.alg));
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(ring.active_kid.clone());
        let ttl = self.settings.access_ttl_secs;
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: user.to_text(),
            exp: now_unix + ttl,
            iat: now_unix,
            nbf: now_unix,
            jti: B64.encode(jti),
            sid: session.to_text(),
            role: role.as_str().into(),
        };
        let token = jsonwebtoken::encode(&header, &claims, &ring.signing)?;
        Ok((token, ttl))
    }

    /// Verifies an access token. Revocation is not checked here (that needs the store); the
    /// caller checks `session_id`.
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<VerifiedAccess, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let ring = self.ring();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let leeway = self.validation.leeway;
        if let Some(hit) = ring.verified.get(&digest) {
            // The same checks, in the same order and with the same answers, that decoding
            // and the lifetime check below made when the token first came.
            if hit.access.exp.saturating_add(leeway) < now_unix {
                return Err(TokenError::Expired);
            }
            if hit.nbf > now_unix + leeway || hit.iat > now_unix + leeway {
                return Err(TokenError::Invalid);
            }
            return Ok(hit.access);
        }
        // An unknown `alg` (including every spelling of "none") fails to parse here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != jose_alg(self.settings.alg) {
            return Err(TokenError::Invalid);
        }
        if header
            .typ
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
            != Some(ACCESS_TOKEN_TYP)
        {
            return Err(TokenError::Invalid);
        }
        if header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
            || header.crit.is_some()
        {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.as_deref().ok_or(TokenError::Invalid)?;
        if !is_well_formed_kid(kid) {
            return Err(TokenError::Invalid);
        }
        let key = ring.verifying.get(kid).ok_or(TokenError::Invalid)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            },
        )?;
        let claims = data.claims;
        // Checks the library does not make: issued in the future, or a lifetime longer than
        // this server ever issues.
        if claims.iat > now_unix + leeway
            || claims.exp.saturating_sub(claims.iat) > self.settings.access_ttl_secs
        {
            return Err(TokenError::Invalid);
        }
        if claims.jti.is_empty() || claims.jti.len() > 64 {
            return Err(TokenError::Invalid);
        }
        let access = VerifiedAccess {
            user_id: UserId::parse(&claims.sub).map_err(|_| TokenError::Invalid)?,
            session_id: SessionId::parse(&claims.sid).map_err(|_| TokenError::Invalid)?,
            role: Role::parse(&claims.role).map_err(|_| TokenError::Invalid)?,
            jti: claims.jti,
            exp: claims.exp,
        };
        let entry = CachedAccess {
            access: access.clone(),
            nbf: claims.nbf,
            iat: claims.iat,
        };
        ring.verified.put(digest, entry, now_unix, leeway);
        Ok(access)
    }

    /// The key that signs device cookies (see `lockout::DeviceCookie`), derived from the ring's
    /// refresh secret under its own label so that no two uses share a key.
    pub fn device_cookie_key(&self) -> Zeroizing<Vec<u8>> {
        let ring = self.ring();
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(&ring.refresh_secret)
            .expect("HMAC accepts keys of any length");
        mac.update(b"rampart device cookie key v1\0");
        Zeroizing::new(mac.finalize().into_bytes().to_vec())
    }

    /// The successor of a refresh token: HMAC-SHA-256 under the ring's refresh secret.
    ///
    /// Deriving (rather than drawing) the successor lets two concurrent refreshes of one
    /// token, in any server process, hand out the same successor inside the grace window
    /// without the raw successor ever being stored.
    pub fn refresh_successor(&self, presented: &RefreshToken) -> RefreshToken {
        let ring = self.ring();
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(&ring.refresh_secret)
            .expect("HMAC accepts keys of any length");
        mac.update(b"rampart refresh successor v1\0");
        mac.update(presented.0.as_bytes());
        RefreshToken(B64.encode(mac.finalize().into_bytes()))
    }
}

/// An opaque refresh token: 256 random bits, base64url. Only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(&mut *bytes);
        Self(B64.encode(*bytes))
    }

    /// Parses a presented token (from the cookie). Anything that is not 32 bytes of base64url
    /// is refused without a lookup.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() != 43 {
            return None;
        }
        let bytes = B64.decode(raw.as_bytes()).ok()?;
        (bytes.len() == 32).then(|| Self(raw.to_owned()))
    }

    /// The value to send to the client (cookie only).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The stored form: hex SHA-256. A plain hash suffices because the token is 256 random
    /// bits; no dictionary exists to attack it with.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(alg: SigningAlg) -> (TokenService, KeyRingFile) {
        let ring = KeyRingFile::generate(alg, 0);
        let settings = TokenSettings {
            alg,
            issuer: "https://issuer.test".into(),
            audience: "rampart-test".into(),
            access_ttl_secs: 900,
            leeway_secs: 30,
        };
        (TokenService::new(settings, &ring).unwrap(), ring)
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn issue_then_verify_each_algorithm() {
        for alg in [SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::HS256] {
            let (svc, _) = service(alg);
            let (user, sid) = (UserId::new(), SessionId::new());
            let (token, ttl) = svc.issue(user, sid, Role::User, now()).unwrap();
            assert_eq!(ttl, 900);
            let v = svc.verify(&token, now()).unwrap();
            assert_eq!((v.user_id, v.session_id, v.role), (user, sid, Role::User));
        }
    }

    #[test]
    fn expired_is_distinguished_from_forged() {
        let (svc, _) = service(SigningAlg::EdDSA);
        let long_ago = now() - 3600;
        let (token, _) = svc
            .issue(UserId::new(), SessionId::new(), Role::User, long_ago)
            .unwrap();
        assert_eq!(svc.verify(&token, now()), Err(TokenError::Expired));
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(svc.verify(&forged, now()), Err(TokenError::Invalid));
    }

    #[test]
    fn other_rings_tokens_are_refused() {
        let (a, _) = service(SigningAlg::EdDSA);
        let (b, _) = service(SigningAlg::EdDSA);
        let (token, _) = a
            .issue(UserId::new(), SessionId::new(), Role::Admin, now())
            .unwrap();
        assert_eq!(b.verify(&token, now()), Err(TokenError::Invalid));
    }

    #[test]
    fn rotation_keeps_old_keys_verifying_until_retired() {
        let (svc, mut ring) = service(SigningAlg::EdDSA);
        let (old, _) = svc
            .issue(UserId::new(), SessionId::new(), Role::User, now())
            .unwrap();
        let first = ring.active.clone();
        ring.rotate(SigningAlg::EdDSA, 1);
        svc.install(&ring).unwrap();
        assert!(svc.verify(&old, now()).is_ok());
        assert_eq!(svc.jwks()["keys"].as_array().unwrap().len(), 2);
        ring.retire(&first).unwrap();
        svc.install(&ring).unwrap();
        assert_eq!(svc.verify(&old, now()), Err(TokenError::Invalid));
    }

    #[test]
    fn a_remembered_token_is_still_checked_for_time_and_tampering() {
        let (svc, _) = service(SigningAlg::EdDSA);
        let t0 = now();
        // Issued 890 s ago with a 900 s lifetime: 10 s left, 30 s of leeway.
        let (token, _) = svc
            .issue(UserId::new(), SessionId::new(), Role::User, t0 - 890)
            .unwrap();
        let first = svc.verify(&token, t0).unwrap();
        assert_eq!(svc.ring().verified.lock().len(), 1);
        // Presented again: answered from the cache, with the same claims...
        assert_eq!(svc.verify(&token, t0), Ok(first));
        // ...and still expiring on time (exp + leeway), as a first verification would.
        assert!(svc.verify(&token, t0 + 40).is_ok());
        assert_eq!(svc.verify(&token, t0 + 41), Err(TokenError::Expired));
        // A clock that says the token is not yet valid refuses it.
        assert_eq!(svc.verify(&token, t0 - 890 - 31), Err(TokenError::Invalid));
        // Any change to a remembered token is a miss and fails full verification.
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(svc.verify(&forged, t0), Err(TokenError::Invalid));
        assert_eq!(
            svc.ring().verified.lock().len(),
            1,
            "failures are never kept"
        );
    }

    #[test]
    fn the_verified_cache_is_bounded() {
        let cache = VerifiedCache::default();
        let entry = |exp| CachedAccess {
            access: VerifiedAccess {
                user_id: UserId::new(),
                session_id: SessionId::new(),
                role: Role::User,
                jti: "j".into(),
                exp,
            },
            nbf: 0,
            iat: 0,
        };
        let key = |i: usize| {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_le_bytes());
            k
        };
        // Full of expired tokens: they are swept, the live ones stay.
        for i in 0..VERIFIED_CACHE_MAX {
            cache.put(key(i), entry(if i < 10 { 2000 } else { 100 }), 1000, 30);
        }
        assert_eq!(cache.lock().len(), 10 + (VERIFIED_CACHE_MAX - 10));
        cache.put(key(VERIFIED_CACHE_MAX), entry(2000), 1000, 30);
        assert_eq!(cache.lock().len(), 11);
        // Full of live tokens: it starts over rather than grow.
        for i in 0..VERIFIED_CACHE_MAX {
            cache.put(key(i), entry(2000), 1000, 30);
        }
        assert!(cache.lock().len() <= VERIFIED_CACHE_MAX);
        cache.put(key(usize::MAX), entry(2000), 1000, 30);
        assert!(cache.lock().len() <= VERIFIED_CACHE_MAX);
    }

    #[test]
    fn refresh_tokens() {
        let t = RefreshToken::generate();
        assert_eq!(RefreshToken::parse(t.expose()), Some(t.clone()));
        assert_ne!(RefreshToken::generate(), t);
        assert!(RefreshToken::parse("short").is_none());
        assert!(RefreshToken::parse(&"!".repeat(43)).is_none());
        let (svc, _) = service(SigningAlg::EdDSA);
        assert_eq!(svc.refresh_successor(&t), svc.refresh_successor(&t));
        assert_ne!(svc.refresh_successor(&t), t);
        assert_eq!(t.hash().len(), 64);
    }
}
