//! The pages' frame (SPEC §7.3, §7.7): a skip link, a header with the account, the signed-in
//! email, the navigation and Sign out, one `main` with one `h1`, and the same help line in
//! every footer. No script, no external resource, every datum escaped; readable at 320 CSS
//! px, where only a wide table scrolls (in its own labelled, focusable region); the home page
//! prints without the navigation and forms.

use chrono::{DateTime, Utc};
use vls_domain::html::escape;
use vls_domain::model::Account;
use vls_store::PortalSession;

use crate::catalog;
pub use crate::table::wide_table;

/// The signed-in frame's facts: whose account, who is signed in, and the session's CSRF value
/// for the Sign out form.
pub struct Chrome<'a> {
    pub account: &'a Account,
    pub session: &'a PortalSession,
}

/// The navigation, in order: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/portal", "Licences"),
    ("/portal/subscriptions", "Subscriptions"),
    ("/portal/service-requests", "Service requests"),
    ("/portal/activity", "Activity"),
    ("/portal/help", "Help"),
];

/// `YYYY-MM-DD HH:MM UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn header(c: &Chrome<'_>, current: &str) -> String {
    let email = c.session.email.as_deref().unwrap_or(catalog::NO_EMAIL);
    let unverified = if c.session.email_verified {
        String::new()
    } else {
        format!(
            " <strong class=\"warn\" id=\"unverified\">{}</strong>",
            catalog::UNVERIFIED
        )
    };
    let nav: String = NAV
        .iter()
        .map(|(href, label)| {
            let here = if *href == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<li><a href=\"{href}\"{here}>{label}</a></li>")
        })
        .collect();
    format!(
        "<header class=\"top\"><p class=\"account\"><strong id=\"account-name\">{name}</strong> · \
{domain} · <code id=\"account-id\">{id}</code></p>\
<p class=\"who\">Signed in as <span id=\"signed-in\">{email}</span>{unverified}</p>\
<nav aria-label=\"Main\"><ul>{nav}</ul></nav>\
<form class=\"signout\" method=\"post\" action=\"/portal/sign-out\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" id=\"sign-out\">Sign out</button></form></header>",
        name = escape(&c.account.name),
        domain = escape(&c.account.domain),
        id = escape(c.account.id.as_str()),
        email = escape(email),
        csrf = escape(&c.session.csrf),
    )
}

/// A whole page: `title` (the `h1` is the page's own), the frame when signed in, `main`.
pub fn page(chrome: Option<&Chrome<'_>>, current: &str, title: &str, main: &str) -> String {
    let top = chrome.map(|c| header(c, current)).unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\">\
<title>{title} · {product}</title><style>{STYLE}</style></head><body>\
<a class=\"skip\" href=\"#main\">Skip to main content</a>{top}\
<main id=\"main\" tabindex=\"-1\">{main}</main>\
<footer><p id=\"help-line\">{help}</p></footer></body></html>\n",
        title = escape(title),
        product = catalog::PRODUCT,
        help = catalog::HELP_LINE,
    )
}

/// `s` encoded for a URL's query.
pub fn query_value(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The link to a list's next (older) page, if there is one.
pub fn older(path: &str, cursor: Option<&str>) -> String {
    cursor
        .map(|c| {
            format!(
                "<p class=\"noprint\"><a id=\"older\" href=\"{path}?cursor={}\">Older</a></p>",
                escape(&query_value(c))
            )
        })
        .unwrap_or_default()
}

/// Licence lines in words: `50 × Dynamics 365 Sales Professional, 3 × …`.
pub fn lines(lines: &vls_domain::types::Lines) -> String {
    lines
        .iter()
        .map(|l| format!("{} × {}", l.quantity.get(), escape(l.sku.display_name())))
        .collect::<Vec<_>>()
        .join(", ")
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1b1f24;line-height:1.45}\
main,header.top,footer{max-width:60rem;margin:0 auto;padding:.75rem 1rem}\
main:focus{outline:none}\
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:1.6rem}\
a{color:#0b4f94}\
a:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible,\
select:focus-visible,[tabindex]:focus-visible{outline:3px solid #b35c00;outline-offset:2px}\
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem}\
.skip:focus{left:.5rem;z-index:2}\
header.top{border-bottom:1px solid #c8ccd4;display:flex;flex-wrap:wrap;gap:.25rem 1rem;\
align-items:center}\
header.top p{margin:.2rem 0;overflow-wrap:anywhere}\
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem .75rem}\
nav a{display:inline-block;min-height:24px;min-width:24px;padding:.2rem .1rem}\
nav a[aria-current]{font-weight:700}\
.warn{color:#9b1c1c}\
table{border-collapse:collapse;width:100%;background:#fff}\
td,th{text-align:left;padding:.45rem;border-bottom:1px solid #d5d8de;vertical-align:top}\
th[scope=col]{vertical-align:bottom}\
td.n,th.n{text-align:right}\
caption{text-align:left;font-weight:600;padding:.4rem 0}\
.scroll{overflow-x:auto;max-width:100%}\
label{display:block;margin:.8rem 0 .3rem;font-weight:600}\
input,textarea{font-size:1rem;padding:.5rem;max-width:100%}textarea{width:40rem}\
button,.button{display:inline-block;min-height:44px;margin-top:.75rem;padding:.6rem 1.1rem;\
font-size:1rem;background:#0b4f94;color:#fff;border:0;border-radius:.3rem;text-decoration:none}\
form.signout button{min-height:32px;margin:0;padding:.3rem .8rem;background:#3d4653}\
.note{background:#fff;border-left:4px solid #0b4f94;padding:.6rem .9rem}\
.error{background:#fff;border-left:4px solid #9b1c1c;padding:.6rem .9rem}\
.todo{background:#fff;border:1px solid #c8ccd4;padding:.6rem .9rem}\
code,h1,p,dd,li{overflow-wrap:anywhere}\
footer{border-top:1px solid #c8ccd4;margin-top:2rem;font-size:.95rem}\
@media print{header.top,nav,form,.skip,footer,.noprint{display:none}\
body{background:#fff}.scroll{overflow:visible}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_minutes_in_utc() {
        let t = DateTime::parse_from_rfc3339("2026-03-04T05:06:59Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(time(t), "2026-03-04 05:06 UTC");
    }

    #[test]
    fn a_page_has_one_main_a_skip_link_first_and_no_script() {
        let html = page(None, "/portal", "T <x>", "<h1>T</h1>");
        assert_eq!(html.matches("<main").count(), 1);
        let skip = html.find("class=\"skip\"").expect("skip link");
        assert!(skip < html.find("<main").expect("main"));
        assert!(html.contains("<title>T &lt;x&gt;"));
        assert!(!html.contains("<script"));
        assert!(html.contains("lang=\"en\""));
    }
}
