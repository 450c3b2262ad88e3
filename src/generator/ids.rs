//! Identifiers as real systems print them, derived from (seed, person, kind, index) by hashing,
//! so a person's ids need no storage and the same seed always gives the same ids.

use std::fmt::Write;

/// SplitMix64's finaliser: a fast, well-mixed 64-bit hash step.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub fn key(seed: u64, a: u64, b: u64, c: u64) -> u64 {
    mix(seed ^ mix(a ^ mix(b ^ mix(c))))
}

/// Kinds of identifier, also used as hash domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum IdKind {
    OpenId = 1,
    UnionId = 2,
    Phone = 3,
    Email = 4,
    MemberId = 5,
    DeviceId = 6,
    CookieId = 7,
    ShopBuyerId = 8,
    AppId = 9,
    StoreDevice = 10,
    Stray = 11,
}

const WECHAT_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub struct IdFactory {
    seed: u64,
}

impl IdFactory {
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    fn hash(&self, kind: IdKind, person: u64, index: u64) -> u64 {
        key(self.seed, kind as u64, person, index)
    }

    /// The brand's WeChat apps: official account, mini program, WeCom/service account.
    pub fn app_id(&self, app: usize) -> String {
        format!("wx{:016x}", self.hash(IdKind::AppId, app as u64, 0))
    }

    /// 28 characters starting with 'o', like WeChat's openids and unionids.
    pub fn openid(&self, person: u64, app: usize) -> String {
        self.wechat_style(self.hash(IdKind::OpenId, person, app as u64))
    }

    pub fn unionid(&self, person: u64) -> String {
        self.wechat_style(self.hash(IdKind::UnionId, person, 0))
    }

    fn wechat_style(&self, mut h: u64) -> String {
        let mut out = String::with_capacity(28);
        out.push('o');
        let mut second = mix(h);
        for i in 0..27 {
            if i == 10 {
                h = second;
                second = mix(second);
            }
            out.push(WECHAT_ALPHABET[(h & 63) as usize] as char);
            h >>= 6;
        }
        out
    }

    /// An 11-digit mainland mobile number (canonical digits, without country code).
    pub fn phone_digits(&self, person: u64) -> String {
        let h = self.hash(IdKind::Phone, person, 0);
        const PREFIXES: [u32; 12] = [130, 131, 132, 135, 136, 137, 138, 139, 150, 158, 186, 188];
        let prefix = PREFIXES[(h % PREFIXES.len() as u64) as usize];
        format!("{prefix}{:08}", (h >> 8) % 100_000_000)
    }

    pub fn email(&self, person: u64) -> String {
        let h = self.hash(IdKind::Email, person, 0);
        const NAMES: [&str; 12] = [
            "li", "wang", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu",
            "sun",
        ];
        const GIVEN: [&str; 10] = [
            "wei", "fang", "na", "min", "jing", "lei", "qiang", "yan", "jun", "xin",
        ];
        const DOMAINS: [&str; 6] = [
            "qq.com",
            "163.com",
            "126.com",
            "gmail.com",
            "foxmail.com",
            "outlook.com",
        ];
        format!(
            "{}.{}{}@{}",
            NAMES[(h % 12) as usize],
            GIVEN[((h >> 8) % 10) as usize],
            (h >> 16) % 10_000,
            DOMAINS[((h >> 32) % 6) as usize]
        )
    }

    pub fn member_id(&self, person: u64) -> String {
        format!(
            "M{:09}",
            self.hash(IdKind::MemberId, person, 0) % 1_000_000_000
        )
    }

    /// iOS advertising ids are upper-case UUIDs; Android OAIDs lower-case hex.
    pub fn device_id(&self, person: u64, index: u64, ios: bool) -> String {
        let h = self.hash(IdKind::DeviceId, person, index);
        uuid_like(h, mix(h), ios)
    }

    pub fn store_device(&self, store: u64) -> String {
        let h = self.hash(IdKind::StoreDevice, store, 0);
        uuid_like(h, mix(h), true)
    }

    pub fn cookie_id(&self, person: u64, index: u64) -> String {
        let h = self.hash(IdKind::CookieId, person, index);
        uuid_like(h, mix(h), false)
    }

    pub fn shop_buyer_id(&self, person: u64, shop: &str) -> String {
        let h = self.hash(IdKind::ShopBuyerId, person, shop.len() as u64);
        match shop {
            "taobao" => format!("tb{:011}", h % 100_000_000_000),
            "jd" => format!("jd_{:012}", h % 1_000_000_000_000),
            "douyin_shop" => format!("dy{:016}", h % 10_000_000_000_000_000),
            _ => format!("pdd{:010}", h % 10_000_000_000),
        }
    }

    /// An identifier of somebody who never became a customer (unaccepted invitations).
    pub fn stray_openid(&self, counter: u64) -> String {
        self.wechat_style(self.hash(IdKind::Stray, counter, 0))
    }
}

fn uuid_like(a: u64, b: u64, upper: bool) -> String {
    let mut out = String::with_capacity(36);
    let _ = write!(
        out,
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    );
    if upper { out.to_ascii_uppercase() } else { out }
}

/// How phones arrive from different systems; stitching must normalise them to one key.
pub fn phone_variant(digits: &str, variant: u64) -> String {
    match variant % 6 {
        0..=2 => digits.to_string(),
        3 => format!("+86{digits}"),
        4 => format!("+86 {} {} {}", &digits[..3], &digits[3..7], &digits[7..]),
        _ => format!("86-{digits}"),
    }
}

/// How emails arrive: stray spaces and capitals from hand-typed forms.
pub fn email_variant(email: &str, variant: u64) -> String {
    match variant % 8 {
        0 => format!(" {email}"),
        1 => email.to_ascii_uppercase(),
        2 => {
            let mut chars = email.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        }
        _ => email.to_string(),
    }
}

/// Values real pipelines put where an identifier is unknown; none of them may link people.
pub const PLACEHOLDERS: [&str; 10] = [
    "",
    "0",
    "null",
    "NULL",
    "unknown",
    "undefined",
    "-1",
    "anonymous",
    "none",
    "\"\"",
];
pub const ZERO_IDFA: &str = "00000000-0000-0000-0000-000000000000";
pub const ZERO_PHONE: &str = "00000000000";
/// The well-known test number that shop staff type for customers who won't give theirs.
pub const SHARED_TEST_PHONE: &str = "13800138000";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let ids = IdFactory::new(7);
        assert_eq!(ids.openid(1, 0), IdFactory::new(7).openid(1, 0));
        assert_ne!(ids.openid(1, 0), ids.openid(1, 1));
        assert_ne!(ids.openid(1, 0), IdFactory::new(8).openid(1, 0));
        assert_eq!(ids.openid(3, 2).len(), 28);
        assert_eq!(ids.phone_digits(5).len(), 11);
        assert_eq!(ids.device_id(1, 0, true).len(), 36);
    }

    #[test]
    fn phone_variants_keep_the_digits() {
        for v in 0..6 {
            let variant = phone_variant("13812345678", v);
            let digits: String = variant.chars().filter(char::is_ascii_digit).collect();
            assert!(digits.ends_with("13812345678"), "{variant}");
        }
    }
}
