//! The `continuum` binary: see `continuum --help`.

use clap::Parser;

#[global_allocator]
static ALLOCATOR: continuum_runtime::memory::Allocator = continuum_runtime::memory::Allocator;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    continuum_runtime::memory::tune_allocator();
    let cli = continuum::cli::Cli::parse();
    continuum::cli::run(cli).await
}
