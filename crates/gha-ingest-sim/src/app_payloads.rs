//! JSON of the GitHub App routes: the App (`GET /app`), an installation (`GET /app/installations`)
//! and a minted token (`POST …/access_tokens`), each a clone of GitHub's own example (in
//! `fixtures/github/`) with its values patched, like every other payload of the simulator.

use serde_json::{json, Value};

use crate::apps::{App, Installation};
use crate::clock::{format_seconds_z, Millis};
use crate::payloads::{node_id, object_mut, parse_fixture, pointer, user_json, Templates};

const INTEGRATION_JSON: &str = include_str!("../fixtures/github/integration.json");
const INSTALLATION_ITEMS_JSON: &str =
    include_str!("../fixtures/github/base-installation-items.json");
const INSTALLATION_TOKEN_JSON: &str = include_str!("../fixtures/github/installation-token.json");

/// The permissions a gha-ingest App asks for (GITHUB-API.md §3b): read Actions, contents and
/// metadata.
fn app_permissions() -> Value {
    json!({"actions": "read", "contents": "read", "metadata": "read"})
}

/// The webhook events a gha-ingest App subscribes to.
fn app_events() -> Value {
    json!(["workflow_run", "workflow_job"])
}

/// The parsed App examples, API URLs already pointing at the simulator.
#[derive(Debug)]
pub(crate) struct AppTemplates {
    integration: Value,
    installation: Value,
    installation_token: Value,
}

impl AppTemplates {
    pub(crate) fn load(api_origin: &str) -> Self {
        let mut installation_token = parse_fixture(INSTALLATION_TOKEN_JSON, api_origin);
        // Listed only when the request names repositories; the simulator mints for all of them.
        object_mut(&mut installation_token).remove("repositories");
        Self {
            integration: parse_fixture(INTEGRATION_JSON, api_origin),
            installation: pointer(&parse_fixture(INSTALLATION_ITEMS_JSON, api_origin), "/0"),
            installation_token,
        }
    }
}

/// `GET /app`: the App as it sees itself.
pub(crate) fn render_app(templates: &Templates, app: &App, installations_count: usize) -> Value {
    let mut payload = templates.apps.integration.clone();
    let created_at = format_seconds_z(app.created_ms);
    let fields = object_mut(&mut payload);
    fields.insert("id".into(), app.id.into());
    fields.insert("slug".into(), app.slug.clone().into());
    fields.insert("client_id".into(), app.client_id.clone().into());
    fields.insert("node_id".into(), node_id("Integration", app.id).into());
    fields.insert(
        "name".into(),
        format!("gha-ingest simulator App {}", app.id).into(),
    );
    fields.insert(
        "html_url".into(),
        format!("https://github.com/apps/{}", app.slug).into(),
    );
    fields.insert("created_at".into(), created_at.clone().into());
    fields.insert("updated_at".into(), created_at.into());
    fields.insert("permissions".into(), app_permissions());
    fields.insert("events".into(), app_events());
    fields.insert("installations_count".into(), installations_count.into());
    payload
}

/// An item of `GET /app/installations`.
pub(crate) fn render_installation(
    templates: &Templates,
    installation: &Installation,
    app: &App,
) -> Value {
    let mut payload = templates.apps.installation.clone();
    let account = user_json(
        templates,
        &installation.account_login,
        installation.account_id,
        "Organization",
    );
    let created_at = format_seconds_z(installation.created_ms);
    let suspended_at = installation.suspended_ms.map(format_seconds_z);
    let updated_at = suspended_at.clone().unwrap_or_else(|| created_at.clone());
    let api_origin = &templates.api_origin;
    let fields = object_mut(&mut payload);
    fields.insert("id".into(), installation.id.into());
    fields.insert(
        "suspended_by".into(),
        if installation.suspended_ms.is_some() {
            account.clone()
        } else {
            Value::Null
        },
    );
    fields.insert("account".into(), account);
    fields.insert(
        "access_tokens_url".into(),
        format!(
            "{api_origin}/app/installations/{}/access_tokens",
            installation.id
        )
        .into(),
    );
    fields.insert(
        "repositories_url".into(),
        format!("{api_origin}/installation/repositories").into(),
    );
    fields.insert(
        "html_url".into(),
        format!(
            "https://github.com/organizations/{}/settings/installations/{}",
            installation.account_login, installation.id
        )
        .into(),
    );
    fields.insert("app_id".into(), app.id.into());
    fields.insert("app_slug".into(), app.slug.clone().into());
    fields.insert("client_id".into(), app.client_id.clone().into());
    fields.insert("target_id".into(), installation.account_id.into());
    fields.insert("target_type".into(), "Organization".into());
    fields.insert("permissions".into(), app_permissions());
    fields.insert("events".into(), app_events());
    fields.insert("single_file_name".into(), Value::Null);
    fields.insert("has_multiple_single_files".into(), false.into());
    fields.insert("single_file_paths".into(), json!([]));
    fields.insert("repository_selection".into(), "selected".into());
    fields.insert("created_at".into(), created_at.into());
    fields.insert("updated_at".into(), updated_at.into());
    fields.insert(
        "suspended_at".into(),
        suspended_at.map_or(Value::Null, Value::from),
    );
    payload
}

/// The 201 answer of `POST /app/installations/{installation_id}/access_tokens`.
pub(crate) fn render_installation_token(
    templates: &Templates,
    token: &str,
    expires_ms: Millis,
) -> Value {
    let mut payload = templates.apps.installation_token.clone();
    let fields = object_mut(&mut payload);
    fields.insert("token".into(), token.into());
    // Whole seconds, rounded down: a client refreshing at `expires_at` is never late.
    fields.insert("expires_at".into(), format_seconds_z(expires_ms).into());
    fields.insert("permissions".into(), app_permissions());
    fields.insert("repository_selection".into(), "selected".into());
    payload
}
