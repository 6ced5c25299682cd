//! The WeChat users the sandbox plays (the person logging in to a mini program or to an
//! official account's web page), and their identities as WeChat gives them out:
//!
//! - `openid`: per (account, user), the same on every login, different for each account;
//! - `unionid`: per user, the same for every account bound to the platform's open platform
//!   account (开放平台帐号). Every sandbox account counts as bound unless a test unbinds it
//!   ([`Users::set_bound`]); an unbound account's logins carry no `unionid`.
//!
//! Users are named by any string (`demo-user` when nobody says); identities are derived from
//! the names, so they are stable across restarts and computable by tests.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// The user the pages and the control endpoints assume when none is named.
pub const DEFAULT_USER: &str = "demo-user";

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// 28 characters starting with `o`, as WeChat's openids and unionids look, derived from `text`.
fn identifier(text: &str) -> String {
    let first = Sha1::digest(text.as_bytes());
    let second = Sha1::digest(first);
    std::iter::once('o')
        .chain(
            first
                .iter()
                .chain(second.iter())
                .take(27)
                .map(|b| char::from(ALPHABET[usize::from(b & 63)])),
        )
        .collect()
}

/// The openid of `user` in account `appid`.
pub fn openid(appid: &str, user: &str) -> String {
    identifier(&format!("sandbox-openid\n{appid}\n{user}"))
}

/// The unionid of `user` (the same under every bound account).
pub fn unionid(user: &str) -> String {
    identifier(&format!("sandbox-unionid\n{user}"))
}

/// What `sns/userinfo` tells about a user: made up from the name, stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub nickname: String,
    /// 0 unknown, 1 male, 2 female (WeChat now always answers 0).
    pub sex: u8,
    pub province: String,
    pub city: String,
    pub country: String,
    pub headimgurl: String,
}

/// `user`'s profile.
pub fn profile(user: &str) -> Profile {
    let tail = &unionid(user)[1..17];
    Profile {
        nickname: user.to_owned(),
        sex: 0,
        province: "广东".into(),
        city: "广州".into(),
        country: "中国".into(),
        headimgurl: format!("https://thirdwx.qlogo.cn/mmopen/vi_32/sandbox{tail}/132"),
    }
}

/// Which accounts are not bound to the open platform account (so give no unionid).
#[derive(Debug, Default)]
pub struct Users {
    unbound: BTreeSet<String>,
}

impl Users {
    /// Binds `appid` to the open platform account (its logins carry unionid) or unbinds it.
    pub fn set_bound(&mut self, appid: &str, bound: bool) {
        if bound {
            self.unbound.remove(appid);
        } else {
            self.unbound.insert(appid.to_owned());
        }
    }

    pub fn is_bound(&self, appid: &str) -> bool {
        !self.unbound.contains(appid)
    }

    /// `user`'s unionid as a login to `appid` gives it: none when the account is unbound.
    pub fn unionid_for(&self, appid: &str, user: &str) -> Option<String> {
        self.is_bound(appid).then(|| unionid(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openids_are_per_account_and_unionids_per_user() {
        let a = openid("wx1c4e7a9d2b5f8036", "alice");
        assert_eq!(a, openid("wx1c4e7a9d2b5f8036", "alice"));
        assert_ne!(a, openid("wx7b9e2d4c6a8f1035", "alice"));
        assert_ne!(a, openid("wx1c4e7a9d2b5f8036", "bob"));
        assert!(a.len() == 28 && a.starts_with('o'), "{a}");
        assert_ne!(unionid("alice"), unionid("bob"));
        assert_ne!(unionid("alice"), a);

        let mut users = Users::default();
        assert_eq!(users.unionid_for("wxa", "alice"), Some(unionid("alice")));
        users.set_bound("wxa", false);
        assert_eq!(users.unionid_for("wxa", "alice"), None);
        assert_eq!(users.unionid_for("wxb", "alice"), Some(unionid("alice")));
        users.set_bound("wxa", true);
        assert!(users.is_bound("wxa"));
    }
}
