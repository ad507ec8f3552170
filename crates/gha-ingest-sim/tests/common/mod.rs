//! Helpers shared by the integration tests: start a simulator on loopback, talk to it with a
//! client that does not follow redirects, read `Link` headers.
#![allow(dead_code)]

use std::net::SocketAddr;

use gha_ingest_sim::{RunningSim, SimConfig, SimHandle, Simulator};
use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use serde_json::Value;

pub struct TestSim {
    pub sim: RunningSim,
    pub handle: SimHandle,
    pub client: Client,
    pub api: String,
}

pub async fn start() -> TestSim {
    start_with(SimConfig::default()).await
}

pub async fn start_with(config: SimConfig) -> TestSim {
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
    let sim = Simulator::start(config, loopback, loopback)
        .await
        .expect("simulator starts");
    let client = Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("http client");
    TestSim {
        handle: sim.handle(),
        api: sim.api_url(),
        sim,
        client,
    }
}

impl TestSim {
    /// GET `path_and_query` on the API origin.
    pub async fn get(&self, path_and_query: &str) -> Response {
        self.client
            .get(format!("{}{path_and_query}", self.api))
            .send()
            .await
            .expect("request reaches the simulator")
    }

    /// GET and decode JSON, asserting 200.
    pub async fn get_json(&self, path_and_query: &str) -> Value {
        let response = self.get(path_and_query).await;
        assert_eq!(response.status(), 200, "GET {path_and_query}");
        response.json().await.expect("JSON body")
    }
}

/// The URL of a `Link` relation, e.g. `link(&headers, "next")`.
pub fn link(headers: &HeaderMap, rel: &str) -> Option<String> {
    let header = headers.get("link")?.to_str().ok()?;
    header.split(", ").find_map(|part| {
        let (url, relation) = part.split_once("; ")?;
        (relation == format!("rel=\"{rel}\""))
            .then(|| url.trim_matches(|c| c == '<' || c == '>').to_string())
    })
}

pub fn run_ids(page: &Value) -> Vec<u64> {
    page["workflow_runs"]
        .as_array()
        .expect("workflow_runs array")
        .iter()
        .map(|run| run["id"].as_u64().expect("run id"))
        .collect()
}

pub fn job_ids(page: &Value) -> Vec<u64> {
    page["jobs"]
        .as_array()
        .expect("jobs array")
        .iter()
        .map(|job| job["id"].as_u64().expect("job id"))
        .collect()
}
