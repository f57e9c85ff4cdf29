//! The target's routes, from its OpenAPI description: `--spec PATH` (a file, or a path on the
//! target), or the first of the well-known locations that answers with an OpenAPI document.
//! Only fetched from the target itself (the client allows nothing else).

mod example;

pub use example::example;

use serde_json::Value;

use crate::client::{Client, ClientError, Probe};

/// Where APIs commonly publish their description.
pub const WELL_KNOWN: &[&str] = &[
    "/api/openapi.json",
    "/openapi.json",
    "/swagger.json",
    "/v3/api-docs",
    "/api-docs",
    "/swagger/v1/swagger.json",
];

/// Deepest nesting of JSON kept when `$ref`s are inlined, and deepest schema nesting
/// [`example`] and the other helpers look into. Real request schemas stay far below it.
pub const MAX_DEPTH: usize = 32;

/// Name endings (lower-cased) that make a string property a URL even without a `format`.
const URL_NAME_ENDINGS: &[&str] = &[
    "url", "uri", "callback", "webhook", "endpoint", "redirect", "link", "href", "avatar",
];

/// One operation: method and path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Upper-case method.
    pub method: String,
    /// Path template (`/api/users/{id}`).
    pub path: String,
}

/// The operations of an OpenAPI 3.x (or Swagger 2) document; empty when it is not one.
pub fn operations(doc: &Value) -> Vec<Operation> {
    if doc.get("openapi").is_none() && doc.get("swagger").is_none() {
        return Vec::new();
    }
    let Some(paths) = doc["paths"].as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.contains_key(method) && path.starts_with('/') {
                out.push(Operation {
                    method: method.to_ascii_uppercase(),
                    path: path.clone(),
                });
            }
        }
    }
    out
}

/// Loads the description: `--spec` (file or target path) or the well-known locations.
pub async fn discover(client: &Client, spec: Option<&str>) -> Result<Vec<Operation>, ClientError> {
    if let Some(spec) = spec {
        if !spec.starts_with('/') || std::path::Path::new(spec).exists() {
            let text = std::fs::read_to_string(spec)
                .map_err(|e| ClientError::BadTarget(format!("--spec {spec}: {e}")))?;
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| ClientError::BadTarget(format!("--spec {spec} is not JSON: {e}")))?;
            return Ok(operations(&doc));
        }
        let x = client.send(Probe::get(spec)).await?;
        return Ok(serde_json::from_str(&x.body)
            .map(|d| operations(&d))
            .unwrap_or_default());
    }
    for path in WELL_KNOWN {
        let x = client.send(Probe::get(path)).await?;
        if x.status.is_success()
            && let Ok(doc) = serde_json::from_str::<Value>(&x.body)
        {
            let ops = operations(&doc);
            if !ops.is_empty() {
                return Ok(ops);
            }
        }
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_come_from_openapi_and_swagger_documents_only() {
        let doc = serde_json::json!({
            "openapi": "3.1.0",
            "paths": {"/a": {"get": {}, "post": {}, "parameters": []}, "/b/{id}": {"delete": {}}}
        });
        let ops = operations(&doc);
        assert_eq!(ops.len(), 3);
        assert!(ops.contains(&Operation {
            method: "DELETE".into(),
            path: "/b/{id}".into()
        }));
        assert!(operations(&serde_json::json!({"paths": {"/a": {"get": {}}}})).is_empty());
    }
}
