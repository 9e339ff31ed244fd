//! The executor: carries out the actions of a [`crate::lifecycle::Exchange`] with runtime calls
//! and feeds back what happened. Every decision and every step is the core's; this file only
//! moves bytes (see `io` for the calls themselves).

use super::conv::{now_ms, rand01};
use super::io::{self, JsBody};
use super::rt::{Context, Env};
use super::{metrics, purge_check, state};
use crate::lifecycle::{
    Action, Answer, Body, ClientRequest, Event, Exchange, Fields, Isolate, Now, StoreCmd, Stored,
};
use crate::meta::{EntryMeta, MetaMemo, META_HEADER};
use http::HeaderMap;
use std::cell::{Cell, RefCell};
use web_sys::{ReadableStream, Response};

thread_local! {
    static ISOLATE: RefCell<Isolate> = RefCell::new(Isolate::default());
    static METAS: RefCell<MetaMemo> = RefCell::new(MetaMemo::default());
}

/// An entry's metadata from its field's text, through the isolate's memo.
fn decode_meta(text: &str) -> Option<std::rc::Rc<EntryMeta>> {
    METAS.with(|m| m.borrow_mut().decode(text))
}

/// Request settings read from the environment once per request.
pub struct Ctx<'a> {
    /// Worker environment.
    pub env: &'a Env,
    /// Execution context (for `wait_until`).
    pub ctx: &'a Context,
    /// Where origin requests go (ORIGIN / ORIGIN_HOST, see `crate::origin`).
    pub origin: std::rc::Rc<crate::origin::OriginMode>,
    /// Whether to send the debug header.
    pub debug: bool,
}

/// The runtime objects an exchange's actions refer to.
#[derive(Default)]
struct Held {
    /// The entry found last: its runtime headers, unread body and key.
    entry: Option<(web_sys::Headers, Option<ReadableStream>, String)>,
    /// The origin response last fetched (its body unread until named).
    origin: Option<Response>,
    /// The client's request body, for a pass-through.
    client_body: Option<ReadableStream>,
    /// Header fields dropped on the way (not representable).
    dropped: u64,
    /// The longest gap between origin body chunks: the last origin request's timeout.
    gap_ms: u64,
    /// The last origin response's announced length (see `lifecycle::identity_length`).
    origin_len: Option<u64>,
}

/// What one action led to.
enum Step {
    Next(Event),
    Answer(Response, Option<StoreJob>),
    Finish,
}

/// A store that runs on after the answer (its body is one branch of a tee).
struct StoreJob {
    key: String,
    resp: Response,
    /// Set when the stored body failed on the way (cut, stalled, too large).
    failed: io::Flag,
}

thread_local! {
    static JITTER: Cell<u64> = const { Cell::new(0) };
}

/// A uniform number in `[0, 1)` for the core's per-step jitter (XFetch early refresh, TTL
/// jitter): xorshift64* seeded once per isolate from `Math.random`, so a step costs no runtime
/// call for it. Not for anything that must be unpredictable (purge ids use [`rand01`]).
fn jitter01() -> f64 {
    JITTER.with(|j| {
        let mut x = j.get();
        if x == 0 {
            // 53 random bits from the runtime, never zero (xorshift's fixed point).
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "[0, 2^53)"
            )]
            let seed = (rand01() * TWO_53) as u64;
            x = seed | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        j.set(x);
        // The top 53 bits of the scrambled state, as a fraction.
        #[allow(clippy::cast_precision_loss, reason = "53 bits fit an f64 exactly")]
        let top = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64;
        top / TWO_53
    })
}

/// 2^53, the f64 mantissa's reach.
const TWO_53: f64 = 9_007_199_254_740_992.0;

fn now() -> Now {
    Now {
        ms: now_ms(),
        rand: jitter01(),
    }
}

/// Ends an unfinished flight when the request's future is dropped (its client went away), so
/// waiters do not wait for it.
struct Guard(Option<(String, u64)>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some((k, t)) = self.0.take() {
            ISOLATE.with(|i| i.borrow_mut().abandon(&k, t));
        }
    }
}

fn step(ex: &mut Exchange<'static>, ev: Event) -> Action {
    let a = ISOLATE.with(|i| ex.step(&mut i.borrow_mut(), ev, now()));
    let rule = ex.rule();
    for m in ex.take_metrics() {
        metrics::record(rule, &m);
    }
    a
}

