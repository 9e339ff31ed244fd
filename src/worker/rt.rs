//! The Workers runtime bindings the adapter uses, bound directly with `wasm_bindgen` (no
//! `worker` crate): the environment (vars, secrets, KV, Durable Object namespaces, the assets
//! fetcher), `ctx.waitUntil`, Durable Object storage and alarms, timers, the console, and the
//! panic hook with the entry's recovery state. Every call the runtime may refuse returns a
//! `Result`; nothing here decides anything.
//!
//! Runtime API: <https://developers.cloudflare.com/workers/runtime-apis/> (KV, Durable Objects
//! storage, `waitUntil`, `setTimeout`).

use js_sys::{Object, Promise, Reflect};
use std::future::Future;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A runtime error value as text: its message.
pub fn js_err(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

/// A runtime error as text.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<JsValue> for Error {
    fn from(e: JsValue) -> Self {
        Error(js_err(&e))
    }
}

impl From<String> for Error {
    fn from(e: String) -> Self {
        Error(e)
    }
}

impl From<Error> for JsValue {
    fn from(e: Error) -> Self {
        js_sys::Error::new(&e.0).into()
    }
}

/// The adapter's result type.
pub type Result<T> = std::result::Result<T, Error>;

#[wasm_bindgen(inline_js = "
export const state = globalThis.__worker_init_state = { criticalError: false, instanceId: 0 };
")]
extern "C" {
    type InitState;
    #[wasm_bindgen(thread_local_v2, js_name = state)]
    static INIT_STATE: InitState;
    #[wasm_bindgen(method, setter, js_name = criticalError)]
    fn set_critical_error(this: &InitState, val: bool);
}

/// The recovery state scripts/worker-entry.mjs reads: `criticalError` is set by the panic hook.
#[wasm_bindgen(js_name = "__worker_init_state")]
pub fn worker_init_state() -> JsValue {
    INIT_STATE.with(|s| s.into())
}

/// Runs once per instance: a panic (lint-denied, so a bug) is said on the console in one line
/// and marks the instance for the entry to rebuild; an abort schedules the same.
#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        error(&format!("edgecache: Rust panic: {info}"));
        INIT_STATE.with(|s| s.set_critical_error(true));
    }));
    wasm_bindgen::handler::set_on_abort(wasm_bindgen::handler::schedule_reinit);
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(s: &str);

    /// A KV namespace binding.
    pub type Kv;
    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_js(this: &Kv, key: &str, opts: &JsValue) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = put)]
    fn put_js(
        this: &Kv,
        key: &str,
        value: &str,
        opts: &JsValue,
    ) -> std::result::Result<Promise, JsValue>;

    /// A Durable Object namespace binding.
    pub type DoNamespace;
    #[wasm_bindgen(method, catch, js_name = idFromName)]
    fn id_from_name(this: &DoNamespace, name: &str) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_js(this: &DoNamespace, id: &JsValue) -> std::result::Result<Fetcher, JsValue>;

    /// Anything with `fetch(request)`: a Durable Object stub, the assets binding.
    pub type Fetcher;
    #[wasm_bindgen(method, catch, js_name = fetch)]
    fn fetch_js(this: &Fetcher, req: &web_sys::Request) -> std::result::Result<Promise, JsValue>;

    /// A Durable Object's `state.storage`.
    pub type Storage;
    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_js(this: &Storage, key: &str) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = put)]
    fn put_js(this: &Storage, key: &str, v: &JsValue) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = delete)]
    fn delete_js(this: &Storage, keys: &JsValue) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = list)]
    fn list_js(this: &Storage, opts: &JsValue) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = getAlarm)]
    fn get_alarm_js(this: &Storage) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = setAlarm)]
    fn set_alarm_js(this: &Storage, at_ms: f64) -> std::result::Result<Promise, JsValue>;
}

/// `console.error(msg)`.
pub fn error(msg: &str) {
    console_error(msg);
}

/// Awaits a runtime promise.
async fn wait(p: std::result::Result<Promise, JsValue>) -> Result<JsValue> {
    Ok(super::task::wait(&p?).await?)
}

/// A plain object `{ name: value, ... }`.
fn obj(fields: &[(&str, JsValue)]) -> Result<JsValue> {
    let o = Object::new();
    for (k, v) in fields {
        Reflect::set(&o, &JsValue::from_str(k), v)?;
    }
    Ok(o.into())
}

/// The worker's `env`.
#[derive(Clone)]
pub struct Env(JsValue);

impl Env {
    /// Wraps the `env` the runtime passed.
    pub fn new(env: JsValue) -> Self {
        Env(env)
    }

    fn binding(&self, name: &str) -> Result<JsValue> {
        let v = Reflect::get(&self.0, &JsValue::from_str(name))?;
        if v.is_undefined() {
            return Err(Error(format!("no binding {name}")));
        }
        Ok(v)
    }

    /// A var or secret (both are strings on `env`), when set.
    pub fn var(&self, name: &str) -> Option<String> {
        Reflect::get(&self.0, &JsValue::from_str(name))
            .ok()?
            .as_string()
    }

    /// A KV namespace binding.
    pub fn kv(&self, name: &str) -> Result<Kv> {
        Ok(self.binding(name)?.unchecked_into())
    }

