//! Pushes to the authorization event URL: the outer envelope and the decrypted messages.

use crate::xml::{self, Fields, XmlError};

/// What a push's body must hold before anything is decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `AppId` on the authorization event URL, `ToUserName` on the message URL.
    pub app_id: Option<String>,
    /// `ToUserName`: the account's original id, on the message URL.
    pub to_user_name: Option<String>,
    /// `Encrypt`: the encrypted message.
    pub encrypt: String,
}

/// Why a push could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The XML is refused.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// A field every push has is missing.
    #[error("the push has no {0} (-40002 ParseXmlError)")]
    MissingField(&'static str),
    /// A number field is not a number.
    #[error("{field} is not a number (-40002 ParseXmlError)")]
    NotANumber {
        /// The field.
        field: &'static str,
    },
    /// A time field is not a Unix time.
    #[error("{field} is not a Unix time in seconds (-40002 ParseXmlError)")]
    BadTime {
        /// The field.
        field: &'static str,
    },
}

impl PushError {
    /// WeChat's error code: -40002 (ParseXmlError).
    pub fn code(&self) -> i32 {
        -40002
    }
}

impl Envelope {
    /// Reads the envelope of a push's body.
    pub fn parse(body: &str) -> Result<Self, PushError> {
        let (mut app_id, mut to_user_name, mut encrypt) = (None, None, None);
        // Only these three are copied out, the first of each name (as `Fields::get` reads).
        xml::for_each_field(body, |name, value| {
            let slot = match name {
                "AppId" => &mut app_id,
                "ToUserName" => &mut to_user_name,
                "Encrypt" => &mut encrypt,
                _ => return,
            };
            slot.get_or_insert_with(|| value.to_owned());
        })?;
        Ok(Self {
            app_id,
            to_user_name,
            encrypt: encrypt
                .filter(|e| !e.is_empty())
                .ok_or(PushError::MissingField("Encrypt"))?,
        })
    }
}

/// A decrypted push to the authorization event URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentPush {
    /// The component appid the message is addressed to.
    pub app_id: String,
    /// Unix seconds, as WeChat stamped it.
    pub create_time: i64,
    /// What it is about.
    pub info: ComponentInfo,
}

/// What the push is about, by `InfoType`.
#[derive(Clone, PartialEq, Eq)]
pub enum ComponentInfo {
    /// `component_verify_ticket`: a new ticket.
    VerifyTicket {
        /// The ticket.
        ticket: String,
    },
    /// `authorized`: an account authorized the platform.
    Authorized(AuthorizationGrant),
    /// `updateauthorized`: an account changed what it granted.
    UpdateAuthorized(AuthorizationGrant),
    /// `unauthorized`: an account withdrew.
    Unauthorized {
        /// The account.
        authorizer_appid: String,
    },
    /// `notify_third_fasteregister`: how a fast registration (快速注册) of a mini program the
    /// platform submitted ended.
    FastRegistered {
        /// WeChat's result: 0 when the mini program was created.
        status: i64,
        /// The new mini program and the code to exchange for its tokens, when `status` is 0.
        grant: Option<AuthorizationGrant>,
        /// Every field but the code: `appid`, `status`, `msg`, and under `info/` what was
        /// submitted (the company, its legal person's name and WeChat id, a phone number).
        fields: Fields,
    },
    /// An InfoType this service does not act on; kept whole so nothing is lost.
    Other {
        /// Its `InfoType`.
        info_type: String,
        /// Every field of the push.
        fields: Fields,
    },
}

/// The ticket and authorization codes are credentials: Debug shows their shape only.
impl std::fmt::Debug for ComponentInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::VerifyTicket { .. } => f.write_str("VerifyTicket { ticket: <redacted> }"),
            Self::Authorized(g) => f.debug_tuple("Authorized").field(g).finish(),
            Self::UpdateAuthorized(g) => f.debug_tuple("UpdateAuthorized").field(g).finish(),
            Self::Unauthorized { authorizer_appid } => f
                .debug_struct("Unauthorized")
                .field("authorizer_appid", authorizer_appid)
                .finish(),
            Self::FastRegistered { status, grant, .. } => f
                .debug_struct("FastRegistered")
                .field("status", status)
                .field("grant", grant)
                .finish_non_exhaustive(),
            Self::Other { info_type, .. } => f
                .debug_struct("Other")
                .field("info_type", info_type)
                .finish_non_exhaustive(),
        }
    }
}

