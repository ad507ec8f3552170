//! Which credential reads which repository: one token for everything, or a GitHub App whose
//! installations each read their own repositories on their own budget.
//!
//! With an App nothing lists repositories by hand: [`GithubAccess::discover`] lists the App's
//! installations (with its JWT) and each installation's repositories (with that installation's
//! token), and routes every repository to its installation's client. An installation that fails
//! (suspended, removed, its token refused) is reported with its own error and keeps the routes it
//! had, so its repositories wait while every other installation keeps flowing; an App key GitHub
//! refuses fails discovery as a whole, with an error that says so.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use gha_ingest_core::RepoName;

use crate::auth::{Credential, GithubApp, InstallationToken};
use crate::client::GithubClient;
use crate::endpoints::followable_repositories;
use crate::error::GithubError;
use crate::hooks::AppHooks;
use crate::metrics::GithubMetrics;

/// The credentials of the process and the repository → credential routes.
#[derive(Debug, Clone)]
pub struct GithubAccess {
    mode: Arc<Mode>,
}

#[derive(Debug)]
enum Mode {
    /// A token (or anonymous access): one client, one budget, for every repository.
    Token(GithubClient),
    App(AppAccess),
}

#[derive(Debug)]
struct AppAccess {
    app: Arc<GithubApp>,
    /// The transport and settings every installation's client is made from.
    template: GithubClient,
    /// Installations to follow; empty: all of them.
    only: Vec<u64>,
    installations: RwLock<BTreeMap<u64, InstallationEntry>>,
    /// Lower-cased `owner/name` → installation id.
    routes: RwLock<HashMap<String, u64>>,
}

#[derive(Debug, Clone)]
struct InstallationEntry {
    account: String,
    client: GithubClient,
    token: Arc<InstallationToken>,
    repositories: usize,
    error: Option<String>,
}

/// One installation as the dashboard shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstallationStatus {
    pub id: u64,
    pub account: String,
    pub credential: String,
    pub repositories: usize,
    pub tokens_minted: u64,
    /// Why the last discovery could not read this installation.
    pub error: Option<String>,
}

/// A repository a discovery found, and the credential that reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredRepo {
    pub repo: RepoName,
    /// `installation:42`.
    pub credential: String,
}

impl GithubAccess {
    /// Every repository read with `client`'s credential.
    pub fn token(client: GithubClient) -> Self {
        GithubAccess {
            mode: Arc::new(Mode::Token(client)),
        }
    }

    /// Repositories read through `app`'s installations (all, or those in `only`), on clients made
    /// from `template`'s transport and settings.
    pub fn app(app: GithubApp, template: GithubClient, only: Vec<u64>) -> Self {
        GithubAccess {
            mode: Arc::new(Mode::App(AppAccess {
                app: Arc::new(app),
                template,
                only,
                installations: RwLock::new(BTreeMap::new()),
                routes: RwLock::new(HashMap::new()),
            })),
        }
    }

    pub fn is_app(&self) -> bool {
        matches!(*self.mode, Mode::App(_))
    }

    /// The App's webhook deliveries; `None` with a token (an organisation webhook's deliveries
    /// need an owner's `admin:org_hook`, which a read-only daemon does not hold).
    pub fn app_hooks(&self) -> Option<AppHooks> {
        match &*self.mode {
            Mode::Token(_) => None,
            Mode::App(app) => Some(AppHooks::new(app.app.clone(), app.template.clone())),
        }
    }

    /// The client that reads `repo`; `None` when no installation of the App can see it.
    pub fn client_for(&self, repo: &RepoName) -> Option<GithubClient> {
        match &*self.mode {
            Mode::Token(client) => Some(client.clone()),
            Mode::App(app) => {
                let key = repo.to_string().to_ascii_lowercase();
                let id = *app.routes.read().expect("routes lock poisoned").get(&key)?;
                app.installations
                    .read()
                    .expect("installations lock poisoned")
                    .get(&id)
                    .map(|entry| entry.client.clone())
            }
        }
    }

    /// One client per credential: for metrics and the dashboard's budget view.
    pub fn clients(&self) -> Vec<GithubClient> {
        match &*self.mode {
            Mode::Token(client) => vec![client.clone()],
            Mode::App(app) => app
                .installations
                .read()
                .expect("installations lock poisoned")
                .values()
                .map(|entry| entry.client.clone())
                .collect(),
        }
    }

