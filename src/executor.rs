//! A single-threaded executor for the Workers adapter's futures, and the slots through which
//! they await the runtime's promises (issue 16: the hit path's fixed cost).
//!
//! wasm-bindgen's own executor (`wasm-bindgen-futures`) pays, for every awaited promise, two
//! closures exported to JavaScript with their finalizer registrations, and for every wake-up a
//! `queueMicrotask`; an `async` export adds a `Promise` built around another closure. On a cache
//! hit that machinery was about a fifth of the isolate's time (bench/profile.mjs). Here:
//!
//! - A task runs **at once** when it is started or woken, if no task is running (else it is
//!   queued and run by the loop already running): a promise's settlement is already a microtask
//!   of its own, so no second one is scheduled.
//! - A promise is awaited through a numbered **slot**: the adapter asks the runtime once to call
//!   one callback, the same for every promise, with the slot's number and the outcome
//!   ([`Slots::settle`]). Nothing is created per await but the slot's entry.
//! - [`start`] says whether the work finished at once: a plain hit then returns its response
//!   without any promise of ours around it.
//!
//! No I/O, no runtime types: the adapter (`worker::task`) binds it to JavaScript; the host tests
//! below drive it with their own settlements.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

type Job = Pin<Box<dyn Future<Output = ()>>>;

/// A task's place: its generation tells a stale waker from the task now there.
struct Entry {
    gen: u32,
    /// The future; `None` while it is being polled (or once the place is free).
    fut: Option<Job>,
    live: bool,
    queued: bool,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Tasks {
    entries: Vec<Entry>,
    free: Vec<u32>,
}

thread_local! {
    static TASKS: RefCell<Tasks> = RefCell::new(Tasks::default());
    static QUEUE: RefCell<VecDeque<(u32, u32)>> = const { RefCell::new(VecDeque::new()) };
    static RUNNING: Cell<bool> = const { Cell::new(false) };
}

/// What a waker names: a task's place and generation.
struct Token {
    idx: u32,
    gen: u32,
}

impl Wake for Token {
    fn wake(self: Arc<Self>) {
        wake(self.idx, self.gen);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        wake(self.idx, self.gen);
    }
}

fn wake(idx: u32, gen: u32) {
    let queue = TASKS.with(|t| {
        let mut t = t.borrow_mut();
        match t.entries.get_mut(idx as usize) {
            Some(e) if e.live && e.gen == gen && !e.queued => {
                e.queued = true;
                true
            }
            _ => false,
        }
    });
    if queue {
        QUEUE.with(|q| q.borrow_mut().push_back((idx, gen)));
        run();
    }
}

/// Runs queued tasks until none is left, unless a loop is running already (a wake-up from
/// inside a task's poll: that loop runs it next).
fn run() {
    if RUNNING.with(|r| r.replace(true)) {
        return;
    }
    while let Some((idx, gen)) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        poll_task(idx, gen);
    }
    RUNNING.with(|r| r.set(false));
}

/// Polls the task at `idx` once, if it is still the one of generation `gen`. Only with
/// `RUNNING` set: a wake-up during the poll then queues the task instead of polling it again
/// from inside its own poll.
fn poll_task(idx: u32, gen: u32) {
    let taken = TASKS.with(|t| {
        let mut t = t.borrow_mut();
        match t.entries.get_mut(idx as usize) {
            Some(e) if e.live && e.gen == gen => {
                e.queued = false;
                e.fut.take().zip(e.waker.clone())
            }
            _ => None,
        }
    });
    let Some((mut fut, waker)) = taken else {
        return;
    };
    let mut cx = Context::from_waker(&waker);
    match fut.as_mut().poll(&mut cx) {
        Poll::Pending => TASKS.with(|t| {
            if let Some(e) = t.borrow_mut().entries.get_mut(idx as usize) {
                e.fut = Some(fut);
            }
        }),
        Poll::Ready(()) => {
            TASKS.with(|t| {
                let mut t = t.borrow_mut();
                if let Some(e) = t.entries.get_mut(idx as usize) {
                    e.live = false;
                    e.queued = false;
                    e.waker = None;
                    e.gen = e.gen.wrapping_add(1);
                    t.free.push(idx);
                }
            });
            // Dropped outside the table: a drop may wake or start other tasks.
            drop(fut);
        }
    }
}

