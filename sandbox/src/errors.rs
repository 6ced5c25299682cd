//! WeChat's error answers: HTTP 200 with `{"errcode": N, "errmsg": "..."}`.

use serde::Serialize;

/// An error a component API answers, keeping WeChat's errcode and errmsg.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WxError {
    #[error("system error")]
    SystemBusy,
    #[error("invalid credential, access_token is invalid or not latest")]
    InvalidCredential,
    #[error("invalid appid")]
    InvalidAppid,
    #[error("invalid appsecret")]
    InvalidAppsecret,
    #[error("access_token missing")]
    AccessTokenMissing,
    #[error("appid missing")]
    AppidMissing,
    #[error("appsecret missing")]
    AppsecretMissing,
    #[error("access_token expired")]
    AccessTokenExpired,
    #[error("empty post data")]
    EmptyPostData,
    #[error("reach max api daily quota limit")]
    QuotaReached,
    #[error("data format error")]
    DataFormat,
    #[error("invalid args")]
    InvalidArgs,
    #[error("component is not authorized by this account")]
    NotAuthorized,
    #[error("access clientip is not registered")]
    IpNotWhitelisted,
    #[error("component ticket is expired")]
    TicketExpired,
    #[error("component ticket is invalid")]
    TicketInvalid,
    #[error("code is expired or invalid")]
    CodeInvalid,
    #[error("refresh_token is invalid")]
    RefreshTokenInvalid,
    /// A user's login code (wx.login, web login) that is unknown, expired or another account's.
    #[error("invalid code")]
    InvalidCode,
    #[error("code been used")]
    CodeUsed,
    #[error("missing code")]
    CodeMissing,
    #[error("invalid grant_type")]
    GrantTypeInvalid,
    /// An errcode injected by a fault that has no variant of its own.
    #[error("{errmsg}")]
    Other { errcode: i64, errmsg: String },
}

impl WxError {
    pub fn errcode(&self) -> i64 {
        match self {
            Self::SystemBusy => -1,
            Self::InvalidCredential => 40001,
            Self::InvalidAppid => 40013,
            Self::InvalidAppsecret => 40125,
            Self::AccessTokenMissing => 41001,
            Self::AppidMissing => 41002,
            Self::AppsecretMissing => 41004,
            Self::AccessTokenExpired => 42001,
            Self::EmptyPostData => 44002,
            Self::QuotaReached => 45009,
            Self::DataFormat => 47001,
            Self::InvalidArgs => 40097,
            Self::NotAuthorized => 61003,
            Self::IpNotWhitelisted => 61004,
            Self::TicketExpired => 61005,
            Self::TicketInvalid => 61006,
            Self::CodeInvalid => 61010,
            Self::RefreshTokenInvalid => 61023,
            Self::InvalidCode => 40029,
            Self::CodeUsed => 40163,
            Self::CodeMissing => 41008,
            Self::GrantTypeInvalid => 40002,
            Self::Other { errcode, .. } => *errcode,
        }
    }

    /// The error WeChat answers with this errcode (used by injected faults).
    pub fn from_errcode(errcode: i64) -> Self {
        let known = [
            Self::SystemBusy,
            Self::InvalidCredential,
            Self::InvalidAppid,
            Self::InvalidAppsecret,
            Self::AccessTokenMissing,
            Self::AppidMissing,
            Self::AppsecretMissing,
            Self::AccessTokenExpired,
            Self::EmptyPostData,
            Self::QuotaReached,
            Self::DataFormat,
            Self::InvalidArgs,
            Self::NotAuthorized,
            Self::IpNotWhitelisted,
            Self::TicketExpired,
            Self::TicketInvalid,
            Self::CodeInvalid,
            Self::RefreshTokenInvalid,
            Self::InvalidCode,
            Self::CodeUsed,
            Self::CodeMissing,
            Self::GrantTypeInvalid,
        ];
        known
            .into_iter()
            .find(|e| e.errcode() == errcode)
            .unwrap_or_else(|| Self::Other {
                errcode,
                errmsg: match errcode {
                    40014 => "invalid access_token".into(),
                    48001 => "api unauthorized".into(),
                    61007 => "api is unauthorized to component".into(),
                    _ => format!("sandbox injected error {errcode}"),
                },
            })
    }

    /// The JSON body, with a request id appended to errmsg as WeChat does (`... rid: ...`):
    /// clients must key on errcode, never on the text.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            errcode: self.errcode(),
            errmsg: format!("{self} rid: {}", super::random::rid()),
        }
    }
}

impl WxError {
    /// The answer of a call that succeeded and returns nothing else.
    pub fn ok_body() -> ErrorBody {
        ErrorBody {
            errcode: 0,
            errmsg: "ok".into(),
        }
    }
}

/// `{"errcode": N, "errmsg": "..."}`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub errcode: i64,
    pub errmsg: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcodes_round_trip() {
        for code in [
            -1, 40001, 40002, 40029, 40163, 41008, 42001, 45009, 61003, 61004, 61005, 61006, 61010,
            61023,
        ] {
            assert_eq!(WxError::from_errcode(code).errcode(), code);
        }
        assert_eq!(
            WxError::from_errcode(61007).to_string(),
            "api is unauthorized to component"
        );
        assert!(
            WxError::SystemBusy
                .body()
                .errmsg
                .starts_with("system error rid: ")
        );
    }
}
