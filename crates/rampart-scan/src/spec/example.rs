//! Values from schemas: [`example`] builds a request value that a strict server should accept,
//! so that a check's request is refused (or not) for the reason the check is about, not for
//! a missing field.
//!
//! Also the schema reading the other helpers share: what type a schema describes ([`kind`])
//! and a schema with its `allOf` merged and its `oneOf`/`anyOf` choice made ([`flatten`]).
//! Everything here is bounded by [`MAX_DEPTH`] levels and a node budget, because schemas
//! come from the target.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use serde_json::{Map, Number, Value};

use super::{MAX_DEPTH, URL_NAME_ENDINGS};

/// Most nodes one [`example`] call may build or copy.
const BUDGET: usize = 50_000;

/// Most items put in one array, whatever `minItems` asks.
const MAX_ITEMS: u64 = 64;

/// Longest string built, whatever `minLength` asks.
const MAX_STRING: usize = 10_000;

/// Most `allOf` parts merged.
const MAX_PARTS: usize = 64;

/// Keywords that combine schemas.
const COMPOSITION: [&str; 3] = ["allOf", "oneOf", "anyOf"];

/// The schema `true`: anything.
static ANY: Value = Value::Bool(true);

/// A value the schema accepts, built to pass a strict server's validation:
///
/// - objects carry every `required` property (all properties when none are, or `required` is
///   empty), never a
///   `readOnly` one and never one the schema does not name; fields named like a password get
///   one strong random passphrase (the same one, so a confirmation field matches);
/// - `const`, then the first non-null `enum` value, then a valid `default`, `example` or
///   first `examples` entry (scalars only, and not for emails, passwords or uuids, which must
///   be fresh), then a value built from `type` and its bounds;
/// - strings follow `format` (a fresh `rampart-scan-<hex>@example.com` email, a random v4
///   uuid, `https://example.com/rampart-scan`, the current date-time in RFC 3339, …),
///   `minLength`/`maxLength`, and simple `pattern`s (literals, classes, groups, alternation,
///   quantifiers; anything else gets a plausible string instead); plain strings are
///   `rampart-scan-<hex>`, unique per call;
/// - numbers respect `minimum`, `maximum`, both styles of exclusive bounds, and `multipleOf`;
/// - arrays have `minItems` items, or one when the array is required (or top-level), else none;
/// - `allOf` parts are merged (properties and `required` unioned, bounds tightened), `oneOf`
///   and `anyOf` take their first alternative that is not `null`.
///
/// Randomness comes from the `rand` crate's operating-system-seeded generator, so values do
/// not collide between calls and scans, and a passphrase that becomes a throw-away account's
/// password is as strong as the ones `--register` makes.
pub fn example(schema: &Value) -> Value {
    let mut rng = Rng::new();
    let offset = rng.next_u32() as usize;
    let mut g = Gen {
        left: BUDGET,
        rng,
        offset,
    };
    g.value(
        schema,
        0,
        Hint {
            required: true,
            name: None,
            variant: 0,
        },
    )
}

/// The type a schema describes, as [`example`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
    /// No type and nothing that implies one.
    Any,
}

/// The type of a (flattened) schema: `type` (the first non-null one of a list; 3.0
/// `nullable` is ignored since a value is always sent), else what its keywords imply.
pub(super) fn kind(schema: &Value) -> Kind {
    let Some(s) = schema.as_object() else {
        return Kind::Any;
    };
    match s.get("type") {
        Some(Value::String(t)) => named(t),
        Some(Value::Array(types)) => {
            let mut names = types.iter().filter_map(Value::as_str).peekable();
            if names.peek().is_none() {
                return implied(s);
            }
            names.find(|t| *t != "null").map_or(Kind::Null, named)
        }
        _ => implied(s),
    }
}

fn named(t: &str) -> Kind {
    match t {
        "null" => Kind::Null,
        "boolean" => Kind::Boolean,
        "integer" => Kind::Integer,
        "number" => Kind::Number,
        "array" => Kind::Array,
        "object" => Kind::Object,
        // "string", and Swagger 2's "file" or anything unknown: a string is the best guess.
        _ => Kind::String,
    }
}

fn implied(s: &Map<String, Value>) -> Kind {
    let has = |keys: &[&str]| keys.iter().any(|k| s.contains_key(*k));
    if has(&[
        "properties",
        "additionalProperties",
        "required",
        "minProperties",
        "maxProperties",
        "patternProperties",
    ]) {
        Kind::Object
    } else if has(&[
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "uniqueItems",
    ]) {
        Kind::Array
    } else if has(&[
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    ]) {
        Kind::Number
    } else if has(&["minLength", "maxLength", "pattern", "format"]) {
        match s.get("format").and_then(Value::as_str) {
            Some("int32" | "int64") => Kind::Integer,
            Some("float" | "double") => Kind::Number,
            _ => Kind::String,
        }
    } else {
        Kind::Any
    }
}

/// The schema with `allOf` merged into it and `oneOf`/`anyOf` replaced by their first
/// alternative that is not `null` (merged likewise); borrowed when there is nothing to do.
/// Past [`MAX_DEPTH`] the result is `{}`; `left` bounds the nodes copied.
pub(super) fn flatten<'v>(schema: &'v Value, depth: usize, left: &mut usize) -> Cow<'v, Value> {
    let Some(map) = schema.as_object() else {
        return Cow::Borrowed(schema);
    };
    if !COMPOSITION.iter().any(|k| map.contains_key(*k)) {
        return Cow::Borrowed(schema);
    }
    if depth >= MAX_DEPTH {
        return Cow::Owned(Value::Object(Map::new()));
    }
    let levels = MAX_DEPTH - depth;
    let mut acc = Map::new();
    for (k, v) in map {
        if !COMPOSITION.contains(&k.as_str()) {
            acc.insert(k.clone(), bounded_clone(v, levels, left));
        }
    }
    let mut parts: Vec<&Value> = Vec::new();
    if let Some(all) = map.get("allOf").and_then(Value::as_array) {
        parts.extend(all.iter().take(MAX_PARTS));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alternatives) = map.get(key).and_then(Value::as_array) {
            let first = alternatives
                .iter()
                .find(|a| !null_only(a))
                .or(alternatives.first());
            parts.extend(first);
        }
    }
    for part in parts {
        let part = flatten(part, depth + 1, left);
        merge(&mut acc, &part, levels, left);
    }
    Cow::Owned(Value::Object(acc))
}

/// Whether a schema admits nothing but `null` (or nothing at all).
fn null_only(schema: &Value) -> bool {
    match schema {
        Value::Bool(b) => !b,
        Value::Object(s) => {
            kind(schema) == Kind::Null
                || s.get("const").is_some_and(Value::is_null)
                || s.get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|e| !e.is_empty() && e.iter().all(Value::is_null))
        }
        _ => false,
    }
}

