//! The totals kept on agreements (their holdings) and accounts (their pool's sources) against
//! a full recount from the orders, reservations and subscriptions themselves, after random
//! sequences of every operation that moves them — orders placed and invoiced, association,
//! reservations made and cancelled, subscriptions made and cancelled, remap, amendment and
//! the true-up — run through the API against the emulator. A sequence is reproducible from its
//! seed, which a failure prints.

use serde_json::{Value, json};
use vls_domain::rules::pool;
use vls_domain::sources::holdings_of;
use vls_domain::types::{AccountId, AgreementId};
use vls_tests::fixtures::*;
use vls_tests::*;

/// xorshift64*: enough to pick operations, and the same sequence for the same seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

const SKUS: [&str; 2] = ["d365-sales-professional", "d365-additional-storage-gb"];

struct World {
    h: Harness,
    bs: String,
    partner: String,
    /// The Online Services account (its agreement is bound to it) and a second one.
    accounts: [String; 2],
    /// Bound to the first account from the start; unassociated until activated.
    agreements: [String; 2],
    associated: bool,
    placed: Vec<String>,
    reservations: Vec<String>,
    subscriptions: Vec<(String, String)>,
}

async fn world() -> World {
    let h = Harness::new().await;
    h.clock.set(at("2026-11-28T10:00:00Z"));
    let bs = billing_support();
    h.put("/partners/p1", &bs, &partner_body("Fabrikam")).await;
    let mos = h
        .post("/accounts", &bs, &mos_account_body("Contoso"))
        .await
        .id();
    let other = h.post("/accounts", &bs, &account_body("Other")).await.id();
    let partner = partner("p1");
    let mut bound = agreement_body("4711", "2026-03-15");
    bound["online_services_account_id"] = json!(mos);
    let a = h.post("/agreements", &partner, &bound).await.id();
    let b = h
        .post(
            "/agreements",
            &partner,
            &agreement_body("4711", "2026-03-15"),
        )
        .await
        .id();
    World {
        h,
        bs,
        partner,
        accounts: [mos, other],
        agreements: [a, b],
        associated: false,
        placed: Vec::new(),
        reservations: Vec::new(),
        subscriptions: Vec::new(),
    }
}

fn lines(rng: &mut Rng) -> Value {
    let sku = SKUS[rng.below(SKUS.len())];
    json!([{"sku": sku, "quantity": 1 + rng.below(20)}])
}

/// The account an agreement is associated with now, if any.
async fn account_of(w: &World, agreement: &str) -> Option<String> {
    let a = w.h.get(&format!("/agreements/{agreement}"), &w.bs).await;
    a.body["account_id"].as_str().map(str::to_owned)
}

/// One operation, chosen by `rng`; refusals (a rule saying no) are part of the game.
async fn step(w: &mut World, rng: &mut Rng) -> String {
    let h = &w.h;
    match rng.below(9) {
        0 | 1 => {
            let agr = rng.pick(&w.agreements).cloned().unwrap_or_default();
            let body = json!({"agreement_id": agr, "lines": lines(rng)});
            let r = h.post("/orders", &w.partner, &body).await;
            if r.status == 201 {
                w.placed.push(r.id());
            }
            format!("order on {agr}: {}", r.status)
        }
        2 => {
            let Some(order) = rng.pick(&w.placed).cloned() else {
                return "no order to invoice".into();
            };
            w.placed.retain(|o| o != &order);
            let path = format!("/orders/{order}/invoice");
            let r = h.post(&path, &w.partner, &json!({})).await;
            format!("invoice {order}: {}", r.status)
        }
        3 => {
            let agr = rng.pick(&w.agreements).cloned().unwrap_or_default();
            let Some(acc) = account_of(w, &agr).await else {
                return format!("reserve on {agr}: not associated");
            };
            let path = format!("/agreements/{agr}/reservations");
            let r = h
                .post(&path, &admin(&acc), &json!({"lines": lines(rng)}))
                .await;
            if r.status == 201 {
                w.reservations.push(r.id());
            }
            format!("reserve on {agr}: {}", r.status)
        }
        4 => {
            let Some(res) = rng.pick(&w.reservations).cloned() else {
                return "no reservation to cancel".into();
            };
            // Its id names its agreement; its account's administrator cancels it.
            let agr = vls_domain::types::ReservationId::parse(&res)
                .map(|r| r.agreement().to_string())
                .unwrap_or_default();
            let acc = account_of(w, &agr).await.unwrap_or_default();
            let path = format!("/reservations/{res}/cancel");
            let r = h.post(&path, &admin(&acc), &json!({})).await;
            format!("cancel {res}: {}", r.status)
        }
        5 => {
            let acc = rng.pick(&w.accounts).cloned().unwrap_or_default();
            let body = json!({"billing": "invoice", "lines": lines(rng)});
            let r = h
                .post(&format!("/accounts/{acc}/subscriptions"), &w.bs, &body)
                .await;
            if r.status == 201 {
                w.subscriptions.push((acc.clone(), r.id()));
            }
            format!("subscription on {acc}: {}", r.status)
        }
        6 => {
            let Some((acc, sub)) = rng.pick(&w.subscriptions).cloned() else {
                return "no subscription to cancel".into();
            };
            let path = format!("/accounts/{acc}/subscriptions/{sub}/cancellation");
            let body = json!({"reason": "r", "accept_license_loss": true});
            let r = h.post(&path, &w.bs, &body).await;
            format!("cancel {sub}: {}", r.status)
        }
        7 => associate_or_remap(w, rng).await,
        _ => {
            let agr = &w.agreements[0];
            let body = json!({"kind": "separate_online_services", "reason": "r"});
            let path = format!("/agreements/{agr}/amendments");
            let r = h.post(&path, &specialist(), &body).await;
            format!("amend {agr}: {}", r.status)
        }
    }
}

