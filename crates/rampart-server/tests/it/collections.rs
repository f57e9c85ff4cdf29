//! `/api/collections/{name}/records` under attack: unknown collections and malformed ids,
//! mass assignment of server-managed, undeclared and admin-only fields, other users' records
//! (object level), hidden fields (property level), hostile values and bodies, injection
//! strings, hostile HTML, hostile list queries and forged cursors, lost updates, references to
//! records the caller cannot read, deny by default, bad declarations, and a seeded stream of
//! random bodies that must never produce a server error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rampart_server::config::{EXAMPLE_COLLECTIONS, RawConfig, Settings};
use serde_json::{Map, Value, json};

use crate::helpers::*;

/// Fields every record has and only the server sets.
const MANAGED: &[&str] = &["id", "owner_id", "created_at", "updated_at", "version"];
/// `posts` fields a non-admin sees (`internal_note` is admin-only).
const POST_FIELDS: &[&str] = &["title", "body", "status", "tags"];
/// `orders` fields.
const ORDER_FIELDS: &[&str] = &[
    "item",
    "quantity",
    "unit_price",
    "contact_email",
    "deliver_by",
    "gift",
];

/// `notes.order` refers to `orders`; notes are private to their owner.
const NOTES: &str = r#"
[[collections]]
name = "notes"

[collections.access]
list = "owner"
read = "owner"
create = "authenticated"
update = "owner"
delete = "owner"

[collections.fields.text]
type = "string"
max = 200

[collections.fields.order]
type = "reference"
collection = "orders"
"#;

/// One field of every type, owned by its creator, updatable: the PATCH validation target.
const GADGETS: &str = r#"
[[collections]]
name = "gadgets"

[collections.access]
list = "owner"
read = "owner"
create = "authenticated"
update = "owner"
delete = "owner"

[collections.fields.name]
type = "string"
required = true
max = 50
pattern = "[a-z ]+"

[collections.fields.notes]
type = "text"
max = 100

[collections.fields.count]
type = "integer"
min = -5
max = 5

[collections.fields.weight]
type = "number"
min = 0
max = 10

[collections.fields.ok]
type = "boolean"

[collections.fields.homepage]
type = "url"

[collections.fields.serial]
type = "uuid"

[collections.fields.when]
type = "datetime"

[collections.fields.kind]
type = "enum"
values = ["a", "b"]

[collections.fields.scores]
type = "array"
items = "integer"
min = 0
max = 100
max_items = 3
"#;

/// No access rules at all, and a collection with only some.
const LOCKED: &str = r#"
[[collections]]
name = "vault"

[collections.fields.secret]
type = "string"

[[collections]]
name = "ledger"

[collections.access]
read = "owner_or_role:admin"
create = "authenticated"

[collections.fields.entry]
type = "string"
"#;

/// Conditional create and update rules.
const ARTICLES: &str = r#"
[[collections]]
name = "articles"

[collections.access]
list = "public"
read = "public"
create = { when = { field = "status", equals = "published" }, then = "role:admin", else = "authenticated" }
update = { when = { field = "status", equals = "draft" }, then = "owner_or_role:admin", else = "role:admin" }
delete = "owner_or_role:admin"

[collections.fields.title]
type = "string"
required = true
max = 100

[collections.fields.status]
type = "enum"
values = ["draft", "published"]
default = "draft"
"#;

/// Names that are SQL keywords or clash with the account tables.
const KEYWORDS: &str = r#"
[[collections]]
name = "users"

[collections.access]
list = "authenticated"
read = "authenticated"
create = "authenticated"
update = "owner"
delete = "owner"

[collections.fields.email]
type = "string"

[collections.fields.password_hash]
type = "string"

[collections.fields.role]
type = "string"

[[collections]]
name = "select"

[collections.access]
list = "owner"
read = "owner"
create = "authenticated"
update = "owner"
delete = "owner"

[collections.fields.from]
type = "string"

[collections.fields.where]
type = "integer"

[collections.fields.order]
type = "integer"

[collections.fields.group]
type = "boolean"

[collections.fields.table]
type = "datetime"

[collections.fields.user]
type = "string"
"#;

/// The longest names a declaration allows; the two fields differ only in their last letter.
const LONG_NAMES: &str = r#"
[[collections]]
name = "a123456789012345678901234567890123456789"

[collections.access]
list = "owner"
read = "owner"
create = "authenticated"
update = "owner"
delete = "owner"

[collections.fields.f23456789012345678901234567890123456789a]
type = "integer"

[collections.fields.f23456789012345678901234567890123456789b]
type = "integer"
"#;

// ---------------------------------------------------------------------------------------------
// Harness.

#[derive(Clone)]
struct Who {
    id: String,
    token: String,
}

/// An app with the example collections (plus `extra`), two users and an admin.
struct World {
    app: TestApp,
    a: Who,
    b: Who,
    admin: Who,
}

fn records(coll: &str) -> String {
    format!("/api/collections/{coll}/records")
}

fn record(coll: &str, id: &str) -> String {
    format!("/api/collections/{coll}/records/{id}")
}

fn auth(req: Req, who: Option<&Who>) -> Req {
    match who {
        Some(w) => req.bearer(&w.token),
        None => req,
    }
}

fn text(res: &TestResponse) -> String {
    String::from_utf8_lossy(&res.body).into_owned()
}

