//! Per-isolate state: the compiled policy (built once).

use crate::policy::Policy;
use std::cell::OnceCell;

/// The policy file's name, for messages and the dashboard.
pub use crate::embedded::POLICY_FILE;

thread_local! {
    static POLICY: OnceCell<&'static Policy> = const { OnceCell::new() };
}

/// The compiled policy, built once per isolate and kept for its lifetime.
///
/// The policy was validated and turned into Rust code at build time (build.rs, see
/// [`crate::embedded`]; an invalid policy fails the wasm build); here it is only constructed and
/// its route matcher compiled.
pub fn policy() -> &'static Policy {
    POLICY.with(|p| *p.get_or_init(|| Box::leak(Box::new(crate::embedded::policy()))))
}