/// Merges one `allOf` part into `acc`: properties and `required` unioned (a property both
/// describe must satisfy both), `additionalProperties: false` kept from either, bounds
/// tightened, any other keyword taken from whichever says it first.
fn merge(acc: &mut Map<String, Value>, part: &Value, levels: usize, left: &mut usize) {
    let Some(part) = part.as_object() else {
        return;
    };
    for (k, v) in part {
        match k.as_str() {
            "properties" => {
                let Some(props) = v.as_object() else {
                    continue;
                };
                let target = acc
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !target.is_object() {
                    *target = Value::Object(Map::new());
                }
                let Some(target) = target.as_object_mut() else {
                    continue;
                };
                for (name, schema) in props {
                    let schema = bounded_clone(schema, levels, left);
                    match target.get_mut(name) {
                        Some(old) => {
                            let old = std::mem::take(old);
                            target.insert(
                                name.clone(),
                                Value::Object(Map::from_iter([(
                                    "allOf".to_owned(),
                                    Value::Array(vec![old, schema]),
                                )])),
                            );
                        }
                        None => {
                            target.insert(name.clone(), schema);
                        }
                    }
                }
            }
            "required" => {
                let Some(names) = v.as_array() else {
                    continue;
                };
                let target = acc
                    .entry("required")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = target {
                    for n in names.iter().filter(|n| n.is_string()) {
                        if !list.contains(n) {
                            list.push(n.clone());
                        }
                    }
                }
            }
            "additionalProperties" | "unevaluatedProperties" if *v == Value::Bool(false) => {
                acc.insert(k.clone(), Value::Bool(false));
            }
            "minLength" | "minimum" | "minItems" | "minProperties" => tighten(acc, k, v, f64::max),
            "maxLength" | "maximum" | "maxItems" | "maxProperties" => tighten(acc, k, v, f64::min),
            _ => {
                if !acc.contains_key(k) {
                    acc.insert(k.clone(), bounded_clone(v, levels, left));
                }
            }
        }
    }
}

fn tighten(acc: &mut Map<String, Value>, key: &str, new: &Value, pick: fn(f64, f64) -> f64) {
    let Some(b) = new.as_f64() else {
        return;
    };
    match acc.get(key).and_then(Value::as_f64) {
        Some(a) if pick(a, b) == a => {}
        _ => {
            acc.insert(key.to_owned(), new.clone());
        }
    }
}

/// A copy of at most `levels` levels of `v`, charged to `left`; what is cut becomes `null`.
/// (`Value::clone` recurses as deep as the value goes, which a hostile schema makes deep.)
fn bounded_clone(v: &Value, levels: usize, left: &mut usize) -> Value {
    if levels == 0 || *left == 0 {
        return Value::Null;
    }
    *left -= 1;
    match v {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, x) in map {
                if *left == 0 {
                    break;
                }
                out.insert(k.clone(), bounded_clone(x, levels - 1, left));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for x in items {
                if *left == 0 {
                    break;
                }
                out.push(bounded_clone(x, levels - 1, left));
            }
            Value::Array(out)
        }
        scalar => scalar.clone(),
    }
}

/// What the enclosing schema knows about a value being built.
#[derive(Clone, Copy)]
struct Hint<'n> {
    /// The value must be present (a required property, an array item, the whole body).
    required: bool,
    /// The property name, for the password, email and URL heuristics.
    name: Option<&'n str>,
    /// Which of several values to build (items of a `uniqueItems` array differ by it).
    variant: usize,
}

struct Gen {
    /// Nodes still allowed.
    left: usize,
    rng: Rng,
    /// Where pattern classes start picking characters, so pattern strings differ per call.
    offset: usize,
}

impl Gen {
    fn value(&mut self, schema: &Value, depth: usize, hint: Hint<'_>) -> Value {
        if depth > MAX_DEPTH || self.left == 0 {
            return Value::Null;
        }
        self.left -= 1;
        let flat = flatten(schema, depth, &mut self.left);
        let Some(s) = flat.as_object() else {
            // `true` (or a schema cut short): anything goes; an object is the likeliest body.
            return Value::Object(Map::new());
        };
        let levels = MAX_DEPTH.saturating_sub(depth);
        if let Some(c) = s.get("const") {
            return bounded_clone(c, levels, &mut self.left);
        }
        if let Some(Value::Array(values)) = s.get("enum")
            && !values.is_empty()
        {
            let choices: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
            if choices.is_empty() {
                return Value::Null;
            }
            let pick = choices[hint.variant % choices.len()];
            return bounded_clone(pick, levels, &mut self.left);
        }
        match kind(&flat) {
            Kind::Null => Value::Null,
            Kind::Boolean => {
                suggested(s, Kind::Boolean).unwrap_or(Value::Bool(hint.variant % 2 == 1))
            }
            k @ (Kind::Integer | Kind::Number) => {
                suggested(s, k).unwrap_or_else(|| number(s, k == Kind::Integer, hint.variant))
            }
            Kind::String => Value::String(self.string(s, hint)),
            Kind::Array => self.array(s, depth, hint),
            Kind::Object => self.object(s, depth),
            Kind::Any => Value::Object(Map::new()),
        }
    }

    fn object(&mut self, s: &Map<String, Value>, depth: usize) -> Value {
        let empty = Map::new();
        let props = s
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let required: Vec<&str> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let extra = s.get("additionalProperties");
        let closed = matches!(extra, Some(Value::Bool(false)))
            || matches!(s.get("unevaluatedProperties"), Some(Value::Bool(false)));
        let writable = |name: &str| props.get(name).is_some_and(|p| !read_only(p));
        let mut names: Vec<&str> = if required.is_empty() {
            props
                .keys()
                .map(String::as_str)
                .filter(|n| writable(n))
                .collect()
        } else {
            let mut names: Vec<&str> = props
                .keys()
                .map(String::as_str)
                .filter(|n| required.contains(n) && writable(n))
                .collect();
            if !closed {
                names.extend(required.iter().filter(|n| !props.contains_key(**n)));
            }
            names
        };
        if let Some(min) = s.get("minProperties").and_then(Value::as_u64) {
            for n in props.keys() {
                if names.len() as u64 >= min {
                    break;
                }
                if !names.contains(&n.as_str()) && writable(n) {
                    names.push(n);
                }
            }
        }
        if required.is_empty()
            && let Some(max) = s.get("maxProperties").and_then(Value::as_u64)
        {
            names.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        }
        let extra_schema = match extra {
            Some(e @ Value::Object(_)) => e,
            _ => &ANY,
        };
        let mut out = Map::new();
        let mut passphrase: Option<String> = None;
        for name in names {
            let schema = props.get(name).unwrap_or(extra_schema);
            let hint = Hint {
                required: required.contains(&name),
                name: Some(name),
                variant: 0,
            };
            let mut v = self.value(schema, depth + 1, hint);
            if password_like(&name.to_ascii_lowercase())
                && schema.get("const").is_none()
                && schema.get("enum").is_none()
                && let Value::String(p) = &v
            {
                match &passphrase {
                    Some(first) if length_fits(schema, first) => v = Value::String(first.clone()),
                    Some(_) => {}
                    None => passphrase = Some(p.clone()),
                }
            }
            out.insert(name.to_owned(), v);
        }
        Value::Object(out)
    }

