//! Checks on the API's objects, driven by its OpenAPI description: object-level authorization
//! (row 4: A creates, B reads, changes and deletes by id; sub-resources; users; neighbouring
//! integer ids), unknown fields on writes (row 5), URL fields that accept internal addresses
//! (row 16) and uncapped page sizes (row 15).
//!
//! Request bodies are the description's schemas made concrete ([`spec::example`]), so a strict
//! API accepts them; a check whose valid request is refused reports `not_applicable` for that
//! route instead of guessing. Objects the scan creates are deleted again where the API allows.

use http::Method;
use serde_json::{Value, json};

use super::accounts::{Account, Accounts, random_hex};
use super::{evidence, finding, judged};
use rampart_core::ssrf::PROBE_URLS;

use crate::client::{Client, ClientError, Exchange, Probe};
use crate::report::{CheckResult, Finding, Severity, Status};
use crate::spec::{self, Operation};

/// Id of the object-level authorization check.
pub const BOLA_ID: &str = "objects.bola";
/// Its title.
pub const BOLA_TITLE: &str = "Another user's objects cannot be read, changed or deleted by id";
/// Id of the unknown-field check.
pub const UNKNOWN_ID: &str = "input.unknown_fields";
/// Its title.
pub const UNKNOWN_TITLE: &str = "Writes with unknown fields are refused";
/// Id of the SSRF check.
pub const SSRF_ID: &str = "ssrf.urls";
/// Its title.
pub const SSRF_TITLE: &str =
    "URL fields refuse loopback, private, link-local and metadata addresses";
/// Id of the pagination check.
pub const PAGE_ID: &str = "limits.pagination";
/// Its title.
pub const PAGE_TITLE: &str = "Page sizes are capped";

/// Most collections (or routes) each check exercises.
const MAX_TARGETS: usize = 4;
/// The page size the pagination check asks for.
const HUGE_PAGE: u64 = 100_000;
/// A page longer than this is uncapped for the checklist's purposes.
const PAGE_CAP: usize = 1000;
/// Path segments that name users (for `.../users/{id}` routes).
const USER_SEGMENTS: &[&str] = &[
    "users",
    "user",
    "accounts",
    "account",
    "members",
    "profiles",
    "customers",
];
/// Query parameter names that set a page size.
const PAGE_PARAMS: &[&str] = &[
    "limit",
    "per_page",
    "page_size",
    "pagesize",
    "size",
    "count",
    "top",
    "take",
];

fn not_applicable(mut r: CheckResult, why: &str) -> CheckResult {
    r.status = Status::NotApplicable;
    r.note = Some(why.to_owned());
    r
}

fn rollup(mut r: CheckResult, warnings: bool) -> CheckResult {
    r.status = if r.findings.is_empty() {
        r.status
    } else if warnings {
        Status::Warn
    } else {
        Status::Fail
    };
    r
}

/// Routes the object checks leave alone: sign-in plumbing and admin routes (their own checks).
fn is_plumbing(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    [
        "/auth/", "login", "logout", "register", "signup", "token", "refresh", "admin", "session",
    ]
    .iter()
    .any(|w| p.contains(w))
}

/// `template` with each `{name}` replaced by its value (URL-encoded); `None` when a parameter
/// has no value.
fn fill(template: &str, values: &[(&str, &str)]) -> Option<String> {
    let mut out = template.to_owned();
    for name in spec::path_params(template) {
        let value = values.iter().find(|(n, _)| *n == name)?.1;
        out = out.replace(&format!("{{{name}}}"), &encode_segment(value));
    }
    Some(out)
}

