//! The libpq password file (`~/.pgpass`, `PGPASSFILE`, or the `passfile` DSN key), so a DSN need not
//! carry its password.
//!
//! Format, as libpq reads it: one `hostname:port:database:username:password` per line, `*` matches
//! anything in the first four fields, `\:` and `\\` are a literal colon and backslash, `#` starts a
//! comment line. The first matching line wins. A file that group or others may read is ignored with a
//! warning, as libpq does; the password is never logged.

use std::path::{Path, PathBuf};

/// What a connection is matched against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub dbname: &'a str,
    pub user: &'a str,
}

/// The password file to read: `passfile` (the DSN key or `PGPASSFILE`), else `~/.pgpass`.
pub(crate) fn file_path(passfile: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = passfile.filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    env("HOME").filter(|h| !h.is_empty()).map(|h| Path::new(&h).join(".pgpass"))
}

/// The password for `target` from the file at `path`, if the file is usable and a line matches.
pub(crate) fn lookup(path: &Path, target: Target<'_>) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        tracing::warn!(file = %path.display(), "password file is not a plain file; ignoring it");
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "password file has group or world access and is ignored, as libpq does; fix: chmod 0600 {}",
                path.display()
            );
            return None;
        }
    }
    let text = std::fs::read_to_string(path).ok()?;
    find(&text, target)
}

/// The first line of `text` matching `target`.
pub(crate) fn find(text: &str, target: Target<'_>) -> Option<String> {
    // libpq matches the default socket connection as "localhost".
    let host = if target.host.starts_with('/') { "localhost" } else { target.host };
    let port = target.port.to_string();
    let want = [host, port.as_str(), target.dbname, target.user];
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_fields(line);
        if fields.len() < 5 {
            continue;
        }
        if fields[..4].iter().zip(want).all(|(f, w)| f == "*" || f == w) {
            return Some(fields[4].clone());
        }
    }
    None
}

/// Split on unescaped colons (libpq also ends the password at one).
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("non-empty").push(n);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("non-empty").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(host: &'a str, port: u16, db: &'a str, user: &'a str) -> Target<'a> {
        Target { host, port, dbname: db, user }
    }

    #[test]
    fn wildcards_escapes_and_first_match() {
        let text = "# comment\n\
                    db.example:5432:app:cdc:first\n\
                    *:*:app:cdc:second\n\
                    h\\:x:*:*:*:with\\:colon\\\\and:more\n\
                    *:5433:*:*:any\n";
        assert_eq!(find(text, t("db.example", 5432, "app", "cdc")).as_deref(), Some("first"));
        assert_eq!(find(text, t("other", 1, "app", "cdc")).as_deref(), Some("second"));
        assert_eq!(find(text, t("h:x", 1, "x", "y")).as_deref(), Some("with:colon\\and"));
        assert_eq!(find(text, t("z", 5433, "x", "y")).as_deref(), Some("any"));
        assert_eq!(find(text, t("z", 5434, "x", "y")), None);
        assert_eq!(find("localhost:5432:*:*:sock", t("/tmp", 5432, "d", "u")).as_deref(), Some("sock"));
    }
}
