//! Helpers shared by the integration tests: start a simulator on loopback, talk to it with a
//! client that does not follow redirects, read `Link` headers, sign GitHub App JWTs and mint
//! installation tokens as a client would, and receive its webhooks (`receiver`).
#![allow(dead_code)]

pub mod receiver;

use std::net::SocketAddr;

use gha_ingest_sim::{AppKeyPair, RunningSim, SimConfig, SimHandle, Simulator};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use serde_json::{json, Value};

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
    // The workspace builds reqwest without a crypto provider of its own (aws-lc-rs for all).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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

/// A simulator with `config`, App `app_id` registered, and the key pair it signs with.
pub async fn start_with_app(config: SimConfig, app_id: u64) -> (TestSim, AppKeyPair) {
    let test = start_with(config).await;
    let keys = AppKeyPair::generate();
    test.handle.add_app(app_id, &keys.public_pem);
    (test, keys)
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

    /// GET `path_and_query` with `Authorization: Bearer <token>`.
    pub async fn get_as(&self, token: &str, path_and_query: &str) -> Response {
        self.client
            .get(format!("{}{path_and_query}", self.api))
            .bearer_auth(token)
            .send()
            .await
            .expect("request reaches the simulator")
    }

    /// POST `path` with `Authorization: Bearer <token>` and no body.
    pub async fn post_as(&self, token: &str, path: &str) -> Response {
        self.client
            .post(format!("{}{path}", self.api))
            .bearer_auth(token)
            .send()
            .await
            .expect("request reaches the simulator")
    }

    /// A JWT for `app_id`, valid for the next 9 minutes of simulated time, as GitHub advises
    /// (`iat` 60 s in the past).
    pub fn app_jwt(&self, private_pem: &str, app_id: u64) -> String {
        let now = self.handle.now().timestamp();
        sign_jwt(
            private_pem,
            json!({"iss": app_id, "iat": now - 60, "exp": now + 540}),
        )
    }

    /// Mints an installation token with a fresh JWT, asserting 201.
    pub async fn installation_token(
        &self,
        private_pem: &str,
        app_id: u64,
        installation_id: u64,
    ) -> String {
        let jwt = self.app_jwt(private_pem, app_id);
        let tokens_url = format!(
            "{}/app/installations/{installation_id}/access_tokens",
            self.api
        );
        let minted = self.mint_at(&tokens_url, &jwt).await;
        minted["token"].as_str().expect("token").to_string()
    }

    /// POSTs to an installation's `access_tokens_url` (as GitHub lists it) with `jwt`, asserting
    /// 201; the answer.
    pub async fn mint_at(&self, tokens_url: &str, jwt: &str) -> Value {
        let response = self
            .client
            .post(tokens_url)
            .bearer_auth(jwt)
            .send()
            .await
            .expect("request reaches the simulator");
        assert_eq!(response.status(), 201, "minting a token at {tokens_url}");
        response.json().await.expect("JSON body")
    }

    /// GET and decode JSON, asserting 200.
    pub async fn get_json(&self, path_and_query: &str) -> Value {
        let response = self.get(path_and_query).await;
        assert_eq!(response.status(), 200, "GET {path_and_query}");
        response.json().await.expect("JSON body")
    }
}

/// An RS256 JWT with `claims`, signed with a PKCS#8 or PKCS#1 private key PEM.
pub fn sign_jwt(private_pem: &str, claims: Value) -> String {
    let key = EncodingKey::from_rsa_pem(private_pem.as_bytes()).expect("RSA private key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).expect("JWT signs")
}

/// A header value as text.
pub fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("answer has {name}"))
        .to_str()
        .expect("ascii header")
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
