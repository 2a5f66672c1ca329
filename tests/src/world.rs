//! The harness (real handlers over a fresh table) and the tenancies the suites start from.

use super::*;

/// The tenancy most API tests start from: billing support registered the partner `p1`
/// (Fabrikam) and created the account Contoso, which holds Office 365.
pub struct Tenancy {
    pub h: Harness,
    pub bs: String,
    pub partner: String,
    pub account: String,
    pub admin: String,
}

impl Tenancy {
    pub async fn new() -> Self {
        let h = Harness::new().await;
        let bs = billing_support();
        h.put("/partners/p1", &bs, &fixtures::partner_body("Fabrikam"))
            .await;
        let account = h
            .post("/accounts", &bs, &fixtures::mos_account_body("Contoso"))
            .await
            .id();
        Self {
            admin: admin(&account),
            h,
            bs,
            partner: partner("p1"),
            account,
        }
    }

    /// A `program` agreement (customer number 4711, started `start`) associated with the
    /// account from the start.
    pub async fn associated(&self, program: &str, start: &str) -> String {
        let mut body = fixtures::agreement_body("4711", start);
        body["program"] = serde_json::json!(program);
        body["online_services_account_id"] = serde_json::json!(self.account);
        let r = self.h.post("/agreements", &self.partner, &body).await;
        assert_eq!(r.status, 201, "{}", r.raw);
        r.id()
    }
}

/// Every function over one fresh table of its own, with a clock the test controls and a
/// mail sender identity of its own.
pub struct Harness {
    pub app: App,
    pub activation: activation::App,
    pub portal: portal::App,
    pub reservations: reservations::App,
    pub true_up: true_up::App,
    pub remap: remap::App,
    pub cancellation: cancellation::App,
    pub webhooks: webhooks::App,
    pub dispatcher: webhook_dispatcher::Dispatcher,
    pub webhook_sender: webhook_sender::Sender,
    pub mailer: MailerApp,
    pub sender: String,
    pub clock: TestClock,
    pub table: String,
    pub ops: Counter,
    pub faults: Faults,
    pub ses_faults: SesFaults,
    pub client: Client,
    pub sqs: aws_sdk_sqs::Client,
    /// Where the webhook endpoints' names resolve, for the endpoints' check and the sender.
    pub resolver: vls_runtime::resolve::Resolver,
}

impl Drop for Harness {
    /// Drops the test's table, so the emulator stays small for everyone else.
    fn drop(&mut self) {
        let (client, table) = (self.client.clone(), self.table.clone());
        let sqs = self.sqs.clone();
        let queues = [
            self.true_up.queue.url(),
            self.mailer.wakeups.url(),
            self.dispatcher.deliveries.url(),
        ]
        .map(str::to_owned);
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(client.delete_table().table_name(table).send());
                for queue in queues {
                    let _ = rt.block_on(sqs.delete_queue().queue_url(queue).send());
                }
            }
        })
        .join();
    }
}