/// `value` percent-encoded for a path segment (unreserved characters kept).
fn encode_segment(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn method(op: &Operation) -> Method {
    Method::from_bytes(op.method.as_bytes()).unwrap_or(Method::GET)
}

/// `op` as `who` (anonymous when `None`), with its example body (plus `extra`) when it has one.
async fn send(
    client: &Client,
    op: &Operation,
    path: &str,
    who: Option<&Account>,
    extra: Option<&Value>,
) -> Result<Exchange, ClientError> {
    let mut probe = Probe::new(method(op), path);
    if let Some(bearer) = who.and_then(Account::bearer) {
        probe = probe.header("authorization", &bearer);
    }
    if let Some(schema) = &op.body {
        let mut body = spec::example(schema);
        if let (Value::Object(map), Some(Value::Object(extra))) = (&mut body, extra) {
            map.extend(extra.clone());
        }
        probe = probe.body("application/json", body.to_string());
    } else if matches!(op.method.as_str(), "POST" | "PUT" | "PATCH") {
        probe = probe.body(
            "application/json",
            extra.cloned().unwrap_or(json!({})).to_string(),
        );
    }
    client.send(probe).await
}

/// The id of a created object: `id` (or `_id`, `uuid`) at the top or under a wrapper, else the
/// `Location` header's last segment.
pub fn created_id(x: &Exchange) -> Option<String> {
    let doc: Value = serde_json::from_str(&x.body).unwrap_or(Value::Null);
    for pointer in [
        "/id",
        "/_id",
        "/uuid",
        "/data/id",
        "/item/id",
        "/record/id",
        "/result/id",
    ] {
        match doc.pointer(pointer) {
            Some(Value::String(s)) if !s.is_empty() => return Some(s.clone()),
            Some(Value::Number(n)) => return Some(n.to_string()),
            _ => {}
        }
    }
    x.header("location")
        .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// An id of the same shape as `id` that names nothing.
fn missing_like(id: &str) -> String {
    if id.chars().all(|c| c.is_ascii_digit()) {
        "987654321".into()
    } else if id.len() == 36 && id.matches('-').count() == 4 {
        format!("00000000-0000-4000-8000-{}", random_hex(6))
    } else {
        format!("rampart-scan-missing-{}", random_hex(4))
    }
}

/// A collection: a create route and the routes under its item template.
struct Collection<'a> {
    create: &'a Operation,
    /// `/api/items/{id}`.
    item: String,
    /// `id`.
    param: String,
    /// Every described route under `item` (the item itself and its sub-resources).
    under: Vec<&'a Operation>,
}

fn collections(ops: &[Operation]) -> Vec<Collection<'_>> {
    let mut out = Vec::new();
    for create in ops
        .iter()
        .filter(|o| o.method == "POST" && !o.path.contains('{') && !is_plumbing(&o.path))
    {
        let prefix = format!("{}/{{", create.path.trim_end_matches('/'));
        let Some(item_op) = ops.iter().find(|o| {
            o.path.starts_with(&prefix)
                && spec::path_params(&o.path).len() == 1
                && o.path.ends_with('}')
        }) else {
            continue;
        };
        let item = item_op.path.clone();
        let param = spec::path_params(&item).remove(0);
        let mut under: Vec<&Operation> = ops
            .iter()
            .filter(|o| o.path == item || o.path.starts_with(&format!("{item}/")))
            .filter(|o| spec::path_params(&o.path).len() == 1)
            .collect();
        // Reads first, deletes last: a deleted object can no longer show anything.
        under.sort_by_key(|o| (o.method == "DELETE", o.method != "GET", o.path.len()));
        out.push(Collection {
            create,
            item,
            param,
            under,
        });
    }
    out.truncate(MAX_TARGETS);
    out
}

/// Creates an object as `who`; returns the exchange and its id.
async fn create(
    client: &Client,
    op: &Operation,
    who: &Account,
    extra: Option<&Value>,
) -> Result<(Exchange, Option<String>), ClientError> {
    let x = send(client, op, &op.path, Some(who), extra).await?;
    let id = if x.status.is_success() {
        created_id(&x)
    } else {
        None
    };
    Ok((x, id))
}

/// Deletes what the scan created, where a delete route is described: as A, then as the admin
/// when A may not (best effort); says what was left behind.
async fn clean_up(
    client: &Client,
    ops: &[Operation],
    create: &Operation,
    id: &str,
    accounts: &Accounts,
) -> Result<Option<String>, ClientError> {
    let prefix = format!("{}/{{", create.path.trim_end_matches('/'));
    if let Some(delete) = ops.iter().find(|o| {
        o.method == "DELETE"
            && o.path.starts_with(&prefix)
            && spec::path_params(&o.path).len() == 1
            && o.path.ends_with('}')
    }) {
        let param = spec::path_params(&delete.path).remove(0);
        if let Some(path) = fill(&delete.path, &[(&param, id)]) {
            let mut status = 0;
            for who in [&accounts.a, &accounts.admin] {
                if who.token.is_none() {
                    continue;
                }
                let x = send(client, delete, &path, Some(who), None).await?;
                if x.status.is_success() || x.status.as_u16() == 404 {
                    return Ok(None);
                }
                status = x.status.as_u16();
            }
            return Ok(Some(format!(
                "left {path} behind: its deletion answered {status} (give --token-admin to clean up)"
            )));
        }
    }
    Ok(Some(format!(
        "left an object of {} behind (id {id}): no delete route is described",
        create.path
    )))
}

