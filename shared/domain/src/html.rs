//! Minimal HTML building for the activation page and mail: everything that comes from data
//! goes through [`escape`].

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A complete, self-contained page: readable on a phone, no script, no external resources.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\">\
<title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>\n",
        escape(title)
    )
}

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1b1f24}\
main{max-width:40rem;margin:0 auto;padding:1.25rem}h1{font-size:1.4rem}\
table{border-collapse:collapse;width:100%;background:#fff}\
td,th{text-align:left;padding:.45rem;border-bottom:1px solid #dde}\
label{display:block;margin:.8rem 0 .3rem;font-weight:600}\
input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem}\
button{margin-top:1rem;padding:.7rem 1.2rem;font-size:1rem;background:#0b5cad;color:#fff;\
border:0;border-radius:.3rem}\
.note{background:#fff;border-left:4px solid #0b5cad;padding:.6rem .9rem}.gone{border-color:#b42318}\
a.button{display:inline-block;padding:.7rem \
1.2rem;background:#0b5cad;color:#fff;border-radius:.3rem;text-decoration:none}\
label.inline{display:inline;font-weight:400}\
caption{text-align:left;font-weight:600;padding:.4rem 0}\
input[type=checkbox]{width:auto}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert!(page("<t>", "b").contains("<title>&lt;t&gt;</title>"));
    }
}
