//! The audit trail through the API: what is recorded (and what never is), one chain under
//! concurrent requests from two processes, tampering found by the verifier, the admin API,
//! and what happens when the trail cannot be written. On SQLite and PostgreSQL alike.

use std::collections::BTreeMap;

use rampart_core::audit::Entry;
use serde_json::{Value, json};
use sqlx::Connection;
use tower::ServiceExt;

use crate::helpers::*;

/// Every entry, oldest first (straight from the store).
async fn trail(app: &TestApp) -> Vec<Entry> {
    app.state
        .audit
        .store()
        .entries_after(0, 1_000_000)
        .await
        .unwrap()
}

fn actions(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.action.as_str()).collect()
}

async fn verify(app: &TestApp, admin: &str) -> Value {
    let res = app
        .send(Req::get("/api/admin/audit/verify").bearer(admin))
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

/// Runs statements on the trail's database directly, as an attacker with database access
/// would (after removing the append-only triggers).
async fn tamper(app: &TestApp, statements: &[&'static str]) {
    match postgres_url() {
        None => {
            let path = app.raw.data_dir.join("audit.sqlite3");
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            for drop in [
                "DROP TRIGGER audit_entries_no_update",
                "DROP TRIGGER audit_entries_no_delete",
                "DROP TRIGGER audit_checkpoints_no_delete",
            ] {
                sqlx::query(drop).execute(&mut conn).await.unwrap();
            }
            for s in statements {
                sqlx::query(*s).execute(&mut conn).await.unwrap();
            }
            conn.close().await.unwrap();
        }
        Some(_) => {
            let mut conn = sqlx::PgConnection::connect(&app.raw.database_url)
                .await
                .unwrap();
            for s in [
                "SET search_path TO rampart_audit",
                "DROP TRIGGER audit_entries_no_change ON audit_entries",
                "DROP TRIGGER audit_checkpoints_no_change ON audit_checkpoints",
            ]
            .iter()
            .chain(statements)
            {
                sqlx::query(*s).execute(&mut conn).await.unwrap();
            }
            conn.close().await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_session_is_recorded_step_by_step_with_actor_target_and_request_id() {
    let app = spawn_app_with_examples().await;
    let (id, access, refresh) = app.user("alice@example.com").await;
    let res = app
        .send(
            Req::post("/api/auth/refresh")
                .header("user-agent", "audit-test/1.0")
                .cookie(&refresh),
        )
        .await;
    assert_eq!(res.status, 200);
    let refresh_request_id = res.header("x-request-id").unwrap().to_owned();
    let res = app
        .send(
            Req::patch("/api/users/me")
                .bearer(&access)
                .json(json!({"name": "Alice"})),
        )
        .await;
    assert_eq!(res.status, 200);
    let res = app
        .send(
            Req::post("/api/collections/posts/records")
                .bearer(&access)
                .json(json!({"title": "hello", "body": "world"})),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.json());
    let record = res.json()["id"].as_str().unwrap().to_owned();
    let res = app
        .send(Req::post("/api/auth/logout").bearer(&access))
        .await;
    assert_eq!(res.status, 204);

    let entries = trail(&app).await;
    assert_eq!(
        actions(&entries),
        [
            "auth.register",
            "auth.login.succeeded",
            "auth.refresh",
            "user.updated",
            "record.created",
            "auth.logout",
        ]
    );
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
        assert_eq!(e.actor_user_id.as_deref(), Some(id.as_str()), "{e:?}");
        assert_eq!(e.result, "success");
        assert!(
            e.request_id.as_ref().is_some_and(|r| r.len() == 32),
            "{e:?}"
        );
    }
    let refreshed = &entries[2];
    assert_eq!(refreshed.actor_user_agent, "audit-test/1.0");
    assert_eq!(
        refreshed.request_id.as_deref(),
        Some(refresh_request_id.as_str())
    );
    assert_eq!(refreshed.target_type.as_deref(), Some("session"));
    let created = &entries[4];
    assert_eq!(created.target_type.as_deref(), Some("record:posts"));
    assert_eq!(created.target_id.as_deref(), Some(record.as_str()));
    let meta: Value = serde_json::from_str(&created.metadata).unwrap();
    let mut fields: Vec<&str> = meta["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    fields.sort_unstable();
    // The defaulted `status` is part of the new record too.
    assert_eq!(
        fields,
        ["body", "status", "title"],
        "names, never values: {meta}"
    );
    assert!(!created.metadata.contains("hello"));
    assert_eq!(entries[0].target_id.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn refusals_are_recorded_with_route_and_reason() {
    let app = spawn_app().await;
    let (user, token, _) = app.user("mallory@example.com").await;
    let forged = format!("{token}x");
    let cases = [
        (
            Req::get("/api/admin/users").bearer(&token),
            403,
            "access.denied",
            "forbidden",
        ),
        (
            Req::get("/api/users/me").bearer(&forged),
            401,
            "access.denied",
            "invalid_token",
        ),
        (
            Req::get("/api/users/me"),
            401,
            "access.denied",
            "unauthorized",
        ),
    ];
    for (req, status, action, reason) in cases {
        let before = trail(&app).await.len();
        assert_eq!(app.send(req).await.status.as_u16(), status);
        let entries = trail(&app).await;
        assert_eq!(entries.len(), before + 1, "{:?}", actions(&entries));
        let e = entries.last().unwrap();
        assert_eq!(e.action, action);
        assert_eq!(e.result, "denied");
        let meta: Value = serde_json::from_str(&e.metadata).unwrap();
        assert_eq!(meta["reason"], reason, "{meta}");
        assert_eq!(meta["status"], status);
        assert_eq!(e.target_type.as_deref(), Some("route"));
    }
    let entries = trail(&app).await;
    let forbidden = &entries[entries.len() - 3];
    assert_eq!(forbidden.target_id.as_deref(), Some("/api/admin/users"));
    assert_eq!(forbidden.actor_user_id.as_deref(), Some(user.as_str()));
    assert_eq!(entries.last().unwrap().actor_user_id, None);

    // A failed login names the account it tried, never the password.
    let res = app
        .send(Req::post("/api/auth/login").json(json!({
            "email": "mallory@example.com", "password": "not the password at all"
        })))
        .await;
    res.assert_error(401, "invalid_credentials");
    let e = trail(&app).await.pop().unwrap();
    assert_eq!(e.action, "auth.login.failed");
    assert_eq!(e.target_id.as_deref(), Some(user.as_str()));
    assert_eq!(e.actor_user_id, None);
    assert!(!e.metadata.contains("not the password"));

    // Validation failures list the fields, not the values.
    let res = app
        .send(Req::post("/api/auth/register").json(json!({
            "email": "not-an-email", "password": "hunter2", "name": ""
        })))
        .await;
    assert_validation(&res, &["email", "password", "name"]);
    let e = trail(&app).await.pop().unwrap();
    assert_eq!(e.action, "validation.failed");
    let meta: Value = serde_json::from_str(&e.metadata).unwrap();
    let mut fields: Vec<&str> = meta["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "name", "password"]);
    assert!(!e.metadata.contains("hunter2") && !e.metadata.contains("not-an-email"));
}

#[tokio::test]
async fn client_chosen_field_names_cannot_bloat_the_trail() {
    let app = spawn_app().await;
    let mut body = serde_json::Map::new();
    for i in 0..30 {
        body.insert(format!("{i:02}{}", "k".repeat(20_000)), json!(1));
    }
    let res = app
        .send(Req::post("/api/auth/register").json(Value::Object(body)))
        .await;
    res.assert_error(400, "validation_failed");
    let e = trail(&app).await.pop().unwrap();
    assert_eq!(e.action, "validation.failed");
    assert!(e.metadata.len() < 4096, "{} bytes", e.metadata.len());
    let meta: Value = serde_json::from_str(&e.metadata).unwrap();
    let fields = meta["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 20);
    assert!(
        fields
            .iter()
            .all(|f| f.as_str().unwrap().chars().count() <= 64)
    );
    // The unknown keys, plus the three required fields that are missing.
    assert_eq!(meta["fields_total"], 33, "{meta}");
}

#[tokio::test]
async fn admin_actions_are_recorded() {
    let app = spawn_app().await;
    let (admin_id, admin, _) = app.admin("root@example.com").await;
    let (user, _, _) = app.user("bob@example.com").await;
    let res = app
        .send(
            Req::patch(&format!("/api/admin/users/{user}"))
                .bearer(&admin)
                .json(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(res.status, 200);
    let res = app
        .send(Req::post(&format!("/api/admin/users/{user}/unlock")).bearer(&admin))
        .await;
    assert_eq!(res.status, 204);
    let res = app
        .send(Req::delete(&format!("/api/admin/users/{user}")).bearer(&admin))
        .await;
    assert_eq!(res.status, 204);
    let entries = trail(&app).await;
    let tail: Vec<_> = entries[entries.len() - 3..].iter().collect();
    assert_eq!(
        tail.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        [
            "admin.user.role_changed",
            "admin.user.unlocked",
            "admin.user.deleted"
        ]
    );
    for e in tail {
        assert_eq!(e.actor_user_id.as_deref(), Some(admin_id.as_str()));
        assert_eq!(e.target_type.as_deref(), Some("user"));
        assert_eq!(e.target_id.as_deref(), Some(user.as_str()));
    }
}

#[tokio::test]
async fn a_thousand_events_from_two_processes_in_parallel_form_one_valid_chain() {
    let first = spawn_app_with(|raw| raw.audit.checkpoint_every = 64).await;
    let second = spawn_sibling(&first).await;
    let (_, admin, _) = first.admin("root@example.com").await;
    let before = trail(&first).await.len();
    // 1,000 refused requests (each one audit entry), alternating between the processes,
    // 64 in flight.
    let routers = [first.router.clone(), second.router.clone()];
    let mut running = tokio::task::JoinSet::new();
    let mut statuses = Vec::new();
    for i in 0..1000 {
        let router = routers[i % 2].clone();
        running.spawn(async move {
            let req = http::Request::get("/api/users/me")
                .header("host", "api.test")
                .body(axum::body::Body::empty())
                .unwrap();
            router.oneshot(req).await.unwrap().status().as_u16()
        });
        if running.len() >= 64 {
            statuses.push(running.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(status) = running.join_next().await {
        statuses.push(status.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 401));
    assert_eq!(statuses.len(), 1000);

    let entries = trail(&first).await;
    assert_eq!(entries.len(), before + 1000);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "one chain without gaps");
    }
    let report = verify(&first, &admin).await;
    assert_eq!(report["status"], "intact", "{report}");
    assert_eq!(report["entries"], before + 1000);
    // Requests commit in groups (at most 64 in flight here), and a group that takes the
    // chain 64 or more past the last checkpoint signs its head: so no more than 127 entries
    // are ever unsigned.
    let head = report["head"]["seq"].as_i64().unwrap();
    let signed = report["last_checkpoint"]["seq"].as_i64().unwrap();
    assert!(head - signed < 128, "{report}");
    assert!(report["checkpoints"].as_u64().unwrap() >= 7, "{report}");
    assert_eq!(report["first_broken"], Value::Null);
    // The other process sees the same chain.
    let report = verify(&second, &admin).await;
    assert_eq!(report["status"], "intact", "{report}");
}

/// An app with 12 entries and checkpoints at 5 and 10; returns it and an admin token.
async fn twelve_entries() -> (TestApp, String) {
    let app = spawn_app_with(|raw| raw.audit.checkpoint_every = 5).await;
    let (_, admin, _) = app.admin("root@example.com").await;
    for _ in 0..10 {
        assert_eq!(app.send(Req::get("/api/users/me")).await.status, 401);
    }
    assert_eq!(trail(&app).await.len(), 12);
    let report = verify(&app, &admin).await;
    assert_eq!(report["status"], "intact", "{report}");
    assert_eq!(report["checkpoints"], 2);
    (app, admin)
}

/// Tampers with a fresh 12-entry trail and returns the first break the verifier names.
async fn first_break(statements: &[&'static str]) -> (i64, String) {
    let (app, admin) = twelve_entries().await;
    tamper(&app, statements).await;
    let report = verify(&app, &admin).await;
    assert_eq!(report["status"], "tampered", "{report}");
    let broken = &report["first_broken"];
    (
        broken["seq"].as_i64().unwrap(),
        broken["kind"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn an_edited_entry_is_named() {
    let edit = "UPDATE audit_entries SET actor_ip = '203.0.113.9' WHERE seq = 3";
    assert_eq!(first_break(&[edit]).await, (3, "modified".into()));
}

#[tokio::test]
async fn a_deleted_entry_is_named() {
    let delete = "DELETE FROM audit_entries WHERE seq = 4";
    assert_eq!(first_break(&[delete]).await, (4, "missing".into()));
}

#[tokio::test]
async fn swapped_entries_are_named() {
    let swap = [
        "UPDATE audit_entries SET seq = -1 WHERE seq = 6",
        "UPDATE audit_entries SET seq = 6 WHERE seq = 7",
        "UPDATE audit_entries SET seq = 7 WHERE seq = -1",
    ];
    assert_eq!(first_break(&swap).await, (6, "modified".into()));
}

#[tokio::test]
async fn truncation_below_the_last_checkpoint_is_named() {
    let cut = "DELETE FROM audit_entries WHERE seq > 7";
    assert_eq!(first_break(&[cut]).await, (8, "truncated".into()));
}

#[tokio::test]
async fn removed_checkpoints_are_named() {
    // The newest one: the unsigned tail is now longer than the writer ever leaves it.
    let newest = "DELETE FROM audit_checkpoints WHERE seq = 10";
    assert_eq!(first_break(&[newest]).await, (6, "unsealed".into()));
    // One in the middle: the next one names it.
    let middle = "DELETE FROM audit_checkpoints WHERE seq = 5";
    assert_eq!(
        first_break(&[middle]).await,
        (5, "checkpoint_missing".into())
    );
    // All of them: nothing signed is left to contradict a rewritten chain, but nothing
    // covers the twelve entries either.
    let all = "DELETE FROM audit_checkpoints";
    assert_eq!(first_break(&[all]).await, (1, "unsealed".into()));
}

#[tokio::test]
async fn the_trail_refuses_updates_and_deletes_through_sql() {
    let (app, admin) = twelve_entries().await;
    let attempts: [&'static str; 3] = [
        "UPDATE audit_entries SET result = 'success' WHERE seq = 1",
        "DELETE FROM audit_entries WHERE seq = 12",
        "DELETE FROM audit_checkpoints",
    ];
    match postgres_url() {
        None => {
            let path = app.raw.data_dir.join("audit.sqlite3");
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            for s in attempts {
                let err = sqlx::query(s).execute(&mut conn).await.unwrap_err();
                assert!(err.to_string().contains("append-only"), "{err}");
            }
        }
        Some(_) => {
            let mut conn = sqlx::PgConnection::connect(&app.raw.database_url)
                .await
                .unwrap();
            sqlx::query("SET search_path TO rampart_audit")
                .execute(&mut conn)
                .await
                .unwrap();
            for s in attempts.iter().chain(&["TRUNCATE audit_entries"]) {
                let err = sqlx::query(*s).execute(&mut conn).await.unwrap_err();
                assert!(err.to_string().contains("append-only"), "{err}");
            }
        }
    }
    assert_eq!(verify(&app, &admin).await["status"], "intact");
}

#[tokio::test]
async fn the_admin_api_filters_and_pages_and_refuses_everyone_else() {
    let app = spawn_app().await;
    let (admin_id, admin, _) = app.admin("root@example.com").await;
    let (user, token, _) = app.user("carol@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            app.send(Req::get("/api/admin/audit").bearer(&token))
                .await
                .status,
            403
        );
    }
    app.send(Req::get("/api/admin/audit"))
        .await
        .assert_error(401, "unauthorized");
    app.send(Req::get("/api/admin/audit/verify").bearer(&token))
        .await
        .assert_error(403, "forbidden");

    let list = |query: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let res = app
                .send(Req::get(&format!("/api/admin/audit{query}")).bearer(&admin))
                .await;
            assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
            res.json()
        }
    };
    let denied = list("?action=access.denied&limit=2".into()).await;
    let page: Vec<&Value> = denied["entries"].as_array().unwrap().iter().collect();
    assert_eq!(page.len(), 2);
    assert!(page.iter().all(|e| e["action"] == "access.denied"));
    assert!(
        page[0]["seq"].as_i64() > page[1]["seq"].as_i64(),
        "newest first"
    );
    // Newest: the user's forbidden verify; then the anonymous 401.
    assert_eq!(page[0]["actor"]["user_id"], user.as_str());
    assert_eq!(page[1]["actor"]["user_id"], Value::Null);
    let mut seen = BTreeMap::new();
    let mut cursor = denied["next_cursor"].as_str().map(str::to_owned);
    for e in page {
        seen.insert(e["seq"].as_i64().unwrap(), e.clone());
    }
    while let Some(c) = cursor {
        let next = list(format!("?action=access.denied&limit=2&cursor={c}")).await;
        for e in next["entries"].as_array().unwrap() {
            assert!(seen.insert(e["seq"].as_i64().unwrap(), e.clone()).is_none());
        }
        cursor = next["next_cursor"].as_str().map(str::to_owned);
    }
    // 5 forbidden list calls + 1 anonymous + 1 forbidden verify.
    assert_eq!(seen.len(), 7);

    let by_actor = list(format!("?actor={user}")).await;
    let entries = by_actor["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries
            .iter()
            .all(|e| e["actor"]["user_id"] == user.as_str())
    );
    let by_target = list(format!("?target_type=user&target_id={admin_id}")).await;
    assert_eq!(
        by_target["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["auth.register"]
    );
    let future = list("?since=2999-01-01T00:00:00Z".into()).await;
    assert_eq!(future["entries"], json!([]));
    let past = list("?until=2000-01-01T00:00:00Z".into()).await;
    assert_eq!(past["entries"], json!([]));
    let all = list("?since=2000-01-01T00:00:00Z&limit=100".into()).await;
    let first = &all["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(first["seq"], 1);
    assert_eq!(
        first["prev_hash"],
        rampart_core::audit::GENESIS_HASH,
        "{first}"
    );
    assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));

    for (query, fields) in [
        ("?actor=nobody", vec!["actor"]),
        (
            "?since=yesterday&until=2026-13-01T00:00:00Z",
            vec!["since", "until"],
        ),
        ("?limit=0", vec!["limit"]),
        ("?limit=1e3", vec!["limit"]),
        ("?action=a%20b", vec!["action"]),
        ("?seq=1", vec!["seq"]),
        ("?actor=1%27%20OR%20%271%27=%271", vec!["actor"]),
    ] {
        let res = app
            .send(Req::get(&format!("/api/admin/audit{query}")).bearer(&admin))
            .await;
        assert_validation(&res, &fields);
    }
    app.send(Req::get("/api/admin/audit?cursor=bm9wZQ").bearer(&admin))
        .await
        .assert_error(400, "invalid_cursor");
}

#[tokio::test]
async fn rate_limit_refusals_are_recorded_once_per_window_with_their_count() {
    let app = spawn_app_with(|raw| {
        raw.rate_limit.enabled = true;
        raw.rate_limit.policies = vec![rampart_server::config::RawPolicy {
            name: "tiny".into(),
            methods: vec!["GET".into()],
            routes: vec!["/api/users/me".into()],
            max: 1,
            window_secs: 60,
            key: "ip".into(),
            on_store_error: None,
        }];
    })
    .await;
    let peer: std::net::SocketAddr = "198.51.100.7:4000".parse().unwrap();
    assert_eq!(
        app.send(Req::get("/api/users/me").peer(peer)).await.status,
        401
    );
    for _ in 0..6 {
        assert_eq!(
            app.send(Req::get("/api/users/me").peer(peer)).await.status,
            429
        );
    }
    let entries = trail(&app).await;
    let blocked: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "ratelimit.blocked")
        .collect();
    // Six refusals: first by the policy, then by the penalty box it started; one entry for
    // each within the window.
    let policies: Vec<String> = blocked
        .iter()
        .map(|e| {
            assert_eq!(e.actor_ip, "198.51.100.7");
            assert_eq!(e.result, "denied");
            let meta: Value = serde_json::from_str(&e.metadata).unwrap();
            assert_eq!(meta["refusals"], 1, "{meta}");
            meta["policy"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(
        policies == ["tiny"] || policies == ["tiny", "penalty"],
        "{policies:?} in {:?}",
        actions(&entries)
    );
}

#[tokio::test]
async fn a_change_whose_entry_cannot_be_stored_is_not_reported_done() {
    let app = spawn_app().await;
    let (_, token, _) = app.user("dave@example.com").await;
    assert_eq!(app.send(Req::get("/ready")).await.status, 200);
    app.state.audit.store().close().await;
    let res = app
        .send(
            Req::patch("/api/users/me")
                .bearer(&token)
                .json(json!({"name": "Dave"})),
        )
        .await;
    res.assert_error(503, "unavailable");
    let body = String::from_utf8_lossy(&res.body).to_lowercase();
    for leak in ["sqlx", "pool", "sqlite", "postgres", "audit"] {
        assert!(!body.contains(leak), "{body}");
    }
    // Reads record nothing, so they still work; readiness reports the broken dependency.
    assert_eq!(
        app.send(Req::get("/api/users/me").bearer(&token))
            .await
            .status,
        200
    );
    app.send(Req::get("/ready"))
        .await
        .assert_error(503, "unavailable");
}

#[tokio::test]
async fn no_password_or_token_reaches_the_trail() {
    const PASSWORD_MARK: &str = "Zebra-Quokka-7731-distinctive";
    // No grace window, so replaying a rotated refresh token is reuse at once.
    let app = spawn_app_with(|raw| raw.tokens.refresh_grace_secs = 0).await;
    let res = app
        .send(Req::post("/api/auth/register").json(json!({
            "email": "erin@example.com", "password": PASSWORD_MARK, "name": "Erin"
        })))
        .await;
    assert_eq!(res.status, 201);
    let res = app
        .send(Req::post("/api/auth/login").json(json!({
            "email": "erin@example.com", "password": PASSWORD_MARK
        })))
        .await;
    assert_eq!(res.status, 200);
    let mut secrets = vec![
        PASSWORD_MARK.to_owned(),
        res.json()["access_token"].as_str().unwrap().to_owned(),
        res.refresh_cookie().unwrap(),
    ];
    let res = app
        .send(Req::post("/api/auth/refresh").cookie(&secrets[2]))
        .await;
    assert_eq!(res.status, 200);
    secrets.push(res.json()["access_token"].as_str().unwrap().to_owned());
    secrets.push(res.refresh_cookie().unwrap());
    // Replaying the first refresh token revokes the session (and is recorded).
    let old = secrets[2].clone();
    app.send(Req::post("/api/auth/refresh").cookie(&old)).await;
    app.send(Req::post("/api/auth/login").json(json!({
        "email": "erin@example.com", "password": format!("{PASSWORD_MARK}-wrong")
    })))
    .await;
    let entries = trail(&app).await;
    assert!(actions(&entries).contains(&"auth.refresh.reuse_detected"));
    let mut stored = serde_json::to_string(&entries).unwrap();
    if postgres_url().is_none() {
        // Every byte on disk, not just what the API returns.
        for suffix in ["", "-wal"] {
            let path = app.raw.data_dir.join(format!("audit.sqlite3{suffix}"));
            if let Ok(bytes) = std::fs::read(&path) {
                stored.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    for secret in &secrets {
        assert!(
            !stored.contains(secret.as_str()),
            "a secret reached the trail"
        );
    }
    // Not even the first characters of the password.
    assert!(!stored.contains("Zebra-Quokka"));
}

#[tokio::test]
async fn metrics_are_served_on_the_private_listener_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = rampart_server::RawConfig {
        data_dir: dir.path().to_owned(),
        listen: "127.0.0.1:0".into(),
        ..Default::default()
    };
    raw.metrics.listen = "127.0.0.1:0".into();
    raw.rate_limit.enabled = false;
    // Entries are few: only the periodic and the shutdown checkpoints can cover them.
    raw.audit.checkpoint_every = 1000;
    raw.audit.checkpoint_interval_secs = 1;
    if let Some(base) = postgres_url() {
        raw.database_url = fresh_postgres_database(&base).await;
    }
    let settings = rampart_server::Settings::from_raw(&raw).unwrap();
    let app = rampart_server::Application::build(settings).await.unwrap();
    let public = app.local_addr().unwrap();
    let private = app.metrics_addr().unwrap();
    assert_ne!(public.port(), private.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let get = |addr: std::net::SocketAddr, path: &'static str| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    };
    assert!(get(public, "/health").await.starts_with("HTTP/1.1 200"));
    for path in ["/metrics", "/api/metrics", "/metrics/"] {
        let res = get(public, path).await;
        assert!(res.starts_with("HTTP/1.1 404"), "{res}");
        assert!(!res.contains("rampart_http_requests_total"));
    }
    let res = get(private, "/metrics").await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert!(
        res.contains(r#"rampart_http_requests_total{method="GET",route="/health",status="200"} 1"#),
        "{res}"
    );
    assert!(res.contains(r#"route="unmatched",status="404""#), "{res}");
    assert!(res.contains("rampart_password_hash_queue_depth"), "{res}");
    assert!(
        get(private, "/api/users/me")
            .await
            .starts_with("HTTP/1.1 404")
    );

    // The periodic checkpoint covers the refusal just recorded...
    assert!(
        get(public, "/api/users/me")
            .await
            .starts_with("HTTP/1.1 401")
    );
    let settings = rampart_server::Settings::from_raw(&raw).unwrap();
    let reader = rampart_server::app::open_audit_store(&settings, false)
        .await
        .unwrap();
    let covered = |reader: rampart_store::AuditStore| async move {
        let head = reader.entries_after(0, 1_000_000).await.unwrap().len() as i64;
        let last = reader.checkpoints().await.unwrap().last().map(|c| c.seq);
        (head, last)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (head, last) = covered(reader.clone()).await;
        if head > 0 && last == Some(head) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no periodic checkpoint: {head} {last:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // ... and the shutdown checkpoint covers the last one.
    assert!(
        get(public, "/api/users/me")
            .await
            .starts_with("HTTP/1.1 401")
    );
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let (head, last) = covered(reader.clone()).await;
    assert_eq!(head, 2);
    assert_eq!(
        last,
        Some(head),
        "the shutdown checkpoint signs the final head"
    );
    reader.close().await;
}
