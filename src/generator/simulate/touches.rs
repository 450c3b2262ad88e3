//! Marketing touches before visits, and the experiments people are enrolled in.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::Sim;
use crate::generator::ids::key;
use crate::generator::model::{CHANNELS, MICROS_PER_DAY};

/// The experiments running in the lake: name, first and last-but-one day (of the lake), the
/// share of people enrolled (out of 4), and the effect on arm b.
pub(super) struct Experiment {
    pub name: &'static str,
    pub days: std::ops::Range<u32>,
    pub enrolled_of_4: u64,
    /// arm b's purchase probability is multiplied by this
    pub buy_lift: f64,
    /// arm b's order values are multiplied by this
    pub amount_lift: f64,
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
    pub(super) fn experiment_of(
        &self,
        person: u32,
        day: u32,
    ) -> Option<(&'static Experiment, &'static str)> {
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
    pub(super) fn touches_before(&mut self, person: u32, day: u32, visit: i64, event_id: &str) {
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
            self.rows.touches.push(
                &touch_id,
                visit - before,
                channel.name,
                campaign,
                touch_type,
                event_id,
            );
        }
    }
}
