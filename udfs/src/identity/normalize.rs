//! How identifier values are made comparable, and which values identify nobody.

use std::borrow::Cow;

/// Values that pipelines write where an identifier is unknown (compared case-insensitively,
/// after trimming and unquoting).
const PLACEHOLDER_WORDS: [&str; 12] = [
    "0",
    "-1",
    "null",
    "none",
    "nil",
    "nan",
    "n/a",
    "undefined",
    "unknown",
    "anonymous",
    "guest",
    "(null)",
];

/// Characters ignored when testing for "one repeated character", so that the all-zero IDFA
/// (`00000000-0000-...`) and `---` count as placeholders.
fn is_separator(c: char) -> bool {
    matches!(c, '-' | '_' | ' ' | '.' | ':' | '/' | '+')
}

fn unquote(value: &str) -> &str {
    let mut v = value.trim();
    loop {
        let stripped = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
        match stripped {
            Some(inner) => v = inner.trim(),
            None => return v,
        }
    }
}

/// True for values that must never link two identifiers: blank, a placeholder word, one
/// character repeated (`00000000`, `-----`), or any of those in quotes.
pub fn is_placeholder(value: &str) -> bool {
    let v = unquote(value);
    if v.is_empty() {
        return true;
    }
    if PLACEHOLDER_WORDS.iter().any(|w| v.eq_ignore_ascii_case(w)) {
        return true;
    }
    let mut significant = v.chars().filter(|c| !is_separator(*c));
    match significant.next() {
        None => true,
        Some(first) => significant.all(|c| c == first),
    }
}

/// The comparable form of an identifier of `id_type`, or `None` when it identifies nobody.
///
/// - `phone`/`mobile`: digits only, with the country code: 11-digit mainland numbers get
///   `86`; `+`/`00` prefixes are dropped; fewer than 7 digits, or a national number of one
///   repeated digit, is no phone.
/// - `email`: trimmed and lower-cased; without an `@` it is no email.
/// - `device_id` (and `idfa`, `oaid`, `android_id`, `imei`): trimmed and lower-cased, since
///   SDKs disagree on the case of the same advertising id.
/// - anything else (`openid`, `unionid`, `member_id`, `cookie_id`, shop buyer ids): trimmed.
///   An openid is only unique within its app: qualify it as `app_id:openid` before comparing;
///   a qualified openid whose openid part is a placeholder (`wx1:0`) is no openid.
pub fn normalize(id_type: &str, value: &str) -> Option<String> {
    let id_type = id_type.trim().to_ascii_lowercase();
    normalize_typed(&id_type, value).map(Cow::into_owned)
}

/// [`normalize`] for a type already trimmed and lower-cased, borrowing the value when it is
/// already in its comparable form (the common case, and the stitcher's hot path).
pub fn normalize_typed<'a>(id_type: &str, value: &'a str) -> Option<Cow<'a, str>> {
    if is_placeholder(value) {
        return None;
    }
    let value = unquote(value);
    match id_type {
        "phone" | "mobile" => normalize_phone(value).map(Cow::Owned),
        "email" => {
            if !value.contains('@') {
                None
            } else if value.chars().any(char::is_uppercase) {
                Some(Cow::Owned(value.to_lowercase()))
            } else {
                Some(Cow::Borrowed(value))
            }
        }
        "device_id" | "idfa" | "oaid" | "android_id" | "imei" => {
            if value.bytes().any(|b| b.is_ascii_uppercase()) {
                Some(Cow::Owned(value.to_ascii_lowercase()))
            } else {
                Some(Cow::Borrowed(value))
            }
        }
        // an openid qualified by its app (app_id:openid) identifies nobody when the openid
        // itself is a placeholder: `wx1:0` is as empty as `0`
        "openid" => match value.split_once(':') {
            Some((_, openid)) if is_placeholder(openid) => None,
            _ => Some(Cow::Borrowed(value)),
        },
        _ => Some(Cow::Borrowed(value)),
    }
}

fn normalize_phone(value: &str) -> Option<String> {
    let has_plus = value.starts_with('+');
    let mut digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if !has_plus && digits.starts_with("00") {
        digits.drain(..2);
    }
    if digits.len() < 7 {
        return None;
    }
    let international = if !has_plus && digits.len() == 11 && digits.starts_with('1') {
        format!("86{digits}")
    } else {
        digits
    };
    let national = international
        .strip_prefix("86")
        .filter(|n| n.len() == 11)
        .unwrap_or(&international);
    if is_placeholder(national) {
        return None;
    }
    Some(international)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        for value in [
            "",
            "  ",
            "0",
            "-1",
            "NULL",
            "null",
            "None",
            "nan",
            "undefined",
            "Unknown",
            "anonymous",
            "guest",
            "00000000",
            "-----",
            "\"\"",
            "'null'",
            "\"unknown\"",
            "00000000-0000-0000-0000-000000000000",
            "aaaa",
        ] {
            assert!(is_placeholder(value), "{value:?}");
        }
        for value in ["13812345678", "M000000001", "oAbc", "a@b.com", "01"] {
            assert!(!is_placeholder(value), "{value:?}");
        }
    }

    #[test]
    fn phones_from_every_system_agree() {
        for raw in [
            "13812345678",
            "+8613812345678",
            "+86 138 1234 5678",
            "86-13812345678",
            "008613812345678",
            " 138-1234-5678 ",
        ] {
            assert_eq!(
                normalize("phone", raw).as_deref(),
                Some("8613812345678"),
                "{raw}"
            );
        }
        assert_eq!(
            normalize("phone", "+1 415 555 0100").as_deref(),
            Some("14155550100")
        );
        assert_eq!(normalize("phone", "00000000000"), None);
        assert_eq!(normalize("phone", "+86 000 0000 0000"), None);
        assert_eq!(normalize("phone", "12345"), None);
    }

    #[test]
    fn emails_devices_and_others() {
        assert_eq!(
            normalize("email", " Li.Wei@QQ.com ").as_deref(),
            Some("li.wei@qq.com")
        );
        assert_eq!(normalize("EMAIL", "not-an-email"), None);
        assert_eq!(
            normalize("device_id", "8F14E45F-CEEA-4A1B-8C2D-0123456789AB").as_deref(),
            Some("8f14e45f-ceea-4a1b-8c2d-0123456789ab")
        );
        assert_eq!(
            normalize("device_id", "00000000-0000-0000-0000-000000000000"),
            None
        );
        assert_eq!(normalize("openid", " oAbCd ").as_deref(), Some("oAbCd"));
        assert_eq!(normalize("member_id", "unknown"), None);
    }
}
