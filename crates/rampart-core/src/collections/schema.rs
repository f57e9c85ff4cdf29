//! Collection declarations: names, field types with their constraints, and access rules,
//! parsed from configuration into types that cannot hold an invalid declaration.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value as Json;

use super::rule::{RawRule, Rule};
use super::value::Value;
use crate::domain::Invalid;

/// Fields every record has, set only by the server.
pub const SERVER_MANAGED: &[&str] = &["id", "owner_id", "created_at", "updated_at", "version"];

fn identifier(raw: &str, max: usize) -> bool {
    let bytes = raw.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// A collection's name: `[a-z][a-z0-9_]{0,39}`. Safe to use in a table name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionName(String);

impl CollectionName {
    /// Parses a declared or requested name.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if identifier(raw, 40) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid(
                "must be 1-40 characters of a-z, 0-9 and _, starting with a letter",
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A field's name: `[a-z][a-z0-9_]{0,39}`, not a server-managed name. Safe to use in a column
/// name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldName(String);

impl FieldName {
    /// Parses a declared or requested field name.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if SERVER_MANAGED.contains(&raw) {
            return Err(Invalid("is managed by the server"));
        }
        if identifier(raw, 40) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid(
                "must be 1-40 characters of a-z, 0-9 and _, starting with a letter",
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The scalar types an array may hold.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarType {
    /// Text with length bounds.
    String {
        /// Fewest characters.
        min: usize,
        /// Most characters.
        max: usize,
    },
    /// An integer with bounds.
    Integer {
        /// Least value.
        min: i64,
        /// Greatest value.
        max: i64,
    },
    /// A finite number with bounds.
    Number {
        /// Least value.
        min: f64,
        /// Greatest value.
        max: f64,
    },
    /// true or false.
    Boolean,
    /// An email address.
    Email,
    /// A UUID.
    Uuid,
}

/// A field's type with its constraints.
#[derive(Debug, Clone)]
pub enum FieldType {
    /// Single-line text; optional pattern, matched against the whole value.
    String {
        /// Fewest characters.
        min: usize,
        /// Most characters.
        max: usize,
        /// Anchored pattern (regex crate: linear time, no backtracking blow-up).
        pattern: Option<Regex>,
    },
    /// Multi-line text.
    Text {
        /// Most characters.
        max: usize,
    },
    /// HTML, sanitized against an allowlist on write.
    Html {
        /// Most characters (before sanitizing).
        max: usize,
    },
    /// An integer.
    Integer {
        /// Least value.
        min: i64,
        /// Greatest value.
        max: i64,
    },
    /// A finite number.
    Number {
        /// Least value.
        min: f64,
        /// Greatest value.
        max: f64,
    },
    /// true or false.
    Boolean,
    /// One of a fixed set of strings.
    Enum {
        /// The allowed values.
        values: Vec<String>,
    },
    /// An email address (lowercased).
    Email,
    /// An http or https URL that a server-side fetch may be pointed at: no credentials, no
    /// local host name, no non-global IP literal (see [`crate::ssrf::refuse_url`]).
    Url,
    /// A UUID (canonical lowercase form).
    Uuid,
    /// An RFC 3339 timestamp, stored normalized to UTC.
    DateTime,
    /// The id of a record in another collection that the caller can read.
    Reference {
        /// The target collection.
        collection: CollectionName,
    },
    /// An array of scalars.
    Array {
        /// The item type.
        items: ScalarType,
        /// Most items.
        max_items: usize,
    },
}

/// One declared field.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// Name.
    pub name: FieldName,
    /// Type and constraints.
    pub ty: FieldType,
    /// Must be present on create (unless it has a default).
    pub required: bool,
    /// Value used on create when the field is absent.
    pub default: Option<Value>,
    /// Who may see the field (in addition to being able to read the record); `None`: anyone
    /// who can read the record.
    pub read: Option<Rule>,
    /// Who may set the field (in addition to create/update access); `None`: anyone who may
    /// create or update the record.
    pub write: Option<Rule>,
}

/// Access rules per operation. `None`: the operation is refused to everyone.
#[derive(Debug, Clone, Default)]
pub struct Operations {
    /// `GET /records`
    pub list: Option<Rule>,
    /// `GET /records/{id}`
    pub read: Option<Rule>,
    /// `POST /records`
    pub create: Option<Rule>,
    /// `PATCH /records/{id}`
    pub update: Option<Rule>,
    /// `DELETE /records/{id}`
    pub delete: Option<Rule>,
}

/// A validated collection declaration.
#[derive(Debug, Clone)]
pub struct CollectionSpec {
    /// Name.
    pub name: CollectionName,
    /// Fields, in name order.
    pub fields: Vec<FieldSpec>,
    /// Access rules.
    pub access: Operations,
}

impl CollectionSpec {
    /// A declared field.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name.as_str() == name)
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration form.

/// `[[collections]]` as written.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCollection {
    /// Collection name.
    pub name: String,
    /// Rules per operation.
    #[serde(default)]
    pub access: BTreeMap<String, serde_json::Value>,
    /// Fields by name.
    #[serde(default)]
    pub fields: BTreeMap<String, RawField>,
}

/// `[collections.fields.<name>]` as written.
#[derive(Debug, Clone, Deserialize, serde::Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    /// string, text, html, integer, number, boolean, enum, email, url, uuid, datetime,
    /// reference, array.
    #[serde(rename = "type")]
    pub ty: String,
    /// Must be given on create.
    #[serde(default)]
    pub required: bool,
    /// Lower bound (length for text types, value for numbers).
    pub min: Option<f64>,
    /// Upper bound.
    pub max: Option<f64>,
    /// string: a pattern the whole value must match.
    pub pattern: Option<String>,
    /// enum: allowed values.
    pub values: Option<Vec<String>>,
    /// Default on create.
    pub default: Option<serde_json::Value>,
    /// array: item type (string, integer, number, boolean, email, uuid).
    pub items: Option<String>,
    /// array: most items (default 100).
    pub max_items: Option<usize>,
    /// reference: the target collection.
    pub collection: Option<String>,
    /// Who may read this field.
    pub read: Option<serde_json::Value>,
    /// Who may write this field.
    pub write: Option<serde_json::Value>,
}

/// A declaration problem: the collection, the field (if any) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("collection {collection:?}{}: {reason}", field.as_ref().map(|f| format!(", field {f:?}")).unwrap_or_default())]
pub struct SchemaError {
    /// The collection.
    pub collection: String,
    /// The field, if the problem is in one.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// Longest text any field may declare.
const MAX_TEXT: usize = 1_000_000;

fn bound_usize(v: Option<f64>, default: usize, what: &str) -> Result<usize, String> {
    match v {
        None => Ok(default),
        Some(x) if x.fract() == 0.0 && (0.0..=MAX_TEXT as f64).contains(&x) => Ok(x as usize),
        Some(_) => Err(format!(
            "{what} must be a whole number from 0 to {MAX_TEXT}"
        )),
    }
}

fn scalar(ty: &str, raw: &RawField) -> Result<ScalarType, String> {
    Ok(match ty {
        "string" => ScalarType::String {
            min: bound_usize(raw.min, 0, "min")?,
            max: bound_usize(raw.max, 1000, "max")?,
        },
        "integer" => ScalarType::Integer {
            min: raw.min.map_or(Ok(i64::MIN), int_bound)?,
            max: raw.max.map_or(Ok(i64::MAX), int_bound)?,
        },
        "number" => ScalarType::Number {
            min: raw.min.unwrap_or(f64::MIN),
            max: raw.max.unwrap_or(f64::MAX),
        },
        "boolean" => ScalarType::Boolean,
        "email" => ScalarType::Email,
        "uuid" => ScalarType::Uuid,
        other => {
            return Err(format!(
                "unknown array item type {other:?} (string, integer, number, boolean, email, uuid)"
            ));
        }
    })
}

fn int_bound(x: f64) -> Result<i64, String> {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Ok(x as i64)
    } else {
        Err("integer bounds must be whole numbers".into())
    }
}

fn parse_rule(raw: &serde_json::Value) -> Result<Rule, String> {
    let parsed: RawRule = serde_json::from_value(raw.clone())
        .map_err(|_| "a rule must be a string or a { when, then, else } table".to_owned())?;
    rule_from_raw(&parsed)
}

fn rule_from_raw(raw: &RawRule) -> Result<Rule, String> {
    match raw {
        RawRule::Simple(s) => Rule::parse_simple(s),
        RawRule::Conditional(c) => Ok(Rule::When {
            field: FieldName::parse(&c.when.field)
                .map_err(|Invalid(why)| format!("condition field {:?} {why}", c.when.field))?,
            // Placeholder until the field's type is known; see `resolve_conditions`.
            equals: json_to_loose_value(&c.when.equals)?,
            then: Box::new(rule_from_raw(&c.then)?),
            otherwise: Box::new(rule_from_raw(&c.otherwise)?),
        }),
    }
}

fn json_to_loose_value(v: &Json) -> Result<Value, String> {
    match v {
        Json::String(s) => Ok(Value::Text(s.clone())),
        Json::Bool(b) => Ok(Value::Bool(*b)),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .or_else(|| n.as_f64().map(Value::Num))
            .ok_or_else(|| "condition value is not a usable number".to_owned()),
        _ => Err("a condition compares with a string, number or boolean".into()),
    }
}

/// Re-parses every condition value with its field's type, and checks the field exists.
fn resolve_conditions(rule: Rule, fields: &[FieldSpec]) -> Result<Rule, String> {
    match rule {
        Rule::When {
            field,
            equals,
            then,
            otherwise,
        } => {
            let spec = fields.iter().find(|f| f.name == field).ok_or_else(|| {
                format!(
                    "the condition names field {:?}, which is not declared",
                    field.as_str()
                )
            })?;
            if matches!(
                spec.ty,
                FieldType::Array { .. } | FieldType::Html { .. } | FieldType::Text { .. }
            ) {
                return Err(format!(
                    "field {:?} cannot be used in a condition",
                    field.as_str()
                ));
            }
            let equals = spec
                .ty
                .parse_json(&equals.to_json())
                .map_err(|Invalid(why)| {
                    format!("condition value for {:?} {why}", field.as_str())
                })?;
            Ok(Rule::When {
                field,
                equals,
                then: Box::new(resolve_conditions(*then, fields)?),
                otherwise: Box::new(resolve_conditions(*otherwise, fields)?),
            })
        }
        other => Ok(other),
    }
}

fn field_type(raw: &RawField, collections: &HashSet<String>) -> Result<FieldType, String> {
    let ty = match raw.ty.as_str() {
        "string" => {
            let pattern = match &raw.pattern {
                None => None,
                Some(p) => Some(
                    Regex::new(&format!("^(?:{p})$"))
                        .map_err(|_| format!("pattern {p:?} is not a valid regular expression"))?,
                ),
            };
            FieldType::String {
                min: bound_usize(raw.min, 0, "min")?,
                max: bound_usize(raw.max, 1000, "max")?,
                pattern,
            }
        }
        "text" => FieldType::Text {
            max: bound_usize(raw.max, 10_000, "max")?,
        },
        "html" => FieldType::Html {
            max: bound_usize(raw.max, 20_000, "max")?,
        },
        "integer" | "number" | "boolean" | "email" | "uuid" => match scalar(&raw.ty, raw)? {
            ScalarType::String { .. } => return Err("unreachable".into()),
            ScalarType::Integer { min, max } => FieldType::Integer { min, max },
            ScalarType::Number { min, max } => FieldType::Number { min, max },
            ScalarType::Boolean => FieldType::Boolean,
            ScalarType::Email => FieldType::Email,
            ScalarType::Uuid => FieldType::Uuid,
        },
        "enum" => {
            let values = raw.values.clone().unwrap_or_default();
            if values.is_empty() {
                return Err("an enum needs a non-empty `values` list".into());
            }
            let unique: HashSet<&String> = values.iter().collect();
            if unique.len() != values.len() {
                return Err("enum values must be distinct".into());
            }
            FieldType::Enum { values }
        }
        "url" => FieldType::Url,
        "datetime" => FieldType::DateTime,
        "reference" => {
            let target = raw
                .collection
                .as_deref()
                .ok_or("a reference needs `collection`")?;
            if !collections.contains(target) {
                return Err(format!(
                    "references collection {target:?}, which is not declared"
                ));
            }
            FieldType::Reference {
                collection: CollectionName::parse(target)
                    .map_err(|Invalid(why)| format!("collection {target:?} {why}"))?,
            }
        }
        "array" => {
            let items = raw.items.as_deref().ok_or("an array needs `items`")?;
            let max_items = raw.max_items.unwrap_or(100);
            if max_items == 0 || max_items > 1000 {
                return Err("max_items must be from 1 to 1000".into());
            }
            // Bounds on an array apply to its items.
            FieldType::Array {
                items: scalar(items, raw)?,
                max_items,
            }
        }
        other => {
            return Err(format!(
                "unknown type {other:?} (string, text, html, integer, number, boolean, enum, \
                 email, url, uuid, datetime, reference, array)"
            ));
        }
    };
    let used = |name: &str, v: bool| {
        if v {
            Err(format!("`{name}` does not apply to type {:?}", raw.ty))
        } else {
            Ok(())
        }
    };
    used("pattern", raw.pattern.is_some() && raw.ty != "string")?;
    used("values", raw.values.is_some() && raw.ty != "enum")?;
    used("items", raw.items.is_some() && raw.ty != "array")?;
    used("max_items", raw.max_items.is_some() && raw.ty != "array")?;
    used(
        "collection",
        raw.collection.is_some() && raw.ty != "reference",
    )?;
    match &ty {
        FieldType::String { min, max, .. } if min > max => return Err("min exceeds max".into()),
        FieldType::Integer { min, max } if min > max => return Err("min exceeds max".into()),
        FieldType::Number { min, max } if min > max => return Err("min exceeds max".into()),
        _ => {}
    }
    Ok(ty)
}

/// The operations a collection may declare rules for.
const OPERATIONS: &[&str] = &["list", "read", "create", "update", "delete"];

/// Validates every declaration. The first problem stops start-up, naming the collection, the
/// field and the reason.
pub fn build_schema(raw: &[RawCollection]) -> Result<Vec<CollectionSpec>, SchemaError> {
    let mut names = HashSet::new();
    for c in raw {
        if !names.insert(c.name.clone()) {
            return Err(SchemaError {
                collection: c.name.clone(),
                field: None,
                reason: "is declared more than once".into(),
            });
        }
    }
    let mut out = Vec::new();
    for c in raw {
        let err = |field: Option<&str>, reason: String| SchemaError {
            collection: c.name.clone(),
            field: field.map(str::to_owned),
            reason,
        };
        let name = CollectionName::parse(&c.name)
            .map_err(|Invalid(why)| err(None, format!("name {why}")))?;
        if c.fields.is_empty() {
            return Err(err(None, "declares no fields".into()));
        }
        let mut fields = Vec::new();
        for (fname, rf) in &c.fields {
            let ferr = |reason: String| err(Some(fname), reason);
            let name =
                FieldName::parse(fname).map_err(|Invalid(why)| ferr(format!("name {why}")))?;
            let ty = field_type(rf, &names).map_err(ferr)?;
            let read = rf.read.as_ref().map(parse_rule).transpose().map_err(ferr)?;
            let write = rf
                .write
                .as_ref()
                .map(parse_rule)
                .transpose()
                .map_err(ferr)?;
            let default = rf
                .default
                .as_ref()
                .map(|d| {
                    ty.parse_json(d)
                        .map_err(|Invalid(why)| ferr(format!("default {why}")))
                })
                .transpose()?;
            fields.push(FieldSpec {
                name,
                ty,
                required: rf.required,
                default,
                read,
                write,
            });
        }
        // Rules may name fields; resolve them now that all fields are known.
        for spec in fields.clone() {
            let resolve = |r: Option<Rule>| r.map(|r| resolve_conditions(r, &fields)).transpose();
            let read = resolve(spec.read.clone()).map_err(|e| err(Some(spec.name.as_str()), e))?;
            let write =
                resolve(spec.write.clone()).map_err(|e| err(Some(spec.name.as_str()), e))?;
            if let Some(f) = fields.iter_mut().find(|f| f.name == spec.name) {
                f.read = read;
                f.write = write;
            }
        }
        let mut access = Operations::default();
        for (op, raw_rule) in &c.access {
            let rule = parse_rule(raw_rule)
                .and_then(|r| resolve_conditions(r, &fields))
                .map_err(|e| err(None, format!("access.{op}: {e}")))?;
            let slot = match op.as_str() {
                "list" => &mut access.list,
                "read" => &mut access.read,
                "create" => &mut access.create,
                "update" => &mut access.update,
                "delete" => &mut access.delete,
                other => {
                    return Err(err(
                        None,
                        format!(
                            "access.{other}: unknown operation ({})",
                            OPERATIONS.join(", ")
                        ),
                    ));
                }
            };
            *slot = Some(rule);
        }
        out.push(CollectionSpec {
            name,
            fields,
            access,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Values.

static UUID_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$").ok()
});

fn text_len_ok(s: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let n = s.chars().count();
    if n < min {
        return Err(Invalid("is too short"));
    }
    if n > max {
        return Err(Invalid("is too long"));
    }
    Ok(())
}

fn no_control(s: &str, allow_newlines: bool) -> Result<(), Invalid> {
    let bad = s.chars().any(|c| {
        c == '\0' || (c.is_control() && !(allow_newlines && (c == '\n' || c == '\r' || c == '\t')))
    });
    if bad {
        Err(Invalid("must not contain control characters"))
    } else {
        Ok(())
    }
}

impl ScalarType {
    fn parse_json(&self, v: &Json) -> Result<Value, Invalid> {
        match self {
            ScalarType::String { min, max } => {
                let s = v.as_str().ok_or(Invalid("must be a string"))?;
                no_control(s, false)?;
                text_len_ok(s, *min, *max)?;
                Ok(Value::Text(s.to_owned()))
            }
            ScalarType::Integer { min, max } => {
                let n = v
                    .as_i64()
                    .filter(|_| v.is_i64() || v.is_u64())
                    .ok_or(Invalid("must be an integer"))?;
                if n < *min || n > *max {
                    return Err(Invalid("is out of range"));
                }
                Ok(Value::Int(n))
            }
            ScalarType::Number { min, max } => {
                let n = v
                    .as_f64()
                    .filter(|_| v.is_number())
                    .ok_or(Invalid("must be a number"))?;
                if !n.is_finite() || n < *min || n > *max {
                    return Err(Invalid("is out of range"));
                }
                Ok(Value::Num(n))
            }
            ScalarType::Boolean => v
                .as_bool()
                .map(Value::Bool)
                .ok_or(Invalid("must be true or false")),
            ScalarType::Email => {
                let s = v.as_str().ok_or(Invalid("must be a string"))?;
                crate::domain::Email::parse(s).map(|e| Value::Text(e.as_str().to_owned()))
            }
            ScalarType::Uuid => {
                let s = v.as_str().ok_or(Invalid("must be a string"))?;
                let lower = s.to_ascii_lowercase();
                if UUID_RE.as_ref().is_some_and(|re| re.is_match(&lower)) {
                    Ok(Value::Text(lower))
                } else {
                    Err(Invalid("must be a UUID"))
                }
            }
        }
    }
}

impl FieldType {
    /// Parses a JSON value sent by a client (or a default from configuration).
    pub fn parse_json(&self, v: &Json) -> Result<Value, Invalid> {
        match self {
            FieldType::String { min, max, pattern } => {
                let s = v.as_str().ok_or(Invalid("must be a string"))?;
                no_control(s, false)?;
                text_len_ok(s, *min, *max)?;
                if let Some(re) = pattern
                    && !re.is_match(s)
                {
                    return Err(Invalid("does not match the required pattern"));
                }
                Ok(Value::Text(s.to_owned()))
            }
            FieldType::Text { max } => {
                let s = v.as_str().ok_or(Invalid("must be a string"))?;
                no_control(s, true)?;
                text_len_ok(s, 0, *max)?;
                Ok(Value::Text(s.to_owned()))
            }
            FieldType::Html { max } => {
                let s = v.as_str().ok_or(Invalid("must be a string"))?;
                no_control(s, true)?;
                text_len_ok(s, 0, *max)?;
                Ok(Value::Text(sanitize_html(s)))
            }
            FieldType::Integer { min, max } => ScalarType::Integer {
                min: *min,
                max: *max,
            }
            .parse_json(v),
            FieldType::Number { min, max } => ScalarType::Number {
                min: *min,
                max: *max,
            }
            .parse_json(v),
            FieldType::Boolean => ScalarType::Boolean.parse_json(v),
            FieldType::Email => ScalarType::Email.parse_json(v),
            FieldType::Uuid | FieldType::Reference { .. } => ScalarType::Uuid.parse_json(v),
            FieldType::Enum { values } => {
                let s = v.as_str().ok_or(Invalid("must be a string"))?;
                if values.iter().any(|x| x == s) {
                    Ok(Value::Text(s.to_owned()))
                } else {
                    Err(Invalid("is not one of the allowed values"))
                }
            }
            FieldType::Url => {
                let s = v.as_str().ok_or(Invalid("must be a string"))?;
                no_control(s, false)?;
                text_len_ok(s, 1, 2048)?;
                // One message for every refusal: the client learns what is wanted, not which
                // internal address ranges are checked.
                crate::ssrf::refuse_url(s)
                    .map_err(|_| Invalid("must be a public http or https URL"))?;
                Ok(Value::Text(s.to_owned()))
            }
            FieldType::DateTime => {
                let s = v.as_str().ok_or(Invalid("must be a string"))?;
                use time::format_description::well_known::Rfc3339;
                let t = time::OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|_| Invalid("must be an RFC 3339 date-time"))?;
                let utc = t.to_offset(time::UtcOffset::UTC);
                // Fixed width so that text order is time order.
                let text = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                    utc.year(),
                    u8::from(utc.month()),
                    utc.day(),
                    utc.hour(),
                    utc.minute(),
                    utc.second(),
                    utc.millisecond()
                );
                if !(0..=9999).contains(&utc.year()) {
                    return Err(Invalid("must be between years 0 and 9999"));
                }
                Ok(Value::Text(text))
            }
            FieldType::Array { items, max_items } => {
                let list = v.as_array().ok_or(Invalid("must be an array"))?;
                if list.len() > *max_items {
                    return Err(Invalid("has too many items"));
                }
                list.iter()
                    .map(|item| items.parse_json(item))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::List)
                    .map_err(|Invalid(why)| {
                        Invalid(match why {
                            "must be a string" => "items must be strings",
                            "must be an integer" => "items must be integers",
                            "must be a number" => "items must be numbers",
                            "must be true or false" => "items must be true or false",
                            _ => "has an invalid item",
                        })
                    })
            }
        }
    }

    /// Parses a filter value from a query string.
    pub fn parse_query(&self, raw: &str) -> Result<Value, Invalid> {
        let json = match self {
            FieldType::Integer { .. } => {
                if !raw
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
                    || raw.is_empty()
                    || raw.len() > 20
                {
                    return Err(Invalid("must be an integer"));
                }
                Json::from(
                    raw.parse::<i64>()
                        .map_err(|_| Invalid("must be an integer"))?,
                )
            }
            FieldType::Number { .. } => {
                let n: f64 = raw.parse().map_err(|_| Invalid("must be a number"))?;
                serde_json::Number::from_f64(n)
                    .map(Json::Number)
                    .ok_or(Invalid("must be a finite number"))?
            }
            FieldType::Boolean => match raw {
                "true" => Json::Bool(true),
                "false" => Json::Bool(false),
                _ => return Err(Invalid("must be true or false")),
            },
            FieldType::Array { .. } | FieldType::Html { .. } => {
                return Err(Invalid("cannot be filtered on"));
            }
            _ => Json::String(raw.to_owned()),
        };
        self.parse_json(&json)
    }

    /// Whether values of this type can be ordered and filtered with `lt`/`gt`.
    pub fn is_ordered(&self) -> bool {
        matches!(
            self,
            FieldType::String { .. }
                | FieldType::Integer { .. }
                | FieldType::Number { .. }
                | FieldType::Enum { .. }
                | FieldType::Email
                | FieldType::Uuid
                | FieldType::DateTime
                | FieldType::Reference { .. }
                | FieldType::Boolean
        )
    }
}

