//! The audit trail for administrators: `GET /api/admin/audit` (filtered, newest first, paged)
//! and `GET /api/admin/audit/verify` (the chain and its signed checkpoints, checked now).

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rampart_core::audit::{Checkpoint, Entry};
use rampart_core::domain::{Invalid, PageLimit, UserId};
use rampart_core::error::{ApiError, ErrorCode, FieldError};
use rampart_store::AuditFilter;
use serde_json::{Value, json};

use super::rfc3339;
use crate::error::{AppError, AppResult};
use crate::extract::{AdminCaller, QueryParams};
use crate::state::AppState;

const CURSOR_PREFIX: &str = "a1:";

fn encode_cursor(seq: i64) -> String {
    B64.encode(format!("{CURSOR_PREFIX}{seq}"))
}

fn decode_cursor(raw: &str) -> Result<i64, AppError> {
    let invalid = || AppError::from(ErrorCode::InvalidCursor);
    if raw.len() > 64 {
        return Err(invalid());
    }
    let bytes = B64.decode(raw.as_bytes()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let digits = text.strip_prefix(CURSOR_PREFIX).ok_or_else(invalid)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    digits.parse().map_err(|_| invalid())
}

/// An action, target type or target id as a filter: printable ASCII without spaces, bounded.
fn token(raw: &str, max: usize) -> Result<String, &'static str> {
    if raw.is_empty() || raw.len() > max || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be 1 to 128 visible ASCII characters");
    }
    Ok(raw.to_owned())
}

fn time_ms(raw: &str) -> Result<i64, &'static str> {
    let t = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map_err(|_| "must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z")?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| "is out of range")
}

/// The value, or the field's error noted in `errors`.
fn field<T>(
    errors: &mut Vec<FieldError>,
    name: &str,
    result: Result<T, &'static str>,
) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(why) => {
            errors.push(FieldError::new(name, why));
            None
        }
    }
}

/// An entry as the API shows it.
pub fn entry_json(e: &Entry) -> Value {
    let metadata: Value = serde_json::from_str(&e.metadata).unwrap_or(Value::Null);
    json!({
        "seq": e.seq,
        "timestamp": rfc3339(e.ts_ms),
        "action": e.action,
        "actor": {
            "user_id": e.actor_user_id,
            "ip": e.actor_ip,
            "user_agent": e.actor_user_agent,
        },
        "target": match (&e.target_type, &e.target_id) {
            (Some(kind), Some(id)) => json!({ "type": kind, "id": id }),
            _ => Value::Null,
        },
        "result": e.result,
        "request_id": e.request_id,
        "metadata": metadata,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    })
}

fn checkpoint_json(c: &Checkpoint) -> Value {
    json!({
        "seq": c.seq,
        "hash": c.hash,
        "signed_at": rfc3339(c.created_ms),
        "key_id": c.key_id,
        "signature": c.signature,
    })
}

/// `GET /api/admin/audit?action=&actor=&target_type=&target_id=&since=&until=&limit=&cursor=`
pub async fn list(
    State(state): State<AppState>,
    AdminCaller(_admin): AdminCaller,
    query: QueryParams,
) -> AppResult<Json<Value>> {
    let [
        action,
        actor,
        target_type,
        target_id,
        since,
        until,
        limit,
        cursor,
    ] = query.take([
        "action",
        "actor",
        "target_type",
        "target_id",
        "since",
        "until",
        "limit",
        "cursor",
    ])?;
    let mut errors = Vec::new();
    let filter = AuditFilter {
        action: action.and_then(|a| field(&mut errors, "action", token(&a, 128))),
        actor: actor.and_then(|a| {
            field(
                &mut errors,
                "actor",
                UserId::parse(&a)
                    .map(|u| u.to_string())
                    .map_err(|Invalid(why)| why),
            )
        }),
        target_type: target_type.and_then(|t| field(&mut errors, "target_type", token(&t, 128))),
        target_id: target_id.and_then(|t| field(&mut errors, "target_id", token(&t, 128))),
        since_ms: since.and_then(|t| field(&mut errors, "since", time_ms(&t))),
        until_ms: until.and_then(|t| field(&mut errors, "until", time_ms(&t))),
        before_seq: None,
    };
    let limit = match limit {
        None => Some(PageLimit::default()),
        Some(raw) => field(
            &mut errors,
            "limit",
            PageLimit::parse(&raw).map_err(|Invalid(why)| why),
        ),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors).into());
    }
    let limit = limit.unwrap_or_default();
    let filter = AuditFilter {
        before_seq: cursor.as_deref().map(decode_cursor).transpose()?,
        ..filter
    };
    let entries = state
        .audit
        .store()
        .list(&filter, i64::from(limit.get()))
        .await?;
    let next = (entries.len() == limit.get() as usize)
        .then(|| entries.last().map(|e| encode_cursor(e.seq)))
        .flatten();
    Ok(Json(json!({
        "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `GET /api/admin/audit/verify`: `status` is `intact` or `tampered` (with the first broken
/// entry); the newest signed checkpoint is included so a monitor can keep it elsewhere.
pub async fn verify(
    State(state): State<AppState>,
    AdminCaller(_admin): AdminCaller,
) -> AppResult<Json<Value>> {
    let report = state
        .audit
        .store()
        .verify(
            state.audit.key().verifying_keys(),
            Some(state.settings.audit_checkpoint_every),
        )
        .await?;
    Ok(Json(json!({
        "status": if report.intact() { "intact" } else { "tampered" },
        "entries": report.entries,
        "checkpoints": report.checkpoints,
        "head": report.head.as_ref().map(|(seq, hash)| json!({ "seq": seq, "hash": hash })),
        "last_checkpoint": report.last_checkpoint.as_ref().map(checkpoint_json),
        "first_broken": report.problem.as_ref().map(|p| json!({
            "seq": p.seq,
            "kind": p.kind,
            "message": p.to_string(),
        })),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        for bad in [
            "",
            "!!",
            &B64.encode("a1:"),
            &B64.encode("a1:-1"),
            &B64.encode("a1:1 OR 1=1"),
            &B64.encode("u1:5"),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
