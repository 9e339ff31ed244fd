//! The thin Workers adapter: turns `worker` Request/Response/Cache/KV calls into core inputs and
//! carries out the plans the core returns. No policy decision lives here.

mod proxy;

use worker::{event, Context, Env, Request, Response, Result};

/// Runs once per isolate: panics go to the console with their message and location.
#[worker::event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    proxy::handle(req, &env, &ctx).await
}
