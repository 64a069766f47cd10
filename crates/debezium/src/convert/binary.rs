//! Bytes and bits: `bytea` (hex or legacy escape text) under every `binary.handling.mode`, and
//! `bit(n)`/`varbit` as Debezium's `Bits` (the little-endian bytes of `java.util.BitSet.toByteArray`).

use super::ConvError;
use crate::config::BinaryMode;
use crate::json::{self, write_b64, write_str};

/// `bytea` under `mode`.
pub(super) fn write_bytea(out: &mut Vec<u8>, mode: BinaryMode, text: &str) -> Result<(), ConvError> {
    let data = parse_bytea(text)?;
    match mode {
        BinaryMode::Bytes | BinaryMode::Base64 => write_b64(out, &data),
        BinaryMode::Base64UrlSafe => write_str(out, &json::b64_string(&data, true)),
        BinaryMode::Hex => {
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            write_str(out, &hex)
        }
    }
    Ok(())
}

/// `\x0102` hex bytea text (or the legacy escape format) to bytes.
pub fn parse_bytea(text: &str) -> Result<Vec<u8>, String> {
    if let Some(hex) = text.strip_prefix("\\x") {
        if hex.len() % 2 != 0 {
            return Err("odd hex length".into());
        }
        let h = hex.as_bytes();
        let val = |c: u8| -> Result<u8, String> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err("bad hex digit".into()),
            }
        };
        let mut out = Vec::with_capacity(h.len() / 2);
        for pair in h.chunks(2) {
            out.push(val(pair[0])? << 4 | val(pair[1])?);
        }
        return Ok(out);
    }
    // escape format
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
            } else if i + 3 < b.len() {
                let o = std::str::from_utf8(&b[i + 1..i + 4]).map_err(|e| e.to_string())?;
                out.push(u8::from_str_radix(o, 8).map_err(|e| e.to_string())?);
                i += 4;
            } else {
                return Err("bad bytea escape".into());
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Bit string (`1010`) to Debezium's little-endian byte packing of its numeric value.
pub(super) fn bits_to_bytes(text: &str) -> Result<Vec<u8>, String> {
    let n = text.len();
    let mut out = vec![0u8; n.div_ceil(8)];
    for (i, c) in text.bytes().enumerate() {
        match c {
            b'1' => {
                let bit = n - 1 - i;
                out[bit / 8] |= 1 << (bit % 8);
            }
            b'0' => {}
            _ => return Err("not a bit string".into()),
        }
    }
    // java.util.BitSet.toByteArray: no trailing zero bytes, so all-zero bits are no bytes at all.
    while out.last() == Some(&0) {
        out.pop();
    }
    Ok(out)
}