/// Handles a site request.
pub async fn handle(
    req: web_sys::Request,
    url: url::Url,
    c: &Ctx<'_>,
) -> super::rt::Result<Response> {
    purge_check::refresh_if_due(c.env, c.ctx, now_ms());
    let mut held = Held {
        client_body: req.body(),
        ..Held::default()
    };
    let headers = io::fields_of(&req.headers(), &mut held.dropped);
    let creq = ClientRequest {
        method: req.method(),
        url,
        headers,
    };
    let mut ex = Exchange::with_origin(state::policy(), creq, c.origin.clone(), c.debug);
    let mut guard = Guard(None);
    let mut ev = Event::Start;
    loop {
        let action = step(&mut ex, ev);
        guard.0 = ex.led_flight().map(|(k, t)| (k.to_string(), t));
        match exec(action, &mut held, c.env).await {
            Step::Next(e) => ev = e,
            Step::Answer(resp, store) => {
                // The rest (the store, flight end, refresh, deletes) runs after the answer.
                let next = match store {
                    Some(job) => Next::Store(job),
                    // Nothing to wait for: the core's next step is known now. A plain hit ends
                    // here, without a background task (no `wait_until` promise per hit).
                    None => {
                        let a = step(&mut ex, Event::Done);
                        guard.0 = ex.led_flight().map(|(k, t)| (k.to_string(), t));
                        match a {
                            Action::Finish => {
                                count_dropped(&ex, &held);
                                return Ok(resp);
                            }
                            a => Next::Act(a),
                        }
                    }
                };
                // The flight goes with the task: if it is dropped unfinished, its waiters are
                // freed.
                let flight = guard.0.take();
                let env = c.env.clone();
                c.ctx.wait_until(async move {
                    let _flight = Guard(flight);
                    let first = match next {
                        Next::Store(job) => Event::Stored(finish_store(job).await),
                        Next::Act(a) => match exec(a, &mut held, &env).await {
                            Step::Next(e) => e,
                            Step::Answer(..) | Step::Finish => {
                                count_dropped(&ex, &held);
                                return;
                            }
                        },
                    };
                    background(ex, held, first, env).await;
                });
                return Ok(resp);
            }
            Step::Finish => {
                return io::response(500, &web_sys::Headers::new()?, JsBody::Empty)
                    .map_err(super::rt::Error)
            }
        }
    }
}

/// Runs the steps after the answer, in `wait_until`.
async fn background(mut ex: Exchange<'static>, mut held: Held, mut ev: Event, env: Env) {
    loop {
        let action = step(&mut ex, ev);
        if matches!(action, Action::Finish) {
            break;
        }
        match exec(action, &mut held, &env).await {
            Step::Next(e) => ev = e,
            // Nothing is answered twice: a second answer ends the exchange.
            Step::Answer(..) | Step::Finish => break,
        }
    }
    count_dropped(&ex, &held);
}

/// What runs first after the answer.
enum Next {
    Store(StoreJob),
    Act(Action),
}

fn count_dropped(ex: &Exchange<'static>, held: &Held) {
    if held.dropped > 0 {
        metrics::headers_dropped(ex.rule(), held.dropped);
    }
}

/// Runs a store to its end. A body that errored on the way is never left in the cache: a runtime
/// may commit what arrived before the error (the local one does) and `cache.put` resolves
/// whether or not it stored anything (Cloudflare's docs), so once the body has failed the entry
/// is deleted again, without waiting for a put that may never settle.
async fn finish_store(job: StoreJob) -> bool {
    use futures_util::future::{select, Either};
    let put = Box::pin(io::cache_put(&job.key, &job.resp));
    let failed = job.failed.clone();
    let watch = Box::pin(async move {
        while !failed.get() {
            super::rt::Delay::ms(STORE_WATCH_MS).await;
        }
        // Let a put that is still committing what arrived finish first.
        super::rt::Delay::ms(STORE_SETTLE_MS).await;
    });
    let put = match select(put, watch).await {
        Either::Left((r, _)) => Some(r),
        Either::Right(_) => None,
    };
    job.failed.release();
    if job.failed.get() {
        console_error!(
            "edgecache: not stored {}: the body failed on the way",
            job.key
        );
        if let Err(e) = io::cache_delete(&job.key).await {
            console_error!("edgecache: cache.delete failed for {}: {e}", job.key);
        }
        return false;
    }
    match put {
        Some(Ok(())) => true,
        Some(Err(e)) => {
            console_error!("edgecache: not stored {}: {e}", job.key);
            false
        }
        None => false,
    }
}