impl Harness {
    pub async fn new() -> Self {
        let client = client();
        let clock = TestClock::new();
        let table = format!("t{}", ulid::Ulid::generate().to_string().to_lowercase());
        create_table(&client, &table).await;
        let ops = Counter::default();
        let faults = Faults::default();
        let conf = aws_sdk_dynamodb::Config::from(&sdk_config())
            .to_builder()
            .interceptor(ops.clone())
            .interceptor(faults.clone())
            .build();
        let config = Config {
            table_name: table.clone(),
            auth: AuthMode::local(SECRET),
            policy: Policy::default(),
            cursor_key: vls_http::paging::CursorKey::development(),
        };
        let store = Store::new(Client::from_conf(conf), table.clone());
        let sender = format!("licensing@{table}.example.com");
        sender_identity(&sender, true).await;
        let activation = activation::App {
            store: store.clone(),
            verifier: SelfVerifier::from_env(&config.auth),
            config: config.clone(),
            clock: clock.as_clock(),
            sign_in: sign_in_setup(&oidc_issuer(), PUBLIC_BASE_URL),
        };
        let portal = portal::App {
            store: store.clone(),
            config: config.clone(),
            clock: clock.as_clock(),
            sign_in: crate::portal_sign_in_setup(&oidc_issuer(), PUBLIC_BASE_URL),
            timing: portal::Timing::default(),
        };
        let sqs = aws_sdk_sqs::Client::new(&sdk_config());
        let wakeups = work_queue::create(&sqs, &format!("{table}-mail-wakeups")).await;
        let ses_faults = SesFaults::default();
        // The mailer's own handling is under test: the SDK does not retry on its own here.
        let ses_conf = aws_sdk_sesv2::Config::from(&sdk_config())
            .to_builder()
            .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
            .interceptor(ses_faults.clone())
            .build();
        let mailer = MailerApp {
            store: store.clone(),
            mailer: Mailer::new(aws_sdk_sesv2::Client::from_conf(ses_conf), sender.clone()),
            settings: MailerSettings {
                sender: sender.clone(),
                public_base_url: PUBLIC_BASE_URL.into(),
                throttle_pause: std::time::Duration::from_millis(10),
                // A throttled mail waits a moment (the test clock moves only when told).
                waits: activation_mailer::Waits {
                    throttled: chrono::Duration::milliseconds(10),
                    ..activation_mailer::Waits::default()
                },
                // Two at a time, so that tests see a run stop before it tried everything.
                in_flight: 2,
                ..MailerSettings::default()
            },
            clock: clock.as_clock(),
            // Paced, as deployed; fast enough that no test waits on it.
            pacer: activation_mailer::pacing::Pacer::fixed(1000.0),
            wakeups: vls_runtime::queue::Queue::new(sqs.clone(), wakeups),
        };
        let reservations = reservations::App {
            store: store.clone(),
            config: config.clone(),
            clock: clock.as_clock(),
        };
        let queue_url = work_queue::create(&sqs, &format!("{table}-true-up")).await;
        let true_up = true_up::App {
            store: store.clone(),
            queue: vls_runtime::queue::Queue::new(sqs.clone(), queue_url),
            tell_partners: true,
        };
        let remap = remap::App {
            store: store.clone(),
            config: config.clone(),
            clock: clock.as_clock(),
        };
        let cancellation = cancellation::App {
            store: store.clone(),
            config: config.clone(),
            clock: clock.as_clock(),
        };
        // One resolver for the endpoints' check and the sender's: the tests may re-point a
        // name between the two.
        let resolver = vls_runtime::resolve::Resolver::system();
        let deliveries = work_queue::create(&sqs, &format!("{table}-deliveries")).await;
        let deliveries = vls_runtime::queue::Queue::new(sqs.clone(), deliveries);
        let webhooks = webhooks::App {
            store: store.clone(),
            config: config.clone(),
            clock: clock.as_clock(),
            sealing: std::sync::Arc::new(vls_http::sealing::SealingKey::development("webhook")),
            resolver: resolver.clone(),
            deliveries: deliveries.clone(),
        };
        let dispatcher = webhook_dispatcher::Dispatcher {
            store: store.clone(),
            // The stream is not fed here: the sweep takes every event at once.
            settings: webhook_dispatcher::Settings {
                sweep_after: chrono::Duration::zero(),
                ..webhook_dispatcher::Settings::default()
            },
            clock: clock.as_clock(),
            deliveries: deliveries.clone(),
        };
        let webhook_sender = webhook_sender::Sender {
            store: store.clone(),
            // Every due delivery at once (the queue is worked only where a test says so).
            settings: webhook_sender::Settings {
                sweep_after: chrono::Duration::zero(),
                ..webhook_sender::Settings::default()
            },
            clock: clock.as_clock(),
            sealing: webhooks.sealing.clone(),
            connector: webhook_sender::attempt::Connector {
                resolver: resolver.clone(),
                ..webhook_sender::attempt::Connector::from_env(true).expect("TLS roots")
            },
            deliveries,
        };
        let app = App {
            store,
            config,
            clock: clock.as_clock(),
        };
        Self {
            app,
            activation,
            portal,
            reservations,
            true_up,
            remap,
            cancellation,
            webhooks,
            dispatcher,
            webhook_sender,
            mailer,
            sender,
            clock,
            table,
            ops,
            faults,
            ses_faults,
            client,
            sqs,
            resolver,
        }
    }

    /// Runs the mailer's sweep once, as the schedule does.
    pub async fn sweep(&self) -> Vec<(vls_domain::types::MailId, activation_mailer::Outcome)> {
        activation_mailer::sweep(&self.mailer, "test-sweep")
            .await
            .expect("sweep")
    }

    /// Runs the webhook dispatcher's sweep once: every event written so far is sequenced.
    pub async fn dispatch(&self) -> usize {
        match webhook_dispatcher::sweep(&self.dispatcher)
            .await
            .expect("dispatcher sweep")
        {
            webhook_dispatcher::Ran::Sweep { sequenced, .. } => sequenced,
            webhook_dispatcher::Ran::Batch(_) => 0,
        }
    }

    /// Runs the webhook sender's sweep once: every delivery due now is tried.
    pub async fn send_webhooks(
        &self,
    ) -> std::collections::BTreeMap<webhook_sender::Outcome, usize> {
        webhook_sender::sweep(&self.webhook_sender)
            .await
            .expect("sender sweep")
            .outcomes
    }