/// Runs `fut` as a task, polled at once (also when started from inside another task's poll:
/// work that needs no I/O ends before `spawn` returns).
pub fn spawn(fut: impl Future<Output = ()> + 'static) {
    let job: Job = Box::pin(fut);
    let placed = TASKS.with(|t| {
        let mut t = t.borrow_mut();
        let idx = match t.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(t.entries.len()).unwrap_or(u32::MAX);
                t.entries.push(Entry {
                    gen: 0,
                    fut: None,
                    live: false,
                    queued: false,
                    waker: None,
                });
                i
            }
        };
        let e = t.entries.get_mut(idx as usize)?;
        let gen = e.gen;
        e.live = true;
        e.queued = false;
        e.fut = Some(job);
        e.waker = Some(Waker::from(Arc::new(Token { idx, gen })));
        Some((idx, gen))
    });
    if let Some((idx, gen)) = placed {
        let was_running = RUNNING.with(|r| r.replace(true));
        poll_task(idx, gen);
        RUNNING.with(|r| r.set(was_running));
        if !was_running {
            // What the first poll woke.
            run();
        }
    }
}

/// How many tasks are unfinished (for tests and leak checks).
pub fn live_tasks() -> usize {
    TASKS.with(|t| t.borrow().entries.iter().filter(|e| e.live).count())
}

/// The outcome of work that did not finish at once (see [`start`]).
pub struct Later<T>(Rc<RefCell<Outcome<T>>>);

enum Outcome<T> {
    Running(Option<Box<dyn FnOnce(T)>>),
    Done(T),
    Taken,
}

impl<T: 'static> Later<T> {
    /// Calls `f` with the output when the work finishes (at once if it has).
    pub fn then(self, f: impl FnOnce(T) + 'static) {
        let done = {
            let mut o = self.0.borrow_mut();
            match std::mem::replace(&mut *o, Outcome::Taken) {
                Outcome::Done(v) => Some(v),
                Outcome::Running(_) | Outcome::Taken => {
                    *o = Outcome::Running(Some(Box::new(f)));
                    return;
                }
            }
        };
        if let Some(v) = done {
            f(v);
        }
    }
}

/// Runs `fut` as a task (see [`spawn`]): its output when it finished at once, else a
/// [`Later`] that hands it on when it does.
pub fn start<T: 'static>(fut: impl Future<Output = T> + 'static) -> Result<T, Later<T>> {
    let cell = Rc::new(RefCell::new(Outcome::Running(None)));
    let out = cell.clone();
    spawn(async move {
        let v = fut.await;
        let then = {
            let mut o = out.borrow_mut();
            match std::mem::replace(&mut *o, Outcome::Taken) {
                Outcome::Running(Some(f)) => Some(f),
                Outcome::Running(None) | Outcome::Done(_) | Outcome::Taken => {
                    *o = Outcome::Done(v);
                    return;
                }
            }
        };
        if let Some(f) = then {
            f(v);
        }
    });
    let done = {
        let mut o = cell.borrow_mut();
        match std::mem::replace(&mut *o, Outcome::Taken) {
            Outcome::Done(v) => Some(v),
            other => {
                *o = other;
                None
            }
        }
    };
    done.ok_or(Later(cell))
}

/// A slot's state.
enum Slot<T> {
    Vacant,
    /// Its promise is unsettled; the waker of the task awaiting it.
    Waiting(Option<Waker>),
    Done(T),
    /// Its awaiter is gone: the settlement, when it comes, frees the slot.
    Abandoned,
}

/// The slots awaited promises settle into, numbered.
pub struct Slots<T> {
    slots: RefCell<Vec<Slot<T>>>,
    free: RefCell<Vec<u32>>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self {
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
        }
    }
}

impl<T> Slots<T> {
    /// A slot for a promise about to be awaited: its number.
    pub fn open(&self) -> u32 {
        if let Some(i) = self.free.borrow_mut().pop() {
            if let Some(s) = self.slots.borrow_mut().get_mut(i as usize) {
                *s = Slot::Waiting(None);
            }
            return i;
        }
        let mut v = self.slots.borrow_mut();
        v.push(Slot::Waiting(None));
        u32::try_from(v.len() - 1).unwrap_or(u32::MAX)
    }

