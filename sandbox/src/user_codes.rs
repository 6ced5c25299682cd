//! Codes WeChat hands a user's client for the platform to exchange on its server: `wx.login`'s
//! code (exchanged by `jscode2session`) and the web login's code (exchanged by
//! `sns/oauth2/component/access_token`). Both are single use and short-lived (5 minutes):
//! WeChat answers 40029 for a code it does not know, that expired, or that was issued for
//! another account or the other exchange, and 40163 for one exchanged already. A refused
//! exchange uses nothing up.

use std::collections::HashMap;

use super::errors::WxError;
use super::oauth::Scope;
use super::random;

/// Which exchange a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// `wx.login` in a mini program, for `jscode2session`.
    Login,
    /// The web login page's redirect, for `sns/oauth2/component/access_token`.
    OAuth,
}

/// What a code stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCode {
    pub appid: String,
    /// The sandbox user who logged in ([`crate::users`]).
    pub user: String,
    pub kind: CodeKind,
    /// The web login's scope; `None` for `wx.login`.
    pub scope: Option<Scope>,
    pub expires_at: i64,
}

/// The codes issued; Debug shows how many, never a code.
#[derive(Default)]
pub struct UserCodes {
    codes: HashMap<String, (UserCode, bool)>,
}

impl std::fmt::Debug for UserCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCodes")
            .field("codes", &self.codes.len())
            .finish()
    }
}

impl UserCodes {
    /// A new code for `issued` (32 characters, as WeChat's look).
    pub fn issue(&mut self, issued: UserCode) -> String {
        let code = random::string(32);
        self.codes.insert(code.clone(), (issued, false));
        code
    }

    /// Exchanges `code` for `appid`'s `kind` of exchange: good once, before it expires.
    pub fn redeem(
        &mut self,
        code: &str,
        appid: &str,
        kind: CodeKind,
        now: i64,
    ) -> Result<UserCode, WxError> {
        let (issued, used) = self.codes.get_mut(code).ok_or(WxError::InvalidCode)?;
        if issued.appid != appid || issued.kind != kind || now >= issued.expires_at {
            return Err(WxError::InvalidCode);
        }
        if *used {
            return Err(WxError::CodeUsed);
        }
        *used = true;
        Ok(issued.clone())
    }

    /// Whether `code` would be accepted now (for checks that must not use it up).
    pub fn check(&self, code: &str, appid: &str, kind: CodeKind, now: i64) -> Result<(), WxError> {
        let (issued, used) = self.codes.get(code).ok_or(WxError::InvalidCode)?;
        if issued.appid != appid || issued.kind != kind || now >= issued.expires_at {
            Err(WxError::InvalidCode)
        } else if *used {
            Err(WxError::CodeUsed)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(appid: &str, expires_at: i64) -> UserCode {
        UserCode {
            appid: appid.into(),
            user: "demo-user".into(),
            kind: CodeKind::Login,
            scope: None,
            expires_at,
        }
    }

    #[test]
    fn a_code_works_once_for_its_account_and_kind_until_it_expires() {
        let mut codes = UserCodes::default();
        let code = codes.issue(login("wxa", 300));
        let wrong = |codes: &mut UserCodes, appid, kind, now| {
            codes.redeem(&code, appid, kind, now).unwrap_err().errcode()
        };
        assert_eq!(wrong(&mut codes, "wxb", CodeKind::Login, 0), 40029);
        assert_eq!(wrong(&mut codes, "wxa", CodeKind::OAuth, 0), 40029);
        assert_eq!(wrong(&mut codes, "wxa", CodeKind::Login, 300), 40029);
        assert_eq!(codes.check(&code, "wxa", CodeKind::Login, 299), Ok(()));
        assert_eq!(
            codes.redeem(&code, "wxa", CodeKind::Login, 299),
            Ok(login("wxa", 300))
        );
        assert_eq!(wrong(&mut codes, "wxa", CodeKind::Login, 299), 40163);
        assert_eq!(
            codes.redeem("nope", "wxa", CodeKind::Login, 0),
            Err(WxError::InvalidCode)
        );
        assert_eq!(format!("{codes:?}"), "UserCodes { codes: 1 }");
    }
}
