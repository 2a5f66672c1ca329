//! A table wider than a phone (SPEC §7.7): at 320 CSS px only a table scrolls sideways, in
//! its own labelled region that the keyboard can reach.

use vls_domain::html::escape;

/// A table that may be wider than a phone: it scrolls sideways in its own region.
pub fn wide_table(label: &str, table: &str) -> String {
    format!(
        "<div class=\"scroll\" role=\"region\" aria-label=\"{}\" tabindex=\"0\">{table}</div>",
        escape(label)
    )
}