    /// The promise of slot `id` settled with `v`: its awaiter is woken (or, gone, the slot freed).
    pub fn settle(&self, id: u32, v: T) {
        let (waker, dropped) = {
            let mut slots = self.slots.borrow_mut();
            let Some(s) = slots.get_mut(id as usize) else {
                return;
            };
            match std::mem::replace(s, Slot::Vacant) {
                Slot::Waiting(w) => {
                    *s = Slot::Done(v);
                    (w, None)
                }
                Slot::Abandoned => {
                    self.free.borrow_mut().push(id);
                    (None, Some(v))
                }
                // Settled twice, or never opened: the first outcome stands.
                other => {
                    *s = other;
                    (None, Some(v))
                }
            }
        };
        drop(dropped);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Polls slot `id`: its outcome once settled (the slot is then free), else the task's waker is
    /// kept for the settlement.
    pub fn poll(&self, id: u32, cx: &Context<'_>) -> Poll<Option<T>> {
        let mut slots = self.slots.borrow_mut();
        let Some(s) = slots.get_mut(id as usize) else {
            return Poll::Ready(None);
        };
        match std::mem::replace(s, Slot::Vacant) {
            Slot::Done(v) => {
                self.free.borrow_mut().push(id);
                Poll::Ready(Some(v))
            }
            Slot::Waiting(w) => {
                let keep = match w {
                    Some(w) if w.will_wake(cx.waker()) => w,
                    _ => cx.waker().clone(),
                };
                *s = Slot::Waiting(Some(keep));
                Poll::Pending
            }
            other => {
                *s = other;
                Poll::Ready(None)
            }
        }
    }

    /// The awaiter of slot `id` is gone before the outcome was taken. `settles`: whether a
    /// settlement may still come (a promise: the slot waits for it; a cleared timer: freed now).
    pub fn abandon(&self, id: u32, settles: bool) {
        let dropped = {
            let mut slots = self.slots.borrow_mut();
            let Some(s) = slots.get_mut(id as usize) else {
                return;
            };
            match std::mem::replace(s, Slot::Vacant) {
                Slot::Waiting(_) if settles => {
                    *s = Slot::Abandoned;
                    return;
                }
                Slot::Vacant => return,
                other => {
                    self.free.borrow_mut().push(id);
                    other
                }
            }
        };
        drop(dropped);
    }

    /// How many slots are in use (for tests and leak checks).
    pub fn in_use(&self) -> usize {
        self.slots.borrow().len() - self.free.borrow().len()
    }
}

/// Awaits slot `id` of `slots` (a [`Slots`] in a thread-local): its outcome, `None` if the slot was
/// never opened or its outcome already taken. Dropped unsettled, the slot is abandoned.
pub struct Wait<T: 'static> {
    slots: &'static std::thread::LocalKey<Slots<T>>,
    id: Option<u32>,
    /// Whether the slot's settlement still comes after a drop (see [`Slots::abandon`]).
    settles: bool,
}

impl<T: 'static> Wait<T> {
    /// Awaits slot `id`, whose settlement comes even if nobody waits (a promise's).
    pub fn new(slots: &'static std::thread::LocalKey<Slots<T>>, id: u32) -> Self {
        Self {
            slots,
            id: Some(id),
            settles: true,
        }
    }

    /// Awaits slot `id`, whose settlement is called off when dropped (a cleared timer's).
    pub fn cancelled_on_drop(slots: &'static std::thread::LocalKey<Slots<T>>, id: u32) -> Self {
        Self {
            slots,
            id: Some(id),
            settles: false,
        }
    }

    /// The slot awaited, while unsettled.
    pub fn slot(&self) -> Option<u32> {
        self.id
    }
}

impl<T: 'static> Future for Wait<T> {
    type Output = Option<T>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let Some(id) = self.id else {
            return Poll::Ready(None);
        };
        let p = self.slots.with(|s| s.poll(id, cx));
        if p.is_ready() {
            self.id = None;
        }
        p
    }
}

