//! `/api/collections/{name}/records[/{id}]`: the declared collections.
//!
//! Every decision is made by `rampart_core::collections` and the store: the operation's rule
//! (function level: 401/403 before any record is looked at, except that a record the caller
//! cannot read is always 404), the read predicate inside the SQL query (object level: a record
//! the caller may not read is never fetched, so it is a 404 identical to a missing id), and
//! field rules on render and write (property level). A handler cannot skip a
//! step: the store methods take the predicate as a required argument, and the only way to
//! build a response body is `CollectionSpec::render`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::header::{ETAG, IF_MATCH};
use http::{HeaderMap, HeaderValue, StatusCode};
use rampart_core::audit::{Outcome, Target};
use rampart_core::collections::rule::{Access, Denial, Predicate, Subject};
use rampart_core::collections::schema::{CollectionSpec, FieldName, FieldType};
use rampart_core::collections::value::Value;
use rampart_core::collections::{Cursor, Operation, Record};
use rampart_core::domain::RecordId;
use rampart_core::error::{ApiError, ErrorCode, FieldError};
use rampart_store::UpdateOutcome;
use serde_json::json;

use crate::context::Audit;
use crate::error::{AppError, AppResult};
use crate::extract::{JsonObject, SubjectOf};
use crate::state::{AppState, now_ms};

/// The collection named in the path; an unknown name is 404, like an unknown route.
fn collection<'a>(state: &'a AppState, name: &str) -> AppResult<&'a CollectionSpec> {
    state
        .settings
        .collections
        .iter()
        .find(|c| c.name.as_str() == name)
        .ok_or_else(|| ErrorCode::NotFound.into())
}

/// Function level: the operation's predicate for this subject, or the refusal.
fn permitted(spec: &CollectionSpec, op: Operation, subject: &Subject) -> AppResult<Predicate> {
    match spec.access(op, subject) {
        Access::Filter(p) => Ok(p),
        Access::Denied(Denial::Unauthenticated) => Err(ErrorCode::Unauthorized.into()),
        Access::Denied(Denial::Forbidden) => {
            log_denied(spec, op, subject);
            Err(ErrorCode::Forbidden.into())
        }
    }
}

fn log_denied(spec: &CollectionSpec, op: Operation, subject: &Subject) {
    let user = match subject {
        Subject::User { id, .. } => id.to_text(),
        Subject::Anonymous => "anonymous".into(),
    };
    tracing::warn!(collection = spec.name.as_str(), operation = ?op, user_id = %user, "access denied by collection rule");
}

fn record_id(raw: &str) -> AppResult<RecordId> {
    // A malformed id cannot name a record: same answer as a missing one.
    RecordId::parse(raw).map_err(|_| ErrorCode::NotFound.into())
}

fn etag(record: &Record) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", record.version))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn with_etag(
    status: StatusCode,
    spec: &CollectionSpec,
    subject: &Subject,
    record: &Record,
) -> Response {
    let mut res = (status, Json(spec.render(subject, record))).into_response();
    res.headers_mut().insert(ETAG, etag(record));
    res
}

/// The audit entry for a data change: collection, id and the *names* of changed fields,
/// never their values (the actor is the request's caller).
fn audit_change(
    audit: &Audit,
    action: &'static str,
    spec: &CollectionSpec,
    id: RecordId,
    fields: &[&FieldName],
) {
    let names: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
    audit.record(
        action,
        Some(Target {
            kind: format!("record:{}", spec.name.as_str()),
            id: id.to_string(),
        }),
        Outcome::Success,
        json!({ "collection": spec.name.as_str(), "fields": names }),
    );
}