/// What B's request on A's object showed: a finding, a warning (existence leak), or nothing.
enum Verdict {
    Finding(Finding),
    Warning(Finding),
    Clean,
}

/// B sends `op` at A's object (`path`); compared with the same request at a missing id and,
/// for reads, with an anonymous one (a public object is not a leak).
async fn probe_as_b(
    client: &Client,
    op: &Operation,
    path: &str,
    missing: &str,
    accounts: &Accounts,
) -> Result<Verdict, ClientError> {
    let x = send(client, op, path, Some(&accounts.b), None).await?;
    if x.status.is_success() {
        if op.method == "GET" {
            let anonymous = send(client, op, path, None, None).await?;
            if anonymous.status.is_success() {
                return Ok(Verdict::Clean);
            }
        }
        let what = match op.method.as_str() {
            "GET" => "read",
            "DELETE" => "deleted",
            _ => "changed",
        };
        return Ok(Verdict::Finding(finding(
            format!(
                "user B {what} user A's object: {} {path} answered {}",
                op.method,
                x.status.as_u16()
            ),
            evidence(&x, &super::excerpt(&x.body, "", 160)),
            "Check on every read, update and delete that the caller may touch that object (owner or role), and answer 404 otherwise",
        )));
    }
    let other = send(client, op, missing, Some(&accounts.b), None).await?;
    if other.status != x.status && x.status.as_u16() != 429 && other.status.as_u16() != 429 {
        return Ok(Verdict::Warning(finding(
            format!(
                "{} {path}: another user's object answers {}, a missing one {}: ids can be confirmed",
                op.method,
                x.status.as_u16(),
                other.status.as_u16()
            ),
            evidence(&x, ""),
            "Answer another user's object exactly like a missing one (404)",
        )));
    }
    Ok(Verdict::Clean)
}