/// A query string with every key and value percent-encoded.
fn q(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let k: String = form_urlencoded::byte_serialize(k.as_bytes()).collect();
            let v: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn id_of(rec: &Value) -> String {
    rec["id"].as_str().unwrap().to_owned()
}

fn post(title: &str, status: &str) -> Value {
    json!({"title": title, "status": status})
}

fn order(item: &str, quantity: i64) -> Value {
    json!({
        "item": item,
        "quantity": quantity,
        "unit_price": 9.5,
        "contact_email": "buyer@example.com",
    })
}

/// Asserts that the details name `field` with a message containing `message`.
#[track_caller]
fn assert_detail(res: &TestResponse, field: &str, message: &str) {
    let body = res.json();
    let found = body["details"].as_array().is_some_and(|details| {
        details.iter().any(|d| {
            d["field"] == field && d["message"].as_str().is_some_and(|m| m.contains(message))
        })
    });
    assert!(found, "no detail {field:?} ~ {message:?} in {body}");
}

/// The envelope without its per-request id.
fn sans_request_id(res: &TestResponse) -> Value {
    let mut body = res.json();
    body.as_object_mut().unwrap().remove("request_id");
    body
}

/// Asserts that `res` is a 404 indistinguishable from `reference` (a 404 for a missing id):
/// same envelope but for the request id, same header names.
#[track_caller]
fn assert_same_404(res: &TestResponse, reference: &TestResponse) {
    res.assert_error(404, "not_found");
    reference.assert_error(404, "not_found");
    assert_eq!(sans_request_id(res), sans_request_id(reference));
    assert_eq!(keys(&res.json()), keys(&reference.json()));
    let names = |r: &TestResponse| -> BTreeSet<String> {
        r.headers.keys().map(|k| k.as_str().to_owned()).collect()
    };
    assert_eq!(names(res), names(reference));
    assert_eq!(res.header("etag"), None);
}

/// Records and `next_cursor` of one list page (asserting the page's shape).
fn page(res: &TestResponse) -> (Vec<Value>, Option<String>) {
    assert_eq!(res.status, 200, "{}", text(res));
    let body = res.json();
    assert_eq!(keys(&body), set(&["records", "next_cursor"]), "{body}");
    let next = match &body["next_cursor"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("next_cursor is {other}"),
    };
    (body["records"].as_array().unwrap().clone(), next)
}

impl World {
    async fn new(extra: &[&str]) -> World {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let app = spawn_app_with(move |raw| {
            let mut collections = collections_from_toml(EXAMPLE_COLLECTIONS);
            for toml in &extra {
                collections.extend(collections_from_toml(toml));
            }
            raw.collections = collections;
        })
        .await;
        let (id, token, _) = app.user("alice@example.com").await;
        let a = Who { id, token };
        let (id, token, _) = app.user("bob@example.com").await;
        let b = Who { id, token };
        let (id, token, _) = app.admin("root@example.com").await;
        let admin = Who { id, token };
        World { app, a, b, admin }
    }

    async fn send(&self, req: Req) -> TestResponse {
        self.app.send(req).await
    }

    async fn post(&self, who: Option<&Who>, coll: &str, body: Value) -> TestResponse {
        self.send(auth(Req::post(&records(coll)), who).json(body))
            .await
    }

    /// Creates a record (asserting 201, ETag 1 and the owner) and returns it.
    async fn create(&self, who: &Who, coll: &str, body: Value) -> Value {
        let res = self.post(Some(who), coll, body.clone()).await;
        assert_eq!(res.status, 201, "create {coll} {body}: {}", text(&res));
        assert_eq!(res.header("etag"), Some("\"1\""));
        let rec = res.json();
        assert_eq!(rec["owner_id"], who.id.as_str(), "{rec}");
        assert_eq!(rec["version"], 1, "{rec}");
        rec
    }

    async fn create_id(&self, who: &Who, coll: &str, body: Value) -> String {
        id_of(&self.create(who, coll, body).await)
    }

    async fn get(&self, who: Option<&Who>, coll: &str, id: &str) -> TestResponse {
        self.send(auth(Req::get(&record(coll, id)), who)).await
    }

    async fn patch(&self, who: Option<&Who>, coll: &str, id: &str, body: Value) -> TestResponse {
        self.send(auth(Req::patch(&record(coll, id)), who).json(body))
            .await
    }

    async fn delete(&self, who: Option<&Who>, coll: &str, id: &str) -> TestResponse {
        self.send(auth(Req::delete(&record(coll, id)), who)).await
    }

    async fn list(&self, who: Option<&Who>, coll: &str, query: &str) -> TestResponse {
        let path = if query.is_empty() {
            records(coll)
        } else {
            format!("{}?{query}", records(coll))
        };
        self.send(auth(Req::get(&path), who)).await
    }

    /// The record as `who` reads it (asserting 200 and that the ETag is its version).
    async fn snapshot(&self, who: &Who, coll: &str, id: &str) -> Value {
        let res = self.get(Some(who), coll, id).await;
        assert_eq!(res.status, 200, "{}", text(&res));
        let rec = res.json();
        assert_eq!(
            res.header("etag").map(str::to_owned),
            Some(format!("\"{}\"", rec["version"])),
            "{rec}"
        );
        rec
    }

    /// Every record `who` lists with `query`, following cursors with pages of `limit`.
    async fn listed_by(
        &self,
        who: Option<&Who>,
        coll: &str,
        query: &str,
        limit: usize,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..200 {
            let mut parts = vec![format!("limit={limit}")];
            if !query.is_empty() {
                parts.push(query.to_owned());
            }
            if let Some(c) = &cursor {
                parts.push(q(&[("cursor", c.as_str())]));
            }
            let res = self.list(who, coll, &parts.join("&")).await;
            let (recs, next) = page(&res);
            assert!(recs.len() <= limit);
            if next.is_some() {
                assert_eq!(recs.len(), limit, "a short page must be the last");
            }
            for rec in &recs {
                assert!(
                    out.iter().all(|seen: &Value| seen["id"] != rec["id"]),
                    "{coll}?{query} limit={limit}: {} listed twice",
                    rec["id"]
                );
            }
            out.extend(recs);
            match next {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
        panic!("pagination of {coll}?{query} did not end after 200 pages");
    }

    async fn listed(&self, who: Option<&Who>, coll: &str, query: &str) -> Vec<Value> {
        self.listed_by(who, coll, query, 100).await
    }

    async fn listed_ids(&self, who: Option<&Who>, coll: &str, query: &str) -> BTreeSet<String> {
        let recs = self.listed(who, coll, query).await;
        let ids: BTreeSet<String> = recs.iter().map(id_of).collect();
        assert_eq!(ids.len(), recs.len(), "a record was listed twice");
        ids
    }

    /// How many records the admin lists.
    async fn count(&self, coll: &str) -> usize {
        self.listed(Some(&self.admin), coll, "").await.len()
    }
}

fn ids(items: &[&String]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Routes and ids.

#[tokio::test]
async fn unknown_collections_are_404_for_everyone() {
    let w = World::new(&[]).await;
    let reference = w.get(Some(&w.a), "posts", &random_id()).await;
    reference.assert_error(404, "not_found");
    let names = [
        "nope",
        "users",
        "sessions",
        "POSTS",
        "post",
        "posts_",
        "c_posts",
        "posts%00",
        "..%2Fposts",
        "posts%20",
        "%27%3B%20DROP%20TABLE%20users%3B--",
    ];
    for name in names {
        for who in [None, Some(&w.a), Some(&w.admin)] {
            let id = random_id();
            let responses = [
                w.send(auth(Req::get(&records(name)), who)).await,
                w.send(auth(Req::post(&records(name)), who).json(post("x", "draft")))
                    .await,
                w.send(auth(Req::get(&record(name, &id)), who)).await,
                w.send(auth(Req::patch(&record(name, &id)), who).json(json!({"title": "x"})))
                    .await,
                w.send(auth(Req::delete(&record(name, &id)), who)).await,
            ];
            for res in &responses {
                res.assert_error(404, "not_found");
                assert_eq!(sans_request_id(res), sans_request_id(&reference), "{name}");
            }
        }
    }
    assert_eq!(w.count("posts").await, 0);
}

#[tokio::test]
async fn a_bad_token_is_refused_not_treated_as_anonymous() {
    let w = World::new(&[]).await;
    for path in [records("posts"), record("posts", &random_id())] {
        let res = w.send(Req::get(&path).bearer("not-a-token")).await;
        res.assert_error(401, "invalid_token");
    }
    let res = w
        .send(
            Req::post(&records("posts"))
                .bearer("not-a-token")
                .json(post("x", "published")),
        )
        .await;
    res.assert_error(401, "invalid_token");
    assert_eq!(w.count("posts").await, 0);
}

#[tokio::test]
async fn unsupported_methods_are_405() {
    let w = World::new(&[]).await;
    let id = w.create_id(&w.a, "posts", post("x", "draft")).await;
    let cases = [
        Req::new(http::Method::PUT, &record("posts", &id)),
        Req::new(http::Method::PUT, &records("posts")),
        Req::delete(&records("posts")),
        Req::patch(&records("posts")),
        Req::post(&record("posts", &id)),
        Req::new(http::Method::TRACE, &record("posts", &id)),
    ];
    for req in cases {
        let res = w
            .send(req.bearer(&w.a.token).json(json!({"title": "y"})))
            .await;
        res.assert_error(405, "method_not_allowed");
    }
    assert_eq!(w.snapshot(&w.a, "posts", &id).await["title"], "x");
}

#[tokio::test]
async fn malformed_record_ids_get_the_same_404_as_missing_ones() {
    let w = World::new(&[]).await;
    let rec = w.create(&w.a, "posts", post("mine", "draft")).await;
    let id = id_of(&rec);
    let reference = w.get(Some(&w.a), "posts", &random_id()).await;
    reference.assert_error(404, "not_found");
    let malformed = [
        "not-a-uuid".to_owned(),
        "1".to_owned(),
        "0".to_owned(),
        id.to_uppercase(),
        id.replace('-', ""),
        format!("%7B{id}%7D"),
        format!("urn:uuid:{id}"),
        format!("{id}0"),
        id[..35].to_owned(),
        format!("%20{id}"),
        format!("{id}%00"),
        "%27%20OR%20%271%27%3D%271".to_owned(),
        "00000000-0000-0000-0000-000000000000".to_owned(),
    ];
    for bad in &malformed {
        assert_same_404(&w.get(Some(&w.a), "posts", bad).await, &reference);
        let res = w
            .patch(Some(&w.a), "posts", bad, json!({"title": "changed"}))
            .await;
        assert_same_404(&res, &reference);
        assert_same_404(&w.delete(Some(&w.a), "posts", bad).await, &reference);
        assert_same_404(&w.delete(Some(&w.admin), "posts", bad).await, &reference);
    }
    assert_eq!(w.snapshot(&w.a, "posts", &id).await, rec);
}

#[tokio::test]
async fn record_ids_are_random_uuids() {
    let w = World::new(&[]).await;
    let mut texts = Vec::new();
    for i in 0..6 {
        texts.push(
            w.create_id(&w.a, "posts", post(&format!("p{i}"), "draft"))
                .await,
        );
    }
    let parsed: Vec<uuid::Uuid> = texts
        .iter()
        .map(|t| uuid::Uuid::parse_str(t).unwrap())
        .collect();
    for (t, id) in texts.iter().zip(&parsed) {
        assert_eq!(&id.hyphenated().to_string(), t, "canonical lowercase form");
        assert!(matches!(id.get_version_num(), 4 | 7), "{t}");
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122, "{t}");
    }
    assert_eq!(texts.iter().collect::<BTreeSet<_>>().len(), texts.len());
    // Not a counter: neighbours differ in many of their random (low 62) bits.
    let random_bits = |v: u128| v & ((1u128 << 62) - 1);
    for pair in parsed.windows(2) {
        let (x, y) = (pair[0].as_u128(), pair[1].as_u128());
        assert!(x.abs_diff(y) > 1, "{} {}", pair[0], pair[1]);
        assert!(
            (random_bits(x) ^ random_bits(y)).count_ones() >= 8,
            "{} {}",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test]
async fn created_records_have_server_fields_and_defaults() {
    let w = World::new(&[]).await;
    let rec = w.create(&w.a, "posts", json!({"title": "hello"})).await;
    let mut expected = set(MANAGED);
    expected.extend(set(POST_FIELDS));
    assert_eq!(keys(&rec), expected, "{rec}");
    assert_eq!(rec["status"], "draft");
    assert_eq!(rec["body"], Value::Null);
    assert_eq!(rec["tags"], Value::Null);
    assert_eq!(rec["created_at"], rec["updated_at"]);
    assert!(rec["created_at"].as_str().unwrap().ends_with('Z'), "{rec}");
    assert_eq!(w.snapshot(&w.a, "posts", &id_of(&rec)).await, rec);

    // The admin also sees the admin-only field, as null when unset.
    let by_admin = w.snapshot(&w.admin, "posts", &id_of(&rec)).await;
    let mut with_note = expected.clone();
    with_note.insert("internal_note".into());
    assert_eq!(keys(&by_admin), with_note);
    assert_eq!(by_admin["internal_note"], Value::Null);

    let mut body = order("widget", 2);
    body["contact_email"] = json!("Buyer@Example.COM");
    body["deliver_by"] = json!("2026-01-02T03:04:05+01:00");
    let rec = w.create(&w.a, "orders", body).await;
    let mut expected = set(MANAGED);
    expected.extend(set(ORDER_FIELDS));
    assert_eq!(keys(&rec), expected, "{rec}");
    assert_eq!(rec["gift"], false, "default applied");
    assert_eq!(rec["contact_email"], "buyer@example.com");
    assert_eq!(rec["deliver_by"], "2026-01-02T02:04:05.000Z");
    assert_eq!(rec["quantity"], 2);
    assert_eq!(rec["unit_price"], 9.5);
}

// ---------------------------------------------------------------------------------------------
// Mass assignment.

fn managed_value(key: &str, other_user: &str) -> Value {
    match key {
        "id" => json!(random_id()),
        "owner_id" => json!(other_user),
        "created_at" | "updated_at" => json!("2000-01-01T00:00:00Z"),
        _ => json!(99),
    }
}

#[tokio::test]
async fn server_managed_fields_are_refused_on_create() {
    let w = World::new(&[]).await;
    for who in [&w.a, &w.admin] {
        for (coll, base) in [("posts", post("t", "published")), ("orders", order("i", 1))] {
            for key in MANAGED {
                let mut body = base.clone();
                body[*key] = managed_value(key, &w.b.id);
                let res = w.post(Some(who), coll, body).await;
                assert_validation(&res, &[*key]);
                assert_detail(&res, key, "is managed by the server");
            }
            let mut body = base.clone();
            for key in MANAGED {
                body[*key] = managed_value(key, &w.b.id);
            }
            let res = w.post(Some(who), coll, body).await;
            assert_validation(&res, MANAGED);
            for key in MANAGED {
                assert_detail(&res, key, "is managed by the server");
            }
        }
    }
    assert_eq!(w.count("posts").await, 0);
    assert_eq!(w.count("orders").await, 0);
}

#[tokio::test]
async fn server_managed_fields_are_refused_on_patch() {
    let w = World::new(&[GADGETS]).await;
    for (coll, base) in [
        ("posts", post("t", "draft")),
        ("gadgets", json!({"name": "thing"})),
    ] {
        let id = w.create_id(&w.a, coll, base).await;
        let before = w.snapshot(&w.a, coll, &id).await;
        for key in MANAGED {
            let res = w
                .patch(
                    Some(&w.a),
                    coll,
                    &id,
                    json!({ *key: managed_value(key, &w.b.id) }),
                )
                .await;
            assert_validation(&res, &[*key]);
            assert_detail(&res, key, "is managed by the server");
            assert_eq!(w.snapshot(&w.a, coll, &id).await, before, "{key}");
        }
        let mut body = Map::new();
        for key in MANAGED {
            body.insert((*key).to_owned(), managed_value(key, &w.b.id));
        }
        body.insert("notes".into(), json!("fine"));
        if coll == "posts" {
            body.remove("notes");
            body.insert("title".into(), json!("fine"));
        }
        let res = w.patch(Some(&w.a), coll, &id, Value::Object(body)).await;
        assert_validation(&res, MANAGED);
        assert_eq!(w.snapshot(&w.a, coll, &id).await, before);
    }
    // Nobody else's id shows up as owner: the record still belongs to A.
    assert!(
        w.listed(Some(&w.b), "gadgets", "").await.is_empty(),
        "B must not own A's gadget"
    );
}

#[tokio::test]
async fn undeclared_fields_are_refused() {
    let w = World::new(&[]).await;
    let undeclared = [
        "nope",
        "Title",
        "TITLE",
        "title ",
        " title",
        "t\u{456}tle",
        "__proto__",
        "constructor",
        "$where",
        "",
        "f_title",
        "c_posts",
        "title\u{0}",
        "owner",
        "body.x",
        "status[$ne]",
        "title; DROP TABLE c_posts; --",
    ];
    let id = w.create_id(&w.a, "posts", post("kept", "draft")).await;
    let before = w.snapshot(&w.admin, "posts", &id).await;
    for key in undeclared {
        let mut body = post("t", "published");
        body[key] = json!("x");
        let res = w.post(Some(&w.a), "posts", body).await;
        assert_validation(&res, &[key]);
        assert_detail(&res, key, "not a recognised field");

        let res = w
            .patch(
                Some(&w.a),
                "posts",
                &id,
                json!({ key: "x", "title": "changed" }),
            )
            .await;
        assert_validation(&res, &[key]);
        assert_eq!(w.snapshot(&w.admin, "posts", &id).await, before, "{key:?}");

        let mut body = order("i", 1);
        body[key] = json!(1);
        assert_validation(&w.post(Some(&w.a), "orders", body).await, &[key]);
    }
    assert_eq!(w.count("posts").await, 1);
    assert_eq!(w.count("orders").await, 0);
}

#[tokio::test]
async fn admin_only_fields_are_not_writable_by_users() {
    let w = World::new(&[]).await;
    let mut body = post("t", "published");
    body["internal_note"] = json!("sneaky");
    for who in [&w.a, &w.b] {
        let res = w.post(Some(who), "posts", body.clone()).await;
        assert_validation(&res, &["internal_note"]);
        assert_detail(&res, "internal_note", "is not writable");
    }
    assert_eq!(w.count("posts").await, 0);

    let id = w.create_id(&w.a, "posts", post("mine", "draft")).await;
    let before = w.snapshot(&w.admin, "posts", &id).await;
    for value in [json!("sneaky"), Value::Null, json!(""), json!(["x"])] {
        let res = w
            .patch(
                Some(&w.a),
                "posts",
                &id,
                json!({"internal_note": value, "title": "changed"}),
            )
            .await;
        assert_validation(&res, &["internal_note"]);
        assert_detail(&res, "internal_note", "is not writable");
        assert_eq!(w.snapshot(&w.admin, "posts", &id).await, before);
    }

    // Admins may write it on their own posts.
    let rec = w.create(&w.admin, "posts", body.clone()).await;
    assert_eq!(rec["internal_note"], "sneaky");
    let res = w
        .patch(
            Some(&w.admin),
            "posts",
            &id_of(&rec),
            json!({"internal_note": "reviewed"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
    assert_eq!(res.json()["internal_note"], "reviewed");
    // ... but `update = "owner"` still keeps them out of A's post.
    let res = w
        .patch(Some(&w.admin), "posts", &id, json!({"internal_note": "x"}))
        .await;
    res.assert_error(403, "forbidden");
    assert_eq!(w.snapshot(&w.admin, "posts", &id).await, before);
}

#[tokio::test]
async fn every_problem_in_a_body_is_reported_at_once() {
    let w = World::new(&[]).await;
    let res = w
        .post(
            Some(&w.a),
            "posts",
            json!({
                "id": random_id(),
                "nope": 1,
                "internal_note": "n",
                "title": 5,
                "status": "archived",
            }),
        )
        .await;
    assert_validation(&res, &["id", "nope", "internal_note", "title", "status"]);
    // A missing required field is named too.
    let res = w
        .post(Some(&w.a), "posts", json!({"status": "draft"}))
        .await;
    assert_validation(&res, &["title"]);
    let res = w.post(Some(&w.a), "orders", json!({})).await;
    assert_validation(&res, &["item", "quantity", "unit_price", "contact_email"]);
    assert_eq!(w.count("posts").await, 0);
    assert_eq!(w.count("orders").await, 0);
}

// ---------------------------------------------------------------------------------------------
// Object level: orders.

#[tokio::test]
async fn orders_are_private_to_their_owner() {
    let w = World::new(&[]).await;
    let mut mine = Vec::new();
    for i in 0..3 {
        mine.push(
            w.create_id(&w.a, "orders", order(&format!("a-item-{i}"), i + 1))
                .await,
        );
    }
    let mut theirs = Vec::new();
    for i in 0..2 {
        theirs.push(
            w.create_id(&w.b, "orders", order(&format!("b-item-{i}"), i + 1))
                .await,
        );
    }
    let reference = w.get(Some(&w.b), "orders", &random_id()).await;
    for id in &mine {
        assert_same_404(&w.get(Some(&w.b), "orders", id).await, &reference);
    }
    assert_eq!(
        w.listed_ids(Some(&w.b), "orders", "").await,
        ids(&theirs.iter().collect::<Vec<_>>())
    );
    assert_eq!(
        w.listed_ids(Some(&w.a), "orders", "").await,
        ids(&mine.iter().collect::<Vec<_>>())
    );
    // Filters cannot widen what B sees.
    for query in [
        q(&[("item", "a-item-0")]),
        q(&[("item[contains]", "a-item")]),
        q(&[("item[ne]", "b-item-0")]),
        q(&[("quantity[gte]", "1")]),
        q(&[("sort", "-quantity")]),
    ] {
        for rec in w.listed(Some(&w.b), "orders", &query).await {
            assert_eq!(rec["owner_id"], w.b.id.as_str(), "{query}: {rec}");
        }
    }
    let all: Vec<&String> = mine.iter().chain(&theirs).collect();
    assert_eq!(w.listed_ids(Some(&w.admin), "orders", "").await, ids(&all));
    let rec = w.snapshot(&w.admin, "orders", &mine[0]).await;
    assert_eq!(rec["owner_id"], w.a.id.as_str());

    w.list(None, "orders", "")
        .await
        .assert_error(401, "unauthorized");
    w.get(None, "orders", &mine[0])
        .await
        .assert_error(401, "unauthorized");
    w.post(None, "orders", order("anon", 1))
        .await
        .assert_error(401, "unauthorized");
    w.patch(None, "orders", &mine[0], json!({"quantity": 9}))
        .await
        .assert_error(401, "unauthorized");
    w.delete(None, "orders", &mine[0])
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(w.count("orders").await, 5);
}

#[tokio::test]
async fn other_users_cannot_tell_an_order_from_a_missing_one() {
    let w = World::new(&[]).await;
    let id = w.create_id(&w.a, "orders", order("secret", 3)).await;
    let before = w.snapshot(&w.a, "orders", &id).await;
    let missing = random_id();
    let pairs = [
        (
            w.get(Some(&w.b), "orders", &id).await,
            w.get(Some(&w.b), "orders", &missing).await,
        ),
        (
            w.patch(Some(&w.b), "orders", &id, json!({"quantity": 9}))
                .await,
            w.patch(Some(&w.b), "orders", &missing, json!({"quantity": 9}))
                .await,
        ),
        (
            w.delete(Some(&w.b), "orders", &id).await,
            w.delete(Some(&w.b), "orders", &missing).await,
        ),
    ];
    for (theirs, absent) in &pairs {
        assert_eq!(theirs.status, absent.status, "{}", text(theirs));
        assert_eq!(sans_request_id(theirs), sans_request_id(absent));
    }
    assert_eq!(w.snapshot(&w.a, "orders", &id).await, before);
}

#[tokio::test]
async fn other_users_get_404_for_patch_and_delete_of_an_order() {
    let w = World::new(&[]).await;
    let id = w.create_id(&w.a, "orders", order("secret", 3)).await;
    let before = w.snapshot(&w.a, "orders", &id).await;
    let reference = w.get(Some(&w.b), "orders", &random_id()).await;
    let res = w
        .patch(Some(&w.b), "orders", &id, json!({"quantity": 9}))
        .await;
    assert_same_404(&res, &reference);
    assert_same_404(&w.delete(Some(&w.b), "orders", &id).await, &reference);
    assert_eq!(w.snapshot(&w.a, "orders", &id).await, before);
}

#[tokio::test]
async fn orders_cannot_be_updated_and_only_admins_delete_them() {
    let w = World::new(&[]).await;
    let id = w.create_id(&w.a, "orders", order("keep", 3)).await;
    let before = w.snapshot(&w.a, "orders", &id).await;
    for who in [&w.a, &w.admin] {
        let res = w
            .patch(Some(who), "orders", &id, json!({"quantity": 9}))
            .await;
        res.assert_error(403, "forbidden");
        assert_eq!(w.snapshot(&w.a, "orders", &id).await, before);
    }
    w.delete(Some(&w.a), "orders", &id)
        .await
        .assert_error(403, "forbidden");
    assert_eq!(w.snapshot(&w.a, "orders", &id).await, before);

    let res = w.delete(Some(&w.admin), "orders", &id).await;
    assert_eq!(res.status, 204, "{}", text(&res));
    assert!(res.body.is_empty());
    w.get(Some(&w.a), "orders", &id)
        .await
        .assert_error(404, "not_found");
    w.get(Some(&w.admin), "orders", &id)
        .await
        .assert_error(404, "not_found");
    w.delete(Some(&w.admin), "orders", &id)
        .await
        .assert_error(404, "not_found");
    assert!(w.listed(Some(&w.a), "orders", "").await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Object level: posts (conditional rules).

struct Posts {
    a_draft: String,
    a_pub: String,
    b_draft: String,
    b_pub: String,
}

async fn four_posts(w: &World) -> Posts {
    Posts {
        a_draft: w.create_id(&w.a, "posts", post("a draft", "draft")).await,
        a_pub: w
            .create_id(&w.a, "posts", post("a published", "published"))
            .await,
        b_draft: w.create_id(&w.b, "posts", post("b draft", "draft")).await,
        b_pub: w
            .create_id(&w.b, "posts", post("b published", "published"))
            .await,
    }
}

#[tokio::test]
async fn drafts_are_private_and_published_posts_public() {
    let w = World::new(&[]).await;
    let p = four_posts(&w).await;
    assert_eq!(
        w.listed_ids(None, "posts", "").await,
        ids(&[&p.a_pub, &p.b_pub])
    );
    assert_eq!(
        w.listed_ids(Some(&w.a), "posts", "").await,
        ids(&[&p.a_draft, &p.a_pub, &p.b_pub])
    );
    assert_eq!(
        w.listed_ids(Some(&w.b), "posts", "").await,
        ids(&[&p.a_pub, &p.b_draft, &p.b_pub])
    );
    assert_eq!(
        w.listed_ids(Some(&w.admin), "posts", "").await,
        ids(&[&p.a_draft, &p.a_pub, &p.b_draft, &p.b_pub])
    );
    // Filters cannot widen the view.
    assert!(w.listed(None, "posts", "status=draft").await.is_empty());
    assert_eq!(
        w.listed_ids(Some(&w.b), "posts", "status=draft").await,
        ids(&[&p.b_draft])
    );
    assert_eq!(
        w.listed_ids(None, "posts", "status=published").await,
        ids(&[&p.a_pub, &p.b_pub])
    );
    assert_eq!(
        w.listed_ids(None, "posts", &q(&[("status[ne]", "published")]))
            .await,
        BTreeSet::new()
    );

    let reference = w.get(Some(&w.b), "posts", &random_id()).await;
    assert_same_404(&w.get(Some(&w.b), "posts", &p.a_draft).await, &reference);
    let anon_reference = w.get(None, "posts", &random_id()).await;
    assert_same_404(&w.get(None, "posts", &p.a_draft).await, &anon_reference);
    assert_eq!(w.get(None, "posts", &p.a_pub).await.status, 200);
    assert_eq!(w.get(Some(&w.b), "posts", &p.a_pub).await.status, 200);
    assert_eq!(w.get(Some(&w.admin), "posts", &p.a_draft).await.status, 200);
}

#[tokio::test]
async fn posts_are_updated_only_by_their_owner() {
    let w = World::new(&[]).await;
    let p = four_posts(&w).await;
    let before = w.snapshot(&w.admin, "posts", &p.a_pub).await;

    let res = w
        .patch(Some(&w.b), "posts", &p.a_pub, json!({"title": "pwned"}))
        .await;
    res.assert_error(403, "forbidden");
    w.patch(None, "posts", &p.a_pub, json!({"title": "pwned"}))
        .await
        .assert_error(401, "unauthorized");
    let reference = w.get(Some(&w.b), "posts", &random_id()).await;
    let res = w
        .patch(Some(&w.b), "posts", &p.a_draft, json!({"title": "pwned"}))
        .await;
    assert_same_404(&res, &reference);
    assert_eq!(w.snapshot(&w.admin, "posts", &p.a_pub).await, before);

    let res = w
        .patch(Some(&w.a), "posts", &p.a_pub, json!({"title": "edited"}))
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
    let rec = res.json();
    assert_eq!(rec["title"], "edited");
    assert_eq!(rec["version"], 2);
    assert_eq!(rec["owner_id"], w.a.id.as_str());
    assert_eq!(rec["created_at"], before["created_at"]);
    assert!(rec["updated_at"].as_str() >= before["updated_at"].as_str());

    // Unpublishing hides it again.
    let res = w
        .patch(Some(&w.a), "posts", &p.a_pub, json!({"status": "draft"}))
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
    assert_same_404(&w.get(Some(&w.b), "posts", &p.a_pub).await, &reference);
    assert!(!w.listed_ids(None, "posts", "").await.contains(&p.a_pub));
}

#[tokio::test]
async fn posts_are_deleted_by_their_owner_or_an_admin() {
    let w = World::new(&[]).await;
    let p = four_posts(&w).await;
    w.delete(Some(&w.b), "posts", &p.a_pub)
        .await
        .assert_error(403, "forbidden");
    w.delete(None, "posts", &p.a_pub)
        .await
        .assert_error(401, "unauthorized");
    let reference = w.delete(Some(&w.b), "posts", &random_id()).await;
    assert_same_404(&w.delete(Some(&w.b), "posts", &p.a_draft).await, &reference);
    assert_eq!(w.count("posts").await, 4);

    assert_eq!(
        w.delete(Some(&w.admin), "posts", &p.a_draft).await.status,
        204
    );
    w.get(Some(&w.a), "posts", &p.a_draft)
        .await
        .assert_error(404, "not_found");
    assert_eq!(w.delete(Some(&w.a), "posts", &p.a_pub).await.status, 204);
    assert_eq!(
        w.listed_ids(Some(&w.admin), "posts", "").await,
        ids(&[&p.b_draft, &p.b_pub])
    );
}

// ---------------------------------------------------------------------------------------------
// Property level.

#[tokio::test]
async fn admin_only_fields_are_never_shown_to_others() {
    let w = World::new(&[]).await;
    const SECRET: &str = "admin-secret-42";
    let mut body = post("ops", "published");
    body["internal_note"] = json!(SECRET);
    let admin_post = w.create_id(&w.admin, "posts", body).await;
    let a_post = w.create_id(&w.a, "posts", post("mine", "published")).await;
    let a_draft = w.create_id(&w.a, "posts", post("mine too", "draft")).await;

    for who in [Some(&w.a), Some(&w.b), None] {
        for id in [&admin_post, &a_post] {
            let res = w.get(who, "posts", id).await;
            assert_eq!(res.status, 200);
            assert!(
                !keys(&res.json()).contains("internal_note"),
                "{}",
                text(&res)
            );
            assert!(!text(&res).contains(SECRET));
        }
        let res = w.list(who, "posts", "").await;
        let (recs, _) = page(&res);
        assert!(!recs.is_empty());
        assert!(!text(&res).contains("internal_note"), "{}", text(&res));
        assert!(!text(&res).contains(SECRET));
        // No filter or sort on it: that would be an oracle for its value.
        for (query, field) in [
            (q(&[("internal_note", SECRET)]), "internal_note"),
            (
                q(&[("internal_note[contains]", "admin")]),
                "internal_note[contains]",
            ),
            (q(&[("internal_note[gt]", "a")]), "internal_note[gt]"),
            (q(&[("sort", "internal_note")]), "sort"),
            (q(&[("sort", "-internal_note")]), "sort"),
        ] {
            assert_validation(&w.list(who, "posts", &query).await, &[field]);
        }
    }
    // Not in the owner's own create / update responses either.
    let res = w
        .patch(Some(&w.a), "posts", &a_draft, json!({"title": "edited"}))
        .await;
    assert_eq!(res.status, 200);
    assert!(!keys(&res.json()).contains("internal_note"));

    let rec = w.snapshot(&w.admin, "posts", &admin_post).await;
    assert_eq!(rec["internal_note"], SECRET);
    for rec in w.listed(Some(&w.admin), "posts", "").await {
        assert!(keys(&rec).contains("internal_note"), "{rec}");
    }
    assert_eq!(
        w.listed_ids(Some(&w.admin), "posts", &q(&[("internal_note", SECRET)]))
            .await,
        ids(&[&admin_post])
    );
    let res = w
        .list(Some(&w.admin), "posts", &q(&[("sort", "-internal_note")]))
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
}

// ---------------------------------------------------------------------------------------------
// Hostile values and bodies.

#[tokio::test]
async fn hostile_values_are_refused_on_create() {
    let w = World::new(&[]).await;
    let long = |n: usize, c: char| std::iter::repeat_n(c, n).collect::<String>();
    let posts: Vec<(&str, Value)> = vec![
        ("title", json!({"$gt": ""})),
        ("title", json!({"$ne": null})),
        ("title", json!(["a"])),
        ("title", json!(5)),
        ("title", json!(true)),
        ("title", Value::Null),
        ("title", json!("")),
        ("title", json!("a\u{0}b")),
        ("title", json!("a\nb")),
        ("title", json!("bell\u{7}")),
        ("title", json!(long(201, 'a'))),
        ("title", json!(long(201, 'é'))),
        ("body", json!({"$where": "1"})),
        ("body", json!(5)),
        ("body", json!("<p>x\u{0}</p>")),
        ("body", json!(long(20_001, 'a'))),
        ("status", json!("archived")),
        ("status", json!("Published")),
        ("status", json!(" published")),
        ("status", json!(["published"])),
        ("status", json!({"$in": ["published"]})),
        ("status", json!(1)),
        ("tags", json!("x")),
        ("tags", json!([1])),
        ("tags", json!([["a"]])),
        ("tags", json!([{"$gt": ""}])),
        ("tags", json!([null])),
        ("tags", json!(["a\u{0}"])),
        ("tags", json!([long(41, 't')])),
        ("tags", json!(vec!["t"; 11])),
        ("tags", json!({"0": "a"})),
    ];
    for (field, value) in posts {
        let mut body = post("valid", "published");
        body[field] = value.clone();
        let res = w.post(Some(&w.a), "posts", body).await;
        assert!(res.status.as_u16() < 500, "{field}={value}: {}", text(&res));
        assert_validation(&res, &[field]);
    }
    let orders: Vec<(&str, Value)> = vec![
        ("item", json!({"$gt": ""})),
        ("item", json!(["x"])),
        ("item", json!(5)),
        ("item", json!("\u{0}")),
        ("quantity", json!("5")),
        ("quantity", json!(5.5)),
        ("quantity", json!(1.0)),
        ("quantity", json!(0)),
        ("quantity", json!(-1)),
        ("quantity", json!(1001)),
        ("quantity", json!(i64::MAX)),
        ("quantity", json!(i64::MIN)),
        ("quantity", json!(u64::MAX)),
        ("quantity", json!([5])),
        ("quantity", json!({"$gte": 1})),
        ("quantity", json!(true)),
        ("quantity", Value::Null),
        ("unit_price", json!("9.5")),
        ("unit_price", json!(-0.01)),
        ("unit_price", json!(1_000_000.5)),
        ("unit_price", json!(1e308)),
        ("unit_price", json!(-1e308)),
        ("unit_price", json!([1])),
        ("unit_price", json!({"$lt": 0})),
        ("contact_email", json!("not-an-email")),
        ("contact_email", json!("")),
        ("contact_email", json!("@example.com")),
        ("contact_email", json!("a@")),
        ("contact_email", json!("a\u{0}@example.com")),
        ("contact_email", json!(5)),
        ("contact_email", json!(["a@example.com"])),
        ("contact_email", json!({"$gt": ""})),
        ("deliver_by", json!("tomorrow")),
        ("deliver_by", json!("2026-13-01T00:00:00Z")),
        ("deliver_by", json!("2026-01-01")),
        ("deliver_by", json!("2026-01-01T00:00:00")),
        ("deliver_by", json!("10000-01-01T00:00:00Z")),
        ("deliver_by", json!(1_700_000_000)),
        ("deliver_by", json!({"$gt": ""})),
        ("gift", json!("true")),
        ("gift", json!(1)),
        ("gift", json!([true])),
    ];
    for (field, value) in orders {
        let mut body = order("valid", 1);
        body[field] = value.clone();
        let res = w.post(Some(&w.a), "orders", body).await;
        assert!(res.status.as_u16() < 500, "{field}={value}: {}", text(&res));
        assert_validation(&res, &[field]);
    }
    assert_eq!(w.count("posts").await, 0);
    assert_eq!(w.count("orders").await, 0);
}

#[tokio::test]
async fn hostile_values_are_refused_on_patch() {
    let w = World::new(&[GADGETS]).await;
    let long = |n: usize, c: char| std::iter::repeat_n(c, n).collect::<String>();
    let post_id = w.create_id(&w.a, "posts", post("valid", "draft")).await;
    let gadget_id = w
        .create_id(
            &w.a,
            "gadgets",
            json!({"name": "thing", "count": 1, "weight": 2.5, "scores": [1]}),
        )
        .await;
    let cases: Vec<(&str, &str, Value)> = vec![
        ("posts", "title", json!({"$gt": ""})),
        ("posts", "title", json!(["a"])),
        ("posts", "title", json!(5)),
        ("posts", "title", Value::Null),
        ("posts", "title", json!("a\u{0}b")),
        ("posts", "title", json!(long(201, 'x'))),
        ("posts", "status", json!("archived")),
        ("posts", "status", json!({"$ne": "draft"})),
        ("posts", "tags", json!([1, 2])),
        ("posts", "body", json!(["<p>"])),
        ("gadgets", "name", json!("ABC")),
        ("gadgets", "name", json!("abc1")),
        ("gadgets", "name", json!("a\u{0}")),
        ("gadgets", "name", json!({"$regex": ".*"})),
        ("gadgets", "name", Value::Null),
        ("gadgets", "notes", json!("x\u{0}y")),
        ("gadgets", "notes", json!(long(101, 'n'))),
        ("gadgets", "count", json!("1")),
        ("gadgets", "count", json!(6)),
        ("gadgets", "count", json!(-6)),
        ("gadgets", "count", json!(1.5)),
        ("gadgets", "count", json!([1])),
        ("gadgets", "weight", json!("1")),
        ("gadgets", "weight", json!(10.000_001)),
        ("gadgets", "weight", json!(-1)),
        ("gadgets", "weight", json!(false)),
        ("gadgets", "ok", json!("true")),
        ("gadgets", "ok", json!(0)),
        ("gadgets", "homepage", json!("javascript:alert(1)")),
        (
            "gadgets",
            "homepage",
            json!("JAVASCRIPT://example.com/%0aalert(1)"),
        ),
        ("gadgets", "homepage", json!("data:text/html,<script>")),
        ("gadgets", "homepage", json!("ftp://example.com")),
        ("gadgets", "homepage", json!("http://")),
        ("gadgets", "homepage", json!("https://exa mple.com")),
        ("gadgets", "homepage", json!("https://example.com/\u{0}")),
        ("gadgets", "homepage", json!(5)),
        ("gadgets", "serial", json!("not-a-uuid")),
        ("gadgets", "serial", json!(format!("{{{}}}", random_id()))),
        ("gadgets", "serial", json!(random_id().replace('-', ""))),
        ("gadgets", "when", json!("yesterday")),
        ("gadgets", "when", json!("2026-02-30T00:00:00Z")),
        ("gadgets", "when", json!(0)),
        ("gadgets", "kind", json!("c")),
        ("gadgets", "kind", json!("A")),
        ("gadgets", "scores", json!([101])),
        ("gadgets", "scores", json!([-1])),
        ("gadgets", "scores", json!([1, 2, 3, 4])),
        ("gadgets", "scores", json!(["1"])),
        ("gadgets", "scores", json!([1.5])),
        ("gadgets", "scores", json!(5)),
        ("gadgets", "scores", json!([[1]])),
    ];
    for (coll, field, value) in cases {
        let id = if coll == "posts" {
            &post_id
        } else {
            &gadget_id
        };
        let before = w.snapshot(&w.a, coll, id).await;
        let res = w.patch(Some(&w.a), coll, id, json!({ field: value })).await;
        assert!(res.status.as_u16() < 500, "{field}={value}: {}", text(&res));
        assert_validation(&res, &[field]);
        assert_eq!(w.snapshot(&w.a, coll, id).await, before, "{field}={value}");
    }
    // The same fields accept good values (so the refusals above were about the values).
    let serial = random_id();
    let res = w
        .patch(
            Some(&w.a),
            "gadgets",
            &gadget_id,
            json!({
                "name": "still fine",
                "notes": "line one\nline two",
                "count": -5,
                "weight": 10,
                "ok": true,
                "homepage": "https://example.com/a?b=c#d",
                "serial": serial.to_uppercase(),
                "when": "2026-06-01T12:00:00-02:00",
                "kind": "b",
                "scores": [0, 100, 50],
            }),
        )
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
    let rec = res.json();
    assert_eq!(rec["serial"], serial.as_str(), "UUIDs are lowercased");
    assert_eq!(rec["when"], "2026-06-01T14:00:00.000Z");
    assert_eq!(rec["scores"], json!([0, 100, 50]));
    assert_eq!(rec["weight"], 10.0);
    assert_eq!(w.snapshot(&w.a, "gadgets", &gadget_id).await, rec);
}

/// SSRF (checklist row 16): a URL field refuses what a server-side fetch must never reach,
/// every address `rampart scan` probes with among them, on create and on update, without naming
/// the ranges it checks.
#[tokio::test]
async fn url_fields_refuse_internal_addresses() {
    let w = World::new(&[GADGETS]).await;
    let id = w.create_id(&w.a, "gadgets", json!({"name": "thing"})).await;
    let hostile = rampart_core::ssrf::PROBE_URLS.iter().copied().chain([
        "HTTP://127.0.0.1./",
        "http://127.1/",
        "http://0177.0.0.1/",
        "http://0/",
        "http://[0:0:0:0:0:ffff:7f00:1]/",
        "http://metadata.google.internal./",
        "http://evil.example\\@127.0.0.1/",
    ]);
    for url in hostile {
        let res = w
            .post(
                Some(&w.a),
                "gadgets",
                json!({"name": "thing", "homepage": url}),
            )
            .await;
        assert_validation(&res, &["homepage"]);
        assert_detail(&res, "homepage", "must be a public http or https URL");
        let before = w.snapshot(&w.a, "gadgets", &id).await;
        let res = w
            .patch(Some(&w.a), "gadgets", &id, json!({ "homepage": url }))
            .await;
        assert_validation(&res, &["homepage"]);
        assert_eq!(w.snapshot(&w.a, "gadgets", &id).await, before, "{url}");
    }
    assert_eq!(w.listed(Some(&w.a), "gadgets", "").await.len(), 1);
    // Public addresses are accepted, so the refusals above were about the addresses.
    for url in ["http://93.184.215.14/", "https://[2606:4700::1]/"] {
        let res = w
            .patch(Some(&w.a), "gadgets", &id, json!({ "homepage": url }))
            .await;
        assert_eq!(res.status, 200, "{url}: {}", text(&res));
        assert_eq!(res.json()["homepage"], url);
    }
}

#[tokio::test]
async fn malformed_bodies_are_4xx_and_store_nothing() {
    let w = World::new(&[]).await;
    let id = w.create_id(&w.a, "posts", post("kept", "draft")).await;
    let before = w.snapshot(&w.a, "posts", &id).await;
    let deep_arrays = format!("{{\"title\": {}\"x\"{}}}", "[".repeat(40), "]".repeat(40));
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40));
    let huge = format!("{{\"title\": \"{}\"}}", "a".repeat(1_100_000));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "application/json",
            br#"{"title": 1e999}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "application/json",
            br#"{"title": "x", "tags": [-1e999]}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "application/json",
            br#"{"title": "x""#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "application/json",
            b"{\"title\": \"\xff\xfe\"}".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "application/json",
            br#"{"title": "\ud800"}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "application/json",
            br#"{"title": NaN}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "application/json",
            br#"{'title': 'x'}"#.to_vec(),
            400,
            "invalid_json",
        ),
        ("application/json", b"".to_vec(), 400, "invalid_json"),
        (
            "application/json",
            deep_arrays.into_bytes(),
            400,
            "json_too_deep",
        ),
        (
            "application/json",
            deep_objects.into_bytes(),
            400,
            "json_too_deep",
        ),
        (
            "application/json",
            huge.into_bytes(),
            413,
            "payload_too_large",
        ),
        ("application/json", b"[]".to_vec(), 400, "validation_failed"),
        (
            "application/json",
            b"null".to_vec(),
            400,
            "validation_failed",
        ),
        (
            "application/json",
            b"\"title\"".to_vec(),
            400,
            "validation_failed",
        ),
        ("application/json", b"42".to_vec(), 400, "validation_failed"),
        (
            "application/json",
            br#"{"title": [[[["x"]]]]}"#.to_vec(),
            400,
            "validation_failed",
        ),
        (
            "text/plain",
            br#"{"title": "x"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "application/json; charset=latin1",
            br#"{"title": "x"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "application/x-www-form-urlencoded",
            b"title=x".to_vec(),
            415,
            "unsupported_media_type",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let res = w
            .send(
                Req::post(&records("posts"))
                    .bearer(&w.a.token)
                    .raw_body(content_type, body.clone()),
            )
            .await;
        res.assert_error(status, code);
        let res = w
            .send(
                Req::patch(&record("posts", &id))
                    .bearer(&w.a.token)
                    .raw_body(content_type, body),
            )
            .await;
        res.assert_error(status, code);
        assert_eq!(w.snapshot(&w.a, "posts", &id).await, before);
    }
    // No content type at all.
    let res = w
        .send(Req::post(&records("posts")).bearer(&w.a.token))
        .await;
    res.assert_error(415, "unsupported_media_type");
    assert_eq!(w.count("posts").await, 1);
}

#[tokio::test]
async fn injection_strings_are_stored_verbatim() {
    let w = World::new(&[]).await;
    let strings = [
        "'); DROP TABLE c_posts; --",
        "\" OR 1=1 --",
        "%_\\",
        "' OR '1'='1",
        "\\'; DELETE FROM users; --",
        "Robert'); DROP TABLE \"c_posts\";--",
        "1; SELECT pg_sleep(10); --",
        "$where: this.a == 1",
        "{\"$gt\": \"\"}",
        "<script>alert(1)</script>",
        "${jndi:ldap://example.com/a}",
        "../../etc/passwd",
        "\u{202e}evil\u{200b} \u{1F600} \u{fdfd}",
        "\\u0000",
        "%00",
    ];
    let mut made = Vec::new();
    for s in strings {
        let tag: String = s.chars().take(40).collect();
        let rec = w
            .create(
                &w.a,
                "posts",
                json!({"title": s, "tags": [tag.clone()], "status": "published"}),
            )
            .await;
        assert_eq!(rec["title"], s);
        assert_eq!(rec["tags"], json!([tag]));
        let id = id_of(&rec);
        assert_eq!(w.snapshot(&w.b, "posts", &id).await, rec);
        assert_eq!(
            w.listed_ids(None, "posts", &q(&[("title", s)])).await,
            ids(&[&id]),
            "filter by {s:?}"
        );
        let oid = w.create_id(&w.a, "orders", order(s, 1)).await;
        assert_eq!(w.snapshot(&w.a, "orders", &oid).await["item"], s);
        let contained = w
            .listed(Some(&w.a), "orders", &q(&[("item[contains]", s)]))
            .await;
        assert!(contained.iter().any(|r| id_of(r) == oid), "contains {s:?}");
        for r in &contained {
            assert!(r["item"].as_str().unwrap().contains(s), "{s:?} matched {r}");
        }
        made.push(id);
    }
    // Everything still works: the tables, the account tables, and the counts.
    let extra = w.create_id(&w.a, "posts", post("after", "draft")).await;
    made.push(extra);
    let all: Vec<&String> = made.iter().collect();
    assert_eq!(w.listed_ids(Some(&w.a), "posts", "").await, ids(&all));
    assert_eq!(w.count("orders").await, strings.len());
    let (_, token, _) = w.app.user("carol@example.com").await;
    let res = w.send(Req::get("/api/users/me").bearer(&token)).await;
    assert_eq!(res.status, 200, "{}", text(&res));
}

#[tokio::test]
async fn html_bodies_are_sanitized() {
    let w = World::new(&[]).await;
    let dirty = concat!(
        "<p><b>bold</b> text</p>",
        "<script>alert(1)</script>",
        "<ScRiPt>alert(2)</ScRiPt>",
        "<img src=x onerror=\"alert(3)\">",
        "<a href=\"javascript:alert(4)\">click</a>",
        "<a href=\"JaVaScRiPt:alert(5)\">click</a>",
        "<a href=\"&#106;avascript:alert(6)\">click</a>",
        "<a href=\"https://example.com/ok\">ok</a>",
        "<div onclick=\"alert(7)\">d</div>",
        "<iframe src=\"https://evil.example\"></iframe>",
        "<svg onload=alert(8)></svg>",
        "<style>body{display:none}</style>",
        "<form action=\"https://evil.example\"><input name=x></form>",
    );
    let check = |body: &str| {
        let lower = body.to_lowercase();
        for bad in [
            "<script",
            "onerror",
            "onclick",
            "onload",
            "javascript",
            "<iframe",
            "<svg",
            "<style",
            "<form",
            "<input",
            "alert(",
        ] {
            assert!(!lower.contains(bad), "{bad} survived in {body}");
        }
        assert!(body.contains("<p><b>bold</b> text</p>"), "{body}");
        assert!(body.contains("href=\"https://example.com/ok\""), "{body}");
        assert!(body.contains("rel=\"noopener noreferrer\""), "{body}");
    };
    let rec = w
        .create(&w.a, "posts", json!({"title": "html", "body": dirty}))
        .await;
    check(rec["body"].as_str().unwrap());
    let id = id_of(&rec);
    check(
        w.snapshot(&w.a, "posts", &id).await["body"]
            .as_str()
            .unwrap(),
    );

    let res = w
        .patch(Some(&w.a), "posts", &id, json!({"body": dirty}))
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
    check(res.json()["body"].as_str().unwrap());
    let plain = "<p>Hello <b>world</b> and <i>you</i></p>";
    let res = w
        .patch(Some(&w.a), "posts", &id, json!({"body": plain}))
        .await;
    assert_eq!(res.json()["body"], plain);
}

// ---------------------------------------------------------------------------------------------
// Filters, sorting, pagination.

/// A's orders (item, quantity, unit price, deliver_by) and two of B's.
async fn shop(w: &World) -> BTreeMap<String, String> {
    let rows: [(&str, i64, f64, Option<&str>); 8] = [
        ("apple", 1, 1.0, None),
        ("box", 5, 2.5, Some("2026-03-01T00:00:00Z")),
        ("Xylophone", 7, 3.0, Some("2026-01-01T00:00:00Z")),
        ("axe", 10, 10.0, None),
        ("100% cotton", 2, 4.0, Some("2026-02-01T00:00:00Z")),
        ("a_b", 3, 0.0, None),
        ("back\\slash", 4, 7.25, Some("2026-01-01T00:00:00Z")),
        ("MAX", 1000, 1_000_000.0, None),
    ];
    let mut by_item = BTreeMap::new();
    for (item, quantity, price, deliver_by) in rows {
        let mut body = order(item, quantity);
        body["unit_price"] = json!(price);
        if let Some(d) = deliver_by {
            body["deliver_by"] = json!(d);
        }
        by_item.insert(item.to_owned(), w.create_id(&w.a, "orders", body).await);
    }
    w.create_id(&w.b, "orders", order("box", 9)).await;
    w.create_id(&w.b, "orders", order("xenon", 6)).await;
    by_item
}

async fn items(w: &World, who: &Who, query: &str) -> BTreeSet<String> {
    w.listed(Some(who), "orders", query)
        .await
        .iter()
        .map(|r| r["item"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn filters_select_exactly_the_matching_records() {
    let w = World::new(&[]).await;
    shop(&w).await;
    let all = set(&[
        "apple",
        "box",
        "Xylophone",
        "axe",
        "100% cotton",
        "a_b",
        "back\\slash",
        "MAX",
    ]);
    let cases: Vec<(String, BTreeSet<String>)> = vec![
        (String::new(), all.clone()),
        (
            q(&[("quantity[gte]", "5")]),
            set(&["box", "Xylophone", "axe", "MAX"]),
        ),
        (
            q(&[("quantity[gt]", "5")]),
            set(&["Xylophone", "axe", "MAX"]),
        ),
        (q(&[("quantity[lt]", "3")]), set(&["apple", "100% cotton"])),
        (
            q(&[("quantity[lte]", "3")]),
            set(&["apple", "100% cotton", "a_b"]),
        ),
        (q(&[("quantity", "7")]), set(&["Xylophone"])),
        (q(&[("quantity[eq]", "7")]), set(&["Xylophone"])),
        (q(&[("quantity[ne]", "7")]), {
            let mut s = all.clone();
            s.remove("Xylophone");
            s
        }),
        (q(&[("item[contains]", "x")]), set(&["box", "axe"])),
        (q(&[("item[contains]", "X")]), set(&["Xylophone", "MAX"])),
        (q(&[("item[contains]", "%")]), set(&["100% cotton"])),
        (q(&[("item[contains]", "_")]), set(&["a_b"])),
        (q(&[("item[contains]", "\\")]), set(&["back\\slash"])),
        (q(&[("item[contains]", "%_\\")]), set(&[])),
        (q(&[("item[contains]", "a%")]), set(&[])),
        (q(&[("item", "box")]), set(&["box"])),
        (q(&[("item", "BOX")]), set(&[])),
        (q(&[("item", "%")]), set(&[])),
        (q(&[("item", "' OR '1'='1")]), set(&[])),
        (q(&[("item[ne]", "apple")]), {
            let mut s = all.clone();
            s.remove("apple");
            s
        }),
        (
            q(&[("deliver_by[gte]", "2026-02-01T00:00:00Z")]),
            set(&["box", "100% cotton"]),
        ),
        (
            q(&[("deliver_by", "2026-01-01T01:00:00+01:00")]),
            set(&["Xylophone", "back\\slash"]),
        ),
        (q(&[("deliver_by[ne]", "2026-01-01T00:00:00Z")]), {
            let mut s = all.clone();
            s.remove("Xylophone");
            s.remove("back\\slash");
            s
        }),
        (q(&[("gift", "false")]), all.clone()),
        (q(&[("gift", "true")]), set(&[])),
        (
            q(&[("unit_price[gte]", "4")]),
            set(&["axe", "100% cotton", "back\\slash", "MAX"]),
        ),
        (q(&[("unit_price", "2.5")]), set(&["box"])),
        (q(&[("unit_price", "0")]), set(&["a_b"])),
        (
            q(&[("quantity[gte]", "5"), ("item[contains]", "x")]),
            set(&["box", "axe"]),
        ),
        (q(&[("contact_email", "buyer@example.com")]), all.clone()),
        (q(&[("contact_email[contains]", "EXAMPLE")]), set(&[])),
    ];
    for (query, expected) in cases {
        assert_eq!(items(&w, &w.a, &query).await, expected, "?{query}");
    }
    // The admin sees B's too, through the same filters.
    assert_eq!(
        items(&w, &w.admin, &q(&[("item[contains]", "x")])).await,
        set(&["box", "axe", "xenon"])
    );
    assert_eq!(
        w.listed(Some(&w.admin), "orders", &q(&[("item[contains]", "x")]))
            .await
            .len(),
        4
    );
}

/// The sort key of a record for `sort` ("-field" or "field"), for checking orders.
fn sort_key(rec: &Value, field: &str) -> Value {
    rec[field.trim_start_matches('-')].clone()
}

fn cmp_json(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap()
            .partial_cmp(&y.as_f64().unwrap())
            .unwrap(),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => panic!("cannot compare {a} and {b}"),
    }
}

/// Asserts that `recs` are in `sort` order: by the field (missing values last in both
/// directions), then by id in the same direction.
#[track_caller]
fn assert_sorted(recs: &[Value], sort: &str) {
    let descending = sort.starts_with('-');
    let field = sort.trim_start_matches('-');
    for pair in recs.windows(2) {
        let (x, y) = (&pair[0], &pair[1]);
        let ord = if field == "id" {
            std::cmp::Ordering::Equal
        } else {
            match (sort_key(x, field), sort_key(y, field)) {
                (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
                (Value::Null, _) => panic!("a missing {field} came before a value: {x} {y}"),
                (_, Value::Null) => std::cmp::Ordering::Less,
                (a, b) => {
                    let o = cmp_json(&a, &b);
                    if descending { o.reverse() } else { o }
                }
            }
        };
        let ord = ord.then_with(|| {
            let o = x["id"].as_str().cmp(&y["id"].as_str());
            if descending { o.reverse() } else { o }
        });
        assert_eq!(
            ord,
            std::cmp::Ordering::Less,
            "not in {sort} order: {x} then {y}"
        );
    }
}

#[tokio::test]
async fn sorting_orders_records() {
    let w = World::new(&[]).await;
    shop(&w).await;
    let quantities = |recs: &[Value]| -> Vec<i64> {
        recs.iter()
            .map(|r| r["quantity"].as_i64().unwrap())
            .collect()
    };
    let recs = w.listed(Some(&w.a), "orders", "sort=-quantity").await;
    assert_eq!(quantities(&recs), vec![1000, 10, 7, 5, 4, 3, 2, 1]);
    let recs = w.listed(Some(&w.a), "orders", "sort=quantity").await;
    assert_eq!(quantities(&recs), vec![1, 2, 3, 4, 5, 7, 10, 1000]);
    for sort in [
        "id",
        "-id",
        "unit_price",
        "-unit_price",
        "deliver_by",
        "-deliver_by",
        "gift",
        "-gift",
        "contact_email",
    ] {
        let recs = w.listed(Some(&w.a), "orders", &q(&[("sort", sort)])).await;
        assert_eq!(recs.len(), 8, "{sort}");
        assert_sorted(&recs, sort);
    }
    // Text order on lowercase titles is the same everywhere.
    for title in ["delta", "alpha", "echo", "charlie", "bravo"] {
        w.create(&w.a, "posts", post(title, "published")).await;
    }
    let titles = |recs: Vec<Value>| -> Vec<String> {
        recs.iter()
            .map(|r| r["title"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        titles(w.listed(None, "posts", "sort=title").await),
        vec!["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert_eq!(
        titles(w.listed(None, "posts", "sort=-title").await),
        vec!["echo", "delta", "charlie", "bravo", "alpha"]
    );
}

#[tokio::test]
async fn bad_list_queries_are_refused() {
    let w = World::new(&[]).await;
    shop(&w).await;
    let big = "9".repeat(20);
    let long = "x".repeat(201);
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("orders", q(&[("nope", "1")]), vec!["nope"]),
        (
            "orders",
            q(&[("quantity[regex]", "x")]),
            vec!["quantity[regex]"],
        ),
        (
            "orders",
            q(&[("quantity[$gt]", "1")]),
            vec!["quantity[$gt]"],
        ),
        ("orders", q(&[("quantity[]", "5")]), vec!["quantity[]"]),
        ("orders", q(&[("quantity[gte", "5")]), vec!["quantity[gte"]),
        (
            "orders",
            q(&[("quantity[GTE]", "5")]),
            vec!["quantity[GTE]"],
        ),
        (
            "orders",
            q(&[("gift[contains]", "x")]),
            vec!["gift[contains]"],
        ),
        (
            "orders",
            q(&[("quantity[contains]", "5")]),
            vec!["quantity[contains]"],
        ),
        (
            "orders",
            q(&[("unit_price[contains]", "1")]),
            vec!["unit_price[contains]"],
        ),
        (
            "orders",
            q(&[("deliver_by[contains]", "2026")]),
            vec!["deliver_by[contains]"],
        ),
        ("orders", q(&[("quantity", "abc")]), vec!["quantity"]),
        ("orders", q(&[("quantity", "5 OR 1=1")]), vec!["quantity"]),
        (
            "orders",
            q(&[("quantity[gte]", "5.5")]),
            vec!["quantity[gte]"],
        ),
        (
            "orders",
            q(&[("quantity[gte]", " 5")]),
            vec!["quantity[gte]"],
        ),
        (
            "orders",
            q(&[("quantity[gte]", "0x10")]),
            vec!["quantity[gte]"],
        ),
        ("orders", q(&[("quantity", big.as_str())]), vec!["quantity"]),
        ("orders", q(&[("quantity", "")]), vec!["quantity"]),
        (
            "orders",
            q(&[("unit_price[lt]", "NaN")]),
            vec!["unit_price[lt]"],
        ),
        (
            "orders",
            q(&[("unit_price[lt]", "inf")]),
            vec!["unit_price[lt]"],
        ),
        (
            "orders",
            q(&[("unit_price[gt]", "-infinity")]),
            vec!["unit_price[gt]"],
        ),
        ("orders", q(&[("unit_price", "1e999")]), vec!["unit_price"]),
        ("orders", q(&[("unit_price", "abc")]), vec!["unit_price"]),
        ("orders", q(&[("gift", "yes")]), vec!["gift"]),
        ("orders", q(&[("gift", "1")]), vec!["gift"]),
        (
            "orders",
            q(&[("deliver_by[gt]", "tomorrow")]),
            vec!["deliver_by[gt]"],
        ),
        (
            "orders",
            q(&[("item[contains]", "")]),
            vec!["item[contains]"],
        ),
        (
            "orders",
            q(&[("item[contains]", "\u{0}")]),
            vec!["item[contains]"],
        ),
        (
            "orders",
            q(&[("item[contains]", long.as_str())]),
            vec!["item[contains]"],
        ),
        ("orders", q(&[("item", "\u{0}")]), vec!["item"]),
        ("orders", q(&[("item", "a\u{0}b")]), vec!["item"]),
        (
            "orders",
            q(&[("contact_email", "a\u{0}@example.com")]),
            vec!["contact_email"],
        ),
        ("orders", q(&[("id", "x")]), vec!["id"]),
        (
            "orders",
            q(&[("owner_id", w.b.id.as_str())]),
            vec!["owner_id"],
        ),
        (
            "orders",
            q(&[("created_at[gt]", "x")]),
            vec!["created_at[gt]"],
        ),
        ("orders", q(&[("version", "1")]), vec!["version"]),
        ("orders", q(&[("sort", "nope")]), vec!["sort"]),
        ("orders", q(&[("sort", "--quantity")]), vec!["sort"]),
        ("orders", q(&[("sort", "owner_id")]), vec!["sort"]),
        ("orders", q(&[("sort", "quantity DESC")]), vec!["sort"]),
        (
            "orders",
            q(&[("sort", "quantity; DROP TABLE c_orders")]),
            vec!["sort"],
        ),
        ("orders", q(&[("sort", "")]), vec!["sort"]),
        ("orders", q(&[("limit", "0")]), vec!["limit"]),
        ("orders", q(&[("limit", "101")]), vec!["limit"]),
        ("orders", q(&[("limit", "abc")]), vec!["limit"]),
        ("orders", q(&[("limit", "-1")]), vec!["limit"]),
        ("orders", q(&[("limit", "")]), vec!["limit"]),
        ("orders", q(&[("limit", "5.0")]), vec!["limit"]),
        ("orders", q(&[("limit", " 5")]), vec!["limit"]),
        ("orders", q(&[("limit", "1000000000000")]), vec!["limit"]),
        ("orders", q(&[("item", "a"), ("item", "b")]), vec!["item"]),
        (
            "orders",
            q(&[("limit", "5"), ("limit", "6")]),
            vec!["limit"],
        ),
        (
            "orders",
            q(&[("sort", "item"), ("sort", "-item")]),
            vec!["sort"],
        ),
        ("orders", q(&[("cursor", "x")]), vec!["cursor"]),
        (
            "orders",
            q(&[("item", "x"), ("sort", "nope"), ("limit", "0")]),
            vec!["sort", "limit"],
        ),
        ("posts", q(&[("internal_note", "x")]), vec!["internal_note"]),
        ("posts", q(&[("sort", "internal_note")]), vec!["sort"]),
        ("posts", q(&[("sort", "body")]), vec!["sort"]),
        (
            "posts",
            q(&[("body[contains]", "x")]),
            vec!["body[contains]"],
        ),
        ("posts", q(&[("body", "x")]), vec!["body"]),
        ("posts", q(&[("tags", "x")]), vec!["tags"]),
        (
            "posts",
            q(&[("tags[contains]", "x")]),
            vec!["tags[contains]"],
        ),
        ("posts", q(&[("sort", "tags")]), vec!["sort"]),
        ("posts", q(&[("status", "archived")]), vec!["status"]),
        (
            "posts",
            q(&[("status[contains]", "pub")]),
            vec!["status[contains]"],
        ),
        ("posts", q(&[("title", "")]), vec!["title"]),
    ];
    for (coll, query, fields) in &cases {
        let res = w.list(Some(&w.a), coll, query).await;
        assert!(res.status.as_u16() < 500, "?{query}: {}", text(&res));
        assert_validation(&res, fields);
    }
    // Anonymous callers get the same refusals on posts.
    for (coll, query, fields) in cases.iter().filter(|c| c.0 == "posts") {
        assert_validation(&w.list(None, coll, query).await, fields);
    }
}

/// Ten orders of A's, with ties and missing values in every sortable field, and two of B's.
async fn ten_orders(w: &World) -> BTreeSet<String> {
    let quantities = [5, 3, 5, 1, 9, 5, 2, 9, 7, 5];
    let mut mine = BTreeSet::new();
    for (i, quantity) in quantities.into_iter().enumerate() {
        let mut body = order(&format!("item-{}", i % 4), quantity);
        body["unit_price"] = json!((i % 3) as f64 * 1.5);
        if i % 3 != 0 {
            body["deliver_by"] = json!(format!("2026-0{}-01T00:00:00Z", 1 + i % 2));
        }
        if i % 4 == 0 {
            body["gift"] = json!(true);
        }
        mine.insert(w.create_id(&w.a, "orders", body).await);
    }
    w.create_id(&w.b, "orders", order("item-0", 5)).await;
    w.create_id(&w.b, "orders", order("item-1", 9)).await;
    mine
}

#[tokio::test]
async fn pagination_visits_every_record_exactly_once() {
    let w = World::new(&[]).await;
    let mine = ten_orders(&w).await;
    for sort in [
        "id",
        "-id",
        "quantity",
        "-quantity",
        "deliver_by",
        "-deliver_by",
        "item",
        "-item",
        "unit_price",
        "-unit_price",
        "gift",
        "-gift",
    ] {
        for limit in [1, 3, 4] {
            let recs = w
                .listed_by(Some(&w.a), "orders", &q(&[("sort", sort)]), limit)
                .await;
            let seen: Vec<String> = recs.iter().map(id_of).collect();
            let unique: BTreeSet<String> = seen.iter().cloned().collect();
            assert_eq!(
                unique.len(),
                seen.len(),
                "duplicates with sort={sort} limit={limit}"
            );
            assert_eq!(unique, mine, "sort={sort} limit={limit}");
            assert_sorted(&recs, sort);
        }
    }
    // Without a sort, and with a filter.
    let recs = w.listed_by(Some(&w.a), "orders", "", 3).await;
    assert_eq!(recs.iter().map(id_of).collect::<BTreeSet<_>>(), mine);
    let recs = w
        .listed_by(
            Some(&w.a),
            "orders",
            &q(&[("quantity[gte]", "5"), ("sort", "-quantity")]),
            2,
        )
        .await;
    assert_eq!(recs.len(), 7);
    assert!(recs.iter().all(|r| r["quantity"].as_i64().unwrap() >= 5));
    assert_sorted(&recs, "-quantity");
    // The admin pages through everyone's.
    let recs = w
        .listed_by(Some(&w.admin), "orders", "sort=quantity", 5)
        .await;
    assert_eq!(recs.len(), 12);
    // Exact pages: 10 records by 3 is 3 full pages and a last one of 1 without a cursor.
    let res = w.list(Some(&w.a), "orders", "limit=3").await;
    let (first, next) = page(&res);
    assert_eq!(first.len(), 3);
    assert!(next.is_some());
}

/// Sends raw JSON text (to control exactly which number a client sends).
async fn create_raw(w: &World, who: &Who, coll: &str, body: &str) -> TestResponse {
    w.send(
        Req::post(&records(coll))
            .bearer(&who.token)
            .raw_body("application/json", body.to_owned()),
    )
    .await
}

#[tokio::test]
async fn pagination_by_a_number_field_is_exact_for_every_stored_value() {
    let w = World::new(&[]).await;
    // A perfectly valid JSON number whose double does not survive a serde_json round trip
    // without `float_roundtrip`: the cursor must still name it exactly.
    let mut mine = BTreeSet::new();
    for (i, price) in [
        "212.918907267134590",
        "212.918907267134590",
        "212.918907267134590",
        "985.69069463286950849579",
        "985.69069463286950849579",
        "1.5",
    ]
    .into_iter()
    .enumerate()
    {
        let body = format!(
            r#"{{"item": "i{i}", "quantity": 1, "unit_price": {price}, "contact_email": "a@example.com"}}"#
        );
        let res = create_raw(&w, &w.a, "orders", &body).await;
        assert_eq!(res.status, 201, "{}", text(&res));
        mine.insert(id_of(&res.json()));
    }
    for sort in ["unit_price", "-unit_price"] {
        for limit in [1, 2] {
            let recs = w
                .listed_by(Some(&w.a), "orders", &q(&[("sort", sort)]), limit)
                .await;
            // (`listed_by` already fails on a record listed twice.)
            let seen: BTreeSet<String> = recs.iter().map(id_of).collect();
            assert_eq!(
                seen, mine,
                "sort={sort} limit={limit}: every record exactly once"
            );
        }
    }
}

#[tokio::test]
async fn numbers_come_back_as_they_were_sent() {
    let w = World::new(&[]).await;
    // Shortest round-trip forms of doubles, as any correct JSON encoder writes them.
    for price in [
        "985.6906946328695",
        "212.91890726713459",
        "0.1",
        "123456.789",
    ] {
        let body = format!(
            r#"{{"item": "x", "quantity": 1, "unit_price": {price}, "contact_email": "a@example.com"}}"#
        );
        let res = create_raw(&w, &w.a, "orders", &body).await;
        assert_eq!(res.status, 201, "{}", text(&res));
        let needle = format!("\"unit_price\":{price}");
        assert!(
            text(&res).contains(&needle),
            "sent {price}, got {}",
            text(&res)
        );
        let again = w.get(Some(&w.a), "orders", &id_of(&res.json())).await;
        assert!(
            text(&again).contains(&needle),
            "sent {price}, got {}",
            text(&again)
        );
    }
}

async fn first_cursor(w: &World, query: &str) -> String {
    let res = w.list(Some(&w.a), "orders", query).await;
    page(&res).1.expect("a cursor")
}

#[tokio::test]
async fn cursors_cannot_be_forged_or_reused_across_queries() {
    let w = World::new(&[]).await;
    ten_orders(&w).await;
    let by_quantity = first_cursor(&w, &q(&[("sort", "quantity"), ("limit", "3")])).await;
    let by_id = first_cursor(&w, &q(&[("limit", "3")])).await;
    let any_id = random_id();
    let forged = |doc: Value| B64.encode(doc.to_string());
    let mut flipped = by_quantity.clone().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("-quantity", by_quantity.clone()),
        ("id", by_quantity.clone()),
        ("item", by_quantity.clone()),
        ("quantity", by_id.clone()),
        ("quantity", flipped),
        ("quantity", format!("{by_quantity}A")),
        ("quantity", format!("{by_quantity}==")),
        ("quantity", by_quantity[..by_quantity.len() - 2].to_owned()),
        ("quantity", "!!!".to_owned()),
        ("quantity", String::new()),
        ("quantity", "A".repeat(3000)),
        (
            "quantity",
            forged(json!({"s": "quantity", "v": {"$gt": ""}, "i": any_id})),
        ),
        (
            "quantity",
            forged(json!({"s": "quantity", "v": "5", "i": any_id})),
        ),
        (
            "quantity",
            forged(json!({"s": "quantity", "v": 5.5, "i": any_id})),
        ),
        (
            "quantity",
            forged(json!({"s": "quantity", "v": 99_999_999, "i": any_id})),
        ),
        (
            "quantity",
            forged(json!({"s": "quantity", "v": [5], "i": any_id})),
        ),
        (
            "quantity",
            forged(json!({"s": "quantity", "v": 5, "i": "' OR 1=1 --"})),
        ),
        (
            "quantity",
            forged(json!({"s": "quantity", "v": 5, "i": any_id.to_uppercase()})),
        ),
        ("quantity", forged(json!({"s": "quantity", "v": 5}))),
        ("quantity", forged(json!([]))),
        ("id", forged(json!({"s": "id", "v": 5, "i": any_id}))),
        (
            "id",
            forged(json!({"s": "id; DROP TABLE c_orders", "v": null, "i": any_id})),
        ),
    ];
    for (sort, cursor) in cases {
        let res = w
            .list(
                Some(&w.a),
                "orders",
                &q(&[("sort", sort), ("cursor", cursor.as_str())]),
            )
            .await;
        assert!(res.status.as_u16() < 500, "{}", text(&res));
        assert_validation(&res, &["cursor"]);
    }
    // A well-formed hand-made cursor is only a position: it never widens the view.
    let nil = "00000000-0000-0000-0000-000000000000";
    let handmade = forged(json!({"s": "quantity", "v": 1, "i": nil}));
    for who in [&w.a, &w.b] {
        let res = w
            .list(
                Some(who),
                "orders",
                &q(&[("sort", "quantity"), ("cursor", handmade.as_str())]),
            )
            .await;
        let (recs, _) = page(&res);
        assert!(!recs.is_empty());
        assert!(recs.iter().all(|r| r["owner_id"] == who.id.as_str()));
    }
    // B following A's cursor sees only B's records.
    let res = w
        .list(
            Some(&w.b),
            "orders",
            &q(&[("sort", "quantity"), ("cursor", by_quantity.as_str())]),
        )
        .await;
    let (recs, _) = page(&res);
    assert!(recs.iter().all(|r| r["owner_id"] == w.b.id.as_str()));
}

// ---------------------------------------------------------------------------------------------
// Optimistic concurrency.

fn patch_if(w: &World, id: &str, if_match: &str, body: Value) -> Req {
    Req::patch(&record("posts", id))
        .bearer(&w.a.token)
        .header("if-match", if_match)
        .json(body)
}

#[tokio::test]
async fn if_match_guards_against_lost_updates() {
    let w = World::new(&[]).await;
    let id = w.create_id(&w.a, "posts", post("v1", "draft")).await;
    let res = w.get(Some(&w.a), "posts", &id).await;
    assert_eq!(res.header("etag"), Some("\"1\""));

    let res = w
        .send(patch_if(&w, &id, "\"1\"", json!({"title": "v2"})))
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
    assert_eq!(res.header("etag"), Some("\"2\""));
    assert_eq!(res.json()["version"], 2);

    let before = w.snapshot(&w.a, "posts", &id).await;
    for stale in [
        "\"1\"", "\"999\"", "\"-1\"", "\"0\"", "garbage", "\"\"", "1",
    ] {
        let res = w
            .send(patch_if(&w, &id, stale, json!({"title": "lost"})))
            .await;
        res.assert_error(412, "precondition_failed");
        assert_eq!(w.snapshot(&w.a, "posts", &id).await, before, "{stale}");
    }

    let res = w.send(patch_if(&w, &id, "*", json!({"title": "v3"}))).await;
    assert_eq!(res.status, 200, "{}", text(&res));
    assert_eq!(res.header("etag"), Some("\"3\""));
    let rec = w.snapshot(&w.a, "posts", &id).await;
    assert_eq!(rec["title"], "v3");
    assert_eq!(rec["version"], 3);

    // A current If-Match does not excuse an invalid body.
    let res = w
        .send(patch_if(&w, &id, "\"3\"", json!({"title": 5})))
        .await;
    assert_validation(&res, &["title"]);
    assert_eq!(w.snapshot(&w.a, "posts", &id).await, rec);

    // If-Match reveals nothing about records the caller cannot read.
    let reference = w.get(Some(&w.b), "posts", &random_id()).await;
    for tag in ["\"3\"", "\"1\"", "*"] {
        let res = w
            .send(
                Req::patch(&record("posts", &id))
                    .bearer(&w.b.token)
                    .header("if-match", tag)
                    .json(json!({"title": "x"})),
            )
            .await;
        assert_same_404(&res, &reference);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_with_the_same_if_match_have_one_winner() {
    let w = Arc::new(World::new(&[]).await);
    let id = w.create_id(&w.a, "posts", post("v1", "draft")).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (w, id) = (Arc::clone(&w), id.clone());
        tasks.spawn(async move {
            let title = format!("writer {i}");
            let res = w
                .send(patch_if(&w, &id, "\"1\"", json!({ "title": title })))
                .await;
            (title, res)
        });
    }
    let mut winners = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (title, res) = done.unwrap();
        if res.status == 200 {
            winners.push(title);
        } else {
            res.assert_error(412, "precondition_failed");
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let rec = w.snapshot(&w.a, "posts", &id).await;
    assert_eq!(rec["version"], 2);
    assert_eq!(rec["title"], winners[0].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_without_if_match_lose_nothing() {
    let w = Arc::new(World::new(&[]).await);
    let id = w.create_id(&w.a, "posts", post("v1", "draft")).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (w, id) = (Arc::clone(&w), id.clone());
        tasks.spawn(async move {
            w.patch(Some(&w.a), "posts", &id, json!({"title": format!("w{i}")}))
                .await
        });
    }
    let mut applied: i64 = 0;
    let mut versions = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let res = done.unwrap();
        if res.status == 200 {
            applied += 1;
            assert!(versions.insert(res.json()["version"].as_i64().unwrap()));
        } else {
            res.assert_error(409, "conflict");
        }
    }
    assert!(applied >= 1);
    let rec = w.snapshot(&w.a, "posts", &id).await;
    assert_eq!(
        rec["version"],
        1 + applied,
        "every applied update is counted once"
    );
    assert_eq!(versions.last().copied(), Some(1 + applied));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_delete_once() {
    let w = Arc::new(World::new(&[]).await);
    let id = w.create_id(&w.a, "orders", order("once", 1)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (w, id) = (Arc::clone(&w), id.clone());
        tasks.spawn(async move { w.delete(Some(&w.admin), "orders", &id).await });
    }
    let mut deleted = 0;
    while let Some(done) = tasks.join_next().await {
        let res = done.unwrap();
        if res.status == 204 {
            deleted += 1;
        } else {
            res.assert_error(404, "not_found");
        }
    }
    assert_eq!(deleted, 1);
}

// ---------------------------------------------------------------------------------------------
// References.

#[tokio::test]
async fn references_must_point_at_records_the_caller_can_read() {
    let w = World::new(&[NOTES]).await;
    let mine = w.create_id(&w.a, "orders", order("mine", 1)).await;
    let theirs = w.create_id(&w.b, "orders", order("theirs", 1)).await;

    let rec = w
        .create(&w.a, "notes", json!({"text": "ok", "order": mine}))
        .await;
    assert_eq!(rec["order"], mine.as_str());
    let note = id_of(&rec);
    let rec = w
        .create(
            &w.a,
            "notes",
            json!({"text": "upper", "order": mine.to_uppercase()}),
        )
        .await;
    assert_eq!(rec["order"], mine.as_str(), "stored in canonical form");

    let mut messages: BTreeSet<String> = BTreeSet::new();
    for bad in [theirs.clone(), random_id()] {
        let res = w
            .post(Some(&w.a), "notes", json!({"text": "x", "order": bad}))
            .await;
        assert_validation(&res, &["order"]);
        messages.insert(
            res.json()["details"][0]["message"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        messages.len(),
        1,
        "another user's record and a missing one look alike"
    );
    for bad in [
        json!("not-a-uuid"),
        json!(5),
        json!({"$gt": ""}),
        json!([mine.clone()]),
        json!(format!("{mine}' OR '1'='1")),
    ] {
        let res = w
            .post(Some(&w.a), "notes", json!({"text": "x", "order": bad}))
            .await;
        assert_validation(&res, &["order"]);
    }
    assert_eq!(w.listed(Some(&w.a), "notes", "").await.len(), 2);

    let before = w.snapshot(&w.a, "notes", &note).await;
    for bad in [theirs.clone(), random_id()] {
        let res = w
            .patch(Some(&w.a), "notes", &note, json!({"order": bad}))
            .await;
        assert_validation(&res, &["order"]);
        assert_eq!(w.snapshot(&w.a, "notes", &note).await, before);
    }
    let res = w
        .patch(Some(&w.a), "notes", &note, json!({"order": null}))
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
    assert_eq!(res.json()["order"], Value::Null);

    // B cannot point at A's order; the admin, who can read it, can.
    let res = w
        .post(Some(&w.b), "notes", json!({"text": "x", "order": mine}))
        .await;
    assert_validation(&res, &["order"]);
    w.create(&w.admin, "notes", json!({"text": "x", "order": mine}))
        .await;

    // A deleted order cannot be referenced any more.
    assert_eq!(w.delete(Some(&w.admin), "orders", &mine).await.status, 204);
    let res = w
        .post(Some(&w.a), "notes", json!({"text": "x", "order": mine}))
        .await;
    assert_validation(&res, &["order"]);
}

// ---------------------------------------------------------------------------------------------
// Deny by default.

#[tokio::test]
async fn a_collection_without_rules_refuses_everything() {
    let w = World::new(&[LOCKED]).await;
    for (who, status, code) in [
        (None, 401, "unauthorized"),
        (Some(&w.a), 403, "forbidden"),
        (Some(&w.admin), 403, "forbidden"),
    ] {
        let id = random_id();
        w.list(who, "vault", "").await.assert_error(status, code);
        w.post(who, "vault", json!({"secret": "x"}))
            .await
            .assert_error(status, code);
        w.get(who, "vault", &id).await.assert_error(status, code);
        w.patch(who, "vault", &id, json!({"secret": "y"}))
            .await
            .assert_error(status, code);
        w.delete(who, "vault", &id).await.assert_error(status, code);
    }
}

#[tokio::test]
async fn operations_without_a_rule_are_refused() {
    let w = World::new(&[LOCKED]).await;
    let id = w.create_id(&w.a, "ledger", json!({"entry": "first"})).await;
    assert_eq!(w.snapshot(&w.a, "ledger", &id).await["entry"], "first");
    assert_eq!(w.snapshot(&w.admin, "ledger", &id).await["entry"], "first");
    w.list(None, "ledger", "")
        .await
        .assert_error(401, "unauthorized");
    for who in [&w.a, &w.admin] {
        w.list(Some(who), "ledger", "")
            .await
            .assert_error(403, "forbidden");
        w.patch(Some(who), "ledger", &id, json!({"entry": "changed"}))
            .await
            .assert_error(403, "forbidden");
        w.delete(Some(who), "ledger", &id)
            .await
            .assert_error(403, "forbidden");
    }
    assert_eq!(w.snapshot(&w.a, "ledger", &id).await["entry"], "first");
}

// ---------------------------------------------------------------------------------------------
// Conditional create and update rules.

#[tokio::test]
async fn conditional_create_rules_judge_the_new_record() {
    let w = World::new(&[ARTICLES]).await;
    let res = w
        .post(
            Some(&w.a),
            "articles",
            json!({"title": "t", "status": "published"}),
        )
        .await;
    res.assert_error(403, "forbidden");
    assert!(w.listed(None, "articles", "").await.is_empty());
    w.create(&w.a, "articles", json!({"title": "t"})).await;
    w.create(
        &w.admin,
        "articles",
        json!({"title": "t", "status": "published"}),
    )
    .await;
    assert_eq!(w.listed(None, "articles", "").await.len(), 2);
}

#[tokio::test]
async fn an_update_cannot_move_a_record_out_of_its_update_rule() {
    let w = World::new(&[ARTICLES]).await;
    let id = w
        .create_id(&w.a, "articles", json!({"title": "draft"}))
        .await;
    let res = w
        .patch(Some(&w.a), "articles", &id, json!({"title": "edited"}))
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
    let before = w.snapshot(&w.a, "articles", &id).await;
    // Publishing is for admins (create and update rules both say so): the owner may edit the
    // draft, but not turn it into a record the rules only let an admin write.
    let res = w
        .patch(Some(&w.a), "articles", &id, json!({"status": "published"}))
        .await;
    res.assert_error(403, "forbidden");
    assert_eq!(w.snapshot(&w.a, "articles", &id).await, before);
    let res = w
        .patch(
            Some(&w.admin),
            "articles",
            &id,
            json!({"status": "published"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
    w.patch(Some(&w.a), "articles", &id, json!({"title": "again"}))
        .await
        .assert_error(403, "forbidden");
}

// ---------------------------------------------------------------------------------------------
// Storage: names, restarts.

#[tokio::test]
async fn sql_keywords_and_account_table_names_are_safe_names() {
    let w = World::new(&[KEYWORDS]).await;
    let rec = w
        .create(
            &w.a,
            "users",
            json!({"email": "fake@example.com", "password_hash": "x", "role": "admin"}),
        )
        .await;
    assert_eq!(rec["role"], "admin");
    // The account tables are untouched: A is still a user, and logins still work.
    let me = w.send(Req::get("/api/users/me").bearer(&w.a.token)).await;
    assert_eq!(me.status, 200, "{}", text(&me));
    assert_eq!(me.json()["role"], "user");
    assert_eq!(me.json()["email"], "alice@example.com");
    w.app.user("dave@example.com").await;
    w.send(Req::get("/api/admin/users").bearer(&w.a.token))
        .await
        .assert_error(403, "forbidden");

    let mut made = Vec::new();
    for i in 0..4i64 {
        made.push(
            w.create_id(
                &w.a,
                "select",
                json!({
                    "from": format!("f{i}"),
                    "where": i,
                    "order": 10 - i,
                    "group": i % 2 == 0,
                    "table": format!("2026-01-0{}T00:00:00Z", i + 1),
                    "user": "u",
                }),
            )
            .await,
        );
    }
    let recs = w
        .listed_by(
            Some(&w.a),
            "select",
            &q(&[("where[gte]", "1"), ("sort", "-order")]),
            2,
        )
        .await;
    let wheres: Vec<i64> = recs.iter().map(|r| r["where"].as_i64().unwrap()).collect();
    assert_eq!(wheres, vec![1, 2, 3]);
    for query in [
        q(&[("group", "true")]),
        q(&[("from[contains]", "f")]),
        q(&[("table[gt]", "2026-01-02T00:00:00Z")]),
        q(&[("user", "u"), ("sort", "table")]),
        q(&[("sort", "-group")]),
    ] {
        let res = w.list(Some(&w.a), "select", &query).await;
        assert_eq!(res.status, 200, "?{query}: {}", text(&res));
    }
    let res = w
        .patch(
            Some(&w.a),
            "select",
            &made[0],
            json!({"order": 99, "group": null}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
    assert_eq!(res.json()["order"], 99);
    assert_eq!(w.delete(Some(&w.a), "select", &made[1]).await.status, 204);
    assert_eq!(w.listed(Some(&w.a), "select", "").await.len(), 3);
}

#[tokio::test]
async fn the_longest_names_work() {
    let w = World::new(&[LONG_NAMES]).await;
    let coll = "a123456789012345678901234567890123456789";
    let fa = "f23456789012345678901234567890123456789a";
    let fb = "f23456789012345678901234567890123456789b";
    for i in 0..5i64 {
        w.create(&w.a, coll, json!({ fa: i, fb: 10 - i })).await;
    }
    let key = format!("{fa}[gte]");
    let recs = w
        .listed_by(
            Some(&w.a),
            coll,
            &q(&[(key.as_str(), "2"), ("sort", fb)]),
            2,
        )
        .await;
    let values: Vec<(i64, i64)> = recs
        .iter()
        .map(|r| (r[fa].as_i64().unwrap(), r[fb].as_i64().unwrap()))
        .collect();
    assert_eq!(values, vec![(4, 6), (3, 7), (2, 8)]);
}

#[tokio::test]
async fn records_survive_a_restart_and_a_second_process() {
    let w = World::new(&[NOTES]).await;
    let post_id = w.create_id(&w.a, "posts", post("persisted", "draft")).await;
    let order_id = w.create_id(&w.a, "orders", order("persisted", 2)).await;
    let note_id = w
        .create_id(&w.a, "notes", json!({"text": "n", "order": order_id}))
        .await;
    let sibling = spawn_sibling(&w.app).await;
    for (coll, id) in [
        ("posts", &post_id),
        ("orders", &order_id),
        ("notes", &note_id),
    ] {
        let here = w.snapshot(&w.a, coll, id).await;
        let there = sibling
            .send(Req::get(&record(coll, id)).bearer(&w.a.token))
            .await;
        assert_eq!(there.status, 200, "{}", text(&there));
        assert_eq!(there.json(), here);
    }
    let res = sibling
        .send(
            Req::post(&records("posts"))
                .bearer(&w.a.token)
                .json(post("from the sibling", "draft")),
        )
        .await;
    assert_eq!(res.status, 201, "{}", text(&res));
    assert_eq!(
        w.snapshot(&w.a, "posts", &id_of(&res.json())).await["title"],
        "from the sibling"
    );
}

#[tokio::test]
async fn a_field_added_later_gets_a_column() {
    let w = World::new(&[]).await;
    let old = w.create_id(&w.a, "posts", post("old", "published")).await;
    // The same database and key ring, with `posts.subtitle` declared.
    let mut raw = w.app.raw.clone();
    let extra = collections_from_toml(
        r#"
[[collections]]
name = "posts"
[collections.fields.subtitle]
type = "string"
max = 50
"#,
    );
    raw.collections
        .iter_mut()
        .find(|c| c.name == "posts")
        .unwrap()
        .fields
        .insert("subtitle".into(), extra[0].fields["subtitle"].clone());
    let template = TestApp {
        raw,
        router: w.app.router.clone(),
        state: w.app.state.clone(),
        dir: tempfile::tempdir().unwrap(),
    };
    let next = spawn_sibling(&template).await;
    let res = next
        .send(Req::get(&record("posts", &old)).bearer(&w.a.token))
        .await;
    assert_eq!(res.status, 200, "{}", text(&res));
    assert_eq!(res.json()["subtitle"], Value::Null);
    let res = next
        .send(
            Req::post(&records("posts"))
                .bearer(&w.a.token)
                .json(json!({"title": "new", "subtitle": "sub", "status": "published"})),
        )
        .await;
    assert_eq!(res.status, 201, "{}", text(&res));
    assert_eq!(res.json()["subtitle"], "sub");
    let new = id_of(&res.json());
    // The first process, which does not know the field, still serves the record without it.
    let rec = w.snapshot(&w.a, "posts", &new).await;
    assert!(!keys(&rec).contains("subtitle"));
    assert_eq!(rec["title"], "new");
}

// ---------------------------------------------------------------------------------------------
// Configuration.

fn settings_error(toml: &str) -> rampart_server::config::ConfigError {
    let dir = tempfile::tempdir().unwrap();
    let raw = RawConfig {
        data_dir: dir.path().to_owned(),
        collections: collections_from_toml(toml),
        ..RawConfig::default()
    };
    match Settings::from_raw(&raw) {
        Ok(_) => panic!("accepted:\n{toml}"),
        Err(e) => e,
    }
}

#[test]
fn bad_declarations_stop_the_server_with_collection_field_and_reason() {
    let widgets = |fields: &str, access: &str| {
        format!("[[collections]]\nname = \"widgets\"\n[collections.access]\n{access}\n{fields}")
    };
    let size = "[collections.fields.size]\ntype = \"string\"\n";
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            widgets("[collections.fields.size]\ntype = \"blob\"\n", ""),
            vec!["widgets", "size", "unknown type", "blob"],
        ),
        (
            widgets(size, "read = \"everyone\""),
            vec!["widgets", "read", "unknown rule", "everyone"],
        ),
        (
            widgets(size, "read = \"owner || true\""),
            vec!["widgets", "read", "unknown rule"],
        ),
        (
            format!("{}\n{}", widgets(size, ""), widgets(size, "")),
            vec!["widgets", "more than once"],
        ),
        (
            widgets(size, "read = \"role:superuser\""),
            vec!["widgets", "read", "superuser", "unknown role"],
        ),
        (
            widgets(
                "[collections.fields.size]\ntype = \"string\"\nread = \"owner_or_role:root\"\n",
                "",
            ),
            vec!["widgets", "size", "root", "unknown role"],
        ),
        (
            widgets(
                size,
                "read = { when = { field = \"nope\", equals = \"x\" }, then = \"public\", else = \"owner\" }",
            ),
            vec!["widgets", "nope", "not declared"],
        ),
        (
            widgets(
                "[collections.fields.size]\ntype = \"string\"\nwrite = { when = { field = \"nope\", equals = \"x\" }, then = \"public\", else = \"owner\" }\n",
                "",
            ),
            vec!["widgets", "size", "nope", "not declared"],
        ),
        (
            widgets(
                "[collections.fields.maker]\ntype = \"reference\"\ncollection = \"ghosts\"\n",
                "",
            ),
            vec!["widgets", "maker", "ghosts", "not declared"],
        ),
        (
            widgets("[collections.fields.owner_id]\ntype = \"string\"\n", ""),
            vec!["widgets", "owner_id", "managed by the server"],
        ),
        (
            "[[collections]]\nname = \"Widgets\"\n[collections.fields.size]\ntype = \"string\"\n"
                .to_owned(),
            vec!["Widgets", "name"],
        ),
        (
            "[[collections]]\nname = \"widgets\"\n".to_owned(),
            vec!["widgets", "no fields"],
        ),
        (
            widgets(
                "[collections.fields.state]\ntype = \"enum\"\nvalues = [\"a\"]\ndefault = \"b\"\n",
                "",
            ),
            vec!["widgets", "state", "default"],
        ),
        (
            widgets(size, "purge = \"public\""),
            vec!["widgets", "purge", "unknown operation"],
        ),
        (
            widgets(
                "[collections.fields.n]\ntype = \"integer\"\n",
                "read = { when = { field = \"n\", equals = \"x\" }, then = \"public\", else = \"owner\" }",
            ),
            vec!["widgets", "n", "condition value"],
        ),
        (
            widgets(
                "[collections.fields.size]\ntype = \"integer\"\nmin = 5\nmax = 1\n",
                "",
            ),
            vec!["widgets", "size", "min exceeds max"],
        ),
        (
            widgets(
                "[collections.fields.size]\ntype = \"string\"\npattern = \"(\"\n",
                "",
            ),
            vec!["widgets", "size", "regular expression"],
        ),
    ];
    for (toml, needles) in cases {
        let e = settings_error(&toml);
        assert_eq!(e.setting, "collections", "{toml}\n{}", e.reason);
        for needle in needles {
            assert!(
                e.reason.contains(needle),
                "{needle:?} missing from {:?} for\n{toml}",
                e.reason
            );
        }
    }
    // The bundled examples and this file's declarations are all accepted.
    let mut collections = collections_from_toml(EXAMPLE_COLLECTIONS);
    for toml in [NOTES, GADGETS, LOCKED, ARTICLES, KEYWORDS, LONG_NAMES] {
        collections.extend(collections_from_toml(toml));
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = RawConfig {
        data_dir: dir.path().to_owned(),
        collections,
        ..RawConfig::default()
    };
    assert!(Settings::from_raw(&raw).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Random bodies.

/// xorshift64*: tiny, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const FIELD_KEYS: &[&str] = &[
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
    "name",
    "notes",
    "count",
    "weight",
    "ok",
    "homepage",
    "serial",
    "when",
    "kind",
    "scores",
];

const ODD_KEYS: &[&str] = &[
    "id",
    "owner_id",
    "created_at",
    "updated_at",
    "version",
    "__proto__",
    "constructor",
    "$gt",
    "$where",
    "",
    "TITLE",
    "title\u{0}",
    "f_title",
    "c_posts",
    "'; DROP TABLE c_posts; --",
];

const STRINGS: &[&str] = &[
    "",
    "x",
    "draft",
    "published",
    "a",
    "b",
    "buyer@example.com",
    "BUYER@EXAMPLE.COM",
    "not an email",
    "2026-01-02T03:04:05Z",
    "2026-01-02T03:04:05+14:00",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999Z",
    "2026-02-30T00:00:00Z",
    "https://example.com/",
    "javascript:alert(1)",
    "00000000-0000-0000-0000-000000000000",
    "<script>alert(1)</script>",
    "<p>ok</p>",
    "'); DROP TABLE c_posts; --",
    "%_\\",
    "\u{0}",
    "a\u{0}b",
    "\n\r\t",
    "\u{202e}\u{200b}\u{feff}",
    "\u{1F600}",
    "NaN",
    "1e999",
    "-0",
];

fn random_string(rng: &mut Rng) -> String {
    let len = *rng.pick(&[0usize, 1, 2, 5, 40, 41, 199, 200, 201, 1000, 1001, 20_001]);
    let alphabet = [
        'a',
        'z',
        'A',
        ' ',
        '\'',
        '"',
        '\\',
        '%',
        '_',
        '<',
        '>',
        '&',
        '\u{0}',
        '\u{7}',
        '\n',
        'é',
        '\u{202e}',
        '\u{1F600}',
        '\u{ffff}',
        '$',
        '{',
    ];
    (0..len).map(|_| *rng.pick(&alphabet)).collect()
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let kinds = if depth >= 3 { 9 } else { 11 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => json!(rng.below(1010) as i64 - 5),
        3 => rng
            .pick(&[
                json!(i64::MIN),
                json!(i64::MAX),
                json!(u64::MAX),
                json!(0),
                json!(-1),
                json!(1000),
                json!(1001),
                json!(9_007_199_254_740_993_i64),
            ])
            .clone(),
        4 => json!(*rng.pick(&[
            0.5,
            -0.0,
            1e308,
            -1e308,
            5e-324,
            1.0,
            999_999.99,
            1_000_000.0,
            1_000_000.1,
            0.1,
            10.000_000_1,
        ])),
        5 => json!(*rng.pick(STRINGS)),
        6 => json!(random_string(rng)),
        7 => json!(random_id()),
        8 => json!(format!("{}@example.com", rng.below(1000))),
        9 => {
            let n = rng.below(13);
            Value::Array((0..n).map(|_| random_value(rng, depth + 1)).collect())
        }
        _ => {
            let n = rng.below(4);
            let mut map = Map::new();
            for _ in 0..n {
                map.insert(random_key(rng), random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

fn random_key(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=6 => (*rng.pick(FIELD_KEYS)).to_owned(),
        7 | 8 => (*rng.pick(ODD_KEYS)).to_owned(),
        _ => random_string(rng).chars().take(30).collect(),
    }
}

/// A body: half the time a valid one with a few keys changed, else anything.
fn random_body(rng: &mut Rng, valid: &Value) -> Value {
    let mut map = if rng.chance(50) {
        valid.as_object().unwrap().clone()
    } else {
        Map::new()
    };
    for _ in 0..=rng.below(4) {
        let key = random_key(rng);
        if rng.chance(15) {
            map.remove(&key);
        } else {
            map.insert(key, random_value(rng, 1));
        }
    }
    Value::Object(map)
}

/// Asserts that a success response holds only values of the declared types and bounds.
#[track_caller]
fn assert_well_typed(coll: &str, rec: &Value) {
    let obj = rec.as_object().unwrap_or_else(|| panic!("{rec}"));
    for key in MANAGED {
        assert!(obj.contains_key(*key), "{rec}");
    }
    let text_max = |v: &Value, max: usize| {
        v.is_null()
            || v.as_str()
                .is_some_and(|s| s.chars().count() <= max && !s.contains('\0'))
    };
    let ok = match coll {
        "posts" => {
            !obj.contains_key("internal_note")
                && rec["title"]
                    .as_str()
                    .is_some_and(|s| (1..=200).contains(&s.chars().count()))
                && text_max(&rec["body"], 20_000)
                && (rec["status"] == "draft" || rec["status"] == "published")
                && (rec["tags"].is_null()
                    || rec["tags"].as_array().is_some_and(|t| {
                        t.len() <= 10 && t.iter().all(|s| text_max(s, 40) && s.is_string())
                    }))
        }
        "orders" => {
            rec["item"].as_str().is_some_and(|s| !s.is_empty())
                && text_max(&rec["item"], 200)
                && rec["quantity"]
                    .as_i64()
                    .is_some_and(|n| (1..=1000).contains(&n))
                && rec["unit_price"]
                    .as_f64()
                    .is_some_and(|n| (0.0..=1_000_000.0).contains(&n))
                && rec["contact_email"]
                    .as_str()
                    .is_some_and(|s| s.contains('@'))
                && (rec["deliver_by"].is_null()
                    || rec["deliver_by"]
                        .as_str()
                        .is_some_and(|s| s.len() == 24 && s.ends_with('Z')))
                && (rec["gift"].is_null() || rec["gift"].is_boolean())
        }
        _ => {
            rec["name"].as_str().is_some_and(|s| {
                !s.is_empty()
                    && s.len() <= 50
                    && s.chars().all(|c| c.is_ascii_lowercase() || c == ' ')
            }) && text_max(&rec["notes"], 100)
                && (rec["count"].is_null()
                    || rec["count"].as_i64().is_some_and(|n| (-5..=5).contains(&n)))
                && (rec["weight"].is_null()
                    || rec["weight"]
                        .as_f64()
                        .is_some_and(|n| (0.0..=10.0).contains(&n)))
                && (rec["ok"].is_null() || rec["ok"].is_boolean())
                && (rec["homepage"].is_null()
                    || rec["homepage"]
                        .as_str()
                        .is_some_and(|s| s.to_lowercase().starts_with("http")))
                && (rec["serial"].is_null()
                    || rec["serial"]
                        .as_str()
                        .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok() && s == s.to_lowercase()))
                && (rec["kind"].is_null() || rec["kind"] == "a" || rec["kind"] == "b")
                && (rec["scores"].is_null()
                    || rec["scores"].as_array().is_some_and(|s| {
                        s.len() <= 3
                            && s.iter()
                                .all(|n| n.as_i64().is_some_and(|n| (0..=100).contains(&n)))
                    }))
        }
    };
    assert!(ok, "{coll} record breaks its declaration: {rec}");
}

/// Asserts that a refusal is a well-formed envelope with an expected code.
#[track_caller]
fn assert_envelope(res: &TestResponse, context: &str) {
    assert!(
        !res.status.is_server_error(),
        "{context}: {} {}",
        res.status,
        text(res)
    );
    let body = res.json();
    let allowed = set(&["error", "message", "request_id", "details"]);
    assert!(keys(&body).is_subset(&allowed), "{context}: {body}");
    let code = body["error"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(
        [
            "validation_failed",
            "invalid_json",
            "json_too_deep",
            "forbidden",
            "payload_too_large",
        ]
        .contains(&code),
        "{context}: {body}"
    );
    let status = match code {
        "forbidden" => 403,
        "payload_too_large" => 413,
        _ => 400,
    };
    res.assert_error(status, code);
    if let Some(details) = body.get("details") {
        for d in details.as_array().unwrap() {
            assert!(d["field"].is_string() && d["message"].is_string(), "{body}");
        }
    }
}

#[tokio::test]
async fn random_bodies_never_cause_server_errors() {
    let w = World::new(&[GADGETS]).await;
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let valid = [
        (
            "posts",
            json!({"title": "valid", "status": "published", "tags": ["a"]}),
        ),
        ("orders", order("valid", 1)),
        ("gadgets", json!({"name": "valid", "count": 1})),
    ];
    let mut targets = Vec::new();
    let mut expected_counts = BTreeMap::new();
    for (coll, body) in &valid {
        targets.push(w.create_id(&w.a, coll, body.clone()).await);
        expected_counts.insert(*coll, 1usize);
    }
    let mut snapshots = Vec::new();
    for (i, (coll, _)) in valid.iter().enumerate() {
        snapshots.push(w.snapshot(&w.a, coll, &targets[i]).await);
    }
    let (mut created, mut patched) = (0, 0);
    for round in 0..200 {
        let which = round % valid.len();
        let (coll, base) = &valid[which];
        let body = random_body(&mut rng, base);
        let context = format!("round {round}: POST {coll} {body}");
        let res = w.post(Some(&w.a), coll, body).await;
        if res.status == 201 {
            assert_well_typed(coll, &res.json());
            *expected_counts.get_mut(coll).unwrap() += 1;
            created += 1;
        } else {
            assert_envelope(&res, &context);
        }

        let body = random_body(&mut rng, base);
        let context = format!("round {round}: PATCH {coll} {body}");
        let id = &targets[which];
        let res = w.patch(Some(&w.a), coll, id, body).await;
        let now = w.snapshot(&w.a, coll, id).await;
        if res.status == 200 {
            let rec = res.json();
            assert_well_typed(coll, &rec);
            assert_eq!(rec, now, "{context}");
            snapshots[which] = now;
            patched += 1;
        } else {
            assert_envelope(&res, &context);
            assert_eq!(
                now, snapshots[which],
                "{context}: a refused PATCH changed the record"
            );
        }
    }
    assert!(
        created > 0 && patched > 0,
        "the generator must also produce valid bodies"
    );
    // Raw bytes: valid JSON with a few bytes broken.
    let template = br#"{"title": "t", "status": "draft", "tags": ["a", "b"], "body": "<p>x</p>"}"#;
    for round in 0..40 {
        let mut bytes = template.to_vec();
        for _ in 0..=rng.below(3) {
            let at = rng.below(bytes.len());
            bytes[at] = *rng.pick(&[b'{', b'}', b'[', b'"', b'\\', 0xff, 0x00, b',', b':', b'9']);
        }
        let res = w
            .send(
                Req::post(&records("posts"))
                    .bearer(&w.a.token)
                    .raw_body("application/json", bytes.clone()),
            )
            .await;
        let context = format!("raw round {round}: {}", String::from_utf8_lossy(&bytes));
        if res.status == 201 {
            assert_well_typed("posts", &res.json());
            *expected_counts.get_mut("posts").unwrap() += 1;
        } else {
            assert_envelope(&res, &context);
        }
    }
    for (coll, expected) in expected_counts {
        assert_eq!(
            w.listed(Some(&w.a), coll, "").await.len(),
            expected,
            "{coll}: only successful creates stored anything"
        );
    }
}