/// Activates the second agreement into the second account the first time (it needs an
/// invoiced order for its mail), then remaps an agreement to the other account.
async fn associate_or_remap(w: &mut World, rng: &mut Rng) -> String {
    let h = &w.h;
    let b = w.agreements[1].clone();
    if !w.associated {
        let body = json!({"agreement_id": b, "lines": lines(rng)});
        let order = h.post("/orders", &w.partner, &body).await.id();
        let r = h
            .post(&format!("/orders/{order}/invoice"), &w.partner, &json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.raw);
        h.sweep().await;
        let mail = h.mail();
        let last = mail.iter().rev().find(|m| m.to_string().contains(&b));
        let token = link_token(last.expect("the activation mail")).expect("link");
        h.associate(&token, &admin(&w.accounts[1]), &w.accounts[1])
            .await;
        w.associated = true;
        return format!("associate {b}");
    }
    let agr = rng.pick(&w.agreements).cloned().unwrap_or_default();
    let from = account_of(w, &agr).await.unwrap_or_default();
    let to = if from == w.accounts[0] {
        &w.accounts[1]
    } else {
        &w.accounts[0]
    };
    let body = json!({"target_account_id": to, "reason": "r", "accept_license_loss": true});
    let r = h
        .post(&format!("/agreements/{agr}/remap"), &w.bs, &body)
        .await;
    format!("remap {agr} to {to}: {}", r.status)
}

/// Every kept figure equals its recount.
async fn check(w: &World, seed: u64, history: &[String]) {
    let store = &w.h.app.store;
    let mut recounted = Vec::new();
    for id in &w.agreements {
        let id = AgreementId::parse(id).expect("id");
        let held = store
            .agreement_holdings(&id)
            .await
            .expect("read")
            .expect("agreement");
        let counted = holdings_of(&held.agreement, &held.orders, &held.reservations);
        assert_eq!(
            held.agreement.holdings, counted,
            "seed {seed}: agreement {id} after {history:#?}"
        );
        recounted.push(held);
    }
    let agreements: Vec<_> = recounted.iter().map(|h| h.recounted()).collect();
    for id in &w.accounts {
        let id = AccountId::parse(id).expect("id");
        let (_, subs) = store
            .account_with_subscriptions(&id)
            .await
            .expect("read")
            .expect("account");
        let (account, mut sources) = store.pool(&id).await.expect("read").expect("account");
        sources.sort();
        let (counted_sources, counted_direct, counted_volume) =
            vls_domain::sources::recount(&account, &subs, &agreements);
        assert_eq!(
            (&sources, &account.direct, &account.volume),
            (&counted_sources, &counted_direct, &counted_volume),
            "seed {seed}: account {id} after {history:#?}"
        );
        assert_eq!(
            pool::totals(&account),
            pool::recount(&account, &subs, &recounted).0,
            "seed {seed}: the pool of {id}"
        );
    }
}

#[tokio::test]
async fn kept_totals_equal_a_full_recount_after_random_operations() {
    for seed in [0x5EED_0001_u64, 0x5EED_0002, 0x5EED_0003] {
        let mut w = world().await;
        let mut rng = Rng(seed);
        let mut history = Vec::new();
        for _ in 0..30 {
            history.push(step(&mut w, &mut rng).await);
        }
        check(&w, seed, &history).await;
        // The anniversary passes: what was reserved is billed, and still counts.
        w.h.clock.set(at("2027-03-16T10:00:00Z"));
        let billed = w.h.run_true_up(at("2027-03-16T06:00:00Z")).await;
        history.push(format!("true-up: {} agreements", billed.len()));
        check(&w, seed, &history).await;
        let kinds: std::collections::BTreeSet<&str> =
            history.iter().filter_map(|h| h.split(' ').next()).collect();
        assert!(
            kinds.len() >= 6,
            "seed {seed} exercised too little: {kinds:?}"
        );
    }
}
