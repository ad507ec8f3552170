//! A delivery's request as GitHub builds it: the headers a receiver reads (`X-GitHub-Event`,
//! `X-GitHub-Delivery`, `X-Hub-Signature-256`, …) around the exact body bytes the signature
//! covers.

use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::Rng;
use sha2::Sha256;

/// `X-GitHub-Hook-ID`: the simulator has one webhook.
pub(crate) const HOOK_ID: u64 = 512_007_493;
/// `User-Agent`: `GitHub-Hookshot/` and a short hex build id, as GitHub sends.
const USER_AGENT: &str = "GitHub-Hookshot/5a1d0c7";
pub(crate) const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// `sha256=` and the hex HMAC-SHA256 of `body` keyed with `secret`.
pub(crate) fn signature_256(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A GUID for `X-GitHub-Delivery` (8-4-4-4-12 hex), from the seeded generator so a seed replays
/// the same GUIDs.
pub(crate) fn new_guid(rng: &mut StdRng) -> String {
    let bytes: [u8; 16] = rng.gen();
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whom a delivery is for: `X-GitHub-Hook-Installation-Target-*`. An App's webhook names the
/// App; a repository outside every installation gets a repository webhook's delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookTarget {
    App(u64),
    Repository(u64),
}

/// The headers of a delivery, in GitHub's spelling.
pub(crate) fn headers(
    event: &str,
    guid: &str,
    target: HookTarget,
    signature: String,
) -> Vec<(String, String)> {
    let (target_type, target_id) = match target {
        HookTarget::App(app_id) => ("integration", app_id),
        HookTarget::Repository(repository_id) => ("repository", repository_id),
    };
    [
        ("Accept", "*/*".to_string()),
        ("Content-Type", "application/json".to_string()),
        ("User-Agent", USER_AGENT.to_string()),
        ("X-GitHub-Delivery", guid.to_string()),
        ("X-GitHub-Event", event.to_string()),
        ("X-GitHub-Hook-ID", HOOK_ID.to_string()),
        (
            "X-GitHub-Hook-Installation-Target-ID",
            target_id.to_string(),
        ),
        (
            "X-GitHub-Hook-Installation-Target-Type",
            target_type.to_string(),
        ),
        (SIGNATURE_HEADER, signature),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

/// The same headers with a fresh signature: a redelivery is signed with the secret in force
/// when it goes out.
pub(crate) fn resigned(headers: &[(String, String)], signature: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            if name.eq_ignore_ascii_case(SIGNATURE_HEADER) {
                (name.clone(), signature.to_string())
            } else {
                (name.clone(), value.clone())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_signature_is_githubs_documented_example() {
        // docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody",
        // payload "Hello, World!".
        assert_eq!(
            signature_256("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn guids_have_the_guid_shape_and_replay_with_the_seed() {
        let guid = new_guid(&mut StdRng::seed_from_u64(1));
        assert_eq!(guid, new_guid(&mut StdRng::seed_from_u64(1)));
        let lengths: Vec<usize> = guid.split('-').map(str::len).collect();
        assert_eq!(lengths, [8, 4, 4, 4, 12]);
    }

    #[test]
    fn a_redelivery_changes_the_signature_only() {
        let sent = headers("workflow_job", "g", HookTarget::App(3), "sha256=old".into());
        let again = resigned(&sent, "sha256=new");
        assert_eq!(sent.len(), again.len());
        for ((name, old), (_, new)) in sent.iter().zip(&again) {
            if name == SIGNATURE_HEADER {
                assert_eq!((old.as_str(), new.as_str()), ("sha256=old", "sha256=new"));
            } else {
                assert_eq!(old, new);
            }
        }
    }
}
