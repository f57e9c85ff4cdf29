//! The `rampart` binary as an operator (or a careless one) runs it: production refuses every
//! unsafe configuration before listening, development generates private keys, `config check`
//! masks secrets, the key commands never print key material, and `users create-admin` makes
//! a working admin.
//!
//! Each test runs the binary in its own temporary directory with `RAMPART_*` variables from
//! the outer environment removed, and every child process is bounded in time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the binary starts");
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
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, json)
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
    for kid in [active.as_str(), "NoSuchKey123", "../../etc/passwd"] {
        let out = sandbox.run(&["keys", "retire", kid], &[]);
        out.assert_failure();
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