impl<T: 'static> Drop for Wait<T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let settles = self.settles;
            self.slots.with(|s| s.abandon(id, settles));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static S: Slots<i32> = Slots::default();
    }

    fn open() -> u32 {
        S.with(Slots::open)
    }
    fn settle(id: u32, v: i32) {
        S.with(|s| s.settle(id, v));
    }

    #[test]
    fn work_without_awaits_finishes_at_once() {
        assert!(matches!(start(async { 7 }), Ok(7)));
        assert_eq!(live_tasks(), 0);
    }

    #[test]
    fn a_task_runs_on_when_its_promise_settles_and_hands_on_its_output() {
        let id = open();
        let later = match start(async move { Wait::new(&S, id).await.map(|v| v * 2) }) {
            Ok(_) => panic!("finished before its promise settled"),
            Err(l) => l,
        };
        let got = Rc::new(Cell::new(None));
        let g = got.clone();
        later.then(move |v| g.set(v));
        assert_eq!(got.get(), None);
        settle(id, 21);
        assert_eq!(got.get(), Some(42), "run at once, inside the settlement");
        assert_eq!(live_tasks(), 0);
        assert_eq!(S.with(Slots::in_use), 0);
    }

    #[test]
    fn then_after_the_end_is_called_at_once() {
        let id = open();
        let Err(later) = start(async move { Wait::new(&S, id).await }) else {
            panic!("finished early");
        };
        settle(id, 5);
        let got = Rc::new(Cell::new(None));
        let g = got.clone();
        later.then(move |v| g.set(Some(v)));
        assert_eq!(got.get(), Some(Some(5)));
    }

    #[test]
    fn settlements_in_any_order_reach_their_own_awaiters() {
        let ids: Vec<u32> = (0..50).map(|_| open()).collect();
        let sum = Rc::new(Cell::new(0));
        for (n, &id) in ids.iter().enumerate() {
            let s = sum.clone();
            let n = i32::try_from(n).unwrap_or(0);
            spawn(async move {
                let v = Wait::new(&S, id).await.unwrap_or(-1_000_000);
                assert_eq!(v, n * 10, "its own outcome");
                s.set(s.get() + v);
            });
        }
        assert_eq!(live_tasks(), 50);
        for (n, &id) in ids.iter().enumerate().rev() {
            settle(id, i32::try_from(n).unwrap_or(0) * 10);
        }
        assert_eq!(sum.get(), (0..50).map(|n| n * 10).sum::<i32>());
        assert_eq!(live_tasks(), 0);
        assert_eq!(S.with(Slots::in_use), 0);
    }

    #[test]
    fn a_task_started_inside_another_runs_at_once_and_one_woken_there_after_it() {
        let order = Rc::new(RefCell::new(Vec::new()));
        let o = order.clone();
        let id = open();
        spawn(async move {
            o.borrow_mut().push("outer begins");
            let o2 = o.clone();
            spawn(async move { o2.borrow_mut().push("inner, at once") });
            let o3 = o.clone();
            spawn(async move {
                Wait::new(&S, id).await;
                o3.borrow_mut().push("woken");
            });
            // Settled from inside this task: the waiter runs after it.
            settle(id, 0);
            o.borrow_mut().push("outer ends");
        });
        assert_eq!(
            *order.borrow(),
            ["outer begins", "inner, at once", "outer ends", "woken"]
        );
        assert_eq!(live_tasks(), 0);
    }

    #[test]
    fn work_started_inside_a_task_that_needs_no_io_ends_at_once() {
        let inner = Rc::new(Cell::new(None));
        let i = inner.clone();
        spawn(async move { i.set(Some(start(async { 3 }).is_ok())) });
        assert_eq!(inner.get(), Some(true));
    }

    #[test]
    fn a_task_waking_itself_in_its_first_poll_is_polled_again() {
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        spawn(std::future::poll_fn(move |cx| {
            p.set(p.get() + 1);
            if p.get() < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }));
        assert_eq!(polls.get(), 3);
        assert_eq!(live_tasks(), 0);
    }

    #[test]
    fn an_abandoned_slot_is_freed_by_its_late_settlement_and_reused() {
        let id = open();
        drop(Wait::new(&S, id));
        assert_eq!(S.with(Slots::in_use), 1, "held until its promise settles");
        settle(id, 1);
        assert_eq!(S.with(Slots::in_use), 0);
        let again = open();
        assert_eq!(again, id, "reused");
        let Err(later) = start(async move { Wait::new(&S, again).await }) else {
            panic!("finished early");
        };
        let got = Rc::new(Cell::new(None));
        let g = got.clone();
        later.then(move |v| g.set(Some(v)));
        settle(again, 9);
        assert_eq!(
            got.get(),
            Some(Some(9)),
            "the late settlement did not leak into the reuse"
        );
    }

    #[test]
    fn a_cancelled_timer_slot_is_freed_at_once() {
        let id = open();
        drop(Wait::cancelled_on_drop(&S, id));
        assert_eq!(S.with(Slots::in_use), 0);
    }

    #[test]
    fn a_settled_slot_dropped_unread_is_freed() {
        let id = open();
        let w = Wait::new(&S, id);
        settle(id, 3);
        drop(w);
        assert_eq!(S.with(Slots::in_use), 0);
    }

    #[test]
    fn a_second_settlement_is_ignored() {
        let id = open();
        let w = Wait::new(&S, id);
        settle(id, 1);
        settle(id, 2);
        let got = match start(w) {
            Ok(v) => v,
            Err(_) => panic!("settled before it was awaited"),
        };
        assert_eq!(got, Some(1));
    }

    #[test]
    fn a_stale_waker_does_not_poll_the_task_now_in_its_place() {
        // A task that keeps its waker, ends, and a new task takes its place.
        let kept = Rc::new(RefCell::new(None::<Waker>));
        let k = kept.clone();
        let id = open();
        spawn(async move {
            std::future::poll_fn(|cx| {
                *k.borrow_mut() = Some(cx.waker().clone());
                Poll::Ready(())
            })
            .await;
            Wait::new(&S, id).await;
        });
        settle(id, 0);
        assert_eq!(live_tasks(), 0);
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let id2 = open();
        spawn(async move {
            std::future::poll_fn(|_| {
                p.set(p.get() + 1);
                Poll::Ready(())
            })
            .await;
            Wait::new(&S, id2).await;
        });
        assert_eq!(polls.get(), 1);
        if let Some(w) = kept.borrow_mut().take() {
            w.wake();
        }
        assert_eq!(
            polls.get(),
            1,
            "the old task's waker names another generation"
        );
        settle(id2, 0);
        assert_eq!(live_tasks(), 0);
    }

    #[test]
    fn select_style_drops_leave_no_slot_behind() {
        // Two promises raced: the loser's slot waits for its settlement, then is freed.
        let a = open();
        let b = open();
        let Err(later) = start(async move {
            let mut wa = Box::pin(Wait::new(&S, a));
            let mut wb = Box::pin(Wait::new(&S, b));
            std::future::poll_fn(move |cx| {
                if let Poll::Ready(v) = wa.as_mut().poll(cx) {
                    return Poll::Ready(("a", v));
                }
                if let Poll::Ready(v) = wb.as_mut().poll(cx) {
                    return Poll::Ready(("b", v));
                }
                Poll::Pending
            })
            .await
        }) else {
            panic!("finished early");
        };
        let got = Rc::new(RefCell::new(None));
        let g = got.clone();
        later.then(move |v| *g.borrow_mut() = Some(v));
        settle(b, 2);
        assert_eq!(*got.borrow(), Some(("b", Some(2))));
        assert_eq!(S.with(Slots::in_use), 1, "a's promise has not settled yet");
        settle(a, 1);
        assert_eq!(S.with(Slots::in_use), 0);
    }

    proptest::proptest! {
        /// Any number of tasks, each awaiting several promises in turn, settled in any order:
        /// each gets its own outcomes, all end, and no task or slot is left.
        #[test]
        fn any_settlement_order_ends_every_task(order in proptest::collection::vec(0usize..1000, 1..120), tasks in 1usize..12) {
            let steps = 3;
            // Each task opens its next slot when it gets there; the test settles whichever
            // slot `order` picks among those opened and not yet settled.
            let opened: Rc<RefCell<Vec<(u32, i32)>>> = Rc::new(RefCell::new(Vec::new()));
            let results = Rc::new(RefCell::new(Vec::new()));
            for t in 0..tasks {
                let opened = opened.clone();
                let results = results.clone();
                let t = i32::try_from(t).unwrap_or(0);
                spawn(async move {
                    let mut got = Vec::new();
                    for s in 0..steps {
                        let id = S.with(Slots::open);
                        opened.borrow_mut().push((id, t * 100 + s));
                        got.push(Wait::new(&S, id).await.unwrap_or(-1));
                    }
                    results.borrow_mut().push((t, got));
                });
            }
            let mut pick = order.into_iter().cycle();
            let mut guard = 0;
            loop {
                let next = {
                    let o = opened.borrow();
                    if o.is_empty() { None } else { pick.next().map(|p| p % o.len()) }
                };
                let Some(i) = next else { break };
                let (id, v) = opened.borrow_mut().remove(i);
                settle(id, v);
                guard += 1;
                proptest::prop_assert!(guard < 10_000);
            }
            let r = results.borrow();
            proptest::prop_assert_eq!(r.len(), tasks);
            for (t, got) in r.iter() {
                proptest::prop_assert_eq!(got.clone(), (0..steps).map(|s| t * 100 + s).collect::<Vec<_>>());
            }
            proptest::prop_assert_eq!(live_tasks(), 0);
            proptest::prop_assert_eq!(S.with(Slots::in_use), 0);
        }
    }
}