/// Row 4: user A's objects (created through each described collection, and A's own user
/// record) probed by user B.
pub async fn bola(
    client: &Client,
    ops: &[Operation],
    accounts: &Accounts,
    auth_path: &str,
) -> Result<CheckResult, ClientError> {
    let r = judged(BOLA_ID, 4, BOLA_TITLE, Severity::Critical, Vec::new());
    if accounts.a.token.is_none() || accounts.b.token.is_none() {
        return Ok(not_applicable(
            r,
            "needs two users: --token-a and --token-b, --login-a and --login-b, or --register",
        ));
    }
    // B's refusals only mean something if B's token works.
    let b_me = client
        .send(
            Probe::get(auth_path).header("authorization", &accounts.b.bearer().unwrap_or_default()),
        )
        .await?;
    if !b_me.status.is_success() {
        return Ok(not_applicable(
            r,
            &format!(
                "user B's token was refused at {auth_path} ({})",
                b_me.status.as_u16()
            ),
        ));
    }
    let mut findings = Vec::new();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let mut probed = Vec::new();
    let mut record = |verdict: Verdict| match verdict {
        Verdict::Finding(f) => findings.push(f),
        Verdict::Warning(f) => warnings.push(f),
        Verdict::Clean => {}
    };
    for c in collections(ops) {
        let (x, id) = create(client, c.create, &accounts.a, None).await?;
        let Some(id) = id else {
            notes.push(if x.status.is_success() {
                format!(
                    "POST {} answered {} without an id it could be read back by (an object may be left behind)",
                    c.create.path,
                    x.status.as_u16()
                )
            } else {
                format!("POST {} answered {}", c.create.path, x.status.as_u16())
            });
            continue;
        };
        // A must be able to read its own object, or B's refusals prove nothing.
        let read = c
            .under
            .iter()
            .find(|o| o.method == "GET" && o.path == c.item);
        if let (Some(read), Some(path)) = (read, fill(&c.item, &[(&c.param, &id)])) {
            let own = send(client, read, &path, Some(&accounts.a), None).await?;
            if !own.status.is_success() {
                notes.push(format!(
                    "user A could not read its own object at {path} ({}): skipped",
                    own.status.as_u16()
                ));
                notes.extend(clean_up(client, ops, c.create, &id, accounts).await?);
                continue;
            }
        }
        probed.push(c.item.clone());
        let missing_id = missing_like(&id);
        for op in &c.under {
            let (Some(path), Some(missing)) = (
                fill(&op.path, &[(&c.param, &id)]),
                fill(&op.path, &[(&c.param, &missing_id)]),
            ) else {
                continue;
            };
            record(probe_as_b(client, op, &path, &missing, accounts).await?);
        }
        // Neighbouring integer ids: B guesses objects it was never given (only a B the scan
        // registered owns nothing, so anything it reads is someone else's).
        if let (Ok(n), Some(read), true) = (id.parse::<u64>(), read, accounts.b.throwaway) {
            for guess in [n.checked_sub(1), n.checked_add(1)]
                .into_iter()
                .flatten()
                .filter(|g| *g > 0)
            {
                let Some(path) = fill(&c.item, &[(&c.param, &guess.to_string())]) else {
                    continue;
                };
                let x = send(client, read, &path, Some(&accounts.b), None).await?;
                if x.status.is_success()
                    && !send(client, read, &path, None, None)
                        .await?
                        .status
                        .is_success()
                {
                    record(Verdict::Finding(finding(
                        format!(
                            "user B read {path}, an object it never created, by guessing a sequential id"
                        ),
                        evidence(&x, &super::excerpt(&x.body, "", 160)),
                        "Authorize every object access; random ids (UUIDs) make guessing harder but are no substitute",
                    )));
                }
            }
        }
        notes.extend(clean_up(client, ops, c.create, &id, accounts).await?);
    }
    // A's own user record under a users route (`/api/users/{id}`, `.../{id}/password`).
    let me = client
        .send(
            Probe::get(auth_path).header("authorization", &accounts.a.bearer().unwrap_or_default()),
        )
        .await?;
    let me_doc: Value = serde_json::from_str(&me.body).unwrap_or(Value::Null);
    let a_id = ["/id", "/user/id", "/data/id"]
        .iter()
        .find_map(|p| match me_doc.pointer(p) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        });
    if let Some(a_id) = a_id {
        for op in ops.iter().filter(|o| is_user_route(&o.path)) {
            let params = spec::path_params(&op.path);
            if params.len() != 1 || op.method == "DELETE" || op.method == "POST" {
                continue;
            }
            // Changing A's account is only tried on an account the scan registered itself.
            if op.method != "GET" && !accounts.a.throwaway {
                notes.push(format!(
                    "{} {} not tried: user A is not a throw-away account (--register)",
                    op.method, op.path
                ));
                continue;
            }
            let (Some(path), Some(missing)) = (
                fill(&op.path, &[(&params[0], &a_id)]),
                fill(&op.path, &[(&params[0], &missing_like(&a_id))]),
            ) else {
                continue;
            };
            probed.push(format!("{} {}", op.method, op.path));
            record(probe_as_b(client, op, &path, &missing, accounts).await?);
        }
    }
    if probed.is_empty() {
        notes.push("no collection (POST /x with GET|PATCH|DELETE /x/{id}) or users route could be exercised".into());
        return Ok(not_applicable(r, &notes.join("; ")));
    }
    notes.insert(
        0,
        format!("user B tried user A's objects at {}", probed.join(", ")),
    );
    let mut r = r;
    r.note = Some(notes.join("; "));
    if findings.is_empty() {
        r.findings = warnings;
        Ok(rollup(r, true))
    } else {
        r.findings = findings;
        Ok(rollup(r, false))
    }
}

/// Whether a write was refused as invalid input (400, 422): the answer a strict API gives. A
/// 401, 403, 429 or 5xx says nothing about the input.
fn is_refusal(x: &Exchange) -> bool {
    matches!(x.status.as_u16(), 400 | 422)
}

