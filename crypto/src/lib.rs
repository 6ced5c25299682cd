//! WeChat's message scheme ("WXBizMsgCrypt", safe mode): SHA-1 signatures over the sorted
//! parameters and AES-256-CBC with WeChat's 32-byte padding.
//!
//! The plaintext is `16 random bytes ‖ u32 big-endian length ‖ message ‖ appid`.

use std::fmt;

use aes::{Aes256Dec, Aes256Enc};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// WeChat pads to 32 bytes, not to the AES block size: a 16-byte PKCS#7 unpadder fails on
/// about half of real messages.
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const LENGTH_LEN: usize = 4;

/// Real EncodingAESKeys usually end in a character with non-zero trailing bits, which a strict
/// decoder rejects; the key alone is decoded leniently (by the `base64` crate, whose engine
/// takes exactly that leniency). Messages are decoded strictly by `base64_simd`, which is
/// several times faster on them.
const AES_KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Failures of the scheme, named and numbered as in WeChat's sample code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("msg_signature does not match (-40001 ValidateSignatureError)")]
    ValidateSignature,
    #[error("EncodingAESKey is not 43 base64 characters (-40004 IllegalAesKey)")]
    IllegalAesKey,
    #[error("the message was encrypted for another appid (-40005 ValidateAppidError)")]
    ValidateAppid,
    #[error("the ciphertext is not a whole number of AES blocks (-40007 DecryptAESError)")]
    DecryptAes,
    #[error("bad padding or length in the decrypted buffer (-40008 IllegalBuffer)")]
    IllegalBuffer,
    #[error("Encrypt is not valid base64 (-40010 DecodeBase64Error)")]
    DecodeBase64,
}

impl CryptoError {
    /// WeChat's numeric code for this failure.
    pub fn code(self) -> i32 {
        match self {
            Self::ValidateSignature => -40001,
            Self::IllegalAesKey => -40004,
            Self::ValidateAppid => -40005,
            Self::DecryptAes => -40007,
            Self::IllegalBuffer => -40008,
            Self::DecodeBase64 => -40010,
        }
    }
}

/// The platform's token and AES key, bound to the appid messages must carry.
#[derive(Clone)]
pub struct MessageCrypto {
    token: String,
    key: [u8; 32],
    /// The key's round keys, expanded once: expanding them again for every message was a
    /// measurable part of a push's cost.
    decryptor: Aes256Dec,
    encryptor: Aes256Enc,
    appid: String,
}

impl fmt::Debug for MessageCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageCrypto")
            .field("token", &"<redacted>")
            .field("key", &"<redacted>")
            .field("appid", &self.appid)
            .finish()
    }
}

/// The reply WeChat expects when a message is answered with an encrypted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedReply {
    pub encrypt: String,
    pub msg_signature: String,
    pub timestamp: String,
    pub nonce: String,
}

impl SealedReply {
    pub fn to_xml(&self) -> String {
        format!(
            "<xml><Encrypt><![CDATA[{}]]></Encrypt><MsgSignature><![CDATA[{}]]></MsgSignature>\
             <TimeStamp>{}</TimeStamp><Nonce><![CDATA[{}]]></Nonce></xml>",
            self.encrypt, self.msg_signature, self.timestamp, self.nonce
        )
    }
}

impl MessageCrypto {
    pub fn new(
        token: impl Into<String>,
        encoding_aes_key: &str,
        appid: impl Into<String>,
    ) -> Result<Self, CryptoError> {
        if encoding_aes_key.len() != 43 {
            return Err(CryptoError::IllegalAesKey);
        }
        let mut padded = [0u8; 44];
        padded[..43].copy_from_slice(encoding_aes_key.as_bytes());
        padded[43] = b'=';
        let decoded = AES_KEY_ENGINE
            .decode(padded)
            .map_err(|_| CryptoError::IllegalAesKey)?;
        let key: [u8; 32] = decoded.try_into().map_err(|_| CryptoError::IllegalAesKey)?;
        Ok(Self {
            token: token.into(),
            key,
            decryptor: Aes256Dec::new(&key.into()),
            encryptor: Aes256Enc::new(&key.into()),
            appid: appid.into(),
        })
    }

