//! Test support (feature `test-support`): a moto server per test run and helpers to create and
//! connect to queues on it, reused by this crate's conformance suite and the project's end-to-end
//! tests.
//!
//! moto is a real HTTP server speaking the SQS protocol, so the real `aws-sdk-sqs` client is
//! exercised end to end. The helpers pass fixed dummy credentials and a region explicitly, so tests
//! never depend on (or leak into) the environment's AWS configuration.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::limits::MessageLimits;
use crate::sqs::{SqsQueue, SqsQueueSettings, StaticCredentials};

/// The region every helper uses.
pub const TEST_REGION: &str = "us-east-1";
/// Dummy credentials; moto accepts any.
pub const TEST_ACCESS_KEY_ID: &str = "testing";
pub const TEST_SECRET_ACCESS_KEY: &str = "testing";

const NOT_FOUND: &str =
    "moto_server not found: run scripts/test, which installs moto in .venv, or set MOTO_SERVER";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 3;

/// A `moto_server` child process on a free loopback port, killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    endpoint_url: String,
}

impl MotoServer {
    /// Starts `moto_server` (from env `MOTO_SERVER`, else `PATH`) and waits until it answers.
    ///
    /// Blocks for the start-up (under a second or two); panics if moto cannot be found or started.
    pub fn start() -> MotoServer {
        let mut last_failure = String::new();
        // A port picked free can be taken before moto binds it; try another one then.
        for _ in 0..START_ATTEMPTS {
            match MotoServer::start_on(free_loopback_port()) {
                Ok(server) => return server,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("moto_server did not start: {last_failure}");
    }

    /// Starts `moto_server` on `port` (for a test that points a daemon at an SQS that is not
    /// there yet, then brings it up) and waits until it answers.
    pub fn start_on(port: u16) -> Result<MotoServer, String> {
        let program = find_moto_server().unwrap_or_else(|| panic!("{NOT_FOUND}"));
        let mut child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", program.display()));
        match wait_until_answering(&mut child, port) {
            Ok(()) => Ok(MotoServer {
                child,
                endpoint_url: format!("http://127.0.0.1:{port}"),
            }),
            Err(failure) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(failure)
            }
        }
    }

    /// One server shared by every caller that holds it at the same time; it stops when the last
    /// holder drops it, and the next call starts a new one. Saves a start-up per test.
    pub fn shared() -> Arc<MotoServer> {
        static SHARED: Mutex<Weak<MotoServer>> = Mutex::new(Weak::new());
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(server) = shared.upgrade() {
            return server;
        }
        let server = Arc::new(MotoServer::start());
        *shared = Arc::downgrade(&server);
        server
    }

    /// The server's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    /// Settings that reach `queue` (a name or URL) on this server.
    pub fn settings(&self, queue: &str) -> SqsQueueSettings {
        SqsQueueSettings {
            queue: queue.to_owned(),
            region: Some(TEST_REGION.to_owned()),
            endpoint_url: Some(self.endpoint_url.clone()),
        }
    }

    /// Environment variables that point a child process's AWS SDK at this server.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint_url.clone()),
            ("AWS_REGION", TEST_REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY.to_owned()),
            ("NO_PROXY", "127.0.0.1,localhost".to_owned()),
        ]
    }

    /// Creates the queue `name` (FIFO if it ends in `.fifo`) unless it exists, with a dead-letter
    /// queue [`dead_letter_queue_name`]`(name)` after `dlq` receives; returns its URL.
    /// Panics on failure.
    pub async fn create_queue(&self, name: &str, dlq: Option<u32>) -> String {
        let dead_letter =
            dlq.map(|max_receive_count| (dead_letter_queue_name(name), max_receive_count));
        SqsQueue::ensure_queue_with_credentials(
            &self.settings(name),
            dead_letter,
            Some(test_credentials()),
        )
        .await
        .unwrap_or_else(|error| panic!("creating queue {name} on moto: {error}"))
    }

    /// Connects to `queue` (a name or URL) on this server. Panics on failure.
    pub async fn connect(&self, queue: &str, limits: MessageLimits) -> SqsQueue {
        SqsQueue::connect_with_credentials(self.settings(queue), limits, Some(test_credentials()))
            .await
            .unwrap_or_else(|error| panic!("connecting to queue {queue} on moto: {error}"))
    }

    /// Connects to `queue`, returning the error instead of panicking (to test failures).
    pub async fn try_connect(
        &self,
        settings: SqsQueueSettings,
        limits: MessageLimits,
    ) -> Result<SqsQueue, crate::QueueError> {
        SqsQueue::connect_with_credentials(settings, limits, Some(test_credentials())).await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The dead-letter queue name [`MotoServer::create_queue`] uses: `<name>-dlq`, or
/// `<stem>-dlq.fifo` for a FIFO queue (whose dead-letter queue must be FIFO too).
pub fn dead_letter_queue_name(name: &str) -> String {
    match name.strip_suffix(".fifo") {
        Some(stem) => format!("{stem}-dlq.fifo"),
        None => format!("{name}-dlq"),
    }
}

/// A queue name no other test (or earlier run against the same server) uses: moto, like SQS,
/// refuses a second PurgeQueue within 60 s, so every test gets a fresh queue instead.
pub fn unique_queue_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{nanos:x}-{sequence}", std::process::id())
}

fn test_credentials() -> StaticCredentials {
    StaticCredentials {
        access_key_id: TEST_ACCESS_KEY_ID.to_owned(),
        secret_access_key: TEST_SECRET_ACCESS_KEY.to_owned(),
    }
}

fn find_moto_server() -> Option<PathBuf> {
    if let Some(configured) = std::env::var_os("MOTO_SERVER").filter(|value| !value.is_empty()) {
        return Some(PathBuf::from(configured));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|directory| directory.join("moto_server"))
        .find(|candidate| candidate.is_file())
}

/// A loopback port nothing listens on right now.
pub fn free_loopback_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("finding a free loopback port: {error}"))
}

/// Waits until the server answers an HTTP request, or fails if it exits or takes too long.
fn wait_until_answering(child: &mut Child, port: u16) -> Result<(), String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    while started.elapsed() < STARTUP_TIMEOUT {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status} (port {port})"));
        }
        if answers_http(address) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "no answer on port {port} within {STARTUP_TIMEOUT:?}"
    ))
}

fn answers_http(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status_line = [0_u8; 5];
    stream.read_exact(&mut status_line).is_ok() && &status_line == b"HTTP/"
}
