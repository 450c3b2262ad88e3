//! The day-by-day simulation. Each person-day has its own random stream, seeded from
//! (seed, person, day), so the data depends on the seed alone.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Geometric, Poisson};
use rand_pcg::Pcg64Mcg;

use super::ids::{
    IdFactory, PLACEHOLDERS, SHARED_TEST_PHONE, ZERO_IDFA, ZERO_PHONE, email_variant, key,
    phone_variant,
};
use super::model::{
    CHANNELS, LOCAL_OFFSET_MICROS, MICROS_PER_DAY, OFFLINE_STORE, PACKAGE_CARD, Person, Population,
    REFERRAL, SHOPS, flags, time_of_day,
};
use super::tables::{
    BATCH_ROWS, CostRows, EdgeRows, EventRows, Ids, OrderRow, OrderRows, ReferralRows, TouchRows,
    TruthRows,
};
use super::writer::{Destination, TableWriter};
use crate::error::Result;

/// The brand's WeChat apps.
const OFFICIAL_ACCOUNT: usize = 0;
const MINI_PROGRAM: usize = 1;
const WECOM: usize = 2;

/// Bits of `Person::truth_written`.
mod slot {
    pub const OPENID: u32 = 0; // + app (3 bits)
    pub const UNIONID: u32 = 3;
    pub const PHONE: u32 = 4;
    pub const EMAIL: u32 = 5;
    pub const MEMBER: u32 = 6;
    pub const SHOP: u32 = 7;
    pub const DEVICE: u32 = 8; // + index (2 bits)
    pub const COOKIE: u32 = 10; // + index (up to 8)
}

pub struct Writers {
    pub events: TableWriter,
    pub touches: TableWriter,
    pub orders: TableWriter,
    pub edges: TableWriter,
    pub referrals: TableWriter,
    pub truth: TableWriter,
    pub costs: TableWriter,
}

/// What the writers cannot count: rows are counted by the table writers.
pub struct Counts {
    /// Written events that arrived in a later partition than their own day's.
    pub late_events: u64,
}

struct Sim<'a> {
    seed: u64,
    ids: IdFactory,
    app_ids: [String; 3],
    start_micros: i64,
    start_day_number: i32,
    days: u32,
    population: &'a mut Population,
    writers: &'a Writers,
    events: EventRows,
    touches: TouchRows,
    touch_counter: u64,
    orders: OrderRows,
    edges: EdgeRows,
    referrals: ReferralRows,
    truth: TruthRows,
    truth_part: usize,
    /// Events that arrive in a later `dt` partition than their day, by arrival day.
    late: BTreeMap<u32, EventRows>,
    event_counter: u64,
    order_counter: u64,
    stray_counter: u64,
    counts: Counts,
    dt: String,
    /// The first day (0-based) whose rows are written; earlier days are only simulated.
    first_written_day: u32,
    /// Whether the day being simulated is written.
    writing: bool,
}

