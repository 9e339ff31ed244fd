//! The [`MetricsHub`] Durable Object (one instance): aggregates isolates' counter flushes into
//! 10 s buckets (`metrics::Aggregate`), kept in storage under "agg".

use super::conv::{self, json, text};
use super::objects::promise;
use super::rt::{DoState, Result};
use crate::json::Json;
use crate::metrics::{Aggregate, Snapshot};
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
            let loaded = storage
                .get("agg")
                .await
                .ok()
                .flatten()
                .and_then(|v| v.as_string())
                .and_then(|t| Json::parse(&t).ok())
                .and_then(|j| Aggregate::from_json(&j))
                .unwrap_or_default();
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
                let copy = {
                    let mut a = self.agg.borrow_mut();
                    let a = a.get_or_insert_with(Aggregate::default);
                    a.add(&snap, now);
                    a.clone()
                };
                storage.put("agg", copy.to_json()).await?;
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
