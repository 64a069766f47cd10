//! Low-level JSON writing: string escaping as Jackson does it, Java `Double.toString`/`Float.toString`
//! number spelling, Base64, and minimal two's-complement big-endian integers for Connect `Decimal`.

use base64::Engine;

/// Append `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// JSON string literal as a `String`.
pub fn quote(s: &str) -> String {
    let mut v = Vec::with_capacity(s.len() + 2);
    write_str(&mut v, s);
    String::from_utf8(v).unwrap_or_default()
}

/// Append an integer.
pub fn write_int(out: &mut Vec<u8>, v: i64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

/// Java's spelling of a finite double or float given Rust's shortest `{:e}` form: plain decimal with
/// at least one fractional digit when 1e-3 <= |v| < 1e7, otherwise `d.dddE±n`.
fn java_from_exp(e_form: &str) -> String {
    let (neg, rest) = match e_form.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, e_form),
    };
    let (mant, exp) = rest.split_once('e').unwrap_or((rest, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if digits.chars().all(|c| c == '0') {
        s.push_str("0.0");
        return s;
    }
    if (-3..7).contains(&exp) {
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if digits.len() <= int_len {
                s.push_str(&digits);
                s.extend(std::iter::repeat_n('0', int_len - digits.len()));
                s.push_str(".0");
            } else {
                s.push_str(&digits[..int_len]);
                s.push('.');
                s.push_str(&digits[int_len..]);
            }
        } else {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            s.push_str(&digits);
        }
    } else {
        s.push_str(&digits[..1]);
        s.push('.');
        if digits.len() > 1 {
            s.push_str(&digits[1..]);
        } else {
            s.push('0');
        }
        s.push('E');
        s.push_str(&exp.to_string());
    }
    s
}

/// Append a finite-or-special number as Java prints it. `shortest` is Rust's shortest round-trip `{:e}`
/// form at the value's own precision (f64 for doubles, f32 for floats), which is what Java prints too.
fn write_java_number(out: &mut Vec<u8>, v: f64, shortest: impl FnOnce() -> String) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"\"Infinity\"" } else { b"\"-Infinity\"" });
    } else if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() { b"-0.0" } else { b"0.0" });
    } else {
        out.extend_from_slice(java_from_exp(&shortest()).as_bytes());
    }
}

/// Append a double as Java prints it; NaN/±Infinity as quoted strings (Jackson's default).
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    write_java_number(out, v, || format!("{v:e}"));
}

/// Append a float as Java's `Float.toString` prints it.
pub fn write_f32(out: &mut Vec<u8>, v: f32) {
    if v.is_finite() && v != 0.0 {
        // JDK 17's digits, not the shortest ones (see java_float).
        out.extend_from_slice(crate::java_float::float_to_string(v).as_bytes());
    } else {
        write_java_number(out, v as f64, || format!("{v:e}"));
    }
}

/// Append standard padded Base64 in quotes.
pub fn write_b64(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'"');
    let start = out.len();
    let n = base64::encoded_len(data.len(), true).unwrap_or(0);
    out.resize(start + n, 0);
    let written =
        base64::engine::general_purpose::STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

/// Base64 with the given engine as a plain string.
pub fn b64_string(data: &[u8], url_safe: bool) -> String {
    if url_safe {
        base64::engine::general_purpose::URL_SAFE.encode(data)
    } else {
        base64::engine::general_purpose::STANDARD.encode(data)
    }
}

/// Minimal big-endian two's-complement bytes of a decimal integer given as ASCII digits
/// (Java `BigInteger.toByteArray`).
pub fn twos_complement(negative: bool, digits: &[u8]) -> Vec<u8> {
    // Magnitude in base 256, little-endian limbs.
    let mut mag: Vec<u8> = Vec::with_capacity(digits.len() / 2 + 1);
    for &d in digits {
        let mut carry = (d - b'0') as u32;
        for limb in mag.iter_mut() {
            let v = *limb as u32 * 10 + carry;
            *limb = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            mag.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    while mag.last() == Some(&0) {
        mag.pop();
    }
    if mag.is_empty() {
        return vec![0];
    }
    if negative {
        // Two's complement: invert and add one.
        let mut carry = 1u16;
        for limb in mag.iter_mut() {
            let v = (!*limb) as u16 + carry;
            *limb = (v & 0xff) as u8;
            carry = v >> 8;
        }
        // Ensure the sign bit is set; trim redundant 0xff bytes.
        if mag.last().is_some_and(|b| b & 0x80 == 0) {
            mag.push(0xff);
        }
        while mag.len() > 1 && mag[mag.len() - 1] == 0xff && mag[mag.len() - 2] & 0x80 != 0 {
            mag.pop();
        }
    } else if mag.last().is_some_and(|b| b & 0x80 != 0) {
        mag.push(0);
    }
    mag.reverse();
    mag
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut o = Vec::new();
        write_f64(&mut o, v);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn java_doubles() {
        assert_eq!(f(1.0), "1.0");
        assert_eq!(f(4.44), "4.44");
        assert_eq!(f(1e7), "1.0E7");
        assert_eq!(f(12345678.9), "1.23456789E7");
        assert_eq!(f(0.001), "0.001");
        assert_eq!(f(0.0001), "1.0E-4");
        assert_eq!(f(-2.5), "-2.5");
        assert_eq!(f(123.0), "123.0");
        assert_eq!(f(f64::NAN), "\"NaN\"");
        assert_eq!(f(f64::NEG_INFINITY), "\"-Infinity\"");
        let mut o = Vec::new();
        write_f32(&mut o, 3.3);
        assert_eq!(o, b"3.3");
    }

    #[test]
    fn decimal_bytes_match_java_biginteger() {
        let b = |neg, d: &str| b64_string(&twos_complement(neg, d.as_bytes()), false);
        assert_eq!(b(false, "123411"), "AeIT");
        assert_eq!(b(true, "123411"), "/h3t");
        assert_eq!(b(false, "12345678"), "ALxhTg==");
        assert_eq!(b(false, "128"), "AIA=");
        assert_eq!(b(true, "128"), "gA==");
        assert_eq!(b(false, "0"), "AA==");
        assert_eq!(b(false, "110"), "bg==");
        assert_eq!(b(true, "1"), "/w==");
        assert_eq!(b(true, "256"), "/wA=");
    }

    #[test]
    fn escapes_like_jackson() {
        assert_eq!(quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }
}