    fn array(&mut self, s: &Map<String, Value>, depth: usize, hint: Hint<'_>) -> Value {
        let min = s.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        let mut n = if min > 0 {
            min
        } else {
            u64::from(hint.required)
        };
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
            n = n.min(max);
        }
        // 3.1 tuples are `prefixItems`; draft 4 (Swagger 2, 3.0) wrote them as an `items` list.
        let prefix: &[Value] = match (s.get("prefixItems"), s.get("items")) {
            (Some(Value::Array(p)), _) | (None, Some(Value::Array(p))) => p,
            _ => &[],
        };
        let items = match s.get("items") {
            Some(i @ (Value::Object(_) | Value::Bool(_))) => i,
            _ => &ANY,
        };
        if *items == Value::Bool(false) {
            n = n.min(prefix.len() as u64);
        }
        let unique = s.get("uniqueItems") == Some(&Value::Bool(true));
        let mut out = Vec::new();
        for i in 0..usize::try_from(n.min(MAX_ITEMS)).unwrap_or(0) {
            let schema = prefix.get(i).unwrap_or(items);
            let hint = Hint {
                required: true,
                name: None,
                variant: if unique { i } else { hint.variant },
            };
            out.push(self.value(schema, depth + 1, hint));
        }
        Value::Array(out)
    }

    fn string(&mut self, s: &Map<String, Value>, hint: Hint<'_>) -> String {
        let min = s.get("minLength").and_then(Value::as_u64).map_or(0, |m| {
            usize::try_from(m).unwrap_or(MAX_STRING).min(MAX_STRING)
        });
        let max = s
            .get("maxLength")
            .and_then(Value::as_u64)
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX));
        let format = s
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let name = hint.name.map(str::to_ascii_lowercase);
        let name = name.as_deref().unwrap_or("");
        let password = format == "password" || password_like(name);
        let email = matches!(format.as_str(), "email" | "idn-email")
            || (format.is_empty() && name.ends_with("email"));
        if !(password || email || format == "uuid")
            && let Some(Value::String(v)) = suggested(s, Kind::String)
        {
            return v;
        }
        if password {
            return self.passphrase(min, max);
        }
        if email {
            return self.email(min, max);
        }
        match format.as_str() {
            "uri" | "url" | "iri" | "uri-reference" | "iri-reference" => self.url(min, max),
            "date-time" => {
                let (date, time) = now();
                format!("{date}T{time}Z")
            }
            "date" => now().0,
            "time" => format!("{}Z", now().1),
            "uuid" => self.uuid(),
            "ipv4" => "192.0.2.1".into(),
            "ipv6" => "2001:db8::1".into(),
            "hostname" | "idn-hostname" => "example.com".into(),
            // Base64 of "rampart-scan".
            "byte" => "cmFtcGFydC1zY2Fu".into(),
            "duration" => "PT1M".into(),
            "json-pointer" => "/rampart-scan".into(),
            "relative-json-pointer" => "0".into(),
            "regex" => "^rampart-scan$".into(),
            "uri-template" => "https://example.com/rampart-scan/{id}".into(),
            _ if format.is_empty() && URL_NAME_ENDINGS.iter().any(|e| name.ends_with(e)) => {
                self.url(min, max)
            }
            _ => s
                .get("pattern")
                .and_then(Value::as_str)
                .and_then(|p| self.pattern(p, min, max))
                .unwrap_or_else(|| self.plain(min, max)),
        }
    }

    /// `rampart-scan-<hex>`, or random hex when that is too long, padded to `min`.
    fn plain(&mut self, min: usize, max: Option<usize>) -> String {
        let mut s = format!("rampart-scan-{}", self.rng.hex(8));
        if let Some(max) = max
            && s.len() > max
        {
            s = self.rng.hex(max.min(MAX_STRING));
        }
        if s.len() < min {
            let pad = self.rng.hex(min - s.len());
            s.push_str(&pad);
        }
        s
    }

    /// `rampart-scan-<hex>@example.com`: a new address each time, so registering it works.
    fn email(&mut self, min: usize, max: Option<usize>) -> String {
        const DOMAIN: &str = "@example.com";
        let mut local = format!("rampart-scan-{}", self.rng.hex(16));
        if let Some(max) = max
            && local.len() + DOMAIN.len() > max
        {
            local = self.rng.hex(max.saturating_sub(DOMAIN.len()).max(1));
        }
        // A local part has at most 64 characters.
        let want = min.saturating_sub(DOMAIN.len()).min(64);
        if local.len() < want {
            let pad = self.rng.hex(want - local.len());
            local.push_str(&pad);
        }
        format!("{local}{DOMAIN}")
    }

    fn url(&mut self, min: usize, max: Option<usize>) -> String {
        let mut u = String::from("https://example.com/rampart-scan");
        if let Some(max) = max
            && u.len() > max
        {
            u = String::from("https://example.com");
            u.truncate(max);
        }
        if u.len() < min {
            u.push('-');
            let pad = self.rng.hex(min.saturating_sub(u.len()));
            u.push_str(&pad);
        }
        u
    }

    /// Words, two-digit numbers and spaces, at least 24 characters when `max` allows: strong
    /// against any strength rule and never a common password.
    fn passphrase(&mut self, min: usize, max: Option<usize>) -> String {
        const WORDS: &[&str] = &[
            "amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo",
            "juniper", "kestrel", "lumen", "meadow", "nimbus", "onyx", "prairie", "quartz",
            "raven", "sierra", "tundra", "umber", "velvet", "willow", "xenon", "yonder", "zephyr",
            "copper", "lantern", "orbit", "pebble", "saffron", "thistle",
        ];
        let target = min.max(24).min(max.unwrap_or(usize::MAX)).min(MAX_STRING);
        let mut s = String::new();
        while s.len() < target {
            let r = self.rng.next_u32() as usize;
            let word = WORDS[r % WORDS.len()];
            if s.is_empty() {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    s.push(first.to_ascii_uppercase());
                    s.push_str(chars.as_str());
                }
            } else {
                s.push(' ');
                s.push_str(word);
            }
            let _ = write!(s, " {}", (r >> 16) % 90 + 10);
        }
        s.truncate(target);
        while s.ends_with(' ') {
            s.pop();
        }
        while s.len() < target {
            let digit = (self.rng.next_u32() % 10) as u8;
            s.push(char::from(b'0' + digit));
        }
        s
    }

    /// A random version 4 UUID.
    fn uuid(&mut self) -> String {
        let mut b = self.rng.block();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let mut s = String::with_capacity(36);
        for (i, byte) in b[..16].iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            let _ = write!(s, "{byte:02x}");
        }
        s
    }

    /// A string matching `pattern`, about `min.max(8)` characters long (within `max`); `None`
    /// when the pattern uses what [`Pattern`] does not understand.
    fn pattern(&mut self, pattern: &str, min: usize, max: Option<usize>) -> Option<String> {
        let pattern = Pattern::parse(pattern)?;
        let target = min.max(8).min(max.unwrap_or(usize::MAX));
        let (base, len) = pattern.generate(0, self.offset)?;
        if len >= target {
            return Some(base);
        }
        let (grown, grown_len) = pattern.generate(target - len, self.offset)?;
        Some(if max.is_some_and(|m| grown_len > m) {
            base
        } else {
            grown
        })
    }
}

