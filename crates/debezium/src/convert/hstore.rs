//! `hstore` under `hstore.handling.mode`: a JSON object as a string (`json`) or a Connect map
//! (`map`), from PostgreSQL's `"k"=>"v", "n"=>NULL` text.

use super::ConvError;
use crate::config::HstoreMode;
use crate::json::write_str;

/// `hstore` under `mode`.
pub(super) fn write_hstore(out: &mut Vec<u8>, mode: HstoreMode, text: &str) -> Result<(), ConvError> {
    let pairs = parse_hstore(text)?;
    let mut obj = Vec::new();
    obj.push(b'{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            obj.push(b',');
        }
        write_str(&mut obj, k);
        obj.push(b':');
        match v {
            Some(v) => write_str(&mut obj, v),
            None => obj.extend_from_slice(b"null"),
        }
    }
    obj.push(b'}');
    match mode {
        HstoreMode::Map => out.extend_from_slice(&obj),
        HstoreMode::Json => write_str(out, std::str::from_utf8(&obj).unwrap_or_default()),
    }
    Ok(())
}

/// Parse hstore text (`"a"=>"1", "b"=>NULL`).
pub fn parse_hstore(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let quoted = |i: &mut usize| -> Result<String, String> {
        if b.get(*i) != Some(&b'"') {
            return Err("expected quoted hstore string".into());
        }
        *i += 1;
        let mut s = Vec::new();
        loop {
            match b.get(*i) {
                Some(b'\\') => {
                    s.push(*b.get(*i + 1).ok_or("bad escape")?);
                    *i += 2;
                }
                Some(b'"') => {
                    *i += 1;
                    break;
                }
                Some(&c) => {
                    s.push(c);
                    *i += 1;
                }
                None => return Err("unterminated hstore string".into()),
            }
        }
        String::from_utf8(s).map_err(|e| e.to_string())
    };
    loop {
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace() || *c == b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let k = quoted(&mut i)?;
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        if b.get(i..i + 2) != Some(b"=>") {
            return Err("expected =>".into());
        }
        i += 2;
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        let v = if b.get(i..i + 4) == Some(b"NULL") {
            i += 4;
            None
        } else {
            Some(quoted(&mut i)?)
        };
        out.push((k, v));
    }
    Ok(out)
}
