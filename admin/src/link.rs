//! Minting a merchant's authorization link: `link`.

use wxopen::authorization::LinkParams;
use wxopen::links::{self, Minted};

use crate::AdminError;

/// `link`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct LinkArgs {
    /// The platform's own id for the merchant (1 to 64 letters, digits, '-', '_', '.', ':').
    #[arg(long)]
    pub merchant: String,
    /// Which accounts the administrator may pick: 1 official accounts, 2 mini programs, 3 both.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub auth_type: Option<u8>,
    /// Authorize this one account only (wins over --auth-type).
    #[arg(long)]
    pub biz_appid: Option<String>,
    /// WeChat's PC page (QR code) or mobile page; without it, the merchant's browser decides.
    #[arg(long, value_parser = ["pc", "mobile"])]
    pub mode: Option<String>,
    /// How long the link is valid, in seconds (60 to 604800; 86400 by default).
    #[arg(long)]
    pub ttl: Option<u64>,
}

/// A merchant's link, signed with the key in `keys`, valid from `now` for `--ttl`.
pub async fn link(
    keys: &links::LinkKeyCache,
    public_base_url: &str,
    args: &LinkArgs,
    now: i64,
) -> Result<Minted, AdminError> {
    let params = LinkParams::from_fields(
        &args.merchant,
        args.auth_type,
        args.biz_appid.as_deref(),
        args.mode.as_deref(),
    )?;
    let ttl = args
        .ttl
        .map_or(links::DEFAULT_TTL, std::time::Duration::from_secs);
    Ok(links::mint_url(keys, public_base_url, params, now, ttl).await?)
}
