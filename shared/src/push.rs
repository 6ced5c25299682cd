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
        let fields = xml::parse(body)?;
        let encrypt = fields
            .get("Encrypt")
            .filter(|e| !e.is_empty())
            .ok_or(PushError::MissingField("Encrypt"))?
            .to_owned();
        Ok(Self {
            app_id: fields.get("AppId").map(str::to_owned),
            to_user_name: fields.get("ToUserName").map(str::to_owned),
            encrypt,
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
            Self::Other { info_type, .. } => info_type,
        }
    }
}

impl ComponentPush {
    /// Parses the decrypted XML of a push to the authorization event URL.
    pub fn parse(xml: &str) -> Result<Self, PushError> {
        let fields = xml::parse(xml)?;
        let app_id = required(&fields, "AppId")?.to_owned();
        let create_time = unix_time(&fields, "CreateTime")?;
        let info = match required(&fields, "InfoType")? {
            "component_verify_ticket" => ComponentInfo::VerifyTicket {
                ticket: required(&fields, "ComponentVerifyTicket")?.to_owned(),
            },
            "authorized" => ComponentInfo::Authorized(AuthorizationGrant::from_fields(&fields)?),
            "updateauthorized" => {
                ComponentInfo::UpdateAuthorized(AuthorizationGrant::from_fields(&fields)?)
            }
            "unauthorized" => ComponentInfo::Unauthorized {
                authorizer_appid: required(&fields, "AuthorizerAppid")?.to_owned(),
            },
            other => ComponentInfo::Other {
                info_type: other.to_owned(),
                fields,
            },
        };
        Ok(Self {
            app_id,
            create_time,
            info,
        })
    }
}

impl AuthorizationGrant {
    fn from_fields(fields: &Fields) -> Result<Self, PushError> {
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

fn required<'a>(fields: &'a Fields, name: &'static str) -> Result<&'a str, PushError> {
    fields
        .get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(PushError::MissingField(name))
}

fn unix_time(fields: &Fields, name: &'static str) -> Result<i64, PushError> {
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
             <InfoType>notify_third_fasteregister</InfoType><appid>创建小程序appid</appid>\
             <status>0</status><info><name>公司名称</name></info></xml>",
        )
        .unwrap();
        let ComponentInfo::Other { info_type, fields } = push.info else {
            panic!("not kept as Other");
        };
        assert_eq!(info_type, "notify_third_fasteregister");
        assert_eq!(fields.get("info/name"), Some("公司名称"));
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