    /// The appid messages must be encrypted for.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// `hex(sha1(sorted(token, timestamp, nonce, encrypt)))`, lower case.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        let hex = self.signature_hex(timestamp, nonce, encrypt);
        String::from_utf8(hex.to_vec()).expect("hex digits are ASCII")
    }

    /// The signature's 40 lower-case hex digits, on the stack.
    fn signature_hex(&self, timestamp: &str, nonce: &str, encrypt: &str) -> [u8; 40] {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypt];
        parts.sort_unstable();
        let mut hasher = Sha1::new();
        for part in parts {
            hasher.update(part.as_bytes());
        }
        let mut hex = [0u8; 40];
        hex::encode_to_slice(hasher.finalize(), &mut hex).expect("20 bytes are 40 hex digits");
        hex
    }

    /// Checks `msg_signature` in constant time.
    pub fn verify_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), CryptoError> {
        let expected = self.signature_hex(timestamp, nonce, encrypt);
        if bool::from(expected.ct_eq(msg_signature.as_bytes())) {
            Ok(())
        } else {
            Err(CryptoError::ValidateSignature)
        }
    }

    /// Decrypts an `Encrypt` value and checks that it was meant for our appid.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        let mut buf = base64_simd::STANDARD
            .decode_to_vec(encrypt)
            .map_err(|_| CryptoError::DecodeBase64)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptoError::DecryptAes);
        }
        let plain = cbc::Decryptor::<&Aes256Dec>::inner_iv_init(&self.decryptor, &self.iv().into())
            .decrypt_padded::<NoPadding>(&mut buf)
            .map_err(|_| CryptoError::DecryptAes)?;
        let content = strip_padding(plain)?;
        if content.len() < RANDOM_LEN + LENGTH_LEN {
            return Err(CryptoError::IllegalBuffer);
        }
        let (length, rest) = content[RANDOM_LEN..].split_at(LENGTH_LEN);
        let length = u32::from_be_bytes(length.try_into().expect("4 bytes")) as usize;
        if length > rest.len() {
            return Err(CryptoError::IllegalBuffer);
        }
        if rest[length..] != *self.appid.as_bytes() {
            return Err(CryptoError::ValidateAppid);
        }
        // The message is moved to the front of the buffer it was decrypted in: no second copy.
        let start = RANDOM_LEN + LENGTH_LEN;
        buf.copy_within(start..start + length, 0);
        buf.truncate(length);
        String::from_utf8(buf).map_err(|_| CryptoError::IllegalBuffer)
    }

    /// Encrypts a message for our appid with fresh random bytes.
    pub fn encrypt(&self, message: &str) -> String {
        let mut random = [0u8; RANDOM_LEN];
        getrandom::fill(&mut random).expect("the OS random source is available");
        self.encrypt_with_random(&random, message)
    }

    /// Encrypts with the given 16 random bytes; deterministic, for known-answer tests.
    pub fn encrypt_with_random(&self, random: &[u8; RANDOM_LEN], message: &str) -> String {
        let unpadded = RANDOM_LEN + LENGTH_LEN + message.len() + self.appid.len();
        let pad = PAD_BLOCK - unpadded % PAD_BLOCK;
        let mut buf = Vec::with_capacity(unpadded + pad);
        buf.extend_from_slice(random);
        buf.extend_from_slice(&(message.len() as u32).to_be_bytes());
        buf.extend_from_slice(message.as_bytes());
        buf.extend_from_slice(self.appid.as_bytes());
        buf.resize(unpadded + pad, pad as u8);
        let len = buf.len();
        cbc::Encryptor::<&Aes256Enc>::inner_iv_init(&self.encryptor, &self.iv().into())
            .encrypt_padded::<NoPadding>(&mut buf, len)
            .expect("the buffer is a whole number of blocks");
        base64_simd::STANDARD.encode_to_string(&buf)
    }

    /// Encrypts and signs a reply the way WeChat expects it back.
    pub fn seal(&self, message: &str, timestamp: &str, nonce: &str) -> SealedReply {
        let encrypt = self.encrypt(message);
        let msg_signature = self.signature(timestamp, nonce, &encrypt);
        SealedReply {
            encrypt,
            msg_signature,
            timestamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
        }
    }

    fn iv(&self) -> [u8; 16] {
        self.key[..16].try_into().expect("16 bytes")
    }
}

