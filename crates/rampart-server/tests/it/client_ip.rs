//! Who the client is: the socket peer, unless the peer is a configured trusted proxy, in which
//! case the right-most `X-Forwarded-For` address that is not itself trusted. An untrusted
//! client cannot choose its IP (and so its per-IP key) by sending `X-Forwarded-For`.
//!
//! The computed IP is observed through `GET /api/auth/sessions`, which shows each session's
//! login IP.

use std::net::SocketAddr;

use serde_json::json;

use crate::helpers::{PASSWORD, Req, TestApp, spawn_app, spawn_app_with};

const EMAIL: &str = "ip@example.com";

fn addr(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 40_000)
}

/// Logs in from `peer` with the given `X-Forwarded-For` values (one header line each) and
/// returns the IP recorded for that session.
async fn login_ip(app: &TestApp, peer: Option<&str>, forwarded_for: &[&str]) -> String {
    let mut req =
        Req::post("/api/auth/login").json(json!({ "email": EMAIL, "password": PASSWORD }));
    if let Some(peer) = peer {
        req = req.peer(addr(peer));
    }
    for value in forwarded_for {
        req = req.header("x-forwarded-for", value);
    }
    let res = app.send(req).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let access = res.json()["access_token"].as_str().unwrap().to_owned();

    let res = app
        .send(Req::get("/api/auth/sessions").bearer(&access))
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let body = res.json();
    let current: Vec<_> = body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current.len(), 1, "{body}");
    current[0]["ip"].as_str().unwrap().to_owned()
}

async fn app_behind_proxy() -> TestApp {
    let app = spawn_app_with(|raw| {
        raw.network.trusted_proxies = vec!["10.0.0.0/8".into()];
    })
    .await;
    app.register(EMAIL).await;
    app
}

#[tokio::test]
async fn untrusted_peer_cannot_spoof_its_ip() {
    let app = spawn_app().await;
    app.register(EMAIL).await;
    assert_eq!(
        login_ip(&app, Some("203.0.113.7"), &["1.2.3.4"]).await,
        "203.0.113.7"
    );
    // Without a socket peer (no accept loop) the client is unknown, header or not.
    assert_eq!(login_ip(&app, None, &["1.2.3.4"]).await, "unknown");
}

#[tokio::test]
async fn untrusted_peer_cannot_spoof_its_ip_even_with_proxies_configured() {
    let app = app_behind_proxy().await;
    assert_eq!(
        login_ip(&app, Some("203.0.113.7"), &["1.2.3.4"]).await,
        "203.0.113.7"
    );
    // A trusted-looking address in the header does not make the sender a proxy.
    assert_eq!(
        login_ip(&app, Some("203.0.113.7"), &["10.9.9.9"]).await,
        "203.0.113.7"
    );
    assert_eq!(
        login_ip(&app, Some("203.0.113.7"), &["198.51.100.9, 10.9.9.9"]).await,
        "203.0.113.7"
    );
}

#[tokio::test]
async fn trusted_proxy_forwards_the_client() {
    let app = app_behind_proxy().await;
    assert_eq!(
        login_ip(&app, Some("10.1.2.3"), &["198.51.100.9"]).await,
        "198.51.100.9"
    );
    // Without a header, the proxy itself is the client.
    assert_eq!(login_ip(&app, Some("10.1.2.3"), &[]).await, "10.1.2.3");
    // An IPv4-mapped peer is the same proxy.
    assert_eq!(
        login_ip(&app, Some("::ffff:10.1.2.3"), &["198.51.100.9"]).await,
        "198.51.100.9"
    );
}

#[tokio::test]
async fn chain_of_trusted_proxies_is_skipped_and_client_claims_ignored() {
    let app = app_behind_proxy().await;
    assert_eq!(
        login_ip(&app, Some("10.1.2.3"), &["6.6.6.6, 198.51.100.9, 10.9.9.9"]).await,
        "198.51.100.9"
    );
    // The same list split over several header lines reads as one.
    assert_eq!(
        login_ip(
            &app,
            Some("10.1.2.3"),
            &["6.6.6.6", "198.51.100.9", "10.9.9.9"]
        )
        .await,
        "198.51.100.9"
    );
}

#[tokio::test]
async fn nothing_left_of_garbage_is_believed() {
    let app = app_behind_proxy().await;
    assert_eq!(
        login_ip(&app, Some("10.1.2.3"), &["garbage, 198.51.100.9"]).await,
        "198.51.100.9"
    );
    assert_eq!(
        login_ip(&app, Some("10.1.2.3"), &["198.51.100.9, garbage"]).await,
        "10.1.2.3"
    );
}
