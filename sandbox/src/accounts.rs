//! The accounts whose simulated administrators authorize the platform: official accounts
//! (公众号) and mini programs (小程序), shaped like `api_get_authorizer_info`'s answer.

use serde::{Deserialize, Serialize};

use crate::random;

/// Which kind of account, as `auth_type` selects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    OfficialAccount,
    MiniProgram,
}

impl AccountKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::OfficialAccount => "公众号",
            Self::MiniProgram => "小程序",
        }
    }
}

/// An account the sandbox knows, and what its administrator can grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub appid: String,
    pub kind: AccountKind,
    /// The permission sets (权限集 ids) the administrator can grant to a platform.
    pub func_info: Vec<u32>,
    /// The 全网发布 (release check) group (docs/protocol.md#the-release-check), for WeChat's test accounts.
    pub release_check_group: Option<u8>,
    pub info: AuthorizerInfo,
}

/// `authorizer_info` as `api_get_authorizer_info` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizerInfo {
    pub nick_name: String,
    pub head_img: String,
    pub service_type_info: IdInfo,
    pub verify_type_info: IdInfo,
    pub user_name: String,
    pub principal_name: String,
    pub alias: String,
    pub business_info: BusinessInfo,
    pub qrcode_url: String,
    pub signature: String,
    /// 1: normal.
    pub account_status: i32,
    #[serde(rename = "MiniProgramInfo", skip_serializing_if = "Option::is_none")]
    pub mini_program_info: Option<MiniProgramInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdInfo {
    pub id: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BusinessInfo {
    pub open_store: u8,
    pub open_scan: u8,
    pub open_pay: u8,
    pub open_card: u8,
    pub open_shake: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniProgramInfo {
    pub network: Network,
    pub categories: Vec<Category>,
    pub visit_status: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    pub request_domain: Vec<String>,
    pub ws_request_domain: Vec<String>,
    pub upload_domain: Vec<String>,
    pub download_domain: Vec<String>,
    pub biz_domain: Vec<String>,
    #[serde(rename = "UDPDomain")]
    pub udp_domain: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub first: String,
    pub second: String,
}

/// Permission sets (权限集) as WeChat numbers them, with the name its authorization page shows.
pub const PERMISSION_SETS: &[(u32, AccountKind, &str)] = &[
    (1, AccountKind::OfficialAccount, "消息管理权限"),
    (2, AccountKind::OfficialAccount, "用户管理权限"),
    (3, AccountKind::OfficialAccount, "帐号服务权限"),
    (4, AccountKind::OfficialAccount, "网页服务权限"),
    (5, AccountKind::OfficialAccount, "微信小店权限"),
    (6, AccountKind::OfficialAccount, "微信多客服权限"),
    (7, AccountKind::OfficialAccount, "群发与通知权限"),
    (8, AccountKind::OfficialAccount, "微信卡券权限"),
    (9, AccountKind::OfficialAccount, "微信扫一扫权限"),
    (10, AccountKind::OfficialAccount, "微信连WIFI权限"),
    (11, AccountKind::OfficialAccount, "素材管理权限"),
    (12, AccountKind::OfficialAccount, "微信摇周边权限"),
    (13, AccountKind::OfficialAccount, "微信门店权限"),
    (15, AccountKind::OfficialAccount, "自定义菜单权限"),
    (24, AccountKind::OfficialAccount, "开放平台帐号管理权限"),
    (26, AccountKind::OfficialAccount, "微信电子发票权限"),
    (33, AccountKind::OfficialAccount, "小程序管理权限"),
    (17, AccountKind::MiniProgram, "帐号管理权限"),
    (18, AccountKind::MiniProgram, "开发管理与数据分析权限"),
    (19, AccountKind::MiniProgram, "客服消息管理权限"),
    (25, AccountKind::MiniProgram, "开放平台帐号管理权限"),
    (30, AccountKind::MiniProgram, "小程序基本信息设置权限"),
    (31, AccountKind::MiniProgram, "小程序认证权限"),
    (37, AccountKind::MiniProgram, "附近的小程序权限"),
    (40, AccountKind::MiniProgram, "插件管理权限"),
    (49, AccountKind::MiniProgram, "云开发管理权限"),
];

/// The name of a permission set, for pages.
pub fn permission_name(id: u32) -> &'static str {
    PERMISSION_SETS
        .iter()
        .find(|(i, _, _)| *i == id)
        .map_or("权限集", |(_, _, name)| name)
}

const OFFICIAL_SETS: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 24, 26, 33];
const MINI_PROGRAM_SETS: &[u32] = &[17, 18, 19, 25, 30, 31, 37, 40, 49];

