//! Property tests: whatever JSON (or bytes) a client sends to the collection and account
//! routes, the answer is a success or a well-formed 4xx envelope — never a 5xx, never a panic.

use proptest::prelude::*;
use serde_json::{Map, Value as Json};

use crate::helpers::*;

/// Keys an attacker would try: declared fields, server-managed fields, operator keys.
const KEYS: &[&str] = &[
    "title",
    "body",
    "status",
    "tags",
    "internal_note",
    "item",
    "quantity",
    "unit_price",
    "contact_email",
    "deliver_by",
    "gift",
    "id",
    "owner_id",
    "created_at",
    "updated_at",
    "version",
    "role",
    "email",
    "password",
    "name",
    "$gt",
    "$where",
    "__proto__",
];

fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Json::from),
        ".{0,64}".prop_map(Json::String),
        prop::sample::select(vec![
            "published",
            "draft",
            "'; DROP TABLE c_posts; --",
            "<script>alert(1)</script>",
            "2026-01-01T00:00:00Z",
            "a@example.com",
            "https://example.com",
            "\u{0}",
        ])
        .prop_map(|s| Json::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
                    "[a-z_$]{1,12}",
                ],
                inner,
                0..8,
            )
            .prop_map(|m| Json::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn assert_well_formed(res: &TestResponse) {
    assert!(
        res.status.as_u16() < 500,
        "server error {}: {}",
        res.status,
        String::from_utf8_lossy(&res.body)
    );
    if res.status.is_client_error() {
        let body = res.json();
        assert!(
            body["error"].is_string() && body["request_id"].is_string(),
            "{body}"
        );
    }
}

#[test]
fn random_json_bodies_never_produce_a_server_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (app, token, post_id) = rt.block_on(async {
        let app = spawn_app_with_examples().await;
        let (_, token, _) = app.user("fuzz@example.com").await;
        let res = app
            .send(
                Req::post("/api/collections/posts/records")
                    .bearer(&token)
                    .json(serde_json::json!({"title": "seed"})),
            )
            .await;
        assert_eq!(res.status, 201);
        let id = res.json()["id"].as_str().unwrap().to_owned();
        (app, token, id)
    });
    let config = ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(body in arb_json())| {
        rt.block_on(async {
            for req in [
                Req::post("/api/collections/posts/records").bearer(&token).json(body.clone()),
                Req::post("/api/collections/orders/records").bearer(&token).json(body.clone()),
                Req::patch(&format!("/api/collections/posts/records/{post_id}")).bearer(&token).json(body.clone()),
                Req::post("/api/auth/register").json(body.clone()),
                Req::patch("/api/users/me").bearer(&token).json(body.clone()),
            ] {
                assert_well_formed(&app.send(req).await);
            }
        });
    });
}

#[test]
fn random_bytes_and_query_strings_never_produce_a_server_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (app, token) = rt.block_on(async {
        let app = spawn_app_with_examples().await;
        let (_, token, _) = app.user("bytes@example.com").await;
        (app, token)
    });
    let config = ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        query in "[a-z_\\[\\]=&%0-9A-F.-]{0,80}",
    )| {
        rt.block_on(async {
            let res = app
                .send(
                    Req::post("/api/collections/orders/records")
                        .bearer(&token)
                        .raw_body("application/json", bytes.clone()),
                )
                .await;
            assert_well_formed(&res);
            let res = app
                .send(Req::get(&format!("/api/collections/posts/records?{query}")).bearer(&token))
                .await;
            assert_well_formed(&res);
        });
    });
}