/// How often a running store looks at its body's fate (milliseconds).
const STORE_WATCH_MS: u64 = 50;
/// How long after its body failed a store's partial commit is given before it is deleted.
const STORE_SETTLE_MS: u64 = 500;

/// Carries out one action.
async fn exec(action: Action, held: &mut Held, env: &Env) -> Step {
    match action {
        Action::Lookup { key, fields } => {
            Step::Next(Event::Found(lookup(held, &key, &fields).await))
        }
        Action::ReadStoredHeaders => {
            let found = held.entry.as_ref().and_then(|(h, _, _)| {
                let mut d = 0;
                let all = io::fields_of(h, &mut d);
                stored_of(h, all)
            });
            Step::Next(Event::Found(found))
        }
        Action::CheckPurge(meta) => {
            Step::Next(Event::Purge(purge_check::state(env, &meta, now_ms()).await))
        }
        Action::Fetch(req) => {
            let body = if req.client_body {
                held.client_body.take()
            } else {
                None
            };
            held.gap_ms = req.timeout_ms;
            match io::fetch(&req, body, &mut held.dropped).await {
                Ok((head, resp)) => {
                    held.origin_len = crate::lifecycle::identity_length(&head.headers);
                    held.origin = Some(resp);
                    Step::Next(Event::Origin(Ok(head)))
                }
                Err(e) => Step::Next(Event::Origin(Err(e))),
            }
        }
        Action::Wait { ms } => {
            super::rt::Delay::ms(ms).await;
            Step::Next(Event::Done)
        }
        Action::Delete(keys) => {
            for k in keys {
                if let Err(e) = io::cache_delete(&k).await {
                    console_error!("edgecache: cache.delete failed for {k}: {e}");
                }
            }
            Step::Next(Event::Done)
        }
        Action::CheckLock { key } => Step::Next(Event::Lock(matches!(
            io::cache_match(&key).await,
            Ok(Some(_))
        ))),
        Action::Lock { key, keep_secs } => {
            let put = web_sys::Headers::new()
                .map_err(|e| io::js_err(&e))
                .and_then(|h| {
                    h.set("cache-control", &format!("public, s-maxage={keep_secs}"))
                        .map_err(|e| io::js_err(&e))?;
                    io::response(200, &h, JsBody::Empty)
                });
            if let Ok(r) = put {
                let _ = io::cache_put(&key, &r).await;
            }
            Step::Next(Event::Done)
        }
        Action::Respond { answer, store } => {
            match answer_with(held, &answer, store.as_deref()).await {
                Ok((resp, job)) => Step::Answer(resp, job),
                Err(e) => {
                    console_error!("edgecache: could not build the response: {e}");
                    match fallback_502() {
                        Ok(r) => Step::Answer(r, None),
                        Err(_) => Step::Finish,
                    }
                }
            }
        }
        Action::PassOriginResponse => match held.origin.take() {
            Some(r) => Step::Answer(r, None),
            None => Step::Finish,
        },
        Action::Store(cmd) => {
            let ok = match store_only(held, &cmd).await {
                Some(job) => finish_store(job).await,
                None => false,
            };
            Step::Next(Event::Stored(ok))
        }
        Action::Finish => Step::Finish,
    }
}

/// A stored entry for the core: metadata, status and the wanted fields.
fn stored_of(h: &web_sys::Headers, fields: HeaderMap) -> Option<Stored> {
    let meta = io::get_field(h, META_HEADER)
        .as_deref()
        .and_then(decode_meta)?;
    Some(Stored {
        status: meta.status,
        meta,
        headers: fields,
    })
}

