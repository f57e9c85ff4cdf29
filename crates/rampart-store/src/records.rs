//! Records of declared collections: one table per collection, shaped by its declaration.
//!
//! Unlike the account tables, these statements are assembled at run time, because their
//! tables and columns come from configuration. What keeps that safe:
//!
//! - **Identifiers** come only from [`CollectionName`] and [`FieldName`], whose `parse` admits
//!   `[a-z][a-z0-9_]{0,39}` and nothing else, and are always double-quoted behind a prefix
//!   (`"c_<collection>"`, `"f_<field>"`), so a declared name can be neither a keyword nor a
//!   server-managed column. Request data never becomes an identifier. Every field a statement
//!   mentions must also be declared ([`Sql::column`]): SQLite reads a double-quoted name that
//!   matches no column as a string literal, so an unknown field must fail before it gets there.
//! - **Values** are always bound parameters: the only way a value reaches a statement is
//!   [`Sql::bind`], which appends it to the bind list and returns a `$n` placeholder.
//! - **Object-level access** is part of every statement's `WHERE`: the caller's `visible` or
//!   `allowed` [`Predicate`] is rendered next to the id or filters, so a row the caller may not
//!   touch is never returned, changed or deleted, and a lookup cannot tell it from a missing
//!   one.
//!
//! Both backends run the same text. The few differences (a column type, the substring function,
//! the catalogue query) are chosen by [`BackendKind`], never by string surgery.
//!
//! (Declared in `lib.rs` after `with_pool!` and `WritePool`, which it uses.)

use std::collections::BTreeMap;

use rampart_core::collections::rule::Predicate;
use rampart_core::collections::schema::{
    CollectionName, CollectionSpec, FieldName, FieldType, ScalarType,
};
use rampart_core::collections::value::Value;
use rampart_core::collections::{Cursor, Filter, ListQuery, Op, Record, Sort};
use rampart_core::domain::{RecordId, UserId};
use sqlx::{AssertSqlSafe, Database, Row};

use crate::{Backend, BackendKind, Store, StoreError, WritePool, map_conflict};

/// The result of [`Store::update_record`].
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    /// The record after the update.
    Updated(Record),
    /// The record exists and the caller may update it, but its version is not the expected
    /// one: someone else updated it first.
    VersionConflict,
    /// No such record, or the caller may not update it (indistinguishable on purpose).
    NotFound,
}

/// Key of the PostgreSQL advisory lock that serializes collection DDL between processes
/// starting at once ("rampart" + 1). SQLite serializes through `BEGIN IMMEDIATE` instead.
const DDL_LOCK_KEY: i64 = 0x7261_6d70_6172_7401;

/// The server-managed columns, in the order every `SELECT` lists them.
const BASE_COLUMNS: &str = "id, owner_id, created_at, updated_at, version";

// ---------------------------------------------------------------------------------------------
// Names.

/// `"c_<collection>"`. The prefix keeps collection tables apart from the account tables.
fn table(name: &CollectionName) -> String {
    format!("\"{}\"", bare_table(name))
}

/// The table's name as the catalogue stores it (for binding into catalogue queries).
fn bare_table(name: &CollectionName) -> String {
    debug_assert!(
        is_identifier(name.as_str()),
        "CollectionName admits only [a-z0-9_]"
    );
    format!("c_{}", name.as_str())
}

/// `"f_<field>"`. The prefix keeps declared fields apart from the server-managed columns.
/// Statements that mention a field from a request go through [`Sql::column`] instead, which
/// also checks that the field is declared.
fn quoted_column(name: &FieldName) -> String {
    format!("\"{}\"", bare_column(name))
}

fn bare_column(name: &FieldName) -> String {
    debug_assert!(
        is_identifier(name.as_str()),
        "FieldName admits only [a-z0-9_]"
    );
    format!("f_{}", name.as_str())
}

/// What [`CollectionName`] and [`FieldName`] guarantee; checked again in debug builds since
/// the safety of every identifier here rests on it.
fn is_identifier(raw: &str) -> bool {
    raw.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// An index name for `(column, id)` on a collection's table.
///
/// Not simply `i_<collection>_<field>`: names may contain `_`, so that form is ambiguous
/// (collection `a` field `b_c` vs collection `a_b` field `c`), and at up to 83 characters it
/// exceeds PostgreSQL's 63, which truncates silently. Since tables and indexes share one
/// namespace on both backends and `CREATE INDEX IF NOT EXISTS` skips on a name clash, either
/// would silently lose an index. So the name is a readable, truncated prefix plus a stable
/// 64-bit hash of the exact (table, column) pair: at most 2 + 20 + 1 + 20 + 1 + 16 = 60
/// characters, never starting with `c_`.
fn index_name(collection: &CollectionName, column: &str) -> String {
    let short = |s: &str| s.chars().take(20).collect::<String>();
    let hash = fnv1a(&[bare_table(collection).as_bytes(), b"\0", column.as_bytes()]);
    format!(
        "\"i_{}_{}_{hash:016x}\"",
        short(collection.as_str()),
        short(column)
    )
}

/// FNV-1a, 64 bits: tiny, and fixed forever (unlike `std`'s hasher), which index names need.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The column type of a field. Booleans are 0/1 integers and arrays JSON text, so that both
/// backends store the same thing; only the float type is spelled differently. Text compares
/// byte-wise on both (SQLite's default; `COLLATE "C"` on PostgreSQL, whose default follows the
/// database's locale), so sorting and `lt`/`gt` filters answer the same everywhere.
fn column_type(kind: BackendKind, ty: &FieldType) -> &'static str {
    match (ty, kind) {
        (FieldType::Integer { .. } | FieldType::Boolean, _) => "BIGINT",
        (FieldType::Number { .. }, BackendKind::Sqlite) => "REAL",
        (FieldType::Number { .. }, BackendKind::Postgres) => "DOUBLE PRECISION",
        // Arrays are JSON text; every other type is text in its normalized form.
        (_, BackendKind::Sqlite) => "TEXT",
        (_, BackendKind::Postgres) => "TEXT COLLATE \"C\"",
    }
}

/// The select list: server-managed columns, then every declared field. Named explicitly (not
/// `*`) so that columns of fields no longer declared are never read.
fn select_list(spec: &CollectionSpec) -> String {
    let mut out = String::from(BASE_COLUMNS);
    for field in &spec.fields {
        out.push_str(", ");
        out.push_str(&quoted_column(&field.name));
    }
    out
}

/// The catalogue query listing a table's columns; the table's name is bound as `$1`.
/// (`column_name` is cast because its type, `sql_identifier`, is not text to sqlx.)
fn columns_query(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Sqlite => "SELECT name FROM pragma_table_info($1)",
        BackendKind::Postgres => {
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = $1 AND table_schema = current_schema()"
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statement building.

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone, PartialEq)]
enum Bind {
    Text(String),
    Int(i64),
    Num(f64),
}

/// The bind for `value` in a column of type `ty` (`None`: no declared type, bound as the
/// value is).
fn bind_value(ty: Option<&FieldType>, value: &Value) -> Bind {
    match value {
        Value::Text(s) => Bind::Text(s.clone()),
        // A whole number compared with or stored in a float column is bound as a float, so
        // PostgreSQL sees matching types.
        Value::Int(i) if matches!(ty, Some(FieldType::Number { .. })) => Bind::Num(*i as f64),
        Value::Int(i) => Bind::Int(*i),
        Value::Num(n) => Bind::Num(*n),
        Value::Bool(b) => Bind::Int(i64::from(*b)),
        Value::List(_) => Bind::Text(value.to_json().to_string()),
    }
}

/// A statement being built: SQL text plus the values of its placeholders, in order.
struct Sql<'a> {
    kind: BackendKind,
    spec: &'a CollectionSpec,
    text: String,
    binds: Vec<Bind>,
    /// The first field mentioned that the collection does not declare (see [`Sql::column`]).
    undeclared: Option<FieldName>,
}

impl<'a> Sql<'a> {
    fn new(kind: BackendKind, spec: &'a CollectionSpec) -> Self {
        Self {
            kind,
            spec,
            text: String::new(),
            binds: Vec::new(),
            undeclared: None,
        }
    }

    /// Appends SQL text: only ever keywords, quoted identifiers and placeholders.
    fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Registers a value and returns its placeholder (for use once or several times).
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    /// Binds a value and appends its placeholder.
    fn push_bind(&mut self, value: Bind) -> &mut Self {
        let placeholder = self.bind(value);
        self.push(&placeholder)
    }

    /// The quoted column of a field, which must be declared: an undeclared one fails the
    /// statement in [`Sql::finish`]. Not left to the database, because SQLite reads a
    /// double-quoted name that matches no column as a string literal, so `"f_nope" <> $1`
    /// would hold for every row instead of failing.
    fn column(&mut self, field: &FieldName) -> String {
        if self.spec.field(field.as_str()).is_none() && self.undeclared.is_none() {
            self.undeclared = Some(field.clone());
        }
        quoted_column(field)
    }

    /// Binds a field's value, typed for its column.
    fn field_bind(&mut self, field: &FieldName, value: &Value) -> String {
        let ty = self.spec.field(field.as_str()).map(|f| &f.ty);
        self.bind(bind_value(ty, value))
    }