/// A valid `default`, `example` or first `examples` entry of a scalar schema.
fn suggested(s: &Map<String, Value>, kind: Kind) -> Option<Value> {
    let first_example = s
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first());
    [s.get("default"), s.get("example"), first_example]
        .into_iter()
        .flatten()
        .find(|v| fits(v, kind, s))
        .cloned()
}

/// Whether a scalar fits the schema's type and bounds (patterns are taken on trust).
fn fits(v: &Value, kind: Kind, s: &Map<String, Value>) -> bool {
    match kind {
        Kind::Boolean => v.is_boolean(),
        Kind::Integer => v
            .as_f64()
            .is_some_and(|x| x.fract() == 0.0 && in_bounds(x, s)),
        Kind::Number => v.as_f64().is_some_and(|x| in_bounds(x, s)),
        Kind::String => v.as_str().is_some_and(|t| length_fits_map(s, t)),
        _ => false,
    }
}

fn length_fits(schema: &Value, text: &str) -> bool {
    schema.as_object().is_none_or(|s| length_fits_map(s, text))
}

fn length_fits_map(s: &Map<String, Value>, text: &str) -> bool {
    let n = text.chars().count() as u64;
    s.get("minLength")
        .and_then(Value::as_u64)
        .is_none_or(|m| n >= m)
        && s.get("maxLength")
            .and_then(Value::as_u64)
            .is_none_or(|m| n <= m)
}

/// Numeric bounds: `minimum`/`maximum`, 3.0's boolean and 3.1's numeric exclusive bounds.
struct Bounds {
    lo: Option<f64>,
    lo_exclusive: bool,
    hi: Option<f64>,
    hi_exclusive: bool,
    step: Option<f64>,
}

impl Bounds {
    fn of(s: &Map<String, Value>) -> Self {
        let num = |k: &str| s.get(k).and_then(Value::as_f64).filter(|x| x.is_finite());
        let mut b = Bounds {
            lo: num("minimum"),
            lo_exclusive: false,
            hi: num("maximum"),
            hi_exclusive: false,
            step: num("multipleOf").filter(|m| *m > 0.0),
        };
        match s.get("exclusiveMinimum") {
            Some(Value::Bool(true)) => b.lo_exclusive = b.lo.is_some(),
            Some(v) => {
                if let Some(x) = v.as_f64().filter(|x| x.is_finite())
                    && b.lo.is_none_or(|lo| x >= lo)
                {
                    b.lo = Some(x);
                    b.lo_exclusive = true;
                }
            }
            None => {}
        }
        match s.get("exclusiveMaximum") {
            Some(Value::Bool(true)) => b.hi_exclusive = b.hi.is_some(),
            Some(v) => {
                if let Some(x) = v.as_f64().filter(|x| x.is_finite())
                    && b.hi.is_none_or(|hi| x <= hi)
                {
                    b.hi = Some(x);
                    b.hi_exclusive = true;
                }
            }
            None => {}
        }
        b
    }

    fn admits(&self, x: f64) -> bool {
        let above = self
            .lo
            .is_none_or(|lo| if self.lo_exclusive { x > lo } else { x >= lo });
        let below = self
            .hi
            .is_none_or(|hi| if self.hi_exclusive { x < hi } else { x <= hi });
        let multiple = self.step.is_none_or(|m| {
            let q = x / m;
            (q - q.round()).abs() < 1e-9
        });
        above && below && multiple
    }
}

fn in_bounds(x: f64, s: &Map<String, Value>) -> bool {
    Bounds::of(s).admits(x)
}

/// The smallest admissible value from the lower bound up (or 1, or the upper bound down when
/// 1 is too big), stepped by `multipleOf`; `variant` steps further when the bounds allow.
fn number(s: &Map<String, Value>, integer: bool, variant: usize) -> Value {
    let b = Bounds::of(s);
    // Integers step by 1 unless `multipleOf` is itself whole.
    let unit = match b.step {
        Some(m) if !integer || m.fract() == 0.0 => m,
        _ => 1.0,
    };
    let mut x = match (b.lo, b.hi) {
        (Some(lo), _) => {
            let mut x = if b.step.is_some() || integer {
                (lo / unit).ceil() * unit
            } else {
                lo
            };
            if b.lo_exclusive && x <= lo {
                x += unit;
            }
            if !b.admits(x)
                && let Some(hi) = b.hi
                && !integer
                && b.step.is_none()
            {
                // A narrow float interval: its middle.
                x = (lo + hi) / 2.0;
            }
            x
        }
        (None, Some(hi)) => {
            if b.admits(unit) {
                unit
            } else {
                let mut x = (hi / unit).floor() * unit;
                if b.hi_exclusive && x >= hi {
                    x -= unit;
                }
                x
            }
        }
        (None, None) => unit,
    };
    let further = x + unit * variant as f64;
    if variant > 0 && b.admits(further) {
        x = further;
    }
    if (integer || x.fract() == 0.0) && x.abs() < 9.0e15 {
        // Whole and small enough to be exact: an integer literal.
        Value::Number(Number::from(x as i64))
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// Whether a schema (or one of its `allOf` parts) is `readOnly`.
fn read_only(schema: &Value) -> bool {
    let flag = |s: &Value| s.get("readOnly") == Some(&Value::Bool(true));
    flag(schema)
        || schema
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|parts| parts.iter().take(MAX_PARTS).any(flag))
}

/// Names (lower-cased) that hold a password: containing `password`, `passwd` or `passphrase`,
/// or exactly `pwd` or `pass`.
/// Whether a property name (lower case) carries a password; every such field of one body gets
/// the same passphrase.
pub(crate) fn password_like(name: &str) -> bool {
    ["password", "passwd", "passphrase"]
        .iter()
        .any(|p| name.contains(p))
        || matches!(name, "pwd" | "pass")
}

/// Today's date (`YYYY-MM-DD`) and the time of day (`HH:MM:SS`), UTC.
fn now() -> (String, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3_600, rem % 3_600 / 60, rem % 60),
    )
}

/// Random bytes for values that must not collide (emails, uuids, passphrases): the operating
/// system-seeded generator of the `rand` crate, the same one `checks::accounts` makes
/// throw-away passwords with (a passphrase made here can become a real password).
struct Rng(rand::rngs::ThreadRng);

impl Rng {
    fn new() -> Self {
        Rng(rand::rng())
    }

