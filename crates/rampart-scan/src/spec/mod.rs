//! The target's routes, from its OpenAPI description: `--spec PATH` (a file, or a path on the
//! target), or the first of the well-known locations that answers with an OpenAPI document.
//! Only fetched from the target itself (the client allows nothing else).
//!
//! Besides method and path, each [`Operation`] carries its parameters, its JSON request body
//! schema and its first successful JSON response schema, with every `$ref` inlined, so that
//! checks can send requests a strict server accepts ([`example`]) and then vary them.
//!
//! **Hostile documents.** The description comes from the target, which may be the attacker.
//! Inlining is bounded: at most [`MAX_DEPTH`] levels of nesting (a `$ref` hop counts as one),
//! a node budget per operation and per document, and a `$ref` already being expanded (a cycle)
//! becomes `{}`, as does a `$ref` that is external or points at nothing. No walk here goes
//! deeper than a small multiple of [`MAX_DEPTH`], and nothing panics, whatever the input.

mod example;

pub use example::example;
pub(crate) use example::password_like;
use example::{Kind, flatten, kind};

use serde_json::{Map, Value};

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

/// Most JSON nodes the schemas of one operation may expand to (a `$ref` used twice is copied
/// twice, so a small document can ask for exponential work without this).
const OPERATION_BUDGET: usize = 20_000;

/// Most JSON nodes a whole document may expand to; later operations keep their method, path
/// and parameter names but get `{}` schemas.
const DOCUMENT_BUDGET: usize = 500_000;

/// Most parameters read per operation (path-item and operation lists each); the rest are
/// ignored, which keeps merging them linear in practice.
const MAX_PARAMS: usize = 256;

/// Stands in for whatever a `$ref` does not lead to.
static NULL: Value = Value::Null;

/// The methods read from a path item.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// One operation: method and path template, with what a request to it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operation {
    /// Upper-case method.
    pub method: String,
    /// Path template (`/api/users/{id}`).
    pub path: String,
    /// Path-item and operation parameters merged (the operation's wins by name and location),
    /// `$ref`s resolved. Swagger 2 `body` parameters are in [`Operation::body`] instead, and
    /// `formData` parameters are left out (no JSON body).
    pub params: Vec<Param>,
    /// The JSON (`application/json` or `+json`) request body schema, `$ref`s inlined; `None`
    /// when the operation takes no JSON body. `Some({})` when it takes one but does not say
    /// what.
    pub body: Option<Value>,
    /// The JSON schema of the first `2xx` response that has one (codes in numeric order, then
    /// `2XX`), `$ref`s inlined; `None` when no success response describes a JSON body.
    pub response: Option<Value>,
}

/// One described parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name (a header's as written in the document).
    pub name: String,
    /// `path`, `query`, `header` or `cookie`.
    pub location: String,
    /// Whether a request must carry it (always for path parameters).
    pub required: bool,
    /// Its schema, `$ref`s inlined; `{"type": "string"}` when the document gives none.
    pub schema: Value,
}

/// The operations of an OpenAPI 3.x (or Swagger 2) document; empty when it is not one.
///
/// Local `$ref`s (`#/components/...`, `#/definitions/...`, any JSON pointer into the document)
/// are followed; Swagger 2 `body` parameters give the body when the operation `consumes` JSON
/// (or says nothing), and its responses' `schema` the response.
pub fn operations(doc: &Value) -> Vec<Operation> {
    if doc.get("openapi").is_none() && doc.get("swagger").is_none() {
        return Vec::new();
    }
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut resolver = Resolver {
        doc,
        document_left: DOCUMENT_BUDGET,
        operation_left: 0,
        stack: Vec::new(),
    };
    let mut out = Vec::new();
    for (path, item) in paths {
        if !path.starts_with('/') {
            continue;
        }
        let Some(item) = resolver.follow(item).as_object() else {
            continue;
        };
        for method in METHODS {
            let Some(op) = item.get(method) else {
                continue;
            };
            resolver.operation_left = OPERATION_BUDGET;
            out.push(resolver.operation(method, path, item, op));
        }
    }
    out
}

/// Loads the description: `--spec` (file or target path) or the well-known locations.
pub async fn discover(client: &Client, spec: Option<&str>) -> Result<Vec<Operation>, ClientError> {
    if let Some(spec) = spec {
        let given = |text: &str| -> Result<Vec<Operation>, ClientError> {
            let ops = serde_json::from_str::<Value>(text)
                .map(|d| operations(&d))
                .unwrap_or_default();
            if ops.is_empty() {
                return Err(ClientError::BadTarget(format!(
                    "--spec {spec} is not an OpenAPI 3 or Swagger 2 description with paths"
                )));
            }
            Ok(ops)
        };
        // A URL must be on the scanned origin (the scanner talks to no other host); a path
        // that is not a local file is fetched from the target.
        let on_target = match url::Url::parse(spec) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {
                if url.origin() != client.origin().origin() {
                    return Err(ClientError::BadTarget(format!(
                        "--spec {spec} is not on the scanned origin; download it and pass the file"
                    )));
                }
                Some(url[url::Position::BeforePath..url::Position::AfterQuery].to_owned())
            }
            _ if spec.starts_with('/') && !std::path::Path::new(spec).exists() => {
                Some(spec.to_owned())
            }
            _ => None,
        };
        return match on_target {
            Some(path) => {
                let x = client.send(Probe::get(&path)).await?;
                given(&x.body)
            }
            None => given(
                &std::fs::read_to_string(spec)
                    .map_err(|e| ClientError::BadTarget(format!("--spec {spec}: {e}")))?,
            ),
        };
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

/// The parameter names of a path template, in order, each once:
/// `/a/{id}/b/{sub_id}` gives `["id", "sub_id"]`.
pub fn path_params(template: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open + 1..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + 1 + len];
        if !name.is_empty() && !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
        rest = &rest[open + 1 + len + 1..];
    }
    out
}

/// Property names under which a list response carries its elements, besides one named like
/// the path's last segment.
const LIST_PROPERTIES: &[&str] = &[
    "items",
    "data",
    "results",
    "records",
    "entries",
    "users",
    "content",
    "list",
    "elements",
    "objects",
    "rows",
    "hits",
    "values",
    "resources",
    "members",
    "nodes",
    "edges",
];