/// Reference fields must point at records the caller can read.
async fn check_references(
    state: &AppState,
    spec: &CollectionSpec,
    subject: &Subject,
    changes: &BTreeMap<FieldName, Option<Value>>,
) -> AppResult<()> {
    let mut errors = Vec::new();
    for (name, value) in changes {
        let (Some(field), Some(Value::Text(target_id))) = (spec.field(name.as_str()), value) else {
            continue;
        };
        let FieldType::Reference { collection: target } = &field.ty else {
            continue;
        };
        let Ok(target_spec) = collection(state, target.as_str()) else {
            errors.push(FieldError::new(
                name.as_str(),
                "refers to an unknown collection",
            ));
            continue;
        };
        let visible = target_spec
            .access(Operation::Read, subject)
            .into_predicate();
        let found = match RecordId::parse(target_id) {
            Ok(id) => state
                .store
                .get_record(target_spec, id, &visible)
                .await?
                .is_some(),
            Err(_) => false,
        };
        if !found {
            errors.push(FieldError::new(
                name.as_str(),
                "refers to a record that does not exist or that you cannot read",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors).into())
    }
}

/// `GET /api/collections/{name}/records`
pub async fn list(
    State(state): State<AppState>,
    SubjectOf(subject): SubjectOf,
    Path(name): Path<String>,
    uri: http::Uri,
) -> AppResult<Json<serde_json::Value>> {
    let spec = collection(&state, &name)?;
    let list = permitted(spec, Operation::List, &subject)?;
    // Listed records must be readable too: the list rule narrows, never widens, the read rule.
    let read = spec.access(Operation::Read, &subject).into_predicate();
    let visible = Predicate::and(vec![list, read]);
    let params: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let query = spec
        .list_query(&subject, &params)
        .map_err(|details| AppError::from(ApiError::validation(details)))?;
    let records = state.store.list_records(spec, &visible, &query).await?;
    let next = (records.len() == query.limit.get() as usize)
        .then(|| {
            records
                .last()
                .map(|r| Cursor::after(&query.sort, r).encode(&query.sort))
        })
        .flatten();
    Ok(Json(json!({
        "records": records.iter().map(|r| spec.render(&subject, r)).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `GET /api/collections/{name}/records/{id}`
pub async fn read(
    State(state): State<AppState>,
    SubjectOf(subject): SubjectOf,
    Path((name, raw_id)): Path<(String, String)>,
) -> AppResult<Response> {
    let spec = collection(&state, &name)?;
    let visible = permitted(spec, Operation::Read, &subject)?;
    let id = record_id(&raw_id)?;
    let record = state
        .store
        .get_record(spec, id, &visible)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    Ok(with_etag(StatusCode::OK, spec, &subject, &record))
}

/// `POST /api/collections/{name}/records`
pub async fn create(
    State(state): State<AppState>,
    audit: Audit,
    SubjectOf(subject): SubjectOf,
    Path(name): Path<String>,
    body: JsonObject,
) -> AppResult<Response> {
    let spec = collection(&state, &name)?;
    let allowed = permitted(spec, Operation::Create, &subject)?;
    // Records are owned by their creator, so creating needs an authenticated caller even where
    // a collection's create rule is `public`.
    let Subject::User { id: owner, .. } = subject else {
        return Err(ErrorCode::Unauthorized.into());
    };
    let changes = spec
        .changes(&subject, None, body.into_map())
        .map_err(|details| AppError::from(ApiError::validation(details)))?;
    check_references(&state, spec, &subject, &changes).await?;
    let now = now_ms();
    let record = Record {
        id: RecordId::new(),
        owner_id: owner,
        created_at_ms: now,
        updated_at_ms: now,
        version: 1,
        fields: changes
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect(),
    };
    // A conditional create rule is judged on the record as it would be stored.
    if !record.satisfies(&allowed) {
        log_denied(spec, Operation::Create, &subject);
        return Err(ErrorCode::Forbidden.into());
    }
    state.store.insert_record(spec, &record).await?;
    audit_change(
        &audit,
        "record.created",
        spec,
        record.id,
        &changes.keys().collect::<Vec<_>>(),
    );
    Ok(with_etag(StatusCode::CREATED, spec, &subject, &record))
}

/// The version an `If-Match` header names: `None` without the header, `Some(None)` for `*`.
fn if_match(headers: &HeaderMap) -> AppResult<Option<Option<i64>>> {
    let Some(value) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| AppError::from(ErrorCode::PreconditionFailed))?
        .trim();
    if text == "*" {
        return Ok(Some(None));
    }
    let text = text.strip_prefix("W/").unwrap_or(text);
    let version = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or(ErrorCode::PreconditionFailed)?;
    Ok(Some(Some(version)))
}

/// Loads a record the subject may read, then checks the operation's rule on it. In order: an
/// operation that needs a login the caller lacks is 401; where the caller can read nothing at
/// all, the operation's own refusal (403); a record the caller cannot read is 404 (identical to
/// a missing one, whatever the operation's rule says); a readable record the operation's rule
/// does not cover is 403.
async fn readable_then_permitted(
    state: &AppState,
    spec: &CollectionSpec,
    subject: &Subject,
    op: Operation,
    raw_id: &str,
) -> AppResult<(Record, Predicate)> {
    if spec.access(op, subject) == Access::Denied(Denial::Unauthenticated) {
        return Err(ErrorCode::Unauthorized.into());
    }
    let visible = match spec.access(Operation::Read, subject) {
        Access::Filter(p) => p,
        // Nothing is readable, so nothing can be revealed: the operation's own answer (403
        // when it has no rule for this caller), else "not found".
        Access::Denied(_) => {
            permitted(spec, op, subject)?;
            return Err(ErrorCode::NotFound.into());
        }
    };
    let id = record_id(raw_id)?;
    let record = state
        .store
        .get_record(spec, id, &visible)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    let allowed = permitted(spec, op, subject)?;
    if !record.satisfies(&allowed) {
        log_denied(spec, op, subject);
        return Err(ErrorCode::Forbidden.into());
    }
    Ok((record, allowed))
}

/// `PATCH /api/collections/{name}/records/{id}`; honours `If-Match`.
pub async fn update(
    State(state): State<AppState>,
    audit: Audit,
    SubjectOf(subject): SubjectOf,
    Path((name, raw_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: JsonObject,
) -> AppResult<Response> {
    let spec = collection(&state, &name)?;
    let (record, allowed) =
        readable_then_permitted(&state, spec, &subject, Operation::Update, &raw_id).await?;
    let expected = if_match(&headers)?;
    if let Some(Some(v)) = expected
        && v != record.version
    {
        return Err(ErrorCode::PreconditionFailed.into());
    }
    let changes = spec
        .changes(&subject, Some(&record), body.into_map())
        .map_err(|details| AppError::from(ApiError::validation(details)))?;
    check_references(&state, spec, &subject, &changes).await?;
    // The record as it would be after the change must still be one the caller may update
    // (like a row-level security `WITH CHECK`): otherwise an owner could move a record into a
    // state only an admin may create, such as publishing a draft where that is reserved.
    let mut after = record.clone();
    for (name, value) in &changes {
        match value {
            Some(v) => after.fields.insert(name.clone(), v.clone()),
            None => after.fields.remove(name),
        };
    }
    if !after.satisfies(&allowed) {
        log_denied(spec, Operation::Update, &subject);
        return Err(ErrorCode::Forbidden.into());
    }
    // Write only the version that was authorized above: a concurrent change in between makes
    // this a conflict instead of an update decided on stale data.
    let outcome = state
        .store
        .update_record(
            spec,
            record.id,
            Some(record.version),
            &changes,
            &allowed,
            now_ms(),
        )
        .await?;
    match outcome {
        UpdateOutcome::Updated(updated) => {
            audit_change(
                &audit,
                "record.updated",
                spec,
                updated.id,
                &changes.keys().collect::<Vec<_>>(),
            );
            Ok(with_etag(StatusCode::OK, spec, &subject, &updated))
        }
        UpdateOutcome::VersionConflict if expected.is_some() => {
            Err(ErrorCode::PreconditionFailed.into())
        }
        UpdateOutcome::VersionConflict => Err(ErrorCode::Conflict.into()),
        UpdateOutcome::NotFound => Err(ErrorCode::NotFound.into()),
    }
}

/// `DELETE /api/collections/{name}/records/{id}`
pub async fn delete(
    State(state): State<AppState>,
    audit: Audit,
    SubjectOf(subject): SubjectOf,
    Path((name, raw_id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let spec = collection(&state, &name)?;
    let (record, allowed) =
        readable_then_permitted(&state, spec, &subject, Operation::Delete, &raw_id).await?;
    if !state.store.delete_record(spec, record.id, &allowed).await? {
        return Err(ErrorCode::NotFound.into());
    }
    audit_change(&audit, "record.deleted", spec, record.id, &[]);
    Ok(StatusCode::NO_CONTENT)
}