    /// A fetcher binding (the assets).
    pub fn fetcher(&self, name: &str) -> Result<Fetcher> {
        Ok(self.binding(name)?.unchecked_into())
    }

    /// The stub of the Durable Object named `object` in namespace `binding`.
    pub fn durable_object(&self, binding: &str, object: &str) -> Result<Fetcher> {
        let ns: DoNamespace = self.binding(binding)?.unchecked_into();
        let id = ns.id_from_name(object)?;
        Ok(ns.get_js(&id)?)
    }
}

/// The worker's execution context (`ctx`).
pub struct Context(JsValue);

impl Context {
    /// Wraps the `ctx` the runtime passed.
    pub fn new(ctx: JsValue) -> Self {
        Context(ctx)
    }

    /// `ctx.waitUntil(fut)`: the work runs on after the response. When the runtime refuses it,
    /// it is said on the console and the work is dropped.
    pub fn wait_until(&self, fut: impl Future<Output = ()> + 'static) {
        // Work that ended at once needs no waiting for.
        let Some(p) = super::task::unfinished(fut) else {
            return;
        };
        let done = Reflect::get(&self.0, &JsValue::from_str("waitUntil"))
            .and_then(|f| f.dyn_into::<js_sys::Function>())
            .and_then(|f| f.call1(&self.0, &p));
        if let Err(e) = done {
            error(&format!("edgecache: waitUntil: {}", Error::from(e)));
        }
    }
}

impl Kv {
    /// `get(key, { type: "text", cacheTtl })`: `None` when absent.
    pub async fn get_text(&self, key: &str, cache_ttl_secs: u64) -> Result<Option<String>> {
        let opts = obj(&[
            ("type", JsValue::from_str("text")),
            ("cacheTtl", JsValue::from_f64(cache_ttl_secs as f64)),
        ])?;
        Ok(wait(self.get_js(key, &opts)).await?.as_string())
    }

    /// `put(key, value, { expirationTtl })` (no options when `None`).
    pub async fn put_text(&self, key: &str, value: &str, ttl_secs: Option<u64>) -> Result<()> {
        let opts = match ttl_secs {
            Some(t) => obj(&[("expirationTtl", JsValue::from_f64(t as f64))])?,
            None => JsValue::UNDEFINED,
        };
        wait(self.put_js(key, value, &opts)).await.map(|_| ())
    }
}

impl Fetcher {
    /// `fetch(request)`.
    pub async fn fetch(&self, req: &web_sys::Request) -> Result<web_sys::Response> {
        Ok(wait(self.fetch_js(req)).await?.dyn_into()?)
    }

    /// `fetch(new Request(url))`: a GET.
    pub async fn get(&self, url: &str) -> Result<web_sys::Response> {
        self.fetch(&web_sys::Request::new_with_str(url)?).await
    }
}

/// A Durable Object's `state`.
pub struct DoState(JsValue);

impl DoState {
    /// Wraps the `state` the runtime passed to the object's constructor.
    pub fn new(state: JsValue) -> Self {
        DoState(state)
    }

    /// `state.storage`.
    pub fn storage(&self) -> Result<Storage> {
        Ok(Reflect::get(&self.0, &JsValue::from_str("storage"))?.unchecked_into())
    }
}

impl Storage {
    /// `get(key)`: `None` when absent.
    pub async fn get(&self, key: &str) -> Result<Option<JsValue>> {
        let v = wait(self.get_js(key)).await?;
        Ok((!v.is_undefined()).then_some(v))
    }

    /// `put(key, value)`.
    pub async fn put(&self, key: &str, v: impl Into<JsValue>) -> Result<()> {
        wait(self.put_js(key, &v.into())).await.map(|_| ())
    }

    /// `delete(key)`.
    pub async fn delete(&self, key: &str) -> Result<()> {
        wait(self.delete_js(&JsValue::from_str(key)))
            .await
            .map(|_| ())
    }

    /// `delete([keys])` (at most 128 keys per call).
    pub async fn delete_many(&self, keys: &[String]) -> Result<()> {
        let a = js_sys::Array::new();
        for k in keys {
            a.push(&JsValue::from_str(k));
        }
        wait(self.delete_js(&a)).await.map(|_| ())
    }

    /// `list({ prefix })` as (key, value) pairs in key order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, JsValue)>> {
        let opts = obj(&[("prefix", JsValue::from_str(prefix))])?;
        let map: js_sys::Map = wait(self.list_js(&opts)).await?.dyn_into()?;
        let mut out = Vec::new();
        for entry in map.entries().into_iter().flatten() {
            let pair = js_sys::Array::from(&entry);
            if let Some(k) = pair.get(0).as_string() {
                out.push((k, pair.get(1)));
            }
        }
        Ok(out)
    }

    /// `getAlarm()`: the alarm's time (epoch ms), `None` when none is set.
    pub async fn get_alarm(&self) -> Result<Option<u64>> {
        Ok(wait(self.get_alarm_js()).await?.as_f64().map(|t| t as u64))
    }

    /// `setAlarm(at)` (epoch ms).
    pub async fn set_alarm(&self, at_ms: u64) -> Result<()> {
        wait(self.set_alarm_js(at_ms as f64)).await.map(|_| ())
    }
}

pub use super::task::Delay;
