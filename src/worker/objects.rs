//! The [`PurgeLedger`] Durable Object (one instance, "global"): serialises purges, keeps the
//! held records, the replay guard, the purge log, the snapshot and the zone purge jobs. What it
//! does, in which order, is `purge::LedgerOp` (sans I/O); this file only carries out its
//! actions.
//! (The metrics hub is `hub.rs`.)

use super::bindings::PURGE_KV;
use super::conv;
use super::rt::{DoState, Env, Error, Result};
use crate::purge::zone::{ApiAnswer, ZoneConfig};
use crate::purge::{KvWrite, LedgerAction as A, LedgerEvent as E, LedgerMemory, LedgerOp, Stored};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{Request, Response};

/// Runs an object's async method as the promise the runtime awaits.
pub(super) fn promise<F>(f: F) -> js_sys::Promise
where
    F: std::future::Future<Output = Result<Response>> + 'static,
{
    super::task::promise(async move { f.await.map(JsValue::from).map_err(JsValue::from) })
}

/// Serialises purges (see the module docs).
#[wasm_bindgen]
pub struct PurgeLedger(Rc<Ledger>);

#[wasm_bindgen]
impl PurgeLedger {
    /// `new PurgeLedger(state, env)`, as the runtime constructs a Durable Object.
    #[wasm_bindgen(constructor)]
    pub fn new(state: JsValue, env: JsValue) -> PurgeLedger {
        PurgeLedger(Rc::new(Ledger {
            state: DoState::new(state),
            env: Env::new(env),
            mem: Rc::new(LedgerMemory::default()),
            lock: futures_util::lock::Mutex::new(()),
        }))
    }

    /// `fetch(request)`.
    pub fn fetch(&self, req: Request) -> js_sys::Promise {
        let me = self.0.clone();
        let op = LedgerOp::fetch(&me.mem, &conv::path(&req));
        promise(async move { me.run(op, Some(req)).await })
    }

    /// `alarm()`.
    pub fn alarm(&self) -> js_sys::Promise {
        let me = self.0.clone();
        let op = LedgerOp::alarm(&me.mem);
        promise(async move { me.run(op, None).await })
    }
}

struct Ledger {
    state: DoState,
    env: Env,
    mem: Rc<LedgerMemory>,
    /// The lock `LedgerOp` takes (a KV put opens the object's input gate).
    lock: futures_util::lock::Mutex<()>,
}

/// A write's outcome as an event.
fn done(r: Result<()>) -> E {
    r.map_or_else(|e| E::Failed(e.to_string()), |()| E::Done)
}

/// A stored value as the core sees it (only strings and numbers are stored).
fn stored(v: JsValue) -> Option<Stored> {
    v.as_string()
        .map(Stored::Text)
        .or_else(|| v.as_f64().map(Stored::Num))
}

fn js(v: Stored) -> JsValue {
    match v {
        Stored::Text(t) => JsValue::from(t),
        Stored::Num(n) => JsValue::from_f64(n),
    }
}

impl Ledger {
    /// Carries out `op`'s actions until it answers (the lock, when taken, is held until then).
    async fn run(&self, mut op: LedgerOp, req: Option<Request>) -> Result<Response> {
        let storage = self.state.storage()?;
        let mut held = None;
        let mut zone: Option<ZoneConfig> = None;
        let mut action = op.start(conv::now_ms());
        loop {
            let event = match action {
                A::Answer(a) => return conv::fixed(a.status, a.headers, a.body.into_bytes()),
                A::Fail(e) => return Err(Error(e)),
                A::ReadBody => match req.as_ref().map(|r| r.text()) {
                    Some(p) => conv::body_text(p)
                        .await
                        .map_or_else(|e| E::Failed(e.to_string()), E::Body),
                    None => E::Failed("no body".into()),
                },
                A::Lock => {
                    held = Some(self.lock.lock().await);
                    E::Done
                }
                A::Unlock => {
                    drop(held.take());
                    E::Done
                }
                A::Get(k) => E::Got(storage.get(&k).await.ok().flatten().and_then(stored)),
                A::List(p) => match storage.list(p).await {
                    Ok(l) => E::Listed(
                        l.into_iter()
                            .filter_map(|(k, v)| Some((k, stored(v)?)))
                            .collect(),
                    ),
                    Err(e) => E::Failed(e.to_string()),
                },
                A::Put(k, v) => done(storage.put(&k, js(v)).await),
                A::Delete(keys) => done(storage.delete_many(&keys).await),
                A::KvPut(writes) => done(self.kv_put(&writes).await),
                A::GetAlarm => E::Alarm(storage.get_alarm().await.ok().flatten()),
                A::SetAlarm(at) => done(storage.set_alarm(at).await),
                A::ZoneConfig => {
                    zone = super::zone::config(&self.env);
                    E::Configured(zone.is_some())
                }
                A::ZoneCall(call) => {
                    let answer = match &zone {
                        Some(cfg) => super::zone::call(cfg, &call).await,
                        None => ApiAnswer {
                            status: 0,
                            body: "not configured".into(),
                            retry_after: None,
                        },
                    };
                    E::ZoneAnswer(answer, conv::rand01())
                }
                A::Report(msg) => {
                    console_error!("{msg}");
                    E::Done
                }
            };
            action = op.resume(event, conv::now_ms());
        }
    }

    /// The KV writes, in parallel; the first error.
    async fn kv_put(&self, writes: &[KvWrite]) -> Result<()> {
        let kv = self.env.kv(PURGE_KV)?;
        let puts = writes
            .iter()
            .map(|w| kv.put_text(&w.key, &w.value, w.ttl_secs));
        futures_util::future::join_all(puts)
            .await
            .into_iter()
            .collect()
    }
}