/// Runs the whole simulation; `on_day` is called after each day (for progress).
pub fn simulate(
    seed: u64,
    days: u32,
    first_written_day: u32,
    start: chrono::NaiveDate,
    population: &mut Population,
    writers: &Writers,
    mut on_day: impl FnMut(u32),
) -> Result<Counts> {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let start_day_number = (start - epoch).num_days() as i32;
    let ids = IdFactory::new(seed);
    let app_ids = [ids.app_id(0), ids.app_id(1), ids.app_id(2)];
    let mut sim = Sim {
        seed,
        ids,
        app_ids,
        start_micros: start_day_number as i64 * MICROS_PER_DAY,
        start_day_number,
        days,
        population,
        writers,
        events: EventRows::new(),
        touches: TouchRows::new(),
        touch_counter: 0,
        orders: OrderRows::new(),
        edges: EdgeRows::new(),
        referrals: ReferralRows::new(),
        truth: TruthRows::new(),
        truth_part: 0,
        late: BTreeMap::new(),
        event_counter: 0,
        order_counter: 0,
        stray_counter: 0,
        counts: Counts { late_events: 0 },
        dt: String::new(),
        first_written_day,
        writing: false,
    };
    let mut schedule: Vec<Vec<u32>> = vec![Vec::new(); days as usize];
    let mut costs = CostRows::new();
    for day in 0..days {
        sim.dt = (start + chrono::Days::new(day as u64))
            .format("%Y-%m-%d")
            .to_string();
        sim.writing = day >= first_written_day;
        if let Some(mut late) = sim.late.remove(&day) {
            sim.writers
                .events
                .send(Destination::Partition(sim.dt.clone()), late.finish()?)?;
        }
        let first = sim.population.day_starts[day as usize];
        let last = sim.population.day_starts[day as usize + 1];
        let mut acquired = vec![0u32; CHANNELS.len() * 2];
        for person in first..last {
            let p = &sim.population.people[person];
            acquired[p.channel as usize * 2 + p.campaign as usize % 2] += 1;
            let next = sim.acquisition_day(person as u32)?;
            if let Some(next) = next.filter(|n| *n < days) {
                schedule[next as usize].push(person as u32);
            }
        }
        let visits = std::mem::take(&mut schedule[day as usize]);
        for person in visits {
            if let Some(next) = sim.visit(person, day)?.filter(|n| *n < days) {
                schedule[next as usize].push(person);
            }
        }
        sim.flush_day()?;
        sim.costs_of_day(day, &acquired, &mut costs);
        on_day(day);
    }
    sim.writers
        .costs
        .send(Destination::Part(0), costs.finish()?)?;
    if sim.truth.len > 0 {
        let part = sim.truth_part;
        sim.writers
            .truth
            .send(Destination::Part(part), sim.truth.finish()?)?;
    }
    Ok(sim.counts)
}

/// The experiments running in the lake: name, first and last-but-one day (of the lake), the
/// share of people enrolled (out of 4), and the effect on arm b.
struct Experiment {
    name: &'static str,
    days: std::ops::Range<u32>,
    enrolled_of_4: u64,
    /// arm b's purchase probability is multiplied by this
    buy_lift: f64,
    /// arm b's order values are multiplied by this
    amount_lift: f64,
}

const EXPERIMENTS: [Experiment; 2] = [
    Experiment {
        name: "push_copy_v2",
        days: 7..35,
        enrolled_of_4: 3,
        buy_lift: 1.3,
        amount_lift: 1.0,
    },
    Experiment {
        name: "checkout_redesign",
        days: 35..60,
        enrolled_of_4: 2,
        buy_lift: 1.0,
        amount_lift: 1.08,
    },
];

