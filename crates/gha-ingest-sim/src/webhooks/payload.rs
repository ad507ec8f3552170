//! The JSON of a webhook delivery: a `workflow_run` or `workflow_job` event as GitHub sends it.
//!
//! The run or job inside is the REST API's own rendering at the instant of the change
//! (`payloads::render_run` / `render_job`), so a receiver and a poller derive the same facts
//! from the same object. The envelope (`repository`, `organization`, `workflow`) is a clone of
//! GitHub's webhook example (`fixtures/github/workflow_run.completed.json`) with its values
//! patched, like every other payload of the simulator. One difference from the REST object is
//! GitHub's own: a webhook run's `repository` and `head_repository` have the webhook example's
//! field set, which lacks the REST example's `git_url` and `ssh_url`.

use serde_json::{json, Map, Value};

use crate::apps::Installation;
use crate::clock::to_datetime;
use crate::payloads::{
    node_id, object_mut, parse_fixture, pointer, render_job, render_run, rewrite_strings, user_at,
    JobContext, RunContext, RunShape, Templates,
};
use crate::webhooks::schedule::{Change, Subject};
use crate::world::World;

const WORKFLOW_RUN_EVENT_JSON: &str =
    include_str!("../../fixtures/github/workflow_run.completed.json");

/// The repository the webhook example is about, replaced by each simulated repository's name.
const EXAMPLE_FULL_NAME: &str = "octo-org/octo-repo";
const EXAMPLE_OWNER: &str = "octo-org";

/// The webhook example's envelope objects, API URLs already pointing at the simulator.
#[derive(Debug)]
pub(crate) struct HookTemplates {
    repository: Value,
    organization: Value,
    workflow: Value,
    /// The keys of a webhook run's `repository` (and `head_repository`).
    run_repository_keys: Vec<String>,
}

impl HookTemplates {
    pub(crate) fn load(api_origin: &str) -> Self {
        let event = parse_fixture(WORKFLOW_RUN_EVENT_JSON, api_origin);
        let run_repository_keys = pointer(&event, "/workflow_run/repository")
            .as_object()
            .map(|fields| fields.keys().cloned().collect())
            .unwrap_or_default();
        Self {
            repository: pointer(&event, "/repository"),
            organization: pointer(&event, "/organization"),
            workflow: pointer(&event, "/workflow"),
            run_repository_keys,
        }
    }
}

/// A delivery's top-level `repository`: the webhook example's field set (nested objects such as
/// `license` included) with the values of the repository's REST object
/// (`GET /repos/{owner}/{repo}`); the two fields REST lacks keep the example's values
/// (`web_commit_signoff_required: false`, `custom_properties: {}`).
pub(crate) fn webhook_repository(templates: &Templates, full: &Value) -> Value {
    let mut template = templates.hooks.repository.clone();
    let full_name = full["full_name"].as_str().unwrap_or(EXAMPLE_FULL_NAME);
    rewrite_strings(&mut template, &[(EXAMPLE_FULL_NAME, full_name)]);
    shaped_like(&template, full)
}

/// `value` with `template`'s fields: a field `value` lacks keeps the template's value, a field
/// the template lacks is left out. Non-objects, and empty template objects (free-form maps),
/// are `value` as it is.
fn shaped_like(template: &Value, value: &Value) -> Value {
    match (template, value) {
        (Value::Object(template_fields), Value::Object(fields)) if !template_fields.is_empty() => {
            Value::Object(
                template_fields
                    .iter()
                    .map(|(key, template_value)| {
                        let shaped = fields.get(key).map_or_else(
                            || template_value.clone(),
                            |field| shaped_like(template_value, field),
                        );
                        (key.clone(), shaped)
                    })
                    .collect(),
            )
        }
        _ => value.clone(),
    }
}

/// A delivery's `organization`: the repository's owner.
pub(crate) fn webhook_organization(templates: &Templates, owner: &str, owner_id: u64) -> Value {
    let mut organization = templates.hooks.organization.clone();
    rewrite_strings(
        &mut organization,
        &[(&format!("/orgs/{EXAMPLE_OWNER}"), &format!("/orgs/{owner}"))],
    );
    let fields = object_mut(&mut organization);
    fields.insert("login".into(), owner.into());
    fields.insert("id".into(), owner_id.into());
    fields.insert("node_id".into(), node_id("Organization", owner_id).into());
    fields.insert(
        "avatar_url".into(),
        format!("https://avatars.githubusercontent.com/u/{owner_id}?v=4").into(),
    );
    organization
}

/// One event, ready to be serialized and signed.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// `workflow_run` or `workflow_job`: the `X-GitHub-Event` header.
    pub name: &'static str,
    pub action: &'static str,
    pub payload: Value,
    pub repository_id: u64,
    /// The installation named in the payload.
    pub installation: Option<InstallationRef>,
    /// The run the change belongs to: its deliveries keep their order (see `deliver`).
    pub run_id: u64,
}

/// The App installation a repository's deliveries name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InstallationRef {
    pub id: u64,
    pub app_id: u64,
}

impl InstallationRef {
    /// See `AppRegistry::installation_of_repo`.
    pub(crate) fn of(installation: Option<&Installation>) -> Option<Self> {
        installation.map(|installation| Self {
            id: installation.id,
            app_id: installation.app_id,
        })
    }
}

