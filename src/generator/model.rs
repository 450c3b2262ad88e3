//! Who the simulated people are: acquisition channel and time, which identifiers they have,
//! and the heterogeneous buy-till-you-die process behind their visits and orders (a BG/NBD
//! world: each person visits at their own Gamma-distributed rate, may drop out after any visit
//! with their own Beta-distributed probability, buys on a visit with their own probability,
//! and spends around their own Gamma-distributed mean, as Fader and Hardie's models assume).

use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Gamma};
use rand_pcg::Pcg64Mcg;

use super::ids::key;

pub struct Channel {
    pub name: &'static str,
    pub weight: u32,
    /// Acquisition cost per new person, in currency units.
    pub cac: f64,
    pub campaigns: &'static [&'static str],
}

pub const CHANNELS: [Channel; 11] = [
    Channel {
        name: "douyin",
        weight: 18,
        cac: 45.0,
        campaigns: &["dy_live_newcomer", "dy_short_video_seed"],
    },
    Channel {
        name: "xiaohongshu",
        weight: 14,
        cac: 38.0,
        campaigns: &["xhs_koc_notes", "xhs_search_ads"],
    },
    Channel {
        name: "kuaishou",
        weight: 8,
        cac: 35.0,
        campaigns: &["ks_live_flash_sale"],
    },
    Channel {
        name: "weibo",
        weight: 4,
        cac: 50.0,
        campaigns: &["wb_hot_topic"],
    },
    Channel {
        name: "bilibili",
        weight: 4,
        cac: 42.0,
        campaigns: &["bili_up_review"],
    },
    Channel {
        name: "search_ads",
        weight: 8,
        cac: 60.0,
        campaigns: &["search_brand", "search_generic"],
    },
    Channel {
        name: "package_card",
        weight: 12,
        cac: 6.0,
        campaigns: &["parcel_qr_coupon"],
    },
    Channel {
        name: "offline_store",
        weight: 10,
        cac: 15.0,
        campaigns: &["store_scan_coupon"],
    },
    Channel {
        name: "kol",
        weight: 8,
        cac: 30.0,
        campaigns: &["kol_cps_beauty", "kol_cpa_mom"],
    },
    Channel {
        name: "referral",
        weight: 10,
        cac: 0.0,
        campaigns: &["invite_friend_gift", "group_buy"],
    },
    Channel {
        name: "organic",
        weight: 4,
        cac: 0.0,
        campaigns: &[],
    },
];

pub const REFERRAL: u8 = 9;
pub const ORGANIC: u8 = 10;
pub const OFFLINE_STORE: u8 = 7;
pub const PACKAGE_CARD: u8 = 6;

/// Platform shops whose buyer ids arrive with orders.
pub const SHOPS: [&str; 4] = ["taobao", "jd", "douyin", "pdd"];

pub mod flags {
    pub const WECHAT: u16 = 1;
    pub const PHONE: u16 = 1 << 1;
    pub const EMAIL: u16 = 1 << 2;
    pub const MEMBER: u16 = 1 << 3;
    pub const APP: u16 = 1 << 4;
    pub const IOS: u16 = 1 << 5;
    pub const WEB: u16 = 1 << 6;
    pub const PLATFORM_BUYER: u16 = 1 << 7;
}

#[derive(Debug, Clone)]
pub struct Person {
    pub acquired_micros: i64,
    pub acquired_day: u32,
    pub channel: u8,
    pub campaign: u8,
    pub flags: u16,
    pub devices: u8,
    pub cookies: u8,
    pub shop: u8,
    pub store: u16,
    pub visit_rate: f32,
    pub drop_prob: f32,
    pub buy_prob: f32,
    pub spend_mean: f32,
    /// The person whose invitation brought them in (referral channel only).
    pub inviter: Option<u32>,
    /// Which identifiers have been written to `_truth` (bit per identifier slot).
    pub truth_written: u32,
}

impl Person {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    pub fn channel(&self) -> &'static Channel {
        &CHANNELS[self.channel as usize]
    }

    pub fn campaign(&self) -> Option<&'static str> {
        self.channel()
            .campaigns
            .get(self.campaign as usize)
            .copied()
    }
}

pub const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Days are Asia/Shanghai days: local midnight is 16:00 UTC the day before.
pub const LOCAL_OFFSET_MICROS: i64 = 8 * 3_600_000_000;

/// A local time of day in microseconds, with the lunch and evening peaks of consumer apps.
pub fn time_of_day(rng: &mut Pcg64Mcg) -> i64 {
    let hours: f64 = if rng.random_bool(0.4) {
        12.5 + 1.6 * standard_normal(rng)
    } else if rng.random_bool(0.8) {
        21.0 + 1.5 * standard_normal(rng)
    } else {
        rng.random_range(7.0..24.0)
    };
    (hours.clamp(0.0, 23.99) * 3_600_000_000.0) as i64
}