/// Sibling properties that mark a paginated envelope.
const PAGINATION_PROPERTIES: &[&str] = &[
    "next",
    "next_cursor",
    "nextcursor",
    "cursor",
    "next_page",
    "nextpage",
    "page",
    "page_token",
    "next_page_token",
    "nextpagetoken",
    "total",
    "total_count",
    "totalcount",
    "count",
    "offset",
    "limit",
    "has_more",
    "hasmore",
];

/// Plural-looking last segments that are not collections.
const NOT_LISTS: &[&str] = &[
    "settings",
    "preferences",
    "stats",
    "statistics",
    "metrics",
    "details",
    "status",
    "news",
    "analytics",
    "permissions",
    "keys",
    "jwks",
];

/// Whether an operation lists a collection (its answer is many objects, possibly other
/// users').
///
/// The heuristic: a `GET` whose path does not end in a parameter, and whose response schema
/// is an array, or an object with an array-valued property that is either named like a list
/// (`items`, `data`, `results`, `records`, `users`, …, see `LIST_PROPERTIES`), named like the
/// path's last segment (`/sessions` answering `{"sessions": [...]}`), or beside pagination
/// fields (`next_cursor`, `total`, `has_more`, …). So `GET /users/me` answering a user with a
/// `roles` array is not a list. With no response schema: a `GET` whose last segment looks
/// like a plural noun (ends in `s` but not `ss`, `us` or `is`, and is not one of a few
/// plural-looking singletons such as `settings` or `stats`).
pub fn is_list(op: &Operation) -> bool {
    if !op.method.eq_ignore_ascii_case("GET") {
        return false;
    }
    let last = op
        .path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    if last.is_empty() || last.contains('{') {
        return false;
    }
    let last = last
        .split_once('.')
        .map_or(last, |(stem, _)| stem)
        .to_ascii_lowercase();
    let Some(response) = &op.response else {
        return plural(&last);
    };
    let mut left = OPERATION_BUDGET;
    let response = flatten(response, 0, &mut left);
    match kind(&response) {
        Kind::Array => true,
        Kind::Object => {
            let Some(props) = response.get("properties").and_then(Value::as_object) else {
                return false;
            };
            let paginated = props
                .keys()
                .any(|k| PAGINATION_PROPERTIES.contains(&k.to_ascii_lowercase().as_str()));
            props.iter().any(|(name, schema)| {
                let name = name.to_ascii_lowercase();
                kind(&flatten(schema, 1, &mut left)) == Kind::Array
                    && (paginated || name == last || LIST_PROPERTIES.contains(&name.as_str()))
            })
        }
        _ => false,
    }
}

fn plural(segment: &str) -> bool {
    segment.len() > 2
        && segment.ends_with('s')
        && !["ss", "us", "is"].iter().any(|e| segment.ends_with(e))
        && !NOT_LISTS.contains(&segment)
}

/// Formats that make a string a URL.
const URL_FORMATS: &[&str] = &["uri", "url", "iri", "uri-reference", "iri-reference"];

/// Name endings (lower-cased) that make a string property a URL even without a `format`.
const URL_NAME_ENDINGS: &[&str] = &[
    "url", "uri", "callback", "webhook", "endpoint", "redirect", "link", "href", "avatar",
];

/// The top-level properties of an object schema that carry a URL, where a check can submit
/// one that points back at the server or its network.
///
/// A property counts when its `format` is `uri`, `url`, `iri`, `uri-reference` or
/// `iri-reference`, or when it is string-typed (and not an `enum` or `const`) and its name,
/// lower-cased, ends in `url`, `uri`, `callback`, `webhook`, `endpoint`, `redirect`, `link`,
/// `href` or `avatar` (so `url`, `avatar_url`, `redirectUri`, `webhook`, `profile_link`).
/// `allOf` is merged and `oneOf`/`anyOf` take their first non-null alternative first, as in
/// [`example`]. Arrays of URLs are left out: a check puts a string there.
pub fn url_fields(schema: &Value) -> Vec<String> {
    let mut left = OPERATION_BUDGET;
    let schema = flatten(schema, 0, &mut left);
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, prop) in props {
        let prop = flatten(prop, 1, &mut left);
        if kind(&prop) != Kind::String {
            continue;
        }
        let format = prop.get("format").and_then(Value::as_str).unwrap_or("");
        let lower = name.to_ascii_lowercase();
        let by_format = URL_FORMATS.contains(&format.to_ascii_lowercase().as_str());
        let by_name = prop.get("enum").is_none()
            && prop.get("const").is_none()
            && URL_NAME_ENDINGS.iter().any(|e| lower.ends_with(e));
        if by_format || by_name {
            out.push(name.clone());
        }
    }
    out
}

/// What part of a document a value is, for copying: schema-like objects, maps from names to
/// schemas (whose keys are never keywords), and literal data (`example`, `default`, …) whose
/// `$ref` keys are not references.
#[derive(Clone, Copy)]
enum Mode {
    Node,
    Names,
    Data,
}

fn child_mode(mode: Mode, key: &str) -> Mode {
    match mode {
        Mode::Data => Mode::Data,
        Mode::Names => Mode::Node,
        Mode::Node => match key {
            "example" | "examples" | "default" | "const" | "enum" => Mode::Data,
            "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => {
                Mode::Names
            }
            _ => Mode::Node,
        },
    }
}

/// Inlines `$ref`s within a budget (see the module documentation).
struct Resolver<'a> {
    doc: &'a Value,
    /// Nodes the rest of the document may still produce.
    document_left: usize,
    /// Nodes the current operation may still produce.
    operation_left: usize,
    /// The `$ref`s being expanded, outermost first: meeting one again is a cycle.
    stack: Vec<&'a str>,
}

impl<'a> Resolver<'a> {
    fn operation(
        &mut self,
        method: &str,
        path: &str,
        item: &'a Map<String, Value>,
        op: &'a Value,
    ) -> Operation {
        let mut params = Vec::new();
        let mut body = None;
        let consumes = op
            .get("consumes")
            .or_else(|| self.doc.get("consumes"))
            .unwrap_or(&Value::Null);
        let produces = op
            .get("produces")
            .or_else(|| self.doc.get("produces"))
            .unwrap_or(&Value::Null);
        self.parameters(item.get("parameters"), consumes, &mut params, &mut body);
        self.parameters(op.get("parameters"), consumes, &mut params, &mut body);
        if let Some(request) = op.get("requestBody") {
            let request = self.follow(request);
            body = request
                .get("content")
                .and_then(|c| json_media(c, false))
                .map(|media| self.schema(media.get("schema")));
        }
        let response = self.response(op.get("responses"), produces);
        Operation {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            params,
            body,
            response,
        }
    }

