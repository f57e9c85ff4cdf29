//! Liveness and readiness.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn health_is_ok_and_ready_reflects_the_database() {
    let app = spawn_app().await;
    let res = app.send(Req::get("/health")).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), json!({"status": "ok"}));
    let res = app.send(Req::get("/ready")).await;
    assert_eq!(res.status, 200);

    // The database goes away: readiness says so, and routes that need it answer 503, not 500.
    app.state.store.close().await;
    app.send(Req::get("/ready"))
        .await
        .assert_error(503, "unavailable");
    let res = app
        .send(Req::post("/api/auth/login").json(json!({
            "email": "someone@example.com", "password": PASSWORD
        })))
        .await;
    res.assert_error(503, "unavailable");
    assert!(res.header("retry-after").is_some());
    assert_eq!(app.send(Req::get("/health")).await.status, 200);
}
