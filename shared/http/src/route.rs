//! A function's routes as data: method, path template, who may call it, handler. The table
//! is what the function serves (404 for a path it does not know, 405 for a method a known
//! path does not take, 401/403 before the handler runs) and what the contract test reads
//! to check `openapi.yaml`, `template.yaml` and the local router against.

use std::future::Future;
use std::pin::Pin;

use crate::types::{
    AccountId, AgreementId, DeliveryId, EndpointId, EventId, OrderId, ReservationId,
    ServiceRequestId, SubscriptionId,
};
use crate::{Ctx, Problem, Reply, Role};

/// What a handler answers.
pub type Answer = Result<Reply, Problem>;

/// A handler's answer, boxed so that handlers of one function share a type.
pub type Pending<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// A handler: the function's dependencies, the request, the path's parameters.
pub type Handler<A> = for<'a> fn(&'a A, &'a Ctx, &'a Params) -> Pending<'a>;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A caller the gateway authenticated, with one of these roles (401, then 403).
    Roles(&'static [Role]),
    /// Anyone: the handler decides (the activation pages, which sign the person in).
    Public,
}

/// One route of a function.
pub struct Route<A: 'static> {
    /// `GET`, `POST`, `PUT`.
    pub method: &'static str,
    /// The path as API Gateway and `openapi.yaml` write it: `/orders/{order_id}/invoice`.
    pub template: &'static str,
    pub access: Access,
    pub handler: Handler<A>,
}

/// A route; `handler` is an `async fn(&A, &Ctx, &Params) -> Answer`.
#[macro_export]
macro_rules! route {
    ($method:literal, $template:literal, $access:expr, $handler:path) => {
        $crate::route::Route {
            method: $method,
            template: $template,
            access: $access,
            handler: |app, ctx, params| Box::pin($handler(app, ctx, params)),
        }
    };
}

/// The values of a path's `{name}` segments.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The raw value of `{name}` (empty if the template has no such segment).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// `{name}` as an id: one that cannot exist is simply not found (404).
    pub fn id<T: PathId>(&self, name: &str) -> Result<T, Problem> {
        T::from_path(self.get(name)).ok_or_else(|| Problem::not_found(T::WHAT))
    }
}

/// An id that can stand in a path.
pub trait PathId: Sized {
    /// What a 404 says was not found.
    const WHAT: &'static str;
    fn from_path(raw: &str) -> Option<Self>;
}

macro_rules! path_ids {
    ($($t:ty => $what:literal),* $(,)?) => {$(
        impl PathId for $t {
            const WHAT: &'static str = $what;
            fn from_path(raw: &str) -> Option<Self> {
                <$t>::parse(raw)
            }
        }
    )*};
}

path_ids! {
    AccountId => "account",
    AgreementId => "agreement",
    OrderId => "order",
    ReservationId => "reservation",
    SubscriptionId => "subscription",
    EndpointId => "webhook endpoint",
    EventId => "event",
    DeliveryId => "delivery",
    ServiceRequestId => "service request",
}

impl<A> Route<A> {
    /// The parameters if `segments` is a path of this template.
    fn matches(&self, segments: &[&str]) -> Option<Params> {
        let mut parts = self.template.split('/').filter(|s| !s.is_empty());
        let mut params = Vec::new();
        for segment in segments {
            match parts.next()? {
                p if p.starts_with('{') && p.ends_with('}') => {
                    params.push((&p[1..p.len() - 1], (*segment).to_owned()));
                }
                p if p == *segment => {}
                _ => return None,
            }
        }
        parts.next().is_none().then_some(Params(params))
    }
}

/// Runs the route of `routes` that takes the request; answers with its template (what is
/// logged: never the path, which may carry a link's secret).
pub async fn dispatch<A>(routes: &[Route<A>], app: &A, ctx: &Ctx) -> (&'static str, Answer) {
    let segments = ctx.segments();
    let mut known_path = None;
    for route in routes {
        let Some(params) = route.matches(&segments) else {
            continue;
        };
        if route.method != ctx.method.as_str() {
            known_path.get_or_insert(route.template);
            continue;
        }
        if let Access::Roles(roles) = route.access
            && let Err(refused) = ctx.caller(roles)
        {
            return (route.template, Err(refused));
        }
        return (route.template, (route.handler)(app, ctx, &params).await);
    }
    match known_path {
        Some(template) => (
            template,
            Err(Problem::new(
                405,
                "method_not_allowed",
                "this path does not accept that method",
            )),
        ),
        None => (
            "unrouted",
            Err(Problem::new(404, "not_found", "no such route")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo(_: &(), _: &Ctx, p: &Params) -> Answer {
        Ok(Reply::ok(&serde_json::json!({ "id": p.get("order_id") })))
    }

    fn route(template: &'static str) -> Route<()> {
        route!("GET", "/", Access::Public, echo).with_template(template)
    }

    impl<A> Route<A> {
        fn with_template(mut self, template: &'static str) -> Self {
            self.template = template;
            self
        }
    }

    #[test]
    fn a_template_matches_its_paths_only() {
        let r = route("/orders/{order_id}/invoice");
        let params = r.matches(&["orders", "o1", "invoice"]).expect("matches");
        assert_eq!(params.get("order_id"), "o1");
        assert_eq!(params.get("agreement_id"), "");
        assert!(r.matches(&["orders", "o1"]).is_none());
        assert!(r.matches(&["orders", "o1", "invoice", "x"]).is_none());
        assert!(r.matches(&["agreements", "o1", "invoice"]).is_none());
        assert!(route("/orders").matches(&["orders"]).is_some());
    }

    #[test]
    fn an_id_that_cannot_exist_is_not_found() {
        let params = Params(vec![("order_id", "not an id".into())]);
        let refused = params.id::<OrderId>("order_id").expect_err("refused");
        assert_eq!((refused.status, refused.code), (404, "not_found"));
    }
}