/// `.../users/{id}` and routes under it (a password change, a profile).
fn is_user_route(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    segments.windows(2).any(|w| {
        USER_SEGMENTS.contains(&w[0].to_ascii_lowercase().as_str()) && w[1].starts_with('{')
    }) && !path.to_ascii_lowercase().contains("admin")
}

/// Row 5: every described create route, first with its example body (must be accepted), then
/// with an unknown field added (must be refused).
pub async fn unknown_fields(
    client: &Client,
    ops: &[Operation],
    accounts: &Accounts,
) -> Result<CheckResult, ClientError> {
    let mut r = judged(UNKNOWN_ID, 5, UNKNOWN_TITLE, Severity::High, Vec::new());
    if accounts.a.token.is_none() {
        return Ok(not_applicable(
            r,
            "needs user A: --token-a, --login-a or --register",
        ));
    }
    let creates: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.method == "POST" && !o.path.contains('{') && !is_plumbing(&o.path))
        .filter(|o| {
            o.body
                .as_ref()
                .is_some_and(|b| matches!(spec::example(b), Value::Object(_)))
        })
        .take(MAX_TARGETS)
        .collect();
    let mut tried = 0;
    let mut notes = Vec::new();
    for op in creates {
        let (valid, id) = create(client, op, &accounts.a, None).await?;
        if let Some(id) = &id {
            notes.extend(clean_up(client, ops, op, id, accounts).await?);
        }
        if !valid.status.is_success() {
            notes.push(format!(
                "POST {}: the described example was refused ({})",
                op.path,
                valid.status.as_u16()
            ));
            continue;
        }
        let extra = json!({ "rampart_scan_unknown_field": "x" });
        let (x, id) = create(client, op, &accounts.a, Some(&extra)).await?;
        if is_refusal(&x) {
            tried += 1;
        } else if !x.status.is_success() {
            notes.push(format!(
                "POST {} with an unknown field answered {}: inconclusive",
                op.path,
                x.status.as_u16()
            ));
        } else {
            tried += 1;
            r.findings.push(finding(
                format!("POST {} accepted the unknown field rampart_scan_unknown_field ({})", op.path, x.status.as_u16()),
                evidence(&x, ""),
                "Parse every body against a schema that refuses unknown fields (400), so nothing unexpected reaches the logic",
            ));
            if let Some(id) = id {
                notes.extend(clean_up(client, ops, op, &id, accounts).await?);
            }
        }
    }
    if !notes.is_empty() {
        r.note = Some(notes.join("; "));
    }
    if tried == 0 {
        return Ok(not_applicable(
            r,
            "no described create route accepted its example body",
        ));
    }
    Ok(rollup(r, false))
}

