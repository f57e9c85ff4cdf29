//! `/api/auth/*` and `/api/users/me` under attack: mass assignment, type confusion, account
//! enumeration, cookie handling, refresh-token rotation and reuse, cross-site refresh,
//! logout and session revocation, and role changes that must bite without a re-login.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------
// Small helpers local to this file.

/// Every `Set-Cookie` header of a response.
fn set_cookies(res: &TestResponse) -> Vec<String> {
    res.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The session id (`sid` claim) inside an access token. Read without verification: the
/// tests only need to know which session a token belongs to.
fn session_of(access: &str) -> String {
    let payload = access.split('.').nth(1).expect("a JWT has a payload");
    let claims: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

async fn register_raw(app: &TestApp, body: Value) -> TestResponse {
    app.send(Req::post("/api/auth/register").json(body)).await
}

async fn refresh(app: &TestApp, cookie: &str) -> TestResponse {
    app.send(Req::post("/api/auth/refresh").cookie(cookie))
        .await
}

async fn me(app: &TestApp, access: &str) -> TestResponse {
    app.send(Req::get("/api/users/me").bearer(access)).await
}

const USER_FIELDS: &[&str] = &["id", "email", "name", "role", "created_at"];

// ---------------------------------------------------------------------------------------
// Registration.

#[tokio::test]
async fn register_returns_only_public_fields_with_normalised_email_and_user_role() {
    let app = spawn_app().await;
    let res = register_raw(
        &app,
        json!({"email": "  Alice@Example.COM ", "password": PASSWORD, "name": "Alice Liddell"}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    assert_eq!(keys(&body), set(USER_FIELDS), "body: {body}");
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["name"], "Alice Liddell");
    assert_eq!(body["role"], "user");
    assert!(body["id"].is_string() && body["created_at"].is_string());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert!(set_cookies(&res).is_empty(), "registration does not log in");
    // The normalised address is the one that logs in.
    app.login("alice@example.com").await;
}

#[tokio::test]
async fn register_refuses_mass_assignment_of_role_id_owner_and_admin_flag() {
    let app = spawn_app().await;
    let res = register_raw(
        &app,
        json!({
            "email": "mallory@example.com", "password": PASSWORD, "name": "Mallory",
            "role": "admin", "id": "00000000-0000-0000-0000-000000000001",
            "owner_id": "00000000-0000-0000-0000-000000000002", "is_admin": true,
        }),
    )
    .await;
    assert_validation(&res, &["role", "id", "owner_id", "is_admin"]);
    // Each one alone is refused as well, and nothing was created.
    for (field, value) in [
        ("role", json!("admin")),
        ("id", json!("00000000-0000-0000-0000-000000000001")),
        ("owner_id", json!("00000000-0000-0000-0000-000000000002")),
        ("is_admin", json!(true)),
    ] {
        let mut body =
            json!({"email": "mallory@example.com", "password": PASSWORD, "name": "Mallory"});
        body[field] = value;
        assert_validation(&register_raw(&app, body).await, &[field]);
    }
    let registered = app.register("mallory@example.com").await;
    assert_eq!(registered["role"], "user");
}

#[tokio::test]
async fn register_names_every_missing_field() {
    let app = spawn_app().await;
    assert_validation(
        &register_raw(&app, json!({})).await,
        &["email", "password", "name"],
    );
    assert_validation(
        &register_raw(&app, json!({"email": "a@example.com"})).await,
        &["password", "name"],
    );
    assert_validation(
        &register_raw(&app, json!({"password": PASSWORD, "name": "Ann"})).await,
        &["email"],
    );
}

#[tokio::test]
async fn register_enforces_password_rules() {
    let app = spawn_app().await;
    let common = rampart_core::common_passwords::common_passwords()
        .find(|p| p.chars().count() >= 12)
        .expect("the bundled list holds a password of 12+ characters");
    for password in [
        "a".repeat(11),
        "a".repeat(129),
        common.to_owned(),
        common.to_uppercase(),
        "JONATHAN-rules-2026".to_owned(),
        "my jonathan password".to_owned(),
    ] {
        let res = register_raw(
            &app,
            json!({"email": "Jonathan@example.com", "password": password, "name": "Jonathan"}),
        )
        .await;
        assert_validation(&res, &["password"]);
        assert!(
            !String::from_utf8_lossy(&res.body).contains(&password),
            "the password is echoed back"
        );
    }
    // The boundaries themselves are accepted.
    for (email, password) in [
        ("twelve@example.com", "q8#Lm2!vZ0xw".to_owned()),
        (
            "long@example.com",
            "q8#Lm2!vZ0xw".repeat(11)[..128].to_owned(),
        ),
    ] {
        let res = register_raw(
            &app,
            json!({"email": email, "password": password, "name": "Edge"}),
        )
        .await;
        assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    }
}

#[tokio::test]
async fn register_refuses_malformed_emails() {
    let app = spawn_app().await;
    for email in [
        "",
        "   ",
        "alice",
        "alice@",
        "@example.com",
        "a b@example.com",
        "alice@localhost",
        "Alice <alice@example.com>",
        "alice@example.com\r\nBcc: victim@example.com",
        "alice@exa_mple.com",
        "alice@-example.com",
        "ålice@example.com",
        "alice@@example.com",
    ] {
        let res = register_raw(
            &app,
            json!({"email": email, "password": PASSWORD, "name": "Alice"}),
        )
        .await;
        assert_validation(&res, &["email"]);
    }
    let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
    let res = register_raw(
        &app,
        json!({"email": long, "password": PASSWORD, "name": "Alice"}),
    )
    .await;
    assert_validation(&res, &["email"]);
}

#[tokio::test]
async fn register_refuses_names_with_digits_markup_or_sql() {
    let app = spawn_app().await;
    for name in [
        "Agent 007",
        "<script>alert(1)</script>",
        "<script>",
        "Robert'); DROP TABLE users;--",
        "",
        "   ",
        "a\u{0000}b",
        &"a".repeat(101),
    ] {
        let res = register_raw(
            &app,
            json!({"email": "bob@example.com", "password": PASSWORD, "name": name}),
        )
        .await;
        assert_validation(&res, &["name"]);
    }
}

#[tokio::test]
async fn register_duplicate_email_in_other_case_is_a_generic_conflict() {
    let app = spawn_app().await;
    app.register("carol@example.com").await;
    let res = register_raw(
        &app,
        json!({"email": "  CAROL@Example.com", "password": PASSWORD, "name": "Carol"}),
    )
    .await;
    res.assert_error(409, "registration_failed");
    let body = res.json();
    assert!(body.get("details").is_none(), "body: {body}");
    assert!(!body.to_string().contains("carol"), "body: {body}");
}

#[tokio::test]
async fn register_body_must_be_a_json_object() {
    let app = spawn_app().await;
    for body in [
        json!([]),
        json!([{"email": "a@example.com", "password": PASSWORD, "name": "A"}]),
        json!("a@example.com"),
        json!(42),
        json!(null),
        json!(true),
    ] {
        let res = register_raw(&app, body.clone()).await;
        res.assert_error(400, "validation_failed");
        assert!(res.json()["details"].is_array(), "{body}");
    }
}

#[tokio::test]
async fn register_refuses_non_string_field_types() {
    let app = spawn_app().await;
    for bad in [
        json!(42),
        json!(null),
        json!(true),
        json!(["a@example.com"]),
        json!({"email": "a@example.com"}),
    ] {
        let res = register_raw(
            &app,
            json!({"email": bad.clone(), "password": PASSWORD, "name": "Ann"}),
        )
        .await;
        assert_validation(&res, &["email"]);
        let res = register_raw(
            &app,
            json!({"email": "ann@example.com", "password": bad.clone(), "name": "Ann"}),
        )
        .await;
        assert_validation(&res, &["password"]);
        let res = register_raw(
            &app,
            json!({"email": "ann@example.com", "password": PASSWORD, "name": bad}),
        )
        .await;
        assert_validation(&res, &["name"]);
    }
}

#[tokio::test]
async fn register_and_login_refuse_query_operator_objects() {
    let app = spawn_app().await;
    app.register("dave@example.com").await;
    let res = register_raw(
        &app,
        json!({"email": {"$gt": ""}, "password": PASSWORD, "name": "Dave"}),
    )
    .await;
    assert_validation(&res, &["email"]);
    let res = register_raw(
        &app,
        json!({"email": "eve@example.com", "password": PASSWORD, "name": "Eve", "$where": "1"}),
    )
    .await;
    assert_validation(&res, &["$where"]);
    for body in [
        json!({"email": {"$gt": ""}, "password": PASSWORD}),
        json!({"email": "dave@example.com", "password": {"$ne": "x"}}),
        json!({"email": {"$regex": ".*"}, "password": {"$ne": null}}),
    ] {
        let res = app
            .send(Req::post("/api/auth/login").json(body.clone()))
            .await;
        res.assert_error(400, "validation_failed");
        assert!(res.refresh_cookie().is_none(), "{body}");
    }
}

// ---------------------------------------------------------------------------------------
// Login.

#[tokio::test]
async fn login_returns_bearer_token_and_a_locked_down_refresh_cookie() {
    let app = spawn_app().await;
    app.register("frank@example.com").await;
    let res = app
        .send(Req::post("/api/auth/login").json(json!({
            "email": "Frank@Example.com", "password": PASSWORD
        })))
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    assert_eq!(
        keys(&body),
        set(&["access_token", "token_type", "expires_in"])
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let access = body["access_token"].as_str().unwrap();

    let cookies = set_cookies(&res);
    // The refresh cookie, and the device cookie that exempts this browser from lockouts
    // caused by others.
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let refresh = cookies
        .iter()
        .find(|c| c.starts_with("rampart_refresh="))
        .expect("refresh cookie");
    let device = cookies
        .iter()
        .find(|c| c.starts_with("rampart_device="))
        .expect("device cookie");
    assert_eq!(
        device.split("; ").skip(1).collect::<Vec<_>>(),
        [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/api/auth",
            "Max-Age=31536000"
        ]
    );
    let mut parts = refresh.split("; ");
    let (name, value) = parts.next().unwrap().split_once('=').unwrap();
    assert_eq!(name, "rampart_refresh");
    assert!(!value.is_empty());
    assert_eq!(
        parts.collect::<Vec<_>>(),
        [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/api/auth",
            "Max-Age=2592000"
        ]
    );
    for cookie in &cookies {
        assert!(!cookie.contains(access), "access token in a cookie");
    }
    assert_ne!(value, access);
    assert_eq!(me(&app, access).await.status, 200);
}

#[tokio::test]
async fn login_wrong_password_and_unknown_email_are_indistinguishable() {
    let app = spawn_app().await;
    app.register("grace@example.com").await;
    let wrong_password = app
        .send(Req::post("/api/auth/login").json(json!({
            "email": "grace@example.com", "password": "not the right password"
        })))
        .await;
    let unknown_email = app
        .send(Req::post("/api/auth/login").json(json!({
            "email": "nobody@example.com", "password": "not the right password"
        })))
        .await;
    wrong_password.assert_error(401, "invalid_credentials");
    unknown_email.assert_error(401, "invalid_credentials");
    let (a, b) = (wrong_password.json(), unknown_email.json());
    assert_eq!(keys(&a), keys(&b));
    assert_eq!(keys(&a), set(&["error", "message", "request_id"]));
    assert_eq!(a["error"], b["error"]);
    assert_eq!(a["message"], b["message"]);
    assert_ne!(a["request_id"], b["request_id"]);
    for res in [&wrong_password, &unknown_email] {
        assert!(set_cookies(res).is_empty());
        assert_eq!(res.header("cache-control"), Some("no-store"));
    }
    // A right password in the wrong case is wrong.
    let res = app
        .send(Req::post("/api/auth/login").json(json!({
            "email": "grace@example.com", "password": PASSWORD.to_uppercase()
        })))
        .await;
    res.assert_error(401, "invalid_credentials");
}

#[tokio::test]
async fn auth_responses_are_never_cacheable() {
    let app = spawn_app().await;
    let mut responses = vec![
        register_raw(
            &app,
            json!({"email": "heidi@example.com", "password": PASSWORD, "name": "Heidi"}),
        )
        .await,
        register_raw(&app, json!({"email": "heidi@example.com"})).await,
        app.send(Req::post("/api/auth/login").json(json!({
            "email": "heidi@example.com", "password": PASSWORD
        })))
        .await,
        app.send(Req::post("/api/auth/login").json(json!({
            "email": "heidi@example.com", "password": "wrong password here"
        })))
        .await,
    ];
    let cookie = responses[2].refresh_cookie().unwrap();
    let access = responses[2].json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refreshed = refresh(&app, &cookie).await;
    assert_eq!(refreshed.status, 200);
    let access = refreshed.json()["access_token"]
        .as_str()
        .map_or(access, str::to_owned);
    responses.push(refreshed);
    responses.push(refresh(&app, "garbage").await);
    responses.push(
        app.send(Req::get("/api/auth/sessions").bearer(&access))
            .await,
    );
    responses.push(app.send(Req::get("/api/auth/sessions")).await);
    responses.push(me(&app, &access).await);
    responses.push(
        app.send(Req::post("/api/auth/logout").bearer(&access))
            .await,
    );
    responses.push(app.send(Req::post("/api/auth/logout")).await);
    for res in &responses {
        assert_eq!(
            res.header("cache-control"),
            Some("no-store"),
            "status {}: {}",
            res.status,
            String::from_utf8_lossy(&res.body)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Refresh.

#[tokio::test]
async fn refresh_rotates_and_reuse_after_grace_kills_the_whole_session() {
    let app = spawn_app_with(|raw| raw.tokens.refresh_grace_secs = 0).await;
    let (_id, access, first) = app.user("ivan@example.com").await;
    assert_eq!(me(&app, &access).await.status, 200);

    let rotated = refresh(&app, &first).await;
    assert_eq!(
        rotated.status,
        200,
        "{}",
        String::from_utf8_lossy(&rotated.body)
    );
    let second = rotated.refresh_cookie().expect("refresh sets a new cookie");
    assert_ne!(second, first);
    let second_access = rotated.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me(&app, &second_access).await.status, 200);

    // The old token comes back (stolen copy): refused, and the session is gone.
    let replay = refresh(&app, &first).await;
    replay.assert_error(401, "invalid_token");
    assert!(
        set_cookies(&replay)
            .iter()
            .any(|c| c.starts_with("rampart_refresh=;") && c.contains("Max-Age=0")),
        "the refused refresh clears the cookie"
    );
    refresh(&app, &second)
        .await
        .assert_error(401, "invalid_token");
    me(&app, &access).await.assert_error(401, "invalid_token");
    me(&app, &second_access)
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn concurrent_refresh_inside_grace_window_hands_both_callers_the_same_successor() {
    let app = spawn_app().await;
    let (_id, _access, cookie) = app.user("judy@example.com").await;
    let (a, b) = tokio::join!(refresh(&app, &cookie), refresh(&app, &cookie));
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(b.status, 200, "{}", String::from_utf8_lossy(&b.body));
    let successor = a.refresh_cookie().unwrap();
    assert_eq!(b.refresh_cookie().as_deref(), Some(successor.as_str()));
    assert_ne!(successor, cookie);
    // Both tabs are still logged in.
    for res in [&a, &b] {
        let access = res.json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(me(&app, &access).await.status, 200);
    }
    let later = refresh(&app, &successor).await;
    assert_eq!(
        later.status,
        200,
        "{}",
        String::from_utf8_lossy(&later.body)
    );
    assert_ne!(later.refresh_cookie().unwrap(), successor);
}

#[tokio::test]
async fn refresh_replay_after_the_grace_window_revokes_the_session() {
    let app = spawn_app_with(|raw| raw.tokens.refresh_grace_secs = 1).await;
    let (_id, access, first) = app.user("iris@example.com").await;
    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, 200);
    let second = rotated.refresh_cookie().unwrap();
    // Inside the window: the same successor again.
    let replay = refresh(&app, &first).await;
    assert_eq!(
        replay.status,
        200,
        "{}",
        String::from_utf8_lossy(&replay.body)
    );
    assert_eq!(replay.refresh_cookie().as_deref(), Some(second.as_str()));
    // Just past the window: reuse. The grace replay earlier does not buy more time.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    refresh(&app, &first)
        .await
        .assert_error(401, "invalid_token");
    refresh(&app, &second)
        .await
        .assert_error(401, "invalid_token");
    me(&app, &access).await.assert_error(401, "invalid_token");
}

#[tokio::test]
async fn grace_replay_cannot_revive_a_logged_out_session() {
    let app = spawn_app().await;
    let (_id, _access, first) = app.user("jack@example.com").await;
    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, 200);
    let second = rotated.refresh_cookie().unwrap();
    let res = app
        .send(Req::post("/api/auth/logout").cookie(&second))
        .await;
    assert_eq!(res.status, 204);
    // Still inside the default 5 s grace window for `first`.
    let res = refresh(&app, &first).await;
    res.assert_error(401, "invalid_token");
    assert!(res.refresh_cookie().is_none());
    refresh(&app, &second)
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn refresh_without_a_usable_cookie_is_invalid_token() {
    let app = spawn_app().await;
    let (_id, _access, cookie) = app.user("ken@example.com").await;
    let (_access2, other) = app.login("ken@example.com").await;
    let cases = [
        Req::post("/api/auth/refresh"),
        Req::post("/api/auth/refresh").cookie("garbage"),
        Req::post("/api/auth/refresh").cookie(""),
        Req::post("/api/auth/refresh").cookie(&"A".repeat(43)),
        Req::post("/api/auth/refresh").header("cookie", "other=value"),
        // Cookie tossing: two refresh cookies, in one header or in two.
        Req::post("/api/auth/refresh").header(
            "cookie",
            &format!("rampart_refresh={cookie}; rampart_refresh={other}"),
        ),
        Req::post("/api/auth/refresh").header(
            "cookie",
            &format!("rampart_refresh={cookie}; rampart_refresh={cookie}"),
        ),
        Req::post("/api/auth/refresh")
            .cookie(&cookie)
            .header("cookie", "rampart_refresh=garbage"),
    ];
    for req in cases {
        let res = app.send(req).await;
        res.assert_error(401, "invalid_token");
        assert!(res.refresh_cookie().is_none());
    }
    // None of the refused requests touched the real tokens.
    assert_eq!(refresh(&app, &cookie).await.status, 200);
    assert_eq!(refresh(&app, &other).await.status, 200);
}

#[tokio::test]
async fn refresh_from_a_hostile_origin_is_refused_and_rotates_nothing() {
    // Without grace, a rotation by the refused request would make the later one a reuse.
    let app = spawn_app_with(|raw| raw.tokens.refresh_grace_secs = 0).await;
    let (_id, _access, cookie) = app.user("leo@example.com").await;
    for origin in [
        "https://evil.example",
        "null",
        "https://allowed.example.evil.com",
        "http://allowed.example",
        "https://api.test.evil.example",
    ] {
        let res = app
            .send(
                Req::post("/api/auth/refresh")
                    .cookie(&cookie)
                    .header("origin", origin),
            )
            .await;
        res.assert_error(403, "origin_not_allowed");
        assert!(res.refresh_cookie().is_none(), "{origin}");
        assert!(res.header("access-control-allow-origin").is_none());
    }
    let res = refresh(&app, &cookie).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
}

#[tokio::test]
async fn refresh_from_an_allowed_or_same_origin_works() {
    let app = spawn_app().await;
    let (_id, _access, cookie) = app.user("mia@example.com").await;
    let res = app
        .send(
            Req::post("/api/auth/refresh")
                .cookie(&cookie)
                .header("origin", "https://allowed.example"),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://allowed.example")
    );
    let next = res.refresh_cookie().unwrap();
    let res = app
        .send(
            Req::post("/api/auth/refresh")
                .cookie(&next)
                .header("origin", "http://api.test"),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert!(res.refresh_cookie().is_some());
}

// ---------------------------------------------------------------------------------------
// Logout.

#[tokio::test]
async fn logout_revokes_the_session_and_clears_the_cookie() {
    let app = spawn_app().await;
    let (_id, access, cookie) = app.user("nina@example.com").await;
    assert_eq!(me(&app, &access).await.status, 200);
    let res = app
        .send(
            Req::post("/api/auth/logout")
                .bearer(&access)
                .cookie(&cookie),
        )
        .await;
    assert_eq!(res.status, 204, "{}", String::from_utf8_lossy(&res.body));
    assert!(res.body.is_empty());
    assert_eq!(
        set_cookies(&res),
        ["rampart_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/api/auth; Max-Age=0"]
    );
    me(&app, &access).await.assert_error(401, "invalid_token");
    refresh(&app, &cookie)
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn logout_with_only_the_cookie_revokes_the_session() {
    let app = spawn_app().await;
    let (_id, access, cookie) = app.user("oscar@example.com").await;
    assert_eq!(me(&app, &access).await.status, 200);
    let res = app
        .send(Req::post("/api/auth/logout").cookie(&cookie))
        .await;
    assert_eq!(res.status, 204, "{}", String::from_utf8_lossy(&res.body));
    assert!(
        set_cookies(&res)
            .iter()
            .any(|c| c.starts_with("rampart_refresh=;") && c.contains("Max-Age=0"))
    );
    me(&app, &access).await.assert_error(401, "invalid_token");
    refresh(&app, &cookie)
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn logout_by_cookie_from_a_hostile_origin_is_refused() {
    let app = spawn_app().await;
    let (_id, access, cookie) = app.user("peggy@example.com").await;
    let res = app
        .send(
            Req::post("/api/auth/logout")
                .cookie(&cookie)
                .header("origin", "https://evil.example"),
        )
        .await;
    res.assert_error(403, "origin_not_allowed");
    assert_eq!(me(&app, &access).await.status, 200);
    assert_eq!(refresh(&app, &cookie).await.status, 200);
}

#[tokio::test]
async fn logout_without_credentials_is_unauthorized() {
    let app = spawn_app().await;
    let res = app.send(Req::post("/api/auth/logout")).await;
    res.assert_error(401, "unauthorized");
    let res = app
        .send(Req::post("/api/auth/logout").header("cookie", "theme=dark"))
        .await;
    res.assert_error(401, "unauthorized");
}

#[tokio::test]
async fn logout_only_revokes_its_own_session() {
    let app = spawn_app().await;
    let (_id, access_a, _cookie_a) = app.user("quinn@example.com").await;
    let (access_b, cookie_b) = app.login("quinn@example.com").await;
    let res = app
        .send(Req::post("/api/auth/logout").bearer(&access_a))
        .await;
    assert_eq!(res.status, 204);
    me(&app, &access_a).await.assert_error(401, "invalid_token");
    assert_eq!(me(&app, &access_b).await.status, 200);
    assert_eq!(refresh(&app, &cookie_b).await.status, 200);
}

// ---------------------------------------------------------------------------------------
// Sessions.

#[tokio::test]
async fn sessions_list_the_callers_sessions_and_mark_the_current_one() {
    let app = spawn_app().await;
    let (_id, access_a, cookie_a) = app.user("rita@example.com").await;
    let (access_b, cookie_b) = app.login("rita@example.com").await;
    // Someone else's session must not show up.
    app.user("sam@example.com").await;

    let res = app
        .send(Req::get("/api/auth/sessions").bearer(&access_a))
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    assert_eq!(keys(&body), set(&["sessions"]));
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "body: {body}");
    let ids: BTreeSet<String> = sessions
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        [session_of(&access_a), session_of(&access_b)]
            .into_iter()
            .collect()
    );
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "body: {body}");
    assert_eq!(current[0]["id"], session_of(&access_a).as_str());
    for s in sessions {
        assert_eq!(
            keys(s),
            set(&[
                "id",
                "created_at",
                "last_used_at",
                "ip",
                "user_agent",
                "current"
            ]),
            "session: {s}"
        );
    }
    let text = body.to_string();
    for secret in [&access_a, &access_b, &cookie_a, &cookie_b] {
        assert!(!text.contains(secret.as_str()), "a token leaks: {text}");
    }
    assert!(!text.contains("hash") && !text.contains("token"), "{text}");

    // From the other session, the other one is current.
    let res = app
        .send(Req::get("/api/auth/sessions").bearer(&access_b))
        .await;
    let sessions = res.json()["sessions"].as_array().unwrap().clone();
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], session_of(&access_b).as_str());
}

#[tokio::test]
async fn revoking_another_users_session_is_not_found_and_leaves_it_alone() {
    let app = spawn_app().await;
    let (_a, access_a, _) = app.user("tina@example.com").await;
    let (_b, access_b, cookie_b) = app.user("ursula@example.com").await;
    let victim = session_of(&access_b);
    let res = app
        .send(Req::delete(&format!("/api/auth/sessions/{victim}")).bearer(&access_a))
        .await;
    res.assert_error(404, "not_found");
    // Indistinguishable from a session that does not exist.
    let missing = uuid::Uuid::new_v4().hyphenated().to_string();
    let res_missing = app
        .send(Req::delete(&format!("/api/auth/sessions/{missing}")).bearer(&access_a))
        .await;
    res_missing.assert_error(404, "not_found");
    assert_eq!(res.json()["message"], res_missing.json()["message"]);

    assert_eq!(me(&app, &access_b).await.status, 200);
    assert_eq!(refresh(&app, &cookie_b).await.status, 200);
}

#[tokio::test]
async fn revoking_own_other_session_kills_its_tokens() {
    let app = spawn_app().await;
    let (_id, access_a, cookie_a) = app.user("victor@example.com").await;
    let (access_b, cookie_b) = app.login("victor@example.com").await;
    assert_eq!(me(&app, &access_b).await.status, 200);
    let res = app
        .send(
            Req::delete(&format!("/api/auth/sessions/{}", session_of(&access_b))).bearer(&access_a),
        )
        .await;
    assert_eq!(res.status, 204, "{}", String::from_utf8_lossy(&res.body));
    me(&app, &access_b).await.assert_error(401, "invalid_token");
    refresh(&app, &cookie_b)
        .await
        .assert_error(401, "invalid_token");
    // The caller's own session is untouched; revoking again finds nothing.
    assert_eq!(me(&app, &access_a).await.status, 200);
    assert_eq!(refresh(&app, &cookie_a).await.status, 200);
    let again = app
        .send(
            Req::delete(&format!("/api/auth/sessions/{}", session_of(&access_b))).bearer(&access_a),
        )
        .await;
    again.assert_error(404, "not_found");
}

#[tokio::test]
async fn revoking_a_session_with_a_malformed_id_is_a_validation_error() {
    let app = spawn_app().await;
    let (_id, access, _) = app.user("wendy@example.com").await;
    let sid = session_of(&access);
    for bad in [
        "1".to_owned(),
        "not-a-uuid".to_owned(),
        "%2e%2e%2fadmin".to_owned(),
        "'%20OR%201=1--".to_owned(),
        sid.to_uppercase(),
        sid.replace('-', ""),
        format!("%7B{sid}%7D"),
    ] {
        let res = app
            .send(Req::delete(&format!("/api/auth/sessions/{bad}")).bearer(&access))
            .await;
        assert_validation(&res, &["id"]);
    }
    assert_eq!(me(&app, &access).await.status, 200);
}

#[tokio::test]
async fn sessions_routes_refuse_anonymous_callers() {
    let app = spawn_app().await;
    let (_id, access, cookie) = app.user("xavier@example.com").await;
    let sid = session_of(&access);
    app.send(Req::get("/api/auth/sessions"))
        .await
        .assert_error(401, "unauthorized");
    // The refresh cookie is not a credential for these routes.
    app.send(Req::get("/api/auth/sessions").cookie(&cookie))
        .await
        .assert_error(401, "unauthorized");
    app.send(Req::delete(&format!("/api/auth/sessions/{sid}")))
        .await
        .assert_error(401, "unauthorized");
    app.send(Req::delete(&format!("/api/auth/sessions/{sid}")).cookie(&cookie))
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(me(&app, &access).await.status, 200);
}

// ---------------------------------------------------------------------------------------
// /api/users/me

#[tokio::test]
async fn me_shows_only_allowlisted_fields() {
    let app = spawn_app().await;
    let (id, access, _) = app.user("yara@example.com").await;
    let res = me(&app, &access).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    assert_eq!(keys(&body), set(USER_FIELDS), "body: {body}");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["email"], "yara@example.com");
    assert_eq!(body["role"], "user");
    let text = String::from_utf8_lossy(&res.body).to_lowercase();
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );
    app.send(Req::get("/api/users/me"))
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn me_patch_changes_the_name() {
    let app = spawn_app().await;
    let (id, access, _) = app.user("zane@example.com").await;
    let res = app
        .send(
            Req::patch("/api/users/me")
                .bearer(&access)
                .json(json!({"name": "  Zane Grey "})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    assert_eq!(keys(&body), set(USER_FIELDS));
    assert_eq!(body["name"], "Zane Grey");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(me(&app, &access).await.json()["name"], "Zane Grey");
    let res = app
        .send(
            Req::patch("/api/users/me")
                .bearer(&access)
                .json(json!({"name": "<img src=x onerror=alert(1)>"})),
        )
        .await;
    assert_validation(&res, &["name"]);
    app.send(Req::patch("/api/users/me").json(json!({"name": "Anon"})))
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn me_patch_refuses_role_and_email_changes() {
    let app = spawn_app().await;
    let (_id, access, _) = app.user("abby@example.com").await;
    let patch = |body: Value| Req::patch("/api/users/me").bearer(&access).json(body);

    let res = app.send(patch(json!({"role": "admin"}))).await;
    res.assert_error(400, "validation_failed");
    assert!(detail_fields(&res).contains("role"), "{}", res.json());

    let res = app.send(patch(json!({"email": "admin@example.com"}))).await;
    res.assert_error(400, "validation_failed");
    assert!(detail_fields(&res).contains("email"), "{}", res.json());

    let res = app
        .send(patch(json!({"name": "Abby Admin", "role": "admin"})))
        .await;
    assert_validation(&res, &["role"]);

    let res = app
        .send(patch(
            json!({"name": "Abby Admin", "email": "root@example.com", "is_admin": true}),
        ))
        .await;
    assert_validation(&res, &["email", "is_admin"]);

    let body = me(&app, &access).await.json();
    assert_eq!(body["role"], "user");
    assert_eq!(body["email"], "abby@example.com");
    assert_eq!(body["name"], "Test User", "a refused patch changes nothing");
    app.send(Req::get("/api/admin/users").bearer(&access))
        .await
        .assert_error(403, "forbidden");
}

// ---------------------------------------------------------------------------------------
// Role changes bite at once.

#[tokio::test]
async fn admin_demotion_takes_effect_without_re_login() {
    let app = spawn_app().await;
    let (_admin_id, admin, _) = app.admin("root@example.com").await;
    let (user_id, user_access, user_cookie) = app.user("bea@example.com").await;
    let set_role = |role: &str| {
        Req::patch(&format!("/api/admin/users/{user_id}"))
            .bearer(&admin)
            .json(json!({"role": role}))
    };
    let list = |token: &str| Req::get("/api/admin/users").bearer(token);

    app.send(list(&user_access))
        .await
        .assert_error(403, "forbidden");

    let res = app.send(set_role("admin")).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["role"], "admin");
    // The token issued while a plain user now works on admin routes...
    assert_eq!(app.send(list(&user_access)).await.status, 200);
    // ...and a token issued while admin (its claim says admin) is obtained.
    let refreshed = refresh(&app, &user_cookie).await;
    assert_eq!(refreshed.status, 200);
    let admin_claim_access = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.send(list(&admin_claim_access)).await.status, 200);

    let res = app.send(set_role("user")).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["role"], "user");
    for token in [&user_access, &admin_claim_access] {
        app.send(list(token)).await.assert_error(403, "forbidden");
        app.send(
            Req::patch(&format!("/api/admin/users/{user_id}"))
                .bearer(token)
                .json(json!({"role": "admin"})),
        )
        .await
        .assert_error(403, "forbidden");
    }
    // Still logged in as an ordinary user.
    assert_eq!(me(&app, &user_access).await.json()["role"], "user");
}
