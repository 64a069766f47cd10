//! Parsing a list of table names as users write them on the command line (`--tables`,
//! `table.include.list`): `schema.table,schema.table`, with PostgreSQL's double-quote identifier quoting
//! so names holding commas, dots, spaces or quotes can be named (`public."a,b",public."x.y",s."q""t"`).
//!
//! Why it lives here: `stream` and `diff`/`verify` both take such a list, and both must split it the
//! same way; a naive `split(',')` cut `"a,b"` into two tables that do not exist.
//!
//! Invariants:
//! - A comma or dot inside double quotes is part of the name; `""` inside quotes is one `"`.
//! - A name without a schema is in `public`. Unquoted parts are taken as written (not folded to lower
//!   case; tidemark has always matched names case-sensitively) with surrounding spaces trimmed.
//! - Anything that is not one or two non-empty parts is an error naming the offending item; the parser
//!   never guesses (three parts, an empty part, an unterminated quote).

use crate::TableId;

/// Why a table list could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableListError {
    /// A double quote was opened and never closed.
    #[error("unterminated double quote in {0:?}. Fix: close the quote; write a quote inside a quoted name as \"\"")]
    Unterminated(String),
    /// An item has an empty schema or table part (`s.`, `.t`, `""`).
    #[error("empty name in {0:?}. Fix: write schema.table (quote names that contain commas or dots: public.\"a,b\")")]
    EmptyPart(String),
    /// An item has more than two dot-separated parts.
    #[error(
        "{0:?} has more than two parts. Fix: write schema.table; quote a name that contains dots: s.\"x.y\""
    )]
    TooManyParts(String),
    /// Text after a closing quote that is not a dot or comma (`"a"b`).
    #[error("unexpected text after a closing quote in {0:?}. Fix: quote the whole name: \"ab\"")]
    AfterQuote(String),
}

/// Parse `schema.table,schema.table,...` (PostgreSQL identifier quoting). Empty items (`a,,b`, a
/// trailing comma) are skipped; an empty or blank list is an empty vector.
pub fn parse_table_list(s: &str) -> Result<Vec<TableId>, TableListError> {
    let mut out = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut item = String::new();
    // State of the current part: has it been quoted, and is a quote open now.
    let mut quoted_part = false;
    let mut in_quote = false;
    let mut chars = s.chars().peekable();
    let finish_part = |cur: &mut String, quoted: bool, parts: &mut Vec<String>| {
        let p = std::mem::take(cur);
        parts.push(if quoted { p } else { p.trim().to_string() });
    };
    let finish_item = |parts: &mut Vec<String>, item: &mut String, out: &mut Vec<TableId>| {
        let text = std::mem::take(item);
        let ps = std::mem::take(parts);
        if ps.len() == 1 && ps[0].is_empty() && text.trim().is_empty() {
            return Ok(()); // an empty item
        }
        if ps.iter().any(|p| p.is_empty()) {
            return Err(TableListError::EmptyPart(text.trim().to_string()));
        }
        match <[String; 2]>::try_from(ps) {
            Ok([schema, name]) => out.push(TableId::new(schema, name)),
            Err(ps) if ps.len() == 1 => {
                out.push(TableId::new("public", ps.into_iter().next().unwrap_or_default()))
            }
            Err(_) => return Err(TableListError::TooManyParts(text.trim().to_string())),
        }
        Ok(())
    };
    while let Some(c) = chars.next() {
        if in_quote {
            item.push(c);
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    item.push('"');
                    chars.next();
                    cur.push('"');
                } else {
                    in_quote = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                if !cur.trim().is_empty() || quoted_part {
                    item.push(c);
                    return Err(TableListError::AfterQuote(format!("{}{}", item.trim(), rest(&mut chars))));
                }
                cur.clear();
                item.push(c);
                quoted_part = true;
                in_quote = true;
            }
            '.' => {
                item.push(c);
                finish_part(&mut cur, quoted_part, &mut parts);
                quoted_part = false;
            }
            ',' => {
                finish_part(&mut cur, quoted_part, &mut parts);
                quoted_part = false;
                finish_item(&mut parts, &mut item, &mut out)?;
            }
            c if quoted_part => {
                item.push(c);
                if !c.is_whitespace() {
                    return Err(TableListError::AfterQuote(format!("{}{}", item.trim(), rest(&mut chars))));
                }
            }
            c => {
                item.push(c);
                cur.push(c);
            }
        }
    }
    if in_quote {
        return Err(TableListError::Unterminated(item.trim().to_string()));
    }
    finish_part(&mut cur, quoted_part, &mut parts);
    finish_item(&mut parts, &mut item, &mut out)?;
    Ok(out)
}

