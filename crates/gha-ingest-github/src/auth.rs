//! Credentials: a personal access token, or a GitHub App's installation tokens.
//!
//! An App authenticates as itself with a JWT it signs (RS256, with the private key GitHub gave
//! it; `iat` 60 s in the past for clock drift, `exp` at most 10 minutes ahead), and with that JWT
//! lists its installations and mints, per installation, a token that expires after an hour. Each
//! installation token is the credential of one budget. It is minted when first needed, minted
//! again ahead of its expiry (a quarter of its life, at most 10 minutes, before it), and once more
//! when GitHub answers 401 anyway (revoked early, or a clock far off): a request never fails for a
//! token the daemon could have renewed.
//!
//! Expiry is measured on GitHub's clock: `expires_at` minus the answer's own `Date`, counted
//! down on the local monotonic clock. The private key and every token live in `SecretString`s or
//! in `jsonwebtoken`'s key type, never in `Debug` output, errors or logs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{ACCEPT, AUTHORIZATION, DATE};
use http::{HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::GithubError;

/// How long a JWT is valid: GitHub refuses more than 10 minutes.
const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60);
/// How far in the past a JWT says it was issued, for clocks that drift.
const JWT_BACKDATE: Duration = Duration::from_secs(60);
/// The most an installation token is renewed ahead of its expiry.
const MAX_RENEW_AHEAD: Duration = Duration::from_secs(10 * 60);

/// What a request authenticates with.
#[derive(Debug)]
pub enum Credential {
    /// No `Authorization` header (the simulator, or public data at 60 requests an hour).
    Anonymous,
    /// A personal access token (classic or fine-grained) or any other bearer token.
    Token(SecretString),
    /// A GitHub App installation's token, minted and renewed as needed.
    Installation(Arc<InstallationToken>),
}

impl Credential {
    /// The `Authorization` header for the next request, and which token it holds (to name it
    /// if GitHub refuses it).
    pub(crate) async fn authorization(
        &self,
        transport: &Octocrab,
    ) -> Result<(Option<HeaderValue>, u64), GithubError> {
        let (token, generation) = match self {
            Credential::Anonymous => return Ok((None, 0)),
            Credential::Token(token) => (token.expose_secret().to_string(), 0),
            Credential::Installation(installation) => installation.token(transport).await?,
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            GithubError::Credential {
                credential: self.label(),
                detail: "the token holds characters a header cannot carry".to_string(),
            }
        })?;
        value.set_sensitive(true);
        Ok((Some(value), generation))
    }

    /// After a 401 to the token of `generation`: whether a new token is worth one more try
    /// (installation tokens only). Requests refused together renew it once.
    pub(crate) fn renew_after_refusal(&self, generation: u64) -> bool {
        match self {
            Credential::Installation(installation) => {
                installation.forget(generation);
                true
            }
            Credential::Anonymous | Credential::Token(_) => false,
        }
    }

    /// Names the credential in metrics, logs and errors; never holds a secret.
    pub fn label(&self) -> String {
        match self {
            Credential::Anonymous => "anonymous".to_string(),
            Credential::Token(_) => "token".to_string(),
            Credential::Installation(installation) => {
                format!("installation:{}", installation.installation_id)
            }
        }
    }
}

/// A GitHub App: its id and private key, to sign JWTs with.
pub struct GithubApp {
    app_id: u64,
    key: EncodingKey,
    /// GitHub's clock minus ours, in seconds, as the last answer's `Date` said: JWTs are dated
    /// on GitHub's clock, so a host whose clock drifts more than the minute of slack still signs
    /// JWTs GitHub accepts.
    clock_offset_secs: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubApp")
            .field("app_id", &self.app_id)
            .field("key", &"[redacted]")
            .field("clock_offset_secs", &self.clock_offset_secs)
            .finish()
    }
}

/// One installation of the App, as `GET /app/installations` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Installation {
    pub id: u64,
    pub account: Option<InstallationAccount>,
    pub suspended_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstallationAccount {
    pub login: String,
}

impl Installation {
    /// The account (organisation or user) the App is installed on, or `?`.
    pub fn account_login(&self) -> &str {
        self.account
            .as_ref()
            .map_or("?", |account| account.login.as_str())
    }
}

/// What an App-authenticated request answered: GitHub's `Date`, the `Link` header, the body.
#[derive(Debug)]
pub(crate) struct AppAnswer {
    pub date: Option<DateTime<Utc>>,
    pub link: Option<String>,
    pub body: Bytes,
}

