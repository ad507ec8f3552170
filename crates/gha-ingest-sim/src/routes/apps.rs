//! The GitHub App routes: the App itself and its installations (JWT), minting installation
//! tokens (JWT), and the repositories an installation token can see.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::app_payloads::{render_app, render_installation, render_installation_token};
use crate::apps::{AppRegistry, Installation, MintRefusal, MintedToken};
use crate::clock::Millis;
use crate::query::Query;
use crate::routes::api::ApiOutcome;
use crate::routes::repos::render_repository;
use crate::world::World;

/// `GET /app`.
pub(crate) fn app(world: &World, apps: &AppRegistry, app_id: u64) -> ApiOutcome {
    let Some(app) = apps.app(app_id) else {
        return ApiOutcome::not_found();
    };
    let installations_count = apps.installations_of(app_id).len();
    ApiOutcome::ok(render_app(&world.templates, app, installations_count))
}

/// `GET /app/installations?per_page=&page=`, oldest installation first.
pub(crate) fn list_installations(
    world: &World,
    apps: &AppRegistry,
    app_id: u64,
    query: &Query,
) -> ApiOutcome {
    let Some(app) = apps.app(app_id) else {
        return ApiOutcome::not_found();
    };
    let installations = apps.installations_of(app_id);
    let page = query.page_request(30, 100);
    let items: Vec<Value> = installations[page.range(installations.len())]
        .iter()
        .map(|installation| render_installation(&world.templates, installation, app))
        .collect();
    let base_url = format!("{}/app/installations", world.templates.api_origin);
    let link = page.link_header(&base_url, query, installations.len());
    ApiOutcome::ok_paged(Value::Array(items), link)
}

/// `POST /app/installations/{installation_id}/access_tokens`: 201 and a token, 404 for an
/// installation that is not this App's, 403 for a suspended one. The request body (a subset of
/// repositories or permissions) is not read: tokens cover the whole installation.
pub(crate) fn create_installation_token(
    world: &World,
    apps: &mut AppRegistry,
    app_id: u64,
    installation_id: u64,
    ttl_ms: Millis,
    now_ms: Millis,
) -> (ApiOutcome, Option<MintedToken>) {
    match apps.mint_token(app_id, installation_id, ttl_ms, now_ms) {
        Ok(minted) => {
            let body =
                render_installation_token(&world.templates, &minted.token, minted.expires_ms);
            let outcome = ApiOutcome::Json {
                status: StatusCode::CREATED,
                body,
                link: None,
            };
            (outcome, Some(minted))
        }
        Err(MintRefusal::NotFound) => (ApiOutcome::not_found(), None),
        Err(MintRefusal::Suspended) => (
            ApiOutcome::error(
                StatusCode::FORBIDDEN,
                "This installation has been suspended",
            ),
            None,
        ),
    }
}

/// `GET /installation/repositories?per_page=&page=`: the installation's repositories that exist,
/// in name order, as full repository objects.
pub(crate) fn installation_repositories(
    world: &World,
    installation: &Installation,
    query: &Query,
) -> ApiOutcome {
    let existing: Vec<usize> = installation
        .repo_names()
        .filter_map(|full_name| world.repo_index_lowercase(full_name))
        .collect();
    let page = query.page_request(30, 100);
    let repositories: Vec<Value> = existing[page.range(existing.len())]
        .iter()
        .map(|index| render_repository(&world.repos[*index]))
        .collect();
    let body = json!({
        "total_count": existing.len(),
        "repository_selection": "selected",
        "repositories": repositories,
    });
    let base_url = format!("{}/installation/repositories", world.templates.api_origin);
    let link = page.link_header(&base_url, query, existing.len());
    ApiOutcome::ok_paged(body, link)
}
