//! Who is calling (SPEC §3): the roles and the authenticated caller. How a caller is
//! authenticated is the HTTP layer's; what each may see is [`crate::access`].

use crate::types::{AccountId, PartnerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Partner,
    CustomerAdmin,
    BillingSupport,
    LicensingSpecialist,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "partner" => Some(Self::Partner),
            "customer_admin" => Some(Self::CustomerAdmin),
            "billing_support" => Some(Self::BillingSupport),
            "licensing_specialist" => Some(Self::LicensingSpecialist),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Partner => "partner",
            Self::CustomerAdmin => "customer_admin",
            Self::BillingSupport => "billing_support",
            Self::LicensingSpecialist => "licensing_specialist",
        }
    }
}

/// An authenticated caller. A partner always has its partner id and a customer admin its
/// account id: a token without them does not make a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Partner { sub: String, partner_id: PartnerId },
    CustomerAdmin { sub: String, account_id: AccountId },
    BillingSupport { sub: String },
    LicensingSpecialist { sub: String },
}

impl Principal {
    pub fn sub(&self) -> &str {
        match self {
            Self::Partner { sub, .. }
            | Self::CustomerAdmin { sub, .. }
            | Self::BillingSupport { sub }
            | Self::LicensingSpecialist { sub } => sub,
        }
    }

    pub fn role(&self) -> Role {
        match self {
            Self::Partner { .. } => Role::Partner,
            Self::CustomerAdmin { .. } => Role::CustomerAdmin,
            Self::BillingSupport { .. } => Role::BillingSupport,
            Self::LicensingSpecialist { .. } => Role::LicensingSpecialist,
        }
    }

    /// The caller as a trail entry records them.
    pub fn actor(&self) -> crate::trail::Actor {
        crate::trail::Actor {
            sub: self.sub().to_owned(),
            role: self.role().as_str().to_owned(),
        }
    }

    /// Whether the caller's role is one of `allowed` (a route's roles).
    pub fn may(&self, allowed: &[Role]) -> bool {
        allowed.contains(&self.role())
    }

    pub fn partner_id(&self) -> Option<&PartnerId> {
        match self {
            Self::Partner { partner_id, .. } => Some(partner_id),
            _ => None,
        }
    }

    pub fn account_id(&self) -> Option<&AccountId> {
        match self {
            Self::CustomerAdmin { account_id, .. } => Some(account_id),
            _ => None,
        }
    }
}
