//! Named wire numbers: message types, option types and status codes.
//!
//! Every enum has an `Unknown(u8)` variant so any octet converts losslessly
//! (`From<u8>` and back with `u8::from`). `Display` prints the registry name
//! followed by the number, e.g. `sequence number out of window (135)`.

use core::fmt;

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A number with no name in this library.
            Unknown(u8),
        }

        impl From<u8> for $name {
            fn from(value: u8) -> Self {
                match value {
                    $( $value => $name::$variant, )*
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> u8 {
                match value {
                    $( $name::$variant => $value, )*
                    $name::Unknown(other) => other,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let text = match self {
                    $( $name::$variant => $text, )*
                    $name::Unknown(_) => "unknown",
                };
                write!(f, "{} ({})", text, u8::from(*self))
            }
        }
    };
}

wire_enum! {
    /// Mobility Header message type (RFC 6275 6.1.1, IANA "Mobility Header Types").
    pub enum MhType {
        BindingRefreshRequest = 0 => "binding refresh request",
        HomeTestInit = 1 => "home test init",
        CareOfTestInit = 2 => "care-of test init",
        HomeTest = 3 => "home test",
        CareOfTest = 4 => "care-of test",
        BindingUpdate = 5 => "binding update",
        BindingAck = 6 => "binding acknowledgement",
        BindingError = 7 => "binding error",
    }
}

wire_enum! {
    /// Mobility option type (IANA "Mobility Options"). The draft IPv4 MNP
    /// options have no fixed number; see [`crate::DraftV4Options`].
    pub enum OptionType {
        Pad1 = 0 => "Pad1",
        PadN = 1 => "PadN",
        BindingRefreshAdvice = 2 => "binding refresh advice",
        AlternateCareOfAddress = 3 => "alternate care-of address",
        NonceIndices = 4 => "nonce indices",
        BindingAuthorizationData = 5 => "binding authorization data",
        MobileNetworkPrefix = 6 => "mobile network prefix",
        MobileNodeIdentifier = 8 => "mobile node identifier",
        Authentication = 9 => "mobility message authentication",
        ReplayProtection = 10 => "mobility message replay protection",
        Ipv4HomeAddress = 29 => "IPv4 home address",
        Ipv4AddressAck = 30 => "IPv4 address acknowledgement",
    }
}

wire_enum! {
    /// Binding Acknowledgement status (RFC 6275 6.1.8, RFC 3963 6.2, RFC 4285 8).
    pub enum BaStatus {
        Accepted = 0 => "binding update accepted",
        AcceptedPrefixDiscoveryNecessary = 1 => "accepted but prefix discovery necessary",
        ReasonUnspecified = 128 => "reason unspecified",
        AdministrativelyProhibited = 129 => "administratively prohibited",
        InsufficientResources = 130 => "insufficient resources",
        HomeRegistrationNotSupported = 131 => "home registration not supported",
        NotHomeSubnet = 132 => "not home subnet",
        NotHomeAgentForThisMobileNode = 133 => "not home agent for this mobile node",
        DuplicateAddressDetectionFailed = 134 => "duplicate address detection failed",
        SequenceNumberOutOfWindow = 135 => "sequence number out of window",
        ExpiredHomeNonceIndex = 136 => "expired home nonce index",
        ExpiredCareOfNonceIndex = 137 => "expired care-of nonce index",
        ExpiredNonces = 138 => "expired nonces",
        RegistrationTypeChangeDisallowed = 139 => "registration type change disallowed",
        MobileRouterOperationNotPermitted = 140 => "mobile router operation not permitted",
        InvalidPrefix = 141 => "invalid prefix",
        NotAuthorizedForPrefix = 142 => "not authorized for prefix",
        ForwardingSetupFailed = 143 => "forwarding setup failed",
        IdMismatch = 144 => "MIPV6-ID-MISMATCH",
        MesgIdRequired = 145 => "MIPV6-MESG-ID-REQD",
        AuthFail = 146 => "MIPV6-AUTH-FAIL",
    }
}

impl BaStatus {
    /// Values below 128 mean the Binding Update was accepted (RFC 6275 6.1.8).
    pub fn is_accepted(self) -> bool {
        u8::from(self) < 128
    }
}

wire_enum! {
    /// Binding Error status (RFC 6275 6.1.9).
    pub enum BeStatus {
        UnknownBindingForHomeAddressOption = 1 => "unknown binding for home address destination option",
        UnrecognizedMhType = 2 => "unrecognized MH type value",
    }
}

wire_enum! {
    /// IPv4 Address Acknowledgement status (RFC 5555 3.2.1).
    pub enum Ipv4AckStatus {
        Success = 0 => "success",
        FailureReasonUnspecified = 128 => "failure, reason unspecified",
        AdministrativelyProhibited = 129 => "administratively prohibited",
        IncorrectIpv4HomeAddress = 130 => "incorrect IPv4 home address",
        InvalidIpv4Address = 131 => "invalid IPv4 address",
        DynamicAddressNotAvailable = 132 => "dynamic IPv4 home address assignment not available",
        PrefixAllocationUnauthorized = 133 => "prefix allocation unauthorized",
    }
}

impl Ipv4AckStatus {
    /// Values below 128 mean success (RFC 5555 3.2.1).
    pub fn is_success(self) -> bool {
        u8::from(self) < 128
    }
}