/// True when a list entry is a Debezium-style pattern rather than a table name: it has a regex
/// metacharacter other than `.` (`* + ? [ ] ( ) { } | \\ ^ $`) outside double quotes.
pub fn is_table_pattern(entry: &str) -> bool {
    let mut quoted = false;
    for c in entry.chars() {
        match c {
            '"' => quoted = !quoted,
            '*' | '+' | '?' | '[' | ']' | '(' | ')' | '{' | '}' | '|' | '\\' | '^' | '$' if !quoted => {
                return true
            }
            _ => {}
        }
    }
    false
}

/// Split a table list into its entries (commas outside double quotes separate them), keeping each
/// entry's text: names keep their quoting for [`parse_table_list`], patterns stay as written for the
/// stream's filter. Every name entry is checked here, so a malformed name fails where the list is read.
pub fn split_table_list(s: &str) -> Result<Vec<String>, TableListError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(TableListError::Unterminated(cur.trim().to_string()));
    }
    out.push(cur);
    let out: Vec<String> = out.into_iter().map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect();
    for e in out.iter().filter(|e| !is_table_pattern(e)) {
        parse_table_list(e)?;
    }
    Ok(out)
}

/// The rest of the current item (up to the next comma), for error messages.
fn rest(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    chars.take_while(|&c| c != ',').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[(&str, &str)]) -> Vec<TableId> {
        v.iter().map(|(s, t)| TableId::new(*s, *t)).collect()
    }

    #[test]
    fn tables_flag_parses_quoted_names() {
        assert_eq!(
            parse_table_list("public.\"a,b\",public.\"x.y\",s.t").unwrap(),
            ids(&[("public", "a,b"), ("public", "x.y"), ("s", "t")])
        );
        assert_eq!(parse_table_list("t").unwrap(), ids(&[("public", "t")]));
        assert_eq!(parse_table_list(" s.t , u ,").unwrap(), ids(&[("s", "t"), ("public", "u")]));
        assert_eq!(
            parse_table_list("\"My S\".\"q\"\"t\",\"a,b\"").unwrap(),
            ids(&[("My S", "q\"t"), ("public", "a,b")])
        );
        assert_eq!(parse_table_list("\"a.b\".\" c \"").unwrap(), ids(&[("a.b", " c ")]));
        assert_eq!(parse_table_list(" \"a\" . \"b\" ,c").unwrap(), ids(&[("a", "b"), ("public", "c")]));
        assert_eq!(parse_table_list("Mixed.Case").unwrap(), ids(&[("Mixed", "Case")]));
        assert_eq!(parse_table_list("").unwrap(), vec![]);
        assert_eq!(parse_table_list(" , ").unwrap(), vec![]);
        // Round trip through TableId::quoted, which is how the binary hands names on.
        let all = ids(&[("public", "a,b"), ("x.y", "q\"t"), ("s", " sp ")]);
        let text = all.iter().map(TableId::quoted).collect::<Vec<_>>().join(",");
        assert_eq!(parse_table_list(&text).unwrap(), all);
    }

    #[test]
    fn malformed_table_lists_are_errors() {
        assert!(matches!(parse_table_list("public.\"a,b"), Err(TableListError::Unterminated(_))));
        assert!(matches!(parse_table_list("s."), Err(TableListError::EmptyPart(_))));
        assert!(matches!(parse_table_list(".t"), Err(TableListError::EmptyPart(_))));
        assert!(matches!(parse_table_list("\"\""), Err(TableListError::EmptyPart(_))));
        assert!(matches!(parse_table_list("a.b.c"), Err(TableListError::TooManyParts(_))));
        assert!(matches!(parse_table_list("\"a\"b"), Err(TableListError::AfterQuote(_))));
        assert!(matches!(parse_table_list("a\"b\""), Err(TableListError::AfterQuote(_))));
        let e = parse_table_list("x,a.b.c").unwrap_err().to_string();
        assert!(e.contains("\"a.b.c\"") && e.contains("Fix"), "{e}");
    }

    #[test]
    fn table_lists_keep_patterns_and_quoted_names_as_entries() {
        assert_eq!(
            split_table_list(r#"public."a,b", inventory\.orders_.*, s.t"#).unwrap(),
            vec![r#"public."a,b""#.to_string(), r"inventory\.orders_.*".into(), "s.t".into()]
        );
        assert!(is_table_pattern(r"public\.orders_.*"));
        assert!(!is_table_pattern(r#"public."a*b""#));
        assert!(matches!(split_table_list("a.b.c"), Err(TableListError::TooManyParts(_))));
        assert!(matches!(split_table_list(r#"public."a,b"#), Err(TableListError::Unterminated(_))));
    }
}