async fn lookup(held: &mut Held, key: &str, fields: &[http::HeaderName]) -> Option<Stored> {
    held.entry = None;
    let resp = match io::cache_match(key).await {
        Ok(Some(r)) => r,
        Ok(None) => return None,
        Err(e) => {
            console_error!("edgecache: cache lookup failed for {key}: {e}");
            return None;
        }
    };
    let js = resp.headers();
    // All stored fields in one string (two runtime calls), then only the wanted ones converted:
    // one `get` per field would cost a call and a string each.
    let all = io::all_field_bytes(&js);
    let mut wanted = HeaderMap::with_capacity(fields.len());
    let mut meta = None;
    for (k, v) in io::pairs(io::text_of(&all)) {
        if k == META_HEADER {
            meta = decode_meta(v);
        } else if let Some(n) = fields.iter().find(|n| n.as_str() == k) {
            if let Ok(v) = io::field_value(&all, v) {
                wanted.append(n.clone(), v);
            }
        }
    }
    let meta = meta?;
    let mut s = Stored {
        status: meta.status,
        meta,
        headers: wanted,
    };
    s.status = resp.status();
    held.entry = Some((js, resp.body(), key.to_string()));
    Some(s)
}

/// The stored body: the lookup's stream if unread, else read again from the cache.
async fn stored_body(held: &mut Held) -> Option<ReadableStream> {
    let (_, body, key) = held.entry.as_mut()?;
    if let Some(b) = body.take() {
        return Some(b);
    }
    let key = key.clone();
    io::cache_match(&key).await.ok().flatten()?.body()
}

/// Where a body stream comes from.
#[derive(Clone, Copy)]
enum Src {
    /// The origin: checked on its way by `io::split` (the gaps between chunks, the length).
    Origin { gap_ms: u64, expect: Option<u64> },
    /// The cache.
    Stored,
}

/// The origin body as the runtime gives it (checked where it is split: [`to_client`], `answer_with`).
fn origin_body(held: &mut Held) -> Option<(ReadableStream, Src)> {
    let resp = held.origin.take()?;
    let body = resp.body()?;
    let src = Src::Origin {
        gap_ms: held.gap_ms.max(1),
        expect: held.origin_len,
    };
    Some((body, src))
}

async fn body_stream(held: &mut Held, body: &Body) -> Option<(ReadableStream, Src)> {
    match body {
        Body::Origin => origin_body(held),
        Body::Stored => stored_body(held).await.map(|b| (b, Src::Stored)),
        Body::Parts(segs) => Some((parts(stored_body(held).await?, segs), Src::Stored)),
        Body::Empty | Body::Fixed(_) => None,
    }
}

impl Src {
    /// The checks a body from here needs on its way (a store adds its size limit).
    fn checks(self, limit: Option<u64>) -> io::Checks {
        match self {
            Src::Origin { gap_ms, expect } => io::Checks {
                gap_ms: Some(gap_ms),
                expect,
                limit,
            },
            Src::Stored => io::Checks {
                limit,
                ..io::Checks::default()
            },
        }
    }
}

/// The client's copy of a body: an origin body of announced length goes on through
/// [`io::fixed_length`], so the response carries that length.
fn with_length(s: ReadableStream, src: Src) -> ReadableStream {
    match src {
        Src::Origin {
            expect: Some(n), ..
        } => io::fixed_length(&s, n).unwrap_or(s),
        _ => s,
    }
}

/// A body for the client alone. An origin body is guarded (see [`io::split`]): a stall longer
/// than the timeout, or an end short of the announced length, errors it.
fn to_client(s: ReadableStream, src: Src) -> Result<ReadableStream, String> {
    match src {
        Src::Origin { .. } => {
            let out = io::split(&s, src.checks(None), &io::Flag::new(), true, false)?;
            let c = out.client.ok_or("no client stream")?;
            Ok(with_length(c, src))
        }
        Src::Stored => Ok(s),
    }
}

/// The pieces `segs` of `body` (a range answer), with their exact length.
fn parts(body: ReadableStream, segs: &[crate::range::Segment]) -> ReadableStream {
    let len = crate::range::body_length(segs);
    let s = io::segments(body, segs.to_vec());
    io::fixed_length(&s, len).unwrap_or(s)
}

