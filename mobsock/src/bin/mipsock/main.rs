//! `mipsock`: watch the mobility socket bus, show the binding tables, inject messages.

mod parse;
mod table;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use mobsock::render::{json_line, text_line};
use mobsock::{Bus, BusMember, BusOptions, DumpWait, DumpWhat, DEFAULT_BUS_DIR};
use nix::unistd::Group;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(name = "mipsock", about = "Watch and talk on the mobility socket bus")]
struct Cli {
    /// The bus directory.
    #[arg(long, global = true, default_value = DEFAULT_BUS_DIR)]
    bus_dir: PathBuf,
    /// The bus group whose members may write (as configured for the daemons).
    #[arg(long, global = true)]
    group: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Table {
    Bc,
    Bul,
    /// The Home Agents Lists (had: its home link's; mrd: the last DHAAD reply).
    Ha,
}

#[derive(Subcommand)]
enum Command {
    /// Print every bus message, one line each, as it happens (like `ip monitor`).
    Monitor {
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask the owners (had: bc, mrd: bul, both: ha) for a dump and print the table.
    Show {
        table: Table,
        /// One JSON object per entry instead of a table.
        #[arg(long)]
        json: bool,
        /// How long to wait for the owners, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
    },
    /// Make a key line for the auth database (RFC 4285 MN-HA authentication): 160 random
    /// bits from the OS and a random SPI of 256 or above (0-255 are reserved). Put the line
    /// in the auth database of both the mobile router and its home agent (mode 600, owned by
    /// root). To rotate a key, add the new line after the old one on the home agent, then on
    /// the mobile router (which signs with its last line), then remove the old line from
    /// both; SIGHUP makes the daemons read the file again.
    Keygen {
        /// The mobile router's home address.
        #[arg(value_name = "HOME-ADDRESS")]
        home_address: std::net::Ipv6Addr,
    },
    /// Inject one message by hand.
    #[command(after_help = parse::SEND_HELP)]
    Send {
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        words: Vec<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MIPSOCK_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mipsock: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mipsock: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let mut opts = BusOptions::default();
    if let Some(name) = &cli.group {
        let group = Group::from_name(name)
            .with_context(|| format!("looking up group {name}"))?
            .with_context(|| format!("no such group {name}"))?;
        opts.group = Some(group.gid);
    }
    match cli.command {
        Command::Keygen { home_address } => {
            println!("{}", keygen(home_address)?);
            eprintln!(
                "mipsock: put this line in the auth database of both the mobile router and its \
                 home agent (chmod 600, owned by root)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Monitor { json } => {
            opts.event_queue = 1 << 16;
            let member = join(&cli.bus_dir, opts).await?;
            monitor(member, json).await
        }
        Command::Show {
            table,
            json,
            timeout_ms,
        } => {
            let mut member = join(&cli.bus_dir, opts).await?;
            let wait = DumpWait {
                timeout: Duration::from_millis(timeout_ms),
                ..DumpWait::default()
            };
            let what = match table {
                Table::Bc => DumpWhat::Bc,
                Table::Bul => DumpWhat::Bul,
                Table::Ha => {
                    let lists = member.request_ha_lists(wait).await?;
                    member.leave().await?;
                    if lists.is_empty() {
                        bail!("no owner of a home agents list answered (is had or mrd running?)");
                    }
                    table::print_ha(&lists, json)?;
                    return Ok(ExitCode::SUCCESS);
                }
            };
            let result = member.request_dump_with(what, wait).await?;
            member.leave().await?;
            if result.replies.is_empty() {
                let owner = match table {
                    Table::Bc | Table::Ha => "had",
                    Table::Bul => "mrd",
                };
                bail!(
                    "no owner of the {} answered (is {owner} running?)",
                    what.as_str()
                );
            }
            table::print(&result, what, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Send { words } => {
            let body = parse::parse_send(&words).context("bad message")?;
            let member = join(&cli.bus_dir, opts).await?;
            let line = body.to_string();
            let seq = member.send(body)?;
            let peers = member.peers().len();
            if !member.flush(Duration::from_secs(1)).await {
                eprintln!("mipsock: some members did not take the message within 1 s");
            }
            member.leave().await?;
            println!("sent {line} seq {seq} to {peers} members");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `HOME-ADDRESS SPI 0xKEY`: 20 random bytes (HMAC-SHA1's block of state, RFC 4285) and an
/// SPI from 256 up, both from the OS's random source.
fn keygen(home_address: std::net::Ipv6Addr) -> Result<String> {
    use std::io::Read;
    let mut random = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .context("reading /dev/urandom")?;
    let spi_bits = u32::from_be_bytes([random[20], random[21], random[22], random[23]]);
    // Uniform over 256..=u32::MAX, bar a bias of 2^-24.
    let spi = FIRST_USABLE_SPI + spi_bits % (u32::MAX - FIRST_USABLE_SPI + 1);
    let key: String = random[..20].iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{home_address} {spi} 0x{key}"))
}

/// RFC 4285 reserves SPIs 0 to 255.
const FIRST_USABLE_SPI: u32 = 256;

async fn join(dir: &std::path::Path, opts: BusOptions) -> Result<BusMember> {
    Bus::join(dir, "mipsock", opts)
        .await
        .with_context(|| format!("joining the bus in {}", dir.display()))
}

async fn monitor(mut member: BusMember, json: bool) -> Result<ExitCode> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // Tests wait for this line: from here on every message reaches the monitor.
    eprintln!(
        "mipsock: monitoring the bus ({} other members) as {}",
        member.peers().len(),
        member.me()
    );
    let stdout = std::io::stdout();
    loop {
        let ev = tokio::select! {
            ev = member.recv() => ev?,
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        let now = SystemTime::now();
        let line = if json {
            json_line(now, &ev)
        } else {
            text_line(now, &ev)
        };
        let mut out = stdout.lock();
        // A closed pipe ends the monitor quietly.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
    member.leave().await?;
    Ok(ExitCode::SUCCESS)
}
