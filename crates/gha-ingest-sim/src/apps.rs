//! GitHub Apps, their installations and the installation tokens minted for them: the state
//! behind `/app…`, `/installation/repositories` and installation-token authentication.
//!
//! An installation names its repositories as `owner/name` and resolves them against the world at
//! request time, so it may be created before its repositories are. Every lookup a request makes
//! is a map or set lookup (token → installation, installation → repositories, repository →
//! membership), so thousands of repositories across many installations cost nothing per request.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use jsonwebtoken::DecodingKey;
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::clock::Millis;
use crate::jwt::{self, JwtError};
use crate::spec::SimError;

/// The first installation id handed out; later ones leave gaps, as GitHub's do.
const FIRST_INSTALLATION_ID: u64 = 52_380_411;
/// Above this many issued tokens, minting first forgets the expired ones (an expired token
/// answers 401 whether it is remembered or not).
const TOKENS_KEPT_BEFORE_PRUNING: usize = 4_096;

/// A registered App.
pub(crate) struct App {
    pub id: u64,
    pub slug: String,
    pub client_id: String,
    pub created_ms: Millis,
    key: DecodingKey,
}

impl fmt::Debug for App {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("App")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

/// One installation of an App on an account.
#[derive(Debug)]
pub(crate) struct Installation {
    pub id: u64,
    pub app_id: u64,
    pub account_login: String,
    pub account_id: u64,
    /// Lower-case `owner/name` of the selected repositories, in name order (the listing order).
    repos: BTreeSet<String>,
    pub created_ms: Millis,
    pub suspended_ms: Option<Millis>,
}

impl Installation {
    /// Whether `full_name` (any case) is one of its repositories.
    pub(crate) fn includes(&self, full_name: &str) -> bool {
        self.repos.contains(&full_name.to_lowercase())
    }

    /// Its repositories' lower-case full names, in listing order.
    pub(crate) fn repo_names(&self) -> impl Iterator<Item = &str> {
        self.repos.iter().map(String::as_str)
    }
}

#[derive(Debug, Clone, Copy)]
struct IssuedToken {
    installation_id: u64,
    expires_ms: Millis,
}

/// What a presented installation token is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenState {
    Valid {
        installation_id: u64,
    },
    Expired,
    /// Its installation was suspended.
    Revoked,
    Unknown,
}

/// Why a token could not be minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MintRefusal {
    /// No such installation for this App: 404.
    NotFound,
    /// 403 "This installation has been suspended".
    Suspended,
}

/// A freshly minted installation token.
#[derive(Debug, Clone)]
pub(crate) struct MintedToken {
    pub token: String,
    pub expires_ms: Millis,
}

#[derive(Debug)]
pub(crate) struct AppRegistry {
    apps: HashMap<u64, App>,
    app_by_client_id: HashMap<String, u64>,
    installations: BTreeMap<u64, Installation>,
    tokens: HashMap<String, IssuedToken>,
    next_installation_id: u64,
}

impl Default for AppRegistry {
    fn default() -> Self {
        Self {
            apps: HashMap::new(),
            app_by_client_id: HashMap::new(),
            installations: BTreeMap::new(),
            tokens: HashMap::new(),
            next_installation_id: FIRST_INSTALLATION_ID,
        }
    }
}

/// Accepts an SPKI `PUBLIC KEY` or a PKCS#1 `RSA PUBLIC KEY` PEM, nothing else (in particular
/// not a private key, which `jsonwebtoken` would otherwise take and then never verify with).
fn parse_public_key(public_key_pem: &str) -> Result<DecodingKey, SimError> {
    let invalid = |reason: &str| SimError::InvalidAppKey(reason.to_string());
    let tag = public_key_pem
        .trim_start()
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.split_once("-----"))
        .map(|(tag, _)| tag);
    match tag {
        Some("PUBLIC KEY" | "RSA PUBLIC KEY") => {}
        Some(other) => return Err(invalid(&format!("a {other} PEM is not an RSA public key"))),
        None => return Err(invalid("not a PEM")),
    }
    DecodingKey::from_rsa_pem(public_key_pem.as_bytes())
        .map_err(|error| invalid(&format!("not an RSA public key: {error}")))
}

impl AppRegistry {
    /// Registers App `app_id`, or replaces its key (a key rotation).
    pub(crate) fn add_app(
        &mut self,
        app_id: u64,
        public_key_pem: &str,
        now_ms: Millis,
    ) -> Result<(), SimError> {
        let key = parse_public_key(public_key_pem)?;
        if let Some(app) = self.apps.get_mut(&app_id) {
            app.key = key;
            return Ok(());
        }
        let client_id = format!("Iv23li{app_id:014x}");
        self.app_by_client_id.insert(client_id.clone(), app_id);
        self.apps.insert(
            app_id,
            App {
                id: app_id,
                slug: format!("gha-ingest-sim-{app_id}"),
                client_id,
                created_ms: now_ms,
                key,
            },
        );
        Ok(())
    }

