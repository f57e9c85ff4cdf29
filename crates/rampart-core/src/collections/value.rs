//! Typed field values.

use serde_json::Value as Json;

/// A field's value, already checked against the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text of every text-like type (string, text, html, email, url, uuid, datetime, enum,
    /// reference), in its normalized form.
    Text(String),
    /// An integer.
    Int(i64),
    /// A finite floating-point number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// An array of scalars.
    List(Vec<Value>),
}

impl Value {
    /// Equality as the database sees it (numbers by value).
    pub fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Int(a), Value::Num(b)) | (Value::Num(b), Value::Int(a)) => (*a as f64) == *b,
            _ => self == other,
        }
    }

    /// The JSON form sent to clients.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Text(s) => Json::String(s.clone()),
            Value::Int(i) => Json::from(*i),
            Value::Num(n) => serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number),
            Value::Bool(b) => Json::Bool(*b),
            Value::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
        }
    }
}
