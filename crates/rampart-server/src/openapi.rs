//! `GET /api/openapi.json`: an OpenAPI 3.1 description of every route, collections included,
//! generated from the same declarations the server enforces. Every request body has
//! `additionalProperties: false`; every operation documents the error envelope as its
//! `default` response.

use rampart_core::collections::schema::{CollectionSpec, FieldSpec, FieldType, ScalarType};
use rampart_core::domain::{Email, NewPassword, PageLimit};
use serde_json::{Map, Value, json};

fn error_ref() -> Value {
    json!({
        "description": "Error envelope (see the error code table).",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// One operation: the summary, its security (bearer unless `extra` says otherwise), whatever
/// `extra` adds, and the error envelope as the `default` response.
fn op(summary: &str, secured: bool, extra: Value) -> Value {
    let mut map = match extra {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    map.insert("summary".into(), json!(summary));
    map.entry("security").or_insert_with(|| {
        if secured {
            json!([{ "bearer": [] }])
        } else {
            json!([])
        }
    });
    if let Some(responses) = map
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        responses.insert("default".into(), error_ref());
        // The HTTP layer refuses an oversized request head before any handler runs, with no
        // body (see `limits.max_header_bytes`).
        responses.insert(
            "431".into(),
            json!({ "description": "Request head too large; sent by the HTTP layer, without a body." }),
        );
    }
    Value::Object(map)
}

fn scalar_schema(s: &ScalarType) -> Value {
    match s {
        ScalarType::String { min, max } => {
            json!({ "type": "string", "minLength": min, "maxLength": max })
        }
        ScalarType::Integer { min, max } => {
            json!({ "type": "integer", "minimum": min, "maximum": max })
        }
        ScalarType::Number { min, max } => {
            json!({ "type": "number", "minimum": min, "maximum": max })
        }
        ScalarType::Boolean => json!({ "type": "boolean" }),
        ScalarType::Email => {
            json!({ "type": "string", "format": "email", "maxLength": Email::MAX_LEN })
        }
        ScalarType::Uuid => json!({ "type": "string", "format": "uuid" }),
    }
}

fn field_schema(f: &FieldSpec) -> Value {
    let mut s = match &f.ty {
        FieldType::String { min, max, pattern } => {
            let mut s = json!({ "type": "string", "minLength": min, "maxLength": max });
            if let Some(re) = pattern {
                s["pattern"] = json!(re.as_str());
            }
            s
        }
        FieldType::Text { max } => json!({ "type": "string", "maxLength": max }),
        FieldType::Html { max } => json!({
            "type": "string", "maxLength": max,
            "description": "HTML; sanitized on write (scripts, event handlers and javascript: URLs removed)."
        }),
        FieldType::Integer { min, max } => {
            json!({ "type": "integer", "format": "int64", "minimum": min, "maximum": max })
        }
        FieldType::Number { min, max } => {
            json!({ "type": "number", "minimum": min, "maximum": max })
        }
        FieldType::Boolean => json!({ "type": "boolean" }),
        FieldType::Enum { values } => json!({ "type": "string", "enum": values }),
        FieldType::Email => {
            json!({ "type": "string", "format": "email", "maxLength": Email::MAX_LEN })
        }
        FieldType::Url => {
            json!({
                "type": "string",
                "format": "uri",
                "maxLength": 2048,
                "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s\\\\]+",
                "description": "A public http or https URL: loopback, private, link-local and metadata addresses, local names and credentials are refused.",
            })
        }
        FieldType::Uuid => json!({ "type": "string", "format": "uuid" }),
        FieldType::DateTime => json!({ "type": "string", "format": "date-time" }),
        FieldType::Reference { collection } => json!({
            "type": "string", "format": "uuid",
            "description": format!("Id of a `{}` record the caller can read.", collection.as_str())
        }),
        FieldType::Array { items, max_items } => {
            json!({ "type": "array", "items": scalar_schema(items), "maxItems": max_items })
        }
    };
    if f.read.is_some() || f.write.is_some() {
        let note = "Visibility or writability depends on the caller (see the collection's rules).";
        s["description"] = json!(note);
    }
    s
}

fn nullable(mut schema: Value) -> Value {
    if let Some(t) = schema.get("type").cloned() {
        schema["type"] = json!([t, "null"]);
    }
    if let Some(e) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        e.push(Value::Null);
    }
    schema
}

fn collection_schemas(spec: &CollectionSpec, schemas: &mut Map<String, Value>) {
    let name = spec.name.as_str();
    let mut record_props = Map::new();
    record_props.insert("id".into(), json!({ "type": "string", "format": "uuid" }));
    record_props.insert(
        "owner_id".into(),
        json!({ "type": "string", "format": "uuid" }),
    );
    record_props.insert(
        "created_at".into(),
        json!({ "type": "string", "format": "date-time" }),
    );
    record_props.insert(
        "updated_at".into(),
        json!({ "type": "string", "format": "date-time" }),
    );
    record_props.insert("version".into(), json!({ "type": "integer", "minimum": 1 }));
    let mut create_props = Map::new();
    let mut update_props = Map::new();
    let mut required = Vec::new();
    for f in &spec.fields {
        let s = field_schema(f);
        record_props.insert(f.name.as_str().into(), nullable(s.clone()));
        if f.required && f.default.is_none() {
            required.push(f.name.as_str().to_owned());
        }
        create_props.insert(
            f.name.as_str().into(),
            if f.required {
                s.clone()
            } else {
                nullable(s.clone())
            },
        );
        update_props.insert(
            f.name.as_str().into(),
            if f.required { s } else { nullable(s) },
        );
    }
    schemas.insert(
        name.into(),
        json!({
            "type": "object",
            "properties": record_props,
            "required": ["id", "owner_id", "created_at", "updated_at", "version"],
            "additionalProperties": false,
        }),
    );
    schemas.insert(
        format!("{name}_create"),
        json!({ "type": "object", "properties": create_props, "required": required, "additionalProperties": false }),
    );
    schemas.insert(
        format!("{name}_update"),
        json!({ "type": "object", "properties": update_props, "additionalProperties": false }),
    );
}

fn collection_paths(spec: &CollectionSpec, paths: &mut Map<String, Value>) {
    let name = spec.name.as_str();
    let record_ref = json!({ "$ref": format!("#/components/schemas/{name}") });
    let mut list_params = vec![
        json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": PageLimit::MAX } }),
        json!({ "name": "cursor", "in": "query", "schema": { "type": "string", "maxLength": 2048 } }),
        json!({ "name": "sort", "in": "query", "schema": { "type": "string", "maxLength": 41 },
                "description": "A declared field, `-field` for descending, or `id`." }),
    ];
    for f in spec
        .fields
        .iter()
        .filter(|f| f.read.is_none() && f.ty.is_ordered())
    {
        list_params.push(json!({
            "name": f.name.as_str(), "in": "query", "required": false,
            "description": "Equals. Also `field[ne|lt|lte|gt|gte|contains]=value`.",
            "schema": { "type": "string", "maxLength": 200 }
        }));
    }
    let id_param = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
    paths.insert(
        format!("/api/collections/{name}/records"),
        json!({
            "get": op(&format!("List {name} records you can read"), true, json!({
                "parameters": list_params,
                "responses": { "200": ok("A page of records.", json!({
                    "type": "object",
                    "properties": {
                        "records": { "type": "array", "items": record_ref.clone() },
                        "next_cursor": { "type": ["string", "null"] }
                    },
                    "required": ["records", "next_cursor"],
                    "additionalProperties": false
                })) }
            })),
            "post": op(&format!("Create a {name} record"), true, json!({
                "requestBody": json_body(json!({ "$ref": format!("#/components/schemas/{name}_create") })),
                "responses": { "201": ok("The created record.", record_ref.clone()) }
            })),
        }),
    );
    paths.insert(
        format!("/api/collections/{name}/records/{{id}}"),
        json!({
            "get": op(&format!("Read a {name} record"), true, json!({
                "parameters": [id_param.clone()],
                "responses": { "200": ok("The record.", record_ref.clone()) }
            })),
            "patch": op(&format!("Update a {name} record"), true, json!({
                "parameters": [id_param.clone(), { "name": "If-Match", "in": "header", "required": false, "schema": { "type": "string" } }],
                "requestBody": json_body(json!({ "$ref": format!("#/components/schemas/{name}_update") })),
                "responses": { "200": ok("The updated record.", record_ref) }
            })),
            "delete": op(&format!("Delete a {name} record"), true, json!({
                "parameters": [id_param],
                "responses": { "204": { "description": "Deleted." } }
            })),
        }),
    );
}

/// The whole document.
pub fn document(collections: &[CollectionSpec]) -> Value {
    let user = json!({
        "type": "object",
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "email": { "type": "string", "format": "email" },
            "name": { "type": "string", "minLength": 1, "maxLength": 100 },
            "role": { "type": "string", "enum": ["user", "admin"] },
            "created_at": { "type": "string", "format": "date-time" }
        },
        "required": ["id", "email", "name", "role", "created_at"],
        "additionalProperties": false
    });
    let mut schemas = Map::new();
    schemas.insert("Error".into(), json!({
        "type": "object",
        "properties": {
            "error": { "type": "string" },
            "message": { "type": "string" },
            "request_id": { "type": "string" },
            "details": { "type": "array", "items": {
                "type": "object",
                "properties": { "field": { "type": "string" }, "message": { "type": "string" } },
                "required": ["field", "message"], "additionalProperties": false
            } },
            "retry_after": { "type": "integer", "minimum": 0 }
        },
        "required": ["error", "message", "request_id"],
        "additionalProperties": false
    }));
    schemas.insert("User".into(), user);
    schemas.insert(
        "Token".into(),
        json!({
            "type": "object",
            "properties": {
                "access_token": { "type": "string" },
                "token_type": { "type": "string", "enum": ["Bearer"] },
                "expires_in": { "type": "integer", "minimum": 1 }
            },
            "required": ["access_token", "token_type", "expires_in"],
            "additionalProperties": false
        }),
    );
    let user_ref = json!({ "$ref": "#/components/schemas/User" });
    let token_ref = json!({ "$ref": "#/components/schemas/Token" });
    let email = json!({ "type": "string", "format": "email", "maxLength": Email::MAX_LEN });
    let password = json!({ "type": "string", "minLength": NewPassword::MIN_CHARS, "maxLength": NewPassword::MAX_CHARS });
    let name = json!({ "type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[\\p{L}\\p{M}' -]+$" });
    let uuid_path = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
    let no_content = json!({ "204": { "description": "Done." } });

    let mut paths = Map::new();
    paths.insert("/health".into(), json!({ "get": op("Liveness", false, json!({
        "responses": { "200": ok("Alive.", json!({ "type": "object", "properties": { "status": { "const": "ok" } }, "required": ["status"] })) }
    })) }));
    paths.insert("/ready".into(), json!({ "get": op("Readiness of every configured store", false, json!({
        "responses": { "200": ok("Ready.", json!({ "type": "object", "properties": { "status": { "const": "ready" } }, "required": ["status"] })) }
    })) }));
    paths.insert("/.well-known/jwks.json".into(), json!({ "get": op("Public token verification keys", false, json!({
        "responses": { "200": ok("JWKS.", json!({ "type": "object", "properties": { "keys": { "type": "array" } }, "required": ["keys"] })) }
    })) }));
    paths.insert(
        "/api/openapi.json".into(),
        json!({ "get": op("This document", false, json!({
        "responses": { "200": ok("OpenAPI 3.1.", json!({ "type": "object" })) }
    })) }),
    );
    paths.insert(
        "/api/auth/register".into(),
        json!({ "post": op("Create an account", false, json!({
        "requestBody": json_body(json!({
            "type": "object",
            "properties": { "email": email, "password": password, "name": name },
            "required": ["email", "password", "name"], "additionalProperties": false
        })),
        "responses": { "201": ok("The new user.", user_ref.clone()) }
    })) }),
    );
    paths.insert("/api/auth/login".into(), json!({ "post": op("Log in; sets the refresh cookie", false, json!({
        "requestBody": json_body(json!({
            "type": "object",
            "properties": { "email": email, "password": { "type": "string", "minLength": 1, "maxLength": NewPassword::MAX_CHARS } },
            "required": ["email", "password"], "additionalProperties": false
        })),
        "responses": { "200": ok("An access token.", token_ref.clone()) }
    })) }));
    paths.insert(
        "/api/auth/refresh".into(),
        json!({ "post": op("Rotate the refresh cookie", false, json!({
        "security": [{ "refreshCookie": [] }],
        "responses": { "200": ok("A new access token.", token_ref) }
    })) }),
    );
    paths.insert(
        "/api/auth/logout".into(),
        json!({ "post": op("Revoke this session", true, json!({
        "security": [{ "bearer": [] }, { "refreshCookie": [] }],
        "responses": no_content.clone()
    })) }),
    );
    paths.insert("/api/auth/sessions".into(), json!({ "get": op("My live sessions", true, json!({
        "responses": { "200": ok("Sessions.", json!({ "type": "object", "properties": { "sessions": { "type": "array", "items": {
            "type": "object",
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "created_at": { "type": "string", "format": "date-time" },
                "last_used_at": { "type": "string", "format": "date-time" },
                "ip": { "type": "string" }, "user_agent": { "type": "string" }, "current": { "type": "boolean" }
            },
            "required": ["id", "created_at", "last_used_at", "ip", "user_agent", "current"],
            "additionalProperties": false
        } } }, "required": ["sessions"], "additionalProperties": false })) }
    })) }));
    paths.insert(
        "/api/auth/sessions/{id}".into(),
        json!({ "delete": op("Revoke one of my sessions", true, json!({
        "parameters": [uuid_path.clone()], "responses": no_content.clone()
    })) }),
    );
    paths.insert("/api/users/me".into(), json!({
        "get": op("My account", true, json!({ "responses": { "200": ok("Me.", user_ref.clone()) } })),
        "patch": op("Change my name", true, json!({
            "requestBody": json_body(json!({ "type": "object", "properties": { "name": name }, "required": ["name"], "additionalProperties": false })),
            "responses": { "200": ok("Me.", user_ref.clone()) }
        })),
    }));
    paths.insert("/api/admin/users".into(), json!({ "get": op("All users (admin)", true, json!({
        "parameters": [
            { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": PageLimit::MAX } },
            { "name": "cursor", "in": "query", "schema": { "type": "string", "maxLength": 128 } }
        ],
        "responses": { "200": ok("A page of users.", json!({
            "type": "object",
            "properties": { "users": { "type": "array", "items": user_ref.clone() }, "next_cursor": { "type": ["string", "null"] } },
            "required": ["users", "next_cursor"], "additionalProperties": false
        })) }
    })) }));
    paths.insert("/api/admin/users/{id}".into(), json!({
        "patch": op("Change a user's role (admin)", true, json!({
            "parameters": [uuid_path.clone()],
            "requestBody": json_body(json!({ "type": "object", "properties": { "role": { "type": "string", "enum": ["user", "admin"] } }, "required": ["role"], "additionalProperties": false })),
            "responses": { "200": ok("The user.", user_ref) }
        })),
        "delete": op("Delete a user and their sessions (admin)", true, json!({
            "parameters": [uuid_path], "responses": no_content
        })),
    }));
    paths.insert("/api/admin/users/{id}/unlock".into(), json!({
        "post": op("Clear a user's failed-login lock (admin)", true, json!({
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
            "responses": { "204": { "description": "Unlocked." } }
        })),
    }));
    let nullable = |t: &str| json!({ "type": [t, "null"] });
    let entry = json!({
        "type": "object",
        "properties": {
            "seq": { "type": "integer", "minimum": 1 },
            "timestamp": { "type": "string", "format": "date-time" },
            "action": { "type": "string" },
            "actor": { "type": "object", "properties": {
                "user_id": nullable("string"), "ip": { "type": "string" }, "user_agent": { "type": "string" }
            }, "required": ["user_id", "ip", "user_agent"], "additionalProperties": false },
            "target": { "oneOf": [{ "type": "null" }, { "type": "object", "properties": {
                "type": { "type": "string" }, "id": { "type": "string" }
            }, "required": ["type", "id"], "additionalProperties": false }] },
            "result": { "type": "string", "enum": ["success", "failure", "denied"] },
            "request_id": nullable("string"),
            "metadata": {},
            "prev_hash": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
            "hash": { "type": "string", "pattern": "^[0-9a-f]{64}$" }
        },
        "required": ["seq", "timestamp", "action", "actor", "target", "result", "request_id", "metadata", "prev_hash", "hash"],
        "additionalProperties": false
    });
    let filter = |name: &str, format: Option<&str>| {
        let mut schema = json!({ "type": "string", "maxLength": 128 });
        if let Some(f) = format {
            schema["format"] = json!(f);
        }
        json!({ "name": name, "in": "query", "schema": schema })
    };
    paths.insert("/api/admin/audit".into(), json!({ "get": op("The audit trail, newest first (admin)", true, json!({
        "parameters": [
            filter("action", None), filter("actor", Some("uuid")), filter("target_type", None),
            filter("target_id", None), filter("since", Some("date-time")), filter("until", Some("date-time")),
            { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": PageLimit::MAX } },
            { "name": "cursor", "in": "query", "schema": { "type": "string", "maxLength": 64 } }
        ],
        "responses": { "200": ok("A page of entries.", json!({
            "type": "object",
            "properties": { "entries": { "type": "array", "items": entry }, "next_cursor": nullable("string") },
            "required": ["entries", "next_cursor"], "additionalProperties": false
        })) }
    })) }));
    paths.insert("/api/admin/audit/verify".into(), json!({ "get": op("Verify the audit chain and its signed checkpoints (admin)", true, json!({
        "responses": { "200": ok("The verification report.", json!({
            "type": "object",
            "properties": {
                "status": { "type": "string", "enum": ["intact", "tampered"] },
                "entries": { "type": "integer" },
                "checkpoints": { "type": "integer" },
                "head": {},
                "last_checkpoint": {},
                "first_broken": {}
            },
            "required": ["status", "entries", "checkpoints", "head", "last_checkpoint", "first_broken"],
            "additionalProperties": false
        })) }
    })) }));
    for spec in collections {
        collection_schemas(spec, &mut schemas);
        collection_paths(spec, &mut paths);
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Rampart", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "refreshCookie": { "type": "apiKey", "in": "cookie", "name": "rampart_refresh" }
            }
        }
    })
}