/// Removes WeChat's padding: 1 to 32 bytes, each holding the pad length.
fn strip_padding(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let pad = usize::from(*plain.last().ok_or(CryptoError::IllegalBuffer)?);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(CryptoError::IllegalBuffer);
    }
    let (content, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(CryptoError::IllegalBuffer);
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::Aes256;
    use base64::engine::general_purpose::STANDARD;
    use cbc::cipher::KeyIvInit;

    // Vectors from WeChat's official sample code (Java, Python, C++) and documentation.
    const SAMPLE_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const SAMPLE_APPID: &str = "wxb11529c136998cb6";
    const VIDEO_REPLY: &str = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>";
    const VIDEO_CIPHER: &str = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb";

    fn sample() -> MessageCrypto {
        MessageCrypto::new("pamtest", SAMPLE_KEY, SAMPLE_APPID).unwrap()
    }

    #[test]
    fn official_encrypt_vectors() {
        let crypto = sample();
        assert_eq!(
            crypto.encrypt_with_random(b"aaaabbbbccccdddd", "我是中文abcd123"),
            "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
        );
        assert_eq!(
            crypto.encrypt_with_random(b"aaaabbbbccccdddd", VIDEO_REPLY),
            VIDEO_CIPHER
        );
        assert_eq!(crypto.decrypt(VIDEO_CIPHER).unwrap(), VIDEO_REPLY);
    }

    #[test]
    fn official_url_verification_vector() {
        // The key ends in 'C': non-zero trailing bits, rejected by a strict decoder.
        let crypto = MessageCrypto::new(
            "QDG6eK",
            "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
            "wx5823bf96d3bd56c7",
        )
        .unwrap();
        let echo = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
        assert_eq!(
            crypto.signature("1409659589", "263014780", echo),
            "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
        );
        crypto
            .verify_signature(
                "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
                "1409659589",
                "263014780",
                echo,
            )
            .unwrap();
        assert_eq!(crypto.decrypt(echo).unwrap(), "1616140317555161061");
    }

    #[test]
    fn official_python_sample_decrypts_byte_for_byte() {
        let crypto = MessageCrypto::new("spamtest", SAMPLE_KEY, "wx2c2769f8efd9abc2").unwrap();
        let encrypt = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
        crypto
            .verify_signature(
                "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
                "1409735669",
                "1320562132",
                encrypt,
            )
            .unwrap();
        assert_eq!(
            crypto.decrypt(encrypt).unwrap(),
            "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>"
        );
    }

    #[test]
    fn official_cpp_sample_decrypts() {
        let crypto = MessageCrypto::new("spamtest", SAMPLE_KEY, "wx2c2769f8efd9abc2").unwrap();
        let encrypt = "mfBCs65c67CeJw22u4VT2TD73q5H06+ocrAIxswCaeZ/d/Lw0msSZFHY0teqgSYiI1zR2gD2DKrB3TIrmX/liNSDrGqS8jSI/WPeKB5VPr7Ezr7gomZAyGCwJSgT1TRFWPfONGJMxuj2nk4faTuspAuVIFQ6SHwZuJBZC7mcJp7Cgr9cUhATQWDbOPaE7ukZBTV2YqyzH+UI2AK+J1S47cE79k1RX8t0hcTz/O0hlK8DGXKnvYv88qKQcI7z4iaajqHfRVZKBNyOODabs+It+ZfM3dWTeFcPgDbGtIEnpt/EDtuuA/zMvtkaKdHdswPnVZQ+xdwbYr3ldGvfT8HlEYEgkgKaThxTFobVlwzu2ZkXCjicbP3xdr15Iq48ObgzPpqYuZ3IEoyggZDKClquk0u0orMck4GTF/XyE8yGzc4=";
        crypto
            .verify_signature(
                "003fee52ecc56afb46c00b5c7721be87860ce785",
                "1410349438",
                "298025754",
                encrypt,
            )
            .unwrap();
        let xml = crypto.decrypt(encrypt).unwrap();
        assert!(xml.contains("<ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"));
    }

    #[test]
    fn official_component_documentation_vector() {
        // The documentation's example uses 43 'A's: an all-zero key.
        let crypto = MessageCrypto::new("AAAAA", &"A".repeat(43), "wx134c8103faa5a59e").unwrap();
        let encrypt = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==";
        assert_eq!(
            crypto.signature("1715943329", "1590219412", encrypt),
            "6c12a4205838198b8fa631b3220723bb07f1015c"
        );
        let xml = crypto.decrypt(encrypt).unwrap();
        assert_eq!(xml.len(), 292);
        assert!(xml.contains("<Event><![CDATA[debug_demo]]></Event>"));

        let reply = crypto.encrypt_with_random(
            b"999951349e8ee746",
            "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
        );
        assert_eq!(
            reply,
            "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
        );
        assert_eq!(
            crypto.signature("1713424427", "415670741", &reply),
            "03e0812039325c2712ef5f0f980fd14c70d6e307"
        );
    }

    #[test]
    fn wecom_vectors_with_trailing_bits_in_key() {
        // wechatpy's test values; the key's last character 'R' has non-zero trailing bits.
        let crypto = MessageCrypto::new(
            "123456",
            "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
            "wx49f0ab532d5d035a",
        )
        .unwrap();
        let reply = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
        let encrypt = crypto.encrypt_with_random(b"1234567890123456", reply);
        assert_eq!(
            encrypt,
            "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
        );
        assert_eq!(
            crypto.signature("1411525903", "461056294", &encrypt),
            "407518b7649e86ef23978113f92d27afa9296533"
        );
        let incoming = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
        crypto
            .verify_signature(
                "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
                "1411525903",
                "461056294",
                incoming,
            )
            .unwrap();
        let xml = crypto.decrypt(incoming).unwrap();
        assert!(xml.contains("<Content><![CDATA[test]]></Content>"));
        assert!(xml.contains("<FromUserName><![CDATA[messense]]></FromUserName>"));
    }

    #[test]
    fn every_pad_length_round_trips() {
        let crypto = sample();
        // 16 + 4 + 18 (appid) = 38 bytes of overhead; messages of 0..32 bytes cover pads 32..1.
        let mut pads_seen = [false; PAD_BLOCK + 1];
        for len in 0..64 {
            let message = "x".repeat(len);
            let encrypt = crypto.encrypt(&message);
            let raw = STANDARD.decode(&encrypt).unwrap();
            let mut buf = raw.clone();
            let plain = cbc::Decryptor::<Aes256>::new(&crypto.key.into(), &crypto.iv().into())
                .decrypt_padded::<NoPadding>(&mut buf)
                .unwrap();
            pads_seen[usize::from(*plain.last().unwrap())] = true;
            assert_eq!(raw.len() % PAD_BLOCK, 0);
            assert_eq!(crypto.decrypt(&encrypt).unwrap(), message);
        }
        assert!(pads_seen[1..].iter().all(|&seen| seen), "{pads_seen:?}");
    }

    #[test]
    fn keys_with_trailing_bits_round_trip() {
        // Every possible last character: most carry non-zero trailing bits.
        for last in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".chars() {
            let key = format!("{}{last}", &SAMPLE_KEY[..42]);
            let crypto = MessageCrypto::new("t", &key, SAMPLE_APPID).unwrap();
            let encrypt = crypto.encrypt("<xml>hello</xml>");
            assert_eq!(crypto.decrypt(&encrypt).unwrap(), "<xml>hello</xml>");
        }
    }

    #[test]
    fn illegal_keys_are_refused() {
        for key in [
            "",
            "abcde",
            &SAMPLE_KEY[..42],
            &format!("{SAMPLE_KEY}A"),
            &format!("{}!", &SAMPLE_KEY[..42]),
        ] {
            assert_eq!(
                MessageCrypto::new("t", key, SAMPLE_APPID).unwrap_err(),
                CryptoError::IllegalAesKey,
                "{key}"
            );
        }
    }

    #[test]
    fn forged_signature_and_wrong_appid_are_refused() {
        let crypto = sample();
        let encrypt = crypto.encrypt("<xml/>");
        let good = crypto.signature("1", "2", &encrypt);
        assert_eq!(
            crypto.verify_signature(&good, "1", "3", &encrypt),
            Err(CryptoError::ValidateSignature)
        );
        assert_eq!(
            crypto.verify_signature(&good[..39], "1", "2", &encrypt),
            Err(CryptoError::ValidateSignature)
        );
        let other = MessageCrypto::new("pamtest", SAMPLE_KEY, "wx0000000000000000").unwrap();
        assert_eq!(other.decrypt(&encrypt), Err(CryptoError::ValidateAppid));
    }

    #[test]
    fn malformed_ciphertexts_are_refused() {
        let crypto = sample();
        assert_eq!(
            crypto.decrypt("!!!not-base64!!!"),
            Err(CryptoError::DecodeBase64)
        );
        assert_eq!(crypto.decrypt("YWJj"), Err(CryptoError::DecryptAes));
        assert_eq!(crypto.decrypt(""), Err(CryptoError::DecryptAes));

        let encrypt_raw = |plain: &[u8]| {
            let mut buf = plain.to_vec();
            let len = buf.len();
            cbc::Encryptor::<Aes256>::new(&crypto.key.into(), &crypto.iv().into())
                .encrypt_padded::<NoPadding>(&mut buf, len)
                .unwrap();
            STANDARD.encode(buf)
        };
        // Pad byte 0, pad byte over 32, and unequal pad bytes.
        let mut block = [7u8; 64];
        block[63] = 0;
        assert_eq!(
            crypto.decrypt(&encrypt_raw(&block)),
            Err(CryptoError::IllegalBuffer)
        );
        block[63] = 33;
        assert_eq!(
            crypto.decrypt(&encrypt_raw(&block)),
            Err(CryptoError::IllegalBuffer)
        );
        block[63] = 3;
        block[62] = 3;
        block[61] = 4;
        assert_eq!(
            crypto.decrypt(&encrypt_raw(&block)),
            Err(CryptoError::IllegalBuffer)
        );
        // A length field longer than what follows it.
        let mut plain = vec![0u8; 32];
        plain[16..20].copy_from_slice(&1000u32.to_be_bytes());
        plain.extend_from_slice(&[32u8; 32]);
        assert_eq!(
            crypto.decrypt(&encrypt_raw(&plain)),
            Err(CryptoError::IllegalBuffer)
        );
        // Too short to hold the random bytes and the length.
        assert_eq!(
            crypto.decrypt(&encrypt_raw(&[16u8; 32][..])),
            Err(CryptoError::IllegalBuffer)
        );
    }

    #[test]
    fn sealed_reply_verifies() {
        let crypto = sample();
        let reply = crypto.seal("<xml>hi</xml>", "1700000000", "nonce");
        crypto
            .verify_signature(&reply.msg_signature, "1700000000", "nonce", &reply.encrypt)
            .unwrap();
        assert_eq!(crypto.decrypt(&reply.encrypt).unwrap(), "<xml>hi</xml>");
        assert!(reply.to_xml().starts_with("<xml><Encrypt><![CDATA["));
    }

    #[test]
    fn debug_redacts_key_and_token() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("pamtest"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
