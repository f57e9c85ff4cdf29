//! `/api/admin/*` under attack: anonymous and non-admin callers, hostile pagination input,
//! forged cursors, mass assignment on role changes, and deletion that must end sessions.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::helpers::*;

const USER_FIELDS: &[&str] = &["id", "email", "name", "role", "created_at"];

fn list(token: &str, query: &str) -> Req {
    Req::get(&format!("/api/admin/users{query}")).bearer(token)
}

fn set_role(token: &str, id: &str, body: Value) -> Req {
    Req::patch(&format!("/api/admin/users/{id}"))
        .bearer(token)
        .json(body)
}

fn delete(token: &str, id: &str) -> Req {
    Req::delete(&format!("/api/admin/users/{id}")).bearer(token)
}

async fn me(app: &TestApp, access: &str) -> TestResponse {
    app.send(Req::get("/api/users/me").bearer(access)).await
}

/// Registers `n` users `user{i}@example.com` and returns their ids.
async fn register_many(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let body = app.register(&format!("user{i}@example.com")).await;
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// The ids on one page of `GET /api/admin/users` and its `next_cursor`.
fn page(res: &TestResponse) -> (Vec<String>, Option<String>) {
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    assert_eq!(keys(&body), set(&["users", "next_cursor"]), "{body}");
    let ids = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            assert_eq!(keys(u), set(USER_FIELDS), "user: {u}");
            u["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let next = match &body["next_cursor"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("next_cursor is {other}"),
    };
    (ids, next)
}

// ---------------------------------------------------------------------------------------
// Who may call.

#[tokio::test]
async fn admin_routes_refuse_anonymous_callers() {
    let app = spawn_app().await;
    let (victim, _, _) = app.user("victim@example.com").await;
    let path = format!("/api/admin/users/{victim}");
    for req in [
        Req::get("/api/admin/users"),
        Req::get("/api/admin/users?limit=1"),
        Req::patch(&path).json(json!({"role": "admin"})),
        Req::delete(&path),
    ] {
        app.send(req).await.assert_error(401, "unauthorized");
    }
    let (access, _) = app.login("victim@example.com").await;
    assert_eq!(me(&app, &access).await.json()["role"], "user");
}

#[tokio::test]
async fn admin_routes_forbid_ordinary_users_including_self_promotion() {
    let app = spawn_app().await;
    let (me_id, access, _) = app.user("plain@example.com").await;
    let (other, other_access, _) = app.user("other@example.com").await;
    for req in [
        list(&access, ""),
        list(&access, "?limit=100"),
        set_role(&access, &me_id, json!({"role": "admin"})),
        set_role(&access, &other, json!({"role": "admin"})),
        delete(&access, &other),
        delete(&access, &me_id),
    ] {
        app.send(req).await.assert_error(403, "forbidden");
    }
    assert_eq!(me(&app, &access).await.json()["role"], "user");
    assert_eq!(me(&app, &other_access).await.status, 200);
}

#[tokio::test]
async fn admin_routes_work_for_admins() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    let (target, _, _) = app.user("target@example.com").await;
    let (users, _) = page(&app.send(list(&admin, "")).await);
    assert!(users.contains(&target));
    let res = app
        .send(set_role(&admin, &target, json!({"role": "admin"})))
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let res = app.send(delete(&admin, &target)).await;
    assert_eq!(res.status, 204, "{}", String::from_utf8_lossy(&res.body));
    assert!(res.body.is_empty());
}

// ---------------------------------------------------------------------------------------
// Listing.

#[tokio::test]
async fn list_users_defaults_to_pages_of_twenty() {
    let app = spawn_app().await;
    let (admin_id, admin, _) = app.admin("root@example.com").await;
    let mut all: HashSet<String> = register_many(&app, 21).await.into_iter().collect();
    all.insert(admin_id);
    let (first, next) = page(&app.send(list(&admin, "")).await);
    assert_eq!(first.len(), 20);
    let next = next.expect("a full page has a next cursor");
    let (second, last) = page(&app.send(list(&admin, &format!("?cursor={next}"))).await);
    assert_eq!(second.len(), 2);
    assert_eq!(last, None);
    let seen: HashSet<String> = first.into_iter().chain(second).collect();
    assert_eq!(seen, all);
}

#[tokio::test]
async fn list_users_refuses_out_of_range_or_malformed_limits() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    for limit in [
        "0",
        "101",
        "-1",
        "abc",
        "1.5",
        "",
        "1e2",
        "0x10",
        "99999999999999999999",
        "%20",
        "5%00",
    ] {
        let res = app.send(list(&admin, &format!("?limit={limit}"))).await;
        assert_validation(&res, &["limit"]);
    }
    for limit in ["1", "100"] {
        let res = app.send(list(&admin, &format!("?limit={limit}"))).await;
        assert_eq!(res.status, 200, "limit={limit}");
    }
}

