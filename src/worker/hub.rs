//! The [`MetricsHub`] Durable Object (one instance): aggregates isolates' counter flushes into
//! 10 s buckets (`metrics::Aggregate`). Stored split: the totals under `metrics::TOTAL_KEY` and
//! each bucket under its own key (`metrics::bucket_key`), so a flush writes two small values
//! whatever the hour holds (it wrote the whole hour, up to 360 buckets, on every flush before;
//! that form, under `metrics::LEGACY_KEY`, is read once and converted).

use super::conv::{self, json, text};
use super::objects::promise;
use super::rt::{DoState, Result};
use crate::json::Json;
use crate::metrics::{Aggregate, Snapshot, BUCKET_PREFIX, LEGACY_KEY, TOTAL_KEY};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{Request, Response};

/// Aggregates metrics flushes into time buckets.
#[wasm_bindgen]
pub struct MetricsHub(Rc<Hub>);

#[wasm_bindgen]
impl MetricsHub {
    /// `new MetricsHub(state, env)`, as the runtime constructs a Durable Object.
    #[wasm_bindgen(constructor)]
    pub fn new(state: JsValue, _env: JsValue) -> MetricsHub {
        MetricsHub(Rc::new(Hub {
            state: DoState::new(state),
            agg: RefCell::new(None),
        }))
    }

    /// `fetch(request)`.
    pub fn fetch(&self, req: Request) -> js_sys::Promise {
        let me = self.0.clone();
        promise(async move { me.fetch(req).await })
    }
}

struct Hub {
    state: DoState,
    agg: RefCell<Option<Aggregate>>,
}

impl Hub {
    async fn fetch(&self, req: Request) -> Result<Response> {
        let storage = self.state.storage()?;
        if self.agg.borrow().is_none() {
            let loaded = load(&storage).await;
            let mut slot = self.agg.borrow_mut();
            if slot.is_none() {
                *slot = Some(loaded);
            }
        }
        let now = conv::now_ms();
        match conv::path(&req).as_str() {
            "/add" => {
                let body = conv::body_text(req.text()).await?;
                let Some(snap) = Json::parse(&body)
                    .ok()
                    .as_ref()
                    .and_then(Snapshot::from_json)
                else {
                    return text(400, "bad snapshot");
                };
                let writes = {
                    let mut a = self.agg.borrow_mut();
                    a.get_or_insert_with(Aggregate::default).add(&snap, now)
                };
                for (k, v) in &writes.put {
                    storage.put(k, v.as_str()).await?;
                }
                if !writes.delete.is_empty() {
                    storage.delete_many(&writes.delete).await?;
                }
                text(200, "ok")
            }
            "/stats" => {
                let stats = self
                    .agg
                    .borrow()
                    .as_ref()
                    .map(|a| a.to_stats_json(now))
                    .unwrap_or_else(|| Aggregate::default().to_stats_json(now));
                json(200, &stats)
            }
            _ => text(404, "not found"),
        }
    }
}

/// The stored aggregate: the split form, or the single value it replaced (then written split
/// once and the old key deleted). Values that do not read are skipped; nothing stored is an
/// empty aggregate.
async fn load(storage: &super::rt::Storage) -> Aggregate {
    let text = |v: JsValue| v.as_string();
    let total = storage.get(TOTAL_KEY).await.ok().flatten().and_then(text);
    if total.is_none() {
        let legacy = storage
            .get(LEGACY_KEY)
            .await
            .ok()
            .flatten()
            .and_then(text)
            .and_then(|t| Json::parse(&t).ok())
            .and_then(|j| Aggregate::from_json(&j));
        if let Some(a) = legacy {
            // The buckets first, the totals last: until the totals are written, a later load
            // converts again (and the old value stays until then).
            let parts = a.stored();
            let (first, rest) = parts
                .split_first()
                .map_or((None, &[][..]), |(f, r)| (Some(f), r));
            for (k, v) in rest.iter().chain(first) {
                if storage.put(k, v.as_str()).await.is_err() {
                    return a;
                }
            }
            let _ = storage.delete(LEGACY_KEY).await;
            return a;
        }
    }
    let buckets: Vec<(String, String)> = storage
        .list(BUCKET_PREFIX)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_string()?)))
        .collect();
    Aggregate::from_stored(total.as_deref(), &buckets)
}
