//! Web cache deception armor: a response is stored only if it is what its URL claims to be.
//!
//! Web cache deception (Gil, 2017; "Gotta cache 'em all", Mirheidari et al., USENIX Security
//! 2024): a victim is lured to `/account/profile.css` or `/account;x.css`; the origin ignores the
//! suffix (path parameters, delimiters, path confusion) and answers with the victim's private
//! HTML page; a cache that stores by extension keeps it under a public URL the attacker then
//! reads. The armor (as Cloudflare's Cache Deception Armor) refuses to store a 2xx response whose
//! `Content-Type` contradicts the extension of the requested path: HTML for `.css`, JSON for
//! `.jpg`, and so on. Extensions it does not know, responses without a `Content-Type`, and
//! `application/octet-stream` (a download, whatever the name) are not judged.

use http::HeaderMap;

/// Known extensions (space-separated) and the media types acceptable for them (lower-case,
/// without parameters). An entry ending in `/` accepts the whole top-level type (`image/` for
/// image formats that origins label variously); one starting with `+` accepts a structured
/// syntax suffix (`+json`, `+xml`). A table rather than a `match`: data, not code, in the wasm.
const TABLE: &[(&str, &[&str])] = &[
    ("css", &["text/css"]),
    (
        "js mjs cjs",
        &[
            "text/javascript",
            "application/javascript",
            "application/x-javascript",
            "application/ecmascript",
            "text/ecmascript",
        ],
    ),
    ("json map webmanifest", &["application/json", "+json"]),
    (
        "png jpg jpeg gif webp avif bmp ico tif tiff heic jxl",
        &["image/"],
    ),
    ("svg", &["image/svg+xml"]),
    (
        "woff woff2 ttf otf eot",
        &[
            "font/",
            "application/font-woff",
            "application/font-woff2",
            "application/x-font-woff",
            "application/x-font-ttf",
            "application/x-font-otf",
            "application/font-sfnt",
            "application/vnd.ms-fontobject",
        ],
    ),
    ("mp4 m4v webm ogv mov", &["video/", "audio/webm"]),
    ("mp3 m4a ogg oga wav flac aac opus", &["audio/"]),
    ("pdf", &["application/pdf"]),
    ("txt", &["text/plain"]),
    ("csv", &["text/csv", "text/plain"]),
    ("xml rss atom", &["application/xml", "text/xml", "+xml"]),
    ("wasm", &["application/wasm"]),
    ("zip", &["application/zip", "application/x-zip-compressed"]),
    ("gz tgz", &["application/gzip", "application/x-gzip"]),
];

/// The media types acceptable for a known extension (lower-case), `None` for others.
fn expected(ext: &str) -> Option<&'static [&'static str]> {
    TABLE
        .iter()
        .find(|(exts, _)| exts.split(' ').any(|e| e == ext))
        .map(|(_, types)| *types)
}

/// The media type of a `Content-Type` value: lower-case, parameters and spaces removed.
fn media_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn type_fits(media: &str, accepted: &[&str]) -> bool {
    accepted.iter().any(|a| {
        if a.starts_with('+') {
            media.ends_with(a)
        } else if a.ends_with('/') {
            media.starts_with(a)
        } else {
            media == *a
        }
    })
}

/// Whether a response with these headers contradicts the extension `ext` of its URL (the
/// armor's verdict: `true` → do not store). `ext` is matched ASCII case-insensitively.
pub fn contradicts(ext: &str, status: u16, headers: &HeaderMap) -> bool {
    // Only successful content is judged: a redirect or an error page carries no resource.
    if !(200..300).contains(&status) || status == 204 {
        return false;
    }
    let ext = ext.to_ascii_lowercase();
    let Some(accepted) = expected(&ext) else {
        return false;
    };
    let Some(ct) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let media = media_type(ct);
    if media.is_empty() || media == "application/octet-stream" {
        return false;
    }
    !type_fits(&media, accepted)
}

/// The extension the armor judges for a request path (the normalised path the key uses): that of
/// the last segment, including what follows a `;` (`/account;x.css` → `css`: the origin may
/// have served `/account`).
pub fn path_ext(path: &str) -> Option<&str> {
    crate::policy::path_ext(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ct(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, v.parse().unwrap());
        h
    }

    #[test]
    fn mismatches() {
        for (ext, t) in [
            ("css", "text/html; charset=utf-8"),
            ("js", "text/html"),
            ("png", "text/html"),
            ("jpg", "application/json"),
            ("CSS", "application/json"),
            ("woff2", "text/html"),
            ("svg", "text/html"),
            ("json", "text/html"),
        ] {
            assert!(contradicts(ext, 200, &ct(t)), "{ext} {t}");
        }
    }

    #[test]
    fn matches_and_unjudged() {
        for (ext, t) in [
            ("css", "text/css; charset=utf-8"),
            ("js", "application/javascript"),
            ("js", "Text/JavaScript"),
            ("png", "image/png"),
            ("jpg", "image/jpeg"),
            ("json", "application/problem+json"),
            ("woff2", "font/woff2"),
            ("svg", "image/svg+xml"),
            ("css", "application/octet-stream"),
            ("html", "text/html"),
            ("php", "text/html"),
            ("xml", "application/rss+xml"),
        ] {
            assert!(!contradicts(ext, 200, &ct(t)), "{ext} {t}");
        }
        // No Content-Type, redirects and errors are not judged.
        assert!(!contradicts("css", 200, &HeaderMap::new()));
        assert!(!contradicts("css", 301, &ct("text/html")));
        assert!(!contradicts("css", 404, &ct("text/html")));
        assert!(!contradicts("css", 204, &ct("text/html")));
    }

    #[test]
    fn path_parameters_count() {
        assert_eq!(path_ext("/account;x.css"), Some("css"));
        assert_eq!(path_ext("/account/x.CSS"), Some("CSS"));
        assert_eq!(path_ext("/account"), None);
    }

    proptest! {
        #[test]
        fn never_panics(ext in "[a-zA-Z0-9]{0,6}", t in "[ -~]{0,30}", status in 100u16..600) {
            let mut h = HeaderMap::new();
            if let Ok(v) = t.parse() {
                h.insert(http::header::CONTENT_TYPE, v);
            }
            let _ = contradicts(&ext, status, &h);
        }

        /// HTML is never stored under a known static extension, whatever the parameters.
        #[test]
        fn html_never_fits_static(ext in prop::sample::select(vec!["css", "js", "png", "jpg", "gif", "woff2", "json", "svg", "pdf", "txt"]), params in "[a-z=; ]{0,12}") {
            let t = format!("text/html{params}");
            prop_assert!(contradicts(ext, 200, &ct(&t)), "{}", t);
        }
    }
}
