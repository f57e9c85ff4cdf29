//! Declarative collections: the schema, the access rules, and the decisions made on every
//! request — which operations a caller may attempt (function level), which records it may
//! touch (object level, as a [`rule::Predicate`] the store puts in its `WHERE`), and which
//! fields it may see and set (property level). Handlers call these; they decide nothing.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value as Json};

use crate::domain::{Invalid, PageLimit, RecordId, UserId, rfc3339};
use crate::error::FieldError;

pub mod rule;
pub mod schema;
pub mod value;

use rule::{Access, Predicate, Rule, Subject};
use schema::{CollectionSpec, FieldName, FieldSpec, FieldType, SERVER_MANAGED};
use value::Value;

/// A stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Random id.
    pub id: RecordId,
    /// The user who created it.
    pub owner_id: UserId,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
    /// Starts at 1, +1 per update; the ETag.
    pub version: i64,
    /// Declared fields that have a value (absent = null).
    pub fields: BTreeMap<FieldName, Value>,
}

impl Record {
    /// Whether `predicate` holds for this record.
    pub fn satisfies(&self, predicate: &Predicate) -> bool {
        predicate.matches(self.owner_id, &|name| self.fields.get(name).cloned())
    }
}

/// A rule evaluated against one record: `None` rule means "no extra restriction".
fn allows(rule: Option<&Rule>, subject: &Subject, record: &Record) -> bool {
    match rule {
        None => true,
        Some(rule) => match rule.access(subject) {
            Access::Denied(_) => false,
            Access::Filter(p) => record.satisfies(&p),
        },
    }
}

/// The operations of a collection's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// List records.
    List,
    /// Read one record.
    Read,
    /// Create a record.
    Create,
    /// Update a record.
    Update,
    /// Delete a record.
    Delete,
}

impl CollectionSpec {
    /// Function level: what the operation's rule allows the subject. No rule: denied
    /// (401 anonymous, 403 authenticated) — deny by default.
    pub fn access(&self, op: Operation, subject: &Subject) -> Access {
        let rule = match op {
            Operation::List => &self.access.list,
            Operation::Read => &self.access.read,
            Operation::Create => &self.access.create,
            Operation::Update => &self.access.update,
            Operation::Delete => &self.access.delete,
        };
        match (rule, subject) {
            (Some(rule), _) => rule.access(subject),
            (None, Subject::Anonymous) => Access::Denied(rule::Denial::Unauthenticated),
            (None, Subject::User { .. }) => Access::Denied(rule::Denial::Forbidden),
        }
    }

    /// Property level: the record as this subject may see it. Server-managed fields always;
    /// declared fields only where their read rule allows — hidden fields are absent, not null.
    pub fn render(&self, subject: &Subject, record: &Record) -> Json {
        let mut out = Map::new();
        out.insert("id".into(), Json::String(record.id.to_text()));
        out.insert("owner_id".into(), Json::String(record.owner_id.to_text()));
        out.insert(
            "created_at".into(),
            Json::String(rfc3339(record.created_at_ms)),
        );
        out.insert(
            "updated_at".into(),
            Json::String(rfc3339(record.updated_at_ms)),
        );
        out.insert("version".into(), Json::from(record.version));
        for field in &self.fields {
            if !allows(field.read.as_ref(), subject, record) {
                continue;
            }
            let value = record
                .fields
                .get(&field.name)
                .map_or(Json::Null, Value::to_json);
            out.insert(field.name.as_str().to_owned(), value);
        }
        Json::Object(out)
    }

