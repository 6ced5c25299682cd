//! Random values shaped like WeChat's: tokens, codes, tickets, nonces, request ids.

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
}

/// `len` characters of base64url's alphabet.
pub fn string(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in bytes::<32>() {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(b & 63)]));
        }
    }
    out
}

/// A fresh appid: `wx` and 16 hexadecimal digits.
pub fn appid() -> String {
    format!("wx{}", hex::encode(bytes::<8>()))
}

/// A decimal nonce, as WeChat sends in push URLs.
pub fn nonce() -> String {
    u32::from_be_bytes(bytes()).to_string()
}

/// WeChat's request id: `67a1b2c3-1d2e3f4a-5b6c7d8e`.
pub fn rid() -> String {
    let b: [u8; 12] = bytes();
    format!(
        "{}-{}-{}",
        hex::encode(&b[..4]),
        hex::encode(&b[4..8]),
        hex::encode(&b[8..])
    )
}

/// A uniform number in [0, 1), for faults injected at a rate.
pub fn unit() -> f64 {
    (u64::from_be_bytes(bytes()) >> 11) as f64 / (1u64 << 53) as f64
}
