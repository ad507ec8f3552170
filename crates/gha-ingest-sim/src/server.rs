//! Starting and stopping the simulator: binds the API origin and the log origin, serves both
//! until `RunningSim::shutdown` (or until the `RunningSim` is dropped).

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin;
use crate::config::ClockMode;
use crate::config::SimConfig;
use crate::handle::SimHandle;
use crate::routes::{api, log_host};
use crate::state::Shared;
use crate::webhooks;

/// How long `shutdown` lets in-flight responses (a long log stream) finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Entry point: `Simulator::start(config, api_addr, log_addr)`.
#[derive(Debug)]
pub struct Simulator;

/// A simulator serving on its two origins. Dropping it stops both servers.
pub struct RunningSim {
    handle: SimHandle,
    api_addr: SocketAddr,
    log_addr: SocketAddr,
    shutdown_signal: watch::Sender<bool>,
    server_tasks: Vec<JoinHandle<()>>,
    /// Webhook delivery lanes and the real-time clock's looks: stopped, not drained, at
    /// shutdown (a delivery still queued then is never sent, as from a GitHub outage).
    background_tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for RunningSim {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("RunningSim")
            .field("api_addr", &self.api_addr)
            .field("log_addr", &self.log_addr)
            .finish_non_exhaustive()
    }
}

/// The origin clients should use for a bound address: an unspecified bind address (0.0.0.0)
/// is reached through loopback.
fn origin_of(bound: SocketAddr) -> String {
    let reachable = if bound.ip().is_unspecified() {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bound.port())
    } else {
        bound
    };
    format!("http://{reachable}")
}

impl Simulator {
    /// Binds both origins (port 0 picks a free port) and starts serving.
    pub async fn start(
        config: SimConfig,
        api_addr: SocketAddr,
        log_addr: SocketAddr,
    ) -> io::Result<RunningSim> {
        let api_listener = TcpListener::bind(api_addr).await?;
        let log_listener = TcpListener::bind(log_addr).await?;
        let api_addr = api_listener.local_addr()?;
        let log_addr = log_listener.local_addr()?;
        let shared = Arc::new(Shared::new(
            config,
            origin_of(api_addr),
            origin_of(log_addr),
        ));

        let api_app = Router::new()
            .nest("/_sim", admin::router())
            .fallback(api::serve_api)
            .with_state(Arc::clone(&shared));
        let log_app = Router::new()
            .route("/logs/{token}", get(log_host::serve_log))
            .fallback(log_host::serve_unknown)
            .with_state(Arc::clone(&shared));

        let (shutdown_signal, shutdown_receiver) = watch::channel(false);
        let server_tasks = vec![
            spawn_server("api", api_listener, api_app, shutdown_receiver.clone()),
            spawn_server("log", log_listener, log_app, shutdown_receiver),
        ];
        let mut background_tasks = webhooks::deliver::spawn(&shared);
        if matches!(shared.config.clock, ClockMode::RealTime { .. }) {
            background_tasks.push(webhooks::spawn_real_time_looks(&shared));
        }
        tracing::info!(api = %api_addr, logs = %log_addr, "github simulator listening");
        Ok(RunningSim {
            handle: SimHandle::new(shared),
            api_addr,
            log_addr,
            shutdown_signal,
            server_tasks,
            background_tasks,
        })
    }
}

fn spawn_server(
    name: &'static str,
    listener: TcpListener,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    // Answers are small and written at once; Nagle would only add latency.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::trace!(cause = %error, "failed to set TCP_NODELAY");
        }
    });
    tokio::spawn(async move {
        let stopped = async move {
            // Err means every sender is gone: stop as well.
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(server = name, cause = %error, "simulator server failed");
        }
    })
}

impl RunningSim {
    /// The API origin, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn api_url(&self) -> String {
        self.handle.api_url()
    }

    /// The log origin, e.g. `http://127.0.0.1:40124`.
    pub fn log_url(&self) -> String {
        self.handle.log_url()
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    pub fn log_addr(&self) -> SocketAddr {
        self.log_addr
    }

    /// A handle to drive the simulator (cheap to clone, usable after `shutdown` too).
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops accepting, lets in-flight responses finish for a few seconds, then stops.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_signal.send(true);
        for task in std::mem::take(&mut self.background_tasks) {
            task.abort();
        }
        for task in std::mem::take(&mut self.server_tasks) {
            let abort_handle = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort_handle.abort();
            }
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        let _ = self.shutdown_signal.send(true);
        for task in self.server_tasks.iter().chain(&self.background_tasks) {
            task.abort();
        }
    }
}
