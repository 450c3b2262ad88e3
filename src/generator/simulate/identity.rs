//! The identifiers a person shows: which ones an event on each platform carries, as real
//! pipelines write them (variants, placeholders), each recorded in `_truth` the first time it is
//! shown, and the identity edges of logins and orders.

use rand::Rng;
use rand_pcg::Pcg64Mcg;

use super::Sim;
use crate::error::Result;
use crate::generator::ids::{PLACEHOLDERS, ZERO_IDFA, email_variant, phone_variant};
use crate::generator::model::flags;
use crate::generator::tables::Ids;

/// The brand's WeChat apps.
pub(super) const OFFICIAL_ACCOUNT: usize = 0;
pub(super) const MINI_PROGRAM: usize = 1;
pub(super) const WECOM: usize = 2;

/// Bits of `Person::truth_written`.
pub(super) mod slot {
    pub const OPENID: u32 = 0; // + app (3 bits)
    pub const UNIONID: u32 = 3;
    pub const PHONE: u32 = 4;
    pub const EMAIL: u32 = 5;
    pub const MEMBER: u32 = 6;
    pub const SHOP: u32 = 7;
    pub const DEVICE: u32 = 8; // + index (2 bits)
    pub const COOKIE: u32 = 10; // + index (up to 8)
}

impl Sim<'_> {
    /// Records `value` in `_truth` the first time the person shows it.
    pub(super) fn witness(
        &mut self,
        person: u32,
        bit: u32,
        id_type: &str,
        value: &str,
    ) -> Result<()> {
        let p = &mut self.population.people[person as usize];
        if p.truth_written & (1 << bit) != 0 {
            return Ok(());
        }
        p.truth_written |= 1 << bit;
        if !self.rows.writing {
            return Ok(());
        }
        self.rows.truth(id_type, value, person as u64)
    }

    pub(super) fn wechat_ids(&mut self, person: u32, app: usize, ids: &mut Ids) -> Result<()> {
        if !self.person(person).has(flags::WECHAT) {
            return Ok(());
        }
        let openid = self.ids.openid(person as u64, app);
        let qualified = format!("{}:{openid}", self.app_ids[app]);
        self.witness(person, slot::OPENID + app as u32, "openid", &qualified)?;
        ids.app_id = Some(self.app_ids[app].clone());
        ids.openid = Some(openid);
        let unionid = self.ids.unionid(person as u64);
        self.witness(person, slot::UNIONID, "unionid", &unionid)?;
        ids.unionid = Some(unionid);
        Ok(())
    }

    pub(super) fn phone(&mut self, person: u32, rng: &mut Pcg64Mcg) -> Result<Option<String>> {
        if !self.person(person).has(flags::PHONE) {
            return Ok(None);
        }
        let digits = self.ids.phone_digits(person as u64);
        self.witness(person, slot::PHONE, "phone", &format!("86{digits}"))?;
        Ok(Some(phone_variant(&digits, rng.random())))
    }

    pub(super) fn email(&mut self, person: u32, rng: &mut Pcg64Mcg) -> Result<Option<String>> {
        if !self.person(person).has(flags::EMAIL) {
            return Ok(None);
        }
        let email = self.ids.email(person as u64);
        self.witness(person, slot::EMAIL, "email", &email)?;
        Ok(Some(email_variant(&email, rng.random())))
    }

    pub(super) fn member(&mut self, person: u32) -> Result<Option<String>> {
        if !self.person(person).has(flags::MEMBER) {
            return Ok(None);
        }
        let member = self.ids.member_id(person as u64);
        self.witness(person, slot::MEMBER, "member_id", &member)?;
        Ok(Some(member))
    }

    pub(super) fn device(&mut self, person: u32, rng: &mut Pcg64Mcg) -> Result<String> {
        let p = self.person(person);
        let ios = p.has(flags::IOS);
        // iOS users who limit ad tracking send an all-zero IDFA
        if ios && rng.random_bool(0.04) {
            return Ok(ZERO_IDFA.to_string());
        }
        let index = rng.random_range(0..p.devices as u64);
        let device = self.ids.device_id(person as u64, index, ios);
        self.witness(person, slot::DEVICE + index as u32, "device_id", &device)?;
        Ok(device)
    }

    pub(super) fn cookie(&mut self, person: u32, day: u32) -> Result<String> {
        let p = self.person(person);
        // cookies are cleared every few weeks
        let index = ((day - p.acquired_day) / 14).min(p.cookies as u32 - 1);
        let cookie = self.ids.cookie_id(person as u64, index as u64);
        self.witness(person, slot::COOKIE + index, "cookie_id", &cookie)?;
        Ok(cookie)
    }

    /// The identifiers of an event on `platform`.
    pub(super) fn event_ids(
        &mut self,
        person: u32,
        day: u32,
        platform: &str,
        logged_in: bool,
        rng: &mut Pcg64Mcg,
    ) -> Result<Ids> {
        let mut ids = Ids::default();
        match platform {
            "wechat_oa" => self.wechat_ids(person, OFFICIAL_ACCOUNT, &mut ids)?,
            "mini_program" => {
                self.wechat_ids(person, MINI_PROGRAM, &mut ids)?;
                if logged_in {
                    ids.member_id = self.member(person)?;
                    ids.phone = self.phone(person, rng)?;
                }
            }
            "wecom" => self.wechat_ids(person, WECOM, &mut ids)?,
            "app_ios" | "app_android" => {
                ids.device_id = Some(self.device(person, rng)?);
                if logged_in {
                    ids.member_id = self.member(person)?;
                    if rng.random_bool(0.3) {
                        ids.phone = self.phone(person, rng)?;
                    }
                }
            }
            _ => {
                ids.cookie_id = Some(self.cookie(person, day)?);
                if logged_in {
                    ids.member_id = self.member(person)?;
                    if rng.random_bool(0.4) {
                        ids.email = self.email(person, rng)?;
                    }
                }
            }
        }
        // what real pipelines write when a value is unknown
        if rng.random_bool(0.005) {
            let placeholder = PLACEHOLDERS[rng.random_range(0..PLACEHOLDERS.len())].to_string();
            match rng.random_range(0..4) {
                0 => ids.phone = Some(placeholder),
                1 => ids.device_id = Some(placeholder),
                2 => ids.cookie_id = Some(placeholder),
                _ => ids.unionid = Some(placeholder),
            }
        }
        Ok(ids)
    }

    pub(super) fn preferred_platform(&self, person: u32, rng: &mut Pcg64Mcg) -> &'static str {
        let p = self.person(person);
        let roll: f64 = rng.random();
        if p.has(flags::WECHAT) && roll < 0.6 {
            return "mini_program";
        }
        if p.has(flags::APP) && roll < 0.85 {
            return if p.has(flags::IOS) {
                "app_ios"
            } else {
                "app_android"
            };
        }
        if p.has(flags::WEB) || !p.has(flags::WECHAT) {
            return if rng.random_bool(0.6) { "h5" } else { "web" };
        }
        "mini_program"
    }

    /// Identity edges: every pair of identifiers a login-like event or an order carries,
    /// as a star from its first identifier.
    pub(super) fn edges_of(&mut self, ids: &Ids, micros: i64, source: &str) -> Result<()> {
        let values = ids.typed_values();
        if let Some((first_type, first_value)) = values.first() {
            for (other_type, other_value) in &values[1..] {
                self.rows.edges.push(
                    (first_type, first_value),
                    (other_type, other_value),
                    micros,
                    source,
                );
            }
        }
        self.rows.edges_pushed()
    }
}