/// Renders the event of `change` as it was at `change.at_ms`; `None` when the run, attempt or
/// job no longer exists (deleted since).
pub(crate) fn render_event(
    world: &World,
    installation_of: impl Fn(&str) -> Option<InstallationRef>,
    change: &Change,
) -> Option<Event> {
    let run = world.runs.get(&change.run_id)?;
    let attempt = run.attempt(change.attempt_number)?;
    let repo = &world.repos[run.repo_index];
    let workflow = &repo.workflows[run.workflow_index];
    let templates = &world.templates;
    let installation = installation_of(&repo.full_name);
    let sender = user_at(&world.users, attempt.triggering_actor_index);
    let mut envelope = Map::new();
    envelope.insert("action".into(), change.action.as_str().into());
    let name = match change.subject {
        Subject::Run => {
            let context = world.run_context(run, attempt);
            let mut workflow_run =
                render_run(templates, context, RunShape::Single, false, change.at_ms);
            keep_webhook_repository_fields(templates, &mut workflow_run);
            envelope.insert("workflow_run".into(), workflow_run);
            envelope.insert("workflow".into(), render_workflow(templates, context));
            "workflow_run"
        }
        Subject::Job(job_index) => {
            let job = attempt.jobs.get(job_index)?;
            let context = JobContext {
                repo,
                workflow,
                run,
                attempt,
                job,
            };
            let workflow_job = render_job(templates, context, change.at_ms);
            envelope.insert("workflow_job".into(), workflow_job);
            "workflow_job"
        }
    };
    envelope.insert("repository".into(), repo.rendered.webhook.clone());
    envelope.insert("organization".into(), repo.rendered.organization.clone());
    envelope.insert("sender".into(), sender);
    if let Some(installation) = installation {
        envelope.insert(
            "installation".into(),
            json!({
                "id": installation.id,
                "node_id": node_id("IntegrationInstallation", installation.id),
            }),
        );
    }
    Some(Event {
        name,
        action: change.action.as_str(),
        payload: Value::Object(envelope),
        repository_id: repo.id,
        installation,
        run_id: run.id,
    })
}

/// A webhook run's `repository` and `head_repository` carry the webhook example's fields only.
fn keep_webhook_repository_fields(templates: &Templates, workflow_run: &mut Value) {
    let keys = &templates.hooks.run_repository_keys;
    for field in ["repository", "head_repository"] {
        if let Some(Value::Object(repository)) = workflow_run.get_mut(field) {
            repository.retain(|key, _| keys.iter().any(|kept| kept == key));
        }
    }
}

/// `workflow` of a `workflow_run` event. A simulated workflow exists since its repository was
/// added and never changes, so both its times are the repository's creation.
fn render_workflow(templates: &Templates, context: RunContext<'_>) -> Value {
    let RunContext { repo, workflow, .. } = context;
    let mut payload = templates.hooks.workflow.clone();
    let path = format!(".github/workflows/{}", workflow.file_name);
    let created_at = to_datetime(repo.created_ms)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let fields = object_mut(&mut payload);
    fields.insert("id".into(), workflow.id.into());
    fields.insert("node_id".into(), node_id("Workflow", workflow.id).into());
    fields.insert("name".into(), workflow.name.clone().into());
    fields.insert("path".into(), path.clone().into());
    fields.insert("state".into(), "active".into());
    fields.insert("created_at".into(), created_at.clone().into());
    fields.insert("updated_at".into(), created_at.into());
    fields.insert(
        "url".into(),
        format!(
            "{}/actions/workflows/{}",
            templates.api_repo_url(repo),
            workflow.id
        )
        .into(),
    );
    fields.insert(
        "html_url".into(),
        format!(
            "https://github.com/{}/blob/{}/{path}",
            repo.full_name, repo.default_branch
        )
        .into(),
    );
    fields.insert(
        "badge_url".into(),
        format!(
            "https://github.com/{}/workflows/{}/badge.svg",
            repo.full_name,
            url::form_urlencoded::byte_serialize(workflow.name.as_bytes()).collect::<String>()
        )
        .into(),
    );
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_keeps_the_webhook_example_field_set() {
        let templates = Templates::load("http://sim");
        let full = json!({
            "id": 7, "full_name": "acme/app", "name": "app", "network_count": 0,
            "license": {"key": "mit", "html_url": "https://github.com/licenses/mit"},
        });
        let repository = webhook_repository(&templates, &full);
        assert_eq!(repository["id"], 7);
        assert_eq!(repository["name"], "app");
        assert!(
            repository.get("network_count").is_none(),
            "REST-only fields stay out"
        );
        assert_eq!(repository["custom_properties"], json!({}));
        assert_eq!(repository["license"]["key"], "mit");
        assert!(
            repository["license"].get("html_url").is_none(),
            "nested objects keep the example's fields too"
        );
        assert_eq!(
            repository["hooks_url"], "http://sim/repos/acme/app/hooks",
            "example URLs point at the repository"
        );
        let organization = webhook_organization(&templates, "acme", 42);
        assert_eq!(organization["login"], "acme");
        assert_eq!(organization["repos_url"], "http://sim/orgs/acme/repos");
        assert!(!templates
            .hooks
            .run_repository_keys
            .contains(&"git_url".to_string()));
    }
}