fn fields_for(held: &mut Held, fields: &Fields) -> Result<web_sys::Headers, String> {
    match fields {
        Fields::Own(h) => io::js_fields(h, &mut held.dropped),
        Fields::Stored { replace, with } => {
            let base = held
                .entry
                .as_ref()
                .map(|(h, _, _)| h)
                .ok_or("no stored entry")?;
            let out = web_sys::Headers::new_with_headers(base).map_err(|e| io::js_err(&e))?;
            for n in replace {
                out.delete(n.as_str()).map_err(|e| io::js_err(&e))?;
            }
            // Appended straight from the core's fields: no second `Headers` to build and
            // iterate back.
            io::append_fields(&out, with, &mut held.dropped);
            Ok(out)
        }
    }
}

/// The client's response: from a stored entry's fields in one runtime call
/// ([`io::stored_response`]); if the runtime refuses that (a field it will not take), field by
/// field, dropping and counting what it refuses.
fn client_response(
    held: &mut Held,
    answer: &Answer,
    body: impl Fn() -> JsBody,
) -> Result<Response, String> {
    if let (Fields::Stored { replace, with }, Some((base, _, _))) = (&answer.fields, &held.entry) {
        if let Ok(r) = io::stored_response(base, answer.status, body(), replace, with) {
            return Ok(r);
        }
    }
    let headers = fields_for(held, &answer.fields)?;
    io::response(answer.status, &headers, body())
}

/// The client's response, and the store that runs beside it (a tee of the same body).
async fn answer_with(
    held: &mut Held,
    answer: &Answer,
    store: Option<&StoreCmd>,
) -> Result<(Response, Option<StoreJob>), String> {
    let client_wants = !matches!(answer.body, Body::Empty);
    let mut job = None;
    let client_body = match store {
        Some(cmd) => match body_stream(held, &cmd.body).await {
            // One reader feeds both copies in step (see io::split).
            Some((s, src)) => {
                let failed = io::Flag::new();
                let out = io::split(
                    &s,
                    src.checks(Some(cmd.max_body)),
                    &failed,
                    client_wants,
                    true,
                )?;
                job = out
                    .store
                    .and_then(|b| store_job(held, cmd, b, failed.clone()).ok());
                if job.is_none() {
                    failed.release();
                }
                out.client.map(|c| match &answer.body {
                    Body::Parts(segs) => parts(c, segs),
                    _ => with_length(c, src),
                })
            }
            None => None,
        },
        None => match body_stream(held, &answer.body).await {
            Some((s, src)) => Some(to_client(s, src)?),
            None => None,
        },
    };
    let body = || match (&answer.body, &client_body) {
        (Body::Fixed(b), _) => JsBody::Bytes(b.clone()),
        (Body::Empty, _) => JsBody::Empty,
        (_, Some(s)) => JsBody::Stream(s.clone()),
        (_, None) => JsBody::Empty,
    };
    let resp = client_response(held, answer, body)?;
    Ok((resp, job))
}

/// A store of `body` (the store's copy from [`io::split`], `failed` its flag).
fn store_job(
    held: &mut Held,
    cmd: &StoreCmd,
    limited: ReadableStream,
    failed: io::Flag,
) -> Result<StoreJob, String> {
    let headers = io::js_fields(&cmd.headers, &mut held.dropped)?;
    let resp = io::response(cmd.status, &headers, JsBody::Stream(limited))?;
    Ok(StoreJob {
        key: cmd.key.clone(),
        resp,
        failed,
    })
}

async fn store_only(held: &mut Held, cmd: &StoreCmd) -> Option<StoreJob> {
    let (body, src) = body_stream(held, &cmd.body).await?;
    let failed = io::Flag::new();
    let out = io::split(&body, src.checks(Some(cmd.max_body)), &failed, false, true).ok()?;
    let job = store_job(held, cmd, out.store?, failed.clone()).ok();
    if job.is_none() {
        failed.release();
    }
    job
}

fn fallback_502() -> Result<Response, String> {
    let h = web_sys::Headers::new().map_err(|e| io::js_err(&e))?;
    let _ = h.set("content-type", "text/plain; charset=utf-8");
    let _ = h.set("cache-control", "no-store");
    let _ = h.set(
        "cache-status",
        "edgecache; fwd=uri-miss; detail=bad-origin-response",
    );
    io::response(
        502,
        &h,
        JsBody::Bytes(b"502 Bad Gateway: the origin's response could not be forwarded.\n".to_vec()),
    )
}