    /// Appends a predicate. Mirrors `Predicate::matches`: a NULL column is "not equal" to
    /// every value, and since there is no negation, SQL's NULL (unknown) only ever acts as
    /// false.
    fn predicate(&mut self, predicate: &Predicate) -> &mut Self {
        match predicate {
            Predicate::True => self.push("1=1"),
            Predicate::False => self.push("1=0"),
            Predicate::OwnerIs(user) => self
                .push("owner_id = ")
                .push_bind(Bind::Text(user.to_text())),
            Predicate::Eq(field, value) => {
                let p = self.field_bind(field, value);
                let col = self.column(field);
                self.push(&format!("{col} = {p}"))
            }
            Predicate::NotEq(field, value) => {
                let p = self.field_bind(field, value);
                let col = self.column(field);
                self.push(&format!("({col} IS NULL OR {col} <> {p})"))
            }
            Predicate::And(parts) => self.join(parts, " AND ", "1=1"),
            Predicate::Or(parts) => self.join(parts, " OR ", "1=0"),
        }
    }

    fn join(&mut self, parts: &[Predicate], sep: &str, empty: &str) -> &mut Self {
        if parts.is_empty() {
            return self.push(empty);
        }
        self.push("(");
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                self.push(sep);
            }
            self.predicate(part);
        }
        self.push(")")
    }

    /// Appends one client filter.
    fn filter(&mut self, filter: &Filter) -> &mut Self {
        let p = self.field_bind(&filter.field, &filter.value);
        let col = self.column(&filter.field);
        let sql = match filter.op {
            Op::Eq => format!("{col} = {p}"),
            Op::Ne => format!("({col} IS NULL OR {col} <> {p})"),
            Op::Lt => format!("{col} < {p}"),
            Op::Lte => format!("{col} <= {p}"),
            Op::Gt => format!("{col} > {p}"),
            Op::Gte => format!("{col} >= {p}"),
            // Not LIKE: SQLite's LIKE ignores case and PostgreSQL's does not, and both give
            // `%`, `_` (and an escape character) meaning. These compare plain substrings,
            // case-sensitively, on both.
            Op::Contains => match self.kind {
                BackendKind::Sqlite => format!("instr({col}, {p}) > 0"),
                BackendKind::Postgres => format!("strpos({col}, {p}) > 0"),
            },
        };
        self.push(&sql)
    }

    /// Appends the keyset condition "comes after `after` in `sort` order" (see
    /// [`Sql::order_by`] for the order it follows).
    fn after(&mut self, sort: &Sort, after: &Cursor) -> &mut Self {
        let cmp = if sort.descending { "<" } else { ">" };
        let id = self.bind(Bind::Text(after.id.to_text()));
        let Some(field) = &sort.field else {
            return self.push(&format!("id {cmp} {id}"));
        };
        let col = self.column(field);
        let sql = match &after.value {
            // Past a record with a value: later values, or the same value and a later id,
            // then every record without a value (they come last).
            Some(value) => {
                let v = self.field_bind(field, value);
                format!(
                    "(({col} IS NOT NULL AND ({col} {cmp} {v} OR ({col} = {v} AND id {cmp} {id}))) \
                     OR {col} IS NULL)"
                )
            }
            // Past a record without a value: only valueless records remain, in id order.
            None => format!("({col} IS NULL AND id {cmp} {id})"),
        };
        self.push(&sql)
    }

    /// Appends `ORDER BY`: records without a value last in both directions, then the id as a
    /// tiebreak so the order is total and the keyset condition exact. The leading
    /// `(col IS NULL)` (false/0 before true/1 on both backends) overrides each backend's own
    /// NULL placement, which differ: SQLite puts NULLs first when ascending, PostgreSQL last.
    fn order_by(&mut self, sort: &Sort) -> &mut Self {
        let dir = if sort.descending { "DESC" } else { "ASC" };
        let sql = match &sort.field {
            None => format!(" ORDER BY id {dir}"),
            Some(field) => {
                let col = self.column(field);
                format!(" ORDER BY ({col} IS NULL), {col} {dir}, id {dir}")
            }
        };
        self.push(&sql)
    }

    /// The finished statement text, marked as built from identifiers and placeholders only;
    /// refused if it mentions an undeclared field.
    fn finish(self) -> Result<(AssertSqlSafe<String>, Vec<Bind>), StoreError> {
        match self.undeclared {
            Some(field) => Err(StoreError::Database(sqlx::Error::ColumnNotFound(
                bare_column(&field),
            ))),
            None => Ok((AssertSqlSafe(self.text), self.binds)),
        }
    }
}

type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments>;

/// Binds `binds` onto `query` in order. Generic so that one body serves both `with_pool!` arms.
fn bind_all<'q, DB>(mut query: Query<'q, DB>, binds: Vec<Bind>) -> Query<'q, DB>
where
    DB: Database,
    String: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    i64: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    f64: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
{
    for bind in binds {
        query = match bind {
            Bind::Text(s) => query.bind(s),
            Bind::Int(i) => query.bind(i),
            Bind::Num(n) => query.bind(n),
        };
    }
    query
}

// ---------------------------------------------------------------------------------------------
// Decoding.

/// Reads a record from a row selected with [`select_list`]. Every stored value is checked
/// back into its domain type; anything else is [`StoreError::Corrupt`].
fn decode_record<R>(spec: &CollectionSpec, row: &R) -> Result<Record, StoreError>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: String = row.try_get("id")?;
    let owner: String = row.try_get("owner_id")?;
    let mut fields = BTreeMap::new();
    for field in &spec.fields {
        let name = bare_column(&field.name);
        let name = name.as_str();
        let value = match &field.ty {
            FieldType::Integer { .. } => row.try_get::<Option<i64>, _>(name)?.map(Value::Int),
            FieldType::Boolean => row
                .try_get::<Option<i64>, _>(name)?
                .map(decode_bool)
                .transpose()?,
            FieldType::Number { .. } => row
                .try_get::<Option<f64>, _>(name)?
                .map(decode_number)
                .transpose()?,
            FieldType::Array { items, .. } => row
                .try_get::<Option<String>, _>(name)?
                .map(|text| decode_list(items, &text))
                .transpose()?,
            _ => row.try_get::<Option<String>, _>(name)?.map(Value::Text),
        };
        if let Some(value) = value {
            fields.insert(field.name.clone(), value);
        }
    }
    Ok(Record {
        id: RecordId::parse(&id).map_err(|_| StoreError::Corrupt("record id"))?,
        owner_id: UserId::parse(&owner).map_err(|_| StoreError::Corrupt("record owner_id"))?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
        version: row.try_get("version")?,
        fields,
    })
}

fn decode_bool(stored: i64) -> Result<Value, StoreError> {
    match stored {
        0 => Ok(Value::Bool(false)),
        1 => Ok(Value::Bool(true)),
        _ => Err(StoreError::Corrupt("boolean field")),
    }
}

fn decode_number(stored: f64) -> Result<Value, StoreError> {
    if stored.is_finite() {
        Ok(Value::Num(stored))
    } else {
        Err(StoreError::Corrupt("number field"))
    }
}

/// Reads back an array column: the JSON text `Value::to_json` wrote, items typed by the
/// field's item type.
///
/// A small strict reader rather than serde_json, for two reasons: this crate does not depend
/// on serde_json, and serde_json's default float parsing is not correctly rounded (without its
/// `float_roundtrip` feature about one ordinary double in ten comes back one ulp off), while
/// `str::parse::<f64>` is, so numbers come back exactly as stored.
fn decode_list(items: &ScalarType, text: &str) -> Result<Value, StoreError> {
    const CORRUPT: StoreError = StoreError::Corrupt("array field");
    let mut reader = JsonReader { rest: text };
    let mut out = Vec::new();
    reader.expect('[').ok_or(CORRUPT)?;
    if !reader.eat(']') {
        loop {
            let item = match (items, reader.scalar().ok_or(CORRUPT)?) {
                (
                    ScalarType::String { .. } | ScalarType::Email | ScalarType::Uuid,
                    JsonScalar::Str(s),
                ) => Value::Text(s),
                (ScalarType::Integer { .. }, JsonScalar::Number(n)) => {
                    Value::Int(n.parse().map_err(|_| CORRUPT)?)
                }
                (ScalarType::Number { .. }, JsonScalar::Number(n)) => {
                    decode_number(n.parse().map_err(|_| CORRUPT)?)?
                }
                (ScalarType::Boolean, JsonScalar::Bool(b)) => Value::Bool(b),
                _ => return Err(CORRUPT),
            };
            out.push(item);
            if reader.eat(']') {
                break;
            }
            reader.expect(',').ok_or(CORRUPT)?;
        }
    }
    reader.skip_ws();
    if reader.rest.is_empty() {
        Ok(Value::List(out))
    } else {
        Err(CORRUPT)
    }
}

/// One JSON scalar, as an array of scalars holds them.
enum JsonScalar<'a> {
    Str(String),
    /// The number's text, parsed by the caller according to the item type.
    Number(&'a str),
    Bool(bool),
}

/// Just enough of a JSON reader for an array of scalars. Returns `None` on anything else.
struct JsonReader<'a> {
    rest: &'a str,
}