    fn block(&mut self) -> [u8; 32] {
        let mut out = [0; 32];
        self.0.fill_bytes(&mut out);
        out
    }

    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// `n` lower-case hex digits.
    fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n + 64);
        while s.len() < n {
            for byte in self.block() {
                let _ = write!(s, "{byte:02x}");
            }
        }
        s.truncate(n);
        s
    }
}

/// Most atoms one pattern generation visits.
const MAX_STEPS: usize = 100_000;

/// Longest pattern [`Pattern::parse`] reads.
const MAX_PATTERN: usize = 1_000;

/// Characters a class picks from, in order of preference: letters and digits first, so that
/// a string built from a class looks like a word.
const CANDIDATES: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ .@:/+'";

/// A regular expression reduced to what generation needs: alternatives of sequences of
/// quantified atoms. Lookaround, backreferences, flags and POSIX classes are not understood
/// (parsing gives `None`); anchors and word boundaries match nothing and are dropped.
#[derive(Debug)]
struct Pattern(Vec<Vec<Piece>>);

#[derive(Debug)]
struct Piece {
    atom: Atom,
    min: u32,
    max: u32,
}

#[derive(Debug)]
enum Atom {
    Empty,
    Literal(char),
    Class(Class),
    Group(Vec<Vec<Piece>>),
}

#[derive(Debug)]
struct Class {
    negated: bool,
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    Range(char, char),
    Digit(bool),
    Word(bool),
    Space(bool),
    Property(String, bool),
}

impl Item {
    fn matches(&self, c: char) -> bool {
        match self {
            Item::Range(a, b) => (*a..=*b).contains(&c),
            Item::Digit(neg) => c.is_ascii_digit() != *neg,
            Item::Word(neg) => (c.is_ascii_alphanumeric() || c == '_') != *neg,
            Item::Space(neg) => c.is_whitespace() != *neg,
            Item::Property(name, neg) => property(name, c) != *neg,
        }
    }
}

/// Unicode properties `\p{..}` by the names patterns commonly use; unknown ones match nothing.
fn property(name: &str, c: char) -> bool {
    let name = name
        .trim_start_matches("sc=")
        .trim_start_matches("Script=")
        .trim_start_matches("gc=")
        .trim_start_matches("General_Category=");
    match name {
        "L" | "Letter" | "Alphabetic" | "Alpha" | "L&" | "LC" => c.is_alphabetic(),
        "Lu" | "Uppercase_Letter" | "Uppercase" | "Upper" => c.is_uppercase(),
        "Ll" | "Lowercase_Letter" | "Lowercase" | "Lower" => c.is_lowercase(),
        "N" | "Nd" | "Number" | "Decimal_Number" | "Digit" => c.is_numeric(),
        "P" | "Punctuation" => c.is_ascii_punctuation(),
        "Z" | "Zs" | "Separator" | "Space_Separator" => c == ' ',
        "Latin" | "Latn" => c.is_ascii_alphabetic(),
        "ASCII" => c.is_ascii(),
        "Any" => true,
        _ => false,
    }
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.items.iter().any(|i| i.matches(c)) != self.negated
    }

    /// The `n`-th acceptable candidate (cycling), else the start of the first range.
    fn pick(&self, n: usize) -> Option<char> {
        let accepted: Vec<char> = CANDIDATES.chars().filter(|c| self.matches(*c)).collect();
        if !accepted.is_empty() {
            return Some(accepted[n % accepted.len()]);
        }
        if self.negated {
            return None;
        }
        self.items.iter().find_map(|i| match i {
            Item::Range(a, _) => Some(*a),
            _ => None,
        })
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Pattern {
    fn parse(pattern: &str) -> Option<Pattern> {
        if pattern.len() > MAX_PATTERN {
            return None;
        }
        let mut p = Parser {
            chars: pattern.chars().collect(),
            pos: 0,
        };
        let alternatives = p.alternatives(0)?;
        // A stray `)` ends the top level early: not a pattern we understand.
        (p.pos == p.chars.len()).then_some(Pattern(alternatives))
    }

    /// The string and its length in characters; `extra` characters more than the shortest
    /// are added by repeating quantified atoms, first ones first.
    fn generate(&self, extra: usize, offset: usize) -> Option<(String, usize)> {
        let mut out = Build {
            text: String::new(),
            len: 0,
            extra,
            offset,
            steps: MAX_STEPS,
        };
        out.sequence(&self.0)?;
        Some((out.text, out.len))
    }
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn alternatives(&mut self, depth: usize) -> Option<Vec<Vec<Piece>>> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut alternatives = vec![self.sequence(depth)?];
        while self.eat('|') {
            alternatives.push(self.sequence(depth)?);
        }
        Some(alternatives)
    }

    fn sequence(&mut self, depth: usize) -> Option<Vec<Piece>> {
        let mut pieces = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom(depth)?;
            let (min, max) = self.quantifier()?;
            pieces.push(Piece { atom, min, max });
        }
        Some(pieces)
    }

    fn atom(&mut self, depth: usize) -> Option<Atom> {
        match self.next()? {
            '(' => {
                if self.eat('?') && !self.eat(':') {
                    // Only a named group, `(?<name>` or `(?P<name>`, is also just a group;
                    // lookaround, flags and `(?P=name)` are not understood.
                    self.eat('P');
                    if !self.eat('<') || matches!(self.peek(), Some('=' | '!')) {
                        return None;
                    }
                    while self.next()? != '>' {}
                }
                let inner = self.alternatives(depth + 1)?;
                self.eat(')').then_some(Atom::Group(inner))
            }
            '[' => self.class().map(Atom::Class),
            '\\' => self.escape(false),
            '.' => Some(Atom::Class(Class {
                negated: true,
                items: vec![Item::Range('\n', '\n')],
            })),
            '^' | '$' => Some(Atom::Empty),
            '*' | '+' | '?' => None,
            c => Some(Atom::Literal(c)),
        }
    }

    fn quantifier(&mut self) -> Option<(u32, u32)> {
        let (min, max) = if self.eat('*') {
            (0, u32::MAX)
        } else if self.eat('+') {
            (1, u32::MAX)
        } else if self.eat('?') {
            (0, 1)
        } else if self.peek() == Some('{') {
            let start = self.pos;
            self.pos += 1;
            match self.braces() {
                Some(bounds) => bounds,
                None => {
                    // Not a quantifier: a literal `{`, read as the next atom.
                    self.pos = start;
                    return Some((1, 1));
                }
            }
        } else {
            return Some((1, 1));
        };
        // Lazy and possessive forms generate the same strings.
        if !self.eat('?') {
            self.eat('+');
        }
        (min <= max).then_some((min, max))
    }

    fn braces(&mut self) -> Option<(u32, u32)> {
        let min = self.number()?;
        let max = if self.eat(',') {
            if self.peek() == Some('}') {
                u32::MAX
            } else {
                self.number()?
            }
        } else {
            min
        };
        self.eat('}').then_some((min, max))
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits: String = self.chars[start..self.pos].iter().collect();
        digits.parse().ok()
    }

    fn class(&mut self) -> Option<Class> {
        let negated = self.eat('^');
        let mut items = Vec::new();
        loop {
            let c = self.next()?;
            let start = match c {
                ']' => return Some(Class { negated, items }),
                '[' if self.peek() == Some(':') => return None,
                '\\' => match self.escape(true)? {
                    Atom::Literal(c) => c,
                    Atom::Class(inner) => {
                        // `\d`, `\w`, `\s`, `\p{..}` inside a class (never negated as a whole:
                        // each item carries its own negation).
                        items.extend(inner.items);
                        continue;
                    }
                    _ => return None,
                },
                c => c,
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|c| *c != ']') {
                self.pos += 1;
                let end = match self.next()? {
                    '\\' => match self.escape(true)? {
                        Atom::Literal(c) => c,
                        _ => return None,
                    },
                    c => c,
                };
                if end < start {
                    return None;
                }
                items.push(Item::Range(start, end));
            } else {
                items.push(Item::Range(start, start));
            }
        }
    }

    fn escape(&mut self, in_class: bool) -> Option<Atom> {
        let class = |item: Item| {
            Some(Atom::Class(Class {
                negated: false,
                items: vec![item],
            }))
        };
        let c = self.next()?;
        match c {
            'd' => class(Item::Digit(false)),
            'D' => class(Item::Digit(true)),
            'w' => class(Item::Word(false)),
            'W' => class(Item::Word(true)),
            's' => class(Item::Space(false)),
            'S' => class(Item::Space(true)),
            'p' | 'P' => {
                let name = if self.eat('{') {
                    let mut name = String::new();
                    loop {
                        match self.next()? {
                            '}' => break,
                            c => name.push(c),
                        }
                    }
                    name
                } else {
                    self.next()?.to_string()
                };
                class(Item::Property(name, c == 'P'))
            }
            'b' if in_class => Some(Atom::Literal('\u{8}')),
            'b' | 'B' | 'A' | 'z' | 'Z' | 'G' => Some(Atom::Empty),
            'n' => Some(Atom::Literal('\n')),
            't' => Some(Atom::Literal('\t')),
            'r' => Some(Atom::Literal('\r')),
            'f' => Some(Atom::Literal('\u{c}')),
            'v' => Some(Atom::Literal('\u{b}')),
            '0' => Some(Atom::Literal('\0')),
            'x' | 'u' => {
                let digits: String = if self.eat('{') {
                    let mut d = String::new();
                    loop {
                        match self.next()? {
                            '}' => break,
                            c => d.push(c),
                        }
                    }
                    d
                } else {
                    let n = if c == 'x' { 2 } else { 4 };
                    (0..n).map(|_| self.next()).collect::<Option<String>>()?
                };
                let code = u32::from_str_radix(&digits, 16).ok()?;
                char::from_u32(code).map(Atom::Literal)
            }
            // Backreferences, named references and unknown letter escapes.
            c if c.is_ascii_alphanumeric() => None,
            c => Some(Atom::Literal(c)),
        }
    }
}

