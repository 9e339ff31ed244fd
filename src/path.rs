//! Request path normalisation (RFC 3986 §6.2.2, §5.2.4), shared by the cache key ([`crate::key`])
//! and the policy's route matching and validation ([`crate::policy`]): both see the same path,
//! and neither module depends on the other for it.

use std::borrow::Cow;

pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode percent-encoded unreserved characters, upper-case the hex of the others, and escape
/// a `%` that starts no escape as `%25`.
pub(crate) fn normalize_pct(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut rest = b;
    while let Some((&c, tail)) = rest.split_first() {
        if c == b'%' {
            if let [h, l, after @ ..] = tail {
                if let (Some(hv), Some(lv)) = (hex_val(*h), hex_val(*l)) {
                    let v = hv * 16 + lv;
                    if is_unreserved(v) {
                        out.push(v);
                    } else {
                        out.extend_from_slice(&[
                            b'%',
                            h.to_ascii_uppercase(),
                            l.to_ascii_uppercase(),
                        ]);
                    }
                    rest = after;
                    continue;
                }
            }
        }
        if c == b'%' {
            // A `%` that starts no escape is itself escaped, so that the result is never read
            // as a different escape afterwards (`%4%41` → `%254A`, not `%4A`, which a second
            // pass — or the origin — would read as `J`): normalising is idempotent.
            out.extend_from_slice(b"%25");
        } else {
            out.push(c);
        }
        rest = tail;
    }
    // Only ASCII was decoded and every other byte copied, so UTF-8 validity is preserved.
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Borrowed(s),
    }
}

/// Normalise a request path (see the module docs); idempotent, never panics.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    let p = normalize_pct(path);
    let has_dots = p.split('/').any(|s| s == "." || s == "..");
    if p.starts_with('/') && !has_dots {
        return p;
    }
    let body = p.strip_prefix('/').unwrap_or(&p);
    let segs: Vec<&str> = body.split('/').collect();
    let mut out: Vec<&str> = Vec::with_capacity(segs.len());
    for (i, s) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *s {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    Cow::Owned(format!("/{}", out.join("/")))
}