    pub(crate) fn app(&self, app_id: u64) -> Option<&App> {
        self.apps.get(&app_id)
    }

    /// Installs App `app_id` on `account_login` with `repos` (`owner/name`) selected.
    pub(crate) fn add_installation(
        &mut self,
        app_id: u64,
        account_login: &str,
        account_id: u64,
        repos: &[&str],
        now_ms: Millis,
    ) -> Result<u64, SimError> {
        if !self.apps.contains_key(&app_id) {
            return Err(SimError::UnknownApp(app_id));
        }
        let repos = repos
            .iter()
            .map(|repo| normalized_repo_name(repo))
            .collect::<Result<BTreeSet<_>, _>>()?;
        let installation_id = self.next_installation_id;
        // Gaps of 1 to 7, from the id itself: deterministic, and never contiguous for long.
        self.next_installation_id += 1 + installation_id % 7;
        self.installations.insert(
            installation_id,
            Installation {
                id: installation_id,
                app_id,
                account_login: account_login.to_string(),
                account_id,
                repos,
                created_ms: now_ms,
                suspended_ms: None,
            },
        );
        Ok(installation_id)
    }

    pub(crate) fn add_installation_repo(
        &mut self,
        installation_id: u64,
        repo: &str,
    ) -> Result<(), SimError> {
        let full_name = normalized_repo_name(repo)?;
        self.installation_mut(installation_id)?
            .repos
            .insert(full_name);
        Ok(())
    }

    /// Suspends an installation: no new tokens, and its existing tokens stop working.
    pub(crate) fn suspend(&mut self, installation_id: u64, now_ms: Millis) -> Result<(), SimError> {
        let installation = self.installation_mut(installation_id)?;
        installation.suspended_ms.get_or_insert(now_ms);
        Ok(())
    }

    fn installation_mut(&mut self, installation_id: u64) -> Result<&mut Installation, SimError> {
        self.installations
            .get_mut(&installation_id)
            .ok_or(SimError::UnknownInstallation(installation_id))
    }

    pub(crate) fn installation(&self, installation_id: u64) -> Option<&Installation> {
        self.installations.get(&installation_id)
    }

    /// The installation a repository's webhook deliveries name: the oldest one that selected
    /// it. A delivery is not a request, so this one scan over the installations is paid per
    /// state change, never per API call.
    pub(crate) fn installation_of_repo(&self, full_name: &str) -> Option<&Installation> {
        let key = full_name.to_lowercase();
        self.installations
            .values()
            .find(|installation| installation.repos.contains(&key))
    }

    /// The installations of one App, in id order.
    pub(crate) fn installations_of(&self, app_id: u64) -> Vec<&Installation> {
        self.installations
            .values()
            .filter(|installation| installation.app_id == app_id)
            .collect()
    }

    /// Every token issued so far expires now.
    pub(crate) fn expire_all_tokens(&mut self, now_ms: Millis) {
        for token in self.tokens.values_mut() {
            token.expires_ms = token.expires_ms.min(now_ms);
        }
    }

    /// Mints a token for `installation_id` on behalf of App `app_id`.
    pub(crate) fn mint_token(
        &mut self,
        app_id: u64,
        installation_id: u64,
        ttl_ms: Millis,
        now_ms: Millis,
    ) -> Result<MintedToken, MintRefusal> {
        let installation = self
            .installations
            .get(&installation_id)
            .filter(|installation| installation.app_id == app_id)
            .ok_or(MintRefusal::NotFound)?;
        if installation.suspended_ms.is_some() {
            return Err(MintRefusal::Suspended);
        }
        if self.tokens.len() >= TOKENS_KEPT_BEFORE_PRUNING {
            self.tokens.retain(|_, token| token.expires_ms > now_ms);
        }
        let suffix: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(36)
            .map(char::from)
            .collect();
        let token = format!("ghs_{suffix}");
        let expires_ms = now_ms.saturating_add(ttl_ms);
        self.tokens.insert(
            token.clone(),
            IssuedToken {
                installation_id,
                expires_ms,
            },
        );
        Ok(MintedToken { token, expires_ms })
    }

