//! The private metrics listener's routes (`metrics.listen`, never the public listener): the
//! Prometheus text exposition of `crate::metrics::Metrics` at `GET /metrics`, nothing else.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use http::{StatusCode, header};
use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

use crate::state::AppState;

/// The private metrics listener's router: GET /metrics only (text/plain; version=0.0.4;
/// charset=utf-8), everything else 404 (no body needed).
///
/// HEAD /metrics is answered as GET without a body, as axum does for every GET route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape).fallback(not_found))
        .fallback(not_found)
        .with_state(state)
}

async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    let text = state
        .metrics
        .render(state.hasher.queue_depth(), state.hasher.shed_count());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::{Method, Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::config::{RawConfig, Settings};

    /// Asserts that `line` is one whole line of `text`.
    #[track_caller]
    fn assert_line(text: &str, line: &str) {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in:\n{text}"
        );
    }

    async fn call(app: &Router, method: Method, uri: &str) -> (StatusCode, Option<String>, String) {
        let response = app
            .clone()
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn router_serves_get_metrics_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let raw = RawConfig {
            data_dir: dir.path().to_owned(),
            ..RawConfig::default()
        };
        let settings = Settings::from_raw(&raw).unwrap();
        let state = crate::build_state(settings).await.unwrap();
        state.metrics.auth("register");
        let app = router(state);

        let (status, content_type, body) = call(&app, Method::GET, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            content_type.as_deref(),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert_line(&body, r#"rampart_auth_events_total{outcome="register"} 1"#);
        assert_line(&body, "rampart_password_hash_queue_depth 0");
        assert_line(&body, "rampart_password_hash_shed_total 0");

        for (method, uri) in [
            (Method::POST, "/metrics"),
            (Method::PUT, "/metrics"),
            (Method::DELETE, "/metrics"),
            (Method::GET, "/"),
            (Method::GET, "/metrics/"),
            (Method::GET, "/metrics/extra"),
            (Method::GET, "/api/health"),
        ] {
            let (status, _, body) = call(&app, method.clone(), uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
            assert!(body.is_empty(), "{method} {uri}: {body}");
        }
    }
}
