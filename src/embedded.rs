//! The policy embedded at build time.
//!
//! build.rs reads the policy file (for the worker `EDGECACHE_POLICY`, else `edgecache.toml`; on
//! the host always `edgecache.toml`), validates it with
//! [`Policy::from_toml_str`], writes the resolved policy as compact JSON
//! ([`crate::policy::embed`]) to `$OUT_DIR/policy.json` and checks that it decodes back to the
//! same policy. [`policy`] decodes that text. The worker thus contains no policy parser or
//! validator, and the policy is data (a few bytes of gzip per rule), not code.
//!
//! An invalid policy fails every wasm32 build, so there [`policy`] always gives a [`Policy`].
//! On the host the build succeeds with a warning (the `edgecache check` CLI is built from this
//! crate and must be able to report the errors), the embedded text is empty and [`policy`] is
//! `None`.
//!
//! This is not part of `crate::policy` because build.rs compiles that module itself, and this
//! file includes build.rs's output.

use crate::policy::Policy;

/// The resolved policy as written by build.rs (empty on the host when the file was invalid).
const POLICY_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/policy.json"));

/// The embedded policy (see the module docs). Decodes it on every call: call it once.
#[cfg(target_arch = "wasm32")]
#[allow(
    clippy::expect_used,
    reason = "build.rs fails the wasm32 build unless this exact text decodes to the validated policy"
)]
pub fn policy() -> Policy {
    // build.rs refuses to build a worker whose embedded text does not decode to the validated
    // policy, so this cannot fail.
    crate::policy::embed::from_json(POLICY_JSON).expect("build.rs checked the embedded policy")
}

/// The embedded policy, `None` when the policy file was invalid (see the module docs). Decodes
/// it on every call.
#[cfg(not(target_arch = "wasm32"))]
pub fn policy() -> Option<Policy> {
    crate::policy::embed::from_json(POLICY_JSON)
}

/// The policy file's name as given at build time, for messages and the dashboard.
pub const POLICY_FILE: &str = include_str!(concat!(env!("OUT_DIR"), "/policy_name.txt"));

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded policy is exactly what the loader makes of the same file.
    #[test]
    fn embedded_policy_equals_the_loaded_file() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(POLICY_FILE);
        let src = std::fs::read_to_string(&path).unwrap_or_default(); // absent: built-in defaults
        let loaded = Policy::from_toml_str(&src, POLICY_FILE).map(|l| l.policy);
        match (policy(), loaded) {
            (Some(embedded), Ok(want)) => {
                assert_eq!(embedded.defaults, want.defaults);
                assert_eq!(embedded.rules, want.rules);
            }
            (None, Err(_)) => {} // an invalid policy is absent on the host
            (embedded, loaded) => panic!(
                "embedded is {}, loading {} gives {}",
                if embedded.is_some() {
                    "present"
                } else {
                    "absent"
                },
                path.display(),
                match loaded {
                    Ok(_) => "a policy".to_string(),
                    Err(e) => format!("errors:\n{e}"),
                }
            ),
        }
    }

    /// A host build embeds the repository's own policy file (whatever `EDGECACHE_POLICY` says:
    /// that variable picks the worker's policy); it is valid.
    #[test]
    fn repository_policy_is_embedded() {
        assert_eq!(POLICY_FILE, "edgecache.toml");
        let p = policy().expect("edgecache.toml is valid");
        assert!(p.rule("assets").is_some());
        assert_eq!(p.rules.len(), p.defaults.index);
    }
}
