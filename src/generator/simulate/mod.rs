//! The day-by-day simulation. Each person-day has its own random stream, seeded from
//! (seed, person, day), so the data depends on the seed alone.
//!
//! This module is the behaviour: who comes back on which day and what they do on a visit (the
//! entry funnel, views, carts, shares, invitations). What a visit writes is in the modules by
//! subject: `identity` (the identifiers each event carries, `_truth`, identity edges),
//! `commerce` (orders, store check-ins, costs), `referral`, `touches` (marketing touches and
//! experiments); `rows` buffers the rows and sends them to the table writers.

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Geometric, Poisson};
use rand_pcg::Pcg64Mcg;

use super::ids::{IdFactory, key};
use super::model::{
    CHANNELS, LOCAL_OFFSET_MICROS, MICROS_PER_DAY, OFFLINE_STORE, PACKAGE_CARD, Person, Population,
    REFERRAL, flags, time_of_day,
};
use super::tables::{CostRows, Ids};
use super::writer::TableWriter;
use crate::error::Result;

mod commerce;
mod identity;
mod referral;
mod rows;
mod touches;

use rows::Rows;

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
    touch_counter: u64,
    event_counter: u64,
    order_counter: u64,
    stray_counter: u64,
    /// The first day (0-based) whose rows are written; earlier days are only simulated.
    first_written_day: u32,
    rows: Rows<'a>,
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
        touch_counter: 0,
        event_counter: 0,
        order_counter: 0,
        stray_counter: 0,
        first_written_day,
        rows: Rows::new(writers),
    };
    let mut schedule: Vec<Vec<u32>> = vec![Vec::new(); days as usize];
    let mut costs = CostRows::new();
    for day in 0..days {
        let dt = (start + chrono::Days::new(day as u64))
            .format("%Y-%m-%d")
            .to_string();
        sim.rows.start_day(day, dt, day >= first_written_day)?;
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
        sim.rows.flush_day()?;
        sim.costs_of_day(day, &acquired, &mut costs);
        on_day(day);
    }
    sim.rows.finish(costs)
}

impl Sim<'_> {
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
                    self.rows.counts.late_events += 1;
                }
                self.rows.late_events(arrival as u32).push(
                    &event_id, micros, name, ids, channel, campaign, platform, assignment,
                );
            }
            return Ok(());
        }
        self.rows.events.push(
            &event_id, micros, name, ids, channel, campaign, platform, assignment,
        );
        self.rows.events_pushed()
    }

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
}