    /// Property level on write: turns a client's body into field changes. Refuses
    /// server-managed and undeclared fields, fields the subject may not write ("is not
    /// writable"), and invalid values, reporting every problem at once. For a create,
    /// `existing` is `None`, defaults are applied and required fields enforced.
    pub fn changes(
        &self,
        subject: &Subject,
        existing: Option<&Record>,
        body: Map<String, Json>,
    ) -> Result<BTreeMap<FieldName, Option<Value>>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut changes = BTreeMap::new();
        // Write rules of a new record are judged as if the subject already owned it.
        let owner = match (existing, subject) {
            (Some(r), _) => r.owner_id,
            (None, Subject::User { id, .. }) => *id,
            (None, Subject::Anonymous) => UserId::default(),
        };
        let judged = Record {
            id: existing.map_or_else(RecordId::new, |r| r.id),
            owner_id: owner,
            created_at_ms: 0,
            updated_at_ms: 0,
            version: 0,
            fields: existing.map(|r| r.fields.clone()).unwrap_or_default(),
        };
        let mut keys: Vec<String> = body.keys().cloned().collect();
        keys.sort();
        for key in keys {
            let Some(raw) = body.get(&key) else { continue };
            if SERVER_MANAGED.contains(&key.as_str()) {
                errors.push(FieldError::new(&key, "is managed by the server"));
                continue;
            }
            let Some(field) = self.field(&key) else {
                errors.push(FieldError::new(&key, "is not a recognised field"));
                continue;
            };
            if !allows(field.write.as_ref(), subject, &judged) {
                errors.push(FieldError::new(&key, "is not writable"));
                continue;
            }
            if raw.is_null() {
                if field.required {
                    errors.push(FieldError::new(&key, "is required"));
                } else {
                    changes.insert(field.name.clone(), None);
                }
                continue;
            }
            match field.ty.parse_json(raw) {
                Ok(v) => {
                    changes.insert(field.name.clone(), Some(v));
                }
                Err(Invalid(why)) => errors.push(FieldError::new(&key, why)),
            }
        }
        if existing.is_none() {
            for field in &self.fields {
                if changes.contains_key(&field.name) || body.contains_key(field.name.as_str()) {
                    continue;
                }
                match (&field.default, field.required) {
                    (Some(d), _) => {
                        changes.insert(field.name.clone(), Some(d.clone()));
                    }
                    (None, true) => {
                        errors.push(FieldError::new(field.name.as_str(), "is required"))
                    }
                    (None, false) => {}
                }
            }
        }
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(errors)
        }
    }

    /// Whether the subject may write every field in `changes` of `record` (update rule checks
    /// are separate). Used to re-check after the stored record is known.
    pub fn field_rule_allows(&self, field: &FieldSpec, subject: &Subject, record: &Record) -> bool {
        allows(field.write.as_ref(), subject, record)
    }

    /// Fields a subject may filter and sort on: declared, of a filterable type, and readable
    /// by the subject on every record (otherwise a filter would reveal hidden values).
    fn queryable(&self, subject: &Subject, name: &str) -> Result<&FieldSpec, Invalid> {
        let field = self.field(name).ok_or(Invalid("is not a declared field"))?;
        let readable_everywhere = match &field.read {
            None => true,
            Some(rule) => rule.access(subject) == Access::Filter(Predicate::True),
        };
        if !readable_everywhere
            || matches!(field.ty, FieldType::Array { .. } | FieldType::Html { .. })
        {
            return Err(Invalid("cannot be filtered or sorted on"));
        }
        Ok(field)
    }

    /// Parses a list request's query parameters: `field=value`, `field[op]=value` (ops `eq`,
    /// `ne`, `lt`, `lte`, `gt`, `gte`, `contains`), `sort=field` or `sort=-field`, `limit`,
    /// `cursor`. Every value is parsed with its field's type; anything else is refused.
    pub fn list_query(
        &self,
        subject: &Subject,
        params: &[(String, String)],
    ) -> Result<ListQuery, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut filters = Vec::new();
        let mut sort = Sort {
            field: None,
            descending: false,
        };
        let mut limit = PageLimit::default();
        let mut cursor_raw = None;
        let mut seen = std::collections::HashSet::new();
        for (key, raw) in params {
            if !seen.insert(key.clone()) {
                errors.push(FieldError::new(key, "must appear at most once"));
                continue;
            }
            match key.as_str() {
                "limit" => match PageLimit::parse(raw) {
                    Ok(l) => limit = l,
                    Err(Invalid(why)) => errors.push(FieldError::new(key, why)),
                },
                "cursor" => cursor_raw = Some(raw.clone()),
                "sort" => {
                    let (descending, name) = match raw.strip_prefix('-') {
                        Some(name) => (true, name),
                        None => (false, raw.as_str()),
                    };
                    if name == "id" {
                        sort = Sort {
                            field: None,
                            descending,
                        };
                        continue;
                    }
                    match self.queryable(subject, name) {
                        Ok(f) if f.ty.is_ordered() => {
                            sort = Sort {
                                field: Some(f.name.clone()),
                                descending,
                            };
                        }
                        Ok(_) => errors.push(FieldError::new(key, "cannot sort on this field")),
                        Err(Invalid(why)) => {
                            errors.push(FieldError::new(key, format!("{name:?} {why}")))
                        }
                    }
                }
                _ => {
                    let (name, op) = match key.split_once('[') {
                        Some((name, rest)) => match rest.strip_suffix(']').and_then(Op::parse) {
                            Some(op) => (name, op),
                            None => {
                                errors.push(FieldError::new(
                                    key,
                                    "unknown operator (eq, ne, lt, lte, gt, gte, contains)",
                                ));
                                continue;
                            }
                        },
                        None => (key.as_str(), Op::Eq),
                    };
                    let field = match self.queryable(subject, name) {
                        Ok(f) => f,
                        Err(Invalid(why)) => {
                            errors.push(FieldError::new(key, why));
                            continue;
                        }
                    };
                    let op_ok = match op {
                        Op::Eq | Op::Ne => true,
                        Op::Lt | Op::Lte | Op::Gt | Op::Gte => field.ty.is_ordered(),
                        Op::Contains => matches!(
                            field.ty,
                            FieldType::String { .. }
                                | FieldType::Text { .. }
                                | FieldType::Email
                                | FieldType::Url
                        ),
                    };
                    if !op_ok {
                        errors.push(FieldError::new(
                            key,
                            "operator does not apply to this field's type",
                        ));
                        continue;
                    }
                    let value = if op == Op::Contains {
                        if raw.is_empty() || raw.chars().count() > 200 || raw.contains('\0') {
                            Err(Invalid("must be 1 to 200 characters"))
                        } else {
                            Ok(Value::Text(raw.clone()))
                        }
                    } else {
                        field.ty.parse_query(raw)
                    };
                    match value {
                        Ok(value) => filters.push(Filter {
                            field: field.name.clone(),
                            op,
                            value,
                        }),
                        Err(Invalid(why)) => errors.push(FieldError::new(key, why)),
                    }
                }
            }
        }
        let after = match cursor_raw {
            None => None,
            Some(raw) => match Cursor::decode(self, &sort, &raw) {
                Some(c) => Some(c),
                None => {
                    errors.push(FieldError::new("cursor", "is not a cursor for this query"));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(ListQuery {
                filters,
                sort,
                limit,
                after,
            })
        } else {
            Err(errors)
        }
    }
}

