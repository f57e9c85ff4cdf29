//! The `rampart` binary as an operator (or a careless one) runs it: production refuses every
//! unsafe configuration before listening, development generates private keys, `config check`
//! masks secrets, the key commands never print key material, `users create-admin` makes
//! a working admin, `audit verify` names each kind of tampering, and no password or token
//! reaches the logs or the audit trail.
//!
//! Each test runs the binary in its own temporary directory with `RAMPART_*` variables from
//! the outer environment removed, and every child process is bounded in time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";

/// How long a command that should exit by itself may take.
const EXIT_BOUND: Duration = Duration::from_secs(20);
/// Hashing a password in a debug build takes longer; still bounded.
const SLOW_EXIT_BOUND: Duration = Duration::from_secs(60);

/// A working directory for one test.
struct Sandbox {
    dir: tempfile::TempDir,
}

/// A finished command.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    #[track_caller]
    fn assert_success(&self) {
        assert_eq!(self.code, Some(0), "{self:#?}");
    }

    #[track_caller]
    fn assert_failure(&self) {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a non-zero exit: {self:#?}"
        );
    }

    /// Exit code 2 and exactly one message, a configuration error naming `setting`.
    #[track_caller]
    fn assert_config_refusal(&self, setting: &str) {
        assert_eq!(self.code, Some(2), "{self:#?}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "expected a single message: {self:#?}");
        assert!(
            lines[0].contains("configuration error") && lines[0].contains(setting),
            "the message does not name {setting}: {self:#?}"
        );
        assert!(
            !self.stderr.contains("listening"),
            "it listened before refusing: {self:#?}"
        );
    }
}

/// Kills the child on drop, so a failing assertion never leaves a server running.
struct Running {
    child: Child,
    stderr_lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

/// What a stopped server left behind.
#[derive(Debug)]
struct Stopped {
    status: ExitStatus,
    /// Every stderr line, colour sequences removed.
    stderr: Vec<String>,
    stdout: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Waits (bounded) for a stderr line containing `needle`; returns it.
    fn wait_for_line(&mut self, needle: &str, bound: Duration) -> String {
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) => {
                    let line = strip_ansi(&line);
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    let status = self.child.try_wait();
                    panic!(
                        "no line containing {needle:?} within {bound:?} (exit: {status:?}); stderr so far: {:#?}",
                        self.seen
                    );
                }
            }
        }
    }

    /// The address from the "listening on http://ADDR" log line.
    fn wait_until_listening(&mut self) -> SocketAddr {
        let line = self.wait_for_line("listening on http://", Duration::from_secs(30));
        let rest = line.split("listening on http://").nth(1).unwrap();
        let addr: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
            .collect();
        let addr: SocketAddr = addr.parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(addr.ip().is_loopback(), "{addr}");
        addr
    }

    /// Asks the server to stop (SIGTERM on Unix, as an orchestrator would; a kill elsewhere),
    /// waits (bounded) for it to exit and returns everything it wrote.
    fn stop(&mut self) -> Stopped {
        #[cfg(unix)]
        {
            let sent = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status()
                .expect("kill(1) runs");
            assert!(sent.success(), "kill -TERM failed: {sent:?}");
        }
        #[cfg(not(unix))]
        let _ = self.child.kill();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the server did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        // The process is gone, so the reader thread reaches end of file and hangs up.
        loop {
            match self.stderr_lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => self.seen.push(strip_ansi(&line)),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("stderr did not close"),
            }
        }
        let stdout = self
            .stdout
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        Stopped {
            status,
            stderr: std::mem::take(&mut self.seen),
            stdout,
        }
    }
}

