//! `server` binary: serves ChatterBox, or runs an admin command (see `cli`).

use server::cli::{self, Command};
use server::config::Config;
use server::services::Services;
use server::{app, leptos_options, serve, telemetry, AppState};

#[tokio::main]
async fn main() {
    telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match Config::load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("configuration error: {e}");
            std::process::exit(2);
        }
    };
    let code = match cli::parse(&args) {
        Command::Serve => run_server(config).await,
        Command::Healthcheck => match leptos_options() {
            Ok(options) => cli::healthcheck(options.site_addr).await,
            Err(e) => {
                eprintln!("configuration error: {e}");
                2
            }
        },
        Command::Help => {
            eprintln!("{}", cli::USAGE);
            2
        }
        command => cli::run_admin(command, &config).await.unwrap_or_else(|e| {
            eprintln!("error: {e}");
            1
        }),
    };
    std::process::exit(code);
}

async fn run_server(config: Config) -> i32 {
    let leptos_options = match leptos_options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return 2;
        }
    };
    if let Err(problem) = server::http::assets::check_site(&leptos_options) {
        eprintln!("site error: {problem}");
        return 2;
    }
    let addr = leptos_options.site_addr;
    let services = match Services::start(config).await {
        Ok(services) => services,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return 1;
        }
    };
    // One server per SQLite file, and no restore under a running server: taken once the store
    // opened (so a bad path is reported as such), before anything is served.
    let _database_lock = match lock_sqlite_database(&services.config().database_url) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("database error: {e}");
            return 2;
        }
    };
    reload_word_list_on_sighup(services.clone());
    let router = app(AppState { leptos_options, services: services.clone() });
    let listener = match server::serving::listen(addr) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, %addr, "cannot listen");
            return 1;
        }
    };
    if let Some(metrics_addr) = services.config().operations.metrics_addr {
        match tokio::net::TcpListener::bind(metrics_addr).await {
            Ok(listener) => {
                tracing::info!("metrics on http://{metrics_addr}/metrics");
                server::serve_metrics(listener, services.clone());
            }
            Err(e) => {
                tracing::error!(error = %e, %metrics_addr, "cannot listen for metrics");
                return 1;
            }
        }
    }
    tracing::info!("ChatterBox listening on http://{addr}");
    match serve(listener, router, services).await {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = %e, "server error");
            1
        }
    }
}

/// On SQLite, the lock a server holds on its database file for as long as it runs; refused when
/// another server holds it. A lock file that cannot be made (a read-only directory) is no lock.
fn lock_sqlite_database(
    url: &str,
) -> Result<Option<server::store::sqlite::backup::ServerLock>, server::store::sqlite::backup::BackupError> {
    use server::store::sqlite::backup::{BackupError, ServerLock};
    if !url.starts_with("sqlite:") {
        return Ok(None);
    }
    match ServerLock::take(url) {
        Ok(lock) => Ok(Some(lock)),
        Err(BackupError::ServerRunning) => Err(BackupError::ServerRunning),
        Err(error) => {
            tracing::warn!(%error, "no lock on the database file: `server admin restore` cannot tell this server runs");
            Ok(None)
        }
    }
}

/// `kill -HUP <pid>` re-reads the moderation word list without a restart.
fn reload_word_list_on_sighup(services: std::sync::Arc<Services>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else { return };
        while hangup.recv().await.is_some() {
            match services.reload_word_list() {
                Ok(()) => tracing::info!("moderation word list reloaded"),
                Err(error) => tracing::warn!(%error, "moderation word list not reloaded"),
            }
        }
    });
}
