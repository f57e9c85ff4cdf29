//! Logging set-up: the global `tracing` subscriber, and the writer that redacts every line.
//!
//! [`init`] installs one subscriber for the whole process: an `EnvFilter` (`RUST_LOG` when set,
//! otherwise the configured level), a `tracing-subscriber` fmt layer (one JSON object per line in
//! production, readable text in development), and standard error as the destination, reached
//! only through a [`RedactingMakeWriter`].
//!
//! **The threat.** Logs are read by more people, kept longer and shipped further than the
//! database, so a secret in a log is a secret leaked. Call sites try not to log secrets, but one
//! `?request` with a password field, a library that logs an `Authorization` header, or an error
//! that quotes a URL with `?access_token=` is enough. So redaction does not rely on call sites:
//! it happens on the formatted output, whoever logged it.
//!
//! **How.** The fmt layer formats each event into a buffer and hands it to the writer. The
//! [`RedactingWriter`] collects those bytes and, for each complete line:
//!
//! - in [`LogFormat::Json`], parses the line and runs it through
//!   [`rampart_core::redact::redact_value`], so a field named `password`, `token`, `Set-Cookie`,
//!   ... is masked wherever it sits (event fields, span fields), and a bearer token or JWT inside
//!   any string is masked too. A line that does not parse falls back to `redact_text`. A line
//!   with nothing to redact is written byte for byte as it came;
//! - in [`LogFormat::Text`], runs the line through [`rampart_core::redact::redact_text`], which
//!   masks `key=value` pairs with a sensitive key, bearer credentials, JWTs and URL passwords.
//!
//! This is the same redaction the audit trail applies to its metadata, so logs and audit entries
//! cannot disagree about what is secret. Text lines are written without ANSI colours, which would
//! split `password` from its `=`.
//!
//! A partial line is held back until its newline arrives (a secret split over two writes is
//! still masked) and is redacted and written when the writer is dropped.
//!
//! ```no_run
//! use rampart_server::logging::{self, LogFormat};
//!
//! logging::init(LogFormat::Json, "info,sqlx=warn").expect("logging starts");
//! tracing::info!(password = "hunter2", user = "bob", "login");
//! // {"timestamp":"…","level":"INFO","message":"login","password":"[REDACTED]","user":"bob",…}
//! ```

use std::borrow::Cow;
use std::io::{self, Write};

use rampart_core::redact::{REDACTED, redact_text, redact_value};
use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for production and log shippers.
    Json,
    /// Human-readable lines, for development.
    Text,
}

/// Installs the process-wide `tracing` subscriber, writing redacted lines to standard error.
///
/// The filter is `RUST_LOG` when it is set and not empty, otherwise `default_level`, which is a
/// level (`info`) or a full filter (`info,sqlx=warn`). Either one, if invalid, is an error that
/// names it. In `default_level`, a bare word must be a level: `EnvFilter` would read `inf` as
/// "everything from the target `inf`" and silently log nothing else.
///
/// Fails if a global subscriber is already installed.
pub fn init(format: LogFormat, default_level: &str) -> Result<(), String> {
    let rust_log = match std::env::var("RUST_LOG") {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err("RUST_LOG is not valid UTF-8".to_owned());
        }
    };
    let filter = filter(rust_log.as_deref(), default_level)?;
    subscriber(format, filter, io::stderr)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))
}

/// The filter [`init`] installs; separate so it can be tested without a global subscriber.
fn filter(rust_log: Option<&str>, default_level: &str) -> Result<EnvFilter, String> {
    if let Some(rust_log) = rust_log.filter(|v| !v.trim().is_empty()) {
        return EnvFilter::builder()
            .parse(rust_log)
            .map_err(|e| format!("RUST_LOG={rust_log:?} is not a valid log filter: {e}"));
    }
    let directives = default_level.trim();
    if directives.is_empty() {
        return Err(
            "the log level is empty; use trace, debug, info, warn, error or off".to_owned(),
        );
    }
    for directive in directives.split(',').map(str::trim) {
        let is_bare_word = !directive.contains(['=', '[', '{']);
        if is_bare_word && directive.parse::<LevelFilter>().is_err() {
            return Err(format!(
                "log level {default_level:?}: {directive:?} is not a level; use trace, debug, \
                 info, warn, error or off, or target=level"
            ));
        }
    }
    EnvFilter::builder()
        .parse(directives)
        .map_err(|e| format!("log level {default_level:?} is not a valid log filter: {e}"))
}