/// Removes terminal colour sequences from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... final byte in @..~
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) && d != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn key_ring(&self) -> PathBuf {
        self.data_dir().join("keys.json")
    }

    /// `rampart ARGS --data-dir <sandbox>/data` in the sandbox, with only the given `RAMPART_*`
    /// variables.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
        cmd.current_dir(self.dir.path());
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("RAMPART_") || name == "RUST_LOG" {
                cmd.env_remove(&key);
            }
        }
        cmd.env("NO_COLOR", "1");
        // Parallel tests must not fight over the default metrics port.
        cmd.env("RAMPART_METRICS__LISTEN", "127.0.0.1:0");
        cmd.args(args).arg("--data-dir").arg(self.data_dir());
        cmd.envs(env.iter().copied());
        cmd
    }

    /// Runs a command that must exit by itself within `bound`; kills it and fails otherwise.
    fn run_bounded(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
        bound: Duration,
    ) -> Outcome {
        let mut cmd = self.command(args, env);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the binary starts");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).unwrap();
            // Dropping the pipe closes stdin.
        }
        let out = read_all(child.stdout.take().unwrap());
        let err = read_all(child.stderr.take().unwrap());
        let deadline = Instant::now() + bound;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`rampart {}` did not exit within {bound:?}", args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        Outcome {
            code: status.code(),
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        self.run_bounded(args, env, None, EXIT_BOUND)
    }

    /// Starts a long-running command (the server); stderr lines arrive on a channel.
    fn start(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut cmd = self.command(args, env);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the binary starts");
        let stdout = read_all(child.stdout.take().unwrap());
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            stderr_lines: rx,
            seen: Vec::new(),
            stdout: Some(stdout),
        }
    }

    fn keys_init(&self, env: &[(&str, &str)]) {
        self.run(&["keys", "init"], env).assert_success();
        assert!(self.key_ring().exists());
    }

    fn serve_production(&self, env: &[(&str, &str)]) -> Outcome {
        self.run(&["serve", "--production", "--listen", "127.0.0.1:0"], env)
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Every secret string in a key ring file: each key's private material and the refresh
/// secret.
fn ring_secrets(path: &Path) -> Vec<String> {
    let ring: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut secrets: Vec<String> = ring["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["private"].as_str().unwrap().to_owned())
        .collect();
    secrets.push(ring["refresh_secret"].as_str().unwrap().to_owned());
    assert!(secrets.iter().all(|s| s.len() >= 40), "{secrets:?}");
    secrets
}

/// A minimal HTTP/1.1 exchange with the server under test (127.0.0.1 only); returns
/// (status, JSON body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let reply = http_full(addr, method, path, headers, body);
    (reply.status, reply.body)
}

/// An HTTP response with its headers.
#[derive(Debug)]
struct Reply {
    status: u16,
    /// Header names lowercased, in the order received.
    headers: Vec<(String, String)>,
    /// The JSON body; `Null` when there is none or it is not JSON.
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value a `Set-Cookie` header gives cookie `name`, if one does and it is not empty.
    fn cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .find_map(|(_, v)| v.strip_prefix(prefix.as_str()))
            .map(|rest| rest.split(';').next().unwrap().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// [`http`], also returning the response headers.
fn http_full(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    assert!(addr.ip().is_loopback());
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

// ---------------------------------------------------------------------------------------------
// Production refuses unsafe configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn production_with_a_valid_ring_and_safe_settings_starts() {
    // The control for the refusals below: the same invocation with nothing unsafe listens.
    let sandbox = Sandbox::new();
    sandbox.keys_init(&[]);
    let mut server = sandbox.start(&["serve", "--production", "--listen", "127.0.0.1:0"], &[]);
    let addr = server.wait_until_listening();
    let (status, body) = http(addr, "GET", "/health", &[], "");
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
}

#[test]
fn production_refuses_a_missing_key_ring() {
    let sandbox = Sandbox::new();
    let out = sandbox.serve_production(&[]);
    out.assert_config_refusal("tokens.key_ring");
    // Production never generates secrets.
    assert!(!sandbox.key_ring().exists());
}

#[cfg(unix)]
#[test]
fn production_refuses_a_key_ring_readable_by_others() {
    let sandbox = Sandbox::new();
    sandbox.keys_init(&[]);
    for exposed in [0o644, 0o640, 0o604, 0o660] {
        set_mode(&sandbox.key_ring(), exposed);
        let out = sandbox.serve_production(&[]);
        out.assert_config_refusal("tokens.key_ring");
        assert!(out.stderr.contains("chmod 600"), "{out:#?}");
    }
}

#[test]
fn production_refuses_a_placeholder_hs256_secret() {
    let sandbox = Sandbox::new();
    let hs256 = [("RAMPART_TOKENS__ALGORITHM", "HS256")];
    sandbox.keys_init(&hs256);
    let path = sandbox.key_ring();
    let mut ring: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(ring["keys"][0]["alg"], "HS256");
    let placeholder = b64url(b"changeme-changeme-changeme-changeme");
    assert_eq!(
        placeholder,
        "Y2hhbmdlbWUtY2hhbmdlbWUtY2hhbmdlbWUtY2hhbmdlbWU"
    );
    ring["keys"][0]["private"] = Value::String(placeholder.clone());
    // Rewriting the existing file keeps its 0600 mode: the secret is the only problem.
    std::fs::write(&path, serde_json::to_string_pretty(&ring).unwrap()).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);

    let out = sandbox.serve_production(&hs256);
    out.assert_config_refusal("tokens.key_ring");
    assert!(out.stderr.contains("placeholder"), "{out:#?}");
    assert!(!out.all().contains(&placeholder), "{out:#?}");
    assert!(!out.all().contains("changeme-changeme"), "{out:#?}");
}

#[test]
fn production_refuses_a_ring_for_another_algorithm() {
    let sandbox = Sandbox::new();
    sandbox.keys_init(&[]); // EdDSA
    let out = sandbox.serve_production(&[("RAMPART_TOKENS__ALGORITHM", "HS256")]);
    out.assert_config_refusal("tokens.algorithm");
}

#[test]
fn production_refuses_wildcard_and_null_cors_and_long_lived_tokens() {
    let sandbox = Sandbox::new();
    sandbox.keys_init(&[]);
    let cases: &[(&str, &str, &str)] = &[
        (
            "RAMPART_CORS__ALLOWED_ORIGINS",
            r#"["*"]"#,
            "cors.allowed_origins",
        ),
        (
            "RAMPART_CORS__ALLOWED_ORIGINS",
            r#"["null"]"#,
            "cors.allowed_origins",
        ),
        (
            "RAMPART_CORS__ALLOWED_ORIGINS",
            r#"["https://app.example","*"]"#,
            "cors.allowed_origins",
        ),
        (
            "RAMPART_TOKENS__ACCESS_TTL_SECS",
            "7200",
            "tokens.access_ttl_secs",
        ),
    ];
    for (name, value, setting) in cases {
        let out = sandbox.serve_production(&[(name, value)]);
        out.assert_config_refusal(setting);
    }
    // The same settings through a config file are refused the same way.
    std::fs::write(
        sandbox.dir.path().join("rampart.toml"),
        "[cors]\nallowed_origins = [\"*\"]\n",
    )
    .unwrap();
    sandbox
        .serve_production(&[])
        .assert_config_refusal("cors.allowed_origins");
}

// ---------------------------------------------------------------------------------------------
// Development generates a private key ring
// ---------------------------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn development_serve_generates_a_private_key_ring() {
    let sandbox = Sandbox::new();
    let path = sandbox.key_ring();
    let mut server = sandbox.start(&["serve", "--listen", "127.0.0.1:0"], &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "no key ring after 20 s: {:#?}",
            server.child.try_wait()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(mode(&path), 0o600, "key ring mode");
    assert_eq!(mode(&sandbox.data_dir()), 0o700, "data directory mode");
    server.wait_until_listening();
    // The log says where the ring is, never what is in it.
    let log = server.seen.join("\n");
    assert!(log.contains("keys.json"), "{log}");
    for secret in ring_secrets(&path) {
        assert!(!log.contains(&secret[..16]), "key material logged: {log}");
    }
}

// ---------------------------------------------------------------------------------------------
// config check
// ---------------------------------------------------------------------------------------------

#[test]
fn config_check_masks_the_database_password() {
    let sandbox = Sandbox::new();
    for url in [
        "postgres://app:hunter2@127.0.0.1:1/db",
        "postgresql://app:hunter2@127.0.0.1:1/db",
        "postgres://app:hunter2@127.0.0.1:1/db?sslmode=disable&password=hunter2",
        "postgres://app:hun%40ter2hunter2@127.0.0.1:1/db",
    ] {
        let out = sandbox.run(&["config", "check"], &[("RAMPART_DATABASE_URL", url)]);
        out.assert_success();
        assert!(!out.all().contains("hunter2"), "{url}: {out:#?}");
        assert!(out.stdout.contains("app:****@127.0.0.1:1/db"), "{out:#?}");
        assert!(out.stdout.contains("[tokens]"), "{out:#?}");
    }
    // A refused URL is not echoed either.
    let out = sandbox.run(
        &["config", "check"],
        &[("RAMPART_DATABASE_URL", "mysql://app:hunter2@127.0.0.1:1/db")],
    );
    out.assert_config_refusal("database_url");
    assert!(!out.all().contains("hunter2"), "{out:#?}");
}

#[test]
fn config_check_masks_passwords_with_url_special_characters() {
    // Generated passwords (base64, for instance) often contain `/`, `+` or `=`; operators
    // paste them unencoded. Whatever the URL looks like, the password must not be printed.
    let sandbox = Sandbox::new();
    for url in [
        "postgres://app:hunter2/abc@127.0.0.1:1/db",
        "postgres://app:hun+ter2/Zx==@127.0.0.1:1/db",
    ] {
        let out = sandbox.run(&["config", "check"], &[("RAMPART_DATABASE_URL", url)]);
        assert!(
            !out.all().contains("hunter2") && !out.all().contains("ter2/Zx"),
            "{url}: the password is printed: {out:#?}"
        );
    }
}

#[test]
fn unreachable_database_does_not_leak_its_password() {
    let sandbox = Sandbox::new();
    let out = sandbox.run_bounded(
        &["serve", "--listen", "127.0.0.1:0"],
        &[(
            "RAMPART_DATABASE_URL",
            "postgres://app:hunter2@127.0.0.1:1/db",
        )],
        None,
        SLOW_EXIT_BOUND,
    );
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(!out.all().contains("hunter2"), "{out:#?}");
}

// ---------------------------------------------------------------------------------------------
// keys
// ---------------------------------------------------------------------------------------------

#[test]
fn key_rotation_and_retirement_never_print_key_material() {
    let sandbox = Sandbox::new();
    let path = sandbox.key_ring();
    let mut outputs = Vec::new();

    let init = sandbox.run(&["keys", "init"], &[]);
    init.assert_success();
    outputs.push(init);
    let first = ring_secrets(&path);

    // A second init refuses to overwrite the ring.
    let before = std::fs::read_to_string(&path).unwrap();
    let again = sandbox.run(&["keys", "init"], &[]);
    again.assert_failure();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    outputs.push(again);

    let rotate = sandbox.run(&["keys", "rotate"], &[]);
    rotate.assert_success();
    outputs.push(rotate);
    let secrets = ring_secrets(&path);
    assert_eq!(secrets.len(), 3, "two keys and the refresh secret");
    assert!(secrets.contains(&first[0]), "rotation keeps the old key");

    let ring: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let active = ring["active"].as_str().unwrap().to_owned();
    let kids: Vec<String> = ring["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    let old = kids.iter().find(|k| **k != active).unwrap().clone();

    let list = sandbox.run(&["keys", "list"], &[]);
    list.assert_success();
    let lines: Vec<&str> = list.stdout.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{list:#?}");
    let active_lines: Vec<&&str> = lines.iter().filter(|l| l.contains("(active)")).collect();
    assert_eq!(active_lines.len(), 1, "{list:#?}");
    assert!(active_lines[0].starts_with(&active), "{list:#?}");
    assert!(lines.iter().any(|l| l.starts_with(&old)), "{list:#?}");
    outputs.push(list);

    // The active key cannot be retired; nor can a key that is not there. The ring is
    // unchanged.
    let before = std::fs::read_to_string(&path).unwrap();
    // Key ids are base64url: one may start with `-`, and is an id, not a flag.
    for kid in [
        active.as_str(),
        "NoSuchKey123",
        "-NoSuchKey12",
        "../../etc/passwd",
    ] {
        let out = sandbox.run(&["keys", "retire", kid], &[]);
        out.assert_failure();
        assert!(!out.stderr.contains("unexpected argument"), "{out:#?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "{kid}");
        outputs.push(out);
    }

    let retire = sandbox.run(&["keys", "retire", &old], &[]);
    retire.assert_success();
    outputs.push(retire);
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);

    let list = sandbox.run(&["keys", "list"], &[]);
    list.assert_success();
    let lines: Vec<&str> = list.stdout.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "{list:#?}");
    assert!(
        lines[0].starts_with(&active) && lines[0].contains("(active)"),
        "{list:#?}"
    );
    outputs.push(list);

    for out in &outputs {
        for secret in &secrets {
            assert!(
                !out.all().contains(secret.as_str()),
                "key material printed: {out:#?}"
            );
            // Not even a recognisable slice of it.
            assert!(
                !out.all().contains(&secret[..16]),
                "key material printed: {out:#?}"
            );
        }
        assert!(!out.all().contains("\"private\""), "{out:#?}");
    }
}

// ---------------------------------------------------------------------------------------------
// users create-admin
// ---------------------------------------------------------------------------------------------

#[test]
fn create_admin_from_stdin_or_generated_password_makes_a_working_admin() {
    let sandbox = Sandbox::new();
    let create = |email: &str, stdin: Option<&str>, extra: &[&str]| {
        let mut args = vec!["users", "create-admin", "--email", email];
        args.extend_from_slice(extra);
        sandbox.run_bounded(&args, &[], stdin, SLOW_EXIT_BOUND)
    };

    // A weak password is refused and creates nothing.
    let weak = create("admin@example.com", Some("password\n"), &[]);
    weak.assert_failure();
    assert!(weak.stderr.contains("password"), "{weak:#?}");
    // No password at all (empty stdin) is refused too.
    create("admin@example.com", Some(""), &[]).assert_failure();

    // A strong password on stdin: created (so the weak attempt had created nothing).
    let ok = create("admin@example.com", Some(&format!("{PASSWORD}\n")), &[]);
    ok.assert_success();
    assert!(
        ok.stdout.contains("created admin admin@example.com"),
        "{ok:#?}"
    );
    assert!(
        !ok.all().contains(PASSWORD),
        "the password was echoed: {ok:#?}"
    );
    // It exists now: a second one with the same email is refused.
    let dup = create("admin@example.com", Some(&format!("{PASSWORD}\n")), &[]);
    dup.assert_failure();
    assert!(!dup.all().contains(PASSWORD), "{dup:#?}");

    // A generated password is printed exactly once.
    let generated = create("gen@example.com", None, &["--generate-password"]);
    generated.assert_success();
    let lines: Vec<&str> = generated
        .stdout
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("password"))
        .collect();
    assert_eq!(lines.len(), 1, "{generated:#?}");
    let secret = lines[0].rsplit(": ").next().unwrap().trim().to_owned();
    assert!(secret.len() >= 20, "{secret:?}");
    assert!(!secret.contains(' '), "{secret:?}");
    assert_eq!(generated.stdout.matches(secret.as_str()).count(), 1);
    assert!(!generated.stderr.contains(secret.as_str()));

    // Both admins can log in and reach an admin-only route.
    let mut server = sandbox.start(&["serve", "--listen", "127.0.0.1:0"], &[]);
    let addr = server.wait_until_listening();
    for (email, password) in [
        ("admin@example.com", PASSWORD),
        ("gen@example.com", secret.as_str()),
    ] {
        let body = serde_json::json!({ "email": email, "password": password }).to_string();
        let (status, json) = http(addr, "POST", "/api/auth/login", &[], &body);
        assert_eq!(status, 200, "{email}: {json}");
        let token = json["access_token"].as_str().unwrap();
        let auth = format!("Bearer {token}");
        let (status, json) = http(
            addr,
            "GET",
            "/api/admin/users",
            &[("Authorization", auth.as_str())],
            "",
        );
        assert_eq!(status, 200, "{email} is not an admin: {json}");
    }
    // The refused weak-password attempt left no account behind: one admin@ only.
    let body =
        serde_json::json!({ "email": "admin@example.com", "password": "password" }).to_string();
    let (status, json) = http(addr, "POST", "/api/auth/login", &[], &body);
    assert_eq!(status, 401, "{json}");
    assert_eq!(json["error"], "invalid_credentials");
}

// ---------------------------------------------------------------------------------------------
// Several real processes
// ---------------------------------------------------------------------------------------------

/// Two `rampart serve` processes on one database and one Redis admit a policy's `max`
/// requests in total, not each. Needs `RAMPART_TEST_REDIS_URL` (scripts/test starts a private
/// redis-server); without it the test is skipped, except under `CI=true`, where that is a
/// failure.
#[test]
fn two_real_servers_sharing_one_redis_admit_max_in_total() {
    let Some(redis_url) = std::env::var("RAMPART_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but RAMPART_TEST_REDIS_URL is not set"
        );
        eprintln!("skipped: RAMPART_TEST_REDIS_URL not set");
        return;
    };
    let sandbox = Sandbox::new();
    // One key ring for both processes, made before either starts.
    sandbox.keys_init(&[]);
    let policy = format!("two-procs-{}", uuid_like());
    std::fs::write(
        sandbox.dir.path().join("rampart.toml"),
        format!(
            r#"redis_url = "{redis_url}"

[[rate_limit.policies]]
name = "{policy}"
methods = ["GET"]
routes = ["/api/users/me"]
max = 4
window_secs = 600
"#
        ),
    )
    .unwrap();
    let mut a = sandbox.start(&["serve", "--listen", "127.0.0.1:0"], &[]);
    let addr_a = a.wait_until_listening();
    let mut b = sandbox.start(&["serve", "--listen", "127.0.0.1:0"], &[]);
    let addr_b = b.wait_until_listening();

    let creds = format!(r#"{{"email":"two@example.com","password":"{PASSWORD}"}}"#);
    let register = format!(r#"{{"email":"two@example.com","password":"{PASSWORD}","name":"Two"}}"#);
    assert_eq!(
        http(addr_a, "POST", "/api/auth/register", &[], &register).0,
        201
    );
    let (status, body) = http(addr_b, "POST", "/api/auth/login", &[], &creds);
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let auth = format!("Bearer {token}");

    let mut admitted = 0;
    for i in 0..8 {
        let addr = if i % 2 == 0 { addr_a } else { addr_b };
        let (status, body) = http(
            addr,
            "GET",
            "/api/users/me",
            &[("Authorization", &auth)],
            "",
        );
        match status {
            200 => admitted += 1,
            429 => assert_eq!(body["error"], "rate_limited", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        admitted, 4,
        "the two processes together admit max, not max each"
    );
}

/// A random-enough suffix without a dependency: the time and the process id.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{:x}", nanos, std::process::id())
}

// ---------------------------------------------------------------------------------------------
// audit verify
// ---------------------------------------------------------------------------------------------

/// Every key command seals its own entry (no server may be running to sign it later), so the
/// 12-entry trail has a checkpoint at every entry; the cadence still bounds the unsigned tail.
const CHECKPOINT_EVERY: (&str, &str) = ("RAMPART_AUDIT__CHECKPOINT_EVERY", "5");

/// Where a test's audit trail is stored.
enum TrailDb {
    /// `<data_dir>/audit.sqlite3`, the default.
    Sqlite,
    /// Schema `rampart_audit` of this PostgreSQL database, made for the test.
    Postgres(String),
}

/// A data directory (key ring and audit key) and the audit trail that goes with it.
struct Trail {
    sandbox: Sandbox,
    db: TrailDb,
}

/// One way an attacker with write access to the database rewrites history, and what
/// `audit verify` must then say.
struct Tampering {
    what: &'static str,
    /// Run in order against the trail, after the append-only triggers are dropped; each must
    /// change at least one row.
    sql: &'static [&'static str],
    seq: i64,
    kind: &'static str,
    message: &'static str,
}

/// The PostgreSQL server for this run, if any.
fn test_postgres_url() -> Option<String> {
    std::env::var("RAMPART_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Runs `f` to completion on a fresh single-threaded runtime, bounded in time.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(60), f)
                .await
                .expect("the database did not answer within 60 s")
        })
}

/// Creates a database on the server at `base` (a copy of `template` when given) and returns
/// its URL.
fn create_postgres_database(base: &str, template: Option<&str>) -> String {
    use sqlx::Connection;
    let name = format!("rampart_test_{}", uuid::Uuid::new_v4().simple());
    let sql = match template {
        Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
        None => format!("CREATE DATABASE {name}"),
    };
    block_on(async {
        let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
    match base.rsplit_once('/') {
        Some((prefix, _)) => format!("{prefix}/{name}"),
        None => panic!("RAMPART_TEST_POSTGRES_URL must end in /<database>"),
    }
}

impl Trail {
    /// An empty data directory; on PostgreSQL, with a fresh database.
    fn new() -> Self {
        let db = match test_postgres_url() {
            Some(base) => TrailDb::Postgres(create_postgres_database(&base, None)),
            None => TrailDb::Sqlite,
        };
        Self {
            sandbox: Sandbox::new(),
            db,
        }
    }

    fn audit_file(&self) -> PathBuf {
        self.sandbox.data_dir().join("audit.sqlite3")
    }

    fn audit_key(&self) -> PathBuf {
        self.sandbox.data_dir().join("audit-key.json")
    }

    fn run(&self, args: &[&str]) -> Outcome {
        match &self.db {
            TrailDb::Sqlite => self.sandbox.run(args, &[CHECKPOINT_EVERY]),
            TrailDb::Postgres(url) => self
                .sandbox
                .run(args, &[CHECKPOINT_EVERY, ("RAMPART_DATABASE_URL", url)]),
        }
    }

    /// `audit verify --json`, parsed; the exit code is returned alongside.
    fn verify_json(&self) -> (Option<i32>, Value) {
        let out = self.run(&["audit", "verify", "--json"]);
        let doc = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("--json printed no JSON ({e}): {out:#?}"));
        (out.code, doc)
    }

    /// A copy of this trail that can be tampered with on its own. No process may have the
    /// trail open (each command here has exited).
    fn copy(&self) -> Self {
        let sandbox = Sandbox::new();
        std::fs::create_dir(sandbox.data_dir()).unwrap();
        // Everything in the data directory: the keys and, on SQLite, the trail with its -wal
        // and -shm files if a process left them.
        for entry in std::fs::read_dir(self.sandbox.data_dir()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), sandbox.data_dir().join(entry.file_name())).unwrap();
        }
        let db = match &self.db {
            TrailDb::Sqlite => TrailDb::Sqlite,
            TrailDb::Postgres(url) => {
                let base = test_postgres_url().unwrap();
                let template = url.rsplit('/').next().unwrap();
                TrailDb::Postgres(create_postgres_database(&base, Some(template)))
            }
        };
        let copy = Self { sandbox, db };
        // The control: the copy is the same intact trail.
        let (code, doc) = copy.verify_json();
        assert_eq!((code, &doc["status"]), (Some(0), &Value::from("intact")));
        assert_eq!(doc["entries"], 12, "{doc}");
        copy
    }

    /// Runs `statements` against the trail as an attacker with the database's credentials
    /// would: the append-only triggers refuse the first one, so the attacker drops them first.
    fn tamper(&self, statements: &[&'static str]) {
        use sqlx::{ConnectOptions, Connection};
        // The same steps on either backend's connection type.
        macro_rules! tamper_through {
            ($conn:ident, $setup:expr, $drop_triggers:expr) => {{
                for sql in $setup {
                    sqlx::query(*sql).execute(&mut $conn).await.unwrap();
                }
                let refused = sqlx::query(statements[0]).execute(&mut $conn).await;
                let refused = refused.expect_err("the append-only trigger let an edit through");
                assert!(refused.to_string().contains("append-only"), "{refused}");
                for sql in $drop_triggers {
                    sqlx::query(*sql).execute(&mut $conn).await.unwrap();
                }
                for sql in statements {
                    let done = sqlx::query(*sql).execute(&mut $conn).await.unwrap();
                    assert!(done.rows_affected() > 0, "{sql} changed nothing");
                }
                $conn.close().await.unwrap();
            }};
        }
        block_on(async {
            match &self.db {
                TrailDb::Sqlite => {
                    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(self.audit_file())
                        .create_if_missing(false)
                        .connect()
                        .await
                        .unwrap();
                    let setup: &[&'static str] = &[];
                    tamper_through!(
                        conn,
                        setup,
                        &[
                            "DROP TRIGGER audit_entries_no_update",
                            "DROP TRIGGER audit_entries_no_delete",
                        ]
                    );
                }
                TrailDb::Postgres(url) => {
                    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                    tamper_through!(
                        conn,
                        &["SET search_path TO rampart_audit"],
                        &["DROP TRIGGER audit_entries_no_change ON audit_entries"]
                    );
                }
            }
        });
    }

    /// Removes the trail itself, leaving the keys.
    fn delete_trail(&self) {
        match &self.db {
            TrailDb::Sqlite => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut path = self.audit_file().into_os_string();
                    path.push(suffix);
                    if Path::new(&path).exists() {
                        std::fs::remove_file(&path).unwrap();
                    }
                }
            }
            TrailDb::Postgres(url) => block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query("DROP SCHEMA rampart_audit CASCADE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }),
        }
    }
}

impl Outcome {
    /// Exit code 2 with a message on stderr, nothing on stdout, no panic.
    #[track_caller]
    fn assert_unreadable(&self) {
        assert_eq!(self.code, Some(2), "{self:#?}");
        assert!(
            self.stderr.contains("cannot verify the audit trail"),
            "{self:#?}"
        );
        assert!(self.stdout.trim().is_empty(), "{self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
    }
}

/// On SQLite by default; on PostgreSQL instead when `RAMPART_TEST_POSTGRES_URL` is set (the
/// suite's second pass).
#[test]
fn audit_verify_names_each_kind_of_tampering() {
    let trail = Trail::new();
    trail.run(&["keys", "init"]).assert_success();
    for _ in 0..11 {
        trail.run(&["keys", "rotate"]).assert_success();
    }
    let intact = trail.run(&["audit", "verify"]);
    intact.assert_success();
    assert_eq!(
        intact.stdout.trim(),
        "audit trail intact: 12 entries, 12 checkpoints, last checkpoint at entry 12",
        "{intact:#?}"
    );
    let (code, doc) = trail.verify_json();
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["status"], "intact", "{doc}");
    assert_eq!(doc["entries"], 12, "{doc}");
    assert_eq!(doc["checkpoints"], 12, "{doc}");
    assert_eq!(doc["head"]["seq"], 12, "{doc}");
    assert_eq!(
        doc["head"]["hash"].as_str().map(str::len),
        Some(64),
        "{doc}"
    );
    assert_eq!(doc["last_checkpoint"], 12, "{doc}");
    assert_eq!(doc["first_broken"], Value::Null, "{doc}");

    let cases = [
        Tampering {
            what: "a column of entry 3 edited",
            sql: &["UPDATE audit_entries SET actor_ip = '203.0.113.7' WHERE seq = 3"],
            seq: 3,
            kind: "modified",
            message: "entry 3 was modified or moved",
        },
        Tampering {
            what: "entry 4 deleted",
            sql: &["DELETE FROM audit_entries WHERE seq = 4"],
            seq: 4,
            kind: "missing",
            message: "entry 4 is missing",
        },
        Tampering {
            what: "entries 6 and 7 swapped",
            sql: &[
                "UPDATE audit_entries SET seq = -1 WHERE seq = 6",
                "UPDATE audit_entries SET seq = 6 WHERE seq = 7",
                "UPDATE audit_entries SET seq = 7 WHERE seq = -1",
            ],
            seq: 6,
            kind: "modified",
            message: "entry 6 was modified or moved",
        },
        Tampering {
            what: "the tail after entry 7 cut off",
            sql: &["DELETE FROM audit_entries WHERE seq > 7"],
            seq: 8,
            kind: "truncated",
            message: "entry 8 and later are missing: a signed checkpoint records a longer chain",
        },
    ];
    for case in &cases {
        let what = case.what;
        let copy = trail.copy();
        copy.tamper(case.sql);
        let out = copy.run(&["audit", "verify"]);
        assert_eq!(out.code, Some(1), "{what}: {out:#?}");
        let expected = format!("audit trail TAMPERED: {}", case.message);
        assert!(out.stdout.starts_with(&expected), "{what}: {out:#?}");
        let (code, doc) = copy.verify_json();
        assert_eq!(code, Some(1), "{what}: {doc}");
        assert_eq!(doc["status"], "tampered", "{what}: {doc}");
        assert_eq!(doc["first_broken"]["seq"], case.seq, "{what}: {doc}");
        assert_eq!(doc["first_broken"]["kind"], case.kind, "{what}: {doc}");
        // The text and the JSON tell the same story.
        let message = doc["first_broken"]["message"].as_str().unwrap();
        assert_eq!(
            out.stdout.trim(),
            format!("audit trail TAMPERED: {message}"),
            "{what}"
        );
    }

    // Nothing to verify: exit 2, and verify does not create an empty trail that would pass.
    let no_trail = trail.copy();
    no_trail.delete_trail();
    for args in [&["audit", "verify"][..], &["audit", "verify", "--json"]] {
        no_trail.run(args).assert_unreadable();
    }
    if matches!(no_trail.db, TrailDb::Sqlite) {
        assert!(!no_trail.audit_file().exists());
    }

    // Without the audit key the checkpoints cannot be checked: exit 2, not "intact".
    let no_key = trail.copy();
    std::fs::remove_file(no_key.audit_key()).unwrap();
    for args in [&["audit", "verify"][..], &["audit", "verify", "--json"]] {
        let out = no_key.run(args);
        out.assert_unreadable();
        assert!(out.stderr.contains("audit-key.json"), "{out:#?}");
    }

    // An unreachable database: exit 2, and its password is not echoed. (Once: the pool waits
    // out its 5 s acquire timeout before giving up.)
    let out = trail.sandbox.run(
        &["audit", "verify"],
        &[(
            "RAMPART_DATABASE_URL",
            "postgres://app:hunter2@127.0.0.1:1/db",
        )],
    );
    out.assert_unreadable();
    assert!(!out.all().contains("hunter2"), "{out:#?}");
}

// ---------------------------------------------------------------------------------------------
// Secrets in logs and in the audit trail
// ---------------------------------------------------------------------------------------------

/// Whether `needle` occurs anywhere in `haystack`.
fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The bytes of the SQLite file at `path` and of its `-wal` file (where recent writes sit
/// until a checkpoint), whichever exist.
fn sqlite_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap_or_default();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    bytes.extend(std::fs::read(&wal).unwrap_or_default());
    bytes
}

/// One request made to the server, and what its `rampart::request` log line must say.
struct Sent {
    method: &'static str,
    /// The route template; `None` for a path no route matches.
    route: Option<&'static str>,
    path: String,
    status: u16,
    request_id: String,
    /// The user the request authenticated as with a bearer token, if any.
    user_id: Option<String>,
}

#[test]
fn logs_and_the_audit_trail_never_contain_passwords_or_tokens() {
    const SECRET_PASSWORD: &str = "Zebra-Quokka-7731-distinctive";
    // A mistyped password is as secret as the real one.
    const WRONG_PASSWORD: &str = "Zebra-Quokka-7731-mistyped";
    let sandbox = Sandbox::new();
    let mut server = sandbox.start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("RUST_LOG", "debug"), ("RAMPART_LOG__FORMAT", "json")],
    );
    let addr = server.wait_until_listening();
    let origin = format!("http://{addr}");
    let mut sent: Vec<Sent> = Vec::new();
    let mut secrets: Vec<String> = vec![SECRET_PASSWORD.into(), WRONG_PASSWORD.into()];
    let mut call = |method: &'static str,
                    route: Option<&'static str>,
                    path: &str,
                    headers: &[(&str, &str)],
                    body: &str,
                    user_id: Option<&str>| {
        let reply = http_full(addr, method, path, headers, body);
        let request_id = reply
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{method} {path}: no x-request-id: {reply:#?}"))
            .to_owned();
        sent.push(Sent {
            method,
            route,
            path: path.to_owned(),
            status: reply.status,
            request_id,
            user_id: user_id.map(str::to_owned),
        });
        reply
    };

    let register = serde_json::json!({
        "email": "erin@example.com",
        "password": SECRET_PASSWORD,
        "name": "Erin Example",
    })
    .to_string();
    let reply = call(
        "POST",
        Some("/api/auth/register"),
        "/api/auth/register",
        &[],
        &register,
        None,
    );
    assert_eq!(reply.status, 201, "{reply:#?}");
    let user_id = reply.body["id"].as_str().unwrap().to_owned();

    let login =
        serde_json::json!({ "email": "erin@example.com", "password": SECRET_PASSWORD }).to_string();
    let reply = call(
        "POST",
        Some("/api/auth/login"),
        "/api/auth/login",
        &[],
        &login,
        None,
    );
    assert_eq!(reply.status, 200, "{reply:#?}");
    let access = reply.body["access_token"].as_str().unwrap().to_owned();
    let refresh = reply.cookie("rampart_refresh").expect("a refresh cookie");
    secrets.push(access.clone());
    secrets.push(refresh.clone());
    // The device cookie is a credential too, if the server sets one.
    secrets.extend(reply.cookie("rampart_device"));

    // The refresh cookie, from a page on the server's own origin (a cross-site origin would be
    // refused).
    let cookie = format!("rampart_refresh={refresh}");
    let reply = call(
        "POST",
        Some("/api/auth/refresh"),
        "/api/auth/refresh",
        &[("Cookie", &cookie), ("Origin", &origin)],
        "",
        None,
    );
    assert_eq!(reply.status, 200, "{reply:#?}");
    let access = reply.body["access_token"].as_str().unwrap().to_owned();
    let refresh = reply
        .cookie("rampart_refresh")
        .expect("a rotated refresh cookie");
    secrets.push(access.clone());
    secrets.push(refresh.clone());
    let bearer = format!("Bearer {access}");

    let reply = call(
        "PATCH",
        Some("/api/users/me"),
        "/api/users/me",
        &[("Authorization", &bearer)],
        r#"{"name":"Erin"}"#,
        Some(&user_id),
    );
    assert_eq!(reply.status, 200, "{reply:#?}");
    assert_eq!(reply.body["name"], "Erin");

    let wrong =
        serde_json::json!({ "email": "erin@example.com", "password": WRONG_PASSWORD }).to_string();
    let reply = call(
        "POST",
        Some("/api/auth/login"),
        "/api/auth/login",
        &[],
        &wrong,
        None,
    );
    assert_eq!(reply.status, 401, "{reply:#?}");

    let reply = call(
        "GET",
        None,
        "/api/no-such-route/42",
        &[("Authorization", &bearer)],
        "",
        Some(&user_id),
    );
    assert_eq!(reply.status, 404, "{reply:#?}");

    let cookie = format!("rampart_refresh={refresh}");
    let reply = call(
        "POST",
        Some("/api/auth/logout"),
        "/api/auth/logout",
        &[
            ("Authorization", &bearer),
            ("Cookie", &cookie),
            ("Origin", &origin),
        ],
        "",
        Some(&user_id),
    );
    assert_eq!(reply.status, 204, "{reply:#?}");

    // The trail as it is on disk while the server runs (recent entries in the -wal file),
    // and again after a graceful stop has checkpointed it.
    let audit_file = sandbox.data_dir().join("audit.sqlite3");
    let mut trail_bytes = sqlite_bytes(&audit_file);
    let stopped = server.stop();
    assert!(stopped.status.success(), "{stopped:#?}");
    trail_bytes.extend(sqlite_bytes(&audit_file));
    assert!(!trail_bytes.is_empty(), "no audit trail at {audit_file:?}");

    // Not the secrets, nor a recognisable part of one: the password's first 12 characters, a
    // token's signature or first 16 characters.
    let mut needles: Vec<String> = vec![SECRET_PASSWORD[..12].to_owned()];
    for secret in &secrets {
        needles.push(secret.clone());
        match secret.rsplit_once('.') {
            Some((_, signature)) if secret.starts_with("eyJ") => needles.push(signature.into()),
            _ => needles.push(secret[..16].to_owned()),
        }
    }
    let log = format!("{}\n{}", stopped.stderr.join("\n"), stopped.stdout);
    for needle in &needles {
        assert!(
            !log.contains(needle.as_str()),
            "{needle:?} is in the log:\n{log}"
        );
        assert!(
            !contains_bytes(&trail_bytes, needle.as_bytes()),
            "{needle:?} is in the audit trail"
        );
    }

    // JSON format means every line, not most of them.
    let lines: Vec<Value> = stopped
        .stderr
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| panic!("a stderr line is not a JSON object: {l}"))
        })
        .collect();

    // One access-log line per request, carrying what the client saw.
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "rampart::request")
        .collect();
    assert_eq!(requests.len(), sent.len(), "{requests:#?}");
    for s in &sent {
        let what = format!("{} {}", s.method, s.path);
        let matching: Vec<&&Value> = requests
            .iter()
            .filter(|l| l["request_id"] == s.request_id.as_str())
            .collect();
        assert_eq!(matching.len(), 1, "{what}: {requests:#?}");
        let line = matching[0];
        for field in [
            "method",
            "route",
            "status",
            "latency_ms",
            "request_id",
            "user_id",
            "client_ip",
        ] {
            assert!(line.get(field).is_some(), "{what}: no {field}: {line}");
        }
        assert_eq!(line["method"], s.method, "{what}: {line}");
        assert_eq!(line["status"], s.status, "{what}: {line}");
        assert!(line["latency_ms"].is_number(), "{what}: {line}");
        assert_eq!(line["client_ip"], "127.0.0.1", "{what}: {line}");
        let route = line["route"].as_str().unwrap();
        match s.route {
            Some(template) => assert_eq!(route, template, "{what}: {line}"),
            // No template: the raw path (which could carry anything) is not logged either.
            None => assert!(
                !route.is_empty() && !route.contains("no-such-route"),
                "{what}: {line}"
            ),
        }
        if let Some(user_id) = &s.user_id {
            assert_eq!(line["user_id"], user_id.as_str(), "{what}: {line}");
        }
    }

    // Redaction did not cost the trail its integrity.
    let verify = sandbox.run(&["audit", "verify"], &[]);
    verify.assert_success();
    assert!(
        verify.stdout.starts_with("audit trail intact: "),
        "{verify:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// rampart scan
// ---------------------------------------------------------------------------------------------

#[path = "support/observatory.rs"]
mod observatory;
#[path = "../../rampart-scan/tests/it/validate.rs"]
mod validate;
#[path = "fixtures/weak_api.rs"]
mod weak_api;

/// The report's header grade is the MDN HTTP Observatory's for the same page (the real tool,
/// which `.ci/run` installs; skipped outside CI when it is absent), and the report matches its
/// documented schema.
fn assert_grade_and_schema(addr: SocketAddr, doc: &Value) {
    validate::assert_valid(&validate::report_validator(), doc);
    let grade = &doc["header_grade"];
    let path = grade["path"].as_str().expect("a graded page");
    if let Some(real) = observatory::observatory_scan(addr, path) {
        let (score, letter) =
            real.unwrap_or_else(|e| panic!("the Observatory refused {path}: {e}"));
        assert_eq!(
            (grade["score"].as_i64(), grade["grade"].as_str()),
            (Some(i64::from(score)), Some(letter.as_str())),
            "rampart scan's header grade of {path} differs from the MDN Observatory's: {grade:#}"
        );
    }
}

/// Whether a finding may name this request path.
type MayName = fn(&str) -> bool;

/// What scanning the weak API must report, one row per failing check: (check id, checklist
/// row, severity, which request paths its findings may name). A check not listed must pass or
/// not apply, so a new check's row goes here and nowhere else.
const WEAK_API_FAILURES: &[(&str, u64, &str, MayName)] = &[
    ("tokens.forgery", 1, "critical", |p| p == "/api/users/me"),
    ("tokens.lifetime", 2, "critical", |_| true),
    ("tokens.storage", 3, "critical", |p| p == "/api/auth/login"),
    ("properties.mass_assignment", 20, "critical", |p| {
        p == "/api/users/me"
    }),
    ("headers.security", 9, "high", |p| p == "/"),
    ("headers.banners", 9, "medium", |p| p == "/"),
    ("http.trace", 9, "medium", |p| p == "/"),
    ("cors.origins", 8, "critical", |p| p == "/"),
    ("errors.verbose", 10, "high", |_| true),
    ("exposure.files", 11, "critical", |p| p == "/.env"),
    ("exposure.debug", 19, "high", |p| p == "/debug"),
    ("admin.routes", 19, "critical", |p| p == "/api/admin/users"),
    // The items route builds SQL from the id; orders and users parse theirs.
    ("injection.params", 6, "critical", |p| {
        p.starts_with("/api/items/")
    }),
    ("limits.body", 15, "medium", |_| true),
    ("ratelimit.reads", 7, "high", |_| true),
    // Items have no owner check; users are anyone's to read and re-password; an order is
    // refused to others, but not its receipt.
    ("objects.bola", 4, "critical", |p| {
        p.starts_with("/api/items/")
            || p.starts_with("/api/users/")
            || (p.starts_with("/api/orders/") && p.ends_with("/receipt"))
    }),
    // Orders refuse unknown fields; items take them, and any URL, and any page size.
    ("input.unknown_fields", 5, "high", |p| p == "/api/items"),
    ("ssrf.urls", 16, "medium", |p| p == "/api/items"),
    ("limits.pagination", 15, "medium", |p| p == "/api/items"),
    ("auth.enumeration", 17, "high", |p| p == "/api/auth/login"),
    ("auth.lockout", 17, "high", |p| p == "/api/auth/login"),
    ("properties.registration", 20, "critical", |p| {
        p == "/api/users/me"
    }),
    // Its own address given as the plain-http twin: it answers instead of redirecting.
    ("transport.https_redirect", 13, "critical", |p| p == "/"),
];

/// The path of a finding's evidence request (`GET /a?b (origin: x)` gives `/a`).
fn finding_path(finding: &Value) -> &str {
    let request = finding["evidence"]["request"].as_str().unwrap_or_default();
    let target = request.split_whitespace().nth(1).unwrap_or_default();
    target.split('?').next().unwrap_or_default()
}

/// Scans `base` with `env` (credentials), checks no credential was printed, and returns the
/// outcome and the JSON report.
fn scan_json(
    sandbox: &Sandbox,
    base: &str,
    fail_on: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Outcome, Value) {
    let report = sandbox.dir.path().join("report.json");
    let mut all = vec![
        "scan",
        base,
        "--format",
        "json",
        "-o",
        report.to_str().unwrap(),
        "--fail-on",
        fail_on,
        "--rate",
        "200",
        "--intrusive",
    ];
    all.extend_from_slice(args);
    let outcome = sandbox.run_bounded(&all, env, None, SLOW_EXIT_BOUND);
    let written = std::fs::read_to_string(&report).unwrap_or_default();
    for (_, secret) in env {
        let secret = secret.rsplit(':').next().unwrap();
        assert!(!outcome.all().contains(secret), "a credential was printed");
        assert!(
            !written.contains(secret),
            "a credential was written to the report"
        );
    }
    let doc = std::fs::read_to_string(&report)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (outcome, doc)
}

fn check<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {doc}"))
}

