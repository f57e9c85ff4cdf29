//! `rampart`: the command-line glue. Parses arguments, loads configuration, and calls into
//! the library crates. Exit codes: 0 success, 1 runtime failure, 2 configuration or usage
//! error.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use rampart_core::audit::{Actor, AuditKey, Event, Outcome, Target};
use rampart_core::domain::{DisplayName, Email, NewPassword, Role, UserId};
use rampart_core::keys::KeyRingFile;
use rampart_core::passwords::PasswordHasher;
use rampart_server::Application;
use rampart_server::app::{StartupError, open_store};
use rampart_server::config::{ConfigError, Mode, RawConfig, Settings, masked};
use rampart_store::{StoreError, UserRecord};

/// mimalloc instead of the system allocator: per-request allocations are cheaper, and memory
/// freed by the password hasher (Argon2id's 19 MiB per hash) goes back to the system instead
/// of staying in a per-thread glibc arena (measured in bench/: ~120 MiB kept after a few
/// logins with glibc).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rampart",
    version,
    about = "A secure-by-default API backend and scanner"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GlobalOpts {
    /// Configuration file (default: ./rampart.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory for the embedded database and generated keys.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Production mode: never generate secrets, refuse unsafe settings.
    #[arg(long, global = true)]
    production: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Serve {
        /// Address to listen on (overrides `listen`).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCmd),
    /// Manage the token-signing key ring.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Audit any HTTP API from outside against the checklist. Exit code 0: nothing at or above
    /// --fail-on; 1: a failing check at or above it; 2: usage or connection error.
    Scan(Box<ScanArgs>),
}

#[derive(Args)]
struct ScanArgs {
    /// The API's base URL (http:// or https://); requests go to its host only.
    base_url: String,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    format: ScanFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Exit 1 when a failing check at or above this severity exists.
    #[arg(long, value_enum, default_value = "high")]
    fail_on: FailOn,
    /// Run only these checks (repeatable).
    #[arg(long, value_name = "CHECK_ID")]
    only: Vec<String>,
    /// Skip these checks (repeatable).
    #[arg(long, value_name = "CHECK_ID")]
    skip: Vec<String>,
    /// Most requests the scan may send.
    #[arg(long, default_value_t = 1000)]
    max_requests: u32,
    /// Requests per second (politeness).
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Seconds to wait for each response.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// An ordinary user's access token (or RAMPART_SCAN_TOKEN_A, which stays out of `ps`).
    #[arg(long, env = "RAMPART_SCAN_TOKEN_A", hide_env_values = true)]
    token_a: Option<String>,
    /// A second ordinary user's access token (or RAMPART_SCAN_TOKEN_B): user B tries user A's
    /// objects.
    #[arg(long, env = "RAMPART_SCAN_TOKEN_B", hide_env_values = true)]
    token_b: Option<String>,
    /// An admin's access token (or RAMPART_SCAN_TOKEN_ADMIN).
    #[arg(long, env = "RAMPART_SCAN_TOKEN_ADMIN", hide_env_values = true)]
    token_admin: Option<String>,
    /// A route that accepts the token and refuses anonymous requests.
    #[arg(long, default_value = "/api/users/me")]
    auth_path: String,
    /// OpenAPI description: a file, or a path on the target (default: the well-known
    /// locations, such as /api/openapi.json).
    #[arg(long, value_name = "FILE|PATH")]
    spec: Option<String>,
    /// Also run checks that can trip rate limits (and block this address for a while) or send
    /// large bodies. Run them against systems you own.
    #[arg(long)]
    intrusive: bool,
    /// Log in as user A with EMAIL:PASSWORD (or RAMPART_SCAN_LOGIN_A): checks the login's
    /// cookies and uses its token when --token-a is not given.
    #[arg(long, env = "RAMPART_SCAN_LOGIN_A", hide_env_values = true)]
    login_a: Option<String>,
    /// Log in as user B with EMAIL:PASSWORD (or RAMPART_SCAN_LOGIN_B). With --intrusive this
    /// account may be locked for a while.
    #[arg(long, env = "RAMPART_SCAN_LOGIN_B", hide_env_values = true)]
    login_b: Option<String>,
    /// Log in as an admin with EMAIL:PASSWORD (or RAMPART_SCAN_LOGIN_ADMIN).
    #[arg(long, env = "RAMPART_SCAN_LOGIN_ADMIN", hide_env_values = true)]
    login_admin: Option<String>,
    /// Register throw-away users (random email and password) for A and B where no token or
    /// login is given, and try privileged fields at registration. Needs open registration.
    #[arg(long)]
    register: bool,
    /// Where --register posts the description's example body (or {"email","password","name"}).
    #[arg(long, default_value = "/api/auth/register")]
    register_path: String,
    /// The target's plain-http address, to check that it redirects to https (default for an
    /// https target: its host on port 80).
    #[arg(long, value_name = "URL")]
    http_twin: Option<String>,
    /// Where --login-a posts {"email","password"}.
    #[arg(long, default_value = "/api/auth/login")]
    login_path: String,
    /// JSON pointer to the access token in the login response.
    #[arg(long, default_value = "/access_token")]
    token_pointer: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ScanFormat {
    Text,
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// One self-contained page.
    Html,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FailOn {
    Critical,
    High,
    Medium,
    Never,
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the chain and its signed checkpoints; name the first broken entry.
    /// Exit code 0 intact, 1 tampered, 2 unable to read.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create the audit key that signs checkpoints (refuses to overwrite one).
    InitKey,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate configuration and print the effective values, secrets masked.
    Check,
}

#[derive(Subcommand)]
enum UsersCmd {
    /// Create an admin. The password is read from standard input (one line), or generated
    /// and printed once with --generate-password.
    CreateAdmin {
        /// The admin's email.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// Generate a strong password and print it once instead of reading one.
        #[arg(long)]
        generate_password: bool,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Create the key ring (refuses to overwrite an existing one).
    Init,
    /// Add a new active signing key; older keys keep verifying until retired.
    Rotate,
    /// Remove a non-active key: tokens it signed stop verifying.
    Retire {
        /// The key id. Ids are base64url and may start with `-`: taken as the id, not a flag.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// List keys (ids, algorithms, ages; never key material).
    List,
}

fn settings(
    global: &GlobalOpts,
    listen: Option<&str>,
) -> Result<(RawConfig, Settings), ConfigError> {
    let mut raw = RawConfig::load(global.config.as_deref())?;
    if let Some(dir) = &global.data_dir {
        raw.data_dir = dir.clone();
    }
    if global.production {
        raw.env = "production".into();
    }
    if let Some(listen) = listen {
        raw.listen = listen.to_owned();
    }
    let settings = Settings::from_raw(&raw)?;
    Ok((raw, settings))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The scanner needs no server configuration: a broken rampart.toml must not stop it.
    if let Command::Scan(args) = &cli.command {
        return scan(args);
    }
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let (raw, settings) = match settings(&cli.global, listen.as_deref()) {
        Ok(pair) => pair,
        Err(e) => return config_failure(&e),
    };
    if let Err(e) = rampart_server::logging::init(settings.log_format, &settings.log_level) {
        return config_failure(&ConfigError {
            setting: "log.level".into(),
            reason: e,
        });
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rampart: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result: Result<(), Failure> = runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => serve(settings).await,
            Command::Config(ConfigCmd::Check) => {
                for warning in &settings.warnings {
                    eprintln!("warning: {warning}");
                }
                if settings.mode == Mode::Production {
                    // Production start-up also requires a usable key ring: check it too.
                    rampart_server::app::load_key_ring(&settings)?;
                }
                let mut out = std::io::stdout().lock();
                writeln!(out, "# effective configuration (secrets masked)").context("stdout")?;
                write!(out, "{}", masked(&raw)).context("stdout")?;
                Ok(())
            }
            Command::Users(UsersCmd::CreateAdmin {
                email,
                name,
                generate_password,
            }) => create_admin(&settings, &email, &name, generate_password).await,
            Command::Keys(cmd) => keys(&settings, cmd).await,
            Command::Audit(AuditCmd::Verify { json }) => {
                return audit_verify(&settings, json).await;
            }
            Command::Scan(_) => Ok(()),
            Command::Audit(AuditCmd::InitKey) => {
                let key = AuditKey::create(&settings.audit_key).map_err(|e| ConfigError {
                    setting: "audit.key_file".into(),
                    reason: e.to_string(),
                })?;
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "created {} (key id {}); keep a copy of it off this host",
                    settings.audit_key.display(),
                    key.kid()
                )
                .context("stdout")?;
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(e)) => config_failure(&e),
        Err(Failure::Exit(code)) => ExitCode::from(code),
        Err(Failure::Other(e)) => {
            tracing::error!("{e:#}");
            eprintln!("rampart: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn config_failure(e: &ConfigError) -> ExitCode {
    eprintln!("rampart: configuration error: {e}");
    ExitCode::from(2)
}

enum Failure {
    Config(ConfigError),
    Other(anyhow::Error),
    /// Already reported; exit with this code.
    Exit(u8),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::Other(e)
    }
}

impl From<StartupError> for Failure {
    fn from(e: StartupError) -> Self {
        match e {
            StartupError::Config(e) => Self::Config(e),
            StartupError::Other(e) => Self::Other(e),
        }
    }
}

async fn serve(settings: Settings) -> Result<(), Failure> {
    let app = Application::build(settings).await?;
    app.run(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}

fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

async fn create_admin(
    settings: &Settings,
    email: &str,
    name: &str,
    generate: bool,
) -> Result<(), Failure> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
    let name = DisplayName::parse(name).map_err(|e| anyhow::anyhow!("--name {e}"))?;
    let raw_password = if generate {
        generate_password()
    } else {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprint!("Password for {email} (input is visible; or pipe it in): ");
        }
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    let password = NewPassword::parse(&raw_password, Some(&email))
        .map_err(|e| anyhow::anyhow!("password {e}"))?;
    let hasher = PasswordHasher::new(settings.hash_cost, 1, std::time::Duration::from_secs(30))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let password_hash = hasher
        .hash(&password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = open_store(settings).await?;
    let user = UserRecord {
        id: UserId::new(),
        email: email.clone(),
        name,
        role: Role::Admin,
        password_hash,
        created_at_ms: rampart_server::state::now_ms(),
    };
    match store.insert_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(anyhow::anyhow!("a user with email {email} already exists").into());
        }
        Err(e) => return Err(anyhow::Error::new(e).into()),
    }
    store.close().await;
    let mut out = std::io::stdout().lock();
    writeln!(out, "created admin {email} (id {})", user.id).context("stdout")?;
    if generate {
        writeln!(out, "password (shown once, store it now): {raw_password}").context("stdout")?;
    }
    Ok(())
}

/// `rampart scan`: 0 clean at --fail-on, 1 findings at or above it, 2 usage or connection
/// error.
fn scan(args: &ScanArgs) -> ExitCode {
    let options = rampart_scan::Options {
        base_url: args.base_url.clone(),
        max_requests: args.max_requests,
        rate: args.rate,
        timeout: std::time::Duration::from_secs(args.timeout.max(1)),
        only: args.only.clone(),
        skip: args.skip.clone(),
        inputs: rampart_scan::checks::Inputs {
            token_a: args.token_a.clone(),
            token_b: args.token_b.clone(),
            token_admin: args.token_admin.clone(),
            auth_path: args.auth_path.clone(),
            spec: args.spec.clone(),
            intrusive: args.intrusive,
            login_a: args.login_a.clone(),
            login_b: args.login_b.clone(),
            login_admin: args.login_admin.clone(),
            register: args.register,
            register_path: args.register_path.clone(),
            login_path: args.login_path.clone(),
            token_pointer: args.token_pointer.clone(),
        },
        http_twin: args.http_twin.clone(),
        sent: Default::default(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rampart scan: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // Progress on stderr (the report goes to stdout or -o): a live bar per check on a
    // terminal, plain lines otherwise.
    let display = ScanProgress::new(options.sent.clone(), options.max_requests);
    let progress = |check: &str| display.start(check);
    let scanned = runtime.block_on(rampart_scan::scan(&options, &progress));
    display.finish();
    let report = match scanned {
        Ok(report) => report,
        Err(e) => {
            eprintln!("rampart scan: {e}");
            return ExitCode::from(2);
        }
    };
    let text = match args.format {
        ScanFormat::Text => report.to_text(),
        ScanFormat::Json | ScanFormat::Sarif => {
            let rendered = match args.format {
                ScanFormat::Sarif => serde_json::to_string_pretty(&report.to_sarif()),
                _ => serde_json::to_string_pretty(&report),
            };
            match rendered {
                Ok(json) => json + "\n",
                Err(e) => {
                    eprintln!("rampart scan: cannot render the report: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        ScanFormat::Html => report.to_html(),
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, text.as_bytes()),
        None => std::io::stdout().lock().write_all(text.as_bytes()),
    };
    if let Err(e) = written {
        eprintln!("rampart scan: cannot write the report: {e}");
        return ExitCode::from(2);
    }
    let threshold = match args.fail_on {
        FailOn::Critical => Some(rampart_scan::Severity::Critical),
        FailOn::High => Some(rampart_scan::Severity::High),
        FailOn::Medium => Some(rampart_scan::Severity::Medium),
        FailOn::Never => None,
    };
    if threshold.is_some_and(|level| report.fails_at(level)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `rampart scan`'s progress on stderr: on a terminal, one line per check with a live bar of
/// the request budget, finished with the check's request count and time; otherwise one plain
/// line per check.
struct ScanProgress {
    shared: std::sync::Arc<ProgressState>,
    ticker: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct ProgressState {
    sent: std::sync::Arc<std::sync::atomic::AtomicU32>,
    budget: u32,
    /// The running check: its id, start, and the requests sent before it.
    current: std::sync::Mutex<Option<(String, std::time::Instant, u32)>>,
    done: std::sync::atomic::AtomicBool,
}

impl ProgressState {
    fn sent(&self) -> u32 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Draws the running check's line (without a newline).
    fn draw(&self, current: &Option<(String, std::time::Instant, u32)>, frame: usize) {
        let Some((id, started, before)) = current else {
            return;
        };
        const WIDTH: u32 = 24;
        let sent = self.sent();
        let filled = (u64::from(sent) * u64::from(WIDTH) / u64::from(self.budget.max(1))) as usize;
        let spinner = ['|', '/', '-', '\\'][frame % 4];
        eprint!(
            "\r\x1b[2K{spinner} {id:<28} [{}{}] {} requests, {:.1}s",
            "#".repeat(filled.min(WIDTH as usize)),
            ".".repeat((WIDTH as usize).saturating_sub(filled)),
            sent - before,
            started.elapsed().as_secs_f64()
        );
    }

    /// Ends the running check's line.
    fn close(&self, current: &Option<(String, std::time::Instant, u32)>) {
        if let Some((id, started, before)) = current {
            eprintln!(
                "\r\x1b[2Kdone {id:<28} {} requests, {:.1}s",
                self.sent() - before,
                started.elapsed().as_secs_f64()
            );
        }
    }
}

impl ScanProgress {
    fn new(sent: std::sync::Arc<std::sync::atomic::AtomicU32>, budget: u32) -> Self {
        use std::io::IsTerminal;
        let shared = std::sync::Arc::new(ProgressState {
            sent,
            budget,
            current: std::sync::Mutex::new(None),
            done: std::sync::atomic::AtomicBool::new(false),
        });
        let ticker = std::io::stderr().is_terminal().then(|| {
            let state = shared.clone();
            std::thread::spawn(move || {
                let mut frame = 0;
                while !state.done.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(current) = state.current.lock() {
                        state.draw(&current, frame);
                    }
                    frame += 1;
                    std::thread::sleep(std::time::Duration::from_millis(120));
                }
            })
        });
        Self {
            shared,
            ticker: std::sync::Mutex::new(ticker),
        }
    }

    fn live(&self) -> bool {
        self.ticker.lock().is_ok_and(|t| t.is_some())
    }

    fn start(&self, check: &str) {
        if !self.live() {
            eprintln!("rampart scan: checking {check}");
            return;
        }
        if let Ok(mut current) = self.shared.current.lock() {
            self.shared.close(&current);
            *current = Some((
                check.to_owned(),
                std::time::Instant::now(),
                self.shared.sent(),
            ));
            self.shared.draw(&current, 0);
        }
    }

    fn finish(&self) {
        self.shared
            .done
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let ticker = self.ticker.lock().ok().and_then(|mut t| t.take());
        if let Some(ticker) = ticker {
            let _ = ticker.join();
            if let Ok(mut current) = self.shared.current.lock() {
                self.shared.close(&current);
                *current = None;
            }
        }
    }
}

/// `rampart audit verify`: 0 intact, 1 tampered, 2 unable to read (missing trail or key,
/// database unreachable).
async fn audit_verify(settings: &Settings, as_json: bool) -> Result<(), Failure> {
    let unreadable = |what: String| -> Result<(), Failure> {
        eprintln!("rampart: cannot verify the audit trail: {what}");
        Err(Failure::Exit(2))
    };
    let key = match AuditKey::load(&settings.audit_key) {
        Ok(key) => key,
        Err(e) => return unreadable(e.to_string()),
    };
    let store = match rampart_server::app::open_audit_store(settings, false).await {
        Ok(store) => store,
        Err(e) => return unreadable(format!("{e:#}")),
    };
    let report = match store
        .verify(key.verifying_keys(), Some(settings.audit_checkpoint_every))
        .await
    {
        Ok(report) => report,
        Err(e) => return unreadable(e.to_string()),
    };
    store.close().await;
    let mut out = std::io::stdout().lock();
    if as_json {
        let problem = report
            .problem
            .as_ref()
            .map(|p| serde_json::json!({ "seq": p.seq, "kind": p.kind, "message": p.to_string() }));
        let doc = serde_json::json!({
            "status": if report.intact() { "intact" } else { "tampered" },
            "entries": report.entries,
            "checkpoints": report.checkpoints,
            "head": report.head.as_ref().map(|(seq, hash)| serde_json::json!({"seq": seq, "hash": hash})),
            "last_checkpoint": report.last_checkpoint.as_ref().map(|c| c.seq),
            "first_broken": problem,
        });
        writeln!(out, "{doc}").context("stdout")?;
    } else {
        match &report.problem {
            None => writeln!(
                out,
                "audit trail intact: {} entries, {} checkpoints, last checkpoint at entry {}",
                report.entries,
                report.checkpoints,
                report.last_checkpoint.as_ref().map_or(0, |c| c.seq)
            ),
            Some(p) => writeln!(out, "audit trail TAMPERED: {p}"),
        }
        .context("stdout")?;
    }
    if report.intact() {
        Ok(())
    } else {
        Err(Failure::Exit(1))
    }
}

/// Records a key-ring change in the audit trail, as done from this host's command line.
async fn audit_key_change(
    settings: &Settings,
    action: &'static str,
    kid: &str,
) -> Result<(), Failure> {
    let key = rampart_server::app::load_audit_key(settings)?;
    let store = rampart_server::app::open_audit_store(settings, true).await?;
    let auditor =
        rampart_server::auditor::Auditor::new(store, key, settings.audit_checkpoint_every);
    let event = Event::new(
        action,
        Actor {
            user_id: None,
            ip: "local".into(),
            user_agent: "rampart-cli".into(),
        },
        Some(Target {
            kind: "key".into(),
            id: kid.to_owned(),
        }),
        Outcome::Success,
        None,
        serde_json::json!({ "algorithm": settings.alg.as_str() }),
    );
    auditor
        .append(vec![event])
        .await
        .context("the key ring changed, but the audit trail could not record it")?;
    // No server may be running to sign it later: seal the entry now.
    auditor
        .checkpoint()
        .await
        .context("the key ring change was recorded but could not be signed")?;
    auditor.store().close().await;
    Ok(())
}

async fn keys(settings: &Settings, cmd: KeysCmd) -> Result<(), Failure> {
    let path = &settings.key_ring;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
    .unwrap_or(0);
    let key_err = |e: rampart_core::keys::KeyRingError| ConfigError {
        setting: "tokens.key_ring".into(),
        reason: e.to_string(),
    };
    let mut out = std::io::stdout().lock();
    match cmd {
        KeysCmd::Init => {
            if path.exists() {
                return Err(anyhow::anyhow!(
                    "{} already exists; use `rampart keys rotate`",
                    path.display()
                )
                .into());
            }
            if let Some(dir) = path.parent() {
                rampart_server::app::create_private_dir(dir)
                    .context("creating the key directory")?;
            }
            let ring = KeyRingFile::generate(settings.alg, now);
            ring.save(path).map_err(key_err)?;
            // The audit key is a separate key with a separate file; a first set-up needs both.
            if !settings.audit_key.exists() {
                let audit = AuditKey::create(&settings.audit_key).map_err(|e| ConfigError {
                    setting: "audit.key_file".into(),
                    reason: e.to_string(),
                })?;
                writeln!(
                    out,
                    "created the audit key {} (key id {})",
                    settings.audit_key.display(),
                    audit.kid()
                )
                .context("stdout")?;
            }
            audit_key_change(settings, "keys.initialized", &ring.active).await?;
            writeln!(
                out,
                "created {} with active key {} ({})",
                path.display(),
                ring.active,
                settings.alg.as_str()
            )
            .context("stdout")?;
        }
        KeysCmd::Rotate => {
            let mut ring = KeyRingFile::load(path).map_err(key_err)?;
            let kid = ring.rotate(settings.alg, now);
            ring.save(path).map_err(key_err)?;
            audit_key_change(settings, "keys.rotated", &kid).await?;
            writeln!(
                out,
                "new active key {kid} ({}); running servers pick it up within 2 seconds",
                settings.alg.as_str()
            )
            .context("stdout")?;
        }
        KeysCmd::Retire { kid } => {
            let mut ring = KeyRingFile::load(path).map_err(key_err)?;
            ring.retire(&kid).map_err(key_err)?;
            ring.save(path).map_err(key_err)?;
            audit_key_change(settings, "keys.retired", &kid).await?;
            writeln!(out, "retired {kid}; tokens it signed no longer verify").context("stdout")?;
        }
        KeysCmd::List => {
            let ring = KeyRingFile::load(path).map_err(key_err)?;
            for key in &ring.keys {
                let active = if key.kid == ring.active {
                    " (active)"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "{}\t{}\tcreated {}{active}",
                    key.kid,
                    key.alg.as_str(),
                    key.created_at
                )
                .context("stdout")?;
            }
        }
    }
    Ok(())
}