    /// Adds (or replaces, by name and location) each parameter of `list`; a Swagger 2 `body`
    /// parameter becomes the body when the operation consumes JSON.
    fn parameters(
        &mut self,
        list: Option<&'a Value>,
        consumes: &Value,
        params: &mut Vec<Param>,
        body: &mut Option<Value>,
    ) {
        let Some(list) = list.and_then(Value::as_array) else {
            return;
        };
        for p in list.iter().take(MAX_PARAMS) {
            let p = self.follow(p);
            let (Some(name), Some(location)) = (
                p.get("name").and_then(Value::as_str),
                p.get("in").and_then(Value::as_str),
            ) else {
                continue;
            };
            let location = location.to_ascii_lowercase();
            if location == "body" {
                if takes_json(consumes) {
                    *body = Some(self.schema(p.get("schema")));
                }
                continue;
            }
            if !matches!(location.as_str(), "path" | "query" | "header" | "cookie") {
                continue;
            }
            let schema = if let Some(s) = p.get("schema") {
                self.schema(Some(s))
            } else if let Some(media) = p.get("content").and_then(|c| json_media(c, true)) {
                self.schema(media.get("schema"))
            } else {
                self.swagger_schema(p)
            };
            let param = Param {
                required: location == "path"
                    || p.get("required").and_then(Value::as_bool) == Some(true),
                name: name.to_owned(),
                location,
                schema,
            };
            // Header names are case-insensitive; the others are not.
            let same = |q: &Param| {
                q.location == param.location
                    && if q.location == "header" {
                        q.name.eq_ignore_ascii_case(&param.name)
                    } else {
                        q.name == param.name
                    }
            };
            match params.iter_mut().find(|q| same(q)) {
                Some(q) => *q = param,
                None => params.push(param),
            }
        }
    }

    /// A Swagger 2 non-body parameter keeps its schema keywords on itself.
    fn swagger_schema(&mut self, p: &'a Value) -> Value {
        const KEYWORDS: &[&str] = &[
            "type",
            "format",
            "items",
            "enum",
            "default",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "minLength",
            "maxLength",
            "pattern",
            "minItems",
            "maxItems",
            "uniqueItems",
        ];
        let mut out = Map::new();
        for key in KEYWORDS {
            if let Some(v) = p.get(*key) {
                let mode = child_mode(Mode::Node, key);
                out.insert((*key).to_owned(), self.copy(v, 1, mode));
            }
        }
        if out.is_empty() {
            out.insert("type".into(), Value::String("string".into()));
        }
        Value::Object(out)
    }

    fn response(&mut self, responses: Option<&'a Value>, produces: &Value) -> Option<Value> {
        let responses = responses.and_then(Value::as_object)?;
        let mut codes: Vec<(u16, &'a Value)> = responses
            .iter()
            .filter_map(|(code, r)| {
                let n = match code.as_str() {
                    "2XX" | "2xx" => 300,
                    c if c.len() == 3 && c.starts_with('2') => c.parse().ok()?,
                    _ => return None,
                };
                Some((n, r))
            })
            .collect();
        codes.sort_by_key(|(n, _)| *n);
        for (_, r) in codes {
            let r = self.follow(r);
            if let Some(content) = r.get("content") {
                if let Some(media) = json_media(content, true) {
                    return Some(self.schema(media.get("schema")));
                }
            } else if let Some(schema) = r.get("schema")
                && takes_json(produces)
            {
                return Some(self.schema(Some(schema)));
            }
        }
        None
    }

    /// A schema, inlined; `{}` when absent.
    fn schema(&mut self, schema: Option<&'a Value>) -> Value {
        match schema {
            Some(s) => self.copy(s, 0, Mode::Node),
            None => Value::Object(Map::new()),
        }
    }

    /// Follows a chain of `$ref`s without copying (for parameters, bodies, responses and path
    /// items); anything unresolvable gives `null`, which has none of the keys looked for.
    fn follow(&self, mut v: &'a Value) -> &'a Value {
        for _ in 0..MAX_DEPTH {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => match self.lookup(r) {
                    Some(target) => v = target,
                    None => return &NULL,
                },
                None => return v,
            }
        }
        &NULL
    }

    fn lookup(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(self.doc);
        }
        if !pointer.starts_with('/') {
            return None;
        }
        if pointer.contains('%') {
            self.doc.pointer(&percent_decode(pointer))
        } else {
            self.doc.pointer(pointer)
        }
    }

    fn spent(&self) -> bool {
        self.document_left == 0 || self.operation_left == 0
    }

    /// Takes one node from both budgets; `false` when either is spent.
    fn take(&mut self) -> bool {
        if self.spent() {
            return false;
        }
        self.document_left -= 1;
        self.operation_left -= 1;
        true
    }

    /// Copies `v` with its `$ref`s inlined; `{}` past the depth limit, once a budget is spent,
    /// in place of a cycle and for a reference that resolves to nothing.
    fn copy(&mut self, v: &'a Value, depth: usize, mode: Mode) -> Value {
        if depth > MAX_DEPTH || !self.take() {
            return Value::Object(Map::new());
        }
        match v {
            Value::Object(map) => {
                if let (Mode::Node, Some(Value::String(r))) = (mode, map.get("$ref")) {
                    return self.inline(r, map, depth);
                }
                let mut out = Map::new();
                for (k, x) in map {
                    if self.spent() {
                        break;
                    }
                    let x = self.copy(x, depth + 1, child_mode(mode, k));
                    out.insert(k.clone(), x);
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len().min(64));
                for x in items {
                    if self.spent() {
                        break;
                    }
                    out.push(self.copy(x, depth + 1, mode));
                }
                Value::Array(out)
            }
            scalar => scalar.clone(),
        }
    }