#[test]
fn scanning_rampart_passes_every_covered_row() {
    let sandbox = Sandbox::new();
    // The bundled collections plus one with a URL field, for the SSRF check.
    std::fs::write(
        sandbox.dir.path().join("rampart.toml"),
        format!(
            "{}\n{}",
            include_str!("../../rampart-server/config/example-collections.toml"),
            r#"
[[collections]]
name = "bookmarks"
[collections.access]
list = "owner"
read = "owner"
create = "authenticated"
update = "owner"
delete = "owner"
[collections.fields.href]
type = "url"
required = true

# The built-in limits, except logins and writes: from one address, 5 logins per 15 minutes per
# IP refuse the scanner before any account could lock (the lockout check then, rightly, cannot
# tell), and user A's ~60 probing writes would meet the 30 per minute (the SSRF check would
# then be inconclusive).
[[rate_limit.policies]]
name = "login"
methods = ["POST"]
routes = ["/api/auth/login"]
max = 30
window_secs = 900
key = "ip"
[[rate_limit.policies]]
name = "register"
methods = ["POST"]
routes = ["/api/auth/register"]
max = 3
window_secs = 3600
key = "ip"
[[rate_limit.policies]]
name = "reads"
methods = ["GET", "HEAD"]
max = 100
window_secs = 60
[[rate_limit.policies]]
name = "writes"
methods = ["POST", "PUT", "PATCH", "DELETE"]
max = 120
window_secs = 60
[[rate_limit.policies]]
name = "other"
methods = ["OPTIONS"]
max = 60
window_secs = 60
"#
        ),
    )
    .unwrap();
    let mut server = sandbox.start(&["serve", "--listen", "127.0.0.1:0"], &[]);
    let addr = server.wait_until_listening();
    // A, B and the registration check's account are throw-away registrations (sign-up allows
    // three per hour from one address).
    let (outcome, doc) = scan_json(
        &sandbox,
        &format!("http://{addr}/"),
        "medium",
        &["--register"],
        &[],
    );
    assert_eq!(outcome.code, Some(0), "{outcome:#?}\n{doc:#}");
    assert_grade_and_schema(addr, &doc);
    for id in [
        "tokens.forgery",
        "tokens.lifetime",
        "tokens.storage",
        "properties.mass_assignment",
        "properties.registration",
        "objects.bola",
        "input.unknown_fields",
        "limits.pagination",
        "auth.enumeration",
        "auth.lockout",
        "ssrf.urls",
    ] {
        assert_eq!(check(&doc, id)["status"], "pass", "{id}: {doc:#}");
    }
    // The account locked, not the address.
    let lockout = check(&doc, "auth.lockout")["note"]
        .as_str()
        .unwrap_or_default();
    assert!(lockout.starts_with("locked after "), "{lockout}");
    // B really tried A's objects: both example collections were exercised.
    let bola = check(&doc, "objects.bola")["note"]
        .as_str()
        .unwrap_or_default();
    assert!(
        bola.contains("/api/collections/posts/records/{id}")
            && bola.contains("/api/collections/orders/records/{id}"),
        "{bola}"
    );
    assert_eq!(doc["schema_version"], 1);
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 20);
    for row in rows {
        let status = row["status"].as_str().unwrap();
        let covered = !row["checks"].as_array().unwrap().is_empty();
        match row["row"].as_u64().unwrap() {
            // HSTS and the https redirect are judged on https targets only.
            13 => assert_eq!(status, "not_applicable", "{row}"),
            _ if covered => assert_eq!(status, "pass", "{row}\n{doc:#}"),
            _ => assert_eq!(status, "not_checked", "{row}"),
        }
    }
}

