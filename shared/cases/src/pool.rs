//! The pool's sources as a list (SPEC §4: `GET …/licenses/sources`): a line per source and
//! SKU, a page at a time, which the JSON route and the customer's home page both show.

use vls_domain::catalog::Sku;
use vls_domain::rules::pool::{self, LinesAfter, LinesAsked, SourceLine};
use vls_domain::types::AccountId;
use vls_http::Problem;
use vls_http::paging::{Asked, invalid_cursor};
use vls_store::{Start, Store};

/// One page of the account's source lines as `asked` (only `sku`'s if one is named), and the
/// position the next page starts after, if anything follows (one query).
pub async fn source_lines(
    store: &Store,
    account: &AccountId,
    asked: &Asked,
    sku: Option<Sku>,
) -> Result<(Vec<SourceLine>, Option<String>), Problem> {
    let start = match asked.after.as_deref() {
        Some(text) => Some(LinesAfter::from_text(text).ok_or_else(invalid_cursor)?),
        None => None,
    };
    // A page that ended inside a source goes on from that source's next line.
    let from = start.as_ref().map(|s| match s.sku {
        Some(_) => Start::From(s.position.clone()),
        None => Start::After(s.position.clone()),
    });
    let read = store
        .sources_page(account, from, asked.limit, asked.descending)
        .await?;
    let more = read.next.is_some();
    let lines_asked = LinesAsked {
        start: start.as_ref(),
        sku,
        limit: asked.limit,
        descending: asked.descending,
    };
    let (lines, next) = pool::lines_page(&read.items, lines_asked, more);
    Ok((lines, next.map(|n| n.to_text())))
}
