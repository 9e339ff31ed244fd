//! Base64 with the standard alphabet and canonical padding (RFC 4648 §4), for webhook secrets
//! and signatures: strict like the `base64` crate's `STANDARD` engine (padding required,
//! no whitespace, no non-zero trailing bits), in a few dozen lines instead of a dependency.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `bytes` (RFC 4648 §4, with `=` padding).
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3).saturating_mul(4));
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let six = (n >> shift) & 63;
                out.push(char::from(
                    ALPHABET.get(six as usize).copied().unwrap_or(b'A'),
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The value of one alphabet character.
fn value(c: u8) -> Option<u32> {
    let v = ALPHABET.iter().position(|&a| a == c)?;
    u32::try_from(v).ok()
}

/// Decodes canonical padded base64; `None` for anything else (a length not a multiple of 4,
/// a character outside the alphabet, misplaced padding, non-zero bits after the last byte).
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity((s.len() / 4).saturating_mul(3));
    let quads = s.chunks(4);
    let last = quads.len().saturating_sub(1);
    for (q, quad) in quads.enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && q != last) {
            return None;
        }
        let data = quad.len().saturating_sub(pad);
        let mut n = 0u32;
        for (i, &c) in quad.iter().enumerate() {
            let v = if i >= data { 0 } else { value(c)? };
            n = (n << 6) | v;
        }
        let [_, b0, b1, b2] = n.to_be_bytes();
        match pad {
            0 => out.extend_from_slice(&[b0, b1, b2]),
            1 if b2 == 0 => out.extend_from_slice(&[b0, b1]),
            2 if b1 == 0 && b2 == 0 => out.push(b0),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10 test vectors.
    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn rfc4648_vectors_both_ways() {
        for (plain, enc) in VECTORS {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc).as_deref(), Some(plain.as_bytes()), "{enc}");
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255u8).collect();
        for n in 0..all.len() {
            let part = &all[n..];
            assert_eq!(decode(&encode(part)).as_deref(), Some(part));
        }
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn non_canonical_input_is_refused() {
        for bad in [
            "Zg", "Zg=", "Zm9v=", "Z===", "Zh==", "Zm9=", "Zg==Zg==", "Zm 9v", "Zm9v\n", "Zm-_",
            "====",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
