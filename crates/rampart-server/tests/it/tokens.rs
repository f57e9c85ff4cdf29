//! Forged, tampered and foreign access tokens: every variant must be refused with 401
//! `invalid_token` (or `token_expired` for a genuine expired token), never accepted.

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rampart_core::keys::{KeyRingFile, SigningAlg};
use serde_json::{Value, json};

use crate::helpers::*;

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

struct Forge {
    app: TestApp,
    ring: KeyRingFile,
    claims: Value,
    access: String,
}

impl Forge {
    async fn new() -> Self {
        let app = spawn_app().await;
        let (_, access, _) = app.user("victim@example.com").await;
        let ring = KeyRingFile::load(&app.dir.path().join("keys.json")).unwrap();
        let payload = access.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
        Self {
            app,
            ring,
            claims,
            access,
        }
    }

    fn kid(&self) -> String {
        self.ring.active.clone()
    }

    /// Signs `claims` with the server's own active key and the given header.
    fn sign_ours(&self, header: &Header, claims: &Value) -> String {
        let key = self.ring.active_key().unwrap();
        let der = key.private_bytes().unwrap();
        jsonwebtoken::encode(header, claims, &EncodingKey::from_ed_der(&der)).unwrap()
    }

    fn our_header(&self) -> Header {
        let mut h = Header::new(Algorithm::EdDSA);
        h.typ = Some("at+jwt".into());
        h.kid = Some(self.kid());
        h
    }

    async fn status_of(&self, token: &str) -> TestResponse {
        self.app.send(Req::get("/api/users/me").bearer(token)).await
    }

    #[track_caller]
    fn expect_refused(&self, res: &TestResponse, what: &str) {
        assert_eq!(res.status, 401, "{what} was not refused");
        assert_eq!(res.json()["error"], "invalid_token", "{what}");
    }
}

fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string()),
        signature
    )
}

fn attacker_key() -> (Vec<u8>, Vec<u8>) {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    use aws_lc_rs::signature::KeyPair;
    (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
}

#[tokio::test]
async fn genuine_token_is_accepted() {
    let f = Forge::new().await;
    let res = f.status_of(&f.access).await;
    assert_eq!(res.status, 200);
    // And a token we sign ourselves with the same claims passes too: the forgery tests below
    // differ from this only in what they forge.
    let res = f.status_of(&f.sign_ours(&f.our_header(), &f.claims)).await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn alg_none_in_every_capitalisation_is_refused() {
    let f = Forge::new().await;
    let signature = f.access.split('.').nth(2).unwrap().to_owned();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": f.kid()});
        for sig in ["", signature.as_str()] {
            let token = raw_token(&header, &f.claims, sig);
            f.expect_refused(&f.status_of(&token).await, &format!("alg {alg}"));
        }
    }
}

#[tokio::test]
async fn hmac_signed_with_the_public_key_is_refused() {
    let f = Forge::new().await;
    let public = f
        .ring
        .active_key()
        .unwrap()
        .public_bytes()
        .unwrap()
        .unwrap();
    let jwks = f.app.send(Req::get("/.well-known/jwks.json")).await.json();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    for secret in [
        public.clone(),
        x.into_bytes(),
        jwks.to_string().into_bytes(),
    ] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.typ = Some("at+jwt".into());
            header.kid = Some(f.kid());
            let token =
                jsonwebtoken::encode(&header, &f.claims, &EncodingKey::from_secret(&secret))
                    .unwrap();
            f.expect_refused(&f.status_of(&token).await, &format!("{alg:?} confusion"));
        }
    }
}

#[tokio::test]
async fn foreign_signatures_and_unknown_kids_are_refused() {
    let f = Forge::new().await;
    let (attacker_pkcs8, _) = attacker_key();
    let attacker = EncodingKey::from_ed_der(&attacker_pkcs8);
    for kid in [
        f.kid(),
        "AAAAAAAAAAAAAAAA".to_owned(),
        "../../../../dev/null".to_owned(),
        "keys.json".to_owned(),
        "x' UNION SELECT 'secret".to_owned(),
        "' OR '1'='1".to_owned(),
        String::new(),
    ] {
        let mut header = f.our_header();
        header.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(&header, &f.claims, &attacker).unwrap();
        f.expect_refused(
            &f.status_of(&token).await,
            &format!("foreign key, kid {kid:?}"),
        );
    }
    // No kid at all, even with our own key.
    let mut header = f.our_header();
    header.kid = None;
    f.expect_refused(
        &f.status_of(&f.sign_ours(&header, &f.claims)).await,
        "missing kid",
    );
}

