//! The MDN HTTP Observatory's own grade of a local server, to compare with the header grade
//! `rampart scan` computes (`rampart_scan::observatory`).
//!
//! `.ci/run` installs the Observatory CLI (`@mdn/mdn-http-observatory`) and sets
//! `RAMPART_OBSERVATORY` to its script. These functions run
//! `node "$RAMPART_OBSERVATORY" 127.0.0.1:PORT[/path]`, bounded in time and with proxies off: the
//! CLI then requests `GET http://127.0.0.1:PORT/` (following redirects), tries https on the same
//! port, fetches `/robots.txt` and sends a CORS preflight (`OPTIONS`), all on loopback. Without
//! the variable they return `None` and the comparison is skipped, except under `CI=true`, where
//! that is a failure.
//!
//! Include it with `#[path = "support/observatory.rs"] mod observatory;`.

// Each test binary uses what it needs of this file.
#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one run of the CLI may take.
const BOUND: Duration = Duration::from_secs(60);

/// The Observatory's score and grade for `http://ADDR/`, or `None` when `RAMPART_OBSERVATORY` is
/// not set (outside CI).
///
/// Panics when the Observatory gives no grade: it refuses a target whose `/` answers other than
/// 2xx, 3xx, 401 or 403 (`rampart serve` answers 404 there); use [`observatory_scan`] with a path
/// that answers, or to compare the refusal with `rampart_scan::observatory::refusal`.
pub(crate) fn observatory_grade(addr: SocketAddr) -> Option<(i32, String)> {
    observatory_scan(addr, "/").map(|outcome| {
        outcome.unwrap_or_else(|error| {
            panic!("the MDN Observatory gave no grade for http://{addr}/: {error}")
        })
    })
}

/// The Observatory's verdict on `http://ADDR{path}` (`path` starts with `/`): its score and
/// grade, or the message it refuses with (such as `Site did respond with an unexpected HTTP
/// status code 404.`). `None` when `RAMPART_OBSERVATORY` is not set (outside CI).
pub(crate) fn observatory_scan(
    addr: SocketAddr,
    path: &str,
) -> Option<Result<(i32, String), String>> {
    let Some(script) = std::env::var_os("RAMPART_OBSERVATORY") else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI must run the MDN Observatory comparison; .ci/run installs it");
        }
        return None;
    };
    assert!(
        addr.ip().is_loopback(),
        "the Observatory only scans loopback addresses here, not {addr}"
    );
    assert!(path.starts_with('/'), "{path:?} is not a path");
    // The CLI takes a host name and puts `http://` and `https://` in front of it.
    let target = if path == "/" {
        addr.to_string()
    } else {
        format!("{addr}{path}")
    };

    let mut command = Command::new("node");
    command
        .arg(&script)
        .arg(&target)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_PROXY", "*")
        .env("no_proxy", "*");
    // axios honours proxy variables; a proxy would take the requests off the machine.
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        command.env_remove(var);
    }
    let mut child = command.spawn().unwrap_or_else(|e| {
        panic!("cannot run `node {script:?}` (RAMPART_OBSERVATORY is set): {e}")
    });
    // Read both pipes while waiting, so a full pipe cannot stall the CLI.
    let stdout = child.stdout.take().map(read_in_background);
    let stderr = child.stderr.take().map(read_in_background);
    let deadline = Instant::now() + BOUND;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the MDN Observatory took over {BOUND:?} on {target}");
            }
            Err(e) => panic!("waiting for the MDN Observatory: {e}"),
        }
    }
    let collect =
        |reader: Option<JoinHandle<String>>| reader.and_then(|r| r.join().ok()).unwrap_or_default();
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    let output: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("the MDN Observatory's output is not JSON ({e}): {stdout}\n{stderr}")
    });
    if let Some(error) = output.get("error") {
        return Some(Err(error.as_str().unwrap_or_default().to_owned()));
    }
    let scan = &output["scan"];
    match (scan["score"].as_i64(), scan["grade"].as_str()) {
        (Some(score), Some(grade)) => Some(Ok((
            i32::try_from(score).expect("a score fits in i32"),
            grade.to_owned(),
        ))),
        _ => panic!("the MDN Observatory's output has no score and grade: {stdout}"),
    }
}

/// Reads `pipe` to its end on another thread.
fn read_in_background(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}
