//! Debezium's `source.snapshot` marker for each read row, decided one row late.
//!
//! Rule (Debezium's `SnapshotMarkerResolver`, highest priority first): the last row of the whole snapshot
//! is `last`; the first row of the whole snapshot `first`; the last row of a table
//! `last_in_data_collection`; the first row of a table `first_in_data_collection`; every other row `true`.
//! Whether a row is the last of its table (or of everything) is known only when the next row arrives
//! or the snapshot ends, so each row is held back until then — which also puts `last` on the final row
//! when the last tables are empty, as Debezium's buffering receiver does.
//!
//! Invariant: rows leave in the order they came, each exactly once, the held one at [`Markers::finish`].

/// Marks rows of type `T` as they stream past, one row late.
#[derive(Debug)]
pub struct Markers<T> {
    /// The held-back row: its table and whether it opened its table.
    held: Option<(T, usize, bool)>,
    /// A row was released already (so the held one is not the first of the snapshot).
    released_any: bool,
}

impl<T> Default for Markers<T> {
    fn default() -> Self {
        Markers { held: None, released_any: false }
    }
}

impl<T> Markers<T> {
    /// Take the next row (of table number `table`); returns the previous row with its marker.
    pub fn push(&mut self, table: usize, row: T) -> Option<(T, &'static str)> {
        let first_in_table = self.held.as_ref().is_none_or(|(_, t, _)| *t != table);
        let out = self.held.take().map(|(prev, prev_table, prev_first)| {
            let marker = if !self.released_any {
                "first"
            } else if prev_table != table {
                "last_in_data_collection"
            } else if prev_first {
                "first_in_data_collection"
            } else {
                "true"
            };
            (prev, marker)
        });
        if out.is_some() {
            self.released_any = true;
        }
        // A table's first row is the first one seen of it (tables arrive one after another).
        self.held = Some((row, table, first_in_table));
        out
    }

    /// The snapshot ended: the held row, marked `last`.
    pub fn finish(&mut self) -> Option<(T, &'static str)> {
        self.held.take().map(|(row, _, _)| (row, "last"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rows: &[(usize, u32)]) -> Vec<(u32, &'static str)> {
        let mut m = Markers::default();
        let mut out: Vec<(u32, &'static str)> = rows.iter().filter_map(|&(t, r)| m.push(t, r)).collect();
        out.extend(m.finish());
        out
    }

    #[test]
    fn first_last_and_per_table_markers_in_debezium_priority() {
        // Table 0: 3 rows, table 1: 1 row, table 2: 2 rows.
        let got = run(&[(0, 1), (0, 2), (0, 3), (1, 4), (2, 5), (2, 6)]);
        assert_eq!(
            got,
            vec![
                (1, "first"),
                (2, "true"),
                (3, "last_in_data_collection"),
                (4, "last_in_data_collection"), // a one-row table in the middle
                (5, "first_in_data_collection"),
                (6, "last"),
            ]
        );
    }

    #[test]
    fn single_row_and_empty_snapshots() {
        assert_eq!(run(&[(0, 7)]), vec![(7, "last")]);
        assert_eq!(run(&[]), vec![]);
        // The last tables are empty: the last row read is still `last`.
        assert_eq!(run(&[(0, 1), (0, 2)]), vec![(1, "first"), (2, "last")]);
        // The first row of a one-row first table: `first` wins over `last_in_data_collection`.
        assert_eq!(
            run(&[(0, 1), (1, 2), (1, 3)]),
            vec![(1, "first"), (2, "first_in_data_collection"), (3, "last")]
        );
    }
}
