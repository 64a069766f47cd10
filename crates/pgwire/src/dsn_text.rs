//! The text of a connection string, before any meaning is given to it: libpq's two forms (URL
//! `postgres://user:pw@host:port/db?k=v` and `key=value` pairs) split into `(key, value)` pairs, and
//! the same text with its password masked for messages.
//!
//! Invariants: every error names the part of the string that is wrong and carries the string with
//! the password replaced by `****` (never the password itself); masking works on text that does not
//! parse, because that is exactly when it is shown.

use std::fmt;

/// A connection string that cannot be used: which part is wrong, why, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid connection string {masked:?}: {part} {problem}. Fix: {fix}")]
pub struct DsnError {
    /// The part that is wrong (`port "99999"`, `sslmode "requir"`, `key "sslmod"`, ...).
    pub part: String,
    /// What is wrong with it.
    pub problem: String,
    /// What to do.
    pub fix: String,
    /// The whole connection string, password masked.
    pub masked: String,
}

impl DsnError {
    pub(crate) fn new(raw: &str, part: impl fmt::Display, problem: impl fmt::Display, fix: &str) -> DsnError {
        DsnError { part: part.to_string(), problem: problem.to_string(), fix: fix.into(), masked: mask(raw) }
    }
}

/// The mask that replaces a password in messages.
pub const MASK: &str = "****";

/// True when the text is in URL form.
pub(crate) fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The connection string with any password (URL user info, `?password=`, `password=`) masked.
pub fn mask(s: &str) -> String {
    if is_url(s) || s.contains("://") {
        mask_url(s)
    } else {
        mask_keyvalue(s)
    }
}