impl Sim<'_> {
    /// The experiment and arm a person is in on a day, by a hash of the person: no random
    /// draw, so the rest of the simulation does not move.
    fn experiment_of(&self, person: u32, day: u32) -> Option<(&'static Experiment, &'static str)> {
        EXPERIMENTS.iter().enumerate().find_map(|(i, e)| {
            let enrolled = key(self.seed, 0xE1, person as u64, i as u64) % 4 < e.enrolled_of_4;
            (e.days.contains(&day) && enrolled).then(|| {
                let arm = if key(self.seed, 0xE2, person as u64, i as u64).is_multiple_of(2) {
                    "a"
                } else {
                    "b"
                };
                (e, arm)
            })
        })
    }

    /// Marketing touches before a visit: none, or one to three impressions and clicks in the
    /// three days before it, from the person's own channel half the time. A separate random
    /// stream, so the rest of the simulation does not move.
    fn touches_before(&mut self, person: u32, day: u32, visit: i64, event_id: &str) {
        let mut rng = Pcg64Mcg::seed_from_u64(key(self.seed, 0x70C, person as u64, day as u64));
        let count = match rng.random_range(0..20) {
            0..10 => 0,
            10..16 => 1,
            16..19 => 2,
            _ => 3,
        };
        let own = self.person(person).channel;
        for _ in 0..count {
            let channel = if rng.random_bool(0.5) {
                &CHANNELS[own as usize]
            } else {
                &CHANNELS[rng.random_range(0..CHANNELS.len())]
            };
            let campaign = (!channel.campaigns.is_empty())
                .then(|| channel.campaigns[rng.random_range(0..channel.campaigns.len())]);
            let before = rng.random_range(300_000_000..3 * MICROS_PER_DAY);
            let touch_type = if rng.random_bool(0.3) {
                "click"
            } else {
                "impression"
            };
            self.touch_counter += 1;
            let touch_id = format!("{:016x}", key(self.seed, 0x70D, self.touch_counter, 0));
            self.touches.push(
                &touch_id,
                visit - before,
                channel.name,
                campaign,
                touch_type,
                event_id,
            );
        }
    }

    fn rng(&self, person: u32, day: u32) -> Pcg64Mcg {
        Pcg64Mcg::seed_from_u64(key(self.seed, 0xDA7, person as u64, day as u64))
    }

    fn day_micros(&self, day: u32) -> i64 {
        self.start_micros + day as i64 * MICROS_PER_DAY - LOCAL_OFFSET_MICROS
    }

    /// `t` moved on by `step`, but kept inside the local day so each day's activity lands in
    /// that day's partitions.
    fn later(&self, t: i64, step: i64, day: u32) -> i64 {
        (t + step).min(self.day_micros(day + 1) - 1)
    }

    fn person(&self, person: u32) -> &Person {
        &self.population.people[person as usize]
    }

    fn next_visit(&self, person: u32, day: u32, rng: &mut Pcg64Mcg) -> Option<u32> {
        let p = self.person(person);
        let gap = Geometric::new(p.visit_rate as f64)
            .map(|g| g.sample(rng))
            .unwrap_or(7);
        Some(day + 1 + gap.min(10_000) as u32)
    }

    // ---- identifiers ------------------------------------------------------------------

    /// Records `value` in `_truth` the first time the person shows it.
    fn witness(&mut self, person: u32, bit: u32, id_type: &str, value: &str) -> Result<()> {
        let p = &mut self.population.people[person as usize];
        if p.truth_written & (1 << bit) != 0 {
            return Ok(());
        }
        p.truth_written |= 1 << bit;
        if !self.writing {
            return Ok(());
        }
        self.truth.push(id_type, value, person as u64);
        if self.truth.len >= BATCH_ROWS {
            let part = self.truth_part;
            self.truth_part += 1;
            self.writers
                .truth
                .send(Destination::Part(part), self.truth.finish()?)?;
        }
        Ok(())
    }

    fn wechat_ids(&mut self, person: u32, app: usize, ids: &mut Ids) -> Result<()> {
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

    fn phone(&mut self, person: u32, rng: &mut Pcg64Mcg) -> Result<Option<String>> {
        if !self.person(person).has(flags::PHONE) {
            return Ok(None);
        }
        let digits = self.ids.phone_digits(person as u64);
        self.witness(person, slot::PHONE, "phone", &format!("86{digits}"))?;
        Ok(Some(phone_variant(&digits, rng.random())))
    }

    fn email(&mut self, person: u32, rng: &mut Pcg64Mcg) -> Result<Option<String>> {
        if !self.person(person).has(flags::EMAIL) {
            return Ok(None);
        }
        let email = self.ids.email(person as u64);
        self.witness(person, slot::EMAIL, "email", &email)?;
        Ok(Some(email_variant(&email, rng.random())))
    }

    fn member(&mut self, person: u32) -> Result<Option<String>> {
        if !self.person(person).has(flags::MEMBER) {
            return Ok(None);
        }
        let member = self.ids.member_id(person as u64);
        self.witness(person, slot::MEMBER, "member_id", &member)?;
        Ok(Some(member))
    }

    fn device(&mut self, person: u32, rng: &mut Pcg64Mcg) -> Result<String> {
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

    fn cookie(&mut self, person: u32, day: u32) -> Result<String> {
        let p = self.person(person);
        // cookies are cleared every few weeks
        let index = ((day - p.acquired_day) / 14).min(p.cookies as u32 - 1);
        let cookie = self.ids.cookie_id(person as u64, index as u64);
        self.witness(person, slot::COOKIE + index, "cookie_id", &cookie)?;
        Ok(cookie)
    }

    /// The identifiers of an event on `platform`.
    fn event_ids(
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

    fn preferred_platform(&self, person: u32, rng: &mut Pcg64Mcg) -> &'static str {
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

    // ---- rows -----------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        person: u32,
        day: u32,
        micros: i64,
        name: &str,
        ids: &Ids,
        platform: &str,
        rng: &mut Pcg64Mcg,
    ) -> Result<()> {
        let p = self.person(person);
        let channel = Some(p.channel().name);
        let campaign = p.campaign();
        let assignment = self
            .experiment_of(person, day)
            .map(|(e, arm)| (e.name, arm));
        self.event_counter += 1;
        let event_id = format!("{:016x}", key(self.seed, 0xE7, self.event_counter, 0));
        // An event lands in the partition of the day it arrives: its own (Asia/Shanghai) day,
        // which a session running past midnight moves on, or a few days later for the few
        // that reach the lake late.
        let own_day = (micros + LOCAL_OFFSET_MICROS - self.start_micros).div_euclid(MICROS_PER_DAY);
        let mut arrival = own_day.max(day as i64);
        if rng.random_bool(0.015) {
            arrival += rng.random_range(1..=3);
        }
        if arrival > day as i64 {
            if arrival < self.days as i64 {
                if arrival > own_day && arrival >= self.first_written_day as i64 {
                    self.counts.late_events += 1;
                }
                self.late
                    .entry(arrival as u32)
                    .or_insert_with(EventRows::new)
                    .push(
                        &event_id, micros, name, ids, channel, campaign, platform, assignment,
                    );
            }
            return Ok(());
        }
        self.events.push(
            &event_id, micros, name, ids, channel, campaign, platform, assignment,
        );
        if self.events.len >= BATCH_ROWS {
            let batch = self.events.finish()?;
            self.writers
                .events
                .send(Destination::Partition(self.dt.clone()), batch)?;
        }
        Ok(())
    }

    /// Identity edges: every pair of identifiers a login-like event or an order carries,
    /// as a star from its first identifier.
    fn edges_of(&mut self, ids: &Ids, micros: i64, source: &str) -> Result<()> {
        let values = ids.typed_values();
        if let Some((first_type, first_value)) = values.first() {
            for (other_type, other_value) in &values[1..] {
                self.edges.push(
                    (first_type, first_value),
                    (other_type, other_value),
                    micros,
                    source,
                );
            }
        }
        if self.edges.len >= BATCH_ROWS {
            let batch = self.edges.finish()?;
            self.writers
                .edges
                .send(Destination::Partition(self.dt.clone()), batch)?;
        }
        Ok(())
    }

    fn flush_day(&mut self) -> Result<()> {
        let dt = Destination::Partition(self.dt.clone());
        if self.events.len > 0 {
            self.writers
                .events
                .send(dt.clone(), self.events.finish()?)?;
        }
        if self.orders.len > 0 {
            self.writers
                .orders
                .send(dt.clone(), self.orders.finish()?)?;
        }
        if self.touches.len > 0 {
            self.writers
                .touches
                .send(dt.clone(), self.touches.finish()?)?;
        }
        if self.edges.len > 0 {
            self.writers.edges.send(dt.clone(), self.edges.finish()?)?;
        }
        if self.referrals.len > 0 {
            self.writers.referrals.send(dt, self.referrals.finish()?)?;
        }
        Ok(())
    }

    fn costs_of_day(&self, day: u32, acquired: &[u32], costs: &mut CostRows) {
        if !self.writing {
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

    // ---- behaviour ------------------------------------------------------------------

    /// The first day: the entry funnel. Returns the day of the next visit.
    fn acquisition_day(&mut self, person: u32) -> Result<Option<u32>> {
        let p = self.person(person).clone();
        let day = p.acquired_day;
        let mut rng = self.rng(person, day);
        let mut t = p.acquired_micros;
        let step = |rng: &mut Pcg64Mcg| rng.random_range(5_000_000..240_000_000i64);

        if p.channel == REFERRAL {
            self.referral_acceptance(person, &p, t, &mut rng)?;
        } else if p.channel().cac > 0.0 && p.channel != PACKAGE_CARD && p.channel != OFFLINE_STORE {
            let ids = self.event_ids(person, day, "h5", false, &mut rng)?;
            self.event(
                person,
                day,
                t - step(&mut rng),
                "ad_exposure",
                &ids,
                "h5",
                &mut rng,
            )?;
        }

        let entry_platform = if p.has(flags::WECHAT) {
            "wechat_oa"
        } else {
            "h5"
        };
        let entry = match p.channel {
            PACKAGE_CARD | OFFLINE_STORE => "scan_code",
            REFERRAL => "poster_scan",
            _ => "follow_account",
        };
        let ids = self.event_ids(person, day, entry_platform, false, &mut rng)?;
        self.event(person, day, t, entry, &ids, entry_platform, &mut rng)?;

        if p.channel == OFFLINE_STORE {
            self.store_checkin(person, day, self.later(t, step(&mut rng), day), &mut rng)?;
        }
        if p.has(flags::WECHAT) && (p.channel == REFERRAL || rng.random_bool(0.35)) {
            t = self.later(t, step(&mut rng), day);
            let ids = self.event_ids(person, day, "wecom", false, &mut rng)?;
            self.event(person, day, t, "add_wecom_contact", &ids, "wecom", &mut rng)?;
            self.edges_of(&ids, t, "wecom_contact")?;
        }
        let platform = self.preferred_platform(person, &mut rng);
        if rng.random_bool(0.85) {
            t = self.later(t, step(&mut rng), day);
            let ids = self.event_ids(person, day, platform, false, &mut rng)?;
            self.event(person, day, t, "view_content", &ids, platform, &mut rng)?;
            if rng.random_bool(0.7) {
                t = self.later(t, step(&mut rng), day);
                self.event(
                    person,
                    day,
                    t,
                    "claim_welcome_pack",
                    &ids,
                    platform,
                    &mut rng,
                )?;
            }
            if rng.random_bool(0.5) {
                t = self.later(t, step(&mut rng), day);
                let ids = self.event_ids(person, day, platform, true, &mut rng)?;
                self.event(person, day, t, "register", &ids, platform, &mut rng)?;
                self.edges_of(&ids, t, "register")?;
            }
            if rng.random_bool(p.buy_prob as f64 * 0.8) {
                self.purchase(
                    person,
                    day,
                    self.later(t, step(&mut rng), day),
                    platform,
                    &mut rng,
                )?;
            }
        }
        Ok(self.next_visit(person, day, &mut rng))
    }

    /// A returning visit. Returns the day of the next one, or `None` once the person drops out.
    fn visit(&mut self, person: u32, day: u32) -> Result<Option<u32>> {
        let p = self.person(person).clone();
        let mut rng = self.rng(person, day);
        let mut t = self.day_micros(day) + time_of_day(&mut rng);
        let step = |rng: &mut Pcg64Mcg| rng.random_range(3_000_000..300_000_000i64);

        if p.has(flags::WECHAT) && rng.random_bool(0.35) {
            let ids = self.event_ids(person, day, "wechat_oa", false, &mut rng)?;
            self.event(person, day, t, "push_open", &ids, "wechat_oa", &mut rng)?;
            t = self.later(t, step(&mut rng), day);
        }
        let platform = self.preferred_platform(person, &mut rng);
        let logged_in = p.has(flags::MEMBER) && rng.random_bool(0.6);
        let ids = self.event_ids(person, day, platform, logged_in, &mut rng)?;
        let opening = match platform {
            "mini_program" => "mp_open",
            "app_ios" | "app_android" => "app_launch",
            _ => "page_view",
        };
        self.event(person, day, t, opening, &ids, platform, &mut rng)?;
        let opening_id = format!("{:016x}", key(self.seed, 0xE7, self.event_counter, 0));
        self.touches_before(person, day, t, &opening_id);
        if logged_in && platform != "mini_program" {
            t = self.later(t, step(&mut rng), day);
            self.event(person, day, t, "login", &ids, platform, &mut rng)?;
            self.edges_of(&ids, t, "login")?;
        }
        let views = 1 + Poisson::new(1.5)
            .map(|d| d.sample(&mut rng) as u32)
            .unwrap_or(1);
        for _ in 0..views {
            t = self.later(t, step(&mut rng), day);
            self.event(person, day, t, "view_content", &ids, platform, &mut rng)?;
        }
        if rng.random_bool(0.2) {
            t = self.later(t, step(&mut rng), day);
            self.event(person, day, t, "checkin", &ids, platform, &mut rng)?;
        }
        let buy_lift = match self.experiment_of(person, day) {
            Some((e, "b")) => e.buy_lift,
            _ => 1.0,
        };
        if rng.random_bool((p.buy_prob as f64 * buy_lift).min(1.0)) {
            t = self.later(t, step(&mut rng), day);
            self.event(person, day, t, "add_to_cart", &ids, platform, &mut rng)?;
            if rng.random_bool(0.8) {
                t = self.purchase(
                    person,
                    day,
                    self.later(t, step(&mut rng), day),
                    platform,
                    &mut rng,
                )?;
            }
        }
        if rng.random_bool(0.08) {
            t = self.later(t, step(&mut rng), day);
            self.event(person, day, t, "share", &ids, platform, &mut rng)?;
        }
        if rng.random_bool(0.05) {
            t = self.later(t, step(&mut rng), day);
            self.event(person, day, t, "view_poster", &ids, platform, &mut rng)?;
            if rng.random_bool(0.5) {
                self.send_invites(person, day, self.later(t, step(&mut rng), day), &mut rng)?;
            }
        }
        if p.channel == OFFLINE_STORE && rng.random_bool(0.1) {
            self.store_checkin(person, day, self.later(t, step(&mut rng), day), &mut rng)?;
        }
        if rng.random_bool(p.drop_prob as f64) {
            return Ok(None);
        }
        Ok(self.next_visit(person, day, &mut rng))
    }

    /// An order: on the brand's own mini program or app (with order and payment events), or
    /// on a platform shop (an order row only, carrying the shop's buyer id and the phone).
    fn purchase(
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
        let order_id = format!("O{}{:09}", self.dt.replace('-', ""), self.order_counter);

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
        self.orders.push(OrderRow {
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
            self.edges.push(
                (&format!("{shop}_buyer_id"), buyer),
                ("phone", phone),
                t,
                &source,
            );
        } else {
            self.edges_of(&ids, t, &source)?;
        }
        if self.orders.len >= BATCH_ROWS {
            let batch = self.orders.finish()?;
            self.writers
                .orders
                .send(Destination::Partition(self.dt.clone()), batch)?;
        }
        Ok(t)
    }

    /// A check-in on the store's shared iPad: the device links to everyone who uses it.
    fn store_checkin(&mut self, person: u32, day: u32, t: i64, rng: &mut Pcg64Mcg) -> Result<()> {
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

    fn inviter_identity(&mut self, inviter: u32, rng: &mut Pcg64Mcg) -> Result<(String, String)> {
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
    fn send_invites(&mut self, person: u32, day: u32, t: i64, rng: &mut Pcg64Mcg) -> Result<()> {
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
            self.referrals.push(
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
    fn referral_acceptance(
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
        self.referrals.push(
            (&inviter_type, &inviter_value),
            (&invitee_type, &invitee_value),
            invited,
            Some(accepted),
            campaign,
        );
        Ok(())
    }
}