#[tokio::test]
async fn list_users_refuses_unknown_and_repeated_parameters() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    for (query, named) in [
        ("?role=admin", vec!["role"]),
        ("?offset=10", vec!["offset"]),
        ("?limit=5&sort=password_hash", vec!["sort"]),
        ("?limit=5&limit=6", vec!["limit"]),
        ("?LIMIT=5", vec!["LIMIT"]),
    ] {
        let res = app.send(list(&admin, query)).await;
        assert_validation(&res, &named);
    }
}

#[tokio::test]
async fn list_users_pagination_returns_every_user_exactly_once() {
    let app = spawn_app().await;
    let (admin_id, admin, _) = app.admin("root@example.com").await;
    let mut expected = register_many(&app, 4).await;
    expected.push(admin_id);
    expected.sort();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let query = match &cursor {
            None => "?limit=2".to_owned(),
            Some(c) => format!("?limit=2&cursor={c}"),
        };
        let (ids, next) = page(&app.send(list(&admin, &query)).await);
        assert!(ids.len() <= 2);
        pages.push(ids.len());
        seen.extend(ids);
        match next {
            None => break,
            Some(next) => {
                assert!(pages.len() < 10, "pagination does not end");
                cursor = Some(next);
            }
        }
    }
    assert_eq!(pages, [2, 2, 1]);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a user appeared twice: {seen:?}");
    seen.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn list_users_refuses_tampered_cursors() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    register_many(&app, 2).await;
    let (_, next) = page(&app.send(list(&admin, "?limit=1")).await);
    let real = next.unwrap();
    assert_eq!(
        app.send(list(&admin, &format!("?limit=1&cursor={real}")))
            .await
            .status,
        200
    );
    let decoded = String::from_utf8(B64.decode(&real).unwrap()).unwrap();
    let id = decoded.strip_prefix("u1:").unwrap().to_owned();
    for forged in [
        real[..real.len() - 4].to_owned(),
        format!("{real}AAAA"),
        format!("{real}!!"),
        "garbage".to_owned(),
        "!!".to_owned(),
        B64.encode("u1:1 OR 1=1"),
        B64.encode("u1:' OR ''='"),
        B64.encode(&id),
        B64.encode(format!("u2:{id}")),
        B64.encode(format!("u1:{}", id.to_uppercase())),
        B64.encode(format!("u1:{id}\0")),
        "A".repeat(200),
    ] {
        let res = app
            .send(list(&admin, &format!("?limit=1&cursor={forged}")))
            .await;
        res.assert_error(400, "invalid_cursor");
        assert!(
            !String::from_utf8_lossy(&res.body).contains(&forged),
            "the cursor is echoed back"
        );
    }
}

#[tokio::test]
async fn list_users_never_exposes_password_hashes() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    register_many(&app, 3).await;
    let res = app.send(list(&admin, "?limit=100")).await;
    let (ids, next) = page(&res);
    assert_eq!(ids.len(), 4);
    assert_eq!(next, None);
    let text = String::from_utf8_lossy(&res.body).to_lowercase();
    for leak in ["password", "hash", "argon2", "$v=19"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
}

// ---------------------------------------------------------------------------------------
// Role changes.

#[tokio::test]
async fn set_role_promotes_and_demotes() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    let (target, access, _) = app.user("target@example.com").await;
    let res = app
        .send(set_role(&admin, &target, json!({"role": "admin"})))
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    assert_eq!(keys(&body), set(USER_FIELDS));
    assert_eq!(body["id"], target.as_str());
    assert_eq!(body["role"], "admin");
    assert_eq!(me(&app, &access).await.json()["role"], "admin");
    assert_eq!(app.send(list(&access, "")).await.status, 200);

    let res = app
        .send(set_role(&admin, &target, json!({"role": "user"})))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["role"], "user");
    assert_eq!(me(&app, &access).await.json()["role"], "user");
    app.send(list(&access, ""))
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test]
async fn set_role_refuses_unknown_roles() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    let (target, access, _) = app.user("target@example.com").await;
    for role in [
        json!("superuser"),
        json!("Admin"),
        json!("ADMIN"),
        json!(" admin"),
        json!("admin\u{0000}"),
        json!(""),
        json!(null),
        json!(1),
        json!(true),
        json!(["admin"]),
        json!({"$ne": "user"}),
    ] {
        let res = app
            .send(set_role(&admin, &target, json!({"role": role})))
            .await;
        assert_validation(&res, &["role"]);
    }
    assert_validation(
        &app.send(set_role(&admin, &target, json!({}))).await,
        &["role"],
    );
    assert_eq!(me(&app, &access).await.json()["role"], "user");
}