#[derive(Deserialize)]
struct MintedToken {
    token: String,
    expires_at: DateTime<Utc>,
}

#[derive(serde::Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

impl GithubApp {
    /// The App with id `app_id` and its private key as GitHub hands it out (PKCS#1 `RSA PRIVATE
    /// KEY` PEM; PKCS#8 `PRIVATE KEY` works too).
    pub fn new(app_id: u64, private_key_pem: &SecretString) -> Result<Self, GithubError> {
        let key = EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes()).map_err(
            |error| GithubError::Credential {
                credential: format!("app:{app_id}"),
                detail: format!("the private key is not an RSA key in PEM: {error}"),
            },
        )?;
        Ok(GithubApp {
            app_id,
            key,
            clock_offset_secs: std::sync::atomic::AtomicI64::new(0),
        })
    }

    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    fn label(&self) -> String {
        format!("app:{}", self.app_id)
    }

    /// Now on GitHub's clock, as far as the last answer's `Date` tells.
    pub(crate) fn github_now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.clock_offset_secs.load(Ordering::Relaxed))
    }

    /// A fresh JWT for the App's own endpoints.
    fn jwt(&self) -> Result<String, GithubError> {
        let now = self.github_now().timestamp();
        let claims = Claims {
            iat: now - JWT_BACKDATE.as_secs() as i64,
            exp: now + JWT_LIFETIME.as_secs() as i64,
            iss: self.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key).map_err(|error| {
            GithubError::Credential {
                credential: self.label(),
                detail: format!("cannot sign the App's JWT: {error}"),
            }
        })
    }

    /// Every installation of the App, every page.
    pub async fn installations(
        &self,
        transport: &Octocrab,
    ) -> Result<Vec<Installation>, GithubError> {
        let mut installations = Vec::new();
        for page in 1.. {
            let path = format!("/app/installations?per_page=100&page={page}");
            let answer = self.call(transport, Method::GET, &path).await?;
            let listed: Vec<Installation> =
                serde_json::from_slice(&answer.body).map_err(|error| GithubError::Malformed {
                    path: path.clone(),
                    detail: error.to_string(),
                })?;
            let last = listed.len() < 100;
            installations.extend(listed);
            if last {
                break;
            }
        }
        Ok(installations)
    }

    /// Mints a token for one installation: the token, and how long it lives on GitHub's clock.
    async fn mint(
        &self,
        transport: &Octocrab,
        installation_id: u64,
    ) -> Result<(SecretString, Duration), GithubError> {
        let path = format!("/app/installations/{installation_id}/access_tokens");
        let AppAnswer { date, body, .. } = self.call(transport, Method::POST, &path).await?;
        let minted: MintedToken =
            serde_json::from_slice(&body).map_err(|error| GithubError::Malformed {
                path: path.clone(),
                detail: error.to_string(),
            })?;
        let github_now = date.unwrap_or_else(Utc::now);
        let lifetime = (minted.expires_at - github_now)
            .to_std()
            .unwrap_or(Duration::ZERO);
        Ok((SecretString::from(minted.token), lifetime))
    }

    /// One request authenticated as the App: the answer, or a classified error. A JWT refused
    /// while our clock was found off GitHub's by more than the slack is signed again on GitHub's
    /// clock and sent once more.
    pub(crate) async fn call(
        &self,
        transport: &Octocrab,
        method: Method,
        path: &str,
    ) -> Result<AppAnswer, GithubError> {
        let offset_before = self.clock_offset_secs.load(Ordering::Relaxed);
        match self.call_once(transport, method.clone(), path).await {
            Err(GithubError::Credential { .. })
                if (self.clock_offset_secs.load(Ordering::Relaxed) - offset_before).abs()
                    > JWT_BACKDATE.as_secs() as i64 / 2 =>
            {
                tracing::warn!(
                    app_id = self.app_id,
                    offset_secs = self.clock_offset_secs.load(Ordering::Relaxed),
                    "this host's clock is off GitHub's; signing the App's JWT on GitHub's clock"
                );
                self.call_once(transport, method, path).await
            }
            outcome => outcome,
        }
    }

    async fn call_once(
        &self,
        transport: &Octocrab,
        method: Method,
        path: &str,
    ) -> Result<AppAnswer, GithubError> {
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", self.jwt()?)).expect("a JWT is ASCII");
        authorization.set_sensitive(true);
        let request = http::Request::builder()
            .method(method.clone())
            .uri(path)
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, "application/vnd.github+json");
        let failed = |detail: String| GithubError::RetriesExhausted {
            path: path.to_string(),
            attempts: 1,
            last_error: detail,
        };
        let request = match method {
            Method::POST => transport.build_request(request, Some(&serde_json::json!({}))),
            _ => transport.build_request(request, None::<&()>),
        }
        .map_err(|error| failed(error.to_string()))?;
        let response = transport
            .execute(request)
            .await
            .map_err(|error| failed(crate::client::describe_octocrab_error(&error)))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|error| failed(crate::client::describe_octocrab_error(&error)))?
            .to_bytes();
        let date = parts
            .headers
            .get(DATE)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| DateTime::parse_from_rfc2822(text).ok())
            .map(|date| date.with_timezone(&Utc));
        if let Some(date) = date {
            self.clock_offset_secs
                .store(date.timestamp() - Utc::now().timestamp(), Ordering::Relaxed);
        }
        if parts.status.is_success() {
            let link = parts
                .headers
                .get(http::header::LINK)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            return Ok(AppAnswer { date, link, body });
        }
        let message = crate::retry::github_message(&body);
        let credential = self.label();
        Err(match parts.status {
            StatusCode::UNAUTHORIZED => GithubError::Credential {
                credential,
                detail: format!(
                    "GitHub refused the App's JWT ({message}): check the App id and that the private key is this App's"
                ),
            },
            StatusCode::FORBIDDEN => GithubError::Credential {
                credential,
                detail: format!("{path}: forbidden ({message}): is the installation suspended?"),
            },
            StatusCode::NOT_FOUND => GithubError::Credential {
                credential,
                detail: format!("{path}: not found: was the App uninstalled there?"),
            },
            status if status.is_server_error() => failed(format!("status {status}: {message}")),
            status => GithubError::Status {
                path: path.to_string(),
                status: status.as_u16(),
                message,
            },
        })
    }
}

