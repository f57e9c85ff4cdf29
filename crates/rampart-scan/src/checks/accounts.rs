//! The scan's users and what logging in shows.
//!
//! Users: A and B are ordinary users, the admin is optional. Each comes from a token
//! (`--token-a`), a login (`--login-a EMAIL:PASSWORD`) or, with `--register`, a throw-away
//! registration made by the scan with a random address and a random password. Checks that can
//! change or lock an account only touch accounts whose password the scan knows.
//!
//! Checks here: login errors that reveal whether an account exists (row 17), privileged fields
//! accepted at registration (row 20), and, with `--intrusive`, lockout after failed logins
//! (row 17).

use http::Method;
use rand::Rng;
use serde_json::{Value, json};

use super::{Inputs, evidence, finding, judged};
use crate::client::{Client, ClientError, Exchange, Probe};
use crate::report::{CheckResult, Evidence, Severity, Status};
use crate::spec::{self, Operation};

/// Id of the enumeration check.
pub const ENUMERATION_ID: &str = "auth.enumeration";
/// Its title.
pub const ENUMERATION_TITLE: &str = "Login errors do not reveal whether an account exists";
/// Id of the registration check.
pub const REGISTRATION_ID: &str = "properties.registration";
/// Its title.
pub const REGISTRATION_TITLE: &str = "Privileged properties cannot be set at registration";
/// Id of the lockout check.
pub const LOCKOUT_ID: &str = "auth.lockout";
/// Its title.
pub const LOCKOUT_TITLE: &str = "Repeated failed logins lock the account (429 with Retry-After)";

/// Most failed logins the lockout check sends (the checklist locks after 5).
const LOCKOUT_ATTEMPTS: u32 = 8;

/// One of the scan's users.
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// Its email, when the scan logged in or registered.
    pub email: Option<String>,
    /// Its password, when known.
    pub password: Option<String>,
    /// Its access token.
    pub token: Option<String>,
    /// Registered by this scan: probes may change it.
    pub throwaway: bool,
}

impl Account {
    /// `Bearer <token>`, when there is a token.
    pub fn bearer(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }
}

/// The scan's users, and A's login (the cookie check judges it).
#[derive(Debug, Default)]
pub struct Accounts {
    /// User A.
    pub a: Account,
    /// User B.
    pub b: Account,
    /// The admin.
    pub admin: Account,
    /// A's login exchange and the token it gave, when A logged in.
    pub a_login: Option<(Exchange, Option<String>)>,
}

/// Random lowercase hex from the operating system's generator.
pub fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// A fresh address in the reserved `example.com` domain.
pub fn random_email() -> String {
    format!("rampart-scan-{}@example.com", random_hex(8))
}

/// A long random password (letters, digits, a space): passes any sensible policy.
pub fn random_password() -> String {
    format!(
        "Rs {}-{}",
        random_hex(12),
        random_hex(4).to_ascii_uppercase()
    )
}

