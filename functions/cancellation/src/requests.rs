//! Service requests (R18, SPEC §7.4): a customer's administrator asks Billing Support to
//! cancel a direct subscription R11 refuses; Billing Support works its queue, acknowledging or
//! declining each; the administrator may withdraw one; the cancellation of its subscription
//! (`POST …/cancellation`) resolves it.

use vls_cases::By;
use vls_cases::service_requests::{self, Closing, shown};
use vls_domain::access;
use vls_domain::input;
use vls_domain::model::ServiceRequestStatus;
use vls_domain::rules::service_requests as rules;
use vls_domain::types::{AccountId, ServiceRequestId};
use vls_domain::views::ServiceRequestView;
use vls_http::paging::List;
use vls_http::{Answer, Ctx, Params, Planned, Principal, Problem, mutate};

use crate::App;

/// The account in the path, if the caller may see it (404 otherwise).
fn account_in_path(p: &Principal, path: &Params) -> Result<AccountId, Problem> {
    path.id::<AccountId>("account_id")
        .ok()
        .filter(|a| access::account_visible(p, a))
        .ok_or_else(|| Problem::not_found("account"))
}

/// The request in the path, if the caller may see it: Billing Support, or the administrator
/// of its account (404 otherwise, as for one that never existed).
fn request_in_path(p: &Principal, path: &Params) -> Result<ServiceRequestId, Problem> {
    let id = path.id::<ServiceRequestId>("service_request_id").ok();
    service_requests::visible_request(p, id)
}

/// POST /accounts/{id}/service-requests `{subscription_id, message?, accept_license_loss}`:
/// 201 with the request (R18).
pub(crate) async fn open(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let account_id = &account_in_path(p, path)?;
    let (sub_id, ask) = &ctx.parse(input::new_service_request)?;
    let by = &By::json(ctx)?;
    service_requests::open(&app.store, ctx, by, (account_id, sub_id), ask).await
}

/// `?status=`: one of the statuses, or none.
fn status_filter(ctx: &Ctx) -> Result<(Option<String>, Option<ServiceRequestStatus>), Problem> {
    let filter = ctx.query_param("status").filter(|s| !s.is_empty());
    let wanted = match filter.as_deref() {
        None => None,
        Some("open") => Some(ServiceRequestStatus::Open),
        Some("in_progress") => Some(ServiceRequestStatus::InProgress),
        Some("resolved") => Some(ServiceRequestStatus::Resolved),
        Some("declined") => Some(ServiceRequestStatus::Declined),
        Some("withdrawn") => Some(ServiceRequestStatus::Withdrawn),
        Some(other) => {
            let why =
                format!("{other:?} is not open, in_progress, resolved, declined or withdrawn");
            return Err(Problem::new(422, "invalid_status", why).at_field("status"));
        }
    };
    Ok((filter, wanted))
}

/// GET /accounts/{id}/service-requests?status=: the account's requests, a page at a time, in
/// the order they were opened (the status applies to the page read).
pub(crate) async fn list(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let account_id = account_in_path(p, path)?;
    let (filter, wanted) = status_filter(ctx)?;
    let key = app.config.cursor_key.as_ref();
    let names = ("service_requests", "service_requests");
    let mut list = List::new(key, names, account_id.as_str(), filter.as_deref(), p);
    let asked = list.asked(ctx)?;
    let page = app
        .store
        .service_requests_page(
            &account_id,
            asked.after.as_deref(),
            asked.limit,
            asked.descending,
        )
        .await?;
    let views: Vec<ServiceRequestView> = page
        .items
        .iter()
        .filter(|r| wanted.is_none_or(|w| r.status == w))
        .map(ServiceRequestView::from)
        .collect();
    list.reply(&views, page.next.as_deref())
}

/// GET /service-requests: Billing Support's queue, every account's requests open or in
/// progress, oldest first, a page at a time.
pub(crate) async fn queue(app: &App, ctx: &Ctx, _path: &Params) -> Answer {
    let p = ctx.principal()?;
    let key = app.config.cursor_key.as_ref();
    let names = ("service_requests", "service_request_queue");
    let mut list = List::new(key, names, "queue", None, p);
    let asked = list.asked(ctx)?;
    let page = app
        .store
        .service_request_queue_page(asked.after.as_deref(), asked.limit, asked.descending)
        .await?;
    let views: Vec<ServiceRequestView> = page.items.iter().map(ServiceRequestView::from).collect();
    list.reply(&views, page.next.as_deref())
}

/// GET /service-requests/{id}.
pub(crate) async fn get(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id = request_in_path(p, path)?;
    let r = app
        .store
        .service_request(&id)
        .await?
        .ok_or_else(|| Problem::not_found("service request"))?;
    Ok(shown(&r))
}

/// POST /service-requests/{id}/acknowledge `{note?}` (Billing Support): `in_progress`; one
/// already in progress is answered as it is.
pub(crate) async fn acknowledge(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id = &request_in_path(p, path)?;
    let note = &ctx.parse_optional(|b| input::note(b, false))?.flatten();
    let by = &p.actor();
    mutate(&app.store, ctx, move || async move {
        let (account, r) = app.store.account_and_service_request(id).await?;
        let (Some(account), Some(r)) = (account, r) else {
            return Err(Problem::not_found("service request"));
        };
        let done = rules::acknowledge(&account, &r, (note.clone(), by), ctx.now)?;
        Ok(Planned::by(p, shown(&done.outcome), done.change))
    })
    .await
}

/// POST /service-requests/{id}/decline `{note}` (Billing Support).
pub(crate) async fn decline(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id = &request_in_path(p, path)?;
    // Required: a decline always has its note.
    let note = ctx.parse(|b| input::note(b, true))?.unwrap_or_default();
    let by = &By::json(ctx)?;
    service_requests::close(&app.store, ctx, by, id, &Closing::Decline { note }).await
}

/// POST /service-requests/{id}/withdraw (the administrator of its account).
pub(crate) async fn withdraw(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id = &request_in_path(p, path)?;
    let by = &By::json(ctx)?;
    service_requests::close(&app.store, ctx, by, id, &Closing::Withdraw).await
}
