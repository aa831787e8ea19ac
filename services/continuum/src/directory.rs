//! `continuum directory ...`: the provider directory in and out of a running stack in a published format
//! (HSDS 3.0, Open Referral). The mapping is `continuum-hsds`'s and the import driver the gateway's
//! (`gateway::hsds::import`), so the CLI and `POST /hsds/import` import a file the same way.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand, ValueEnum};
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use gateway::upstream::Caller;

/// Directory formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// HSDS 3.0 JSON (Open Referral): nested services, an API page, or tables.
    Hsds,
}

/// `continuum directory ...`.
#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Import a directory file into the matching directory of the token's organization: a progress bar on
    /// large files, then a summary of created / updated / unchanged / refused listings (with reasons) and
    /// the fields of the file that have no counterpart.
    Import(ImportArgs),
    /// Write the directory (every provider, or one organization's) as HSDS 3.0 nested services.
    Export(ExportArgs),
    /// Write a synthetic HSDS 3.0 directory of `--services` services (for benchmarks and trials).
    Sample(SampleArgs),
}

/// Where the matching service is and who calls it.
#[derive(Clone, Debug, Args)]
pub struct Connection {
    /// The matching service.
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    pub addr: String,
    /// Bearer token (a provider admin of the organization, for imports).
    #[arg(long, env = "CONTINUUM_TOKEN")]
    pub token: String,
}

/// `continuum directory import` options.
#[derive(Clone, Debug, Args)]
pub struct ImportArgs {
    /// The file's format.
    #[arg(long, value_enum, default_value = "hsds")]
    pub format: Format,
    /// The file.
    pub file: PathBuf,
    /// The organization the providers belong to (default: the token's `org` claim).
    #[arg(long)]
    pub org: Option<String>,
    /// Print the summary as JSON (every listing) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Connection.
    #[command(flatten)]
    pub conn: Connection,
}

/// `continuum directory export` options.
#[derive(Clone, Debug, Args)]
pub struct ExportArgs {
    /// The format to write.
    #[arg(long, value_enum, default_value = "hsds")]
    pub format: Format,
    /// Only this organization's providers.
    #[arg(long)]
    pub org: Option<String>,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Connection.
    #[command(flatten)]
    pub conn: Connection,
}

/// `continuum directory sample` options.
#[derive(Clone, Debug, Args)]
pub struct SampleArgs {
    /// The format to write.
    #[arg(long, value_enum, default_value = "hsds")]
    pub format: Format,
    /// Services in the directory.
    #[arg(long, default_value_t = 1_000)]
    pub services: usize,
    /// Seed (same seed, same file).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

async fn client(
    conn: &Connection,
) -> anyhow::Result<(MatchingServiceClient<tonic::transport::Channel>, Caller)> {
    let channel = tonic::transport::Endpoint::from_shared(conn.addr.clone())?
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", conn.addr))?;
    let caller = Caller::bearer(&conn.token).map_err(|e| anyhow::anyhow!("--token: {e}"))?;
    let client = MatchingServiceClient::new(channel)
        .max_decoding_message_size(continuum_runtime::MAX_MESSAGE_BYTES);
    Ok((client, caller))
}

fn write_out(out: Option<&PathBuf>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(path) => std::fs::write(path, bytes)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            stdout.write_all(b"\n")?;
            Ok(())
        }
    }
}

/// A progress bar on standard error: `[#####.....] 512/1000 listings sent`.
fn progress_bar(sent: usize, total: usize) {
    if total < 100 {
        return;
    }
    let step = (total / 100).max(1);
    if sent != total && !sent.is_multiple_of(step) {
        return;
    }
    let filled = sent * 30 / total.max(1);
    eprint!(
        "\r[{}{}] {sent}/{total} listings sent{}",
        "#".repeat(filled),
        ".".repeat(30 - filled),
        if sent == total { ", matching is storing them\n" } else { "" }
    );
}

/// Runs a `continuum directory` command.
pub async fn run(command: DirectoryCommand) -> anyhow::Result<()> {
    match command {
        DirectoryCommand::Import(args) => import(args).await,
        DirectoryCommand::Export(args) => {
            let Format::Hsds = args.format;
            let (mut client, caller) = client(&args.conn).await?;
            let providers =
                gateway::hsds::list_providers(&mut client, &caller, args.org.as_deref()).await?;
            let services = continuum_hsds::export_services(&providers);
            write_out(args.out.as_ref(), &serde_json::to_vec_pretty(&services)?)?;
            if args.out.is_some() {
                eprintln!("exported {} providers as HSDS 3.0 services", services.len());
            }
            Ok(())
        }
        DirectoryCommand::Sample(args) => {
            let Format::Hsds = args.format;
            let doc = continuum_hsds::sample::directory(args.services, args.seed);
            write_out(args.out.as_ref(), &serde_json::to_vec_pretty(&doc)?)
        }
    }
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let Format::Hsds = args.format;
    let started = Instant::now();
    let bytes = std::fs::read(&args.file)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", args.file.display()))?;
    let (mut client, caller) = client(&args.conn).await?;
    let org = match args.org.clone().or_else(|| caller.organization_hint().map(str::to_owned)) {
        Some(o) => o,
        None => anyhow::bail!("the token names no organization: pass --org"),
    };
    let mapped = continuum_hsds::read(&bytes, &org)?;
    let summary = gateway::hsds::import(&mut client, &caller, &org, &mapped, progress_bar).await?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.to_text());
    }
    eprintln!(
        "imported {} ({} bytes, {} services) in {seconds:.2} s",
        args.file.display(),
        bytes.len(),
        summary.services
    );
    Ok(())
}