/// A filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal (or missing).
    Ne,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Substring (case-sensitive).
    Contains,
}

impl Op {
    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "contains" => Self::Contains,
            _ => return None,
        })
    }
}

/// One client filter, already typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The field.
    pub field: FieldName,
    /// The operator.
    pub op: Op,
    /// The operand.
    pub value: Value,
}

/// The order of a listing: by a field (then id), or by id alone. Records with no value for
/// the sort field come last in both directions.
#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    /// `None`: by id (creation order, ids are time-ordered).
    pub field: Option<FieldName>,
    /// Descending.
    pub descending: bool,
}

impl Sort {
    fn spec(&self) -> String {
        format!(
            "{}{}",
            if self.descending { "-" } else { "" },
            self.field.as_ref().map_or("id", FieldName::as_str)
        )
    }
}

/// Where the next page starts: the last record's sort value and id.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The sort field's value on the last record (`None` when sorting by id or when the
    /// value was missing).
    pub value: Option<Value>,
    /// The last record's id.
    pub id: RecordId,
}

impl Cursor {
    /// The cursor after `record` for this sort.
    pub fn after(sort: &Sort, record: &Record) -> Self {
        Self {
            value: sort
                .field
                .as_ref()
                .and_then(|f| record.fields.get(f).cloned()),
            id: record.id,
        }
    }

    /// Opaque form: base64url of a small JSON document tied to the sort.
    pub fn encode(&self, sort: &Sort) -> String {
        let doc = serde_json::json!({
            "s": sort.spec(),
            "v": self.value.as_ref().map_or(Json::Null, Value::to_json),
            "i": self.id.to_text(),
        });
        B64.encode(doc.to_string())
    }

    fn decode(spec: &CollectionSpec, sort: &Sort, raw: &str) -> Option<Self> {
        if raw.len() > 2048 {
            return None;
        }
        let bytes = B64.decode(raw.as_bytes()).ok()?;
        let doc: Json = serde_json::from_slice(&bytes).ok()?;
        if doc.get("s")?.as_str()? != sort.spec() {
            return None;
        }
        let id = RecordId::parse(doc.get("i")?.as_str()?).ok()?;
        let value = match (&sort.field, doc.get("v")?) {
            (_, Json::Null) => None,
            (None, _) => return None,
            (Some(f), v) => Some(spec.field(f.as_str())?.ty.parse_json(v).ok()?),
        };
        Some(Self { value, id })
    }
}

/// A parsed list request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Client filters (all must hold).
    pub filters: Vec<Filter>,
    /// Order.
    pub sort: Sort,
    /// Page size.
    pub limit: PageLimit,
    /// Start after this record.
    pub after: Option<Cursor>,
}
