//! Service requests (R18, SPEC §7.4): a customer's administrator asks Billing Support to
//! cancel a direct subscription R11 refuses; Billing Support works its queue, acknowledging or
//! declining each; the administrator may withdraw one; the cancellation of its subscription
//! (`POST …/cancellation`) resolves it.

use vls_domain::access;
use vls_domain::input;
use vls_domain::model::{ServiceRequest, ServiceRequestStatus};
use vls_domain::rules::service_requests;
use vls_domain::types::{AccountId, ServiceRequestId};
use vls_domain::views::ServiceRequestView;
use vls_http::paging::List;
use vls_http::{Answer, Ctx, Params, Planned, Principal, Problem, Reply, mutate};

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
    path.id::<ServiceRequestId>("service_request_id")
        .ok()
        .filter(|id| access::account_visible(p, &id.account()))
        .ok_or_else(|| Problem::not_found("service request"))
}

fn shown(r: &ServiceRequest) -> Reply {
    Reply::ok(&ServiceRequestView::from(r)).with_etag()
}

/// POST /accounts/{id}/service-requests `{subscription_id, message?, accept_license_loss}`:
/// 201 with the request (R18).
pub(crate) async fn open(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let account_id = &account_in_path(p, path)?;
    let (sub_id, ask) = &ctx.parse(input::new_service_request)?;
    let id = &ServiceRequestId::generate(account_id);
    let by = &p.actor();
    mutate(&app.store, ctx, move || async move {
        let (account, sub) = app
            .store
            .account_and_subscription(account_id, sub_id)
            .await?;
        let account = account.ok_or_else(|| Problem::not_found("account"))?;
        let sub = sub.ok_or_else(|| Problem::not_found("subscription"))?;
        let volume = account.volume.clone();
        let made = service_requests::open(
            &account,
            &sub,
            &volume,
            ask.clone(),
            (id.clone(), by),
            ctx.now,
        )?;
        let location = format!("/service-requests/{}", made.outcome.id);
        let reply = Reply::created(&ServiceRequestView::from(&made.outcome), location).with_etag();
        Ok(Planned::by(p, reply, made.change))
    })
    .await
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
        let done = service_requests::acknowledge(&account, &r, (note.clone(), by), ctx.now)?;
        Ok(Planned::by(p, shown(&done.outcome), done.change))
    })
    .await
}

/// How a request is closed by a route: declined with a note, or withdrawn.
#[derive(Clone, Copy)]
enum Closing {
    Decline,
    Withdraw,
}

/// POST /service-requests/{id}/decline `{note}` (Billing Support).
pub(crate) async fn decline(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    close(app, ctx, path, Closing::Decline).await
}

/// POST /service-requests/{id}/withdraw (the administrator of its account).
pub(crate) async fn withdraw(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    close(app, ctx, path, Closing::Withdraw).await
}

async fn close(app: &App, ctx: &Ctx, path: &Params, how: Closing) -> Answer {
    let p = ctx.principal()?;
    let id = &request_in_path(p, path)?;
    let note = &match how {
        Closing::Decline => ctx.parse(|b| input::note(b, true))?,
        Closing::Withdraw => None,
    };
    let by = &p.actor();
    mutate(&app.store, ctx, move || async move {
        let (account, r) = app.store.account_and_service_request(id).await?;
        let (Some(account), Some(r)) = (account, r) else {
            return Err(Problem::not_found("service request"));
        };
        let sub = app
            .store
            .subscription(&account.id, &r.subscription_id)
            .await?
            .ok_or_else(|| Problem::not_found("subscription"))?;
        // A decline always has its note (parsed as required above); a withdrawal none.
        let done = match note {
            Some(note) => {
                service_requests::decline(&account, (&r, &sub), (note.clone(), by), ctx.now)?
            }
            None => service_requests::withdraw(&account, (&r, &sub), by, ctx.now)?,
        };
        Ok(Planned::by(p, shown(&done.outcome), done.change))
    })
    .await
}