/// The token of one installation, minted from the App when needed.
#[derive(Debug)]
pub struct InstallationToken {
    app: Arc<GithubApp>,
    installation_id: u64,
    cached: tokio::sync::Mutex<Option<CachedToken>>,
    /// The generation (mint count) of the token GitHub last refused: while it is the cached
    /// one, the next request mints a new token whatever its expiry says.
    refused: AtomicU64,
    minted: AtomicU64,
}

#[derive(Debug)]
struct CachedToken {
    token: SecretString,
    /// When to mint the next one: ahead of the expiry, on the local clock.
    renew_at: Instant,
}

impl InstallationToken {
    pub fn new(app: Arc<GithubApp>, installation_id: u64) -> Self {
        InstallationToken {
            app,
            installation_id,
            cached: tokio::sync::Mutex::new(None),
            refused: AtomicU64::new(0),
            minted: AtomicU64::new(0),
        }
    }

    pub fn installation_id(&self) -> u64 {
        self.installation_id
    }

    /// Tokens minted so far: the first, then one per renewal.
    pub fn minted(&self) -> u64 {
        self.minted.load(Ordering::Relaxed)
    }

    async fn token(&self, transport: &Octocrab) -> Result<(String, u64), GithubError> {
        let mut cached = self.cached.lock().await;
        let generation = self.minted.load(Ordering::Acquire);
        let refused = self.refused.load(Ordering::Acquire) == generation;
        if let Some(token) = cached
            .as_ref()
            .filter(|token| !refused && Instant::now() < token.renew_at)
        {
            return Ok((token.token.expose_secret().to_string(), generation));
        }
        let (token, lifetime) = self
            .app
            .mint(transport, self.installation_id)
            .await
            .map_err(|error| match error {
                GithubError::Credential { detail, .. } => GithubError::Credential {
                    credential: format!("installation:{}", self.installation_id),
                    detail,
                },
                other => other,
            })?;
        let generation = self.minted.fetch_add(1, Ordering::AcqRel) + 1;
        let ahead = (lifetime / 4).min(MAX_RENEW_AHEAD);
        tracing::info!(
            installation = self.installation_id,
            lifetime_secs = lifetime.as_secs(),
            "minted an installation token"
        );
        let text = token.expose_secret().to_string();
        *cached = Some(CachedToken {
            token,
            renew_at: Instant::now() + lifetime.saturating_sub(ahead),
        });
        Ok((text, generation))
    }

    /// Marks the token of `generation` refused: unless a newer one was minted meanwhile, the
    /// next request mints one.
    fn forget(&self, generation: u64) {
        self.refused.store(generation, Ordering::Release);
    }
}