/// The subscriber [`init`] installs, writing through a [`RedactingMakeWriter`] over `inner`.
fn subscriber<M>(
    format: LogFormat,
    filter: EnvFilter,
    inner: M,
) -> Box<dyn Subscriber + Send + Sync>
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let writer = RedactingMakeWriter::new(inner, format);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => Box::new(
            registry.with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            ),
        ),
        LogFormat::Text => {
            Box::new(registry.with(fmt::layer().with_ansi(false).with_writer(writer)))
        }
    }
}

/// A [`MakeWriter`] whose writers redact every line before passing it to `inner`'s.
///
/// See the [module documentation](self) for what is redacted and how.
#[derive(Debug, Clone)]
pub struct RedactingMakeWriter<M> {
    inner: M,
    format: LogFormat,
}

impl<M> RedactingMakeWriter<M> {
    /// Wraps `inner`; `format` says how lines are parsed: it must match the fmt layer's format.
    pub fn new(inner: M, format: LogFormat) -> Self {
        Self { inner, format }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::new(self.inner.make_writer(), self.format)
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        RedactingWriter::new(self.inner.make_writer_for(meta), self.format)
    }
}

/// The writer a [`RedactingMakeWriter`] makes: buffers bytes, redacts and forwards complete
/// lines, and redacts and forwards what is left when dropped.
#[derive(Debug)]
pub struct RedactingWriter<W: Write> {
    inner: W,
    format: LogFormat,
    /// Bytes of a line whose newline has not arrived yet.
    pending: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    fn new(inner: W, format: LogFormat) -> Self {
        Self {
            inner,
            format,
            pending: Vec::new(),
        }
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let before = self.pending.len();
        self.pending.extend_from_slice(buf);
        if let Some(last) = buf.iter().rposition(|&b| b == b'\n') {
            let complete = before + last;
            let mut out = Vec::with_capacity(complete + 1);
            for line in self.pending[..complete].split(|&b| b == b'\n') {
                redact_line(self.format, line, &mut out);
                out.push(b'\n');
            }
            self.pending.drain(..=complete);
            // One write per batch of lines keeps an event's line whole on a shared stderr.
            self.inner.write_all(&out)?;
        }
        Ok(buf.len())
    }

    /// Flushes the inner writer. A partial line stays buffered: written now, it would be
    /// redacted without its end, and a secret split across the cut would escape.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(self.pending.len());
        redact_line(self.format, &self.pending, &mut out);
        // Nowhere to report a failure from a destructor; a lost log line is the lesser harm.
        let _ = self.inner.write_all(&out);
        let _ = self.inner.flush();
    }
}