fn standard_normal(rng: &mut Pcg64Mcg) -> f64 {
    // Box-Muller: enough for shaping times of day.
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn sample<D: Distribution<f64>>(d: &Option<D>, rng: &mut Pcg64Mcg, fallback: f64) -> f64 {
    match d {
        Some(d) => d.sample(rng),
        None => fallback,
    }
}

pub struct Population {
    pub people: Vec<Person>,
    /// `day_starts[d]` is the first person acquired on day `d`; people are sorted by day.
    pub day_starts: Vec<usize>,
}

/// Builds everyone's static traits. Acquisition grows linearly (a brand that is growing): the
/// plan acquires `users` people over `plan_days`, the last day of the plan 2.5x the first, and
/// acquisition goes on at that growth past the plan. Who arrives on a day depends on the plan
/// alone, never on `days`, so a lake of 61 days begins with exactly the 60-day lake of the same
/// plan (what `gen --from-day` relies on). `activity` scales everyone's visit rate (1.0 is the
/// calibrated default), to reach a number of events per person.
pub fn build_population(
    seed: u64,
    users: u64,
    plan_days: u32,
    days: u32,
    start_micros: i64,
    activity: f64,
) -> Population {
    let stores = (users / 2_000).clamp(3, 400) as u16;
    let gamma_rate = Gamma::new(1.0, 0.5).ok();
    let beta_drop = Beta::new(1.0, 20.0).ok();
    let beta_buy = Beta::new(1.2, 8.0).ok();
    let gamma_spend = Gamma::new(3.0, 40.0).ok();
    let total_weight: u32 = CHANNELS.iter().map(|c| c.weight).sum();
    let growth = 1.5_f64; // the last day acquires 2.5x the first

    let mut people = Vec::with_capacity(users as usize);
    let mut day_starts = vec![0usize; days as usize + 1];
    let mut current_day = 0u32;
    for index in 0..u32::MAX as u64 {
        // Inverse CDF of a linearly growing density on [0, 1) of the plan, continued past it.
        let u = (index as f64 + 0.5) / users as f64;
        let x = ((1.0 + growth * (growth + 2.0) * u).sqrt() - 1.0) / growth;
        let day = (x * plan_days as f64) as u32;
        if day >= days {
            break;
        }
        let mut rng = Pcg64Mcg::seed_from_u64(key(seed, 0xAC0_u64, index, 0));
        while current_day < day {
            current_day += 1;
            day_starts[current_day as usize] = people.len();
        }
        let acquired_micros = start_micros + day as i64 * MICROS_PER_DAY + time_of_day(&mut rng)
            - LOCAL_OFFSET_MICROS;

        let mut pick = rng.random_range(0..total_weight);
        let mut channel = 0u8;
        for (i, c) in CHANNELS.iter().enumerate() {
            if pick < c.weight {
                channel = i as u8;
                break;
            }
            pick -= c.weight;
        }
        let mut inviter = None;
        if channel == REFERRAL {
            let first_today = day_starts[day as usize];
            if first_today == 0 || day == 0 {
                channel = ORGANIC;
            } else {
                // a recent customer, most often one acquired in the last weeks
                let back = (rng.random::<f64>().powi(3) * first_today as f64) as usize;
                inviter = Some((first_today - 1 - back.min(first_today - 1)) as u32);
            }
        }
        let campaigns = CHANNELS[channel as usize].campaigns.len().max(1);
        let campaign = rng.random_range(0..campaigns) as u8;

        let mut person_flags = 0u16;
        let offline = channel == OFFLINE_STORE;
        if rng.random_bool(0.88) {
            person_flags |= flags::WECHAT;
        }
        if rng.random_bool(if offline { 0.97 } else { 0.85 }) {
            person_flags |= flags::PHONE;
        }
        if rng.random_bool(0.3) {
            person_flags |= flags::EMAIL;
        }
        if rng.random_bool(if offline { 0.7 } else { 0.35 }) {
            person_flags |= flags::MEMBER;
        }
        if rng.random_bool(0.45) {
            person_flags |= flags::APP;
        }
        if rng.random_bool(0.3) {
            person_flags |= flags::IOS;
        }
        if rng.random_bool(0.5) || person_flags & (flags::WECHAT | flags::APP) == 0 {
            person_flags |= flags::WEB;
        }
        if rng.random_bool(0.25) {
            person_flags |= flags::PLATFORM_BUYER;
        }
        let visit_rate = (sample(&gamma_rate, &mut rng, 0.5) * activity).clamp(0.01, 0.95) as f32;
        let drop_prob = sample(&beta_drop, &mut rng, 0.05).clamp(0.001, 0.9) as f32;
        let buy_prob = sample(&beta_buy, &mut rng, 0.13).clamp(0.0, 0.9) as f32;
        let spend_mean = sample(&gamma_spend, &mut rng, 120.0).max(9.9) as f32;

        people.push(Person {
            acquired_micros,
            acquired_day: day,
            channel,
            campaign,
            flags: person_flags,
            devices: rng.random_range(1..=2),
            cookies: rng.random_range(1..=6),
            shop: rng.random_range(0..SHOPS.len()) as u8,
            store: rng.random_range(0..stores),
            visit_rate,
            drop_prob,
            buy_prob,
            spend_mean,
            inviter,
            truth_written: 0,
        });
    }
    while (current_day as usize) < days as usize {
        current_day += 1;
        day_starts[current_day as usize] = people.len();
    }
    Population { people, day_starts }
}
