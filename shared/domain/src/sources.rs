//! An account's pool sources (SPEC §4): what each active direct subscription and each
//! associated agreement gives the pool, kept as items of their own and moved with every change
//! to what an agreement holds; and the recounts the kept figures must always equal.

use crate::holdings::{Holdings, add_counts, add_lines};
use crate::model::{Account, Agreement, Order, Reservation, ReservationStatus};
use crate::model::{Subscription, SubscriptionStatus};
use crate::types::{AccountId, SkuCounts};
use serde::{Deserialize, Serialize};

/// What a pool source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// An active direct subscription.
    Direct,
    /// An associated agreement: its invoiced orders and active and billed reservations.
    Agreement,
}

/// One source of an account's pool (SPEC §4): an active direct subscription's lines, or an
/// associated agreement's volume (its [`Holdings::volume`]). Each is an item of its own in the
/// account's partition, written in the same transaction as every change that moves it, so
/// the pool is one query of the account's partition and the account item stays small (a
/// write to it costs by its size, and an item holds at most 400 KB).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Source {
    pub account_id: AccountId,
    pub kind: SourceKind,
    pub id: String,
    pub counts: SkuCounts,
    /// Its place in the account's list of sources: the account's version when it joined the
    /// pool (a subscription's `sequence`, an agreement's `joined_pool_at`), kept as it
    /// changes, so the list follows the order the sources joined in.
    #[serde(default)]
    pub joined: u64,
}

impl Source {
    pub fn direct(sub: &Subscription) -> Self {
        let mut counts = SkuCounts::new();
        add_lines(&mut counts, &sub.lines);
        Self {
            account_id: sub.account_id.clone(),
            kind: SourceKind::Direct,
            id: sub.id.to_string(),
            counts,
            joined: sub.sequence,
        }
    }

    /// `agreement`'s contribution to `account`'s pool, as its holdings now stand.
    pub fn agreement(agreement: &Agreement, account: &AccountId) -> Self {
        Self {
            account_id: account.clone(),
            kind: SourceKind::Agreement,
            id: agreement.id.to_string(),
            counts: agreement.holdings.volume(),
            joined: agreement.joined_pool_at,
        }
    }
}

/// Moves an account's kept volume from what an agreement gave it (`before`) to what it
/// gives now (`after`).
pub fn shift(volume: &mut SkuCounts, before: &SkuCounts, after: &SkuCounts) {
    for (sku, n) in before {
        if let Some(v) = volume.get_mut(sku) {
            *v = v.saturating_sub(*n);
        }
    }
    add_counts(volume, after);
    volume.retain(|_, n| *n > 0);
}

/// `account` after its agreement changed from `before` to `after`: its volume moved from what
/// the agreement held to what it holds now, its version moved on, and the agreement's pool
/// source as it now stands — the two writes that go with the change.
pub fn moved(account: &Account, before: &Agreement, after: &Agreement) -> (Account, Source) {
    let mut moved = account.clone();
    shift(
        &mut moved.volume,
        &before.holdings.volume(),
        &after.holdings.volume(),
    );
    moved.version += 1;
    (moved, Source::agreement(after, &account.id))
}

/// An account's pool sources, direct licences and volume counted from its subscriptions and
/// the agreements associated with it (each with its holdings as kept): what the kept ones
/// must equal.
pub fn recount(
    account: &Account,
    subs: &[Subscription],
    agreements: &[Agreement],
) -> (Vec<Source>, SkuCounts, SkuCounts) {
    let mut sources: Vec<Source> = subs
        .iter()
        .filter(|x| x.account_id == account.id && x.status == SubscriptionStatus::Active)
        .map(Source::direct)
        .collect();
    let mut direct = SkuCounts::new();
    for source in &sources {
        add_counts(&mut direct, &source.counts);
    }
    let mut volume = SkuCounts::new();
    for a in agreements
        .iter()
        .filter(|a| a.account_id.as_ref() == Some(&account.id))
    {
        let source = Source::agreement(a, &account.id);
        add_counts(&mut volume, &source.counts);
        sources.push(source);
    }
    sources.sort();
    volume.retain(|_, n| *n > 0);
    direct.retain(|_, n| *n > 0);
    (sources, direct, volume)
}

/// An agreement's holdings counted from its orders and reservations themselves: what the kept
/// ones must equal.
pub fn holdings_of(
    agreement: &Agreement,
    orders: &[Order],
    reservations: &[Reservation],
) -> Holdings {
    let mut h = Holdings::default();
    for o in orders.iter().filter(|o| o.is_invoiced_purchase()) {
        h.invoice(&o.lines);
    }
    for r in reservations {
        match r.status_on(agreement) {
            ReservationStatus::Active => h.reserve(r.billable_at, &r.lines),
            ReservationStatus::Billed => add_lines(&mut h.billed, &r.lines),
            ReservationStatus::Cancelled => {}
        }
    }
    h
}