/// Appends the redacted form of `line` (without its newline) to `out`.
fn redact_line(format: LogFormat, line: &[u8], out: &mut Vec<u8>) {
    if format == LogFormat::Json
        && let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(line)
    {
        let original = value.clone();
        redact_value(&mut value);
        if value == original {
            // Keep the line as the formatter wrote it (field order included).
            out.extend_from_slice(line);
        } else if serde_json::to_writer(&mut *out, &value).is_err() {
            // Serialising a `Value` does not fail; if it ever did, write nothing secret.
            out.extend_from_slice(REDACTED.as_bytes());
        }
        return;
    }
    let text = String::from_utf8_lossy(line);
    match redact_text(&text) {
        Cow::Borrowed(_) => out.extend_from_slice(line),
        Cow::Owned(redacted) => out.extend_from_slice(redacted.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

    /// An in-memory log destination shared between the subscriber and the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Runs `events` under the subscriber `init` would install, writing to memory.
    fn capture(format: LogFormat, events: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber = subscriber(format, EnvFilter::new("trace"), captured.clone());
        tracing::subscriber::with_default(subscriber, events);
        captured.text()
    }

    fn log_secrets() {
        tracing::info!(password = "hunter2", user = "bob", "login");
        tracing::info!("header was Bearer abc.def.ghi");
        tracing::info!("client sent {JWT} in a query");
        tracing::info!(
            body = r#"{"email":"bob@example.com","newPassword":"hunter3"}"#,
            "request body"
        );
        tracing::info!(refresh_token = %"rt-secret-1", "token refreshed");
        tracing::info!(authorization = "Basic dXNlcjpwYXNz", "header");
        let span = tracing::info_span!("session", api_key = "key-secret-2", user_id = 42);
        span.in_scope(|| tracing::warn!(attempts = 3, "inside span"));
    }

    const SECRETS: [&str; 8] = [
        "hunter2",
        "hunter3",
        "abc.def.ghi",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        "rt-secret-1",
        "dXNlcjpwYXNz",
        "key-secret-2",
        "dozjgNryP4J3jVmNHl0w5N",
    ];

    #[track_caller]
    fn assert_no_secrets(output: &str) {
        for secret in SECRETS {
            assert!(!output.contains(secret), "{secret:?} leaked in:\n{output}");
        }
        assert!(output.contains(REDACTED), "nothing redacted in:\n{output}");
    }

    #[test]
    fn json_lines_are_redacted_and_stay_json() {
        let output = capture(LogFormat::Json, log_secrets);
        assert_no_secrets(&output);
        let lines: Vec<serde_json::Value> = output
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 7, "{output}");

        assert_eq!(lines[0]["message"], "login");
        assert_eq!(lines[0]["password"], REDACTED);
        assert_eq!(lines[0]["user"], "bob");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[1]["message"], "header was Bearer [REDACTED]");
        assert_eq!(lines[2]["message"], "client sent [REDACTED] in a query");
        assert_eq!(
            lines[3]["body"],
            r#"{"email":"bob@example.com","newPassword":"[REDACTED]"}"#
        );
        assert_eq!(lines[4]["refresh_token"], REDACTED);
        assert_eq!(lines[5]["authorization"], REDACTED);
        assert_eq!(lines[6]["message"], "inside span");
        assert_eq!(lines[6]["attempts"], 3);
        assert_eq!(lines[6]["span"]["name"], "session");
        assert_eq!(lines[6]["span"]["api_key"], REDACTED);
        assert_eq!(lines[6]["span"]["user_id"], 42);
    }

    #[test]
    fn text_lines_are_redacted() {
        let output = capture(LogFormat::Text, log_secrets);
        assert_no_secrets(&output);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 7, "{output}");
        assert!(
            lines[0].contains(r#"login password="[REDACTED]" user="bob""#),
            "{output}"
        );
        assert!(
            lines[1].ends_with("header was Bearer [REDACTED]"),
            "{output}"
        );
        assert!(
            lines[2].ends_with("client sent [REDACTED] in a query"),
            "{output}"
        );
        assert!(
            lines[3].contains(r#"\"newPassword\":\"[REDACTED]\""#),
            "{output}"
        );
        assert!(lines[3].contains("bob@example.com"), "{output}");
        assert!(lines[4].contains("refresh_token=[REDACTED]"), "{output}");
        assert!(
            lines[5].contains(r#"authorization="[REDACTED]""#),
            "{output}"
        );
        assert!(
            lines[6].contains(r#"session{api_key="[REDACTED]" user_id=42}"#),
            "{output}"
        );
        assert!(lines[6].contains("inside span attempts=3"), "{output}");
    }

    #[test]
    fn ordinary_lines_pass_through_unchanged() {
        let events = || {
            tracing::info!(user_id = 7, route = "/api/login", "login succeeded");
            tracing::debug!(key = "ip:203.0.113.7", "rate limited");
        };
        let json = capture(LogFormat::Json, events);
        assert!(!json.contains(REDACTED), "{json}");
        // The formatter's field order survives: the line was not re-serialised.
        assert!(json.starts_with(r#"{"timestamp":"#), "{json}");
        assert!(json.contains(r#""key":"ip:203.0.113.7""#), "{json}");

        let text = capture(LogFormat::Text, events);
        assert!(!text.contains(REDACTED), "{text}");
        assert!(
            text.contains("login succeeded user_id=7 route=\"/api/login\""),
            "{text}"
        );
    }

    /// Writes `chunks` through a redacting writer and returns what reached the inner writer.
    fn write_chunks(format: LogFormat, chunks: &[&str]) -> String {
        let captured = Captured::default();
        let make = RedactingMakeWriter::new(captured.clone(), format);
        {
            let mut writer = make.make_writer();
            for chunk in chunks {
                writer.write_all(chunk.as_bytes()).unwrap();
                writer.flush().unwrap();
            }
        }
        captured.text()
    }

    #[test]
    fn a_secret_split_across_writes_is_still_masked() {
        let output = write_chunks(LogFormat::Text, &["user=bob pass", "word=hun", "ter2 ok\n"]);
        assert_eq!(output, "user=bob password=[REDACTED] ok\n");
    }

    #[test]
    fn several_lines_in_one_write_are_each_redacted() {
        let output = write_chunks(
            LogFormat::Json,
            &["{\"token\":\"a\"}\n{\"msg\":\"Bearer b\"}\n{\"ok\":1}\n"],
        );
        assert_eq!(
            output,
            "{\"token\":\"[REDACTED]\"}\n{\"msg\":\"Bearer [REDACTED]\"}\n{\"ok\":1}\n"
        );
    }

    #[test]
    fn a_partial_line_is_redacted_when_the_writer_drops() {
        let output = write_chunks(LogFormat::Text, &["first token=a\nsecond secret=b"]);
        assert_eq!(output, "first token=[REDACTED]\nsecond secret=[REDACTED]");
    }

    #[test]
    fn a_json_line_that_does_not_parse_falls_back_to_text_redaction() {
        let output = write_chunks(LogFormat::Json, &["{\"password\":\"hunter2\", truncated\n"]);
        assert_eq!(output, "{\"password\":\"[REDACTED]\", truncated\n");
    }

    #[test]
    fn non_utf8_bytes_do_not_stop_redaction() {
        let captured = Captured::default();
        let make = RedactingMakeWriter::new(captured.clone(), LogFormat::Text);
        {
            let mut writer = make.make_writer();
            writer.write_all(b"\xff\xfe password=hunter2\n").unwrap();
        }
        let output = captured.0.lock().unwrap().clone();
        let output = String::from_utf8_lossy(&output);
        assert!(!output.contains("hunter2"), "{output}");
        assert!(output.contains("password=[REDACTED]"), "{output}");
    }

    #[test]
    fn filter_prefers_rust_log_and_checks_levels() {
        assert!(filter(None, "info").is_ok());
        assert!(filter(None, "INFO").is_ok());
        assert!(filter(None, " warn ").is_ok());
        assert!(filter(None, "info,sqlx=warn").is_ok());
        assert!(filter(None, "rampart_server=debug,tower_http=trace").is_ok());
        assert!(
            filter(Some(""), "info").is_ok(),
            "an empty RUST_LOG is unset"
        );
        assert!(
            filter(Some("rampart_server"), "info").is_ok(),
            "RUST_LOG keeps its own syntax"
        );

        // RUST_LOG, when set, is the filter: an invalid default level does not matter then.
        assert!(filter(Some("debug"), "nonsense").is_ok());
        assert!(
            filter(Some("debug"), "nonsense")
                .unwrap()
                .to_string()
                .contains("debug")
        );
        assert!(filter(None, "debug").unwrap().to_string().contains("debug"));

        for bad in [
            "",
            "  ",
            "inf",
            "verbose",
            "info,sqlx",
            "sqlx=verbose",
            "info,=warn",
        ] {
            let err = filter(None, bad).expect_err(bad);
            assert!(
                err.contains("log level") || err.contains("empty"),
                "{bad:?}: {err}"
            );
        }
        let err = filter(Some("sqlx=loud"), "info").expect_err("invalid RUST_LOG");
        assert!(err.contains("RUST_LOG"), "{err}");
    }
}