#[tokio::test]
async fn key_bringing_headers_are_refused() {
    let f = Forge::new().await;
    let (attacker_pkcs8, attacker_public) = attacker_key();
    let attacker = EncodingKey::from_ed_der(&attacker_pkcs8);
    let jwk =
        json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(&attacker_public), "kid": f.kid()});
    let variants = [
        ("jwk", jwk.clone()),
        ("jku", json!("https://evil.example/jwks.json")),
        ("x5u", json!("https://evil.example/cert.pem")),
        ("x5c", json!(["MIIBIjANBgkq"])),
    ];
    for (name, value) in variants {
        let mut header = serde_json::to_value(f.our_header()).unwrap();
        header[name] = value;
        // Signed by the attacker (the header points at their key) ...
        let header: Header = serde_json::from_value(header).unwrap();
        let token = jsonwebtoken::encode(&header, &f.claims, &attacker).unwrap();
        f.expect_refused(
            &f.status_of(&token).await,
            &format!("{name} (attacker key)"),
        );
        // ... and even signed with our own key: we never honour such headers.
        let token = f.sign_ours(&header, &f.claims);
        f.expect_refused(&f.status_of(&token).await, &format!("{name} (our key)"));
    }
}

#[tokio::test]
async fn stripped_and_tampered_tokens_are_refused() {
    let f = Forge::new().await;
    let parts: Vec<&str> = f.access.split('.').collect();
    let stripped = format!("{}.{}.", parts[0], parts[1]);
    f.expect_refused(&f.status_of(&stripped).await, "stripped signature");
    let two_parts = format!("{}.{}", parts[0], parts[1]);
    f.expect_refused(&f.status_of(&two_parts).await, "two-part token");

    let mut admin = f.claims.clone();
    admin["role"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(admin.to_string()),
        parts[2]
    );
    f.expect_refused(&f.status_of(&tampered).await, "tampered role");

    let mut other = f.claims.clone();
    other["sub"] = json!(uuid::Uuid::now_v7().to_string());
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(other.to_string()),
        parts[2]
    );
    f.expect_refused(&f.status_of(&tampered).await, "tampered subject");

    for junk in [
        "",
        "a",
        "a.b.c",
        "....",
        &"A".repeat(5000),
        "Bearer",
        "null",
    ] {
        f.expect_refused(&f.status_of(junk).await, &format!("junk {junk:.20?}"));
    }
}

#[tokio::test]
async fn wrong_issuer_audience_type_and_claim_types_are_refused() {
    let f = Forge::new().await;
    let header = f.our_header();
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut c = f.claims.clone();
    c["iss"] = json!("https://evil.example");
    cases.push(("foreign issuer", c));
    let mut c = f.claims.clone();
    c["aud"] = json!("another-api");
    cases.push(("foreign audience", c));
    let mut c = f.claims.clone();
    c["aud"] = json!(["another-api"]);
    cases.push(("foreign audience list", c));
    let mut c = f.claims.clone();
    c.as_object_mut().unwrap().remove("exp");
    cases.push(("missing exp", c));
    let mut c = f.claims.clone();
    c.as_object_mut().unwrap().remove("nbf");
    cases.push(("missing nbf", c));
    let mut c = f.claims.clone();
    c["exp"] = json!(format!("{}", now() + 600));
    cases.push(("exp as a string", c));
    let mut c = f.claims.clone();
    c["nbf"] = json!(now() + 3600);
    cases.push(("not yet valid", c));
    let mut c = f.claims.clone();
    c["iat"] = json!(now() + 3600);
    c["nbf"] = json!(now() - 10);
    cases.push(("issued in the future", c));
    let mut c = f.claims.clone();
    c["exp"] = json!(now() + 30 * 24 * 3600);
    cases.push(("lifetime longer than ever issued", c));
    let mut c = f.claims.clone();
    c["role"] = json!("root");
    cases.push(("unknown role", c));
    let mut c = f.claims.clone();
    c["sid"] = json!(uuid::Uuid::now_v7().to_string());
    cases.push(("unknown session", c));
    for (what, claims) in &cases {
        f.expect_refused(&f.status_of(&f.sign_ours(&header, claims)).await, what);
    }
    for typ in [None, Some("JWT"), Some("jwt"), Some("id+jwt")] {
        let mut h = f.our_header();
        h.typ = typ.map(str::to_owned);
        f.expect_refused(
            &f.status_of(&f.sign_ours(&h, &f.claims)).await,
            &format!("typ {typ:?}"),
        );
    }
}

