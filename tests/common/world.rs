//! The fake world of the lifecycle scenario tests: an in-memory cache that behaves like the
//! Cache API for what edgecache needs (fields, status, body; `s-maxage` keeps), a scripted origin
//! with latency, purge verdicts, and a scheduler that runs many exchanges at once so collapsed
//! requests interleave as they do in an isolate. Deterministic: no threads, no real time.
#![allow(dead_code)]

use edgecache::decision::PurgeState;
use edgecache::lifecycle::{
    Action, Answer, Body, ClientRequest, Event, Exchange, Fields, Isolate, Metric, Now,
    OriginFailure, OriginHead, Stored, STORAGE_ONLY,
};
use edgecache::meta::{EntryMeta, META_HEADER};
use edgecache::policy::Policy;
use edgecache::range::Segment;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::collections::HashMap;

/// Wed, 01 Jan 2025 00:00:00 GMT, in ms.
pub const T0: u64 = 1_735_689_600_000;

/// One scripted origin answer.
#[derive(Clone, Debug)]
pub enum OriginAnswer {
    Ok {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        latency_ms: u64,
    },
    Fail(OriginFailure, u64),
}

pub fn ok(status: u16, headers: &[(&'static str, &str)], body: &str) -> OriginAnswer {
    OriginAnswer::Ok {
        status,
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        body: body.as_bytes().to_vec(),
        latency_ms: 50,
    }
}

pub fn slow(a: OriginAnswer, ms: u64) -> OriginAnswer {
    match a {
        OriginAnswer::Ok {
            status,
            headers,
            body,
            ..
        } => OriginAnswer::Ok {
            status,
            headers,
            body,
            latency_ms: ms,
        },
        OriginAnswer::Fail(f, _) => OriginAnswer::Fail(f, ms),
    }
}

#[derive(Clone, Debug)]
pub struct CacheEntry {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// A request the origin saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub body: Vec<u8>,
    pub url: String,
    pub headers: HeaderMap,
}

/// What a client got.
#[derive(Clone, Debug)]
pub struct Got {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The origin's own response object (an upgrade).
    pub passed_through: bool,
}

impl Got {
    pub fn cache_status(&self) -> String {
        self.headers
            .get("cache-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
    pub fn is_hit(&self) -> bool {
        self.cache_status().starts_with("edgecache; hit")
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The fake world: cache, origin script, purge verdicts, clock.
pub struct World {
    /// The policy every exchange runs under.
    pub policy: &'static Policy,
    pub now: u64,
    pub cache: HashMap<String, CacheEntry>,
    /// Answers per path, taken in order; the last one repeats.
    pub origin: HashMap<String, Vec<OriginAnswer>>,
    pub seen: Vec<Seen>,
    pub purge: HashMap<String, PurgeState>,
    pub iso: Isolate,
    pub metrics: Vec<Metric>,
    pub rand: f64,
}

impl World {
    /// A world whose exchanges run under `policy`.
    pub fn with_policy(policy: &'static Policy) -> Self {
        World {
            policy,
            now: T0,
            cache: HashMap::new(),
            origin: HashMap::new(),
            seen: Vec::new(),
            purge: HashMap::new(),
            iso: Isolate::default(),
            metrics: Vec::new(),
            rand: 0.5,
        }
    }

    pub fn script(&mut self, path: &str, answers: Vec<OriginAnswer>) {
        self.origin.insert(path.to_string(), answers);
    }

    pub fn origin_answer(&mut self, path: &str) -> OriginAnswer {
        let list = self.origin.entry(path.to_string()).or_default();
        match list.len() {
            0 => ok(404, &[], "no script"),
            1 => list.first().cloned().unwrap_or_else(|| ok(404, &[], "")),
            _ => list.remove(0),
        }
    }

    pub fn fetches(&self, path: &str) -> usize {
        self.seen.iter().filter(|s| s.url.contains(path)).count()
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
    }
}

/// One exchange in flight in the scheduler.
pub struct Task {
    pub ex: Exchange<'static>,
    /// The next event and when it is due.
    pub due: u64,
    pub ev: Option<Event>,
    /// Runtime objects the exchange's actions refer to.
    pub entry: Option<CacheEntry>,
    pub entry_body_taken: bool,
    pub origin: Option<(u16, HeaderMap, Vec<u8>)>,
    pub client_body: Vec<u8>,
    pub got: Option<Got>,
    pub done: bool,
}

pub fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> ClientRequest {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    ClientRequest {
        method: method.to_string(),
        url: url::Url::parse(&format!("https://site.example{path}")).expect("url"),
        headers: h,
    }
}

pub fn origin_base() -> url::Url {
    url::Url::parse("http://127.0.0.1:9").expect("origin")
}

impl World {
    /// Runs the requests concurrently (each starts `gap_ms` after the previous) until every
    /// exchange has finished, background work included. Returns what each client got.
    pub fn run_all(&mut self, reqs: Vec<(ClientRequest, Vec<u8>)>, gap_ms: u64) -> Vec<Got> {
        let start = self.now;
        let mut tasks: Vec<Task> = reqs
            .into_iter()
            .enumerate()
            .map(|(i, (r, body))| Task {
                ex: Exchange::new(self.policy, r, origin_base(), false),
                due: start + gap_ms * i as u64,
                ev: Some(Event::Start),
                entry: None,
                entry_body_taken: false,
                origin: None,
                client_body: body,
                got: None,
                done: false,
            })
            .collect();
        let mut guard = 0;
        loop {
            guard += 1;
            assert!(guard < 1_000_000, "the exchanges never finished");
            let Some(i) = tasks
                .iter()
                .enumerate()
                .filter(|(_, t)| !t.done)
                .min_by_key(|(_, t)| t.due)
                .map(|(i, _)| i)
            else {
                break;
            };
            let (due, ev) = {
                let t = &mut tasks[i];
                (t.due, t.ev.take().expect("an event"))
            };
            self.now = self.now.max(due);
            let now = Now {
                ms: self.now,
                rand: self.rand,
            };
            let action = {
                let t = &mut tasks[i];
                let a = t.ex.step(&mut self.iso, ev, now);
                self.metrics.extend(t.ex.take_metrics());
                a
            };
            let (ev, delay) = self.exec(&mut tasks[i], action);
            let t = &mut tasks[i];
            match ev {
                Some(e) => {
                    t.ev = Some(e);
                    t.due = self.now + delay;
                }
                None => t.done = true,
            }
        }
        tasks
            .into_iter()
            .map(|t| t.got.expect("every request is answered"))
            .collect()
    }

    pub fn run(&mut self, r: ClientRequest) -> Got {
        self.run_all(vec![(r, Vec::new())], 0)
            .pop()
            .expect("one answer")
    }

    pub fn get(&mut self, path: &str) -> Got {
        self.run(req("GET", path, &[]))
    }

    /// Carries out one action; the event it leads to and how long it takes.
    pub fn exec(&mut self, t: &mut Task, action: Action) -> (Option<Event>, u64) {
        match action {
            Action::Lookup { key, fields } => {
                let found = self.cache.get(&key).cloned().and_then(|e| {
                    let meta = e
                        .headers
                        .get(META_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(EntryMeta::decode)?;
                    let mut h = HeaderMap::new();
                    for n in &fields {
                        for v in e.headers.get_all(n) {
                            h.append(n.clone(), v.clone());
                        }
                    }
                    t.entry = Some(e.clone());
                    t.entry_body_taken = false;
                    Some(Stored {
                        meta: meta.into(),
                        status: e.status,
                        headers: h,
                    })
                });
                if found.is_none() {
                    t.entry = None;
                }
                (Some(Event::Found(found)), 1)
            }
            Action::ReadStoredHeaders => {
                let found = t.entry.as_ref().and_then(|e| {
                    let meta = e
                        .headers
                        .get(META_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(EntryMeta::decode)?;
                    Some(Stored {
                        meta: meta.into(),
                        status: e.status,
                        headers: e.headers.clone(),
                    })
                });
                (Some(Event::Found(found)), 1)
            }
            Action::CheckPurge(meta) => {
                let p = self
                    .purge
                    .get(&meta.key)
                    .copied()
                    .unwrap_or(PurgeState::Clean);
                (Some(Event::Purge(p)), 1)
            }
            Action::Fetch(r) => {
                self.seen.push(Seen {
                    body: if r.client_body {
                        t.client_body.clone()
                    } else {
                        Vec::new()
                    },
                    method: r.method.clone(),
                    url: r.url.to_string(),
                    headers: r.headers.clone(),
                });
                match self.origin_answer(r.url.path()) {
                    OriginAnswer::Ok {
                        status,
                        headers,
                        body,
                        latency_ms,
                    } => {
                        let mut h = HeaderMap::new();
                        for (k, v) in headers {
                            h.append(
                                HeaderName::from_static(k),
                                HeaderValue::from_str(&v).expect("value"),
                            );
                        }
                        if latency_ms > r.timeout_ms {
                            return (
                                Some(Event::Origin(Err(OriginFailure::Timeout))),
                                r.timeout_ms,
                            );
                        }
                        t.origin = Some((status, h.clone(), body));
                        let head = OriginHead {
                            status,
                            headers: h,
                            request_ms: self.now,
                            response_ms: self.now + latency_ms,
                        };
                        (Some(Event::Origin(Ok(head))), latency_ms)
                    }
                    OriginAnswer::Fail(f, ms) => (Some(Event::Origin(Err(f))), ms),
                }
            }
            Action::Wait { ms } => (Some(Event::Done), ms),
            Action::Delete(keys) => {
                for k in keys {
                    self.cache.remove(&k);
                }
                (Some(Event::Done), 1)
            }
            Action::CheckLock { key } => (Some(Event::Lock(self.cache.contains_key(&key))), 1),
            Action::Lock { key, .. } => {
                self.cache.insert(
                    key,
                    CacheEntry {
                        status: 200,
                        headers: HeaderMap::new(),
                        body: Vec::new(),
                    },
                );
                (Some(Event::Done), 1)
            }
            Action::Respond { answer, store } => {
                assert!(t.got.is_none(), "answered twice");
                // With a store beside it, the client gets (pieces of) the body being stored.
                let bytes = match &store {
                    Some(s) => self.body_bytes(t, &s.body),
                    None => self.body_bytes(t, &answer.body),
                };
                let to_client = match (&answer.body, &store) {
                    (Body::Parts(segs), Some(_)) => assemble(segs, &bytes),
                    _ => bytes.clone(),
                };
                t.got = Some(self.client_response(t, &answer, to_client));
                match store {
                    Some(s) => {
                        let ok = self.put(&s.key, s.status, &s.headers, bytes, s.max_body);
                        // The store finishes when the body has streamed: a little later.
                        (Some(Event::Stored(ok)), 5)
                    }
                    None => (Some(Event::Done), 0),
                }
            }
            Action::PassOriginResponse => {
                let (status, headers, body) = t.origin.take().expect("an origin response");
                t.got = Some(Got {
                    status,
                    headers,
                    body,
                    passed_through: true,
                });
                (Some(Event::Done), 0)
            }
            Action::Store(s) => {
                let bytes = self.body_bytes(t, &s.body);
                let ok = self.put(&s.key, s.status, &s.headers, bytes, s.max_body);
                (Some(Event::Stored(ok)), 5)
            }
            Action::Finish => {
                if t.got.is_none() {
                    panic!("finished without an answer");
                }
                (None, 0)
            }
        }
    }

    pub fn body_bytes(&mut self, t: &mut Task, b: &Body) -> Vec<u8> {
        match b {
            Body::Empty => Vec::new(),
            Body::Fixed(v) => v.clone(),
            Body::Origin => t.origin.as_ref().map(|o| o.2.clone()).unwrap_or_default(),
            Body::Stored => {
                t.entry_body_taken = true;
                t.entry.as_ref().map(|e| e.body.clone()).unwrap_or_default()
            }
            Body::Parts(segs) => {
                let all = t.entry.as_ref().map(|e| e.body.clone()).unwrap_or_default();
                assemble(segs, &all)
            }
        }
    }

    pub fn client_response(&self, t: &Task, a: &Answer, body: Vec<u8>) -> Got {
        assert!(
            (200..=599).contains(&a.status),
            "a status the runtime refuses: {}",
            a.status
        );
        let headers = match &a.fields {
            Fields::Own(h) => h.clone(),
            Fields::Stored { replace, with } => {
                let mut h = t.entry.as_ref().expect("a stored entry").headers.clone();
                for n in &STORAGE_ONLY {
                    h.remove(n);
                }
                for n in replace {
                    h.remove(n);
                    for v in with.get_all(n) {
                        h.append(n.clone(), v.clone());
                    }
                }
                h
            }
        };
        assert!(!headers.contains_key(META_HEADER), "metadata leaked");
        let body = match a.body {
            Body::Empty => Vec::new(),
            _ => body,
        };
        Got {
            status: a.status,
            headers,
            body,
            passed_through: false,
        }
    }

    /// The Cache API's put: refuses what it refuses (Set-Cookie, private, no-store).
    pub fn put(&mut self, key: &str, status: u16, h: &HeaderMap, body: Vec<u8>, max: u64) -> bool {
        let cc = h
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if h.contains_key("set-cookie")
            || cc.contains("private")
            || cc.contains("no-store")
            || status == 206
            || body.len() as u64 > max
        {
            return false;
        }
        self.cache.insert(
            key.to_string(),
            CacheEntry {
                status,
                headers: h.clone(),
                body,
            },
        );
        true
    }

    pub fn count(&self, f: impl Fn(&Metric) -> bool) -> usize {
        self.metrics.iter().filter(|m| f(m)).count()
    }
}

pub fn header(g: &Got, name: &str) -> Option<String> {
    g.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The bytes of a body made of `segs`, ranges taken from `all`.
pub fn assemble(segs: &[Segment], all: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for seg in segs {
        match seg {
            Segment::Bytes(b) => out.extend_from_slice(b),
            Segment::Range { start, end } => {
                out.extend_from_slice(&all[*start as usize..=*end as usize])
            }
        }
    }
    out
}