    pub(crate) fn token_state(&self, token: &str, now_ms: Millis) -> TokenState {
        let Some(issued) = self.tokens.get(token) else {
            return TokenState::Unknown;
        };
        let is_suspended = self
            .installations
            .get(&issued.installation_id)
            .is_none_or(|installation| installation.suspended_ms.is_some());
        if is_suspended {
            TokenState::Revoked
        } else if now_ms >= issued.expires_ms {
            TokenState::Expired
        } else {
            TokenState::Valid {
                installation_id: issued.installation_id,
            }
        }
    }

    /// Verifies an App JWT (see `jwt`), finding the App by id or client id.
    pub(crate) fn verify_jwt(&self, token: &str, now_ms: Millis) -> Result<u64, JwtError> {
        jwt::verify(token, now_ms, |issuer| {
            let app_id = match issuer.parse::<u64>() {
                Ok(app_id) => app_id,
                Err(_) => *self.app_by_client_id.get(issuer)?,
            };
            self.apps.get(&app_id).map(|app| (app.id, &app.key))
        })
    }
}

/// `owner/name` lower-cased, or the error for a malformed name.
fn normalized_repo_name(repo: &str) -> Result<String, SimError> {
    match repo.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(repo.to_lowercase())
        }
        _ => Err(SimError::InvalidRepoName(repo.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AppKeyPair;

    const NOW_MS: Millis = 1_780_272_000_000;

    fn registry_with_installation() -> (AppRegistry, u64) {
        let mut registry = AppRegistry::default();
        let keys = AppKeyPair::generate();
        registry
            .add_app(7, &keys.public_pem, NOW_MS)
            .expect("valid key");
        let installation_id = registry
            .add_installation(7, "acme", 1, &["acme/App", "acme/tools"], NOW_MS)
            .expect("known app");
        (registry, installation_id)
    }

    #[test]
    fn only_public_rsa_keys_register() {
        let keys = AppKeyPair::generate();
        let mut registry = AppRegistry::default();
        assert!(matches!(
            registry.add_app(1, &keys.private_pem, NOW_MS),
            Err(SimError::InvalidAppKey(_))
        ));
        assert!(matches!(
            registry.add_app(1, "hello", NOW_MS),
            Err(SimError::InvalidAppKey(_))
        ));
        assert!(registry
            .add_app(1, &keys.public_pem_pkcs1(), NOW_MS)
            .is_ok());
        assert_eq!(
            registry.add_installation(2, "acme", 1, &[], NOW_MS),
            Err(SimError::UnknownApp(2))
        );
    }

    #[test]
    fn membership_ignores_case_and_ids_leave_gaps() {
        let (mut registry, first) = registry_with_installation();
        let installation = registry.installation(first).expect("exists");
        assert!(installation.includes("ACME/app"));
        assert!(!installation.includes("acme/other"));
        assert_eq!(
            installation.repo_names().collect::<Vec<_>>(),
            ["acme/app", "acme/tools"]
        );
        let second = registry
            .add_installation(7, "other", 2, &[], NOW_MS)
            .expect("known app");
        assert!(second > first + 1);
        assert_eq!(
            registry.add_installation_repo(second, "no-slash"),
            Err(SimError::InvalidRepoName("no-slash".into()))
        );
    }

    #[test]
    fn tokens_expire_and_die_with_a_suspension() {
        let (mut registry, installation_id) = registry_with_installation();
        assert_eq!(
            registry.mint_token(8, installation_id, 1_000, NOW_MS).err(),
            Some(MintRefusal::NotFound),
            "another App's installation"
        );
        let minted = registry
            .mint_token(7, installation_id, 1_000, NOW_MS)
            .expect("minted");
        assert!(minted.token.starts_with("ghs_") && minted.token.len() == 40);
        assert_eq!(
            registry.token_state(&minted.token, NOW_MS + 999),
            TokenState::Valid { installation_id }
        );
        assert_eq!(
            registry.token_state(&minted.token, NOW_MS + 1_000),
            TokenState::Expired
        );
        let second = registry
            .mint_token(7, installation_id, 1_000, NOW_MS)
            .expect("minted");
        registry.expire_all_tokens(NOW_MS + 1);
        assert_eq!(
            registry.token_state(&second.token, NOW_MS + 1),
            TokenState::Expired
        );
        let third = registry
            .mint_token(7, installation_id, 1_000, NOW_MS + 1)
            .expect("minted");
        registry
            .suspend(installation_id, NOW_MS + 2)
            .expect("exists");
        assert_eq!(
            registry.token_state(&third.token, NOW_MS + 2),
            TokenState::Revoked
        );
        assert_eq!(
            registry
                .mint_token(7, installation_id, 1_000, NOW_MS + 2)
                .err(),
            Some(MintRefusal::Suspended)
        );
        assert_eq!(
            registry.token_state("ghs_nope", NOW_MS),
            TokenState::Unknown
        );
    }
}
