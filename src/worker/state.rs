//! Per-isolate state: the compiled policy (once), the purge-record memo, in-flight origin fetches.

use crate::policy::Policy;
use crate::purge::RecordMemo;
use std::cell::{OnceCell, RefCell};

/// The policy file's name, for messages and the dashboard.
pub use crate::embedded::POLICY_FILE;

thread_local! {
    static POLICY: OnceCell<&'static Policy> = const { OnceCell::new() };
    static MEMO: RefCell<RecordMemo> = RefCell::new(RecordMemo::default());
}

/// The compiled policy, built once per isolate and kept for its lifetime.
///
/// The policy was validated and turned into Rust code at build time (build.rs, see
/// [`crate::embedded`]; an invalid policy fails the wasm build); here it is only constructed and
/// its route matcher compiled.
pub fn policy() -> &'static Policy {
    POLICY.with(|p| *p.get_or_init(|| Box::leak(Box::new(crate::embedded::policy()))))
}

/// Runs `f` with the isolate's purge-record memo.
pub fn with_memo<T>(f: impl FnOnce(&mut RecordMemo) -> T) -> T {
    MEMO.with(|m| f(&mut m.borrow_mut()))
}
