//! The generic webhook's signature: `Switchboard-Signature: t=<unix seconds>,v1=<hex>` where
//! hex is HMAC-SHA256 under the channel's `secret` over `"<t>.<body>"`. The timestamp is signed
//! with the body, so a receiver that refuses an old `t` (five minutes, say) and a `dedup_key`
//! it has seen refuses a replay. The same scheme as Stripe's, so receivers have code for it.

use aws_lc_rs::hmac;

use crate::text::hex;

pub const SIGNATURE_HEADER: &str = "Switchboard-Signature";
/// trigger | remind | resolve | test
pub const EVENT_HEADER: &str = "Switchboard-Event";
/// The message's dedup key, also in the body; the same on every retry of the message.
pub const DEDUP_HEADER: &str = "Switchboard-Dedup-Key";

/// The header value for `body` sent at `t` (seconds since the epoch).
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={t},v1={}", hex(ctx.sign().as_ref()))
}

/// Why a receiver would refuse a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    BadSignature,
    /// `t` is further than the tolerance from the receiver's clock.
    Stale,
}

/// A receiver's check, as the README shows it: the signature over `t` and the body, in constant
/// time, and `t` within `tolerance_secs` of `now_secs`.
pub fn verify(
    header: &str,
    secret: &[u8],
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), Refused> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(Refused::Malformed);
    };
    let Some(given) = unhex(&v1) else {
        return Err(Refused::Malformed);
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut signed = t.to_string().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    hmac::verify(&key, &signed, &given).map_err(|_| Refused::BadSignature)?;
    if (now_secs - t).abs() > tolerance_secs {
        return Err(Refused::Stale);
    }
    Ok(())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_known_hmac_and_refuses_tampering_and_old_timestamps() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let tag = hmac::sign(&key, b"what do ya want for nothing?");
        assert_eq!(
            hex(tag.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let header = signature(b"k", 1_700_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(
            verify(&header, b"k", b"{\"a\":1}", 1_700_000_010, 300),
            Ok(())
        );
        assert_eq!(
            verify(&header, b"k", b"{\"a\":2}", 1_700_000_010, 300),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            verify(&header, b"other", b"{\"a\":1}", 1_700_000_010, 300),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            verify(&header, b"k", b"{\"a\":1}", 1_700_001_000, 300),
            Err(Refused::Stale)
        );
        // A re-dated header with the old signature does not verify.
        let redated = header.replace("t=1700000000", "t=1700000900");
        assert_eq!(
            verify(&redated, b"k", b"{\"a\":1}", 1_700_000_900, 300),
            Err(Refused::BadSignature)
        );
        assert_eq!(verify("v1=zz", b"k", b"", 0, 300), Err(Refused::Malformed));
    }
}
