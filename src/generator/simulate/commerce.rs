//! Orders (on the brand's own mini program and app, or on platform shops), store check-ins on
//! the shared iPad, and each day's marketing costs.

use rand::{Rng, SeedableRng};
use rand_distr::Distribution;
use rand_pcg::Pcg64Mcg;

use super::Sim;
use crate::error::Result;
use crate::generator::ids::{SHARED_TEST_PHONE, ZERO_PHONE, key};
use crate::generator::model::{CHANNELS, OFFLINE_STORE, REFERRAL, SHOPS, flags};
use crate::generator::tables::{CostRows, Ids, OrderRow};

use super::identity::slot;

impl Sim<'_> {
    /// An order: on the brand's own mini program or app (with order and payment events), or
    /// on a platform shop (an order row only, carrying the shop's buyer id and the phone).
    pub(super) fn purchase(
        &mut self,
        person: u32,
        day: u32,
        mut t: i64,
        platform: &str,
        rng: &mut Pcg64Mcg,
    ) -> Result<i64> {
        let p = self.person(person).clone();
        let on_platform_shop = p.has(flags::PLATFORM_BUYER) && rng.random_bool(0.4);
        let amount = {
            let gamma = rand_distr::Gamma::new(8.0, p.spend_mean as f64 / 8.0);
            let raw = gamma.map(|g| g.sample(rng)).unwrap_or(p.spend_mean as f64);
            // prices end in .9 more often than not
            let rounded = (raw.max(1.0)).floor() + if rng.random_bool(0.6) { 0.9 } else { 0.0 };
            let lift = match self.experiment_of(person, day) {
                Some((e, "b")) => e.amount_lift,
                _ => 1.0,
            };
            (rounded * lift * 100.0).round() / 100.0
        };
        let margin = (amount * rng.random_range(0.25..0.55) * 100.0).round() / 100.0;
        let status = if rng.random_bool(0.06) {
            "refunded"
        } else {
            "paid"
        };
        self.order_counter += 1;
        let order_id = format!(
            "O{}{:09}",
            self.rows.dt.replace('-', ""),
            self.order_counter
        );

        let (shop, ids, buyer_id, source) = if on_platform_shop {
            let shop = SHOPS[p.shop as usize];
            let buyer = self.ids.shop_buyer_id(person as u64, shop);
            let buyer_type = format!("{shop}_buyer_id");
            self.witness(person, slot::SHOP, &buyer_type, &buyer)?;
            let ids = Ids {
                phone: self.phone(person, rng)?,
                ..Ids::default()
            };
            (shop, ids, Some(buyer), format!("order_{shop}"))
        } else {
            let shop = if platform.starts_with("app") {
                "app"
            } else {
                "mini_program"
            };
            let ids = self.event_ids(person, day, platform, true, rng)?;
            self.event(person, day, t, "submit_order", &ids, platform, rng)?;
            if rng.random_bool(0.08) {
                return Ok(t); // abandoned at the payment step
            }
            t = self.later(t, rng.random_range(10_000_000..180_000_000i64), day);
            self.event(person, day, t, "pay_order", &ids, platform, rng)?;
            (shop, ids, None, "order".to_string())
        };
        let mut ids = ids;
        if p.channel == OFFLINE_STORE && rng.random_bool(0.02) {
            // staff typing the test number for a customer who won't give theirs
            ids.phone = Some(SHARED_TEST_PHONE.to_string());
        }
        self.rows.orders.push(OrderRow {
            order_id: &order_id,
            micros: t,
            ids: &ids,
            shop,
            shop_buyer_id: buyer_id.as_deref(),
            amount,
            gross_margin: margin,
            status,
            channel: Some(p.channel().name),
            campaign: p.campaign(),
        });
        if let Some(buyer) = &buyer_id
            && let Some(phone) = &ids.phone
        {
            self.rows.edges.push(
                (&format!("{shop}_buyer_id"), buyer),
                ("phone", phone),
                t,
                &source,
            );
        } else {
            self.edges_of(&ids, t, &source)?;
        }
        self.rows.orders_pushed()?;
        Ok(t)
    }

    /// A check-in on the store's shared iPad: the device links to everyone who uses it.
    pub(super) fn store_checkin(
        &mut self,
        person: u32,
        day: u32,
        t: i64,
        rng: &mut Pcg64Mcg,
    ) -> Result<()> {
        let store = self.person(person).store;
        let mut ids = Ids {
            device_id: Some(self.ids.store_device(store as u64)),
            member_id: self.member(person)?,
            ..Ids::default()
        };
        ids.phone = if rng.random_bool(0.01) {
            Some(ZERO_PHONE.to_string())
        } else {
            self.phone(person, rng)?
        };
        self.event(person, day, t, "store_checkin", &ids, "offline", rng)?;
        self.edges_of(&ids, t, "store_checkin")
    }

    pub(super) fn costs_of_day(&self, day: u32, acquired: &[u32], costs: &mut CostRows) {
        if !self.rows.writing {
            return;
        }
        let mut rng = Pcg64Mcg::seed_from_u64(key(self.seed, 0xC057, day as u64, 0));
        for (index, channel) in CHANNELS.iter().enumerate() {
            for (campaign_index, campaign) in channel.campaigns.iter().enumerate() {
                let people: u32 = (0..2)
                    .filter(|slot| slot % channel.campaigns.len().max(1) == campaign_index)
                    .map(|slot| acquired[index * 2 + slot])
                    .sum();
                let spend = if index == REFERRAL as usize {
                    // the gift each accepted invitation earns
                    people as f64 * 5.0
                } else {
                    // campaigns spend on quiet days too
                    (people as f64 + 0.5) * channel.cac * rng.random_range(0.7..1.3)
                };
                costs.push(
                    self.start_day_number + day as i32,
                    channel.name,
                    campaign,
                    (spend * 100.0).round() / 100.0,
                );
            }
        }
    }
}