/// WeChat's release-check test accounts (docs/protocol.md#the-release-check), by group.
pub const RELEASE_CHECK_ACCOUNTS: [(u8, [(&str, &str); 2]); 5] = [
    (
        1,
        [
            ("wx570bc396a51b8ff8", "gh_3c884a361561"),
            ("wxd101a85aa106f53e", "gh_8dad206e9538"),
        ],
    ),
    (
        2,
        [
            ("wx9252c5e0bb1836fc", "gh_c0f28a78b318"),
            ("wxc39235c15087f6f3", "gh_905ae9d01059"),
        ],
    ),
    (
        3,
        [
            ("wx8e1097c5bc82cde9", "gh_3f222ed8d140"),
            ("wx7720d01d4b2a4500", "gh_393666f1fdf4"),
        ],
    ),
    (
        4,
        [
            ("wx14550af28c71a144", "gh_26128078e9ab"),
            ("wx05d483572dcd5d8b", "gh_39abb5d4e1b7"),
        ],
    ),
    (
        5,
        [
            ("wxa35b9c23cfe664eb", "gh_2b3713f184a6"),
            ("wx5910277cae6fd970", "gh_7818dcb60240"),
        ],
    ),
];

struct Profile<'a> {
    appid: &'a str,
    user_name: &'a str,
    nick_name: &'a str,
    principal_name: &'a str,
    alias: &'a str,
    signature: &'a str,
    service_type: i32,
    verify_type: i32,
}

fn official(p: Profile<'_>, business: BusinessInfo, func_info: &[u32]) -> Account {
    Account {
        appid: p.appid.into(),
        kind: AccountKind::OfficialAccount,
        func_info: func_info.to_vec(),
        release_check_group: None,
        info: info(&p, business, None),
    }
}

fn mini_program(p: Profile<'_>, mini: MiniProgramInfo, func_info: &[u32]) -> Account {
    Account {
        appid: p.appid.into(),
        kind: AccountKind::MiniProgram,
        func_info: func_info.to_vec(),
        release_check_group: None,
        info: info(&p, BusinessInfo::default(), Some(mini)),
    }
}

fn info(
    p: &Profile<'_>,
    business_info: BusinessInfo,
    mini: Option<MiniProgramInfo>,
) -> AuthorizerInfo {
    // WeChat serves avatars and QR codes from its CDNs; the paths only need to look the part.
    let tail = &p.user_name[3..];
    AuthorizerInfo {
        nick_name: p.nick_name.into(),
        head_img: format!("http://wx.qlogo.cn/mmopen/sandbox{tail}/0"),
        service_type_info: IdInfo { id: p.service_type },
        verify_type_info: IdInfo { id: p.verify_type },
        user_name: p.user_name.into(),
        principal_name: p.principal_name.into(),
        alias: p.alias.into(),
        business_info,
        qrcode_url: format!("http://mmbiz.qpic.cn/mmbiz_jpg/sandbox{tail}/0"),
        signature: p.signature.into(),
        account_status: 1,
        mini_program_info: mini,
    }
}

fn domains(list: &[&str]) -> Vec<String> {
    list.iter().map(|d| (*d).to_owned()).collect()
}

fn category(first: &str, second: &str) -> Category {
    Category {
        first: first.into(),
        second: second.into(),
    }
}

/// `count` accounts for large fleets (benchmarks): the built-in ones' profiles, in turn, under
/// fresh appids.
pub fn generated(count: usize) -> Vec<Account> {
    let builtin = builtin();
    (0..count)
        .map(|i| Account {
            appid: random::appid(),
            ..builtin[i % builtin.len()].clone()
        })
        .collect()
}

