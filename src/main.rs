use switchboard::cli::{
    AlertsCommand, Cli, Command, ConfigCommand, EXIT_FAILED, LabCommand, StoreCommand,
};
use switchboard::commands::{
    self, Exit, Outcome, authorize, console, demo, events, interruptible, oneshot, status, token,
    tools,
};

fn main() {
    switchboard::engine::heap::limit_arenas();
    let cli = Cli::parse_args();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(EXIT_FAILED);
        }
    };
    let outcome: Outcome = runtime.block_on(async move {
        let global = cli.global;
        match cli.command {
            None => console::console(&global, cli.read_only).await,
            Some(Command::Demo(args)) => demo::demo(&global, args).await,
            Some(Command::Daemon(args)) => console::daemon(&global, args).await,
            Some(Command::Status(args)) => interruptible(status::status(&global, args)).await,
            Some(Command::Token {
                connector,
                account,
                reveal,
            }) => interruptible(token::token(&global, &connector, &account, reveal)).await,
            Some(Command::Exec(args)) => token::exec(&global, args).await,
            Some(Command::Events(args)) => events::events(&global, args).await,
            Some(Command::Auth {
                connector,
                account,
                no_browser,
                device,
            }) => {
                interruptible(authorize::auth(
                    &global, &connector, &account, no_browser, device,
                ))
                .await
            }
            Some(Command::Revoke { connector, account }) => {
                interruptible(authorize::revoke(&global, &connector, &account)).await
            }
            Some(Command::Refresh {
                connector,
                account,
                json,
            }) => interruptible(oneshot::refresh(&global, &connector, &account, json)).await,
            Some(Command::Pause { connector, account }) => {
                interruptible(oneshot::set_paused(&global, &connector, &account, true)).await
            }
            Some(Command::Resume { connector, account }) => {
                interruptible(oneshot::set_paused(&global, &connector, &account, false)).await
            }
            Some(Command::Probe {
                connector,
                account,
                json,
            }) => interruptible(oneshot::probe(&global, &connector, &account, json)).await,
            Some(Command::Tools(args)) => tools::tools(&global, args).await,
            Some(Command::Call(args)) => tools::call(&global, args).await,
            Some(Command::Completions { shell }) => commands::docs::completions(shell),
            Some(Command::Man { dir }) => commands::docs::man(dir.as_deref()),
            Some(Command::Alerts {
                command: AlertsCommand::List { json },
            }) => interruptible(commands::alerts::list(&global, json)).await,
            Some(Command::Alerts {
                command: AlertsCommand::Test { channel, json },
            }) => interruptible(commands::alerts::test(&global, &channel, json)).await,
            Some(Command::Store {
                command: StoreCommand::Migrate { to },
            }) => interruptible(commands::store::migrate(&global, to)).await,
            Some(Command::Config {
                command: ConfigCommand::Check,
            }) => oneshot::config_check(&global),
            Some(Command::Config {
                command: ConfigCommand::Init { force },
            }) => oneshot::config_init(&global, force),
            Some(Command::Config {
                command: ConfigCommand::Example,
            }) => {
                print!("{}", switchboard::EXAMPLE_CONFIG);
                Ok(0)
            }
            Some(Command::Lab {
                command: LabCommand::McpStdio,
            }) => {
                commands::init_stderr_logging();
                switchboard::lab::run_stdio_server()
                    .await
                    .map(|_| 0)
                    .map_err(|e| Exit::new(EXIT_FAILED, format!("lab stdio server: {e}")))
            }
            Some(Command::Lab {
                command: LabCommand::ConformanceClient { url, scenario },
            }) => commands::conformance::run(&global, url, scenario).await,
            Some(Command::Lab {
                command:
                    LabCommand::Serve {
                        token_ttl,
                        rest_failure_rate,
                    },
            }) => demo::lab_serve(token_ttl, rest_failure_rate).await,
            Some(Command::Lab {
                command:
                    LabCommand::AuthorizeAll {
                        concurrency,
                        timeout,
                    },
            }) => commands::lab_seed::authorize_all(&global, concurrency, timeout).await,
        }
    });
    // Sessions hold child processes and sockets; do not wait for stragglers.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Ok(code) => std::process::exit(code),
        Err(Exit { code, message, .. }) => {
            // Errors quote servers (error_description, MCP error messages): shown, not obeyed.
            eprintln!("error: {}", switchboard::text::printable(&message, true));
            std::process::exit(code);
        }
    }
}
