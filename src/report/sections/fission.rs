//! Fission: invitations sent and accepted, K-factor by week, and the referral tree's
//! generations, from `fission_report` (and the rewards from `fission_rewards`).

use datafusion::prelude::SessionContext;

use super::{distinct, missing_table, no_rows, values_by};
use crate::error::Result;
use crate::report::charts::{Axis, Mark, Series, categories};
use crate::report::format::Kind;
use crate::report::page::{Block, Section, Table};
use crate::report::rows::{has_table, query};

pub const ID: &str = "fission";
pub const TITLE: &str = "Fission";

const INTRO: &[&str] = &[
    "Referral campaigns (裂变) from table fission_report, by the week an invitation was sent: \
     invitations sent and accepted, and the K-factor: invitations per inviter × acceptance \
     rate, the new people each inviter brings. Above 1 a campaign grows by itself.",
    "Generations come from referral_tree over the stitched people: generation 1 are invited \
     by someone who joined on their own, generation 2 by a generation-1 invitee, and so on.",
];

pub async fn section(ctx: &SessionContext) -> Result<Section> {
    let mut section = Section::new(ID, TITLE, INTRO);
    if let Some(why) = missing_table(ctx, &["fission_report"])? {
        return Ok(section.no_data(why));
    }
    let weekly = query(
        ctx,
        "SELECT CAST(week AS VARCHAR) AS week, sum(sent) AS sent, sum(accepted) AS accepted, \
         CASE WHEN sum(sent) > 0 THEN CAST(sum(accepted) AS DOUBLE) / sum(sent) END AS acceptance \
         FROM fission_report GROUP BY week ORDER BY week",
    )
    .await?;
    if weekly.is_empty() {
        return Ok(section.no_data(no_rows(
            "fission_report",
            "no referral invitations in the lake",
        )));
    }
    let weeks = distinct(&weekly, "week");
    let column = |name: &str| values_by(&weekly, "week", &weeks, name, |_| true);
    section.push(Block::Chart(Box::new(categories(
        "Invitations by week",
        "Bars: invitations sent and accepted, every campaign together (left axis); line: the \
         acceptance rate (right axis).",
        &weeks,
        &[
            Axis::new("invitations", Kind::Count),
            Axis::new("accepted", Kind::Percent),
        ],
        vec![
            Series::new("sent", Mark::Bar, Kind::Count, column("sent")),
            Series::new("accepted", Mark::Bar, Kind::Count, column("accepted")),
            Series::new(
                "acceptance rate",
                Mark::Line,
                Kind::Percent,
                column("acceptance"),
            )
            .on_axis(1),
        ],
        false,
    ))));

    let per_campaign = query(
        ctx,
        "SELECT campaign, CAST(week AS VARCHAR) AS week, k_factor FROM fission_report \
         ORDER BY campaign, week",
    )
    .await?;
    let campaigns = distinct(&per_campaign, "campaign");
    section.push(Block::Chart(Box::new(categories(
        "K-factor by week and campaign",
        "One line per campaign; no point in a week the campaign sent nothing.",
        &weeks,
        &[Axis::new("K-factor", Kind::Ratio)],
        campaigns
            .iter()
            .map(|campaign| {
                Series::new(
                    campaign.as_str(),
                    Mark::Line,
                    Kind::Ratio,
                    values_by(&per_campaign, "week", &weeks, "k_factor", |r| {
                        &r.text("campaign") == campaign
                    }),
                )
            })
            .collect(),
        false,
    ))));

    let totals = query(
        ctx,
        "SELECT campaign, sum(sent) AS sent, sum(accepted) AS accepted, \
         sum(generation_1) AS g1, sum(generation_2) AS g2, sum(generation_3_plus) AS g3 \
         FROM fission_report GROUP BY campaign ORDER BY campaign",
    )
    .await?;
    let campaigns = distinct(&totals, "campaign");
    let generation = |name: &str| values_by(&totals, "campaign", &campaigns, name, |_| true);
    section.push(Block::Chart(Box::new(categories(
        "Generation depth by campaign",
        "Stacked bars: invitees credited to each campaign by their generation in the referral \
         tree.",
        &campaigns,
        &[Axis::new("invitees", Kind::Count)],
        vec![
            Series::new("generation 1", Mark::Bar, Kind::Count, generation("g1")).stacked("g"),
            Series::new("generation 2", Mark::Bar, Kind::Count, generation("g2")).stacked("g"),
            Series::new("generation 3+", Mark::Bar, Kind::Count, generation("g3")).stacked("g"),
        ],
        false,
    ))));

    let mut table = Table::new(
        "Campaigns: invitations and distribution rewards",
        &[
            "campaign",
            "sent",
            "accepted",
            "acceptance rate",
            "rewards paid",
            "rewards reversed",
            "rewards net",
        ],
        1,
    );
    let rewards = if has_table(ctx, "fission_rewards")? {
        query(
            ctx,
            "SELECT campaign, sum(level1_paid + level2_paid) AS paid, \
             sum(rewards_reversed) AS reversed, sum(rewards_net) AS net \
             FROM fission_rewards GROUP BY campaign",
        )
        .await?
    } else {
        Vec::new()
    };
    for row in &totals {
        let campaign = row.text("campaign");
        let reward = rewards.iter().find(|r| r.text("campaign") == campaign);
        let sent = row.count("sent");
        table.rows.push(vec![
            campaign,
            Kind::Count.print(Some(sent)),
            Kind::Count.print(row.number("accepted")),
            Kind::Percent.print((sent > 0.0).then(|| row.count("accepted") / sent)),
            Kind::Money.print(reward.and_then(|r| r.number("paid"))),
            Kind::Money.print(reward.and_then(|r| r.number("reversed"))),
            Kind::Money.print(reward.and_then(|r| r.number("net"))),
        ]);
    }
    section.push(Block::Table(table));
    Ok(section)
}