#[test]
fn scanning_a_weak_api_reports_each_weakness_under_its_row() {
    let sandbox = Sandbox::new();
    // Throw-away users A and B (so B may try to re-password A), and the API's own address as
    // its plain-http twin.
    let addr = weak_api::start();
    let twin = format!("http://{addr}/");
    let (outcome, doc) = scan_json(
        &sandbox,
        &format!("http://{addr}/"),
        "medium",
        &["--register", "--http-twin", &twin],
        &[],
    );
    assert_eq!(outcome.code, Some(1), "{outcome:#?}\n{doc:#}");
    assert_grade_and_schema(addr, &doc);
    for &(id, row, severity, may_name) in WEAK_API_FAILURES {
        let c = check(&doc, id);
        assert_eq!(c["status"], "fail", "{c:#}");
        assert_eq!(c["row"], row, "{c:#}");
        assert_eq!(c["severity"], severity, "{c:#}");
        let findings = c["findings"].as_array().unwrap();
        assert!(!findings.is_empty(), "{c:#}");
        for f in findings {
            assert!(
                may_name(finding_path(f)),
                "{id}: a finding the weak API does not have: {f:#}"
            );
        }
    }
    // Nothing is reported that the weak API does not have.
    for c in doc["checks"].as_array().unwrap() {
        if WEAK_API_FAILURES.iter().all(|e| c["id"] != e.0) {
            assert!(
                c["status"] == "pass" || c["status"] == "not_applicable",
                "reported, but not a weakness of the weak API: {c:#}"
            );
        }
    }
    let cors = check(&doc, "cors.origins")["findings"].to_string();
    assert!(
        cors.contains("null") && cors.contains("rampart-scan.invalid"),
        "{cors}"
    );
    let files = check(&doc, "exposure.files")["findings"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(files.len(), 1, "only .env is served: {files:?}");
    assert_eq!(check(&doc, "transport.hsts")["status"], "not_applicable");
    // The text report names the rows and the worst findings first.
    let text = sandbox.run(
        &[
            "scan",
            &format!("http://{addr}/"),
            "--rate",
            "200",
            "--fail-on",
            "never",
        ],
        &[],
    );
    assert_eq!(text.code, Some(0), "{text:#?}");
    assert!(text.stdout.contains("  8  CORS"), "{}", text.stdout);
    let first = text.stdout.find("[FAIL critical]").unwrap();
    let medium = text.stdout.find("[FAIL medium]").unwrap();
    assert!(first < medium, "{}", text.stdout);
    // SARIF: valid SARIF 2.1.0 with a result per finding; HTML: one page, no outside asset.
    let base = format!("http://{addr}/");
    // A given login is used (its cookie judged) and its password never printed.
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let body = format!(r#"{{"email":"given@example.com","password":"{password}","name":"G"}}"#);
    assert_eq!(http(addr, "POST", "/api/auth/register", &[], &body).0, 201);
    let login = format!("given@example.com:{password}");
    let (outcome, given) = scan_json(
        &sandbox,
        &base,
        "never",
        &[
            "--only",
            "tokens.storage",
            "--only",
            "properties.mass_assignment",
        ],
        &[("RAMPART_SCAN_LOGIN_A", &login)],
    );
    assert_eq!(outcome.code, Some(0), "{outcome:#?}");
    assert_eq!(check(&given, "tokens.storage")["status"], "fail");
    // A given account is never elevated: mass assignment needs a throw-away one.
    assert_eq!(
        check(&given, "properties.mass_assignment")["status"],
        "not_applicable"
    );
    let sarif = sandbox.run(&["scan", &base, "--rate", "200", "--format", "sarif"], &[]);
    assert_eq!(sarif.code, Some(1), "{sarif:#?}");
    let log: Value = serde_json::from_str(&sarif.stdout).unwrap();
    validate::assert_valid(&validate::sarif_validator(), &log);
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(
        results.iter().any(|r| r["ruleId"] == "cors.origins"),
        "{log:#}"
    );
    let html = sandbox.run(&["scan", &base, "--rate", "200", "--format", "html"], &[]);
    assert_eq!(html.code, Some(1), "{html:#?}");
    assert!(
        html.stdout.starts_with("<!DOCTYPE html>") || html.stdout.starts_with("<!doctype html>"),
        "{}",
        html.stdout
    );
    assert!(html.stdout.contains("Content-Security-Policy"));
    // The traceback's `<module>` is shown, escaped.
    assert!(html.stdout.contains("&lt;module&gt;"), "{}", html.stdout);
    assert!(
        !html.stdout.contains("<module>"),
        "hostile evidence is escaped"
    );
    assert!(html.stdout.contains("cors.origins") && html.stdout.contains(&base));
}

/// The weak API has each weakness and each good part its module doc lists, including those no
/// check looks at yet: a scan's verdict on it is only worth what the fixture really does.
#[test]
fn the_weak_api_is_as_weak_as_it_says_and_no_weaker() {
    let addr = weak_api::start();
    let bearer = |token: &str| format!("Bearer {token}");
    let register = |email: &str, password: &str, extra: &str| {
        let body = format!(r#"{{"email":"{email}","password":"{password}","name":"N"{extra}}}"#);
        http(addr, "POST", "/api/auth/register", &[], &body)
    };
    let login = |email: &str, password: &str| {
        let body = format!(r#"{{"email":"{email}","password":"{password}"}}"#);
        http_full(addr, "POST", "/api/auth/login", &[], &body)
    };
    let (pa, pb) = (
        uuid::Uuid::new_v4().simple().to_string(),
        uuid::Uuid::new_v4().simple().to_string(),
    );

    // Registration: mass assignment of the role, a 409 for a taken email.
    let (status, a) = register("a@example.com", &pa, "");
    assert_eq!((status, a["role"].as_str()), (201, Some("user")), "{a}");
    assert_eq!(register("a@example.com", &pb, "").0, 409);
    let (status, admin) = register("root@example.com", &pb, r#","is_admin":true"#);
    assert_eq!(
        (status, admin["role"].as_str()),
        (201, Some("admin")),
        "{admin}"
    );
    let (status, b) = register("b@example.com", &pb, "");
    assert_eq!(status, 201, "{b}");
    let (a_id, b_id) = (a["id"].as_u64().unwrap(), b["id"].as_u64().unwrap());

    // Login: enumeration, no lockout, a weak refresh cookie.
    let unknown = login("nobody@example.com", &pa);
    assert_eq!(
        (unknown.status, &unknown.body["error"]),
        (404, &Value::from("no such user"))
    );
    for _ in 0..20 {
        let wrong = login("a@example.com", "wrong");
        assert_eq!(
            (wrong.status, &wrong.body["error"]),
            (401, &Value::from("wrong password"))
        );
    }
    let ok = login("a@example.com", &pa);
    assert_eq!(ok.status, 200, "{ok:?}");
    let cookie = ok.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("refresh_token=") && cookie.ends_with("; Path=/"),
        "{cookie}"
    );
    let ta = bearer(ok.body["access_token"].as_str().unwrap());
    let tb = bearer(
        login("b@example.com", &pb).body["access_token"]
            .as_str()
            .unwrap(),
    );

    // Tokens: alg none in any case and unsigned tokens pass; anything else that is not a
    // good HS256 token over an existing user fails.
    let token = |header: &str, claims: &str, signature: &str| {
        bearer(&format!(
            "{}.{}.{signature}",
            b64url(header.as_bytes()),
            b64url(claims.as_bytes())
        ))
    };
    let sub_a = format!(r#"{{"sub":"{a_id}"}}"#);
    let me = |auth: &str| http(addr, "GET", "/api/users/me", &[("Authorization", auth)], "").0;
    assert_eq!(me(&ta), 200);
    assert_eq!(http(addr, "GET", "/api/users/me", &[], "").0, 401);
    for accepted in [
        token(r#"{"alg":"none"}"#, &sub_a, ""),
        token(r#"{"alg":"nOnE"}"#, &sub_a, "anything"),
        token(r#"{"alg":"HS256"}"#, &sub_a, ""),
    ] {
        assert_eq!(me(&accepted), 200, "{accepted}");
    }
    for refused in [
        "Bearer not-a-jwt".to_owned(),
        token(r#"{"alg":"none"}"#, r#"{"name":"no sub"}"#, ""),
        token(r#"{"alg":"none"}"#, r#"{"sub":"999"}"#, ""),
        token(
            r#"{"alg":"none"}"#,
            &format!(r#"{{"sub":"{a_id}","exp":1}}"#),
            "",
        ),
        token(r#"{"alg":"HS256"}"#, &sub_a, "c2lnbmF0dXJl"),
        token(r#"{"alg":"RS256"}"#, &sub_a, "c2lnbmF0dXJl"),
    ] {
        assert_eq!(me(&refused), 401, "{refused}");
    }

    // Users: anyone reads anyone and changes anyone's password, for real.
    let as_b = [("Authorization", tb.as_str())];
    let (status, read) = http(addr, "GET", &format!("/api/users/{a_id}"), &as_b, "");
    assert_eq!(
        (status, read["email"].as_str()),
        (200, Some("a@example.com"))
    );
    let new = r#"{"password":"taken-over"}"#;
    let path = format!("/api/users/{a_id}/password");
    assert_eq!(http(addr, "PUT", &path, &as_b, new).0, 204);
    assert_eq!(login("a@example.com", &pa).status, 401);
    assert_eq!(login("a@example.com", "taken-over").status, 200);
    let (status, elevated) = http(addr, "PATCH", "/api/users/me", &as_b, r#"{"role":"admin"}"#);
    assert_eq!((status, elevated["role"].as_str()), (200, Some("admin")));
    assert_eq!(http(addr, "GET", "/api/admin/users", &[], "").0, 401);
    let as_a = [("Authorization", ta.as_str())];
    assert_eq!(http(addr, "GET", "/api/admin/users", &as_a, "").0, 200);

    // Items: sequential ids, unknown fields and any URL taken, no ownership, SQL from the id.
    let mut ids = Vec::new();
    for url in [
        "http://127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ] {
        let body = format!(r#"{{"name":"n","price":1,"image_url":"{url}","colour":"red"}}"#);
        let (status, item) = http(addr, "POST", "/api/items", &as_a, &body);
        assert_eq!(
            (status, item["image_url"].as_str()),
            (201, Some(url)),
            "{item}"
        );
        assert_eq!(item["owner_id"], a_id);
        ids.push(item["id"].as_u64().unwrap());
    }
    assert_eq!(ids, [1, 2, 3]);
    let (status, list) = http(addr, "GET", "/api/items?limit=1000000", &as_b, "");
    assert_eq!((status, &list["limit"]), (200, &Value::from(1_000_000)));
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    assert_eq!(http(addr, "GET", "/api/items/1", &as_b, "").0, 200);
    let (status, changed) = http(addr, "PATCH", "/api/items/1", &as_b, r#"{"name":"mine"}"#);
    assert_eq!((status, changed["name"].as_str()), (200, Some("mine")));
    assert_eq!(http(addr, "DELETE", "/api/items/1", &as_b, "").0, 204);
    assert_eq!(http(addr, "GET", "/api/items/1", &as_b, "").0, 404);
    assert_eq!(http(addr, "GET", "/api/items/1%27", &as_b, "").0, 500);
    assert_eq!(http(addr, "GET", "/api/items/1'", &as_b, "").0, 500);
    assert_eq!(http(addr, "GET", "/api/items/abc", &as_b, "").0, 404);
    let big = format!(r#"{{"name":"big","padding":"{}"}}"#, "a".repeat(2 << 20));
    assert_eq!(http(addr, "POST", "/api/items", &as_a, &big).0, 201);
    assert_eq!(
        http(addr, "POST", "/api/items", &as_a, "{\"name\": [1,").0,
        500
    );

    // Orders: strict bodies and owner-only access, but the receipt is anyone's.
    let (status, order) = http(
        addr,
        "POST",
        "/api/orders",
        &as_a,
        r#"{"item":"n","quantity":2}"#,
    );
    assert_eq!(status, 201, "{order}");
    let order = order["id"].as_u64().unwrap();
    for bad in [
        r#"{"item":"n","quantity":2,"price":0}"#,
        r#"{"item":"n","quantity":0}"#,
        r#"{"item":"n","quantity":"2"}"#,
        r#"{"quantity":2}"#,
    ] {
        assert_eq!(
            http(addr, "POST", "/api/orders", &as_a, bad).0,
            400,
            "{bad}"
        );
    }
    let path = format!("/api/orders/{order}");
    assert_eq!(http(addr, "GET", &path, &as_a, "").0, 200);
    let theirs = http(addr, "GET", &path, &as_b, "");
    assert_eq!(theirs, http(addr, "GET", "/api/orders/999", &as_b, ""));
    assert_eq!(theirs.0, 404);
    assert_eq!(http(addr, "DELETE", &path, &as_b, "").0, 404);
    assert_eq!(http(addr, "GET", "/api/orders/1%27", &as_b, "").0, 404);
    let (status, receipt) = http(addr, "GET", &format!("{path}/receipt"), &as_b, "");
    assert_eq!(
        (status, &receipt["owner_id"], &receipt["total"]),
        (200, &Value::from(a_id), &Value::from(20))
    );
    assert_ne!(a_id, b_id);

    // Exposure, headers, CORS and TRACE.
    let (status, dump) = http(addr, "GET", "/debug", &[], "");
    assert_eq!(
        (status, dump["users"].as_array().map(Vec::len)),
        (200, Some(3))
    );
    let env = http_full(
        addr,
        "GET",
        "/.env",
        &[("Origin", "https://evil.example")],
        "",
    );
    assert_eq!(env.status, 200);
    assert_eq!(env.header("x-powered-by"), Some("Express"));
    assert_eq!(env.header("server"), Some("nginx/1.25.3"));
    assert_eq!(
        env.header("access-control-allow-origin"),
        Some("https://evil.example")
    );
    assert_eq!(env.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(env.header("content-security-policy"), None);
    for path in [
        "/.git/config",
        "/actuator",
        "/server-status",
        "/api/openapi.json",
        "/",
    ] {
        assert_eq!(http(addr, "GET", path, &[], "").0, 404, "{path}");
    }
    assert_eq!(http(addr, "DELETE", "/api/users/me", &as_a, "").0, 404);
    let preflight = http_full(addr, "OPTIONS", "/api/items", &[("Origin", "null")], "");
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("null")
    );
    assert_eq!(http(addr, "TRACE", "/anything", &[], "").0, 200);

    // The description covers every route but the two that should not exist.
    let (status, spec) = http(addr, "GET", "/openapi.json", &[], "");
    assert_eq!(status, 200);
    let paths = spec["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 11, "{spec:#}");
    assert!(!paths.contains_key("/debug") && !paths.contains_key("/.env"));
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[test]
fn scan_usage_and_connection_errors_exit_2() {
    let sandbox = Sandbox::new();
    for args in [
        vec!["scan", "ftp://127.0.0.1/"],
        vec!["scan", "http://user:pw@127.0.0.1/"],
        vec!["scan", "http://127.0.0.1:1/"],
        vec!["scan", "http://127.0.0.1:1/", "--only", "no.such.check"],
    ] {
        let outcome = sandbox.run(&args, &[]);
        assert_eq!(outcome.code, Some(2), "{args:?}: {outcome:#?}");
        assert!(outcome.stdout.is_empty());
        assert!(!outcome.stderr.contains("pw"), "{outcome:#?}");
    }
    // The request budget bounds the scan.
    let addr = weak_api::start();
    let outcome = sandbox.run(
        &[
            "scan",
            &format!("http://{addr}/"),
            "--max-requests",
            "3",
            "--rate",
            "200",
        ],
        &[],
    );
    assert_eq!(outcome.code, Some(2), "{outcome:#?}");
    assert!(outcome.stderr.contains("--max-requests"), "{outcome:#?}");
    // --spec: a description on another origin, or something that is not one, is a usage
    // error; the description's URL on the target is fetched from it.
    let base = format!("http://{addr}/");
    let elsewhere = format!("http://localhost:{}/openapi.json", addr.port());
    let on_target = format!("http://{addr}/openapi.json");
    for (spec, usable) in [
        (elsewhere.as_str(), false),
        ("/not-a-description", false),
        (on_target.as_str(), true),
        ("/openapi.json", true),
    ] {
        let outcome = sandbox.run(
            &[
                "scan",
                &base,
                "--rate",
                "200",
                "--spec",
                spec,
                "--only",
                "admin.routes",
            ],
            &[],
        );
        if usable {
            assert!(matches!(outcome.code, Some(0 | 1)), "{spec}: {outcome:#?}");
            assert!(outcome.stdout.contains("admin.routes"), "{outcome:#?}");
        } else {
            assert_eq!(outcome.code, Some(2), "{spec}: {outcome:#?}");
            assert!(outcome.stderr.contains("--spec"), "{outcome:#?}");
        }
    }
}