impl<'a> JsonReader<'a> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', '\n', '\r']);
    }

    /// Skips whitespace, then consumes `c` if it comes next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char) -> Option<()> {
        self.eat(c).then_some(())
    }

    fn scalar(&mut self) -> Option<JsonScalar<'a>> {
        self.skip_ws();
        if self.eat('"') {
            return self.string().map(JsonScalar::Str);
        }
        for (word, value) in [("true", true), ("false", false)] {
            if let Some(rest) = self.rest.strip_prefix(word) {
                self.rest = rest;
                return Some(JsonScalar::Bool(value));
            }
        }
        let end = self
            .rest
            .find(|c: char| !matches!(c, '0'..='9' | '-' | '+' | '.' | 'e' | 'E'))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (number, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(JsonScalar::Number(number))
    }

    /// The rest of a string whose opening quote has been consumed.
    fn string(&mut self) -> Option<String> {
        let mut out = String::new();
        let mut chars = self.rest.char_indices();
        loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Some(out);
                }
                '\\' => {
                    let (_, escape) = chars.next()?;
                    out.push(match escape {
                        '"' => '"',
                        '\\' => '\\',
                        '/' => '/',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'u' => {
                            let high = hex4(&mut chars)?;
                            if (0xD800..0xDC00).contains(&high) {
                                // A surrogate pair: `\uD83D\uDE00`.
                                if chars.next()?.1 != '\\' || chars.next()?.1 != 'u' {
                                    return None;
                                }
                                let low = hex4(&mut chars)?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return None;
                                }
                                char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                            } else {
                                char::from_u32(high)?
                            }
                        }
                        _ => return None,
                    });
                }
                // JSON strings never hold raw control characters.
                c if c < ' ' => return None,
                c => out.push(c),
            }
        }
    }
}

fn hex4(chars: &mut std::str::CharIndices<'_>) -> Option<u32> {
    let mut n = 0;
    for _ in 0..4 {
        n = n * 16 + chars.next()?.1.to_digit(16)?;
    }
    Some(n)
}

// ---------------------------------------------------------------------------------------------
// The store's record operations.