    /// The metric families every client of the process shares.
    pub fn metrics(&self) -> &GithubMetrics {
        match &*self.mode {
            Mode::Token(client) => client.metrics(),
            Mode::App(app) => app.template.metrics(),
        }
    }

    /// Brings every credential's budget gauges up to date (at scrape).
    pub fn refresh_metrics(&self) {
        for client in self.clients() {
            client.refresh_metrics();
        }
    }

    /// A client for requests that belong to no repository (`/rate_limit`, an organisation's
    /// repository list): the token's, or the first installation's.
    pub fn any_client(&self) -> Option<GithubClient> {
        self.clients().into_iter().next()
    }

    /// The App's installations as last discovered (empty for a token).
    pub fn installations(&self) -> Vec<InstallationStatus> {
        let Mode::App(app) = &*self.mode else {
            return Vec::new();
        };
        app.installations
            .read()
            .expect("installations lock poisoned")
            .iter()
            .map(|(&id, entry)| InstallationStatus {
                id,
                account: entry.account.clone(),
                credential: entry.client.credential_label(),
                repositories: entry.repositories,
                tokens_minted: entry.token.minted(),
                error: entry.error.clone(),
            })
            .collect()
    }

    /// With an App: lists its installations and their repositories, and routes each repository
    /// to its installation. Errors of one installation are kept in its status and logged; the
    /// others' repositories are returned. With a token there is nothing to discover.
    pub async fn discover(&self) -> Result<Vec<DiscoveredRepo>, GithubError> {
        let Mode::App(app) = &*self.mode else {
            return Ok(Vec::new());
        };
        let listed = app.app.installations(app.template.transport()).await?;
        let mut found = Vec::new();
        for installation in listed
            .into_iter()
            .filter(|installation| app.only.is_empty() || app.only.contains(&installation.id))
        {
            let entry = app.entry(installation.id, installation.account_login());
            let outcome = match &installation.suspended_at {
                Some(_) => Err(GithubError::Credential {
                    credential: entry.client.credential_label(),
                    detail: "the installation is suspended".to_string(),
                }),
                None => entry.client.list_installation_repos().await,
            };
            match outcome {
                Ok(repositories) => {
                    let repos =
                        followable_repositories(&repositories, &entry.client.credential_label());
                    app.route(installation.id, &repos);
                    found.extend(repos.into_iter().map(|repo| DiscoveredRepo {
                        repo,
                        credential: entry.client.credential_label(),
                    }));
                }
                Err(error) => {
                    tracing::error!(installation = installation.id, account = %entry.account, cause = %error,
                        "cannot list the installation's repositories; its repositories wait, the others go on");
                    app.set_error(installation.id, error.to_string());
                }
            }
        }
        Ok(found)
    }
}

impl AppAccess {
    /// The installation's entry, made (with its token and client) on first sight.
    fn entry(&self, id: u64, account: &str) -> InstallationEntry {
        let mut installations = self
            .installations
            .write()
            .expect("installations lock poisoned");
        installations
            .entry(id)
            .or_insert_with(|| {
                let token = Arc::new(InstallationToken::new(self.app.clone(), id));
                InstallationEntry {
                    account: account.to_string(),
                    client: self
                        .template
                        .for_credential(Credential::Installation(token.clone())),
                    token,
                    repositories: 0,
                    error: None,
                }
            })
            .clone()
    }

    /// Routes `repos` to installation `id` (and no other repository to it any more); the
    /// installation is readable again.
    fn route(&self, id: u64, repos: &[RepoName]) {
        let mut routes = self.routes.write().expect("routes lock poisoned");
        routes.retain(|_, installation| *installation != id);
        for repo in repos {
            routes.insert(repo.to_string().to_ascii_lowercase(), id);
        }
        drop(routes);
        if let Some(entry) = self
            .installations
            .write()
            .expect("installations lock poisoned")
            .get_mut(&id)
        {
            entry.repositories = repos.len();
            entry.error = None;
        }
    }

    fn set_error(&self, id: u64, error: String) {
        if let Some(entry) = self
            .installations
            .write()
            .expect("installations lock poisoned")
            .get_mut(&id)
        {
            entry.error = Some(error);
        }
    }
}