#[tokio::test]
async fn expired_token_is_token_expired_but_leeway_is_at_most_30s() {
    let f = Forge::new().await;
    let header = f.our_header();
    let mut c = f.claims.clone();
    c["iat"] = json!(now() - 1000);
    c["nbf"] = json!(now() - 1000);
    c["exp"] = json!(now() - 100);
    let res = f.status_of(&f.sign_ours(&header, &c)).await;
    res.assert_error(401, "token_expired");
    assert!(
        res.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    // Inside the 30 s leeway the token still works.
    c["iat"] = json!(now() - 900);
    c["nbf"] = json!(now() - 900);
    c["exp"] = json!(now() - 10);
    assert_eq!(f.status_of(&f.sign_ours(&header, &c)).await.status, 200);
}

#[tokio::test]
async fn tokens_are_read_only_from_the_authorization_header() {
    let f = Forge::new().await;
    let res = f
        .app
        .send(Req::get(&format!(
            "/api/users/me?access_token={}",
            f.access
        )))
        .await;
    res.assert_error(401, "unauthorized");
    let res = f
        .app
        .send(Req::get("/api/users/me").header("cookie", &format!("access_token={}", f.access)))
        .await;
    res.assert_error(401, "unauthorized");
    for header in [
        format!("Basic {}", f.access),
        format!("Token {}", f.access),
        f.access.clone(),
    ] {
        let res = f
            .app
            .send(Req::get("/api/users/me").header("authorization", &header))
            .await;
        res.assert_error(401, "invalid_token");
    }
    let res = f
        .app
        .send(
            Req::get("/api/users/me")
                .bearer(&f.access)
                .bearer(&f.access),
        )
        .await;
    res.assert_error(401, "invalid_token");
}

#[tokio::test]
async fn tokens_of_another_server_are_refused() {
    let a = spawn_app().await;
    let b = spawn_app().await;
    let (_, token, _) = a.user("someone@example.com").await;
    let res = b.send(Req::get("/api/users/me").bearer(&token)).await;
    res.assert_error(401, "invalid_token");
}

#[tokio::test]
async fn jwks_publishes_only_public_keys() {
    let app = spawn_app().await;
    let res = app.send(Req::get("/.well-known/jwks.json")).await;
    assert_eq!(res.status, 200);
    let jwks = res.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = keys[0].as_object().unwrap();
    let mut names: Vec<&str> = key.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["alg", "crv", "kid", "kty", "use", "x"]);
    assert!(!res.body.windows(7).any(|w| w == b"private"));

    let hs = spawn_app_with(|raw| raw.tokens.algorithm = "HS256".into()).await;
    let jwks = hs.send(Req::get("/.well-known/jwks.json")).await.json();
    assert_eq!(jwks, json!({"keys": []}));
    // HS256 end to end.
    let (_, token, _) = hs.user("hs@example.com").await;
    assert_eq!(
        hs.send(Req::get("/api/users/me").bearer(&token))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn es256_end_to_end_and_other_algorithms_refused() {
    let app = spawn_app_with(|raw| raw.tokens.algorithm = "ES256".into()).await;
    let (_, token, _) = app.user("es@example.com").await;
    assert_eq!(
        app.send(Req::get("/api/users/me").bearer(&token))
            .await
            .status,
        200
    );
    let jwks = app.send(Req::get("/.well-known/jwks.json")).await.json();
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    // An EdDSA server refuses this ES256 token even though its ring could hold one.
    let other = spawn_app().await;
    other
        .send(Req::get("/api/users/me").bearer(&token))
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn rotation_keeps_old_tokens_until_retired_and_is_picked_up_live() {
    let app = spawn_app().await;
    let (_, old_token, _) = app.user("rot@example.com").await;
    let path = app.dir.path().join("keys.json");
    let watcher =
        rampart_server::app::spawn_key_ring_watcher(app.state.clone(), Duration::from_millis(50));

    let mut ring = KeyRingFile::load(&path).unwrap();
    let first = ring.active.clone();
    let second = ring.rotate(SigningAlg::EdDSA, 1);
    ring.save(&path).unwrap();
    // The running server notices the file change (bounded wait).
    let mut picked_up = false;
    for _ in 0..100 {
        if app.state.tokens.active_kid() == second {
            picked_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(picked_up, "rotation was not picked up");
    let jwks = app.send(Req::get("/.well-known/jwks.json")).await.json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    // Old token still verifies; new logins are signed with the new key.
    assert_eq!(
        app.send(Req::get("/api/users/me").bearer(&old_token))
            .await
            .status,
        200
    );
    let (new_token, _) = app.login("rot@example.com").await;
    let header = jsonwebtoken::decode_header(&new_token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(second.as_str()));

    ring.retire(&first).unwrap();
    ring.save(&path).unwrap();
    let mut retired = false;
    for _ in 0..100 {
        let res = app.send(Req::get("/api/users/me").bearer(&old_token)).await;
        if res.status == 401 {
            res.assert_error(401, "invalid_token");
            retired = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        retired,
        "retired key still verifies; jwks now {}",
        app.state.tokens.jwks()
    );
    assert_eq!(
        app.send(Req::get("/api/users/me").bearer(&new_token))
            .await
            .status,
        200
    );
    watcher.abort();
}
