//! P10, Help (SPEC §7.3): who to ask for what, as the FAQ has it.

use vls_http::{Answer, Ctx, Params, Reply};

use crate::{App, catalog, guard, layout};

/// GET /portal/help.
pub async fn help(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let signed = match guard::for_page(app, ctx).await {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    let main = format!("<h1>Help</h1>{}", catalog::HELP);
    Ok(Reply::html(
        200,
        layout::page(Some(&signed.chrome()), "/portal/help", "Help", &main),
    ))
}
