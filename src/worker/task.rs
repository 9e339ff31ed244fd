//! The adapter's executor bound to the runtime (the executor itself, with its reasons, is
//! [`crate::executor`]; the JavaScript side is task.js): awaiting a promise, a timer, running
//! work whose end a promise (or the value itself, when it finished at once) tells the runtime.

use crate::executor::{self, Slots, Wait};
use js_sys::Promise;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use wasm_bindgen::prelude::*;

/// A promise's outcome.
pub type Outcome = Result<JsValue, JsValue>;

thread_local! {
    static SLOTS: Slots<Outcome> = Slots::default();
    static READY: Cell<bool> = const { Cell::new(false) };
    static NEXT: Cell<u32> = const { Cell::new(0) };
}

#[wasm_bindgen(module = "/src/worker/task.js")]
extern "C" {
    #[wasm_bindgen(js_name = setSettle)]
    fn set_settle(f: &Closure<dyn FnMut(u32, bool, JsValue)>);
    #[wasm_bindgen(js_name = whenSettled)]
    fn when_settled(p: &Promise, slot: u32);
    #[wasm_bindgen(js_name = afterMs)]
    fn after_ms(ms: f64, slot: u32) -> JsValue;
    #[wasm_bindgen(js_name = promiseFor)]
    fn promise_for(id: u32) -> Promise;
    #[wasm_bindgen(js_name = settlePromise)]
    fn settle_promise(id: u32, ok: bool, v: &JsValue);
    #[wasm_bindgen(js_name = cancelTimer)]
    fn clear_timeout(id: &JsValue);
}

/// Gives task.js this instance's settle callback, once.
fn ready() {
    if READY.with(|r| r.replace(true)) {
        return;
    }
    let f = Closure::<dyn FnMut(u32, bool, JsValue)>::new(|slot: u32, ok: bool, v: JsValue| {
        SLOTS.with(|s| s.settle(slot, if ok { Ok(v) } else { Err(v) }));
    });
    set_settle(&f);
    // One callback for the instance's life.
    f.forget();
}

/// Awaits the runtime promise `p` (its settlement is asked for now, as `JsFuture` does).
pub fn wait(p: &Promise) -> impl Future<Output = Outcome> {
    ready();
    let id = SLOTS.with(Slots::open);
    when_settled(p, id);
    let w = Wait::new(&SLOTS, id);
    async move {
        w.await
            .unwrap_or_else(|| Err(JsValue::from_str("edgecache: a promise's outcome was lost")))
    }
}

/// A timer (`setTimeout`), cleared when dropped unfinished.
pub struct Delay {
    wait: Wait<Outcome>,
    timer: JsValue,
}

impl Delay {
    /// Resolves after `ms` milliseconds.
    pub fn ms(ms: u64) -> Self {
        ready();
        let id = SLOTS.with(Slots::open);
        #[allow(clippy::cast_precision_loss, reason = "timeouts stay far below 2^53")]
        let timer = after_ms(ms as f64, id);
        Delay {
            wait: Wait::cancelled_on_drop(&SLOTS, id),
            timer,
        }
    }
}

impl Future for Delay {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.wait).poll(cx).map(|_| ())
    }
}

impl Drop for Delay {
    fn drop(&mut self) {
        if self.wait.slot().is_some() {
            clear_timeout(&self.timer);
        }
    }
}

/// `fut`'s output, or `None` when `ms` milliseconds passed first (`fut` is then dropped: the
/// adapter's one deadline for work that takes no abort signal). Both are boxed, so a caller's
/// future (a hit's, around an origin fetch it may never make) does not grow by theirs.
pub async fn within<T>(ms: u64, fut: impl Future<Output = T>) -> Option<T> {
    use futures_util::future::{select, Either};
    match select(Box::pin(fut), Box::pin(Delay::ms(ms))).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

/// A promise for the runtime that settles with `later`'s outcome.
fn promise_of(later: executor::Later<Outcome>) -> Promise {
    ready();
    let id = NEXT.with(|n| {
        let id = n.get().wrapping_add(1);
        n.set(id);
        id
    });
    let p = promise_for(id);
    later.then(move |r| match r {
        Ok(v) => settle_promise(id, true, &v),
        Err(e) => settle_promise(id, false, &e),
    });
    p
}

/// Runs `fut` now: its value when it finished at once (the runtime takes a value or a promise
/// from a handler), else a promise of it. An error is thrown, as an `async` export's would be.
pub fn value_or_promise(fut: impl Future<Output = Outcome> + 'static) -> Outcome {
    match executor::start(fut) {
        Ok(r) => r,
        Err(later) => Ok(promise_of(later).into()),
    }
}

/// Runs `fut` now; a promise of its outcome.
pub fn promise(fut: impl Future<Output = Outcome> + 'static) -> Promise {
    match executor::start(fut) {
        Ok(Ok(v)) => Promise::resolve(&v),
        Ok(Err(e)) => Promise::reject(&e),
        Err(later) => promise_of(later),
    }
}

/// Runs `fut` now: `None` when it finished at once, else a promise of its end (for
/// `ctx.waitUntil`).
pub fn unfinished(fut: impl Future<Output = ()> + 'static) -> Option<Promise> {
    match executor::start(async move {
        fut.await;
        Ok(JsValue::UNDEFINED)
    }) {
        Ok(_) => None,
        Err(later) => Some(promise_of(later)),
    }
}
