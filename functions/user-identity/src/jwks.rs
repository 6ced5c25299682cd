//! `GET /.well-known/jwks.json`: the identity token's public keys, the current one and, after a
//! rotation, the previous one (see [`wxopen::identity`]).

use lambda_http::Response;
use lambda_http::http::header;

use crate::{UserIdentity, refuse};

/// How long verifiers may cache the key set: the time a container keeps a fetched secret, so a
/// rotation is seen by verifiers within about twice that.
pub const MAX_AGE_SECS: u64 = 300;

pub async fn respond(identity: &UserIdentity) -> Response<String> {
    match identity.issuer.jwks().await {
        Ok(jwks) => Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::CACHE_CONTROL,
                format!("public, max-age={MAX_AGE_SECS}"),
            )
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .body(serde_json::to_string(&jwks).expect("a key set serializes"))
            .expect("static headers and a valid status"),
        Err(error) => {
            tracing::error!(%error, "the identity keys could not be read");
            refuse(
                502,
                "identity_key_unavailable",
                "the identity keys could not be read just now; try again in a moment",
            )
        }
    }
}