/// Row 16: each described URL field given internal addresses ([`PROBE_URLS`], the list
/// `rampart serve`'s URL fields refuse). A create route that accepts one fails (the object is
/// deleted again); a query parameter that accepts one is a warning (a filter may accept a URL
/// it never fetches). Updates of existing routes are only tried on a throw-away user A. The
/// scanner itself never contacts those addresses.
pub async fn ssrf(
    client: &Client,
    ops: &[Operation],
    accounts: &Accounts,
) -> Result<CheckResult, ClientError> {
    let mut r = judged(SSRF_ID, 16, SSRF_TITLE, Severity::Medium, Vec::new());
    let mut targets: Vec<(&Operation, String, bool)> = Vec::new();
    let mut notes = Vec::new();
    for op in ops
        .iter()
        .filter(|o| !is_plumbing(&o.path) && !o.path.contains('{'))
    {
        if matches!(op.method.as_str(), "POST" | "PUT" | "PATCH")
            && let Some(body) = &op.body
        {
            let fields = spec::url_fields(body);
            if op.method != "POST" && !accounts.a.throwaway && !fields.is_empty() {
                notes.push(format!(
                    "{} {} not tried: it changes user A's data, and A is not a throw-away account (--register)",
                    op.method, op.path
                ));
                continue;
            }
            targets.extend(fields.into_iter().map(|f| (op, f, true)));
        }
        let query: serde_json::Map<String, Value> = op
            .params
            .iter()
            .filter(|p| p.location == "query")
            .map(|p| (p.name.clone(), p.schema.clone()))
            .collect();
        if op.method == "GET" && !query.is_empty() {
            let schema = json!({ "type": "object", "properties": query });
            targets.extend(
                spec::url_fields(&schema)
                    .into_iter()
                    .map(|f| (op, f, false)),
            );
        }
    }
    targets.truncate(MAX_TARGETS);
    if targets.is_empty() {
        notes.push("no URL-typed field or parameter is described".into());
        return Ok(not_applicable(r, &notes.join("; ")));
    }
    let who = accounts.a.token.is_some().then_some(&accounts.a);
    let mut warnings = Vec::new();
    let mut conclusive = 0;
    'targets: for (op, field, in_body) in targets {
        let mut accepted = Vec::new();
        let mut last = None;
        // The example's own URL first: a refusal there makes the route inconclusive.
        for (i, url) in std::iter::once("https://example.com/rampart-scan")
            .chain(PROBE_URLS.iter().copied())
            .enumerate()
        {
            let x = if in_body {
                let extra = json!({ field.as_str(): url });
                let x = send(client, op, &op.path, who, Some(&extra)).await?;
                if op.method == "POST" && x.status.is_success() {
                    notes.extend(match created_id(&x) {
                        Some(id) => clean_up(client, ops, op, &id, accounts).await?,
                        None => Some(format!(
                            "POST {} answered {} without an id: an object may be left behind",
                            op.path,
                            x.status.as_u16()
                        )),
                    });
                }
                x
            } else {
                let encoded: String =
                    url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
                send(
                    client,
                    op,
                    &format!("{}?{field}={encoded}", op.path),
                    who,
                    None,
                )
                .await?
            };
            if i == 0 && !x.status.is_success() {
                notes.push(format!(
                    "{} {} {field}: a public URL was refused too ({}): inconclusive",
                    op.method,
                    op.path,
                    x.status.as_u16()
                ));
                continue 'targets;
            }
            if x.status.as_u16() == 429 || x.status.as_u16() == 401 {
                notes.push(format!(
                    "{} {} {field}: answered {} midway: inconclusive",
                    op.method,
                    op.path,
                    x.status.as_u16()
                ));
                continue 'targets;
            }
            if i > 0 && x.status.is_success() {
                accepted.push(url);
                last = Some(x);
            }
        }
        conclusive += 1;
        if let Some(x) = last {
            let f = finding(
                format!(
                    "{} {} accepted internal addresses in {field}: {}",
                    op.method,
                    op.path,
                    accepted.join(", ")
                ),
                evidence(&x, ""),
                "Allow only public http(s) URLs: refuse loopback, private, link-local and metadata addresses and local names when the URL is given, and resolve and re-check them (and every redirect) when it is fetched",
            );
            if in_body {
                r.findings.push(f);
            } else {
                warnings.push(f);
            }
        }
    }
    if !notes.is_empty() {
        r.note = Some(notes.join("; "));
    }
    if conclusive == 0 {
        return Ok(not_applicable(r, &notes.join("; ")));
    }
    if r.findings.is_empty() {
        r.findings = warnings;
        return Ok(rollup(r, true));
    }
    Ok(rollup(r, false))
}

