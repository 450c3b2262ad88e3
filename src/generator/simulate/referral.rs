//! Referrals: the invitations people send, the accepted one that brought each referral
//! customer in, and the identifiers of inviter and invitee.

use rand::Rng;
use rand_distr::{Distribution, Poisson};
use rand_pcg::Pcg64Mcg;

use super::Sim;
use crate::error::Result;
use crate::generator::model::{CHANNELS, Person, REFERRAL, flags};

use super::identity::{WECOM, slot};

impl Sim<'_> {
    pub(super) fn inviter_identity(
        &mut self,
        inviter: u32,
        rng: &mut Pcg64Mcg,
    ) -> Result<(String, String)> {
        let p = self.person(inviter);
        let (wechat, acquired_day) = (p.has(flags::WECHAT), p.acquired_day);
        if wechat {
            let unionid = self.ids.unionid(inviter as u64);
            self.witness(inviter, slot::UNIONID, "unionid", &unionid)?;
            return Ok(("unionid".into(), unionid));
        }
        if let Some(phone) = self.phone(inviter, rng)? {
            return Ok(("phone".into(), phone));
        }
        Ok(("cookie_id".into(), self.cookie(inviter, acquired_day)?))
    }

    /// Invitations sent from a visit; those that are never accepted go to strangers.
    pub(super) fn send_invites(
        &mut self,
        person: u32,
        day: u32,
        t: i64,
        rng: &mut Pcg64Mcg,
    ) -> Result<()> {
        let ids = self.event_ids(person, day, "wecom", false, rng)?;
        let platform = if ids.openid.is_some() { "wecom" } else { "h5" };
        self.event(person, day, t, "send_invite", &ids, platform, rng)?;
        let (inviter_type, inviter_value) = self.inviter_identity(person, rng)?;
        let campaigns = CHANNELS[REFERRAL as usize].campaigns;
        let campaign = campaigns[rng.random_range(0..campaigns.len())];
        let count = 1 + Poisson::new(1.2).map(|d| d.sample(rng) as u32).unwrap_or(0);
        for _ in 0..count {
            self.stray_counter += 1;
            let stranger = format!(
                "{}:{}",
                self.app_ids[WECOM],
                self.ids.stray_openid(self.stray_counter)
            );
            self.rows.referrals.push(
                (&inviter_type, &inviter_value),
                ("openid", &stranger),
                t,
                None,
                campaign,
            );
        }
        Ok(())
    }

    /// The accepted invitation that brought a referral customer in, with the inviter's
    /// `send_invite` event earlier the same day.
    pub(super) fn referral_acceptance(
        &mut self,
        person: u32,
        p: &Person,
        accepted: i64,
        rng: &mut Pcg64Mcg,
    ) -> Result<()> {
        let Some(inviter) = p.inviter else {
            return Ok(());
        };
        let day_start = self.day_micros(p.acquired_day);
        let invited = (accepted - rng.random_range(300_000_000..43_200_000_000i64)).max(day_start);
        let inviter_ids = self.event_ids(inviter, p.acquired_day, "wecom", false, rng)?;
        let platform = if inviter_ids.openid.is_some() {
            "wecom"
        } else {
            "h5"
        };
        self.event(
            inviter,
            p.acquired_day,
            invited,
            "send_invite",
            &inviter_ids,
            platform,
            rng,
        )?;
        let (inviter_type, inviter_value) = self.inviter_identity(inviter, rng)?;
        let (invitee_type, invitee_value) = if p.has(flags::WECHAT) {
            let openid = self.ids.openid(person as u64, WECOM);
            let qualified = format!("{}:{openid}", self.app_ids[WECOM]);
            self.witness(person, slot::OPENID + WECOM as u32, "openid", &qualified)?;
            ("openid".to_string(), qualified)
        } else {
            (
                "cookie_id".to_string(),
                self.cookie(person, p.acquired_day)?,
            )
        };
        let campaign = p.campaign().unwrap_or("invite_friend_gift");
        self.rows.referrals.push(
            (&inviter_type, &inviter_value),
            (&invitee_type, &invitee_value),
            invited,
            Some(accepted),
            campaign,
        );
        Ok(())
    }
}
