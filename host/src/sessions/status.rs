//! A session's status as this host holds and shows it.
//!
//! The ABI's [`SessionStatus`] is open: an engine built against a later
//! contract may report a status this host has never heard of. Such a
//! status is dropped where it arrives ([`Status::known`]), so everything
//! past the boundary works with the closed set WAHA clients know, and a
//! match over it is exhaustive.

use serde::Serialize;
use utoipa::ToSchema;
use wharf_engine_api::SessionStatus;

/// WAHA's session status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Not running.
    Stopped,
    /// Opening, connecting or resuming.
    Starting,
    /// Waiting for the user to scan a QR code or enter a pairing code.
    ScanQrCode,
    /// Ready for operations.
    Working,
    /// Gave up, or keeps trying; the reason says why.
    Failed,
}

impl Status {
    /// The status an engine reported, if this host knows it.
    pub fn known(status: SessionStatus) -> Option<Self> {
        Some(match status {
            SessionStatus::STOPPED => Self::Stopped,
            SessionStatus::STARTING => Self::Starting,
            SessionStatus::SCAN_QR_CODE => Self::ScanQrCode,
            SessionStatus::WORKING => Self::Working,
            SessionStatus::FAILED => Self::Failed,
            _ => return None,
        })
    }

    /// WAHA's name for it, as the JSON shows it.
    pub const fn as_waha(self) -> &'static str {
        match self {
            Self::Stopped => "STOPPED",
            Self::Starting => "STARTING",
            Self::ScanQrCode => "SCAN_QR_CODE",
            Self::Working => "WORKING",
            Self::Failed => "FAILED",
        }
    }

    /// Whether a run in this status is on its way or serving: not stopped
    /// and not failed.
    pub const fn is_active(self) -> bool {
        !matches!(self, Self::Stopped | Self::Failed)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_waha())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_of_the_contract_is_known_by_its_waha_name() {
        for &status in SessionStatus::ALL {
            let known = Status::known(status).expect("a status of this contract");
            assert_eq!(Some(known.as_waha()), status.name());
            assert_eq!(
                serde_json::to_value(known).unwrap(),
                serde_json::json!(known.as_waha())
            );
        }
        assert_eq!(Status::known(SessionStatus::from_code(77)), None);
    }
}