/// The string being generated from a [`Pattern`].
struct Build {
    text: String,
    /// Its length in characters.
    len: usize,
    /// Characters still to add beyond the shortest match.
    extra: usize,
    /// Where classes start picking (see [`Class::pick`]).
    offset: usize,
    /// Atoms still allowed (`(?:){9999}` repeated adds nothing but costs).
    steps: usize,
}

impl Build {
    /// The first alternative.
    fn sequence(&mut self, alternatives: &[Vec<Piece>]) -> Option<()> {
        for piece in alternatives.first()? {
            for _ in 0..piece.min.min(MAX_STRING as u32) {
                self.atom(&piece.atom)?;
            }
            let mut count = piece.min;
            while self.extra > 0 && count < piece.max {
                let before = self.len;
                self.atom(&piece.atom)?;
                let added = self.len - before;
                if added == 0 {
                    break;
                }
                self.extra = self.extra.saturating_sub(added);
                count += 1;
            }
        }
        Some(())
    }

    fn atom(&mut self, atom: &Atom) -> Option<()> {
        if self.len >= MAX_STRING || self.steps == 0 {
            return None;
        }
        self.steps -= 1;
        match atom {
            Atom::Empty => {}
            Atom::Literal(c) => self.push(*c),
            Atom::Class(class) => {
                let c = class.pick(self.offset.wrapping_add(self.len))?;
                self.push(c);
            }
            Atom::Group(alternatives) => self.sequence(alternatives)?,
        }
        Some(())
    }