fn mask_url(s: &str) -> String {
    let start = s.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &s[start..];
    let auth_end = authority_end(rest);
    let mut out = s[..start].to_string();
    let authority = &rest[..auth_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(c) => {
                    out.push_str(&userinfo[..c + 1]);
                    out.push_str(MASK);
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &rest[auth_end..];
    match tail.find('?') {
        Some(q) => {
            out.push_str(&tail[..q + 1]);
            let params: Vec<String> = tail[q + 1..]
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={MASK}"),
                    _ => p.to_string(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

/// End of the URL authority (`user:pw@host:port`) in `rest` (the text after `://`). A password with
/// an unencoded `/` still ends at its `@`, so it is masked and never read as a host or path.
fn authority_end(rest: &str) -> usize {
    let q = rest.find('?').unwrap_or(rest.len());
    let from = rest[..q].rfind('@').map(|a| a + 1).unwrap_or(0);
    from + rest[from..].find(['/', '?']).unwrap_or(rest.len() - from)
}

fn mask_keyvalue(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        // Copy whitespace, then a key.
        let ws_end = i + s[i..].len() - s[i..].trim_start().len();
        out.push_str(&s[i..ws_end]);
        i = ws_end;
        let key_end = s[i..].find(|c: char| c == '=' || c.is_whitespace()).map(|p| i + p).unwrap_or(b.len());
        let key = &s[i..key_end];
        out.push_str(key);
        i = key_end;
        let eq_ws = i + s[i..].len() - s[i..].trim_start().len();
        if eq_ws >= b.len() || b[eq_ws] != b'=' {
            continue;
        }
        out.push_str(&s[i..=eq_ws]);
        i = eq_ws + 1;
        let v_start = i + s[i..].len() - s[i..].trim_start().len();
        out.push_str(&s[i..v_start]);
        i = v_start;
        let v_end = value_end(b, i);
        if key == "password" {
            out.push_str(MASK);
        } else {
            out.push_str(&s[i..v_end]);
        }
        i = v_end;
    }
    out
}

/// End (exclusive) of the value starting at `i`: a quoted value up to its closing quote (or the end
/// when unterminated), else up to whitespace; backslash escapes the next byte.
fn value_end(b: &[u8], i: usize) -> usize {
    value_span(b, i).0
}

/// [`value_end`], and whether a quoted value was closed (true for unquoted values).
fn value_span(b: &[u8], mut i: usize) -> (usize, bool) {
    let quoted = i < b.len() && b[i] == b'\'';
    if quoted {
        i += 1;
    }
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\'' if quoted => return (i + 1, true),
            c if !quoted && c.is_ascii_whitespace() => return (i, true),
            _ => i += 1,
        }
    }
    (b.len(), !quoted)
}

/// Split `key=value` text into pairs, unescaping values.
pub(crate) fn split_keyvalue(raw: &str) -> Result<Vec<(String, String)>, DsnError> {
    let b = raw.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return Ok(pairs);
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &raw[key_start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            return Err(DsnError::new(
                raw,
                format_args!("{key:?}"),
                "has no \"=\" after it",
                "write key=value pairs separated by spaces (host=db dbname=app), or a URL like \
                 postgres://user@host:5432/dbname",
            ));
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let (end, closed) = value_span(b, i);
        let mut v = &b[i..end];
        if v.first() == Some(&b'\'') {
            if !closed {
                return Err(DsnError::new(
                    raw,
                    format_args!("value of {key:?}"),
                    "has an opening quote but no closing quote",
                    "close the quote, and write a quote inside a value as \\'",
                ));
            }
            v = &v[1..v.len() - 1];
        }
        let mut val = Vec::with_capacity(v.len());
        let mut j = 0;
        while j < v.len() {
            if v[j] == b'\\' && j + 1 < v.len() {
                j += 1;
            }
            val.push(v[j]);
            j += 1;
        }
        pairs.push((key.to_string(), String::from_utf8_lossy(&val).into_owned()));
        i = end;
    }
}

/// The parts of a URL-form connection string.
#[derive(Debug, Default)]
pub(crate) struct UrlParts {
    pub pairs: Vec<(String, String)>,
}

/// Split a URL into pairs with libpq's key names (`user`, `password`, `host`, `port`, `dbname`, and
/// every query parameter), percent-decoding each.
pub(crate) fn split_url(raw: &str) -> Result<UrlParts, DsnError> {
    let start = raw.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &raw[start..];
    let auth_end = authority_end(rest);
    let authority = &rest[..auth_end];
    let mut tail = &rest[auth_end..];
    let mut parts = UrlParts::default();
    let dec = |part: &str, what: &str| decode(raw, part, what);
    let hostport = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            if userinfo.contains('/') {
                return Err(DsnError::new(
                    raw,
                    "user name or password",
                    "contains an unencoded '/'",
                    "percent-encode special characters in the user name and password (/ as %2F, @ as %40, \
                     : as %3A)",
                ));
            }
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                parts.pairs.push(("user".into(), dec(user, "user name")?));
            }
            if let Some(p) = password {
                parts.pairs.push(("password".into(), dec(p, "password")?));
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    if hostport.contains(',') {
        return Err(DsnError::new(
            raw,
            format_args!("host list {hostport:?}"),
            "names more than one server",
            "give one host: tidemark follows one server (connect to the primary, or to a standby that \
             allows logical decoding)",
        ));
    }
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        let close = h.find(']').ok_or_else(|| {
            DsnError::new(
                raw,
                format_args!("host {hostport:?}"),
                "opens an IPv6 address with [ but never closes it",
                "write IPv6 hosts as [::1]:5432",
            )
        })?;
        let after = &h[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => {
                return Err(DsnError::new(
                    raw,
                    format_args!("host {hostport:?}"),
                    "has text after the ] of the IPv6 address that is not :port",
                    "write IPv6 hosts as [::1]:5432",
                ))
            }
        };
        (h[..close].to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (dec(h, "host")?, Some(p)),
            None => (dec(hostport, "host")?, None),
        }
    };
    if !host.is_empty() {
        parts.pairs.push(("host".into(), host));
    } else if port.is_some() {
        return Err(DsnError::new(
            raw,
            "host",
            "is missing before the :port",
            "name the server: postgres://user@HOST:5432/dbname",
        ));
    }
    if let Some(p) = port {
        parts.pairs.push(("port".into(), dec(p, "port")?));
    }
    if let Some(t) = tail.strip_prefix('/') {
        let end = t.find('?').unwrap_or(t.len());
        if !t[..end].is_empty() {
            parts.pairs.push(("dbname".into(), dec(&t[..end], "database name")?));
        }
        tail = &t[end..];
    }
    if let Some(q) = tail.strip_prefix('?') {
        for p in q.split('&').filter(|p| !p.is_empty()) {
            let Some((k, v)) = p.split_once('=') else {
                return Err(DsnError::new(
                    raw,
                    format_args!("query parameter {p:?}"),
                    "has no \"=\"",
                    "write query parameters as ?key=value&key2=value2",
                ));
            };
            let k = dec(k, "query parameter name")?;
            let v = dec(v, &format!("value of query parameter {k:?}"))?;
            // JDBC's ssl=true, which libpq also accepts in URLs.
            if k == "ssl" && v == "true" {
                parts.pairs.push(("sslmode".into(), "require".into()));
            } else {
                parts.pairs.push((k, v));
            }
        }
    }
    Ok(parts)
}

/// Percent-decode one part of a URL, naming it when the encoding is bad.
fn decode(raw: &str, s: &str, what: &str) -> Result<String, DsnError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let bad = |what: &str, problem: String| {
        let fix =
            "write a literal % as %25, and percent-encode reserved characters (@ as %40, : as %3A, / as %2F)";
        // The password itself is never shown, not even its bad fragment.
        DsnError::new(raw, what, problem, fix)
    };
    while i < b.len() {
        if b[i] == b'%' {
            let pair = b.get(i + 1..i + 3);
            match pair.and_then(|p| Some((hex(p[0])? << 4) | hex(p[1])?)) {
                Some(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                None => {
                    let frag = String::from_utf8_lossy(&b[i..(i + 3).min(b.len())]).into_owned();
                    let problem = if what == "password" {
                        "has a bad percent-encoding (a % not followed by two hex digits)".to_string()
                    } else {
                        format!(
                            "has a bad percent-encoding {frag:?} (a % must be followed by two hex digits)"
                        )
                    };
                    return Err(bad(what, problem));
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad(what, "percent-decodes to bytes that are not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_in_every_form() {
        assert_eq!(mask("postgres://u:s3cret@h:5/db"), "postgres://u:****@h:5/db");
        assert_eq!(mask("postgres://u:s3@cret@h/db?sslmode=x"), "postgres://u:****@h/db?sslmode=x");
        assert_eq!(mask("postgres://h/db?password=s3cret&port=1"), "postgres://h/db?password=****&port=1");
        assert_eq!(mask("host=h password=s3cret port=1"), "host=h password=**** port=1");
        assert_eq!(mask("host=h password = 's3 cret' port=1"), "host=h password = **** port=1");
        assert_eq!(mask("host=h password='unterminated s3cret"), "host=h password=****");
        assert_eq!(mask("host=h passwd"), "host=h passwd");
        assert_eq!(mask("postgres://u:s3/cr@t@h/db"), "postgres://u:****@h/db");
    }

    #[test]
    fn splits_keyvalue_with_quotes_and_escapes() {
        let p = split_keyvalue(r"host = h  password='a b\'c\\' application_name=x\ y").unwrap();
        assert_eq!(
            p,
            vec![
                ("host".to_string(), "h".to_string()),
                ("password".into(), r"a b'c\".into()),
                ("application_name".into(), "x y".into())
            ]
        );
        assert!(split_keyvalue("host='h").is_err());
        assert!(split_keyvalue("host").is_err());
    }

    #[test]
    fn splits_urls() {
        let p = split_url("postgresql://u%40x:p%3Aw@[::1]:6/d%20b?sslmode=require&ssl=true").unwrap().pairs;
        let get = |k: &str| p.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("user"), Some("u@x"));
        assert_eq!(get("password"), Some("p:w"));
        assert_eq!(get("host"), Some("::1"));
        assert_eq!(get("port"), Some("6"));
        assert_eq!(get("dbname"), Some("d b"));
        let p = split_url("postgres://%2Ftmp%2Fsock/db").unwrap().pairs;
        assert_eq!(p[0], ("host".into(), "/tmp/sock".into()));
        assert!(split_url("postgres://u:p@:5432/db").is_err());
        assert!(split_url("postgres://u:p@a,b/db").is_err());
        let e = split_url("postgres://u:s%zzecret@h/db").unwrap_err();
        assert!(!e.to_string().contains("zz"), "{e}");
    }
}
