//! `gha-ingest healthcheck`: asks a running daemon's `/healthz` and exits 0 when it answers 200.
//!
//! Container images built on a minimal base have no curl or wget, so the binary itself is the
//! Docker `HEALTHCHECK` command. Without `--url`, the address comes from the same configuration
//! the daemon reads (`http.listen`; an unspecified address such as `0.0.0.0` means loopback).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// How long the probe waits for an answer: under Docker's default health-check timeout (30 s).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(url: Option<String>, config: Option<&Path>) -> ExitCode {
    let url = match url {
        Some(url) => url,
        None => match gha_ingest_config::load_from_process_env(config) {
            Ok(settings) => healthz_url(settings.http.listen),
            Err(error) => {
                eprintln!("unhealthy: invalid configuration: {error}");
                return ExitCode::from(1);
            }
        },
    };
    let client = match reqwest::Client::builder().timeout(PROBE_TIMEOUT).build() {
        Ok(client) => client,
        Err(error) => {
            eprintln!("unhealthy: cannot build an HTTP client: {error}");
            return ExitCode::from(1);
        }
    };
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("unhealthy: {url} answered {}", response.status());
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("unhealthy: {url}: {error}");
            ExitCode::from(1)
        }
    }
}

/// The `/healthz` URL of a server listening on `listen`.
fn healthz_url(listen: SocketAddr) -> String {
    local_url(listen, "/healthz")
}

/// The URL of `path` on a server listening on `listen`, as a process on the same host reaches
/// it: an unspecified address (`0.0.0.0`, `[::]`) is reached on loopback.
pub(crate) fn local_url(listen: SocketAddr, path: &str) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}{path}", SocketAddr::new(ip, listen.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_probed_on_loopback() {
        assert_eq!(
            healthz_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080/healthz"
        );
        assert_eq!(
            healthz_url("[::]:9000".parse().unwrap()),
            "http://[::1]:9000/healthz"
        );
        assert_eq!(
            healthz_url("10.1.2.3:8080".parse().unwrap()),
            "http://10.1.2.3:8080/healthz"
        );
    }
}
