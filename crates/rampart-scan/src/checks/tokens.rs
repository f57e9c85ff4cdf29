//! Row 1 (token verification) and row 2 (token lifetime), given a genuine access token.
//!
//! Forgeries are derived from the genuine token and sent to an endpoint that accepts it and
//! refuses anonymous requests (`--auth-path`): every forgery must be refused. None of them can
//! harm the target: each is one read with a token that should not verify.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{evidence, finding};
use crate::client::{Client, ClientError, Probe};
use crate::report::{CheckResult, Severity, Status};

/// Id of the forgery check.
pub const FORGERY_ID: &str = "tokens.forgery";
/// Its title.
pub const FORGERY_TITLE: &str = "Forged and altered tokens are refused";
/// Id of the lifetime check.
pub const LIFETIME_ID: &str = "tokens.lifetime";
/// Its title.
pub const LIFETIME_TITLE: &str = "Access tokens live 15 minutes or less";

/// The longest access-token lifetime row 2 allows.
const MAX_LIFETIME_SECS: i64 = 15 * 60;

/// A few HMAC secrets that turn up in tutorials and defaults.
const COMMON_SECRETS: &[&str] = &[
    "secret",
    "secretkey",
    "your-256-bit-secret",
    "changeme",
    "jwt_secret",
    "supersecret",
    "password",
    "123456",
    "key",
    "shhhhh",
];

/// A JWT split into its decoded header and payload, and its signing input.
struct Parts {
    header: Value,
    payload: Value,
    signature: String,
}

fn split(token: &str) -> Option<Parts> {
    let mut it = token.split('.');
    let (h, p, s) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let decode = |part: &str| -> Option<Value> {
        serde_json::from_slice(&B64.decode(part.trim_end_matches('=')).ok()?).ok()
    };
    Some(Parts {
        header: decode(h)?,
        payload: decode(p)?,
        signature: s.to_owned(),
    })
}

fn encode(value: &Value) -> String {
    B64.encode(value.to_string())
}

fn hs256(header: &Value, payload: &Value, key: &[u8]) -> String {
    let input = format!("{}.{}", encode(header), encode(payload));
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return input;
    };
    mac.update(input.as_bytes());
    format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
}

/// Forgeries of `token`: (what was done, the forged token).
fn forgeries(token: &str, jwks_keys: &[Vec<u8>]) -> Vec<(String, String)> {
    let Some(parts) = split(token) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let with_header = |change: &dyn Fn(&mut Value)| {
        let mut h = parts.header.clone();
        change(&mut h);
        h
    };
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = with_header(&|h| h["alg"] = json!(alg));
        out.push((
            format!("alg {alg:?}, no signature"),
            format!("{}.{}.", encode(&h), encode(&parts.payload)),
        ));
    }
    out.push((
        "signature stripped".into(),
        format!("{}.{}.", encode(&parts.header), encode(&parts.payload)),
    ));
    let mut tampered = parts.payload.clone();
    tampered["sub"] = json!("00000000-0000-0000-0000-000000000000");
    tampered["role"] = json!("admin");
    out.push((
        "payload altered (sub, role), signature kept".into(),
        format!(
            "{}.{}.{}",
            encode(&parts.header),
            encode(&tampered),
            parts.signature
        ),
    ));
    let kid = with_header(&|h| {
        h["kid"] = json!("../../../../../../dev/null");
        h["alg"] = json!("HS256");
    });
    out.push((
        "kid pointing at /dev/null, HS256 with an empty key".into(),
        hs256(&kid, &parts.payload, b""),
    ));
    let jku = with_header(&|h| h["jku"] = json!("https://rampart-scan.invalid/jwks.json"));
    out.push((
        "jku header naming a foreign key set".into(),
        format!(
            "{}.{}.{}",
            encode(&jku),
            encode(&parts.payload),
            parts.signature
        ),
    ));
    let own_key = b"rampart-scan embedded key, not the server's";
    let jwk = with_header(&|h| {
        h["alg"] = json!("HS256");
        h["jwk"] = json!({"kty": "oct", "k": B64.encode(own_key)});
    });
    out.push((
        "embedded jwk header with the attacker's own HMAC key".into(),
        hs256(&jwk, &parts.payload, own_key),
    ));
    let hs = with_header(&|h| h["alg"] = json!("HS256"));
    for key in jwks_keys {
        out.push((
            "HS256 signed with the server's published public key (algorithm confusion)".into(),
            hs256(&hs, &parts.payload, key),
        ));
    }
    for secret in COMMON_SECRETS {
        out.push((
            format!("HS256 signed with the common secret {secret:?}"),
            hs256(&hs, &parts.payload, secret.as_bytes()),
        ));
    }
    out
}

