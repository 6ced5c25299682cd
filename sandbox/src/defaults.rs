//! The platform the sandbox plays WeChat for unless told otherwise: WeChat's published sample
//! values for the message scheme (its documentation encrypts its examples with them), so
//! anything encrypted here can be checked against WeChat's own vectors.

/// The sample component appid of WeChat's message-encryption documentation.
pub const COMPONENT_APPID: &str = "wxb11529c136998cb6";
/// Any value works: only the platform and the sandbox compare it.
pub const COMPONENT_APPSECRET: &str = "local-component-appsecret";
/// The sample message token (消息校验Token).
pub const TOKEN: &str = "pamtest";
/// The sample EncodingAESKey (消息加解密Key).
pub const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
