//! Per-isolate state: the compiled policy (once), the purge-record memo, in-flight origin fetches.

use crate::policy::Policy;
use crate::purge::RecordMemo;
use std::cell::{OnceCell, RefCell};

/// The policy embedded at build time (validated by `edgecache check` before the build).
const POLICY_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/policy.json"));
/// Its file name, for messages and the dashboard.
pub const POLICY_FILE: &str = include_str!(concat!(env!("OUT_DIR"), "/policy_name.txt"));

thread_local! {
    static POLICY: OnceCell<Option<&'static Policy>> = const { OnceCell::new() };
    static MEMO: RefCell<RecordMemo> = RefCell::new(RecordMemo::default());
}

/// The compiled policy, built once per isolate and kept for its lifetime.
/// `None` only if the embedded policy is invalid, which `scripts/build.sh` prevents; the worker
/// then passes every request through (logged), rather than caching on a guess.
pub fn policy() -> Option<&'static Policy> {
    POLICY.with(|p| {
        *p.get_or_init(|| match Policy::from_json_str(POLICY_JSON, POLICY_FILE) {
            Ok(loaded) => Some(&*Box::leak(Box::new(loaded.policy))),
            Err(e) => {
                worker::console_error!(
                    "edgecache: invalid embedded policy, passing everything through:\n{e}"
                );
                None
            }
        })
    })
}

/// Runs `f` with the isolate's purge-record memo.
pub fn with_memo<T>(f: impl FnOnce(&mut RecordMemo) -> T) -> T {
    MEMO.with(|m| f(&mut m.borrow_mut()))
}
