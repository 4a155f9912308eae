//! `cargo xtask load-test`: the server's bounded load test with throughput.
//!
//! Builds the release CLI, starts `rocmforge serve` on a free port (CPU by
//! default), runs `tests/server/load_test.py --throughput` against it (one
//! client against eight, then REQUESTS requests at CONCURRENCY clients with a
//! memory check), and stops the server with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (default: Gemma 3 270M Q4_K_M from the model cache, fetched if needed).
    #[arg(short = 'm', long)]
    pub model: Option<PathBuf>,
    /// `--device` for the server.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Requests of the load phase.
    #[arg(long, default_value_t = 500)]
    pub requests: usize,
    /// Clients at once in the load phase.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Tokens per request in the load phase.
    #[arg(long, default_value_t = 16)]
    pub max_tokens: usize,
    /// Write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let model = match &args.model {
        Some(model) => model.clone(),
        None => crate::fetch::fetch_models()?,
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "rocmforge-cli"])
        .current_dir(&root)
        .status()
        .context("building the CLI")?;
    if !status.success() {
        bail!("building the CLI failed ({status})");
    }
    let key = "load-test";
    let mut server = Command::new(root.join("target/release/rocmforge"))
        .args(["serve", "--port", "0", "-c", "1024", "--api-key", key])
        .args(["--device", &args.device, "-m"])
        .arg(&model)
        .stderr(Stdio::piped())
        .spawn()
        .context("starting rocmforge serve")?;
    let stderr = server.stderr.take().context("the server's stderr")?;
    let (tx, rx) = mpsc::channel();
    let log = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("server: {line}");
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let result = (|| {
        let base = rx
            .recv_timeout(Duration::from_secs(300))
            .context("the server did not start")?;
        let mut script = Command::new("python3");
        script
            .arg(root.join("tests/server/load_test.py"))
            .args(["--base-url", &base, "--api-key", key, "--throughput"])
            .args(["--pid", &server.id().to_string()])
            .args(["--requests", &args.requests.to_string()])
            .args(["--concurrency", &args.concurrency.to_string()])
            .args(["--max-tokens", &args.max_tokens.to_string()]);
        if let Some(json) = &args.json {
            script.arg("--json").arg(json);
        }
        let status = script.status().context("running python3")?;
        if !status.success() {
            bail!("the load test failed ({status})");
        }
        Ok(())
    })();
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let status = server.wait()?;
    let _ = log.join();
    result?;
    if !status.success() {
        bail!("the server exited with {status}");
    }
    Ok(())
}