    /// Another mailer on this harness's table and SES client, paced at `per_second`.
    pub fn mailer_paced(&self, per_second: f64) -> MailerApp {
        MailerApp {
            store: self.mailer.store.clone(),
            mailer: self.mailer.mailer.clone(),
            settings: MailerSettings {
                sender: self.sender.clone(),
                public_base_url: PUBLIC_BASE_URL.into(),
                ..MailerSettings::default()
            },
            clock: self.clock.as_clock(),
            pacer: activation_mailer::pacing::Pacer::fixed(per_second),
            wakeups: self.mailer.wakeups.clone(),
        }
    }

    /// Every pending mail intent due now, as the sweep would list them (every outbox shard).
    pub async fn sweep_ids(&self) -> Vec<vls_domain::types::MailId> {
        let (mut ids, mut start) = (Vec::new(), None);
        loop {
            let (page, next) = self
                .mailer
                .store
                .due_mails(self.clock.now(), 100, start)
                .await
                .expect("due mails");
            ids.extend(page);
            match next {
                Some(cursor) => start = Some(cursor),
                None => return ids,
            }
        }
    }

    /// The true-up as deployed at `now`: the daily run enqueues the due agreements, one
    /// worker bills them from the queue. What it billed (a failed message fails the test).
    pub async fn run_true_up(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<true_up::Billed> {
        true_up::plan(&self.true_up, now)
            .await
            .expect("true-up run");
        let worked = work_queue::drain(&self.true_up, &self.sqs, 1).await;
        assert!(worked.failed.is_empty(), "{:?}", worked.failed);
        worked.billed
    }

    /// Mail this harness's mailer sent, as the emulator recorded it.
    pub fn mail(&self) -> Vec<Value> {
        sent_mail(&self.sender)
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        idem: Option<&str>,
    ) -> Resp {
        self.request(method, path, token, body, idem, None).await
    }

    /// A request whose body is raw bytes (not necessarily UTF-8), as API Gateway hands
    /// binary bodies over.
    pub async fn call_bytes(&self, method: &str, path: &str, token: &str, body: Vec<u8>) -> Resp {
        self.send(
            method,
            path,
            Some(token),
            Body::Binary(body),
            None,
            Some("application/json"),
        )
        .await
    }

    /// A form post (`application/x-www-form-urlencoded`), as the activation page sends it.
    pub async fn form(&self, path: &str, body: &str) -> Resp {
        self.request(
            "POST",
            path,
            None,
            Some(body),
            None,
            Some("application/x-www-form-urlencoded"),
        )
        .await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        idem: Option<&str>,
        content_type: Option<&str>,
    ) -> Resp {
        let body = body.map_or(Body::Empty, |s| Body::Text(s.to_owned()));
        self.send(method, path, token, body, idem, content_type)
            .await
    }

    /// A browser's request: its cookies (a `Cookie` header) and, for a POST, a form body.
    pub async fn browse(&self, method: &str, path: &str, cookie: &str, form: Option<&str>) -> Resp {
        let body = form.map_or(Body::Empty, |f| Body::Text(f.to_owned()));
        let content_type = form.map(|_| "application/x-www-form-urlencoded");
        self.send_with(
            method,
            path,
            None,
            body,
            None,
            content_type,
            &[("cookie", cookie)],
        )
        .await
    }

    /// [`Self::browse`] with further request headers (`Origin`, `Sec-Fetch-Site`).
    pub async fn browse_with(
        &self,
        (method, path): (&str, &str),
        cookie: &str,
        form: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let body = form.map_or(Body::Empty, |f| Body::Text(f.to_owned()));
        let content_type = form.map(|_| "application/x-www-form-urlencoded");
        let mut extra = vec![("cookie", cookie)];
        extra.extend_from_slice(headers);
        self.send_with(method, path, None, body, None, content_type, &extra)
            .await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Body,
        idem: Option<&str>,
        content_type: Option<&str>,
    ) -> Resp {
        self.send_with(method, path, token, body, idem, content_type, &[])
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Body,
        idem: Option<&str>,
        content_type: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut b = lambda_http::http::Request::builder()
            .method(method)
            .uri(path);
        for (name, value) in extra {
            if !value.is_empty() {
                b = b.header(*name, *value);
            }
        }
        if let Some(c) = content_type {
            b = b.header("content-type", c);
        }
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if let Some(k) = idem {
            b = b.header("idempotency-key", k);
        }
        let req = b.body(body).expect("request");
        let bare = path.split('?').next().unwrap_or_default();
        let resp = if bare == "/portal" || bare.starts_with("/portal/") {
            portal::handle(&self.portal, req).await
        } else if bare.starts_with("/activate/")
            || bare.starts_with("/sign-in/")
            || bare.ends_with("/activation-email/resend")
        {
            activation::handle(&self.activation, req).await
        } else if bare.ends_with("/reservations")
            || bare.ends_with("/true-up-preview")
            || bare.starts_with("/reservations/")
        {
            reservations::handle(&self.reservations, req).await
        } else if bare.ends_with("/remap") || bare.ends_with("/amendments") {
            remap::handle(&self.remap, req).await
        } else if bare.ends_with("/cancellation")
            || bare.ends_with("/cancellation-preview")
            || bare.ends_with("/service-requests")
            || bare.starts_with("/service-requests/")
        {
            cancellation::handle(&self.cancellation, req).await
        } else if bare == "/events"
            || bare.starts_with("/events/")
            || bare.starts_with("/webhook-endpoints")
        {
            webhooks::handle(&self.webhooks, req).await
        } else {
            order_intake::handle(&self.app, req).await
        };
        let status = resp.status().as_u16();
        let headers = header_map(resp.headers());
        let cookies = set_cookies(resp.headers());
        let replayed = resp.headers().contains_key("idempotent-replayed");
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let raw = match resp.into_body() {
            Body::Text(t) => t,
            Body::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => String::new(),
        };
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        if content_type.starts_with("application/problem+json") {
            let code = body["code"].as_str().unwrap_or_default();
            crate::contract::check_refusal(method, path, status, code);
        }
        Resp {
            status,
            content_type,
            body,
            raw,
            replayed,
            headers,
            set_cookies: cookies,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), None, None).await
    }

