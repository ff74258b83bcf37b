//! ct-ls: read-only listings of the store. Each listing is a table for humans, `--json` for
//! scripts, or `-q` (one name per line, for pipes).

pub mod cli;
pub mod containers;
pub mod images;
pub mod layers;

/// How to print a listing.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Format {
    /// JSON array, for scripts.
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,
    /// Names only, one per line, for pipes.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LsError {
    #[error("{0} listing is not implemented yet")]
    NotImplemented(&'static str),
    #[error(transparent)]
    Layout(#[from] ct_layout::image_layout::LayoutError),
    #[error(transparent)]
    State(#[from] ct_layout::state::StateError),
}

impl ct_layout::tool::Failure for LsError {}

/// Print rows as a table with left-aligned columns separated by three spaces. A cell comes
/// from an image's config, a command line or a label: its control characters are escaped
/// ([`ct_layout::pipe::escaped`]), so that a newline or an escape sequence neither breaks
/// the table nor reaches the terminal.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| ct_layout::pipe::escaped(c)).collect())
        .collect();
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i < width.len() {
                width[i] = width[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            out.push_str(c);
            if i + 1 < n {
                out.push_str(&" ".repeat(width[i] - c.chars().count() + 3));
            }
        }
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in &rows {
        line(r.iter().map(|c| &**c).collect(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_aligns() {
        let t = super::table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A     BB\nxxx   y\n");
    }

    #[test]
    fn control_characters_in_a_cell_are_escaped() {
        let cell = "sh -c echo \u{1b}[31mred\nx\u{9b}2J";
        let t = super::table(&["CMD", "N"], &[vec![cell.into(), "1".into()]]);
        assert_eq!(
            t,
            "CMD                                   N\nsh -c echo \\u{1b}[31mred\\nx\\u{9b}2J   1\n"
        );
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'));
    }
}
