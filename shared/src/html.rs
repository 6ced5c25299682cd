//! The few HTML pages merchants see: one layout, escaping, and the headers every page needs.

use std::borrow::Cow;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(text)
}

/// A whole page in the service's layout; `body` is trusted HTML (escape what goes into it).
pub fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: -apple-system, "PingFang SC", "Microsoft YaHei", "Helvetica Neue", Arial, sans-serif;
  margin: 0; background: #f2f3f5; color: #1f2329; }}
main {{ max-width: 560px; margin: 48px auto; background: #fff; border-radius: 12px; padding: 32px 28px;
  box-shadow: 0 1px 3px rgba(0,0,0,.08); }}
h1 {{ font-size: 22px; margin: 0 0 6px; }}
.en {{ color: #646a73; font-size: 14px; }}
p {{ line-height: 1.6; }}
.button {{ display: inline-block; background: #07c160; color: #fff; text-decoration: none; padding: 12px 28px;
  border-radius: 8px; font-size: 17px; margin: 16px 0 4px; }}
.error {{ color: #d83931; }}
.account {{ display: flex; align-items: center; gap: 16px; margin: 20px 0; }}
.avatar {{ width: 64px; height: 64px; border-radius: 50%; background: #eee center / cover no-repeat;
  flex: none; }}
ul {{ padding-left: 20px; line-height: 1.7; }}
small {{ color: #8f959e; }}
</style>
</head>
<body><main>
{body}
</main></body>
</html>
"#,
        title = escape(title)
    )
}

/// Headers for every page. The Referrer-Policy is explicit: WeChat's page checks that the
/// navigation comes from our domain, so the origin must be sent (never `no-referrer`).
pub const PAGE_HEADERS: [(&str, &str); 5] = [
    ("content-type", "text/html; charset=utf-8"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; base-uri 'none'; frame-ancestors 'none'",
    ),
];

/// A page as an HTTP response, with [`PAGE_HEADERS`].
pub fn response(status: u16, html: String) -> http::Response<String> {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in PAGE_HEADERS {
        builder = builder.header(name, value);
    }
    builder
        .body(html)
        .expect("static headers and a valid status")
}

/// A JSON answer for clients that asked for one.
pub fn json_response(status: u16, value: &serde_json::Value) -> http::Response<String> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(value.to_string())
        .expect("static headers and a valid status")
}

/// A redirect that keeps the Referer of the page the click started on (a 302 does).
pub fn redirect(location: &str) -> http::Response<String> {
    let mut builder = http::Response::builder()
        .status(302)
        .header("location", location);
    for (name, value) in &PAGE_HEADERS[1..] {
        builder = builder.header(*name, *value);
    }
    builder
        .body(String::new())
        .expect("a valid location header")
}

/// The permission sets (权限集) by id, as WeChat names them.
pub fn permission_name(id: i64) -> Cow<'static, str> {
    let name = match id {
        1 => "消息管理",
        2 => "用户管理",
        3 => "帐号服务",
        4 => "网页服务",
        5 => "微信小店",
        6 => "微信多客服",
        7 => "群发与通知",
        8 => "微信卡券",
        9 => "微信扫一扫",
        10 => "微信连WIFI",
        11 => "素材管理",
        12 => "微信摇周边",
        13 => "微信门店",
        15 => "自定义菜单",
        17 => "帐号管理",
        18 => "开发管理与数据分析",
        19 => "客服消息管理",
        22 => "城市服务",
        23 => "广告管理",
        24 => "开放平台帐号管理",
        25 => "开放平台帐号管理（小程序）",
        26 => "微信电子发票",
        30 => "小程序基本信息设置",
        31 => "小程序认证",
        33 => "微信卡路里",
        37 => "附近地点",
        40 => "插件管理",
        41 => "搜索widget",
        45 => "微信物流服务",
        _ => return Cow::Owned(format!("权限集 {id}")),
    };
    Cow::Borrowed(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_are_given() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
        let html = page("<title>", "<p>ok</p>");
        assert!(html.contains("<title>&lt;title&gt;</title>"));
        assert!(html.contains("<p>ok</p>"));
        assert_eq!(permission_name(1), "消息管理");
        assert_eq!(permission_name(999), "权限集 999");
    }
}