/// The longest array in a list response (the body itself, or a top-level property).
fn page_length(doc: &Value) -> usize {
    match doc {
        Value::Array(items) => items.len(),
        Value::Object(map) => map
            .values()
            .filter_map(Value::as_array)
            .map(Vec::len)
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

/// Judges a list asked for [`HUGE_PAGE`] items through `param`.
pub fn judge_page(x: &Exchange, param: &str) -> Option<Finding> {
    if x.status.is_client_error() {
        return None;
    }
    let doc: Value = serde_json::from_str(&x.body).unwrap_or(Value::Null);
    let echoed = [
        format!("/{param}"),
        format!("/meta/{param}"),
        format!("/pagination/{param}"),
        format!("/page/{param}"),
    ]
    .iter()
    .find_map(|p| doc.pointer(p).and_then(Value::as_u64));
    let length = page_length(&doc);
    if x.status.is_server_error() || echoed.is_some_and(|n| n >= HUGE_PAGE) || length > PAGE_CAP {
        return Some(finding(
            format!(
                "{param}={HUGE_PAGE} was not refused or capped ({}; {length} items)",
                x.status.as_u16()
            ),
            evidence(x, &super::excerpt(&x.body, param, 120)),
            "Cap page sizes (for example 100) and refuse larger ones with 400",
        ));
    }
    None
}

/// Row 15: each described list asked for [`HUGE_PAGE`] items.
pub async fn pagination(
    client: &Client,
    ops: &[Operation],
    accounts: &Accounts,
) -> Result<CheckResult, ClientError> {
    let mut r = judged(PAGE_ID, 15, PAGE_TITLE, Severity::Medium, Vec::new());
    let lists: Vec<&Operation> = ops
        .iter()
        .filter(|o| spec::is_list(o) && !o.path.contains('{') && !is_plumbing(&o.path))
        .take(MAX_TARGETS)
        .collect();
    if lists.is_empty() {
        return Ok(not_applicable(r, "no list route is described"));
    }
    let who = accounts.a.token.is_some().then_some(&accounts.a);
    let mut notes = Vec::new();
    let mut conclusive = 0;
    for op in lists {
        let param = op
            .params
            .iter()
            .filter(|p| p.location == "query")
            .map(|p| p.name.as_str())
            .find(|n| PAGE_PARAMS.contains(&n.to_ascii_lowercase().as_str()))
            .unwrap_or("limit");
        let x = send(
            client,
            op,
            &format!("{}?{param}={HUGE_PAGE}", op.path),
            who,
            None,
        )
        .await?;
        match judge_page(&x, param) {
            Some(f) => {
                conclusive += 1;
                r.findings.push(f);
            }
            None if is_refusal(&x) => conclusive += 1,
            None if x.status.is_success() => notes.push(format!(
                "GET {}?{param}={HUGE_PAGE} answered {} with {} items: capped silently, or too few objects to tell",
                op.path,
                x.status.as_u16(),
                page_length(&serde_json::from_str(&x.body).unwrap_or(Value::Null))
            )),
            None => notes.push(format!(
                "GET {}?{param}={HUGE_PAGE} answered {}: inconclusive",
                op.path,
                x.status.as_u16()
            )),
        }
    }
    if !notes.is_empty() {
        r.note = Some(notes.join("; "));
    }
    if conclusive == 0 {
        return Ok(not_applicable(r, &notes.join("; ")));
    }
    Ok(rollup(r, false))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::checks::testing::answer;

    #[test]
    fn ids_come_from_the_body_or_the_location() {
        assert_eq!(
            created_id(&answer(201, r#"{"id":7}"#)).as_deref(),
            Some("7")
        );
        assert_eq!(
            created_id(&answer(201, r#"{"data":{"id":"ab-c"}}"#)).as_deref(),
            Some("ab-c")
        );
        let mut x = answer(201, "");
        x.headers
            .insert("location", HeaderValue::from_static("/api/items/42"));
        assert_eq!(created_id(&x).as_deref(), Some("42"));
        assert_eq!(created_id(&answer(201, "{}")), None);
        assert_eq!(missing_like("12"), "987654321");
        assert!(missing_like("0190a5d2-8a1c-7b3e-9f00-123456789abc").starts_with("00000000-"));
    }

    #[test]
    fn templates_are_filled_and_encoded() {
        assert_eq!(
            fill("/a/{id}/b", &[("id", "1 2")]).as_deref(),
            Some("/a/1%202/b")
        );
        assert_eq!(fill("/a/{id}/{other}", &[("id", "1")]), None);
        assert!(is_user_route("/api/users/{id}/password"));
        assert!(!is_user_route("/api/admin/users/{id}"));
        assert!(!is_user_route("/api/users/me"));
    }

    #[test]
    fn uncapped_pages_are_findings() {
        assert!(judge_page(&answer(400, "{}"), "limit").is_none());
        assert!(judge_page(&answer(200, r#"{"items":[],"limit":100000}"#), "limit").is_some());
        assert!(judge_page(&answer(200, r#"{"items":[1,2],"limit":100}"#), "limit").is_none());
        assert!(judge_page(&answer(500, "oops"), "limit").is_some());
    }
}