    /// Every item of a paged list (`field` of each page), following its cursors `limit` at a
    /// time; each page must answer 200.
    pub async fn walk(&self, path: &str, token: &str, field: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut url = format!("{path}{sep}limit={limit}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&url, token).await;
            assert_eq!(page.status, 200, "{url}: {}", page.raw);
            let got = page.body[field].as_array().cloned().unwrap_or_default();
            assert!(got.len() <= limit, "{url}: {} items", got.len());
            items.extend(got);
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => {
                    assert!(page.body["next_cursor"].is_null(), "{}", page.raw);
                    return items;
                }
            }
        }
        panic!("{path}: still paging after 10,000 pages");
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.call("POST", path, Some(token), Some(&body.to_string()), None)
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.call("PUT", path, Some(token), Some(&body.to_string()), None)
            .await
    }

    /// A program associates the link's agreement with `account` as its admin (the JSON
    /// route); the association must succeed.
    pub async fn associate(&self, token: &str, admin: &str, account: &str) -> Resp {
        let r = self
            .post(
                &format!("/activate/{token}"),
                admin,
                &json!({ "account_id": account }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.raw);
        r
    }

    /// A request with one more header (`If-Match`, `If-None-Match`).
    pub async fn with_header(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        header: (&str, &str),
    ) -> Resp {
        let body = body.map_or(Body::Empty, |b| Body::Text(b.to_string()));
        self.send_with(method, path, Some(token), body, None, None, &[header])
            .await
    }

    pub async fn item_count(&self) -> usize {
        scan_all(&self.client, &self.table).await.len()
    }
}

/// The README walkthrough up to invoicing, on a harness: partner `p1` registered, an account
/// with the FAQ's direct subscription (50 seats, 3 instances, 5 GB), an EA for customer 4711
/// started 2026-03-15, and an order covering the subscription, invoiced (activation mail queued).
pub struct Migration {
    pub bs: String,
    pub partner: String,
    pub account: String,
    pub admin: String,
    pub subscription: String,
    pub agreement: String,
    pub order: String,
}

pub async fn invoiced_migration(h: &Harness) -> Migration {
    let bs = billing_support();
    let r = h
        .put("/partners/p1", &bs, &fixtures::partner_body("Fabrikam LSP"))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let account = h
        .post("/accounts", &bs, &fixtures::account_body("Contoso"))
        .await
        .id();
    let admin = admin(&account);
    let subscription = h
        .post(
            &format!("/accounts/{account}/subscriptions"),
            &admin,
            &fixtures::faq_subscription(),
        )
        .await
        .id();
    let partner = partner("p1");
    let agreement = h
        .post(
            "/agreements",
            &partner,
            &fixtures::agreement_body("4711", "2026-03-15"),
        )
        .await
        .id();
    let lines = fixtures::order_body(&agreement, fixtures::covering_lines(), Some(&subscription));
    let order = h.post("/orders", &partner, &lines).await.id();
    let inv = h
        .post(&format!("/orders/{order}/invoice"), &partner, &json!({}))
        .await;
    assert_eq!(inv.body["activation_email"], "queued", "{}", inv.raw);
    Migration {
        bs,
        partner,
        account,
        admin,
        subscription,
        agreement,
        order,
    }
}