/// The public keys a JWKS publishes, as raw bytes (the `x` of OKP/EC keys, `n` of RSA).
fn jwks_key_bytes(jwks: &Value) -> Vec<Vec<u8>> {
    jwks["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k["x"].as_str().or(k["n"].as_str()))
                .filter_map(|v| B64.decode(v).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The lifetime a token claims: `exp - iat`, when both are numbers.
fn lifetime(token: &str) -> Option<i64> {
    let p = split(token)?.payload;
    Some(p["exp"].as_i64()? - p["iat"].as_i64()?)
}

/// Row 2 from the token alone.
pub fn check_lifetime(token: Option<&str>) -> CheckResult {
    let mut result = CheckResult {
        id: LIFETIME_ID,
        row: 2,
        title: LIFETIME_TITLE,
        status: Status::NotApplicable,
        severity: Severity::Critical,
        findings: Vec::new(),
        note: None,
    };
    let Some(token) = token else {
        result.note = Some("no token given (--token-a)".into());
        return result;
    };
    match lifetime(token) {
        None => result.note = Some("the token is not a JWT with numeric iat and exp".into()),
        Some(secs) if secs <= MAX_LIFETIME_SECS => result.status = Status::Pass,
        Some(secs) => {
            result.status = Status::Fail;
            result.findings.push(finding(
                format!("the access token lives {secs} seconds ({} minutes)", secs / 60),
                crate::report::Evidence {
                    request: "(the token given with --token-a)".into(),
                    response: format!("exp - iat = {secs}"),
                },
                "Issue access tokens for 15 minutes or less; keep sessions alive with rotating refresh tokens",
            ));
        }
    }
    result
}

/// Row 1: the genuine token must be accepted at `auth_path` and every forgery refused.
pub async fn check_forgery(
    client: &Client,
    token: Option<&str>,
    auth_path: &str,
) -> Result<CheckResult, ClientError> {
    let mut result = CheckResult {
        id: FORGERY_ID,
        row: 1,
        title: FORGERY_TITLE,
        status: Status::NotApplicable,
        severity: Severity::Critical,
        findings: Vec::new(),
        note: None,
    };
    let Some(token) = token else {
        result.note = Some("no token given (--token-a)".into());
        return Ok(result);
    };
    let bearer = |t: &str| Probe::get(auth_path).header("authorization", &format!("Bearer {t}"));
    let genuine = client.send(bearer(token)).await?;
    let anonymous = client.send(Probe::get(auth_path)).await?;
    if !genuine.status.is_success() || anonymous.status.is_success() {
        result.note = Some(format!(
            "{auth_path} answers {} with the token and {} without: choose --auth-path, a route \
             that needs the token",
            genuine.status.as_u16(),
            anonymous.status.as_u16()
        ));
        return Ok(result);
    }
    let jwks = client.send(Probe::get("/.well-known/jwks.json")).await?;
    let keys = if jwks.status.is_success() {
        serde_json::from_str(&jwks.body)
            .map(|v| jwks_key_bytes(&v))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let forged = forgeries(token, &keys);
    if forged.is_empty() {
        result.note = Some("the token is not a JWT: nothing to forge".into());
        return Ok(result);
    }
    for (what, forgery) in forged {
        let x = client.send(bearer(&forgery)).await?;
        if x.status.is_success() {
            result.findings.push(finding(
                format!("accepted a forged token: {what}"),
                evidence(&x, "(the forged token was accepted)"),
                "Verify with a pinned algorithm and your own keys only; ignore jku/jwk/x5u; require a valid signature, iss, aud, exp",
            ));
        }
    }
    result.status = if result.findings.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: Value) -> String {
        hs256(&json!({"alg": "HS256", "typ": "JWT"}), &payload, b"secret")
    }

    #[test]
    fn forgeries_keep_the_claims_and_change_what_they_say() {
        let t = token(json!({"sub": "u1", "iat": 0, "exp": 900}));
        let forged = forgeries(&t, &[b"public".to_vec()]);
        assert!(forged.len() >= 10 + COMMON_SECRETS.len());
        for (what, f) in &forged {
            assert!(split(f).is_some(), "{what}: {f}");
        }
        // The common secret that signed it yields exactly the genuine token.
        assert!(forged.iter().any(|(_, f)| f == &t));
        assert!(forgeries("not a jwt", &[]).is_empty());
    }

    #[test]
    fn lifetime_is_exp_minus_iat() {
        assert_eq!(
            check_lifetime(Some(&token(json!({"iat": 10, "exp": 910})))).status,
            Status::Pass
        );
        let long = check_lifetime(Some(&token(json!({"iat": 0, "exp": 86_400}))));
        assert_eq!(long.status, Status::Fail);
        assert_eq!(check_lifetime(Some("opaque")).status, Status::NotApplicable);
        assert_eq!(check_lifetime(None).status, Status::NotApplicable);
    }
}