/// The built-in accounts: three official accounts (subscription, upgraded subscription,
/// service account), three mini programs, and the ten release-check test accounts.
pub fn builtin() -> Vec<Account> {
    let mut accounts = vec![
        official(
            Profile {
                appid: "wx3f2a6c8d1e4b7a90",
                user_name: "gh_5c1f0a9e3b27",
                nick_name: "晨读小站",
                principal_name: "个人",
                alias: "chendu_daily",
                signature: "每天早上七点，一篇好文章。",
                service_type: 0,
                verify_type: -1,
            },
            BusinessInfo::default(),
            &[1, 2, 3, 4, 7, 11, 15],
        ),
        official(
            Profile {
                appid: "wx7b9e2d4c6a8f1035",
                user_name: "gh_a8d2c4e6f013",
                nick_name: "羊城文化周刊",
                principal_name: "广州羊城文化传媒有限公司",
                alias: "ycwhzk",
                signature: "广州本地文化资讯，老字号与新去处。",
                service_type: 1,
                verify_type: 0,
            },
            BusinessInfo {
                open_scan: 1,
                ..BusinessInfo::default()
            },
            &[1, 2, 3, 4, 6, 7, 9, 11, 15, 24],
        ),
        official(
            Profile {
                appid: "wx1c4e7a9d2b5f8036",
                user_name: "gh_7e3b9d1f5a42",
                nick_name: "深蓝便民缴费",
                principal_name: "深圳市深蓝信息科技有限公司",
                alias: "shenlan_pay",
                signature: "水电燃气，一键缴费；账单提醒，准时送达。",
                service_type: 2,
                verify_type: 0,
            },
            BusinessInfo {
                open_store: 1,
                open_scan: 1,
                open_pay: 1,
                open_card: 1,
                open_shake: 0,
            },
            OFFICIAL_SETS,
        ),
        mini_program(
            Profile {
                appid: "wx5d8a1f3c7e9b2046",
                user_name: "gh_2f6a8c0e4d91",
                nick_name: "巷口早餐铺点餐",
                principal_name: "杭州巷口餐饮管理有限公司",
                alias: "",
                signature: "扫码点餐，到店即取。",
                service_type: 0,
                verify_type: 0,
            },
            MiniProgramInfo {
                network: Network {
                    request_domain: domains(&["https://api.xiangkou.example.com"]),
                    ws_request_domain: domains(&["wss://push.xiangkou.example.com"]),
                    upload_domain: domains(&["https://upload.xiangkou.example.com"]),
                    download_domain: domains(&["https://img.xiangkou.example.com"]),
                    ..Network::default()
                },
                categories: vec![category("餐饮", "点餐平台"), category("餐饮", "外卖平台")],
                visit_status: 0,
            },
            &[17, 18, 19, 25, 30, 31, 37],
        ),
        mini_program(
            Profile {
                appid: "wx9e2b4d6f8a1c3057",
                user_name: "gh_c93e5a7b1d08",
                nick_name: "口袋工具箱",
                principal_name: "个人",
                alias: "",
                signature: "计算器、单位换算与倒计时。",
                service_type: 0,
                verify_type: -1,
            },
            MiniProgramInfo {
                network: Network::default(),
                categories: vec![category("工具", "效率")],
                visit_status: 0,
            },
            &[17, 18, 19, 30],
        ),
        mini_program(
            Profile {
                appid: "wx2a6c8e0b4d7f1068",
                user_name: "gh_4b8d0f2a6c53",
                nick_name: "云杉好物商城",
                principal_name: "成都云杉电子商务有限公司",
                alias: "",
                signature: "产地直发的生鲜与好物。",
                service_type: 0,
                verify_type: 0,
            },
            MiniProgramInfo {
                network: Network {
                    request_domain: domains(&[
                        "https://api.yunshan.example.com",
                        "https://pay.yunshan.example.com",
                    ]),
                    download_domain: domains(&["https://cdn.yunshan.example.com"]),
                    biz_domain: domains(&["https://m.yunshan.example.com"]),
                    ..Network::default()
                },
                categories: vec![category("商家自营", "食品"), category("商家自营", "百货")],
                visit_status: 0,
            },
            MINI_PROGRAM_SETS,
        ),
    ];
    for (group, [(oa_appid, oa_user), (mp_appid, mp_user)]) in RELEASE_CHECK_ACCOUNTS {
        let mut oa = official(
            Profile {
                appid: oa_appid,
                user_name: oa_user,
                nick_name: &format!("全网发布测试公众号{group}"),
                principal_name: "深圳市腾讯计算机系统有限公司",
                alias: "",
                signature: "第三方平台全网发布检测专用",
                service_type: 2,
                verify_type: 0,
            },
            BusinessInfo::default(),
            OFFICIAL_SETS,
        );
        oa.release_check_group = Some(group);
        let mut mp = mini_program(
            Profile {
                appid: mp_appid,
                user_name: mp_user,
                nick_name: &format!("全网发布测试小程序{group}"),
                principal_name: "深圳市腾讯计算机系统有限公司",
                alias: "",
                signature: "第三方平台全网发布检测专用",
                service_type: 0,
                verify_type: 0,
            },
            MiniProgramInfo {
                network: Network::default(),
                categories: vec![category("工具", "信息查询")],
                visit_status: 0,
            },
            MINI_PROGRAM_SETS,
        );
        mp.release_check_group = Some(group);
        accounts.extend([oa, mp]);
    }
    accounts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_accounts_look_like_wechat_accounts() {
        let accounts = builtin();
        assert_eq!(accounts.len(), 16);
        for a in &accounts {
            assert!(
                a.appid.len() == 18
                    && a.appid.starts_with("wx")
                    && a.appid[2..].bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                a.appid
            );
            assert!(a.info.user_name.starts_with("gh_") && a.info.user_name.len() == 15);
            assert_eq!(
                a.info.mini_program_info.is_some(),
                a.kind == AccountKind::MiniProgram
            );
            for id in &a.func_info {
                let set = PERMISSION_SETS.iter().find(|(i, _, _)| i == id).unwrap();
                assert_eq!(set.1, a.kind, "{} offers {id}", a.appid);
            }
        }
        let mut appids: Vec<_> = accounts.iter().map(|a| &a.appid).collect();
        appids.sort();
        appids.dedup();
        assert_eq!(appids.len(), accounts.len());
        assert_eq!(
            accounts
                .iter()
                .filter(|a| a.release_check_group.is_some())
                .count(),
            10
        );
    }
}
