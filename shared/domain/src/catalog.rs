//! The SKU catalog: what can be bought. Seat licences are counted for the volume
//! discount (R3); add-ons (instances, storage) are not.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkuKind {
    Seat,
    AddOn,
}

macro_rules! catalog {
    ($( $variant:ident => $code:literal, $kind:ident, $name:literal; )+) => {
        /// A catalog SKU. Unknown codes do not parse: an unknown SKU is refused, never a
        /// silent zero.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Sku {
            $( #[serde(rename = $code)] $variant, )+
        }

        impl Sku {
            /// Every SKU, in catalog order.
            pub const ALL: &'static [Sku] = &[ $( Sku::$variant, )+ ];

            pub fn parse(code: &str) -> Option<Self> {
                match code {
                    $( $code => Some(Sku::$variant), )+
                    _ => None,
                }
            }

            pub fn code(self) -> &'static str {
                match self {
                    $( Sku::$variant => $code, )+
                }
            }

            pub fn kind(self) -> SkuKind {
                match self {
                    $( Sku::$variant => SkuKind::$kind, )+
                }
            }

            /// The product name as it appears on mail and pages.
            pub fn display_name(self) -> &'static str {
                match self {
                    $( Sku::$variant => $name, )+
                }
            }
        }
    };
}

catalog! {
    SalesProfessional => "d365-sales-professional", Seat, "Dynamics 365 Sales Professional";
    SalesEnterprise => "d365-sales-enterprise", Seat, "Dynamics 365 Sales Enterprise";
    CustomerServiceProfessional => "d365-customer-service-professional", Seat,
        "Dynamics 365 Customer Service Professional";
    CustomerServiceEnterprise => "d365-customer-service-enterprise", Seat,
        "Dynamics 365 Customer Service Enterprise";
    FieldService => "d365-field-service", Seat, "Dynamics 365 Field Service";
    TeamMembers => "d365-team-members", Seat, "Dynamics 365 Team Members";
    AdditionalProductionInstance => "d365-additional-production-instance", AddOn,
        "Dynamics 365 Additional Production Instance";
    AdditionalStorageGb => "d365-additional-storage-gb", AddOn,
        "Dynamics 365 Additional Database Storage (GB)";
}

impl Sku {
    pub fn is_seat(self) -> bool {
        self.kind() == SkuKind::Seat
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for sku in Sku::ALL {
            assert_eq!(Sku::parse(sku.code()), Some(*sku));
            let json = serde_json::to_string(sku).expect("serialise");
            assert_eq!(json, format!("\"{}\"", sku.code()));
        }
    }

    #[test]
    fn unknown_and_case_variants_are_refused() {
        assert_eq!(Sku::parse("d365-sales-pro"), None);
        assert_eq!(Sku::parse("D365-SALES-PROFESSIONAL"), None);
        assert_eq!(Sku::parse(""), None);
    }

    #[test]
    fn seats_and_add_ons() {
        assert!(Sku::SalesProfessional.is_seat());
        assert!(Sku::CustomerServiceEnterprise.is_seat());
        assert!(!Sku::AdditionalProductionInstance.is_seat());
        assert!(!Sku::AdditionalStorageGb.is_seat());
    }
}
