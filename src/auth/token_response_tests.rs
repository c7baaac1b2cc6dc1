use proptest::prelude::*;
use serde_json::json;

use super::*;

const NOW: UnixMs = 1_800_000_000_000;

fn parse(body: &str) -> Result<NewToken, TokenError> {
    let old = Secret::from("old-rt");
    token_from_body(body.as_bytes(), Some(&old), &["read".into()], NOW)
}

fn refresh_of(t: &NewToken) -> Option<String> {
    t.refresh.as_ref().map(|r| r.expose().to_string())
}

#[test]
fn a_rotated_refresh_token_survives_every_odd_field() {
    for body in [
        r#"{"access_token":"a","refresh_token":"new","expires_in":"3600"}"#,
        r#"{"access_token":"a","refresh_token":"new","expires_in":3600.5}"#,
        r#"{"access_token":"a","refresh_token":"new","expires_in":-1}"#,
        r#"{"access_token":"a","refresh_token":"new","expires_in":18446744073709551615}"#,
        r#"{"access_token":"a","refresh_token":"new","expires_in":1e300}"#,
        r#"{"access_token":"a","refresh_token":"new","expires_in":"soon"}"#,
        r#"{"access_token":"a","refresh_token":"new","expires_in":null,"token_type":7}"#,
        r#"{"access_token":"a","refresh_token":"new","scope":["x","y"]}"#,
        r#"{"access_token":"a","refresh_token":"new","scope":{"odd":true}}"#,
        r#"{"access_token":42,"refresh_token":"new"}"#,
        r#"{"refresh_token":"new"}"#,
        "access_token=a&refresh_token=new&token_type=bearer",
    ] {
        let t = parse(body).unwrap_or_else(|e| panic!("{body}: {e:?}"));
        assert_eq!(refresh_of(&t).as_deref(), Some("new"), "{body}");
        let exp = t.expires_at.unwrap_or(NOW);
        assert!(
            (NOW..=NOW + MAX_LIFETIME_MS).contains(&exp),
            "{body}: expires_at {exp} out of range"
        );
    }
}

#[test]
fn lifetimes_are_clamped_and_nonsense_means_unknown() {
    let exp = |v: serde_json::Value| {
        let body = json!({"access_token": "a", "expires_in": v}).to_string();
        parse(&body).unwrap().expires_at.map(|e| e - NOW)
    };
    assert_eq!(exp(json!(3600)), Some(3_600_000));
    assert_eq!(exp(json!("60")), Some(60_000));
    assert_eq!(exp(json!(0.2)), Some(MIN_LIFETIME_MS));
    assert_eq!(exp(json!(u64::MAX)), Some(MAX_LIFETIME_MS));
    assert_eq!(exp(json!(0)), None);
    assert_eq!(exp(json!(-5)), None);
    assert_eq!(exp(json!("NaN")), None);
}

#[test]
fn a_refresh_token_without_an_access_token_is_kept_as_an_expired_token() {
    let t = parse(r#"{"refresh_token":"new","expires_in":3600}"#).unwrap();
    assert_eq!(
        t.expires_at,
        Some(NOW),
        "due at once, so the next use refreshes"
    );
    assert_eq!(t.access.expose(), "");
}

#[test]
fn no_refresh_token_keeps_the_previous_one() {
    let t = parse(r#"{"access_token":"a","token_type":"Bearer"}"#).unwrap();
    assert_eq!(refresh_of(&t).as_deref(), Some("old-rt"));
    assert_eq!(t.scopes, vec!["read".to_string()]);
}

#[test]
fn errors_inside_a_200_are_errors() {
    assert!(matches!(
        parse(r#"{"ok":false,"error":"invalid_grant","error_description":"used"}"#),
        Err(TokenError::InvalidGrant(d)) if d == "used"
    ));
    match parse("{\"error\":\"invalid_client\",\"error_description\":\"bad \\u001b[2J\"}") {
        Err(TokenError::Refused(f)) => {
            assert!(f.message.contains("invalid_client"), "{}", f.message);
            assert!(
                !f.message.contains('\u{1b}'),
                "control characters shown: {f:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(parse("{}"), Err(TokenError::Transient(_))));
    assert!(matches!(
        parse("<html>oops</html>"),
        Err(TokenError::Transient(_))
    ));
    assert!(matches!(parse(""), Err(TokenError::Transient(_))));
}

#[test]
fn jwt_exp_is_read_and_clamped() {
    let jwt = |claims: &str| {
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        format!("e30.{p}.sig")
    };
    assert_eq!(
        jwt_exp_ms(&jwt(r#"{"exp":1800000060}"#), NOW),
        Some(NOW + 60_000)
    );
    assert_eq!(
        jwt_exp_ms(&jwt(r#"{"exp":9223372036854775807}"#), NOW),
        Some(NOW + MAX_LIFETIME_MS)
    );
    assert_eq!(
        jwt_exp_ms(&jwt(r#"{"exp":-9223372036854775808}"#), NOW),
        Some(NOW + MIN_LIFETIME_MS)
    );
    assert_eq!(jwt_exp_ms("opaque-token", NOW), None);
    assert_eq!(jwt_exp_ms("a.!!.c", NOW), None);
    let body = json!({"access_token": jwt(r#"{"exp":1800000120}"#)}).to_string();
    assert_eq!(parse(&body).unwrap().expires_at, Some(NOW + 120_000));
}

proptest! {
    /// Any body: no panic, and any refresh token the body carries is what the result keeps.
    #[test]
    fn any_body_keeps_its_refresh_token(
        rt in "[A-Za-z0-9._~-]{1,40}",
        expires in prop_oneof![
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,12}".prop_map(|s| json!(s)),
            Just(json!(null)),
            Just(json!([1, 2])),
        ],
        access in prop_oneof![".{0,20}".prop_map(|s| json!(s)), Just(json!(17)), Just(json!(null))],
        extra in proptest::collection::btree_map("[a-z_]{1,10}", ".{0,10}", 0..4),
    ) {
        let mut body = json!({"refresh_token": rt, "expires_in": expires, "access_token": access});
        for (k, v) in extra {
            if !body.as_object().is_some_and(|o| o.contains_key(&k)) {
                body[k] = json!(v);
            }
        }
        let t = parse(&body.to_string()).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(refresh_of(&t), Some(rt));
        let exp = t.expires_at.unwrap_or(NOW);
        prop_assert!((NOW..=NOW + MAX_LIFETIME_MS).contains(&exp));
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = token_from_body(&body, None, &[], NOW);
    }
}