#[tokio::test]
async fn set_role_refuses_extra_fields() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    let (target, access, _) = app.user("target@example.com").await;
    for (body, named) in [
        (
            json!({"role": "admin", "email": "owned@example.com"}),
            vec!["email"],
        ),
        (json!({"role": "admin", "name": "Owned"}), vec!["name"]),
        (
            json!({"role": "admin", "password_hash": "x"}),
            vec!["password_hash"],
        ),
        (json!({"role": "admin", "id": target.clone()}), vec!["id"]),
        (
            json!({"role": "admin", "is_admin": true, "owner_id": "x"}),
            vec!["is_admin", "owner_id"],
        ),
    ] {
        let res = app.send(set_role(&admin, &target, body)).await;
        assert_validation(&res, &named);
    }
    for body in [json!([{"role": "admin"}]), json!("admin")] {
        let res = app.send(set_role(&admin, &target, body)).await;
        res.assert_error(400, "validation_failed");
    }
    let body = me(&app, &access).await.json();
    assert_eq!(body["role"], "user");
    assert_eq!(body["email"], "target@example.com");
    assert_eq!(body["name"], "Test User");
}

#[tokio::test]
async fn set_role_on_an_unknown_user_is_not_found() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    for id in [
        uuid::Uuid::new_v4().hyphenated().to_string(),
        uuid::Uuid::now_v7().hyphenated().to_string(),
        uuid::Uuid::nil().hyphenated().to_string(),
    ] {
        let res = app
            .send(set_role(&admin, &id, json!({"role": "admin"})))
            .await;
        res.assert_error(404, "not_found");
    }
}

#[tokio::test]
async fn admin_routes_refuse_malformed_ids() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    let (target, _, _) = app.user("target@example.com").await;
    for id in [
        "1".to_owned(),
        "abc".to_owned(),
        "1%20OR%201=1".to_owned(),
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_owned(),
        target.to_uppercase(),
        target.replace('-', ""),
        format!("%7B{target}%7D"),
        format!("{target}%00"),
    ] {
        let res = app
            .send(set_role(&admin, &id, json!({"role": "admin"})))
            .await;
        assert_validation(&res, &["id"]);
        let res = app.send(delete(&admin, &id)).await;
        assert_validation(&res, &["id"]);
    }
    let (users, _) = page(&app.send(list(&admin, "?limit=100")).await);
    assert!(users.contains(&target));
}

// ---------------------------------------------------------------------------------------
// Deletion.

#[tokio::test]
async fn delete_user_removes_them_and_ends_their_sessions_at_once() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    let (target, access, cookie) = app.user("doomed@example.com").await;
    let (second_access, _) = app.login("doomed@example.com").await;
    // Warm the session cache: deletion must not wait for it to expire.
    assert_eq!(me(&app, &access).await.status, 200);
    assert_eq!(me(&app, &second_access).await.status, 200);

    let res = app.send(delete(&admin, &target)).await;
    assert_eq!(res.status, 204, "{}", String::from_utf8_lossy(&res.body));

    me(&app, &access).await.assert_error(401, "invalid_token");
    me(&app, &second_access)
        .await
        .assert_error(401, "invalid_token");
    app.send(Req::post("/api/auth/refresh").cookie(&cookie))
        .await
        .assert_error(401, "invalid_token");
    let res = app
        .send(Req::post("/api/auth/login").json(json!({
            "email": "doomed@example.com", "password": PASSWORD
        })))
        .await;
    res.assert_error(401, "invalid_credentials");
    let (users, _) = page(&app.send(list(&admin, "?limit=100")).await);
    assert!(!users.contains(&target));

    app.send(delete(&admin, &target))
        .await
        .assert_error(404, "not_found");
    app.send(set_role(&admin, &target, json!({"role": "admin"})))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn delete_unknown_user_is_not_found() {
    let app = spawn_app().await;
    let (_, admin, _) = app.admin("root@example.com").await;
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    app.send(delete(&admin, &id))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn deleted_admin_loses_admin_access_at_once() {
    let app = spawn_app().await;
    let (_, root, _) = app.admin("root@example.com").await;
    let (other_id, other, _) = app.admin("second@example.com").await;
    assert_eq!(app.send(list(&other, "")).await.status, 200);
    let res = app.send(delete(&root, &other_id)).await;
    assert_eq!(res.status, 204);
    app.send(list(&other, ""))
        .await
        .assert_error(401, "invalid_token");
    assert_eq!(app.send(list(&root, "")).await.status, 200);
}
