//! `nomad-sim`: runs the Nomad API simulator standalone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// A simulator of Nomad's HTTP API, for drover's tests and demos.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on: `HOST:PORT`, or `unix:/path/api.sock` for a Task API socket.
    /// Repeat to name both; with a socket alone, the HTTP API and the control routes are also
    /// served on an ephemeral loopback port, printed at start.
    #[arg(long, value_parser = parse_listen, default_value = "127.0.0.1:4646")]
    listen: Vec<Listen>,
    /// Every API request is answered no sooner than this after it arrived, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Deployments and allocations progress this many times faster than real time.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Turns ACLs on; this token is the management token.
    #[arg(long)]
    acl_bootstrap_token: Option<String>,
}

#[derive(Clone)]
enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

fn parse_listen(value: &str) -> Result<Listen, String> {
    match value.strip_prefix("unix:") {
        Some(path) => Ok(Listen::Unix(PathBuf::from(path))),
        None => value
            .parse()
            .map(Listen::Tcp)
            .map_err(|e| format!("{e}: write HOST:PORT or unix:/path/api.sock")),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let mut builder = nomad_sim::Sim::builder();
    for listen in &args.listen {
        builder = match listen {
            Listen::Tcp(addr) => builder.listen(*addr),
            Listen::Unix(path) => builder.unix_socket(path),
        };
    }
    let mut builder = builder
        .latency(Duration::from_millis(args.latency_ms))
        .time_scale(args.time_scale);
    if let Some(token) = &args.acl_bootstrap_token {
        builder = builder.acl_bootstrap_token(token);
    }
    let sim = builder.start().await?;
    println!("nomad-sim listening on {}", sim.url());
    if let Some(socket) = sim.socket_url() {
        println!("nomad-sim Task API on {socket}");
    }
    tokio::signal::ctrl_c().await?;
    drop(sim);
    Ok(())
}