impl Store {
    /// Creates the collection's table if it does not exist, adds a column for every declared
    /// field the table lacks, and creates the indexes. Idempotent; runs at start-up.
    ///
    /// Columns of fields no longer declared are kept (and never read), so removing a field
    /// from the configuration loses no data. A field whose type changed keeps its old column
    /// type: that needs a migration by hand.
    ///
    /// Runs in one write transaction, serialized between processes (an advisory lock on
    /// PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so servers starting together do not race on
    /// the same `ALTER TABLE`.
    pub async fn ensure_collection(&self, spec: &CollectionSpec) -> Result<(), StoreError> {
        let kind = self.kind();
        let table = table(&spec.name);
        let mut create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, \
             created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, version BIGINT NOT NULL"
        );
        for field in &spec.fields {
            create.push_str(&format!(
                ", {} {}",
                quoted_column(&field.name),
                column_type(kind, &field.ty)
            ));
        }
        create.push(')');
        // Lists by owner (the `owner` rule) and sorts and range filters on ordered fields.
        let mut indexes = vec![format!(
            "CREATE INDEX IF NOT EXISTS {} ON {table} (owner_id, id)",
            index_name(&spec.name, "owner_id")
        )];
        for field in spec.fields.iter().filter(|f| f.ty.is_ordered()) {
            let col = bare_column(&field.name);
            indexes.push(format!(
                "CREATE INDEX IF NOT EXISTS {} ON {table} (\"{col}\", id)",
                index_name(&spec.name, &col)
            ));
        }
        let bare = bare_table(&spec.name);
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if kind == BackendKind::Postgres {
                // Released at commit or rollback.
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(DDL_LOCK_KEY)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(AssertSqlSafe(create)).execute(&mut *tx).await?;
            let present: Vec<(String,)> = sqlx::query_as(columns_query(kind))
                .bind(&bare)
                .fetch_all(&mut *tx)
                .await?;
            for field in &spec.fields {
                let col = bare_column(&field.name);
                if present.iter().any(|(name,)| *name == col) {
                    continue;
                }
                let alter = format!(
                    "ALTER TABLE {table} ADD COLUMN \"{col}\" {}",
                    column_type(kind, &field.ty)
                );
                sqlx::query(AssertSqlSafe(alter)).execute(&mut *tx).await?;
            }
            for index in indexes {
                sqlx::query(AssertSqlSafe(index)).execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Inserts a record: the server-managed columns and the fields it has (the others stay
    /// NULL). A duplicate id is [`StoreError::Conflict`].
    pub async fn insert_record(
        &self,
        spec: &CollectionSpec,
        record: &Record,
    ) -> Result<(), StoreError> {
        let mut sql = Sql::new(self.kind(), spec);
        let mut columns = String::from(BASE_COLUMNS);
        let mut values = vec![
            sql.bind(Bind::Text(record.id.to_text())),
            sql.bind(Bind::Text(record.owner_id.to_text())),
            sql.bind(Bind::Int(record.created_at_ms)),
            sql.bind(Bind::Int(record.updated_at_ms)),
            sql.bind(Bind::Int(record.version)),
        ];
        for (name, value) in &record.fields {
            columns.push_str(", ");
            columns.push_str(&sql.column(name));
            values.push(sql.field_bind(name, value));
        }
        sql.push(&format!(
            "INSERT INTO {} ({columns}) VALUES ({})",
            table(&spec.name),
            values.join(", ")
        ));
        let (text, binds) = sql.finish()?;
        with_pool!(self, |pool| {
            bind_all(sqlx::query(text), binds)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .map_err(map_conflict)
    }

    /// The record with this id if it satisfies `visible` (the caller's read predicate), else
    /// `None` — the same answer as for an id that does not exist.
    pub async fn get_record(
        &self,
        spec: &CollectionSpec,
        id: RecordId,
        visible: &Predicate,
    ) -> Result<Option<Record>, StoreError> {
        let mut sql = Sql::new(self.kind(), spec);
        sql.push(&format!(
            "SELECT {} FROM {} WHERE id = ",
            select_list(spec),
            table(&spec.name)
        ))
        .push_bind(Bind::Text(id.to_text()))
        .push(" AND (")
        .predicate(visible)
        .push(")");
        let (text, binds) = sql.finish()?;
        with_pool!(self, |pool| {
            let row = bind_all(sqlx::query(text), binds)
                .fetch_optional(pool)
                .await?;
            row.map(|row| decode_record(spec, &row)).transpose()
        })
    }

    /// Up to `query.limit` records satisfying `visible` and every filter, in `query.sort`
    /// order, starting after `query.after` (keyset pagination: stable under inserts and
    /// deletes, and as fast on the last page as on the first).
    pub async fn list_records(
        &self,
        spec: &CollectionSpec,
        visible: &Predicate,
        query: &ListQuery,
    ) -> Result<Vec<Record>, StoreError> {
        let mut sql = Sql::new(self.kind(), spec);
        sql.push(&format!(
            "SELECT {} FROM {} WHERE (",
            select_list(spec),
            table(&spec.name)
        ))
        .predicate(visible)
        .push(")");
        for filter in &query.filters {
            sql.push(" AND ").filter(filter);
        }
        if let Some(after) = &query.after {
            sql.push(" AND ").after(&query.sort, after);
        }
        sql.order_by(&query.sort)
            .push(" LIMIT ")
            .push_bind(Bind::Int(i64::from(query.limit.get())));
        let (text, binds) = sql.finish()?;
        with_pool!(self, |pool| {
            let rows = bind_all(sqlx::query(text), binds).fetch_all(pool).await?;
            rows.iter().map(|row| decode_record(spec, row)).collect()
        })
    }

    /// Applies `changes` (`Some`: set, `None`: set NULL) to the record if it satisfies
    /// `allowed` and, when given, its version equals `expected_version`; bumps the version by
    /// one and sets `updated_at` to `now_ms`.
    ///
    /// Atomic: the checks are the `UPDATE`'s own `WHERE`, so no concurrent writer can slip in
    /// between check and write. Only when no row was updated does a second query tell a
    /// version conflict (the row exists and is allowed) from not found.
    pub async fn update_record(
        &self,
        spec: &CollectionSpec,
        id: RecordId,
        expected_version: Option<i64>,
        changes: &BTreeMap<FieldName, Option<Value>>,
        allowed: &Predicate,
        now_ms: i64,
    ) -> Result<UpdateOutcome, StoreError> {
        let mut sql = Sql::new(self.kind(), spec);
        let mut sets = Vec::new();
        for (name, value) in changes {
            let target = match value {
                Some(value) => sql.field_bind(name, value),
                // A literal, not a bound NULL: PostgreSQL would type a bound NULL as text.
                None => "NULL".to_owned(),
            };
            let col = sql.column(name);
            sets.push(format!("{col} = {target}"));
        }
        let now = sql.bind(Bind::Int(now_ms));
        sets.push(format!("version = version + 1, updated_at = {now}"));
        sql.push(&format!(
            "UPDATE {} SET {} WHERE id = ",
            table(&spec.name),
            sets.join(", ")
        ))
        .push_bind(Bind::Text(id.to_text()))
        .push(" AND (")
        .predicate(allowed)
        .push(")");
        if let Some(version) = expected_version {
            sql.push(" AND version = ").push_bind(Bind::Int(version));
        }
        sql.push(&format!(" RETURNING {}", select_list(spec)));
        let (text, binds) = sql.finish()?;
        let updated = with_pool!(self, |pool| {
            let row = bind_all(sqlx::query(text), binds)
                .fetch_optional(pool)
                .await?;
            row.map(|row| decode_record(spec, &row)).transpose()
        })?;
        if let Some(record) = updated {
            return Ok(UpdateOutcome::Updated(record));
        }
        if expected_version.is_none() {
            return Ok(UpdateOutcome::NotFound);
        }
        // Nothing updated with a version check: conflict if the record is there for this
        // caller, not found otherwise (so a conflict reveals nothing a read would not).
        let mut sql = Sql::new(self.kind(), spec);
        sql.push(&format!("SELECT id FROM {} WHERE id = ", table(&spec.name)))
            .push_bind(Bind::Text(id.to_text()))
            .push(" AND (")
            .predicate(allowed)
            .push(")");
        let (text, binds) = sql.finish()?;
        let exists = with_pool!(self, |pool| {
            bind_all(sqlx::query(text), binds)
                .fetch_optional(pool)
                .await
                .map(|row| row.is_some())
        })?;
        Ok(if exists {
            UpdateOutcome::VersionConflict
        } else {
            UpdateOutcome::NotFound
        })
    }

    /// Deletes the record if it satisfies `allowed`; returns whether one was deleted.
    pub async fn delete_record(
        &self,
        spec: &CollectionSpec,
        id: RecordId,
        allowed: &Predicate,
    ) -> Result<bool, StoreError> {
        let mut sql = Sql::new(self.kind(), spec);
        sql.push(&format!("DELETE FROM {} WHERE id = ", table(&spec.name)))
            .push_bind(Bind::Text(id.to_text()))
            .push(" AND (")
            .predicate(allowed)
            .push(")");
        let (text, binds) = sql.finish()?;
        let deleted = with_pool!(self, |pool| {
            bind_all(sqlx::query(text), binds)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(deleted > 0)
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use rampart_core::collections::rule::{Rule, Subject};
    use rampart_core::collections::schema::{RawCollection, RawField, build_schema};
    use rampart_core::domain::{PageLimit, Role};
    use sqlx::Connection;

    use super::*;

    // -----------------------------------------------------------------------------------------
    // Harness: every scenario runs on SQLite, and on PostgreSQL too when
    // RAMPART_TEST_POSTGRES_URL is set (a fresh database per test).

    struct Backends {
        stores: Vec<Store>,
        /// How to open each store again, as a second server process would.
        reopen: Vec<Reopen>,
        _dir: tempfile::TempDir,
    }

    enum Reopen {
        Sqlite(std::path::PathBuf),
        Postgres(String),
    }

    impl Reopen {
        async fn open(&self) -> Store {
            match self {
                Self::Sqlite(path) => Store::open_sqlite(path).await.unwrap(),
                Self::Postgres(url) => Store::open_postgres(url).await.unwrap(),
            }
        }
    }

    async fn backends() -> Backends {
        let dir = tempfile::tempdir().unwrap();
        let mut reopen = vec![Reopen::Sqlite(dir.path().join("db.sqlite"))];
        if let Ok(base) = std::env::var("RAMPART_TEST_POSTGRES_URL")
            && !base.is_empty()
        {
            reopen.push(Reopen::Postgres(fresh_postgres(&base).await));
        }
        let mut stores = Vec::new();
        for r in &reopen {
            stores.push(r.open().await);
        }
        Backends {
            stores,
            reopen,
            _dir: dir,
        }
    }

    /// A new, empty database next to `base`; returns its URL.
    async fn fresh_postgres(base: &str) -> String {
        let name = format!("rampart_store_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let (prefix, _) = base
            .rsplit_once('/')
            .expect("RAMPART_TEST_POSTGRES_URL must end in /<database>");
        format!("{prefix}/{name}")
    }

    fn raw_field(ty: &str) -> RawField {
        RawField {
            ty: ty.into(),
            ..RawField::default()
        }
    }

    fn collection(name: &str, fields: Vec<(&str, RawField)>) -> RawCollection {
        RawCollection {
            name: name.into(),
            access: BTreeMap::new(),
            fields: fields.into_iter().map(|(n, f)| (n.to_owned(), f)).collect(),
        }
    }

    /// A collection with a field of every type.
    fn posts() -> CollectionSpec {
        let array = |items: &str| RawField {
            items: Some(items.into()),
            ..raw_field("array")
        };
        let raw = collection(
            "posts",
            vec![
                ("title", raw_field("string")),
                ("body", raw_field("text")),
                ("content", raw_field("html")),
                ("count", raw_field("integer")),
                ("score", raw_field("number")),
                ("flag", raw_field("boolean")),
                (
                    "status",
                    RawField {
                        values: Some(vec!["draft".into(), "published".into()]),
                        ..raw_field("enum")
                    },
                ),
                ("contact", raw_field("email")),
                ("link", raw_field("url")),
                ("ext_id", raw_field("uuid")),
                ("happened_at", raw_field("datetime")),
                (
                    "parent",
                    RawField {
                        collection: Some("posts".into()),
                        ..raw_field("reference")
                    },
                ),
                ("nums", array("integer")),
                ("tags", array("string")),
                ("weights", array("number")),
                ("checks", array("boolean")),
            ],
        );
        build_schema(&[raw]).unwrap().remove(0)
    }

    fn name(raw: &str) -> FieldName {
        FieldName::parse(raw).unwrap()
    }

    fn text(raw: &str) -> Value {
        Value::Text(raw.into())
    }

    fn record(owner: UserId, fields: Vec<(&str, Value)>) -> Record {
        Record {
            id: RecordId::new(),
            owner_id: owner,
            created_at_ms: 1_000,
            updated_at_ms: 1_000,
            version: 1,
            fields: fields.into_iter().map(|(n, v)| (name(n), v)).collect(),
        }
    }

    fn query(filters: Vec<Filter>, sort: Sort, limit: u32, after: Option<Cursor>) -> ListQuery {
        ListQuery {
            filters,
            sort,
            limit: PageLimit::parse(&limit.to_string()).unwrap(),
            after,
        }
    }

    fn by_id() -> Sort {
        Sort {
            field: None,
            descending: false,
        }
    }

    fn filter(field: &str, op: Op, value: Value) -> Filter {
        Filter {
            field: name(field),
            op,
            value,
        }
    }

    /// Ids of every record matching, in id order.
    async fn ids(
        store: &Store,
        spec: &CollectionSpec,
        visible: &Predicate,
        filters: Vec<Filter>,
    ) -> Vec<RecordId> {
        store
            .list_records(spec, visible, &query(filters, by_id(), 100, None))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    }

    fn sorted(mut ids: Vec<RecordId>) -> Vec<RecordId> {
        ids.sort();
        ids
    }

    async fn seed(store: &Store, spec: &CollectionSpec, records: &[Record]) {
        store.ensure_collection(spec).await.unwrap();
        for r in records {
            store.insert_record(spec, r).await.unwrap();
        }
    }

    /// Runs a raw statement (test set-up only).
    async fn raw_exec(store: &Store, sql: String) {
        with_pool!(store, |pool| sqlx::query(AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(|_| ()))
        .unwrap();
    }

    async fn columns(store: &Store, table: &str) -> Vec<String> {
        let rows: Vec<(String,)> = with_pool!(store, |pool| {
            sqlx::query_as(columns_query(store.kind()))
                .bind(table)
                .fetch_all(pool)
                .await
        })
        .unwrap();
        rows.into_iter().map(|(n,)| n).collect()
    }

    /// The names of the indexes this module created on `table`.
    async fn indexes(store: &Store, table: &str) -> Vec<String> {
        let sql = match store.kind() {
            BackendKind::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1"
            }
            BackendKind::Postgres => {
                "SELECT indexname::text FROM pg_indexes \
                 WHERE tablename = $1 AND schemaname = current_schema()"
            }
        };
        let rows: Vec<(String,)> = with_pool!(store, |pool| {
            sqlx::query_as(sql).bind(table).fetch_all(pool).await
        })
        .unwrap();
        let mut names: Vec<String> = rows
            .into_iter()
            .map(|(n,)| n)
            .filter(|n| n.starts_with("i_"))
            .collect();
        names.sort();
        names
    }

    fn unquoted(name: String) -> String {
        name.trim_matches('"').to_owned()
    }

    // -----------------------------------------------------------------------------------------
    // Schema.

    #[tokio::test]
    async fn ensure_is_idempotent_and_adds_missing_columns() {
        let v1 = build_schema(&[collection("notes", vec![("title", raw_field("string"))])])
            .unwrap()
            .remove(0);
        let v2 = build_schema(&[collection(
            "notes",
            vec![
                ("title", raw_field("string")),
                ("count", raw_field("integer")),
                (
                    "tags",
                    RawField {
                        items: Some("string".into()),
                        ..raw_field("array")
                    },
                ),
            ],
        )])
        .unwrap()
        .remove(0);
        for store in &backends().await.stores {
            let kind = store.kind();
            store.ensure_collection(&v1).await.unwrap();
            store.ensure_collection(&v1).await.unwrap();
            let old = record(UserId::new(), vec![("title", text("before"))]);
            store.insert_record(&v1, &old).await.unwrap();

            // A field declared later becomes a column; existing rows have no value for it.
            store.ensure_collection(&v2).await.unwrap();
            store.ensure_collection(&v2).await.unwrap();
            let mut cols = columns(store, "c_notes").await;
            cols.sort();
            assert_eq!(
                cols,
                [
                    "created_at",
                    "f_count",
                    "f_tags",
                    "f_title",
                    "id",
                    "owner_id",
                    "updated_at",
                    "version"
                ],
                "{kind:?}"
            );
            let got = store.get_record(&v2, old.id, &Predicate::True).await;
            assert_eq!(got.unwrap(), Some(old.clone()), "{kind:?}");
            let new = record(
                UserId::new(),
                vec![
                    ("count", Value::Int(3)),
                    ("tags", Value::List(vec![text("x")])),
                ],
            );
            store.insert_record(&v2, &new).await.unwrap();
            let got = store.get_record(&v2, new.id, &Predicate::True).await;
            assert_eq!(got.unwrap(), Some(new), "{kind:?}");

            // The owner index and one per ordered field (not the array), named as computed
            // (PostgreSQL would have truncated a longer name).
            let notes = CollectionName::parse("notes").unwrap();
            let mut expected: Vec<String> = ["owner_id", "f_title", "f_count"]
                .into_iter()
                .map(|c| unquoted(index_name(&notes, c)))
                .collect();
            expected.sort();
            assert_eq!(indexes(store, "c_notes").await, expected, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn index_names_are_distinct_and_fit() {
        // Names a naive `i_<collection>_<field>` scheme would confuse, a collection whose
        // table name looks like another's owner index, and the longest names allowed.
        let long_c = "c".repeat(40);
        let long_f = "f".repeat(40);
        let raws = vec![
            collection("a", vec![("b_c", raw_field("integer"))]),
            collection("a_b", vec![("c", raw_field("integer"))]),
            collection("posts", vec![("owner", raw_field("integer"))]),
            collection("posts_owner", vec![("id_x", raw_field("integer"))]),
            collection(&long_c, vec![(long_f.as_str(), raw_field("integer"))]),
        ];
        let specs = build_schema(&raws).unwrap();
        let mut all = Vec::new();
        for spec in &specs {
            for col in ["owner_id".to_owned(), bare_column(&spec.fields[0].name)] {
                let index = unquoted(index_name(&spec.name, &col));
                assert!(index.len() <= 63, "{index}");
                assert!(!index.starts_with("c_"), "{index}");
                all.push(index);
            }
        }
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "{all:?}");

        for store in &backends().await.stores {
            for spec in &specs {
                store.ensure_collection(spec).await.unwrap();
            }
            for spec in &specs {
                let table = bare_table(&spec.name);
                assert_eq!(
                    indexes(store, &table).await.len(),
                    2,
                    "{:?} {table}",
                    store.kind()
                );
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Reading and writing.

    #[tokio::test]
    async fn every_field_type_round_trips() {
        let spec = posts();
        let parent = RecordId::new();
        let full = record(
            UserId::new(),
            vec![
                ("title", text("Hello, wörld 🎉")),
                ("body", text("line 1\nline 2\t\"quoted\" \\ back")),
                (
                    "content",
                    text("<p>hi <a href=\"https://x.example\">x</a></p>"),
                ),
                // Beyond 2^53: must not pass through a float anywhere.
                ("count", Value::Int(9_007_199_254_740_993)),
                ("score", Value::Num(419_528.202_848_458_84)),
                ("flag", Value::Bool(true)),
                ("status", text("published")),
                ("contact", text("a@example.com")),
                ("link", text("https://example.com/x?y=1#z")),
                ("ext_id", text("0b9c3c1e-6b1a-4e0c-9a53-2f1c6a7d8e9f")),
                ("happened_at", text("2026-01-02T02:04:05.000Z")),
                ("parent", text(&parent.to_text())),
                (
                    "nums",
                    Value::List(vec![Value::Int(1), Value::Int(-2), Value::Int(i64::MAX)]),
                ),
                (
                    "tags",
                    Value::List(vec![
                        text("a\"b"),
                        text("c\\d"),
                        text("é 🎉 \u{7f}"),
                        text(""),
                        text("[1,2]"),
                    ]),
                ),
                (
                    "weights",
                    // 419528.20284845884 is one serde_json's default parser reads an ulp off.
                    Value::List(vec![
                        Value::Num(0.1),
                        Value::Num(419_528.202_848_458_84),
                        Value::Num(-1e300),
                        Value::Num(5.0),
                        Value::Num(1.947_700_395_895_162e-169),
                    ]),
                ),
                (
                    "checks",
                    Value::List(vec![Value::Bool(true), Value::Bool(false)]),
                ),
            ],
        );
        let sparse = record(
            UserId::new(),
            vec![
                ("flag", Value::Bool(false)),
                ("nums", Value::List(vec![])),
                ("score", Value::Num(-0.5)),
            ],
        );
        let empty = record(UserId::new(), vec![]);
        for store in &backends().await.stores {
            seed(store, &spec, &[full.clone(), sparse.clone(), empty.clone()]).await;
            for r in [&full, &sparse, &empty] {
                let got = store.get_record(&spec, r.id, &Predicate::True).await;
                assert_eq!(got.unwrap().as_ref(), Some(r), "{:?}", store.kind());
            }
            // The list path decodes the same way.
            let listed = store
                .list_records(&spec, &Predicate::True, &query(vec![], by_id(), 10, None))
                .await
                .unwrap();
            let mut expected = vec![full.clone(), sparse.clone(), empty.clone()];
            expected.sort_by_key(|r| r.id);
            assert_eq!(listed, expected, "{:?}", store.kind());
        }
    }

    #[tokio::test]
    async fn duplicate_id_is_a_conflict() {
        let spec = posts();
        let r = record(UserId::new(), vec![("title", text("x"))]);
        for store in &backends().await.stores {
            seed(store, &spec, std::slice::from_ref(&r)).await;
            assert!(
                matches!(
                    store.insert_record(&spec, &r).await,
                    Err(StoreError::Conflict)
                ),
                "{:?}",
                store.kind()
            );
        }
    }

    #[tokio::test]
    async fn get_only_returns_visible_records() {
        let spec = posts();
        let me = UserId::new();
        let r = record(me, vec![("status", text("draft"))]);
        for store in &backends().await.stores {
            seed(store, &spec, std::slice::from_ref(&r)).await;
            let get = |p: Predicate| {
                let spec = &spec;
                async move { store.get_record(spec, r.id, &p).await.unwrap() }
            };
            assert!(get(Predicate::True).await.is_some());
            assert!(get(Predicate::OwnerIs(me)).await.is_some());
            assert!(get(Predicate::OwnerIs(UserId::new())).await.is_none());
            assert!(get(Predicate::False).await.is_none());
            assert!(
                get(Predicate::Eq(name("status"), text("published")))
                    .await
                    .is_none()
            );
            assert!(
                get(Predicate::Eq(name("status"), text("draft")))
                    .await
                    .is_some()
            );
            let missing = store
                .get_record(&spec, RecordId::new(), &Predicate::True)
                .await
                .unwrap();
            assert!(missing.is_none());
        }
    }

    #[tokio::test]
    async fn every_filter_operator() {
        let spec = posts();
        let u = UserId::new();
        let r1 = record(
            u,
            vec![
                ("title", text("Apple")),
                ("count", Value::Int(1)),
                ("flag", Value::Bool(true)),
                ("score", Value::Num(1.5)),
                ("status", text("draft")),
            ],
        );
        let r2 = record(
            u,
            vec![
                ("title", text("apple pie")),
                ("count", Value::Int(2)),
                ("flag", Value::Bool(false)),
                ("score", Value::Num(2.5)),
                ("status", text("published")),
            ],
        );
        let r3 = record(u, vec![("title", text("banana")), ("count", Value::Int(3))]);
        let r4 = record(u, vec![]);
        let (a, b, c, d) = (r1.id, r2.id, r3.id, r4.id);
        let cases = vec![
            (filter("title", Op::Eq, text("apple pie")), vec![b]),
            (filter("title", Op::Eq, text("APPLE PIE")), vec![]),
            // `ne` also matches records without a value.
            (filter("title", Op::Ne, text("banana")), vec![a, b, d]),
            (filter("count", Op::Lt, Value::Int(2)), vec![a]),
            (filter("count", Op::Lte, Value::Int(2)), vec![a, b]),
            (filter("count", Op::Gt, Value::Int(2)), vec![c]),
            (filter("count", Op::Gte, Value::Int(2)), vec![b, c]),
            (filter("count", Op::Ne, Value::Int(2)), vec![a, c, d]),
            // Case-sensitive substring on both backends.
            (filter("title", Op::Contains, text("apple")), vec![b]),
            (filter("title", Op::Contains, text("Apple")), vec![a]),
            (filter("title", Op::Contains, text("APPLE")), vec![]),
            (filter("title", Op::Contains, text("an")), vec![c]),
            (filter("flag", Op::Eq, Value::Bool(true)), vec![a]),
            (filter("flag", Op::Eq, Value::Bool(false)), vec![b]),
            (filter("flag", Op::Ne, Value::Bool(true)), vec![b, c, d]),
            (filter("score", Op::Lt, Value::Num(2.0)), vec![a]),
            // A whole number against a number field.
            (filter("score", Op::Gt, Value::Int(2)), vec![b]),
            (filter("status", Op::Eq, text("draft")), vec![a]),
            (filter("status", Op::Gte, text("e")), vec![b]),
        ];
        for store in &backends().await.stores {
            seed(
                store,
                &spec,
                &[r1.clone(), r2.clone(), r3.clone(), r4.clone()],
            )
            .await;
            for (f, expected) in &cases {
                let got = ids(store, &spec, &Predicate::True, vec![f.clone()]).await;
                assert_eq!(got, sorted(expected.clone()), "{:?} {f:?}", store.kind());
            }
            // Filters combine with each other and with the visibility predicate.
            let both = vec![
                filter("count", Op::Gte, Value::Int(1)),
                filter("title", Op::Contains, text("a")),
            ];
            assert_eq!(
                ids(store, &spec, &Predicate::True, both.clone()).await,
                sorted(vec![b, c])
            );
            let other = Predicate::OwnerIs(UserId::new());
            assert!(ids(store, &spec, &other, both).await.is_empty());
        }
    }

    #[tokio::test]
    async fn predicates_select_what_they_match_in_memory() {
        let spec = posts();
        let me = UserId::new();
        let other = UserId::new();
        let mut rows = Vec::new();
        for (i, owner) in [me, other].into_iter().cycle().take(12).enumerate() {
            let mut fields = vec![("count", Value::Int(i as i64 % 3))];
            match i % 3 {
                0 => fields.push(("status", text("draft"))),
                1 => fields.push(("status", text("published"))),
                _ => {}
            }
            if i % 4 == 0 {
                fields.push(("flag", Value::Bool(true)));
            }
            if i % 5 != 0 {
                fields.push(("score", Value::Num(i as f64)));
            }
            rows.push(record(owner, fields));
        }
        let status = name("status");
        let published = text("published");
        let conditional = Rule::When {
            field: status.clone(),
            equals: published.clone(),
            then: Box::new(Rule::Public),
            otherwise: Box::new(Rule::Owner),
        };
        let admin_or_owner = Rule::When {
            field: status.clone(),
            equals: published.clone(),
            then: Box::new(Rule::Authenticated),
            otherwise: Box::new(Rule::OwnerOrRole(Role::Admin)),
        };
        let user = |id| Subject::User {
            id,
            role: Role::User,
        };
        let admin = Subject::User {
            id: UserId::new(),
            role: Role::Admin,
        };
        let predicates = vec![
            Predicate::True,
            Predicate::False,
            Predicate::OwnerIs(me),
            Predicate::Eq(status.clone(), published.clone()),
            Predicate::NotEq(status.clone(), published.clone()),
            Predicate::Eq(name("flag"), Value::Bool(true)),
            Predicate::NotEq(name("flag"), Value::Bool(true)),
            // A whole number compared with a number field, as `Value::same` does.
            Predicate::Eq(name("score"), Value::Int(4)),
            Predicate::NotEq(name("score"), Value::Int(4)),
            Predicate::And(vec![]),
            Predicate::Or(vec![]),
            Predicate::And(vec![
                Predicate::OwnerIs(me),
                Predicate::Eq(status.clone(), text("draft")),
            ]),
            Predicate::Or(vec![
                Predicate::OwnerIs(other),
                Predicate::Eq(name("count"), Value::Int(2)),
            ]),
            Predicate::Or(vec![
                Predicate::And(vec![
                    Predicate::OwnerIs(me),
                    Predicate::NotEq(name("count"), Value::Int(0)),
                ]),
                Predicate::And(vec![Predicate::False, Predicate::True]),
            ]),
            conditional.access(&user(me)).into_predicate(),
            conditional.access(&user(other)).into_predicate(),
            conditional.access(&Subject::Anonymous).into_predicate(),
            admin_or_owner.access(&user(me)).into_predicate(),
            admin_or_owner.access(&admin).into_predicate(),
            admin_or_owner.access(&Subject::Anonymous).into_predicate(),
        ];
        for store in &backends().await.stores {
            seed(store, &spec, &rows).await;
            for p in &predicates {
                let expected: Vec<RecordId> = rows
                    .iter()
                    .filter(|r| r.satisfies(p))
                    .map(|r| r.id)
                    .collect();
                let got = ids(store, &spec, p, vec![]).await;
                assert_eq!(got, sorted(expected), "{:?} {p:?}", store.kind());
                for r in &rows {
                    let one = store.get_record(&spec, r.id, p).await.unwrap();
                    assert_eq!(one.is_some(), r.satisfies(p), "{:?} {p:?}", store.kind());
                }
            }
            // The in-memory side is not vacuous: the conditional rule shows me my own
            // records plus everyone's published ones, and the anonymous only the latter.
            let mine_or_published = rows
                .iter()
                .filter(|r| r.owner_id == me || r.fields.get(&status) == Some(&published))
                .count();
            let for_me = conditional.access(&user(me)).into_predicate();
            assert_eq!(
                ids(store, &spec, &for_me, vec![]).await.len(),
                mine_or_published
            );
            let anon = conditional.access(&Subject::Anonymous).into_predicate();
            assert_eq!(ids(store, &spec, &anon, vec![]).await.len(), 4);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Order and pagination.

    fn compare(a: &Value, b: &Value) -> Ordering {
        match (a, b) {
            (Value::Int(x), Value::Int(y)) => x.cmp(y),
            (Value::Num(x), Value::Num(y)) => x.total_cmp(y),
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            // Test strings are lowercase ASCII letters and digits: the same order under any
            // collation.
            (Value::Text(x), Value::Text(y)) => x.cmp(y),
            _ => panic!("incomparable {a:?} {b:?}"),
        }
    }

    /// The documented order: by value (missing values last in both directions), then by id.
    fn expected_order(rows: &[Record], sort: &Sort) -> Vec<RecordId> {
        let mut rows: Vec<&Record> = rows.iter().collect();
        rows.sort_by(|a, b| {
            let directed = |o: Ordering| if sort.descending { o.reverse() } else { o };
            let by_id = directed(a.id.cmp(&b.id));
            let Some(field) = &sort.field else {
                return by_id;
            };
            match (a.fields.get(field), b.fields.get(field)) {
                (Some(x), Some(y)) => directed(compare(x, y)).then(by_id),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => by_id,
            }
        });
        rows.into_iter().map(|r| r.id).collect()
    }

    fn every_sort() -> Vec<Sort> {
        let mut sorts = Vec::new();
        for field in [
            None,
            Some("count"),
            Some("title"),
            Some("score"),
            Some("flag"),
        ] {
            for descending in [false, true] {
                sorts.push(Sort {
                    field: field.map(name),
                    descending,
                });
            }
        }
        sorts
    }

    /// 25 records with repeated and missing values in every sortable field.
    fn many(owners: [UserId; 2]) -> Vec<Record> {
        (0..25)
            .map(|i| {
                let mut fields = Vec::new();
                if i % 5 != 0 {
                    fields.push(("count", Value::Int(i % 4)));
                }
                if i % 7 != 0 {
                    fields.push(("title", text(&format!("t{}", i % 6))));
                }
                if i % 4 != 0 {
                    fields.push(("score", Value::Num((i % 3) as f64 * 0.5 - 0.5)));
                }
                if i % 3 != 0 {
                    fields.push(("flag", Value::Bool(i % 2 == 0)));
                }
                record(owners[(i % 2) as usize], fields)
            })
            .collect()
    }

    #[tokio::test]
    async fn sorting_puts_missing_values_last_both_ways() {
        let spec = posts();
        let rows = many([UserId::new(), UserId::new()]);
        for store in &backends().await.stores {
            seed(store, &spec, &rows).await;
            for sort in every_sort() {
                let got: Vec<RecordId> = store
                    .list_records(
                        &spec,
                        &Predicate::True,
                        &query(vec![], sort.clone(), 100, None),
                    )
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.id)
                    .collect();
                assert_eq!(
                    got,
                    expected_order(&rows, &sort),
                    "{:?} {sort:?}",
                    store.kind()
                );
                // Spelled out for one case: the valueless records really are at the end.
                if let Some(field) = &sort.field {
                    let missing = rows
                        .iter()
                        .filter(|r| !r.fields.contains_key(field))
                        .count();
                    let tail = &got[got.len() - missing..];
                    assert!(
                        tail.iter().all(|id| {
                            rows.iter()
                                .any(|r| r.id == *id && !r.fields.contains_key(field))
                        }),
                        "{:?} {sort:?}",
                        store.kind()
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn keyset_pages_return_every_record_once_in_order() {
        let spec = posts();
        let me = UserId::new();
        let rows = many([me, UserId::new()]);
        for store in &backends().await.stores {
            seed(store, &spec, &rows).await;
            for visible in [Predicate::True, Predicate::OwnerIs(me)] {
                let matching: Vec<Record> = rows
                    .iter()
                    .filter(|r| r.satisfies(&visible))
                    .cloned()
                    .collect();
                for sort in every_sort() {
                    let mut seen = Vec::new();
                    let mut after = None;
                    let mut pages = 0;
                    loop {
                        let page = store
                            .list_records(
                                &spec,
                                &visible,
                                &query(vec![], sort.clone(), 7, after.clone()),
                            )
                            .await
                            .unwrap();
                        pages += 1;
                        assert!(pages <= 5, "pagination does not end: {sort:?}");
                        seen.extend(page.iter().map(|r| r.id));
                        match page.last() {
                            Some(last) if page.len() == 7 => {
                                after = Some(Cursor::after(&sort, last));
                            }
                            _ => break,
                        }
                    }
                    assert_eq!(
                        seen,
                        expected_order(&matching, &sort),
                        "{:?} {visible:?} {sort:?}",
                        store.kind()
                    );
                    assert_eq!(pages, matching.len() / 7 + 1);
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Update and delete.

    #[tokio::test]
    async fn update_checks_version_and_permission_atomically() {
        let spec = posts();
        let me = UserId::new();
        let someone = Predicate::OwnerIs(UserId::new());
        let original = record(
            me,
            vec![
                ("title", text("a")),
                ("count", Value::Int(1)),
                ("status", text("draft")),
            ],
        );
        let set = |pairs: Vec<(&str, Option<Value>)>| -> BTreeMap<FieldName, Option<Value>> {
            pairs.into_iter().map(|(n, v)| (name(n), v)).collect()
        };
        for store in &backends().await.stores {
            let kind = store.kind();
            seed(store, &spec, std::slice::from_ref(&original)).await;
            let id = original.id;
            let current = || async {
                store
                    .get_record(&spec, id, &Predicate::True)
                    .await
                    .unwrap()
                    .unwrap()
            };

            // Set one field, clear another; no version check.
            let changes = set(vec![("title", Some(text("b"))), ("count", None)]);
            let outcome = store
                .update_record(&spec, id, None, &changes, &Predicate::True, 5_000)
                .await
                .unwrap();
            let UpdateOutcome::Updated(updated) = outcome else {
                panic!("{kind:?}: {outcome:?}");
            };
            let mut expected = original.clone();
            expected.version = 2;
            expected.updated_at_ms = 5_000;
            expected.fields.insert(name("title"), text("b"));
            expected.fields.remove(&name("count"));
            assert_eq!(updated, expected, "{kind:?}");
            assert_eq!(current().await, expected, "{kind:?}");

            // With the right version.
            let changes = set(vec![("count", Some(Value::Int(7)))]);
            let outcome = store
                .update_record(&spec, id, Some(2), &changes, &Predicate::OwnerIs(me), 6_000)
                .await
                .unwrap();
            assert!(
                matches!(&outcome, UpdateOutcome::Updated(r) if r.version == 3 && r.updated_at_ms == 6_000),
                "{kind:?}: {outcome:?}"
            );

            // A stale version: conflict, nothing written.
            let stale = set(vec![("title", Some(text("lost")))]);
            let outcome = store
                .update_record(&spec, id, Some(2), &stale, &Predicate::True, 7_000)
                .await
                .unwrap();
            assert_eq!(outcome, UpdateOutcome::VersionConflict, "{kind:?}");
            let now = current().await;
            assert_eq!((now.version, now.updated_at_ms), (3, 6_000), "{kind:?}");
            assert_eq!(now.fields.get(&name("title")), Some(&text("b")));

            // Not allowed: not found, whether or not the version matches, and unchanged.
            for version in [None, Some(3), Some(1)] {
                let outcome = store
                    .update_record(&spec, id, version, &stale, &someone, 7_000)
                    .await
                    .unwrap();
                assert_eq!(outcome, UpdateOutcome::NotFound, "{kind:?} {version:?}");
            }
            let published = Predicate::Eq(name("status"), text("published"));
            let outcome = store
                .update_record(&spec, id, Some(3), &stale, &published, 7_000)
                .await
                .unwrap();
            assert_eq!(outcome, UpdateOutcome::NotFound, "{kind:?}");
            assert_eq!(current().await.version, 3, "{kind:?}");

            // No such record.
            for version in [None, Some(1)] {
                let outcome = store
                    .update_record(
                        &spec,
                        RecordId::new(),
                        version,
                        &stale,
                        &Predicate::True,
                        7_000,
                    )
                    .await
                    .unwrap();
                assert_eq!(outcome, UpdateOutcome::NotFound, "{kind:?} {version:?}");
            }

            // No field changes still counts as an update.
            let outcome = store
                .update_record(
                    &spec,
                    id,
                    Some(3),
                    &BTreeMap::new(),
                    &Predicate::True,
                    8_000,
                )
                .await
                .unwrap();
            assert!(
                matches!(&outcome, UpdateOutcome::Updated(r) if r.version == 4),
                "{kind:?}: {outcome:?}"
            );
        }
    }

    #[tokio::test]
    async fn delete_only_what_is_allowed() {
        let spec = posts();
        let me = UserId::new();
        let r = record(me, vec![("title", text("x"))]);
        for store in &backends().await.stores {
            let kind = store.kind();
            seed(store, &spec, std::slice::from_ref(&r)).await;
            let refused = store
                .delete_record(&spec, r.id, &Predicate::OwnerIs(UserId::new()))
                .await
                .unwrap();
            assert!(!refused, "{kind:?}");
            let still = store.get_record(&spec, r.id, &Predicate::True).await;
            assert!(still.unwrap().is_some(), "{kind:?}");
            let deleted = store
                .delete_record(&spec, r.id, &Predicate::OwnerIs(me))
                .await
                .unwrap();
            assert!(deleted, "{kind:?}");
            let again = store
                .delete_record(&spec, r.id, &Predicate::True)
                .await
                .unwrap();
            assert!(!again, "{kind:?}");
            let gone = store.get_record(&spec, r.id, &Predicate::True).await;
            assert!(gone.unwrap().is_none(), "{kind:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_updates_of_one_version_admit_one() {
        let spec = posts();
        let r = record(UserId::new(), vec![("count", Value::Int(0))]);
        for store in &backends().await.stores {
            seed(store, &spec, std::slice::from_ref(&r)).await;
            let mut attempts = tokio::task::JoinSet::new();
            for i in 0..8 {
                let (store, spec) = (store.clone(), spec.clone());
                attempts.spawn(async move {
                    let changes = BTreeMap::from([(name("count"), Some(Value::Int(i)))]);
                    store
                        .update_record(&spec, r.id, Some(1), &changes, &Predicate::True, 2_000)
                        .await
                        .unwrap()
                });
            }
            let outcomes = attempts.join_all().await;
            let won = outcomes
                .iter()
                .filter(|o| matches!(o, UpdateOutcome::Updated(_)))
                .count();
            let lost = outcomes
                .iter()
                .filter(|o| **o == UpdateOutcome::VersionConflict)
                .count();
            assert_eq!((won, lost), (1, 7), "{:?}: {outcomes:?}", store.kind());
            let now = store.get_record(&spec, r.id, &Predicate::True).await;
            assert_eq!(now.unwrap().unwrap().version, 2, "{:?}", store.kind());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn servers_starting_together_do_not_race_on_ddl() {
        let v1 = build_schema(&[collection("race", vec![("a", raw_field("integer"))])])
            .unwrap()
            .remove(0);
        let v2 = build_schema(&[collection(
            "race",
            vec![
                ("a", raw_field("integer")),
                ("b", raw_field("string")),
                ("c", raw_field("number")),
                ("d", raw_field("boolean")),
            ],
        )])
        .unwrap()
        .remove(0);
        let backends = backends().await;
        for (first, reopen) in backends.stores.iter().zip(&backends.reopen) {
            let second = reopen.open().await;
            let third = reopen.open().await;
            // A new table, then new columns and indexes, each created by three at once.
            for spec in [&v1, &v2] {
                let (a, b, c) = tokio::join!(
                    first.ensure_collection(spec),
                    second.ensure_collection(spec),
                    third.ensure_collection(spec),
                );
                for result in [a, b, c] {
                    assert!(result.is_ok(), "{:?}: {result:?}", first.kind());
                }
            }
            assert_eq!(
                columns(first, "c_race").await.len(),
                9,
                "{:?}",
                first.kind()
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // Hostile input and damaged data.

    #[tokio::test]
    async fn hostile_text_is_only_ever_data() {
        let spec = posts();
        let hostile = [
            r#"'); DROP TABLE "c_posts"; --"#,
            r"%_\",
            "%",
            "_",
            "a_c",
            "abc",
            "$1",
            r#"" OR 1=1 --"#,
            "x' OR 'x'='x",
        ];
        let rows: Vec<Record> = hostile
            .iter()
            .map(|t| {
                record(
                    UserId::new(),
                    vec![
                        ("title", text(t)),
                        ("tags", Value::List(vec![text(t), text("plain")])),
                    ],
                )
            })
            .collect();
        let id_of = |t: &str| rows[hostile.iter().position(|h| *h == t).unwrap()].id;
        for store in &backends().await.stores {
            let kind = store.kind();
            seed(store, &spec, &rows).await;
            for r in &rows {
                let got = store.get_record(&spec, r.id, &Predicate::True).await;
                assert_eq!(got.unwrap().as_ref(), Some(r), "{kind:?}");
            }
            // Equality matches exactly one record, in a filter and in a predicate.
            for t in hostile {
                let f = vec![filter("title", Op::Eq, text(t))];
                assert_eq!(ids(store, &spec, &Predicate::True, f).await, vec![id_of(t)]);
                let p = Predicate::Eq(name("title"), text(t));
                assert_eq!(ids(store, &spec, &p, vec![]).await, vec![id_of(t)]);
            }
            // `%`, `_` and `\` are plain characters to `contains` (no LIKE wildcards).
            let contains = |needle: &str| {
                let f = vec![filter("title", Op::Contains, text(needle))];
                let spec = &spec;
                async move { ids(store, spec, &Predicate::True, f).await }
            };
            assert_eq!(contains("%").await, sorted(vec![id_of(r"%_\"), id_of("%")]));
            let underscores = vec![
                id_of(r#"'); DROP TABLE "c_posts"; --"#),
                id_of(r"%_\"),
                id_of("_"),
                id_of("a_c"),
            ];
            assert_eq!(contains("_").await, sorted(underscores));
            assert_eq!(contains(r"%_\").await, vec![id_of(r"%_\")]);
            assert_eq!(contains("a_c").await, vec![id_of("a_c")]);
            // And the table is still there, with every row.
            assert_eq!(
                ids(store, &spec, &Predicate::True, vec![]).await.len(),
                rows.len()
            );
        }
    }

    #[tokio::test]
    async fn undeclared_fields_fail_closed() {
        // SQLite would read `"f_nope"` as the string 'f_nope' (so `<>` would hold for every
        // row): every statement naming an undeclared field must fail instead.
        let spec = posts();
        let r = record(UserId::new(), vec![]);
        let nope = name("nope");
        let not_nope = Predicate::NotEq(nope.clone(), text("x"));
        let refused = |result: Result<(), StoreError>| matches!(result, Err(StoreError::Database(sqlx::Error::ColumnNotFound(c))) if c == "f_nope");
        for store in &backends().await.stores {
            let kind = store.kind();
            seed(store, &spec, std::slice::from_ref(&r)).await;
            let got = store.get_record(&spec, r.id, &not_nope).await.map(|_| ());
            assert!(refused(got), "{kind:?} get");
            let listed = store
                .list_records(&spec, &not_nope, &query(vec![], by_id(), 10, None))
                .await
                .map(|_| ());
            assert!(refused(listed), "{kind:?} list predicate");
            let filtered = store
                .list_records(
                    &spec,
                    &Predicate::True,
                    &query(vec![filter("nope", Op::Ne, text("x"))], by_id(), 10, None),
                )
                .await
                .map(|_| ());
            assert!(refused(filtered), "{kind:?} filter");
            let sort = Sort {
                field: Some(nope.clone()),
                descending: false,
            };
            let sorted = store
                .list_records(&spec, &Predicate::True, &query(vec![], sort, 10, None))
                .await
                .map(|_| ());
            assert!(refused(sorted), "{kind:?} sort");
            let changes = BTreeMap::from([(nope.clone(), Some(text("x")))]);
            let updated = store
                .update_record(&spec, r.id, None, &changes, &Predicate::True, 2_000)
                .await
                .map(|_| ());
            assert!(refused(updated), "{kind:?} update changes");
            let updated = store
                .update_record(&spec, r.id, None, &BTreeMap::new(), &not_nope, 2_000)
                .await
                .map(|_| ());
            assert!(refused(updated), "{kind:?} update allowed");
            let deleted = store
                .delete_record(&spec, r.id, &not_nope)
                .await
                .map(|_| ());
            assert!(refused(deleted), "{kind:?} delete");
            let stray = record(UserId::new(), vec![("nope", text("x"))]);
            assert!(
                refused(store.insert_record(&spec, &stray).await),
                "{kind:?} insert"
            );
            // Nothing was changed on the way.
            let now = store.get_record(&spec, r.id, &Predicate::True).await;
            assert_eq!(now.unwrap(), Some(r.clone()), "{kind:?}");
        }
    }

    #[tokio::test]
    async fn damaged_values_are_corrupt_not_guessed() {
        let spec = posts();
        let damage = [
            r#""f_flag" = 2"#,
            r#""f_nums" = 'not json'"#,
            r#""f_nums" = '[1.5]'"#,
            r#""f_nums" = '["1"]'"#,
            r#""f_nums" = '[1,]'"#,
            r#""f_nums" = '[1] x'"#,
            r#""f_checks" = '[1]'"#,
            r#""f_tags" = '[1]'"#,
            "owner_id = 'not-a-uuid'",
            "id = 'not-a-uuid'",
        ];
        for store in &backends().await.stores {
            store.ensure_collection(&spec).await.unwrap();
            for set in damage {
                let r = record(UserId::new(), vec![]);
                store.insert_record(&spec, &r).await.unwrap();
                raw_exec(
                    store,
                    format!("UPDATE \"c_posts\" SET {set} WHERE id = '{}'", r.id),
                )
                .await;
                let listed = store
                    .list_records(&spec, &Predicate::True, &query(vec![], by_id(), 100, None))
                    .await;
                assert!(
                    matches!(listed, Err(StoreError::Corrupt(_))),
                    "{:?} {set}: {listed:?}",
                    store.kind()
                );
                raw_exec(store, "DELETE FROM \"c_posts\"".to_owned()).await;
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Pure parts.

    #[test]
    fn predicates_render_to_placeholders_only() {
        let spec = posts();
        let me = UserId::new();
        let rule = Rule::When {
            field: name("status"),
            equals: text("published"),
            then: Box::new(Rule::Public),
            otherwise: Box::new(Rule::Owner),
        };
        let p = rule
            .access(&Subject::User {
                id: me,
                role: Role::User,
            })
            .into_predicate();
        let mut sql = Sql::new(BackendKind::Postgres, &spec);
        sql.predicate(&p)
            .push(" AND ")
            .filter(&filter("title", Op::Contains, text("x'--")));
        let (text_sql, binds) = sql.finish().unwrap();
        assert_eq!(
            text_sql.0,
            r#"("f_status" = $1 OR (("f_status" IS NULL OR "f_status" <> $2) AND owner_id = $3)) AND strpos("f_title", $4) > 0"#
        );
        assert_eq!(
            binds,
            vec![
                Bind::Text("published".into()),
                Bind::Text("published".into()),
                Bind::Text(me.to_text()),
                Bind::Text("x'--".into()),
            ]
        );
        let mut sql = Sql::new(BackendKind::Sqlite, &spec);
        sql.filter(&filter("title", Op::Contains, text("x")));
        assert_eq!(sql.finish().unwrap().0.0, r#"instr("f_title", $1) > 0"#);
        // Booleans bind as 0/1, whole numbers for number fields as floats.
        assert_eq!(
            bind_value(spec.field("flag").map(|f| &f.ty), &Value::Bool(true)),
            Bind::Int(1)
        );
        assert_eq!(
            bind_value(spec.field("score").map(|f| &f.ty), &Value::Int(2)),
            Bind::Num(2.0)
        );
    }

    #[test]
    fn array_reader_is_strict_and_exact() {
        let strings = ScalarType::String { min: 0, max: 100 };
        let ints = ScalarType::Integer {
            min: i64::MIN,
            max: i64::MAX,
        };
        let nums = ScalarType::Number {
            min: f64::MIN,
            max: f64::MAX,
        };
        assert_eq!(
            decode_list(
                &strings,
                r#" [ "a\"b" , "\\", "\u00e9\ud83c\udf89\n", "/\/" ] "#
            )
            .ok(),
            Some(Value::List(vec![
                text("a\"b"),
                text("\\"),
                text("é🎉\n"),
                text("//"),
            ]))
        );
        assert_eq!(decode_list(&ints, "[]").ok(), Some(Value::List(vec![])));
        assert_eq!(
            decode_list(&nums, "[1e300,-0.5,419528.20284845884]").ok(),
            Some(Value::List(vec![
                Value::Num(1e300),
                Value::Num(-0.5),
                Value::Num(419_528.202_848_458_84),
            ]))
        );
        for bad in [
            "",
            "[",
            "]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[1]]",
            "{}",
            "[null]",
            "[1e999]",
            "[nan]",
            "[inf]",
            "[\"a]",
            "[\"\\x\"]",
            "[\"\\ud83c\"]",
            "[\"\u{1}\"]",
        ] {
            let as_nums = decode_list(&nums, bad);
            let as_strings = decode_list(&strings, bad);
            assert!(
                matches!(as_nums, Err(StoreError::Corrupt(_)))
                    && matches!(as_strings, Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
        assert!(decode_list(&ints, "[1.0]").is_err());
        assert!(decode_list(&ScalarType::Boolean, "[0]").is_err());
    }

    #[test]
    fn written_lists_read_back_identically() {
        let nums = ScalarType::Number {
            min: f64::MIN,
            max: f64::MAX,
        };
        // Doubles spread over the whole range, written as the store writes them.
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut values = Vec::new();
        while values.len() < 2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if f.is_finite() {
                values.push(Value::Num(f));
            }
        }
        let list = Value::List(values);
        let Bind::Text(json) = bind_value(None, &list) else {
            panic!("lists bind as text");
        };
        assert_eq!(decode_list(&nums, &json).ok(), Some(list));
    }
}