/// The body of `authorized` and `updateauthorized`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationGrant {
    /// The account.
    pub authorizer_appid: String,
    /// The single-use code to exchange with api_query_auth.
    pub authorization_code: String,
    /// Unix seconds.
    pub authorization_code_expired_time: i64,
    /// The pre-auth code the authorization page was opened with, if any.
    pub pre_auth_code: Option<String>,
}

impl std::fmt::Debug for AuthorizationGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationGrant")
            .field("authorizer_appid", &self.authorizer_appid)
            .field("authorization_code", &"<redacted>")
            .field(
                "authorization_code_expired_time",
                &self.authorization_code_expired_time,
            )
            .field(
                "pre_auth_code",
                &self.pre_auth_code.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ComponentInfo {
    /// WeChat's name for this kind of push.
    pub fn info_type(&self) -> &str {
        match self {
            Self::VerifyTicket { .. } => "component_verify_ticket",
            Self::Authorized(_) => "authorized",
            Self::UpdateAuthorized(_) => "updateauthorized",
            Self::Unauthorized { .. } => "unauthorized",
            Self::FastRegistered { .. } => FAST_REGISTERED,
            Self::Other { info_type, .. } => info_type,
        }
    }

    /// The authorization the push carries a code for, if any.
    pub fn grant(&self) -> Option<&AuthorizationGrant> {
        match self {
            Self::Authorized(grant) | Self::UpdateAuthorized(grant) => Some(grant),
            Self::FastRegistered { grant, .. } => grant.as_ref(),
            _ => None,
        }
    }

    /// What the platform's other services are told of the push, without its credentials: the
    /// pushes this service does not keep to itself (tickets and authorization events it acts on
    /// and records; a fast registration's code it exchanges).
    pub fn handed_on_fields(&self) -> Option<&Fields> {
        match self {
            Self::FastRegistered { fields, .. } | Self::Other { fields, .. } => Some(fields),
            _ => None,
        }
    }
}

/// The InfoType of a fast registration's result.
pub const FAST_REGISTERED: &str = "notify_third_fasteregister";

/// How long a fast registration's `auth_code` can be exchanged: WeChat's authorization codes
/// live an hour, and this push carries no expiry of its own.
pub const FAST_REGISTRATION_CODE_LIFETIME: i64 = 3600;

impl ComponentPush {
    /// Parses the decrypted XML of a push to the authorization event URL.
    pub fn parse(xml: &str) -> Result<Self, PushError> {
        // The pushes this service acts on need a few fields, copied out as the XML is read;
        // the others keep every field, read again whole (they are rare).
        let mut known = Known::default();
        xml::for_each_field(xml, |path, value| known.keep(path, value))?;
        let app_id = known.take_required("AppId")?;
        let create_time = unix_time(&known, "CreateTime")?;
        let info = match required(&known, "InfoType")? {
            "component_verify_ticket" => ComponentInfo::VerifyTicket {
                ticket: known.take_required("ComponentVerifyTicket")?,
            },
            "authorized" => ComponentInfo::Authorized(AuthorizationGrant::from_fields(&known)?),
            "updateauthorized" => {
                ComponentInfo::UpdateAuthorized(AuthorizationGrant::from_fields(&known)?)
            }
            "unauthorized" => ComponentInfo::Unauthorized {
                authorizer_appid: required(&known, "AuthorizerAppid")?.to_owned(),
            },
            FAST_REGISTERED => fast_registered(xml::parse(xml)?, create_time)?,
            other => ComponentInfo::Other {
                info_type: other.to_owned(),
                fields: xml::parse(xml)?,
            },
        };
        Ok(Self {
            app_id,
            create_time,
            info,
        })
    }
}

/// The fields the pushes this service acts on are read from, each the first of its path (as
/// [`Fields::get`] reads it).
const KNOWN: [&str; 8] = [
    "AppId",
    "CreateTime",
    "InfoType",
    "ComponentVerifyTicket",
    "AuthorizerAppid",
    "AuthorizationCode",
    "AuthorizationCodeExpiredTime",
    "PreAuthCode",
];

#[derive(Default)]
struct Known([Option<String>; KNOWN.len()]);

impl Known {
    fn keep(&mut self, path: &str, value: &str) {
        if let Some(i) = KNOWN.iter().position(|name| *name == path) {
            self.0[i].get_or_insert_with(|| value.to_owned());
        }
    }

    /// What [`required`] reads, moved out rather than copied.
    fn take_required(&mut self, name: &'static str) -> Result<String, PushError> {
        required(self, name)?;
        let i = KNOWN
            .iter()
            .position(|k| *k == name)
            .expect("a known field");
        let value = self.0[i].take().expect("required checked it");
        let trimmed = value.trim();
        Ok(if trimmed.len() == value.len() {
            value
        } else {
            trimmed.to_owned()
        })
    }
}

/// Where a push's fields are looked up: all of them, or the few the common pushes need.
trait Lookup {
    fn get(&self, path: &str) -> Option<&str>;
}

impl Lookup for Fields {
    fn get(&self, path: &str) -> Option<&str> {
        Fields::get(self, path)
    }
}

impl Lookup for Known {
    fn get(&self, path: &str) -> Option<&str> {
        let i = KNOWN.iter().position(|name| *name == path)?;
        self.0[i].as_deref()
    }
}

impl AuthorizationGrant {
    fn from_fields(fields: &impl Lookup) -> Result<Self, PushError> {
        Ok(Self {
            authorizer_appid: required(fields, "AuthorizerAppid")?.to_owned(),
            authorization_code: required(fields, "AuthorizationCode")?.to_owned(),
            authorization_code_expired_time: unix_time(fields, "AuthorizationCodeExpiredTime")?,
            pre_auth_code: fields
                .get("PreAuthCode")
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
        })
    }
}

/// A fast registration's result. Status 0 carries the new mini program's appid and a code that
/// api_query_auth exchanges like an authorization code; the code is taken out of the fields.
fn fast_registered(fields: Fields, create_time: i64) -> Result<ComponentInfo, PushError> {
    let status = required(&fields, "status")?
        .parse::<i64>()
        .map_err(|_| PushError::NotANumber { field: "status" })?;
    let grant = if status == 0 {
        Some(AuthorizationGrant {
            authorizer_appid: required(&fields, "appid")?.to_owned(),
            authorization_code: required(&fields, "auth_code")?.to_owned(),
            authorization_code_expired_time: create_time + FAST_REGISTRATION_CODE_LIFETIME,
            pre_auth_code: None,
        })
    } else {
        None
    };
    Ok(ComponentInfo::FastRegistered {
        status,
        grant,
        fields: fields.filtered(|name| name != "auth_code"),
    })
}

fn required<'a>(fields: &'a impl Lookup, name: &'static str) -> Result<&'a str, PushError> {
    fields
        .get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(PushError::MissingField(name))
}

fn unix_time(fields: &impl Lookup, name: &'static str) -> Result<i64, PushError> {
    required(fields, name)?
        .parse::<i64>()
        .ok()
        .filter(|t| *t > 0)
        .ok_or(PushError::BadTime { field: name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_ticket() {
        let push = ComponentPush::parse(
            "<xml><AppId>some_appid</AppId><CreateTime>1413192605</CreateTime>\
             <InfoType>component_verify_ticket</InfoType>\
             <ComponentVerifyTicket>some_verify_ticket</ComponentVerifyTicket></xml>",
        )
        .unwrap();
        assert_eq!(push.app_id, "some_appid");
        assert_eq!(push.create_time, 1413192605);
        assert_eq!(
            push.info,
            ComponentInfo::VerifyTicket {
                ticket: "some_verify_ticket".into()
            }
        );
        assert!(!format!("{push:?}").contains("some_verify_ticket"));
    }

    #[test]
    fn parses_authorization_events() {
        let xml = |kind: &str| {
            format!(
                "<xml><AppId>第三方平台appid</AppId><CreateTime>1413192760</CreateTime>\
                 <InfoType>{kind}</InfoType><AuthorizerAppid>公众号appid</AuthorizerAppid>\
                 <AuthorizationCode>授权码</AuthorizationCode>\
                 <AuthorizationCodeExpiredTime>1413196360</AuthorizationCodeExpiredTime>\
                 <PreAuthCode>预授权码</PreAuthCode></xml>"
            )
        };
        let grant = AuthorizationGrant {
            authorizer_appid: "公众号appid".into(),
            authorization_code: "授权码".into(),
            authorization_code_expired_time: 1413196360,
            pre_auth_code: Some("预授权码".into()),
        };
        assert_eq!(
            ComponentPush::parse(&xml("authorized")).unwrap().info,
            ComponentInfo::Authorized(grant.clone())
        );
        let update = ComponentPush::parse(&xml("updateauthorized")).unwrap();
        assert_eq!(update.info, ComponentInfo::UpdateAuthorized(grant));
        assert!(!format!("{update:?}").contains("授权码"));
        assert_eq!(
            ComponentPush::parse(&xml("unauthorized")).unwrap().info,
            ComponentInfo::Unauthorized {
                authorizer_appid: "公众号appid".into()
            }
        );
    }

    #[test]
    fn keeps_unknown_info_types() {
        let push = ComponentPush::parse(
            "<xml><AppId>wx1</AppId><CreateTime>1535442403</CreateTime>\
             <InfoType>notify_third_fastverifybetaapp</InfoType><appid>创建小程序appid</appid>\
             <status>0</status><info><name>公司名称</name></info></xml>",
        )
        .unwrap();
        let ComponentInfo::Other { info_type, fields } = push.info else {
            panic!("not kept as Other");
        };
        assert_eq!(info_type, "notify_third_fastverifybetaapp");
        assert_eq!(fields.get("info/name"), Some("公司名称"));
    }

    #[test]
    fn reads_a_fast_registration_and_takes_its_code_out_of_the_fields() {
        let xml = |status: &str, code: &str| {
            format!(
                "<xml><AppId>wx1</AppId><CreateTime>1535442403</CreateTime>\
                 <InfoType>notify_third_fasteregister</InfoType><appid>wxnew</appid>\
                 <status>{status}</status>{code}<msg>OK</msg>\
                 <info><name>公司名称</name><legal_persona_name>张三</legal_persona_name></info></xml>"
            )
        };
        let created =
            ComponentPush::parse(&xml("0", "<auth_code>queryauthcode@@@fr</auth_code>")).unwrap();
        assert_eq!(created.info.info_type(), FAST_REGISTERED);
        let grant = created.info.grant().expect("a code to exchange");
        assert_eq!(grant.authorizer_appid, "wxnew");
        assert_eq!(grant.authorization_code, "queryauthcode@@@fr");
        assert_eq!(grant.authorization_code_expired_time, 1535442403 + 3600);
        let fields = created.info.handed_on_fields().unwrap();
        assert_eq!(fields.get("auth_code"), None);
        assert_eq!(fields.get("info/legal_persona_name"), Some("张三"));
        assert!(!format!("{created:?}").contains("queryauthcode@@@fr"));

        let refused = ComponentPush::parse(&xml("89249", "")).unwrap();
        assert!(refused.info.grant().is_none());
        assert_eq!(
            refused.info.handed_on_fields().unwrap().get("status"),
            Some("89249")
        );
        assert_eq!(
            ComponentPush::parse(&xml("0", "")),
            Err(PushError::MissingField("auth_code"))
        );
        assert_eq!(
            ComponentPush::parse(&xml("ok", "")),
            Err(PushError::NotANumber { field: "status" })
        );
    }

    #[test]
    fn refuses_missing_fields_and_bad_times() {
        for (xml, expected) in [
            (
                "<xml><CreateTime>1</CreateTime><InfoType>unauthorized</InfoType></xml>",
                PushError::MissingField("AppId"),
            ),
            (
                "<xml><AppId>a</AppId><CreateTime>x</CreateTime><InfoType>t</InfoType></xml>",
                PushError::BadTime {
                    field: "CreateTime",
                },
            ),
            (
                "<xml><AppId>a</AppId><CreateTime>1</CreateTime></xml>",
                PushError::MissingField("InfoType"),
            ),
            (
                "<xml><AppId>a</AppId><CreateTime>1</CreateTime><InfoType>component_verify_ticket</InfoType></xml>",
                PushError::MissingField("ComponentVerifyTicket"),
            ),
            (
                "<xml><AppId>a</AppId><CreateTime>1</CreateTime><InfoType>authorized</InfoType><AuthorizerAppid>b</AuthorizerAppid></xml>",
                PushError::MissingField("AuthorizationCode"),
            ),
        ] {
            assert_eq!(ComponentPush::parse(xml).unwrap_err(), expected, "{xml}");
        }
    }

    #[test]
    fn envelope_needs_encrypt() {
        let env = Envelope::parse(
            "<xml><AppId><![CDATA[wx1]]></AppId><Encrypt><![CDATA[abc]]></Encrypt></xml>",
        )
        .unwrap();
        assert_eq!(env.app_id.as_deref(), Some("wx1"));
        assert_eq!(env.encrypt, "abc");
        assert_eq!(
            Envelope::parse("<xml><AppId>wx1</AppId></xml>").unwrap_err(),
            PushError::MissingField("Encrypt")
        );
        assert_eq!(
            Envelope::parse("<!DOCTYPE a><xml><Encrypt>a</Encrypt></xml>").unwrap_err(),
            PushError::Xml(XmlError::Doctype)
        );
    }
}
