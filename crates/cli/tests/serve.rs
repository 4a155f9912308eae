//! `rocmforge serve` driven by the official `openai` Python package
//! (`tests/server/openai_client.py`): completions, chat, streaming, stop
//! sequences, seeds, log-probabilities, errors, cancellation, and greedy answers
//! equal to `rocmforge run`'s, also for eight concurrent clients. Then the
//! bounded load test (`tests/server/load_test.py`): 500 requests at 16 clients,
//! no errors, no growth in memory. SIGTERM must stop the server cleanly.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::cached_gemma;

const PROMPTS: [&str; 8] = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a small village,",
    "The three primary colors are",
    "To make a cup of tea, first",
    "Water boils at",
    "The largest planet in the solar system",
    "List of prime numbers: 2, 3, 5,",
];

const MAX_TOKENS: usize = 24;

fn python_has_openai() -> bool {
    Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What `rocmforge run --temp 0` prints for `prompt`.
fn run_greedy(model: &Path, prompt: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .args(["run", "--device", "cpu", "--temp", "0", "-n"])
        .arg(MAX_TOKENS.to_string())
        .arg("-m")
        .arg(model)
        .args(["-p", prompt])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.strip_suffix('\n').unwrap_or(&text).to_owned()
}

#[test]
fn openai_client_drives_the_server() {
    let Some(model) = cached_gemma("openai_client_drives_the_server") else {
        return;
    };
    if !python_has_openai() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install the openai package (cargo xtask test does)"
        );
        eprintln!("SKIPPED openai_client_drives_the_server: python3 cannot import openai");
        return;
    }
    let expected = serde_json::json!({
        "max_tokens": MAX_TOKENS,
        "prompts": PROMPTS
            .iter()
            .map(|p| serde_json::json!({ "prompt": p, "text": run_greedy(&model, p) }))
            .collect::<Vec<_>>(),
    });
    let expected_path =
        std::env::temp_dir().join(format!("rocmforge-serve-{}.json", std::process::id()));
    std::fs::write(&expected_path, expected.to_string()).unwrap();

    let key = "test-key";
    let (mut server, base) = start(&model, key);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/server/openai_client.py");
    let client = Command::new("python3")
        .arg(&script)
        .args(["--base-url", &base, "--api-key", key, "--expected"])
        .arg(&expected_path)
        .output()
        .unwrap();
    std::fs::remove_file(&expected_path).unwrap();
    println!("{}", String::from_utf8_lossy(&client.stdout));
    eprintln!("{}", String::from_utf8_lossy(&client.stderr));
    assert!(client.status.success(), "the openai client's checks failed");

    stop(&mut server);
}

#[test]
fn load_test_completes_without_errors_or_memory_growth() {
    let Some(model) = cached_gemma("load_test_completes_without_errors_or_memory_growth") else {
        return;
    };
    let key = "load-key";
    let (mut server, base) = start(&model, key);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/server/load_test.py");
    let pid = server.child.id().to_string();
    let load = Command::new("python3")
        .arg(&script)
        .args(["--base-url", &base, "--api-key", key, "--pid", &pid])
        .args([
            "--requests",
            "500",
            "--concurrency",
            "16",
            "--max-tokens",
            "8",
        ])
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&load.stdout));
    eprintln!("{}", String::from_utf8_lossy(&load.stderr));
    assert!(load.status.success(), "the load test failed");
    stop(&mut server);
}

/// A running `rocmforge serve` on a free port, and the thread reading its log.
struct Server {
    child: Child,
    log: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server on the CPU with `key`; returns it and its base URL.
fn start(model: &Path, key: &str) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .args(["serve", "--device", "cpu", "--port", "0", "-c", "1024"])
        .args(["--parallel", "8", "--api-key", key, "-m"])
        .arg(model)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    // Read the server's log on a thread: the address first, everything kept.
    let (tx, rx) = mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.to_owned());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let server = Server {
        child,
        log: Some(log),
    };
    let base = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the server prints its address");
    (server, base)
}

/// SIGTERM: the server stops taking requests, finishes, and exits 0.
fn stop(server: &mut Server) {
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = server.log.take().unwrap().join().unwrap();
    assert!(status.success(), "exit {status}: {log}");
    assert!(log.contains("shutting down"), "{log}");
}
