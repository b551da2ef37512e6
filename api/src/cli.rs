//! The `steward` command line: parses it and calls the library. `main.rs` (and the test suite's copy of the binary)
//! only call [`main`].

use std::process::ExitCode;

use crate::auth::{TokenMinter, parse_ttl};
use crate::config::{ConfigArgs, KeySource};
use crate::ids::TenantId;
use crate::{Application, Config, demo};
use clap::{Parser, Subcommand, ValueEnum};
use steward_policy::ActorKind;

#[derive(Parser)]
#[command(
    name = "steward",
    version,
    about = "Steward: the multi-tenant data-processor platform"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        env = "STEWARD_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrates first).
    Serve {
        /// Demo mode: generate a key in the data dir, create demo tenants and users, print a token per role.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Apply pending migrations to the control, region and subject-key databases, then exit.
    Migrate {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// After restoring region databases (or their subject-key databases) from a backup: erase again every subject,
    /// value and subject key the erasure journal (in the control database) names that the restored databases still
    /// hold, then exit. Run it before starting the server on the restored databases; running it again finds nothing
    /// more.
    Restore {
        /// Only this region (default: every region).
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Master keys: re-seal what is stored under an older version with the current one.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Verify or export audit chains, from the server's machine.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Mint a token with the configured HS256 secret (or the demo secret in the data dir).
    Token {
        /// The token's `sub`.
        #[arg(long)]
        sub: String,
        #[arg(long, value_enum)]
        kind: Kind,
        /// Tenant id, required for client tokens.
        #[arg(long)]
        tenant: Option<String>,
        /// Lifetime: 900, 15m, 12h (at most `STEWARD_JWT_MAX_LIFETIME_SECS`, 24 hours by default).
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Recompute chains: one tenant's, or (without --tenant) the platform's and every tenant's. Exits 1 if any is
    /// broken, naming the first broken event.
    Verify {
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Write a tenant's chain as JSON Lines (one event per line), verifiable with SHA-256 alone (see the README).
    Export {
        #[arg(long)]
        tenant: String,
        /// File to write; stdout when absent.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Re-seal the key root and every tenant's keys under the current (highest) version of STEWARD_MASTER_KEYS, one
    /// row at a time, while the servers run; stopped anywhere, a second run resumes. Prints what is still sealed under
    /// an older version: when nothing is, that version can leave the configuration.
    Rotate {
        /// Re-seal at most this many tenants' keys in this run.
        #[arg(long)]
        limit: Option<u64>,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Staff,
    Client,
}

/// Runs the `steward` command with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = crate::telemetry::init(match cli.log_format {
        LogFormat::Text => crate::telemetry::LogFormat::Text,
        LogFormat::Json => crate::telemetry::LogFormat::Json,
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli.command));
    drop(runtime);
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo, config } => {
            let keys = if demo {
                KeySource::DemoCreate
            } else {
                KeySource::Configured
            };
            let config = Config::from_args(&config, keys)?;
            // Before anything is opened: a second process on the same SQLite files is refused, not run beside.
            let _serving = crate::db::ServingLock::take(&config)?;
            let app = Application::build(&config).await?;
            let addr = app.local_addr()?;
            // The demo data first: "running" is printed once the console has something to show.
            let tokens = match demo {
                true => Some(demo::prepare(app.state(), &config).await?),
                false => None,
            };
            println!("Steward is running. Console: http://{addr}/graphql");
            if let Some(tokens) = &tokens {
                print_demo(&addr.to_string(), tokens);
            }
            app.run_until_stopped().await
        }
        Command::Restore { region, config } => {
            let config = Config::from_args(&config, KeySource::NotNeeded)?;
            let state = crate::AppState::build(&config).await?;
            let done = crate::erasure::journal::replay(state.tenancy(), region.as_deref()).await?;
            // The replay's deletions leave the WAL files now: a retry in the background would end with this process.
            state.tenancy().system().checkpoint_now().await.map_err(|e| {
                anyhow::anyhow!(
                    "the erasures were applied again, but an SQLite WAL still holds the deleted pages ({e}): run \
                     `steward restore` again once no other process reads the databases"
                )
            })?;
            let n = |count: u64, one: &str, many: &str| match count {
                1 => format!("1 {one}"),
                n => format!("{n} {many}"),
            };
            println!(
                "erasure journal: {} read; erased again: {}, {} and {}, in {}",
                n(done.entries as u64, "entry", "entries"),
                n(done.subjects, "subject", "subjects"),
                n(done.values, "value", "values"),
                n(done.keys, "subject key", "subject keys"),
                n(done.tenants as u64, "tenant", "tenants"),
            );
            Ok(())
        }
        Command::Migrate { config } => {
            let config = Config::from_args(&config, KeySource::NotNeeded)?;
            let dbs = crate::db::Databases::connect(&config).await?;
            crate::keys::migrate(&dbs, config.master_keys.clone()).await?;
            println!(
                "migrated: control, and regions {} with their subject-key databases",
                config.region_names().join(", ")
            );
            Ok(())
        }
        Command::Audit { action } => {
            let config = match &action {
                AuditAction::Verify { config, .. } | AuditAction::Export { config, .. } => config,
            };
            let config = Config::from_args(config, KeySource::NotNeeded)?;
            let dbs = crate::db::Databases::connect(&config).await?;
            match action {
                AuditAction::Verify { tenant, .. } => {
                    let tenant = tenant
                        .map(|t| TenantId::parse("--tenant", &t))
                        .transpose()?;
                    let (lines, all_hold) = crate::audit::operator_verify(&dbs, tenant).await?;
                    for line in lines {
                        println!("{line}");
                    }
                    if !all_hold {
                        anyhow::bail!("an audit chain is broken");
                    }
                }
                AuditAction::Export { tenant, output, .. } => {
                    let tenant = TenantId::parse("--tenant", &tenant)?;
                    let written = match output {
                        Some(path) => {
                            let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
                            let n = crate::audit::operator_export(&dbs, tenant, &mut file).await?;
                            std::io::Write::flush(&mut file)?;
                            n
                        }
                        None => {
                            crate::audit::operator_export(
                                &dbs,
                                tenant,
                                &mut std::io::stdout().lock(),
                            )
                            .await?
                        }
                    };
                    eprintln!("exported {written} events");
                }
            }
            Ok(())
        }
        Command::Keys {
            action: KeysAction::Rotate { limit, config },
        } => {
            let config = Config::from_args(&config, KeySource::NotNeeded)?;
            let masters = config
                .master_keys
                .clone()
                .ok_or_else(|| anyhow::anyhow!("{}", crate::config::ConfigError::NoMasterKey))?;
            let dbs = crate::db::Databases::connect(&config).await?;
            let keyring = crate::keys::open_migrated(&dbs, masters).await?;
            let done = crate::keys::rotate(dbs.control(), &keyring, limit).await?;
            let older = done.left.older_than(done.to_version);
            let waiting = done.left.tenants_to_reseal(done.to_version);
            if !done.root_resealed && done.tenants_resealed == 0 && waiting == 0 && older.is_empty()
            {
                println!(
                    "nothing to re-seal: the key root and every tenant's keys are sealed under master key version {}",
                    done.to_version
                );
                dbs.close().await;
                return Ok(());
            }
            println!(
                "keys rotated to master key version {}: key root {}, {} tenants' keys re-sealed; {} left",
                done.to_version,
                if done.root_resealed {
                    "re-sealed"
                } else {
                    "already current"
                },
                done.tenants_resealed,
                waiting,
            );
            if waiting == 0 && older.is_empty() {
                let others: Vec<i32> = keyring
                    .masters()
                    .versions()
                    .into_iter()
                    .filter(|v| *v != done.to_version)
                    .collect();
                if others.is_empty() {
                    println!("nothing is sealed under another version");
                } else {
                    println!(
                        "nothing is sealed under versions {others:?} any more: they can leave STEWARD_MASTER_KEYS"
                    );
                }
            } else {
                println!("still sealed under an older version: run `steward keys rotate` again");
            }
            dbs.close().await;
            Ok(())
        }
        Command::Schema => {
            print!("{}", crate::schema::sdl());
            Ok(())
        }
        Command::Token {
            sub,
            kind,
            tenant,
            ttl,
            config,
        } => {
            let data_dir = config.data_dir.clone();
            let config = Config::from_args(&config, KeySource::DemoExisting).map_err(|e| match e {
                // Most often run from another folder than the demo's: say where it looked.
                crate::config::ConfigError::NoKey => anyhow::anyhow!(
                    "no key to sign tokens with: no demo secret in {} (run this from the folder where you ran \
                     `steward serve --demo`, or give its --data-dir), and STEWARD_JWT_HS256_SECRET is not set",
                    data_dir.display()
                ),
                e => anyhow::Error::from(e),
            })?;
            let minter = TokenMinter::new(&config.jwt)?.ok_or_else(|| {
                anyhow::anyhow!("the server verifies tokens with a public key; mint them with your identity provider")
            })?;
            let ttl = parse_ttl(&ttl).map_err(anyhow::Error::msg)?;
            let (kind, tenant) = match (kind, tenant) {
                (Kind::Client, Some(t)) => {
                    (ActorKind::Client, Some(TenantId::parse("--tenant", &t)?))
                }
                (Kind::Client, None) => anyhow::bail!("client tokens need --tenant <tenant id>"),
                (Kind::Staff, None) => (ActorKind::Staff, None),
                (Kind::Staff, Some(_)) => {
                    anyhow::bail!("staff tokens carry no tenant: leave out --tenant")
                }
            };
            println!("{}", minter.mint(&sub, kind, tenant, ttl)?);
            Ok(())
        }
    }
}

fn print_demo(addr: &str, tokens: &[demo::DemoToken]) {
    println!();
    println!("Demo tokens (valid 12 h). In the console, open the Headers tab and paste");
    println!("  {{\"Authorization\": \"Bearer <token>\"}}");
    println!("then run:  {{ viewer {{ subject kind roles tenant {{ name region }} }} }}");
    println!();
    for t in tokens {
        let whom = match &t.tenant {
            Some(tenant) => format!("{} of {} ({})", t.role, tenant, t.subject),
            None => format!("{} ({})", t.role, t.subject),
        };
        println!("{whom}:\n  {}\n", t.token);
    }
    if let Some(first) = tokens.iter().find(|t| t.tenant.is_some()) {
        // The token rides in the fragment, which the browser never sends; the console drops it from the address bar.
        println!(
            "Or open the console already signed in as {}:\n  http://{addr}/graphql#token={}\n",
            first.subject, first.token
        );
        println!("Or from a shell:");
        println!(
            "  curl -s http://{addr}/graphql -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' \
             -d '{{\"query\":\"{{ viewer {{ subject kind roles tenant {{ name region }} }} }}\"}}'",
            first.token
        );
    }
}
