//! Items written straight into a harness's table, for the benchmarks that need thousands.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{NaiveDate, Utc};
use vls_domain::model::{ActivationEmail, Agreement, Customer, Order, OrderSource};
use vls_domain::model::{OrderStatus, Reservation, ReservationStatus};
use vls_domain::trail::Actor;
use vls_domain::types::{
    AccountId, AgreementId, CustomerNumber, Line, Lines, MonthDay, OrderId, Quantity, ReservationId,
};

use super::Harness;

/// An EA of partner `p1`, due on `anniversary`, associated with `account` if given.
pub fn agreement(anniversary: NaiveDate, account: Option<AccountId>) -> Agreement {
    Agreement {
        customer: Customer {
            number: CustomerNumber::parse("bench").expect("n"),
            ..vls_domain::testing::agreement().customer
        },
        start_date: NaiveDate::from_ymd_opt(2026, 1, 1).expect("d"),
        schedule: MonthDay::of(anniversary),
        anniversary,
        account_id: account,
        created_at: fixed("2026-01-01T00:00:00Z"),
        ..vls_domain::testing::agreement()
    }
}

fn fixed(at: &str) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(at)
        .expect("time")
        .with_timezone(&Utc)
}

/// An active reservation of 2 Sales Professional seats on `a`, billable at its anniversary,
/// at place `sequence` in the agreement's reservations.
pub fn reservation(a: &Agreement, sequence: u64) -> Reservation {
    let line = Line {
        sku: vls_domain::catalog::Sku::SalesProfessional,
        quantity: Quantity::new(2).expect("q"),
    };
    Reservation {
        id: ReservationId::generate(&a.id),
        agreement_id: a.id.clone(),
        lines: Lines::new(vec![line]).expect("l"),
        status: ReservationStatus::Active,
        billable_at: a.anniversary,
        // Made before any anniversary the benchmarks bill.
        created_at: fixed("2026-12-01T00:00:00Z"),
        version: 1,
        sequence,
    }
}

/// How much history [`large_history`] writes.
#[derive(Debug, Clone, Copy)]
pub struct Large {
    /// Reservations, and as many invoiced orders, on the agreement.
    pub reservations: u64,
    /// Events on the agreement's trail, and on the account's.
    pub events: u64,
    /// Agreements the account holds, the given one included.
    pub agreements: u64,
}

/// What a large customer has behind it, written straight to the table as the API would
/// have left it: reservations and invoiced orders on `agreement`, events on its trail and
/// on `account`'s, more agreements on `account`. The agreement's and the account's
/// versions and kept totals move on past all of it, so whatever the API does next comes
/// after it in every list. Returns how many items it wrote.
pub async fn large_history(
    h: &Harness,
    account: &AccountId,
    agreement: &AgreementId,
    size: Large,
) -> usize {
    use vls_domain::sources::{Source, shift};
    use vls_store::{Stored, encode, keys};
    let store = &h.app.store;
    let mut a = store
        .agreement(agreement)
        .await
        .expect("read")
        .expect("agreement");
    let held_before = a.holdings.volume();
    let mut acc = store
        .account(account)
        .await
        .expect("read")
        .expect("account");
    let seat = Lines::new(vec![Line {
        sku: vls_domain::catalog::Sku::SalesProfessional,
        quantity: Quantity::new(1).expect("q"),
    }])
    .expect("l");
    let mut items = Vec::new();
    for _ in 0..size.reservations {
        a.version += 1;
        let r = Reservation {
            lines: seat.clone(),
            ..reservation(&a, a.version)
        };
        a.holdings.reserve(r.billable_at, &r.lines);
        items.push(r.item().expect("item"));
        a.version += 1;
        let o = invoiced_order(&a, &seat, a.version);
        a.holdings.invoice(&o.lines);
        items.push(o.item().expect("item"));
    }
    // Trail entries of an action no function writes: the seed's own.
    let event = |on: &str| vls_domain::trail::Event {
        at: fixed("2026-12-01T00:00:00Z"),
        action: on.to_owned(),
        actor: Actor::system("seed"),
        request_id: "s".to_owned(),
        reason: None,
        agreement_id: None,
        account_id: None,
        details: serde_json::Value::Null,
    };
    for _ in 0..size.events {
        a.version += 1;
        let key = (
            keys::agreement_events(&a.id),
            keys::event_position(a.version, 0),
        );
        items.push(encode(&event("seed.agreement"), &key, "event").expect("event"));
        acc.version += 1;
        let key = (
            keys::account_events(&acc.id),
            keys::event_position(acc.version, 0),
        );
        items.push(encode(&event("seed.account"), &key, "event").expect("event"));
    }
    for _ in 1..size.agreements {
        let mut other = self::agreement(a.anniversary, Some(acc.id.clone()));
        other.holdings.invoice(&seat);
        acc.version += 1;
        other.joined_pool_at = acc.version;
        let source = Source::agreement(&other, &acc.id);
        shift(&mut acc.volume, &Default::default(), &source.counts);
        items.push(source.item().expect("item"));
        items.push(other.item().expect("item"));
    }
    shift(&mut acc.volume, &held_before, &a.holdings.volume());
    items.push(Source::agreement(&a, &acc.id).item().expect("item"));
    acc.version += 1;
    items.push(a.item().expect("item"));
    items.push(acc.item().expect("item"));
    write_all(h, &items).await;
    items.len()
}

fn invoiced_order(a: &Agreement, lines: &Lines, sequence: u64) -> Order {
    let at = fixed("2026-12-01T00:00:00Z");
    Order {
        id: OrderId::generate(&a.id),
        agreement_id: a.id.clone(),
        partner_id: a.partner_id.clone(),
        source: OrderSource::Order,
        status: OrderStatus::Invoiced,
        lines: lines.clone(),
        replaces_subscription_id: None,
        volume_discount_eligible: false,
        placed_at: at,
        invoiced_at: Some(at),
        activation_email: Some(ActivationEmail::NotNeeded),
        version: 2,
        sequence,
    }
}

/// Writes items 25 at a time, eight batches in flight (the last item of `items` last: it
/// may be what makes the rest consistent).
pub async fn write_all(h: &Harness, items: &[vls_store::Item]) {
    use futures::StreamExt;
    let Some((last, rest)) = items.split_last() else {
        return;
    };
    futures::stream::iter(rest.chunks(25))
        .for_each_concurrent(8, |chunk| write_batch(h, chunk))
        .await;
    write_batch(h, std::slice::from_ref(last)).await;
}

async fn write_batch(h: &Harness, chunk: &[vls_store::Item]) {
    {
        let writes = chunk
            .iter()
            .map(|i| {
                let put = PutRequest::builder().set_item(Some(i.clone())).build();
                WriteRequest::builder()
                    .put_request(put.expect("put"))
                    .build()
            })
            .collect();
        h.client
            .batch_write_item()
            .request_items(&h.table, writes)
            .send()
            .await
            .expect("seed");
    }
}
