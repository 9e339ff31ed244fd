//! Host CLI: `edgecache check` and `edgecache explain`.
fn main() {}