/// Sanitizes user HTML against ammonia's allowlist: scripts, event handlers, `javascript:` and
/// other non-http(s)/mailto URLs are removed; links get `rel="noopener noreferrer"`.
pub fn sanitize_html(input: &str) -> String {
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer"))
        .clean(input)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(toml_fields: Json, access: Json) -> RawCollection {
        RawCollection {
            name: "posts".into(),
            access: serde_json::from_value(access).unwrap(),
            fields: serde_json::from_value(toml_fields).unwrap(),
        }
    }

    #[test]
    fn example_shape_parses() {
        let spec = build_schema(&[raw(
            serde_json::json!({
                "title": {"type": "string", "required": true, "min": 1, "max": 200},
                "body": {"type": "html", "max": 20000},
                "status": {"type": "enum", "values": ["draft", "published"], "default": "draft"},
                "internal_note": {"type": "string", "read": "role:admin", "write": "role:admin"},
            }),
            serde_json::json!({
                "list": {"when": {"field": "status", "equals": "published"}, "then": "public", "else": "owner"},
                "read": "public", "create": "authenticated", "update": "owner", "delete": "owner_or_role:admin",
            }),
        )])
        .unwrap();
        assert_eq!(spec[0].fields.len(), 4);
        assert!(spec[0].access.list.is_some());
    }

    #[test]
    fn configuration_errors_name_collection_field_and_reason() {
        let cases = [
            (
                serde_json::json!({"x": {"type": "blob"}}),
                serde_json::json!({}),
                Some("x"),
                "unknown type",
            ),
            (
                serde_json::json!({"id": {"type": "string"}}),
                serde_json::json!({}),
                Some("id"),
                "managed by the server",
            ),
            (
                serde_json::json!({"x": {"type": "string"}}),
                serde_json::json!({"read": "role:root"}),
                None,
                "unknown role",
            ),
            (
                serde_json::json!({"x": {"type": "string"}}),
                serde_json::json!({"read": {"when": {"field": "nope", "equals": 1}, "then": "public", "else": "owner"}}),
                None,
                "not declared",
            ),
            (
                serde_json::json!({"x": {"type": "enum", "values": ["a"], "default": "b"}}),
                serde_json::json!({}),
                Some("x"),
                "default",
            ),
            (
                serde_json::json!({"x": {"type": "reference", "collection": "ghosts"}}),
                serde_json::json!({}),
                Some("x"),
                "not declared",
            ),
            (
                serde_json::json!({"x": {"type": "string", "pattern": "("}}),
                serde_json::json!({}),
                Some("x"),
                "regular expression",
            ),
            (
                serde_json::json!({"x": {"type": "string"}}),
                serde_json::json!({"purge": "public"}),
                None,
                "unknown operation",
            ),
        ];
        for (fields, access, field, reason) in cases {
            let e = build_schema(&[raw(fields, access)]).unwrap_err();
            assert_eq!(e.collection, "posts");
            assert_eq!(e.field.as_deref(), field, "{e}");
            assert!(e.reason.contains(reason), "{e}");
        }
        let dup = raw(
            serde_json::json!({"x": {"type": "string"}}),
            serde_json::json!({}),
        );
        assert!(
            build_schema(&[dup.clone(), dup])
                .unwrap_err()
                .reason
                .contains("more than once")
        );
    }

    #[test]
    fn values_are_parsed_by_type() {
        let s = FieldType::String {
            min: 1,
            max: 5,
            pattern: Regex::new("^(?:[a-z]+)$").ok(),
        };
        assert!(s.parse_json(&Json::from("abc")).is_ok());
        assert!(s.parse_json(&Json::from("abc1")).is_err());
        assert!(s.parse_json(&Json::from("abcdefg")).is_err());
        assert!(s.parse_json(&Json::from(5)).is_err());
        assert!(s.parse_json(&serde_json::json!({"$gt": ""})).is_err());
        assert!(s.parse_json(&Json::from("a\u{0}b")).is_err());
        let i = FieldType::Integer { min: 0, max: 10 };
        assert!(
            i.parse_json(&Json::from("5")).is_err(),
            "numbers as strings are refused"
        );
        assert!(i.parse_json(&Json::from(5.5)).is_err());
        assert!(i.parse_json(&Json::from(11)).is_err());
        assert_eq!(i.parse_json(&Json::from(7)), Ok(Value::Int(7)));
        assert!(
            FieldType::Url
                .parse_json(&Json::from("https://example.com/x"))
                .is_ok()
        );
        assert_eq!(
            FieldType::DateTime.parse_json(&Json::from("2026-01-02T03:04:05+01:00")),
            Ok(Value::Text("2026-01-02T02:04:05.000Z".into()))
        );
        let arr = FieldType::Array {
            items: ScalarType::Integer { min: 0, max: 9 },
            max_items: 2,
        };
        assert!(arr.parse_json(&serde_json::json!([1, 2])).is_ok());
        assert!(arr.parse_json(&serde_json::json!([1, 2, 3])).is_err());
        assert!(arr.parse_json(&serde_json::json!([1, "2"])).is_err());
    }

    #[test]
    fn url_fields_refuse_what_a_server_side_fetch_must_not_reach() {
        let url = |raw: &str| FieldType::Url.parse_json(&Json::from(raw));
        for raw in [
            "javascript:alert(1)",
            "ftp://example.com/",
            "http://127.0.0.1/",
            "HTTP://127.0.0.1/",
            "http://127.0.0.1./",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0/",
            "http://[0:0:0:0:0:ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://user@10.0.0.1/",
            "http://localhost./",
            "http://metadata.google.internal/",
        ] {
            assert_eq!(
                url(raw),
                Err(Invalid("must be a public http or https URL")),
                "{raw}"
            );
        }
        // What the scanner probes with is refused here, by the same function.
        for probe in crate::ssrf::PROBE_URLS {
            assert!(url(probe).is_err(), "{probe}");
        }
        // The field's own checks still come first.
        assert_eq!(url(""), Err(Invalid("is too short")));
        assert_eq!(
            url(&format!("https://example.com/{}", "a".repeat(2048))),
            Err(Invalid("is too long"))
        );
        assert_eq!(
            url("https://example.com/\u{0}"),
            Err(Invalid("must not contain control characters"))
        );
        assert!(url(" https://example.com/").is_err());
        for raw in [
            "https://example.com/a?b=c#d",
            "http://93.184.215.14/",
            "https://[2606:4700::1]/",
        ] {
            assert_eq!(url(raw), Ok(Value::Text(raw.to_owned())), "{raw}");
        }
        // Stored as sent, not normalized.
        assert_eq!(
            url("HTTPS://Example.com"),
            Ok(Value::Text("HTTPS://Example.com".into()))
        );
    }

    #[test]
    fn html_is_sanitized() {
        let dirty = r#"<p onclick="x()">hi<script>alert(1)</script><a href="javascript:alert(1)">l</a><img src=x onerror=alert(1)></p>"#;
        let clean = sanitize_html(dirty);
        for bad in ["script", "onclick", "javascript:", "onerror"] {
            assert!(!clean.contains(bad), "{bad} survived in {clean}");
        }
        assert!(clean.contains("hi"));
    }
}