    /// The target of `reference`, copied, with the sibling keywords of the `$ref` (allowed in
    /// 3.1: `description`, `nullable`, …) added where the target does not say otherwise.
    fn inline(&mut self, reference: &'a str, map: &'a Map<String, Value>, depth: usize) -> Value {
        let target = match self.lookup(reference) {
            Some(t) if !self.stack.contains(&reference) => t,
            _ => return Value::Object(Map::new()),
        };
        self.stack.push(reference);
        let mut out = self.copy(target, depth + 1, Mode::Node);
        self.stack.pop();
        if let Value::Object(o) = &mut out {
            for (k, x) in map {
                if k != "$ref" && !o.contains_key(k) {
                    let x = self.copy(x, depth + 1, child_mode(Mode::Node, k));
                    o.insert(k.clone(), x);
                }
            }
        }
        out
    }
}

/// The media type object to read a JSON schema from: `application/json` first, then any
/// `+json` or `/json` type, then (responses only: springdoc publishes it) `*/*`.
fn json_media(content: &Value, any: bool) -> Option<&Value> {
    let content = content.as_object()?;
    let essence = |k: &str| {
        k.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let pick = |accept: &dyn Fn(&str) -> bool| {
        content
            .iter()
            .find(|(k, _)| accept(&essence(k)))
            .map(|(_, v)| v)
    };
    pick(&|k| k == "application/json")
        .or_else(|| pick(&|k| k.ends_with("+json") || k.ends_with("/json")))
        .or_else(|| if any { pick(&|k| k == "*/*") } else { None })
}

/// Whether a Swagger 2 `consumes` / `produces` list allows JSON (absent: yes).
fn takes_json(list: &Value) -> bool {
    match list.as_array() {
        None => true,
        Some(types) => types.iter().filter_map(Value::as_str).any(|t| {
            let t = t
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            t == "application/json" || t.ends_with("+json") || t == "*/*"
        }),
    }
}

/// Decodes `%XX` escapes in a URI fragment (a JSON pointer in a `$ref`); invalid escapes stay.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn op<'a>(ops: &'a [Operation], method: &str, path: &str) -> &'a Operation {
        ops.iter()
            .find(|o| o.method == method && o.path == path)
            .unwrap_or_else(|| panic!("no {method} {path}"))
    }

    fn param<'a>(op: &'a Operation, name: &str, location: &str) -> &'a Param {
        op.params
            .iter()
            .find(|p| p.name == name && p.location == location)
            .unwrap_or_else(|| panic!("no {location} parameter {name}"))
    }

    /// Nodes in a value, counted without recursion.
    fn size(v: &Value) -> usize {
        let mut stack = vec![v];
        let mut n = 0;
        while let Some(v) = stack.pop() {
            n += 1;
            match v {
                Value::Object(m) => stack.extend(m.values()),
                Value::Array(a) => stack.extend(a.iter()),
                _ => {}
            }
        }
        n
    }

    /// Drops a value without recursion (`Value`'s own drop recurses as deep as it goes).
    fn dismantle(v: Value) {
        let mut stack = vec![v];
        while let Some(mut v) = stack.pop() {
            match &mut v {
                Value::Object(m) => stack.extend(std::mem::take(m).into_iter().map(|(_, x)| x)),
                Value::Array(a) => stack.append(a),
                _ => {}
            }
        }
    }

    fn no_refs(v: &Value) -> bool {
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                Value::Object(m) if m.contains_key("$ref") => return false,
                Value::Object(m) => stack.extend(m.values()),
                Value::Array(a) => stack.extend(a.iter()),
                _ => {}
            }
        }
        true
    }

    #[test]
    fn operations_come_from_openapi_and_swagger_documents_only() {
        let doc = json!({
            "openapi": "3.1.0",
            "paths": {"/a": {"get": {}, "post": {}, "parameters": []}, "/b/{id}": {"delete": {}}}
        });
        let ops = operations(&doc);
        assert_eq!(ops.len(), 3);
        assert!(ops.contains(&Operation {
            method: "DELETE".into(),
            path: "/b/{id}".into(),
            ..Default::default()
        }));
        assert!(operations(&json!({"paths": {"/a": {"get": {}}}})).is_empty());
        assert!(operations(&json!({"openapi": "3.0.0", "paths": []})).is_empty());
    }

    /// The shape `rampart serve` publishes (crates/rampart-server/src/openapi.rs), with one
    /// collection, `notes`.
    fn rampart_like() -> Value {
        let email = json!({ "type": "string", "format": "email", "maxLength": 254 });
        let name = json!({ "type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[\\p{L}\\p{M}' -]+$" });
        let url = json!({ "type": "string", "format": "uri", "maxLength": 2048, "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s\\\\]+" });
        let fields = json!({
            "title": { "type": "string", "minLength": 3, "maxLength": 20, "pattern": "^(?:[a-z ]+)$" },
            "body": { "type": "string", "maxLength": 10000, "description": "HTML; sanitized on write." },
            "status": { "type": "string", "enum": ["draft", "published"] },
            "website": url,
            "contact": email,
            "priority": { "type": "integer", "format": "int64", "minimum": 1, "maximum": 5 },
            "tags": { "type": "array", "items": { "type": "string", "minLength": 1, "maxLength": 30 }, "maxItems": 10 },
            "due": { "type": "string", "format": "date-time" },
            "parent": { "type": "string", "format": "uuid", "description": "Id of a `notes` record." }
        });
        let nullable = |s: &Value| {
            let mut s = s.clone();
            if let Some(t) = s.get("type").cloned() {
                s["type"] = json!([t, "null"]);
            }
            if let Some(e) = s.get_mut("enum").and_then(Value::as_array_mut) {
                e.push(Value::Null);
            }
            s
        };
        let required = ["title", "status"];
        let mut create = Map::new();
        let mut update = Map::new();
        let mut record = Map::new();
        record.insert("id".into(), json!({ "type": "string", "format": "uuid" }));
        record.insert("version".into(), json!({ "type": "integer", "minimum": 1 }));
        for (k, s) in fields.as_object().unwrap() {
            let optional = nullable(s);
            let strict = if required.contains(&k.as_str()) {
                s.clone()
            } else {
                optional.clone()
            };
            create.insert(k.clone(), strict.clone());
            update.insert(k.clone(), strict);
            record.insert(k.clone(), optional);
        }
        let error = json!({ "description": "Error envelope.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
        let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
        let record_ref = json!({ "$ref": "#/components/schemas/notes" });
        json!({
            "openapi": "3.1.0",
            "info": { "title": "Rampart", "version": "0.0.0" },
            "paths": {
                "/health": { "get": { "security": [], "responses": {
                    "200": { "description": "Alive.", "content": { "application/json": { "schema": { "type": "object", "properties": { "status": { "const": "ok" } } } } } },
                    "default": error
                } } },
                "/api/auth/register": { "post": {
                    "requestBody": { "required": true, "content": { "application/json": { "schema": {
                        "type": "object",
                        "properties": { "email": email, "password": { "type": "string", "minLength": 12, "maxLength": 128 }, "name": name },
                        "required": ["email", "password", "name"], "additionalProperties": false
                    } } } },
                    "responses": { "201": { "description": "The new user.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/User" } } } }, "default": error }
                } },
                "/api/users/me": {
                    "get": { "responses": { "200": { "description": "Me.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/User" } } } } } },
                    "patch": {
                        "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "properties": { "name": name }, "required": ["name"], "additionalProperties": false } } } },
                        "responses": { "200": { "description": "Me.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/User" } } } } }
                    }
                },
                "/api/auth/sessions": { "get": { "responses": { "200": { "description": "Sessions.", "content": { "application/json": { "schema": {
                    "type": "object", "properties": { "sessions": { "type": "array", "items": { "type": "object" } } }, "required": ["sessions"]
                } } } } } } },
                "/api/admin/users": { "get": {
                    "parameters": [
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100 } },
                        { "name": "cursor", "in": "query", "schema": { "type": "string", "maxLength": 128 } }
                    ],
                    "responses": { "200": { "description": "A page of users.", "content": { "application/json": { "schema": {
                        "type": "object",
                        "properties": { "users": { "type": "array", "items": { "$ref": "#/components/schemas/User" } }, "next_cursor": { "type": ["string", "null"] } },
                        "required": ["users", "next_cursor"], "additionalProperties": false
                    } } } } }
                } },
                "/api/collections/notes/records": {
                    "get": {
                        "parameters": [{ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100 } }],
                        "responses": { "200": { "description": "A page of records.", "content": { "application/json": { "schema": {
                            "type": "object",
                            "properties": { "records": { "type": "array", "items": record_ref }, "next_cursor": { "type": ["string", "null"] } },
                            "required": ["records", "next_cursor"], "additionalProperties": false
                        } } } }, "default": error }
                    },
                    "post": {
                        "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/notes_create" } } } },
                        "responses": { "201": { "description": "The created record.", "content": { "application/json": { "schema": record_ref } } }, "default": error }
                    }
                },
                "/api/collections/notes/records/{id}": {
                    "get": { "parameters": [id], "responses": { "200": { "description": "The record.", "content": { "application/json": { "schema": record_ref } } } } },
                    "patch": {
                        "parameters": [id, { "name": "If-Match", "in": "header", "required": false, "schema": { "type": "string" } }],
                        "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/notes_update" } } } },
                        "responses": { "200": { "description": "The updated record.", "content": { "application/json": { "schema": record_ref } } } }
                    },
                    "delete": { "parameters": [id], "responses": { "204": { "description": "Deleted." }, "default": error } }
                }
            },
            "components": {
                "schemas": {
                    "Error": { "type": "object", "properties": { "error": { "type": "string" }, "message": { "type": "string" } }, "required": ["error", "message"], "additionalProperties": false },
                    "User": {
                        "type": "object",
                        "properties": {
                            "id": { "type": "string", "format": "uuid" }, "email": { "type": "string", "format": "email" },
                            "name": { "type": "string" }, "role": { "type": "string", "enum": ["user", "admin"] },
                            "roles": { "type": "array", "items": { "type": "string" } }
                        },
                        "required": ["id", "email", "name", "role"], "additionalProperties": false
                    },
                    "notes": { "type": "object", "properties": record, "required": ["id", "version"], "additionalProperties": false },
                    "notes_create": { "type": "object", "properties": create, "required": required, "additionalProperties": false },
                    "notes_update": { "type": "object", "properties": update, "additionalProperties": false }
                },
                "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
            }
        })
    }

    #[test]
    fn a_rampart_document_gives_parameters_bodies_and_responses_with_refs_inlined() {
        let doc = rampart_like();
        let ops = operations(&doc);
        assert_eq!(ops.len(), 11);
        for o in &ops {
            assert!(
                o.body.as_ref().is_none_or(no_refs),
                "{} {}",
                o.method,
                o.path
            );
            assert!(
                o.response.as_ref().is_none_or(no_refs),
                "{} {}",
                o.method,
                o.path
            );
        }

        let create = op(&ops, "POST", "/api/collections/notes/records");
        assert_eq!(
            create.body.as_ref(),
            Some(&doc["components"]["schemas"]["notes_create"])
        );
        assert_eq!(
            create.response.as_ref(),
            Some(&doc["components"]["schemas"]["notes"]),
            "the 201 response, not the default error envelope"
        );
        assert!(create.params.is_empty());

        let patch = op(&ops, "PATCH", "/api/collections/notes/records/{id}");
        let id = param(patch, "id", "path");
        assert!(id.required);
        assert_eq!(id.schema, json!({ "type": "string", "format": "uuid" }));
        assert!(!param(patch, "If-Match", "header").required);

        let delete = op(&ops, "DELETE", "/api/collections/notes/records/{id}");
        assert_eq!(delete.body, None);
        assert_eq!(
            delete.response, None,
            "204 has no body; default is not a success"
        );

        let list = op(&ops, "GET", "/api/admin/users");
        assert!(!param(list, "limit", "query").required);
        assert_eq!(
            list.response.as_ref().unwrap()["properties"]["users"]["items"],
            doc["components"]["schemas"]["User"]
        );
        assert_eq!(op(&ops, "GET", "/health").body, None);
    }

    #[test]
    fn a_rampart_create_body_example_is_what_the_server_accepts() {
        let ops = operations(&rampart_like());
        let create = op(&ops, "POST", "/api/collections/notes/records");
        let body = create.body.as_ref().unwrap();
        let v = example(body);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["status", "title"], "exactly the required fields");
        assert_eq!(v["status"], "draft");
        let title = v["title"].as_str().unwrap();
        assert!((3..=20).contains(&title.len()), "{title:?}");
        assert!(title.chars().all(|c| c.is_ascii_lowercase() || c == ' '));

        // No field is required for an update: every one is sent, each valid and non-null.
        let update = op(&ops, "PATCH", "/api/collections/notes/records/{id}");
        let v = example(update.body.as_ref().unwrap());
        let props = body["properties"].as_object().unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), props.len());
        assert!(obj.keys().all(|k| props.contains_key(k)));
        assert_eq!(v["website"], "https://example.com/rampart-scan");
        assert!(v["contact"].as_str().unwrap().ends_with("@example.com"));
        assert!((1..=5).contains(&v["priority"].as_i64().unwrap()));
        assert_eq!(v["tags"], json!([]), "optional arrays are sent empty");
        assert!(v["body"].as_str().unwrap().len() <= 10_000);
        assert_eq!(v["parent"].as_str().unwrap().len(), 36);
        assert_eq!(url_fields(update.body.as_ref().unwrap()), ["website"]);

        let register = op(&ops, "POST", "/api/auth/register");
        let v = example(register.body.as_ref().unwrap());
        let password = v["password"].as_str().unwrap();
        assert!(
            password.len() >= 16 && password.len() <= 128,
            "{password:?}"
        );
        assert!(password.contains(' ') && password.chars().any(|c| c.is_ascii_digit()));
        let name = v["name"].as_str().unwrap();
        assert!(!name.is_empty() && name.chars().all(|c| c.is_alphabetic() || " '-".contains(c)));
        let email = v["email"].as_str().unwrap();
        assert!(email.starts_with("rampart-scan-") && email.ends_with("@example.com"));
        let again = example(register.body.as_ref().unwrap());
        assert_ne!(
            again["email"], v["email"],
            "each registration gets a new address"
        );
        assert_ne!(again["password"], v["password"]);
    }

    #[test]
    fn lists_are_told_from_single_objects() {
        let ops = operations(&rampart_like());
        let check = |method: &str, path: &str, expected: bool| {
            assert_eq!(is_list(op(&ops, method, path)), expected, "{method} {path}");
        };
        check("GET", "/api/collections/notes/records", true);
        check("GET", "/api/admin/users", true);
        check("GET", "/api/auth/sessions", true);
        check("GET", "/api/collections/notes/records/{id}", false);
        check("POST", "/api/collections/notes/records", false);
        check("GET", "/api/users/me", false);
        check("GET", "/health", false);

        let bare = |path: &str, response: Option<Value>| Operation {
            method: "GET".into(),
            path: path.into(),
            response,
            ..Default::default()
        };
        assert!(is_list(&bare("/api/orders", None)));
        assert!(is_list(&bare("/api/users/{id}/posts/", None)));
        assert!(!is_list(&bare("/api/orders/{id}", None)));
        assert!(!is_list(&bare("/api/status", None)));
        assert!(!is_list(&bare("/api/settings", None)));
        assert!(!is_list(&bare("/api/address", None)));
        assert!(!is_list(&bare("/.well-known/jwks.json", None)));
        assert!(is_list(&bare("/x", Some(json!({"type": "array"})))));
        assert!(is_list(&bare(
            "/x",
            Some(json!({"allOf": [{"properties": {"data": {"type": "array"}}}]}))
        )));
        assert!(is_list(&bare(
            "/feed",
            Some(
                json!({"type": "object", "properties": {"things": {"type": "array"}, "total": {"type": "integer"}}})
            )
        )));
        assert!(!is_list(&bare("/orders", Some(json!({"type": "string"})))));
        let mut post = bare("/api/orders", None);
        post.method = "POST".into();
        assert!(!is_list(&post));
    }

    #[test]
    fn swagger_2_documents_give_bodies_from_body_parameters_and_definitions() {
        let doc = json!({
            "swagger": "2.0",
            "consumes": ["application/json"],
            "paths": {
                "/pets": {
                    "parameters": [{ "$ref": "#/parameters/trace" }],
                    "get": {
                        "parameters": [{ "name": "limit", "in": "query", "type": "integer", "format": "int32", "maximum": 50 }],
                        "responses": { "200": { "description": "ok", "schema": { "type": "array", "items": { "$ref": "#/definitions/Pet" } } } }
                    },
                    "post": {
                        "parameters": [{ "name": "pet", "in": "body", "required": true, "schema": { "$ref": "#/definitions/Pet" } }],
                        "responses": { "201": { "$ref": "#/responses/Created" } }
                    }
                },
                "/pets/{petId}": {
                    "put": {
                        "consumes": ["application/xml"],
                        "parameters": [
                            { "name": "petId", "in": "path", "type": "string" },
                            { "name": "pet", "in": "body", "schema": { "$ref": "#/definitions/Pet" } }
                        ],
                        "responses": { "200": { "description": "ok" } }
                    },
                    "post": {
                        "consumes": ["application/x-www-form-urlencoded"],
                        "parameters": [{ "name": "name", "in": "formData", "type": "string" }],
                        "responses": {}
                    }
                }
            },
            "parameters": { "trace": { "name": "X-Trace", "in": "header", "type": "string" } },
            "responses": { "Created": { "description": "created", "schema": { "$ref": "#/definitions/Pet" } } },
            "definitions": {
                "Pet": { "type": "object", "required": ["name"], "properties": {
                    "id": { "type": "integer", "readOnly": true }, "name": { "type": "string" },
                    "photoUrl": { "type": "string" }
                } }
            }
        });
        let ops = operations(&doc);
        assert_eq!(ops.len(), 4);
        let pet = &doc["definitions"]["Pet"];
        let create = op(&ops, "POST", "/pets");
        assert_eq!(create.body.as_ref(), Some(pet));
        assert_eq!(create.response.as_ref(), Some(pet));
        assert_eq!(create.params.len(), 1, "the body is not a parameter");
        assert_eq!(
            param(create, "X-Trace", "header").schema,
            json!({"type": "string"})
        );

        let list = op(&ops, "GET", "/pets");
        assert_eq!(
            param(list, "limit", "query").schema,
            json!({ "type": "integer", "format": "int32", "maximum": 50 })
        );
        assert_eq!(list.response.as_ref().unwrap()["items"], *pet);
        assert!(is_list(list));

        let put = op(&ops, "PUT", "/pets/{petId}");
        assert!(param(put, "petId", "path").required);
        assert_eq!(put.body, None, "an XML-only body is no JSON body");
        let form = op(&ops, "POST", "/pets/{petId}");
        assert_eq!((form.body.as_ref(), form.params.len()), (None, 0));

        assert_eq!(
            example(create.body.as_ref().unwrap())
                .as_object()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(url_fields(pet), ["photoUrl"]);
    }

    #[test]
    fn operation_parameters_override_path_parameters_and_component_refs_resolve() {
        let doc = json!({
            "openapi": "3.0.3",
            "paths": {
                "/items/{id}": {
                    "parameters": [
                        { "$ref": "#/components/parameters/Id" },
                        { "name": "X-Tenant", "in": "header", "schema": { "type": "string" } },
                        { "name": "q", "in": "query", "schema": { "type": "string" } }
                    ],
                    "put": {
                        "parameters": [
                            { "name": "x-tenant", "in": "header", "required": true, "schema": { "type": "integer" } },
                            { "name": "q", "in": "cookie", "schema": { "type": "boolean" } },
                            { "name": "filter", "in": "query", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Fil%74er" } } } },
                            { "name": "nameless" },
                            { "$ref": "#/components/parameters/Missing" }
                        ],
                        "requestBody": { "$ref": "#/components/requestBodies/Item" },
                        "responses": {
                            "2XX": { "description": "any", "content": { "application/json": { "schema": { "type": "string" } } } },
                            "202": { "$ref": "#/components/responses/Accepted" },
                            "200": { "description": "html", "content": { "text/html": { "schema": { "type": "string" } } } }
                        }
                    },
                    "patch": {
                        "requestBody": { "content": { "application/merge-patch+json": { "schema": { "$ref": "https://example.com/schema.json" } } } },
                        "responses": { "200": { "description": "x", "content": { "application/json; charset=utf-8": {} } } }
                    },
                    "post": {
                        "requestBody": { "content": { "multipart/form-data": { "schema": { "type": "object" } } } },
                        "responses": { "201": { "description": "x", "content": { "*/*": { "schema": { "$ref": "#/components/schemas/Nope" } } } } }
                    }
                }
            },
            "components": {
                "parameters": { "Id": { "name": "id", "in": "path", "required": true, "schema": { "$ref": "#/components/schemas/Id" } } },
                "requestBodies": { "Item": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Item" } } } } },
                "responses": { "Accepted": { "description": "ok", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Item" } } } } },
                "schemas": {
                    "Id": { "type": "string", "format": "uuid" },
                    "Filter": { "type": "object" },
                    "Item": { "$ref": "#/components/schemas/Item~1v2", "description": "an item" },
                    "Item/v2": { "type": "object", "properties": { "name": { "type": "string", "default": "x" } } }
                }
            }
        });
        let ops = operations(&doc);
        let put = op(&ops, "PUT", "/items/{id}");
        let names: Vec<(&str, &str)> = put
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.location.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("id", "path"),
                ("x-tenant", "header"),
                ("q", "query"),
                ("q", "cookie"),
                ("filter", "query")
            ]
        );
        assert_eq!(
            put.params[0].schema,
            json!({ "type": "string", "format": "uuid" })
        );
        assert!(put.params[1].required && put.params[1].schema["type"] == "integer");
        assert_eq!(put.params[4].schema, json!({ "type": "object" }));
        let item = json!({ "type": "object", "description": "an item", "properties": { "name": { "type": "string", "default": "x" } } });
        assert_eq!(put.body.as_ref(), Some(&item));
        assert_eq!(
            put.response.as_ref(),
            Some(&item),
            "200 is HTML; 202 comes next"
        );

        let patch = op(&ops, "PATCH", "/items/{id}");
        assert_eq!(patch.body, Some(json!({})), "external refs resolve to {{}}");
        assert_eq!(patch.response, Some(json!({})), "JSON without a schema");
        let post = op(&ops, "POST", "/items/{id}");
        assert_eq!(post.body, None);
        assert_eq!(
            post.response,
            Some(json!({})),
            "unknown refs resolve to {{}}"
        );
    }

    #[test]
    fn ref_cycles_are_cut() {
        let doc = json!({
            "openapi": "3.1.0",
            "paths": { "/tree": { "post": {
                "requestBody": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Node" } } } },
                "responses": { "200": { "description": "x", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Loop" } } } } }
            } } },
            "components": { "schemas": {
                "Node": { "type": "object", "required": ["name"], "properties": {
                    "name": { "type": "string" },
                    "children": { "type": "array", "items": { "$ref": "#/components/schemas/Node" } },
                    "partner": { "$ref": "#/components/schemas/Partner" }
                } },
                "Partner": { "type": "object", "properties": { "back": { "$ref": "#/components/schemas/Node" } } },
                "Loop": { "$ref": "#/components/schemas/Loop" }
            } }
        });
        let ops = operations(&doc);
        let body = ops[0].body.as_ref().unwrap();
        assert_eq!(body["properties"]["children"]["items"], json!({}));
        assert_eq!(
            body["properties"]["partner"]["properties"]["back"],
            json!({})
        );
        assert_eq!(ops[0].response, Some(json!({})));
        assert_eq!(
            example(body)["name"].as_str().map(|s| s.is_empty()),
            Some(false)
        );
    }

    #[test]
    fn exponential_refs_stay_within_the_budget() {
        // Each level refers to the next twice: 2^40 nodes if inlined naively.
        let mut schemas = Map::new();
        for i in 0..40 {
            let next = json!({ "$ref": format!("#/components/schemas/L{}", i + 1) });
            schemas.insert(
                format!("L{i}"),
                json!({ "type": "array", "prefixItems": [next, next] }),
            );
        }
        schemas.insert("L40".into(), json!({ "type": "string" }));
        let mut paths = Map::new();
        for i in 0..50 {
            paths.insert(
                format!("/p{i}"),
                json!({ "post": { "requestBody": { "content": {
                "application/json": { "schema": { "$ref": "#/components/schemas/L0" } }
            } } } }),
            );
        }
        let doc =
            json!({ "openapi": "3.1.0", "paths": paths, "components": { "schemas": schemas } });
        let ops = operations(&doc);
        assert_eq!(ops.len(), 50);
        let sizes: Vec<usize> = ops.iter().map(|o| size(o.body.as_ref().unwrap())).collect();
        assert!(sizes.iter().all(|n| *n <= OPERATION_BUDGET), "{sizes:?}");
        assert!(sizes.iter().sum::<usize>() <= DOCUMENT_BUDGET);
        let _ = example(ops[0].body.as_ref().unwrap());
    }

    /// An object built by moving the values in (`json!` would serialize them, recursively).
    fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    #[test]
    fn ten_thousand_levels_of_nesting_do_not_overflow_the_stack() {
        let mut deep = json!({ "type": "string", "format": "uri" });
        for _ in 0..10_000 {
            deep = obj([
                ("type", json!("object")),
                ("properties", obj([("x", deep)])),
                ("required", json!(["x"])),
            ]);
        }
        let mut all_of = json!({ "type": "string" });
        for _ in 0..10_000 {
            let alternatives =
                json!([{ "type": "null" }, { "properties": { "url": { "type": "string" } } }]);
            all_of = obj([
                ("allOf", Value::Array(vec![all_of])),
                ("oneOf", alternatives),
            ]);
        }
        let mut data = json!(1);
        for _ in 0..10_000 {
            data = Value::Array(vec![data]);
        }
        let mut schemas = Map::new();
        for i in 0..10_000 {
            schemas.insert(
                format!("S{i}"),
                json!({ "$ref": format!("#/components/schemas/S{}", i + 1) }),
            );
        }
        schemas.insert("S10000".into(), json!({ "type": "string" }));
        let media = |schema: Value| obj([("application/json", obj([("schema", schema)]))]);
        let chain_body = obj([
            ("type", json!("object")),
            ("default", data),
            (
                "properties",
                json!({ "a": { "$ref": "#/components/schemas/S0" } }),
            ),
        ]);
        let doc = obj([
            ("openapi", json!("3.1.0")),
            (
                "paths",
                obj([
                    (
                        "/deep",
                        obj([(
                            "post",
                            obj([
                                ("requestBody", obj([("content", media(deep))])),
                                (
                                    "responses",
                                    obj([("200", obj([("content", media(all_of))]))]),
                                ),
                            ]),
                        )]),
                    ),
                    (
                        "/chain",
                        obj([(
                            "put",
                            obj([
                                (
                                    "parameters",
                                    json!([{ "name": "q", "in": "query", "schema": { "$ref": "#/components/schemas/S0" } }]),
                                ),
                                ("requestBody", obj([("content", media(chain_body))])),
                            ]),
                        )]),
                    ),
                ]),
            ),
            ("components", obj([("schemas", Value::Object(schemas))])),
        ]);
        let ops = operations(&doc);
        assert_eq!(ops.len(), 2);
        let deep_op = op(&ops, "POST", "/deep");
        let body = deep_op.body.as_ref().unwrap();
        assert!(size(body) < 100);
        assert!(example(body).is_object());
        assert!(url_fields(body).is_empty());
        let response = deep_op.response.as_ref().unwrap();
        assert!(size(response) < 1_000);
        let _ = example(response);
        let _ = url_fields(response);
        let _ = is_list(deep_op);
        let chain = op(&ops, "PUT", "/chain");
        assert_eq!(param(chain, "q", "query").schema, json!({}));
        let default = &chain.body.as_ref().unwrap()["default"];
        assert!(size(default) <= MAX_DEPTH + 1);
        dismantle(doc);

        // The same kind of schema given directly, without `operations` bounding it first.
        let mut deep = json!({ "type": "string" });
        for _ in 0..10_000 {
            deep = obj([
                ("properties", obj([("x", deep)])),
                (
                    "allOf",
                    json!([{ "properties": { "y": { "type": "string", "format": "uri" } } }]),
                ),
            ]);
        }
        let v = example(&deep);
        assert!(v.is_object());
        assert_eq!(url_fields(&deep), ["y"]);
        let op = Operation {
            method: "GET".into(),
            path: "/x".into(),
            response: Some(deep),
            ..Default::default()
        };
        assert!(!is_list(&op));
        dismantle(op.response.unwrap_or_default());
        dismantle(v);
    }

    #[test]
    fn url_fields_follow_formats_and_names() {
        let schema = json!({
            "type": "object",
            "allOf": [{ "properties": { "homepage": { "type": "string", "format": "uri" } } }],
            "properties": {
                "url": { "type": "string" },
                "URI": { "type": "string" },
                "avatar_url": { "type": ["string", "null"] },
                "redirectUri": { "type": "string" },
                "callback": { "type": "string" },
                "webhook": { "type": "string" },
                "api_endpoint": { "type": "string" },
                "post_login_redirect": { "type": "string" },
                "profile_link": { "type": "string" },
                "href": { "type": "string" },
                "avatar": { "type": "string" },
                "source": { "type": "string", "format": "iri-reference" },
                "maybe": { "oneOf": [{ "type": "null" }, { "type": "string", "format": "url" }] },
                "link": { "type": "object", "properties": { "href": { "type": "string" } } },
                "curl": { "type": "integer" },
                "redirect": { "type": "string", "enum": ["none", "login"] },
                "images": { "type": "array", "items": { "type": "string", "format": "uri" } },
                "title": { "type": "string" },
                "email": { "type": "string", "format": "email" }
            }
        });
        let mut fields = url_fields(&schema);
        fields.sort();
        assert_eq!(
            fields,
            [
                "URI",
                "api_endpoint",
                "avatar",
                "avatar_url",
                "callback",
                "homepage",
                "href",
                "maybe",
                "post_login_redirect",
                "profile_link",
                "redirectUri",
                "source",
                "url",
                "webhook"
            ]
        );
        assert!(url_fields(&json!({"type": "string", "format": "uri"})).is_empty());
        assert!(url_fields(&json!(null)).is_empty());
    }

    #[test]
    fn path_parameters_are_listed_in_order() {
        let check = |template: &str, expected: &[&str]| {
            assert_eq!(path_params(template), expected, "{template}");
        };
        check("/a/{id}/b/{sub_id}", &["id", "sub_id"]);
        check("/a", &[]);
        check("/files/{name}.{ext}", &["name", "ext"]);
        check("/a/{id}/b/{id}", &["id"]);
        check("/a/{}/b/{unclosed", &[]);
    }
}