    fn push(&mut self, c: char) {
        self.text.push(c);
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn string(schema: Value) -> String {
        match example(&schema) {
            Value::String(s) => s,
            other => panic!("{schema} gave {other}"),
        }
    }

    #[test]
    fn objects_carry_required_writable_properties_and_nothing_else() {
        let schema = json!({
            "type": "object",
            "properties": {
                "id": { "type": "string", "readOnly": true },
                "name": { "type": "string" },
                "age": { "type": "integer", "minimum": 18 },
                "nickname": { "type": "string" }
            },
            "required": ["id", "name", "age"],
            "additionalProperties": false
        });
        let v = example(&schema);
        assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
        assert_eq!(v["age"], 18);
        assert!(v["name"].as_str().unwrap().starts_with("rampart-scan-"));

        // Without `required`: every property that is not read-only.
        let v = example(&json!({
            "properties": {
                "id": { "type": "integer", "readOnly": true },
                "a": { "type": "boolean" },
                "b": { "type": "array", "items": { "type": "string" } },
                "c": { "allOf": [{ "readOnly": true }] }
            },
            "required": []
        }));
        assert_eq!(v, json!({ "a": false, "b": [] }));

        // A required name the schema does not describe: sent, unless the object is closed.
        let open = json!({ "type": "object", "required": ["x"], "additionalProperties": { "type": "integer" } });
        assert_eq!(example(&open), json!({ "x": 1 }));
        let closed = json!({ "type": "object", "required": ["x"], "additionalProperties": false });
        assert_eq!(example(&closed), json!({}));
        let few = json!({ "type": "object", "properties": { "a": {"type": "null"}, "b": {"type": "null"} }, "required": ["a"], "minProperties": 2 });
        assert_eq!(example(&few), json!({ "a": null, "b": null }));
    }

    #[test]
    fn passwords_are_long_random_passphrases_and_confirmations_match() {
        let schema = json!({
            "type": "object",
            "properties": {
                "password": { "type": "string" },
                "password_confirmation": { "type": "string" },
                "newPassword": { "type": "string", "minLength": 40, "maxLength": 64 },
                "secret": { "type": "string", "format": "password", "maxLength": 12 }
            }
        });
        let v = example(&schema);
        let password = v["password"].as_str().unwrap();
        assert!(password.len() >= 16, "{password:?}");
        assert!(password.contains(' '));
        assert!(password.chars().any(|c| c.is_ascii_digit()));
        assert!(password.chars().any(|c| c.is_ascii_alphabetic()));
        assert_eq!(v["password_confirmation"], v["password"]);
        let long = v["newPassword"].as_str().unwrap();
        assert!((40..=64).contains(&long.len()), "{long:?}");
        assert!(!long.ends_with(' '));
        assert_eq!(v["secret"].as_str().unwrap().len(), 12);
        assert_ne!(example(&schema)["password"], v["password"]);
    }

    #[test]
    fn strings_follow_formats_and_lengths() {
        let email = string(json!({ "type": "string", "format": "email" }));
        let local = email.strip_suffix("@example.com").unwrap();
        let hex = local.strip_prefix("rampart-scan-").unwrap();
        assert!(hex.len() >= 8 && hex.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(
            email,
            string(json!({ "type": "string", "format": "email" }))
        );
        let short = string(json!({ "type": "string", "format": "email", "maxLength": 20 }));
        assert!(
            short.len() <= 20 && short.ends_with("@example.com"),
            "{short}"
        );
        let named = example(&json!({ "properties": { "contact_email": { "type": "string" } } }));
        assert!(
            named["contact_email"]
                .as_str()
                .unwrap()
                .ends_with("@example.com")
        );

        let uuid = string(json!({ "type": "string", "format": "uuid" }));
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&uuid[14..15], "4");
        assert!("89ab".contains(&uuid[19..20]));
        assert_ne!(uuid, string(json!({ "format": "uuid" })));

        let now = string(json!({ "type": "string", "format": "date-time" }));
        let b = now.as_bytes();
        assert_eq!(now.len(), 20, "{now}");
        assert_eq!(
            (b[4], b[7], b[10], b[13], b[16], b[19]),
            (b'-', b'-', b'T', b':', b':', b'Z')
        );
        assert!(now.as_str() > "2025-01-01T00:00:00Z");
        assert_eq!(string(json!({ "format": "date" })), now[..10]);
        assert_eq!(
            string(json!({ "type": "string", "format": "ipv4" })),
            "192.0.2.1"
        );
        assert_eq!(
            string(json!({ "type": "string", "format": "hostname" })),
            "example.com"
        );
        let url = json!({ "type": "string", "format": "uri" });
        assert_eq!(string(url), "https://example.com/rampart-scan");
        let long_url = string(json!({ "type": "string", "format": "url", "minLength": 50 }));
        assert!(long_url.starts_with("https://example.com/rampart-scan-") && long_url.len() == 50);
        let named = example(&json!({ "properties": { "callback_url": { "type": "string" } } }));
        assert_eq!(named["callback_url"], "https://example.com/rampart-scan");

        let padded = string(json!({ "type": "string", "minLength": 40 }));
        assert_eq!(padded.len(), 40);
        assert!(padded.starts_with("rampart-scan-"));
        assert_eq!(string(json!({ "type": "string", "maxLength": 5 })).len(), 5);
        assert_eq!(string(json!({ "type": "string", "maxLength": 0 })), "");
    }

    #[test]
    fn const_enum_default_and_examples_are_used_when_valid() {
        let check = |schema: Value, expected: Value| {
            assert_eq!(example(&schema), expected, "{schema}");
        };
        check(json!({ "const": "fixed" }), json!("fixed"));
        check(json!({ "type": "string", "enum": ["a", "b"] }), json!("a"));
        check(
            json!({ "type": ["string", "null"], "enum": [null, "b"] }),
            json!("b"),
        );
        check(json!({ "enum": [null] }), json!(null));
        check(
            json!({ "type": "integer", "default": 7, "maximum": 10 }),
            json!(7),
        );
        check(
            json!({ "type": "integer", "default": 70, "maximum": 10 }),
            json!(1),
        );
        check(json!({ "type": "integer", "default": "7" }), json!(1));
        check(
            json!({ "type": "string", "example": "hello" }),
            json!("hello"),
        );
        check(
            json!({ "type": "string", "examples": ["hi", "ho"] }),
            json!("hi"),
        );
        let long = example(&json!({ "type": "string", "example": "far too long", "maxLength": 3 }));
        assert_eq!(
            long.as_str().map(str::len),
            Some(3),
            "an example that does not fit is not used"
        );
        check(json!({ "type": "boolean", "default": true }), json!(true));
        check(json!({ "type": "boolean" }), json!(false));
        check(json!({ "type": "null" }), json!(null));
        check(json!({ "type": ["null", "integer"] }), json!(1));
        check(json!({ "type": "integer", "nullable": true }), json!(1));
        check(json!({}), json!({}));
        check(json!(true), json!({}));
        let fresh = example(&json!({ "type": "string", "format": "email", "example": "a@b.c" }));
        assert_ne!(
            fresh, "a@b.c",
            "emails must be new, not the documented example"
        );
    }

    #[test]
    fn numbers_respect_bounds_and_steps() {
        let check = |schema: Value, expected: Value| {
            assert_eq!(example(&schema), expected, "{schema}");
        };
        check(json!({ "type": "integer" }), json!(1));
        check(
            json!({ "type": "integer", "minimum": 5, "maximum": 9 }),
            json!(5),
        );
        check(json!({ "type": "integer", "maximum": -3 }), json!(-3));
        check(
            json!({ "type": "integer", "maximum": 0, "exclusiveMaximum": true }),
            json!(-1),
        );
        check(
            json!({ "type": "integer", "exclusiveMaximum": 0 }),
            json!(-1),
        );
        check(
            json!({ "type": "integer", "minimum": 5, "exclusiveMinimum": true }),
            json!(6),
        );
        check(
            json!({ "type": "integer", "exclusiveMinimum": 5 }),
            json!(6),
        );
        check(
            json!({ "type": "integer", "minimum": 3, "multipleOf": 5 }),
            json!(5),
        );
        check(json!({ "type": "integer", "multipleOf": 10 }), json!(10));
        check(json!({ "type": "integer", "minimum": 1.5 }), json!(2));
        check(json!({ "type": "number", "minimum": 0.5 }), json!(0.5));
        check(
            json!({ "type": "number", "minimum": 0, "maximum": 0.5, "exclusiveMinimum": true }),
            json!(0.25),
        );
        check(
            json!({ "type": "number", "minimum": 0.2, "multipleOf": 0.25 }),
            json!(0.25),
        );
        check(json!({ "minimum": 100 }), json!(100));
        check(json!({ "type": "integer", "minimum": 1e20 }), json!(1e20));
        let unique = json!({ "type": "array", "minItems": 3, "uniqueItems": true, "items": { "type": "integer", "minimum": 1, "maximum": 2 } });
        assert_eq!(
            example(&unique),
            json!([1, 2, 1]),
            "best effort within the bounds"
        );
        let unique = json!({ "type": "array", "minItems": 3, "uniqueItems": true, "items": { "enum": ["x", "y", "z"] } });
        assert_eq!(example(&unique), json!(["x", "y", "z"]));
    }

    #[test]
    fn arrays_have_min_items_or_one_when_required() {
        let check = |schema: Value, expected: usize| {
            let v = example(&schema);
            assert_eq!(v.as_array().map(Vec::len), Some(expected), "{schema}: {v}");
        };
        let items = json!({ "type": "string" });
        check(json!({ "type": "array", "items": items }), 1);
        check(json!({ "type": "array", "items": items, "minItems": 3 }), 3);
        check(json!({ "type": "array", "items": items, "maxItems": 0 }), 0);
        check(
            json!({ "type": "array", "minItems": 1000000 }),
            MAX_ITEMS as usize,
        );
        check(
            json!({ "type": "array", "prefixItems": [{ "type": "integer" }], "items": false, "minItems": 2 }),
            1,
        );
        let v = example(&json!({
            "type": "object",
            "properties": { "tags": { "type": "array", "items": items }, "ids": { "type": "array", "items": { "format": "uuid" } } },
            "required": ["tags"]
        }));
        assert_eq!(v["tags"].as_array().map(Vec::len), Some(1));
        assert!(v.get("ids").is_none());
        let tuple = example(
            &json!({ "type": "array", "prefixItems": [{ "type": "integer" }, { "type": "boolean" }], "minItems": 2 }),
        );
        assert_eq!(tuple, json!([1, false]));
    }

    #[test]
    fn all_of_is_merged_and_one_of_takes_the_first_non_null_alternative() {
        let schema = json!({
            "allOf": [
                { "type": "object", "properties": { "a": { "type": "string", "maxLength": 10 } }, "required": ["a"] },
                { "properties": { "b": { "type": "integer", "minimum": 4 }, "a": { "minLength": 12 } }, "required": ["b"], "additionalProperties": false },
                { "properties": { "c": { "type": "boolean" } } }
            ]
        });
        let mut left = BUDGET;
        let flat = flatten(&schema, 0, &mut left);
        assert_eq!(flat["required"], json!(["a", "b"]));
        assert_eq!(flat["additionalProperties"], json!(false));
        assert_eq!(flat["type"], "object");
        let v = example(&schema);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(v["b"], 4);
        // Both parts' bounds apply to `a`: the merge tightens (unsatisfiable here, so the
        // shorter bound wins as far as it can).
        let a = v["a"].as_str().unwrap();
        assert!(a.len() <= 10 || a.len() >= 12, "{a}");

        let bounds = json!({ "allOf": [{ "type": "integer", "minimum": 2, "maximum": 100 }, { "minimum": 7, "maximum": 50 }] });
        assert_eq!(example(&bounds), json!(7));

        let target = json!({ "oneOf": [{ "type": "null" }, { "type": "object", "properties": { "id": { "type": "string", "format": "uuid" } }, "required": ["id"] }] });
        assert_eq!(example(&target)["id"].as_str().map(str::len), Some(36));
        let any = json!({ "anyOf": [{ "type": "integer", "minimum": 3 }, { "type": "string" }] });
        assert_eq!(example(&any), json!(3));
        let sibling = json!({ "type": "object", "properties": { "kind": { "const": "a" }, "x": { "type": "integer" } }, "oneOf": [{ "required": ["kind"] }, { "required": ["x"] }] });
        assert_eq!(example(&sibling), json!({ "kind": "a" }));
        let nested = json!({ "allOf": [{ "allOf": [{ "oneOf": [{ "type": "string", "format": "ipv4" }] }] }] });
        assert_eq!(example(&nested), "192.0.2.1");
    }

    #[test]
    fn simple_patterns_are_matched() {
        let check = |pattern: &str, min: u64, ok: &dyn Fn(&str) -> bool| {
            let s = string(json!({ "type": "string", "pattern": pattern, "minLength": min }));
            assert!(ok(&s), "{pattern:?} gave {s:?}");
        };
        check("^[a-z]+$", 0, &|s| {
            s.len() == 8 && s.chars().all(|c| c.is_ascii_lowercase())
        });
        check("^(?:[a-z ]+)$", 12, &|s| {
            s.len() == 12 && s.chars().all(|c| c.is_ascii_lowercase() || c == ' ')
        });
        check("^[0-9a-f]{64}$", 0, &|s| {
            s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
        });
        check("^\\d{3}-\\d{4}$", 0, &|s| {
            let b = s.as_bytes();
            s.len() == 8 && b[3] == b'-' && s.replace('-', "").chars().all(|c| c.is_ascii_digit())
        });
        check("^[\\p{L}\\p{M}' -]+$", 1, &|s| {
            !s.is_empty() && s.chars().all(|c| c.is_alphabetic() || "' -".contains(c))
        });
        check("^[A-Z]{2}[0-9]?$", 0, &|s| {
            s.len() == 3
                && s[..2].chars().all(|c| c.is_ascii_uppercase())
                && s.as_bytes()[2].is_ascii_digit()
        });
        check("^(foo|bar)-v[0-9]{2,4}\\.json$", 0, &|s| {
            s.starts_with("foo-v") && s.ends_with(".json") && (12..=14).contains(&s.len())
        });
        check("^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$", 0, &|s| {
            let (local, domain) = s.split_once('@').unwrap_or_default();
            !local.is_empty() && domain.contains('.') && !s.contains(' ')
        });
        check("^ID_\\w{4}$", 0, &|s| s.len() == 7 && s.starts_with("ID_"));
        check("^a{2}\\{x\\}$", 0, &|s| s == "aa{x}");
        check("^x{,3}$", 0, &|s| s.starts_with("x{,3}"));
        check("^\\u0041\\x42(?<name>c)$", 0, &|s| s == "ABc");
        // Not understood: a plausible string instead.
        check("^(?=.*[A-Z])\\w+$", 0, &|s| s.starts_with("rampart-scan-"));
        check("^(a)\\1$", 0, &|s| s.starts_with("rampart-scan-"));
        check("[[:alpha:]]", 0, &|s| s.starts_with("rampart-scan-"));
        check("^((((a*)*)*)*){99999}$", 0, &|s| !s.is_empty());
        check("(", 0, &|s| s.starts_with("rampart-scan-"));
        check("a)", 0, &|s| s.starts_with("rampart-scan-"));
        // A format wins over a pattern it already satisfies.
        let url = json!({ "type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s\\\\]+" });
        assert_eq!(string(url), "https://example.com/rampart-scan");
    }

    #[test]
    fn kinds_come_from_type_or_keywords() {
        let check = |schema: Value, expected: Kind| assert_eq!(kind(&schema), expected, "{schema}");
        check(json!({ "type": "string" }), Kind::String);
        check(json!({ "type": ["null", "array"] }), Kind::Array);
        check(json!({ "type": ["null"] }), Kind::Null);
        check(json!({ "type": [] }), Kind::Any);
        check(json!({ "type": "file" }), Kind::String);
        check(json!({ "properties": {} }), Kind::Object);
        check(json!({ "items": {} }), Kind::Array);
        check(json!({ "maximum": 3 }), Kind::Number);
        check(json!({ "format": "int64" }), Kind::Integer);
        check(json!({ "pattern": "x" }), Kind::String);
        check(json!({ "description": "x" }), Kind::Any);
        check(json!(false), Kind::Any);
    }
}
