//! One column's value inside a row or a key: its datum converted by the column's
//! [`crate::convert::Conv`], or — when there is no value to convert — what Debezium writes instead:
//! the schema default, the converter's NOT NULL fallback, the old row's value or the placeholder for
//! an unchanged TOAST value.
//!
//! Invariant: a value the converter cannot express ([`ConvError::Unrepresentable`]) becomes null in a
//! value field (for extension types only where the field's schema allows null, see
//! `Conv::null_allowed`); in a key, or a required extension field, the change stops with an
//! [`EncodeError`] naming table, column and text, as the connector stops.

use tidemark_model::Datum;

use super::Encoder;
use crate::convert::ConvError;
use crate::plan::{ColPlan, TablePlan};
use crate::EncodeError;

impl Encoder {
    fn write_null_col(&self, out: &mut Vec<u8>, plan: &TablePlan, c: &ColPlan) -> Result<(), EncodeError> {
        match &c.default {
            Some(d) if self.cfg.replace_null_with_default || !c.optional => {
                out.extend_from_slice(d.as_bytes())
            }
            _ if !c.optional => match c.conv.fallback_refused() {
                Some(e) => return Err(self.value_err(plan, c, b"(no value)", e.reason())),
                None => c.conv.write_fallback(out),
            },
            _ => out.extend_from_slice(b"null"),
        }
        Ok(())
    }

    /// A value Debezium's converter cannot express: null where the field may be null, else (and in a
    /// key) the change stops.
    fn unrepresentable(
        &self,
        out: &mut Vec<u8>,
        plan: &TablePlan,
        c: &ColPlan,
        text: &[u8],
        in_key: bool,
        e: ConvError,
    ) -> Result<(), EncodeError> {
        match e {
            ConvError::Unrepresentable(_) if !in_key && c.conv.null_allowed(c.optional) => {
                out.extend_from_slice(b"null");
                Ok(())
            }
            e => Err(self.value_err(plan, c, text, e.reason())),
        }
    }

    pub(super) fn write_col(
        &self,
        out: &mut Vec<u8>,
        plan: &TablePlan,
        c: &ColPlan,
        row: &[Datum],
        old: Option<&[Datum]>,
        in_key: bool,
    ) -> Result<(), EncodeError> {
        let d = row.get(c.index).unwrap_or(&Datum::Null);
        let d = match d {
            Datum::UnchangedToast => match old.and_then(|o| o.get(c.index)) {
                Some(o @ Datum::Text(_)) => o,
                _ => {
                    if let Some(e) = c.conv.toast_refused() {
                        return self.unrepresentable(out, plan, c, b"(unchanged TOAST value)", in_key, e);
                    }
                    c.conv.write_placeholder(out, &self.cfg.unavailable_placeholder);
                    return Ok(());
                }
            },
            other => other,
        };
        match d {
            Datum::Null | Datum::UnchangedToast => self.write_null_col(out, plan, c)?,
            Datum::Text(b) => {
                let text = std::str::from_utf8(b).map_err(|_| self.value_err(plan, c, b, "not UTF-8"))?;
                let start = out.len();
                if let Err(e) = c.conv.write(out, text) {
                    // Debezium's value converter leaves such a field null; a key (or a field whose
                    // schema is required) stops it.
                    out.truncate(start);
                    self.unrepresentable(out, plan, c, b, in_key, e)?;
                }
            }
            Datum::Binary(b) => {
                return Err(self.value_err(plan, c, b, "binary-format values are not supported"))
            }
        }
        Ok(())
    }

    fn value_err(&self, plan: &TablePlan, c: &ColPlan, b: &[u8], reason: &str) -> EncodeError {
        let text = String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned();
        EncodeError::Value {
            table: plan.table.id.to_string(),
            column: c.name.clone(),
            type_name: c.type_name.clone(),
            text,
            reason: reason.to_string(),
        }
    }

    pub(super) fn write_row(
        &self,
        out: &mut Vec<u8>,
        plan: &TablePlan,
        row: Option<&[Datum]>,
        old: Option<&[Datum]>,
    ) -> Result<(), EncodeError> {
        let Some(row) = row else {
            out.extend_from_slice(b"null");
            return Ok(());
        };
        out.push(b'{');
        for (i, c) in plan.value_cols.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&c.field_prefix);
            self.write_col(out, plan, c, row, old, false)?;
        }
        out.push(b'}');
        Ok(())
    }
}
