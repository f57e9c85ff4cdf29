//! Several server processes on one database: refresh rotation stays atomic and revocations
//! propagate within the cache lifetime.

use std::time::Duration;

use crate::helpers::*;

async fn refresh(app: &TestApp, cookie: &str) -> TestResponse {
    app.send(Req::post("/api/auth/refresh").cookie(cookie))
        .await
}

#[tokio::test]
async fn racing_refreshes_in_two_processes_share_one_successor_inside_the_grace_window() {
    let a = spawn_app().await;
    let b = spawn_sibling(&a).await;
    let (_, _, cookie) = a.user("race@example.com").await;
    let (ra, rb) = tokio::join!(refresh(&a, &cookie), refresh(&b, &cookie));
    assert_eq!((ra.status.as_u16(), rb.status.as_u16()), (200, 200));
    let (sa, sb) = (ra.refresh_cookie().unwrap(), rb.refresh_cookie().unwrap());
    assert_eq!(sa, sb, "both racers get the same successor");
    assert_ne!(sa, cookie);
    // The user stays logged in: the successor rotates normally, in either process.
    assert_eq!(refresh(&b, &sa).await.status, 200);
}

#[tokio::test]
async fn racing_refreshes_without_grace_mint_exactly_one_successor() {
    let a = spawn_app_with(|raw| raw.tokens.refresh_grace_secs = 0).await;
    let b = spawn_sibling(&a).await;
    let (_, _, cookie) = a.user("race0@example.com").await;
    let (ra, rb) = tokio::join!(refresh(&a, &cookie), refresh(&b, &cookie));
    let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "exactly one racer rotates");
    let loser = if ra.status == 401 { &ra } else { &rb };
    loser.assert_error(401, "invalid_token");
    // The second presentation was a replay: the whole family is revoked, the winner's
    // successor included.
    let winner = if ra.status == 200 { &ra } else { &rb };
    let successor = winner.refresh_cookie().unwrap();
    refresh(&a, &successor)
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn revocation_in_one_process_reaches_the_other_within_the_cache_lifetime() {
    let a = spawn_app_with(|raw| raw.sessions.cache_ttl_ms = 200).await;
    let b = spawn_sibling(&a).await;
    let (_, access, _) = a.user("revoke@example.com").await;
    // B has seen the session live (and cached that).
    assert_eq!(
        b.send(Req::get("/api/users/me").bearer(&access))
            .await
            .status,
        200
    );
    let res = a.send(Req::post("/api/auth/logout").bearer(&access)).await;
    assert_eq!(res.status, 204);
    // Effective at once in A ...
    a.send(Req::get("/api/users/me").bearer(&access))
        .await
        .assert_error(401, "invalid_token");
    // ... and in B once its cache entry expires (bounded wait, no timing assertion).
    let mut refused = false;
    for _ in 0..100 {
        let res = b.send(Req::get("/api/users/me").bearer(&access)).await;
        if res.status == 401 {
            res.assert_error(401, "invalid_token");
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "the other process never noticed the revocation");
}