/// Logs in with `email` and `password` at `path` and takes the access token at `pointer` (a
/// JSON pointer, `/access_token` for Rampart).
pub async fn login(
    client: &Client,
    path: &str,
    email: &str,
    password: &str,
    pointer: &str,
) -> Result<(Exchange, Option<String>), ClientError> {
    let body = json!({ "email": email, "password": password }).to_string();
    let x = client
        .send(Probe::new(Method::POST, path).body("application/json", body))
        .await?;
    let token = serde_json::from_str::<Value>(&x.body).ok().and_then(|v| {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    Ok((x, token))
}

/// The registration body for `email` and `password`: the described schema's example with its
/// email and password fields set, or `{email, password, name}`; `extra` is merged in.
fn registration_body(
    ops: &[Operation],
    path: &str,
    email: &str,
    password: &str,
    extra: &Value,
) -> Value {
    let described = ops
        .iter()
        .find(|o| o.method == "POST" && o.path == path)
        .and_then(|o| o.body.as_ref())
        .map(spec::example);
    let mut body = match described {
        Some(Value::Object(map)) => Value::Object(map),
        _ => json!({ "name": "Rampart Scan" }),
    };
    if let Value::Object(map) = &mut body {
        let (mut has_email, mut has_password) = (false, false);
        for (key, value) in map.iter_mut() {
            let k = key.to_ascii_lowercase();
            if spec::password_like(&k) {
                *value = json!(password);
                has_password = true;
            } else if k.contains("email") {
                *value = json!(email);
                has_email = true;
            }
        }
        if !has_email {
            map.insert("email".into(), json!(email));
        }
        if !has_password {
            map.insert("password".into(), json!(password));
        }
        if let Value::Object(extra) = extra {
            map.extend(extra.clone());
        }
    }
    body
}

/// Registers a throw-away user (with `extra` fields) and returns its exchange, email and
/// password.
async fn register(
    client: &Client,
    inputs: &Inputs,
    ops: &[Operation],
    extra: &Value,
) -> Result<(Exchange, String, String), ClientError> {
    let (email, password) = (random_email(), random_password());
    let body = registration_body(ops, &inputs.register_path, &email, &password, extra);
    let x = client
        .send(
            Probe::new(Method::POST, &inputs.register_path)
                .body("application/json", body.to_string()),
        )
        .await?;
    Ok((x, email, password))
}

/// One account from its token, login or registration.
async fn account(
    client: &Client,
    inputs: &Inputs,
    ops: &[Operation],
    label: &str,
    token: Option<&String>,
    login_as: Option<&String>,
    may_register: bool,
) -> Result<(Account, Option<(Exchange, Option<String>)>), ClientError> {
    let mut account = Account {
        token: token.cloned(),
        ..Account::default()
    };
    let (email, password) = if let Some(login_as) = login_as {
        let Some((email, password)) = login_as.split_once(':') else {
            return Err(ClientError::BadTarget(format!(
                "--login-{label} must be EMAIL:PASSWORD"
            )));
        };
        (email.to_owned(), password.to_owned())
    } else if token.is_none() && may_register && inputs.register {
        let (x, email, password) = register(client, inputs, ops, &json!({})).await?;
        if !x.status.is_success() {
            return Err(ClientError::BadTarget(format!(
                "--register: {} answered {} for user {label}",
                inputs.register_path,
                x.status.as_u16()
            )));
        }
        account.throwaway = true;
        (email, password)
    } else {
        return Ok((account, None));
    };
    let (x, from_login) = login(
        client,
        &inputs.login_path,
        &email,
        &password,
        &inputs.token_pointer,
    )
    .await?;
    if !x.status.is_success() || from_login.is_none() {
        return Err(ClientError::BadTarget(format!(
            "logging in as user {label} at {} answered {} without a token at {}",
            inputs.login_path,
            x.status.as_u16(),
            inputs.token_pointer
        )));
    }
    account.email = Some(email);
    account.password = Some(password);
    account.token = account.token.or_else(|| from_login.clone());
    Ok((account, Some((x, from_login))))
}

/// Sets up A, B and the admin from `inputs`.
pub async fn prepare(
    client: &Client,
    inputs: &Inputs,
    ops: &[Operation],
) -> Result<Accounts, ClientError> {
    let mut accounts = Accounts::default();
    // (label, token, login, may register): the admin is never made up.
    let slots = [
        ("a", &inputs.token_a, &inputs.login_a, true),
        ("b", &inputs.token_b, &inputs.login_b, true),
        ("admin", &inputs.token_admin, &inputs.login_admin, false),
    ];
    for (label, token, login_as, may_register) in slots {
        let (made, made_login) = account(
            client,
            inputs,
            ops,
            label,
            token.as_ref(),
            login_as.as_ref(),
            may_register,
        )
        .await?;
        match label {
            "a" => (accounts.a, accounts.a_login) = (made, made_login),
            "b" => accounts.b = made,
            _ => accounts.admin = made,
        }
    }
    Ok(accounts)
}

/// A login error with what varies per request (ids, times) blanked, for comparison.
fn normalized(x: &Exchange) -> String {
    fn blank(v: &Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| !varies_per_request(k))
                    .map(|(k, v)| (k.clone(), blank(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(blank).collect()),
            other => other.clone(),
        }
    }
    let body = match serde_json::from_str::<Value>(&x.body) {
        Ok(v) => blank(&v).to_string(),
        Err(_) => x.body.chars().filter(|c| !c.is_ascii_hexdigit()).collect(),
    };
    format!("{} {body}", x.status.as_u16())
}

/// Whether a response key names something that differs on every request (ids, times,
/// correlation and problem-instance references), not something about the account.
fn varies_per_request(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "request",
        "trace",
        "time",
        "date",
        "instance",
        "correlation",
        "nonce",
        "span",
    ]
    .iter()
    .any(|w| k.contains(w))
        || k.ends_with("id")
}

/// Judges two failed logins: one for an existing account, one for an address that has none.
pub fn judge_enumeration(known: &Exchange, unknown: &Exchange) -> CheckResult {
    let mut r = judged(
        ENUMERATION_ID,
        17,
        ENUMERATION_TITLE,
        Severity::High,
        Vec::new(),
    );
    if known.status.as_u16() == 429 || unknown.status.as_u16() == 429 {
        r.status = Status::NotApplicable;
        r.note = Some("a login was rate limited; run the scan again later".into());
        return r;
    }
    if known.status.is_success() || unknown.status.is_success() {
        r.status = Status::Fail;
        r.severity = Severity::Critical;
        r.findings.push(finding(
            "a login with a wrong password succeeded",
            evidence(
                if known.status.is_success() {
                    known
                } else {
                    unknown
                },
                "",
            ),
            "Verify the password on every login",
        ));
        return r;
    }
    if normalized(known) != normalized(unknown) {
        r.status = Status::Fail;
        r.findings.push(finding(
            "a wrong password and an unknown email get different answers",
            Evidence {
                request: format!(
                    "{} with an existing email / with an unknown email",
                    known.request_line()
                ),
                response: format!(
                    "{} {} / {} {}",
                    known.status.as_u16(),
                    super::excerpt(&known.body, "", 120),
                    unknown.status.as_u16(),
                    super::excerpt(&unknown.body, "", 120)
                ),
            },
            "Answer every failed login with the same status and message (\"invalid email or password\"), and do the same work for unknown emails",
        ));
    }
    r
}

/// Row 17: do failed logins tell an existing account from a missing one?
pub async fn enumeration(
    client: &Client,
    inputs: &Inputs,
    accounts: &Accounts,
) -> Result<CheckResult, ClientError> {
    // A failed login counts towards the account's lockout: only a throw-away account, or B
    // with --intrusive, takes it.
    let target = [&accounts.b, &accounts.a]
        .into_iter()
        .find(|acc| acc.throwaway)
        .or(Some(&accounts.b).filter(|_| inputs.intrusive));
    let Some(email) = target.and_then(|acc| acc.email.as_deref()) else {
        let mut r = judged(
            ENUMERATION_ID,
            17,
            ENUMERATION_TITLE,
            Severity::High,
            Vec::new(),
        );
        r.status = Status::NotApplicable;
        r.note = Some(
            "needs an account whose failed logins do no harm: --register, or --login-b with --intrusive"
                .into(),
        );
        return Ok(r);
    };
    let wrong = random_password();
    let (known, _) = login(
        client,
        &inputs.login_path,
        email,
        &wrong,
        &inputs.token_pointer,
    )
    .await?;
    let (unknown, _) = login(
        client,
        &inputs.login_path,
        &random_email(),
        &wrong,
        &inputs.token_pointer,
    )
    .await?;
    Ok(judge_enumeration(&known, &unknown))
}

/// Privileged properties an attacker tries to give themselves (at registration, on updates).
pub fn privileged() -> Value {
    json!({
        "role": "admin",
        "roles": ["admin"],
        "is_admin": true,
        "isAdmin": true,
        "admin": true,
        "verified": true,
        "email_verified": true,
        "owner_id": "00000000-0000-4000-8000-000000000000",
    })
}

/// Whether a user document shows admin rights.
pub fn is_elevated(doc: &Value) -> bool {
    doc["role"] == "admin"
        || doc["is_admin"] == true
        || doc["isAdmin"] == true
        || doc["admin"] == true
        || doc["roles"]
            .as_array()
            .is_some_and(|r| r.iter().any(|v| v == "admin"))
}

/// Row 20: registers a throw-away user with privileged fields, then reads who it became.
pub async fn registration(
    client: &Client,
    inputs: &Inputs,
    ops: &[Operation],
    accounts: &Accounts,
) -> Result<CheckResult, ClientError> {
    let mut r = judged(
        REGISTRATION_ID,
        20,
        REGISTRATION_TITLE,
        Severity::Critical,
        Vec::new(),
    );
    if !inputs.register {
        r.status = Status::NotApplicable;
        r.note = Some("needs --register (it creates a throw-away account)".into());
        return Ok(r);
    }
    let mut made: Vec<&str> = [&accounts.a, &accounts.b]
        .iter()
        .filter(|acc| acc.throwaway)
        .filter_map(|acc| acc.email.as_deref())
        .collect();
    let (x, email, password) = register(client, inputs, ops, &privileged()).await?;
    let inconclusive = |mut r: CheckResult, why: String| {
        r.status = Status::NotApplicable;
        r.note = Some(why);
        r
    };
    if matches!(x.status.as_u16(), 400 | 422) {
        r.note = Some(format!(
            "the registration with privileged fields was refused ({}); throw-away accounts this scan registered: {}",
            x.status.as_u16(),
            made.join(", ")
        ));
        return Ok(r);
    }
    if !x.status.is_success() {
        return Ok(inconclusive(
            r,
            format!(
                "the registration with privileged fields answered {}: inconclusive",
                x.status.as_u16()
            ),
        ));
    }
    made.push(&email);
    let made = made.join(", ");
    let (_, token) = login(
        client,
        &inputs.login_path,
        &email,
        &password,
        &inputs.token_pointer,
    )
    .await?;
    let Some(token) = token else {
        return Ok(inconclusive(
            r,
            format!(
                "the account registered with privileged fields could not log in; throw-away accounts: {made}"
            ),
        ));
    };
    let me = client
        .send(Probe::get(&inputs.auth_path).header("authorization", &format!("Bearer {token}")))
        .await?;
    if !me.status.is_success() {
        return Ok(inconclusive(
            r,
            format!(
                "{} answered {} for the account registered with privileged fields; throw-away accounts: {made}",
                inputs.auth_path,
                me.status.as_u16()
            ),
        ));
    }
    let doc: Value = serde_json::from_str(&me.body).unwrap_or(Value::Null);
    r.note = Some(format!("throw-away accounts this scan registered: {made}"));
    if is_elevated(&doc) || doc.pointer("/user").is_some_and(is_elevated) {
        r.status = Status::Fail;
        r.findings.push(finding(
            format!("registering with \"role\": \"admin\" at {} made an admin", inputs.register_path),
            evidence(&me, &super::excerpt(&me.body, "admin", 120)),
            "Build the new account from an allowlist of fields; refuse role, admin and verification flags (400)",
        ));
    } else {
        r.note = Some(format!(
            "the registration accepted privileged fields ({}) but did not apply them; refusing unknown fields (400) is better; throw-away accounts this scan registered: {made}",
            x.status.as_u16()
        ));
    }
    Ok(r)
}

/// Row 17 (intrusive): failed logins for an account whose password the scan knows must lock
/// it (429 with `Retry-After`, or 423), and the right password must not get in while locked.
pub async fn lockout(
    client: &Client,
    inputs: &Inputs,
    accounts: &Accounts,
) -> Result<CheckResult, ClientError> {
    let mut r = judged(LOCKOUT_ID, 17, LOCKOUT_TITLE, Severity::High, Vec::new());
    let target = [&accounts.b, &accounts.a]
        .into_iter()
        .find(|acc| acc.throwaway && acc.password.is_some())
        .or(Some(&accounts.b).filter(|b| b.password.is_some()));
    let Some(Account {
        email: Some(email),
        password: Some(password),
        ..
    }) = target
    else {
        r.status = Status::NotApplicable;
        r.note = Some("needs an account the scan may lock: --register or --login-b".into());
        return Ok(r);
    };
    let mut locked = None;
    for attempt in 1..=LOCKOUT_ATTEMPTS {
        let (x, _) = login(
            client,
            &inputs.login_path,
            email,
            &random_password(),
            &inputs.token_pointer,
        )
        .await?;
        if matches!(x.status.as_u16(), 429 | 423) {
            // The same answer for an address nobody has means a limit on this client, not
            // a lockout of the account: from one address the two cannot be told apart.
            let (control, _) = login(
                client,
                &inputs.login_path,
                &random_email(),
                &random_password(),
                &inputs.token_pointer,
            )
            .await?;
            if matches!(control.status.as_u16(), 429 | 423) {
                r.status = Status::NotApplicable;
                r.note = Some(format!(
                    "after {attempt} failed logins every login from this address was refused ({}): a per-client limit hides whether the account itself locks",
                    x.status.as_u16()
                ));
                return Ok(r);
            }
            locked = Some((attempt, x));
            break;
        }
        if x.status.is_success() {
            r.status = Status::Fail;
            r.severity = Severity::Critical;
            r.findings.push(finding(
                "a login with a wrong password succeeded",
                evidence(&x, ""),
                "Verify the password on every login",
            ));
            return Ok(r);
        }
    }
    let (right, _) = login(
        client,
        &inputs.login_path,
        email,
        password,
        &inputs.token_pointer,
    )
    .await?;
    match locked {
        None if !right.status.is_success() => {
            r.status = Status::Warn;
            r.findings.push(finding(
                format!(
                    "after {LOCKOUT_ATTEMPTS} failed logins the right password got {}: locked, but without saying so",
                    right.status.as_u16()
                ),
                evidence(&right, ""),
                "Answer logins to a locked account with 429 and Retry-After (the same for unknown emails)",
            ));
        }
        None => {
            r.status = Status::Fail;
            r.findings.push(finding(
                format!("{LOCKOUT_ATTEMPTS} failed logins in a row, no lockout; the right password then got {}", right.status.as_u16()),
                Evidence {
                    request: format!("POST {} x {LOCKOUT_ATTEMPTS} with wrong passwords", inputs.login_path),
                    response: format!("no 429 or 423; then {}", right.status.as_u16()),
                },
                "Lock an account for 15 minutes after 5 failed logins (429 with Retry-After), whether or not the email exists",
            ));
        }
        Some((attempt, x)) => {
            r.note = Some(format!("locked after {attempt} failed logins"));
            if right.status.is_success() {
                r.status = Status::Fail;
                r.findings.push(finding(
                    "the account answered 'locked' but the right password still logged in",
                    evidence(&right, ""),
                    "While an account is locked, refuse every login for it",
                ));
            } else if x.header("retry-after").is_none() {
                r.status = Status::Warn;
                r.findings.push(finding(
                    "the lockout answer has no Retry-After",
                    evidence(&x, ""),
                    "Tell the client when to try again: Retry-After",
                ));
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::answer;

    #[test]
    fn login_errors_that_differ_reveal_accounts() {
        let same = judge_enumeration(
            &answer(
                401,
                r#"{"error":{"code":"invalid_credentials","request_id":"01HX1"}}"#,
            ),
            &answer(
                401,
                r#"{"error":{"code":"invalid_credentials","request_id":"01HX2"}}"#,
            ),
        );
        assert_eq!(same.status, Status::Pass);
        let differ = judge_enumeration(
            &answer(401, r#"{"error":"wrong password"}"#),
            &answer(404, r#"{"error":"no such user"}"#),
        );
        assert_eq!(differ.status, Status::Fail);
        let message = judge_enumeration(
            &answer(401, r#"{"error":"wrong password"}"#),
            &answer(401, r#"{"error":"unknown email"}"#),
        );
        assert_eq!(message.status, Status::Fail);
        let problem = judge_enumeration(
            &answer(
                401,
                r#"{"title":"Unauthorized","instance":"/errors/7f3a","correlationId":"a1"}"#,
            ),
            &answer(
                401,
                r#"{"title":"Unauthorized","instance":"/errors/99b0","correlationId":"b2"}"#,
            ),
        );
        assert_eq!(
            problem.status,
            Status::Pass,
            "per-request references differ, nothing else"
        );
        let limited = judge_enumeration(&answer(429, "{}"), &answer(401, "{}"));
        assert_eq!(limited.status, Status::NotApplicable);
    }

    #[test]
    fn registration_bodies_fill_the_described_fields() {
        let body = registration_body(
            &[],
            "/register",
            "e@example.com",
            "pw",
            &json!({"role": "admin"}),
        );
        assert_eq!(body["email"], "e@example.com");
        assert_eq!(body["password"], "pw");
        assert_eq!(body["role"], "admin");
        assert!(is_elevated(&body));
        assert!(!is_elevated(&json!({"role": "user"})));
        assert_ne!(random_password(), random_password());
        assert!(random_password().len() >= 16);
    }
}
