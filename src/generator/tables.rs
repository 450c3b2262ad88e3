//! The canonical tables' schemas and row builders. Each builder turns into a `RecordBatch`
//! when full, so memory stays bounded by the batch size whatever the lake's size.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::row_order::RowOrder;
use crate::error::Result;

pub const BATCH_ROWS: usize = 65_536;

fn timestamp(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        nullable,
    )
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

/// The identifier columns events and orders share.
pub const ID_COLUMNS: [&str; 8] = [
    "app_id",
    "openid",
    "unionid",
    "member_id",
    "phone",
    "email",
    "device_id",
    "cookie_id",
];

/// Events and orders are written sorted within each day by person, then time
/// ([`RowOrder`]): by the first of the WeChat unionid (the same person across apps), the
/// device and the cookie, the identifiers a person-level query keys on first.
const PERSON_ORDER: [&str; 3] = ["unionid", "device_id", "cookie_id"];

pub const EVENTS_ORDER: RowOrder = RowOrder {
    identifiers: &PERSON_ORDER,
    time: "event_time",
};

pub const ORDERS_ORDER: RowOrder = RowOrder {
    identifiers: &PERSON_ORDER,
    time: "order_time",
};

pub fn events_schema() -> SchemaRef {
    let mut fields = vec![
        text("event_id", false),
        timestamp("event_time", false),
        text("event_name", false),
    ];
    fields.extend(ID_COLUMNS.iter().map(|c| text(c, true)));
    fields.extend([
        text("channel", true),
        text("campaign", true),
        text("platform", false),
        text("experiment", true),
        text("arm", true),
    ]);
    Arc::new(Schema::new(fields))
}

/// Marketing touches (ad impressions and clicks) before a visit, linked to the visit's
/// opening event, so that `event_persons` gives each touch its person.
pub fn touches_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        text("touch_id", false),
        timestamp("touch_time", false),
        text("channel", false),
        text("campaign", true),
        text("touch_type", false),
        text("event_id", false),
    ]))
}

pub fn orders_schema() -> SchemaRef {
    let mut fields = vec![text("order_id", false), timestamp("order_time", false)];
    fields.extend(ID_COLUMNS.iter().map(|c| text(c, true)));
    fields.extend([
        text("shop", false),
        text("shop_buyer_id", true),
        Field::new("amount", DataType::Float64, false),
        Field::new("gross_margin", DataType::Float64, false),
        text("status", false),
        text("channel", true),
        text("campaign", true),
    ]);
    Arc::new(Schema::new(fields))
}

pub fn identity_edges_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        text("a_type", false),
        text("a_value", true),
        text("b_type", false),
        text("b_value", true),
        timestamp("seen_at", false),
        text("source", false),
    ]))
}

pub fn referrals_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        text("inviter_type", false),
        text("inviter_value", false),
        text("invitee_type", false),
        text("invitee_value", false),
        timestamp("invited_at", false),
        timestamp("accepted_at", true),
        text("campaign", true),
    ]))
}

pub fn costs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("dt", DataType::Date32, false),
        text("channel", false),
        text("campaign", false),
        Field::new("spend", DataType::Float64, false),
    ]))
}

pub fn truth_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        text("id_type", false),
        text("id_value", false),
        Field::new("person_id", DataType::UInt64, false),
    ]))
}

/// The identifiers one event or order carries; `None` is a missing column value.
#[derive(Debug, Default, Clone)]
pub struct Ids {
    pub app_id: Option<String>,
    pub openid: Option<String>,
    pub unionid: Option<String>,
    pub member_id: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub cookie_id: Option<String>,
}

impl Ids {
    /// (type, value) pairs present, with openids qualified by their app as `app_id:openid`,
    /// the form `identity_edges` and `_truth` use.
    pub fn typed_values(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(6);
        if let (Some(app), Some(openid)) = (&self.app_id, &self.openid) {
            out.push(("openid", format!("{app}:{openid}")));
        }
        let singles: [(&'static str, &Option<String>); 6] = [
            ("unionid", &self.unionid),
            ("member_id", &self.member_id),
            ("phone", &self.phone),
            ("email", &self.email),
            ("device_id", &self.device_id),
            ("cookie_id", &self.cookie_id),
        ];
        for (kind, value) in singles {
            if let Some(v) = value {
                out.push((kind, v.clone()));
            }
        }
        out
    }
}

struct IdBuilders([StringBuilder; 8]);

impl IdBuilders {
    fn new() -> Self {
        Self(std::array::from_fn(|_| StringBuilder::new()))
    }

    fn append(&mut self, ids: &Ids) {
        let values = [
            &ids.app_id,
            &ids.openid,
            &ids.unionid,
            &ids.member_id,
            &ids.phone,
            &ids.email,
            &ids.device_id,
            &ids.cookie_id,
        ];
        for (builder, value) in self.0.iter_mut().zip(values) {
            builder.append_option(value.as_deref());
        }
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        self.0
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect()
    }
}

pub struct EventRows {
    pub len: usize,
    event_id: StringBuilder,
    event_time: TimestampMicrosecondBuilder,
    event_name: StringBuilder,
    ids: IdBuilders,
    channel: StringBuilder,
    campaign: StringBuilder,
    platform: StringBuilder,
    experiment: StringBuilder,
    arm: StringBuilder,
}

impl EventRows {
    pub fn new() -> Self {
        Self {
            len: 0,
            event_id: StringBuilder::new(),
            event_time: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            event_name: StringBuilder::new(),
            ids: IdBuilders::new(),
            channel: StringBuilder::new(),
            campaign: StringBuilder::new(),
            platform: StringBuilder::new(),
            experiment: StringBuilder::new(),
            arm: StringBuilder::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        event_id: &str,
        micros: i64,
        name: &str,
        ids: &Ids,
        channel: Option<&str>,
        campaign: Option<&str>,
        platform: &str,
        assignment: Option<(&str, &str)>,
    ) {
        self.event_id.append_value(event_id);
        self.event_time.append_value(micros);
        self.event_name.append_value(name);
        self.ids.append(ids);
        self.channel.append_option(channel);
        self.campaign.append_option(campaign);
        self.platform.append_value(platform);
        self.experiment.append_option(assignment.map(|a| a.0));
        self.arm.append_option(assignment.map(|a| a.1));
        self.len += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.event_time.finish()),
            Arc::new(self.event_name.finish()),
        ];
        columns.extend(self.ids.finish());
        columns.push(Arc::new(self.channel.finish()));
        columns.push(Arc::new(self.campaign.finish()));
        columns.push(Arc::new(self.platform.finish()));
        columns.push(Arc::new(self.experiment.finish()));
        columns.push(Arc::new(self.arm.finish()));
        self.len = 0;
        Ok(RecordBatch::try_new(events_schema(), columns)?)
    }
}

pub struct TouchRows {
    pub len: usize,
    touch_id: StringBuilder,
    touch_time: TimestampMicrosecondBuilder,
    channel: StringBuilder,
    campaign: StringBuilder,
    touch_type: StringBuilder,
    event_id: StringBuilder,
}

impl TouchRows {
    pub fn new() -> Self {
        Self {
            len: 0,
            touch_id: StringBuilder::new(),
            touch_time: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            channel: StringBuilder::new(),
            campaign: StringBuilder::new(),
            touch_type: StringBuilder::new(),
            event_id: StringBuilder::new(),
        }
    }

    pub fn push(
        &mut self,
        touch_id: &str,
        micros: i64,
        channel: &str,
        campaign: Option<&str>,
        touch_type: &str,
        event_id: &str,
    ) {
        self.touch_id.append_value(touch_id);
        self.touch_time.append_value(micros);
        self.channel.append_value(channel);
        self.campaign.append_option(campaign);
        self.touch_type.append_value(touch_type);
        self.event_id.append_value(event_id);
        self.len += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.touch_id.finish()),
            Arc::new(self.touch_time.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.campaign.finish()),
            Arc::new(self.touch_type.finish()),
            Arc::new(self.event_id.finish()),
        ];
        self.len = 0;
        Ok(RecordBatch::try_new(touches_schema(), columns)?)
    }
}

pub struct OrderRow<'a> {
    pub order_id: &'a str,
    pub micros: i64,
    pub ids: &'a Ids,
    pub shop: &'a str,
    pub shop_buyer_id: Option<&'a str>,
    pub amount: f64,
    pub gross_margin: f64,
    pub status: &'a str,
    pub channel: Option<&'a str>,
    pub campaign: Option<&'a str>,
}

pub struct OrderRows {
    pub len: usize,
    order_id: StringBuilder,
    order_time: TimestampMicrosecondBuilder,
    ids: IdBuilders,
    shop: StringBuilder,
    shop_buyer_id: StringBuilder,
    amount: Float64Builder,
    gross_margin: Float64Builder,
    status: StringBuilder,
    channel: StringBuilder,
    campaign: StringBuilder,
}

impl OrderRows {
    pub fn new() -> Self {
        Self {
            len: 0,
            order_id: StringBuilder::new(),
            order_time: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            ids: IdBuilders::new(),
            shop: StringBuilder::new(),
            shop_buyer_id: StringBuilder::new(),
            amount: Float64Builder::new(),
            gross_margin: Float64Builder::new(),
            status: StringBuilder::new(),
            channel: StringBuilder::new(),
            campaign: StringBuilder::new(),
        }
    }

    pub fn push(&mut self, row: OrderRow<'_>) {
        self.order_id.append_value(row.order_id);
        self.order_time.append_value(row.micros);
        self.ids.append(row.ids);
        self.shop.append_value(row.shop);
        self.shop_buyer_id.append_option(row.shop_buyer_id);
        self.amount.append_value(row.amount);
        self.gross_margin.append_value(row.gross_margin);
        self.status.append_value(row.status);
        self.channel.append_option(row.channel);
        self.campaign.append_option(row.campaign);
        self.len += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.order_id.finish()),
            Arc::new(self.order_time.finish()),
        ];
        columns.extend(self.ids.finish());
        columns.extend([
            Arc::new(self.shop.finish()) as ArrayRef,
            Arc::new(self.shop_buyer_id.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.gross_margin.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.campaign.finish()),
        ]);
        self.len = 0;
        Ok(RecordBatch::try_new(orders_schema(), columns)?)
    }
}

pub struct EdgeRows {
    pub len: usize,
    a_type: StringBuilder,
    a_value: StringBuilder,
    b_type: StringBuilder,
    b_value: StringBuilder,
    seen_at: TimestampMicrosecondBuilder,
    source: StringBuilder,
}

impl EdgeRows {
    pub fn new() -> Self {
        Self {
            len: 0,
            a_type: StringBuilder::new(),
            a_value: StringBuilder::new(),
            b_type: StringBuilder::new(),
            b_value: StringBuilder::new(),
            seen_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            source: StringBuilder::new(),
        }
    }

    pub fn push(&mut self, a: (&str, &str), b: (&str, &str), micros: i64, source: &str) {
        self.a_type.append_value(a.0);
        self.a_value.append_value(a.1);
        self.b_type.append_value(b.0);
        self.b_value.append_value(b.1);
        self.seen_at.append_value(micros);
        self.source.append_value(source);
        self.len += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.a_type.finish()),
            Arc::new(self.a_value.finish()),
            Arc::new(self.b_type.finish()),
            Arc::new(self.b_value.finish()),
            Arc::new(self.seen_at.finish()),
            Arc::new(self.source.finish()),
        ];
        self.len = 0;
        Ok(RecordBatch::try_new(identity_edges_schema(), columns)?)
    }
}

pub struct ReferralRows {
    pub len: usize,
    inviter_type: StringBuilder,
    inviter_value: StringBuilder,
    invitee_type: StringBuilder,
    invitee_value: StringBuilder,
    invited_at: TimestampMicrosecondBuilder,
    accepted_at: TimestampMicrosecondBuilder,
    campaign: StringBuilder,
}

impl ReferralRows {
    pub fn new() -> Self {
        Self {
            len: 0,
            inviter_type: StringBuilder::new(),
            inviter_value: StringBuilder::new(),
            invitee_type: StringBuilder::new(),
            invitee_value: StringBuilder::new(),
            invited_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            accepted_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            campaign: StringBuilder::new(),
        }
    }

    pub fn push(
        &mut self,
        inviter: (&str, &str),
        invitee: (&str, &str),
        invited_at: i64,
        accepted_at: Option<i64>,
        campaign: &str,
    ) {
        self.inviter_type.append_value(inviter.0);
        self.inviter_value.append_value(inviter.1);
        self.invitee_type.append_value(invitee.0);
        self.invitee_value.append_value(invitee.1);
        self.invited_at.append_value(invited_at);
        self.accepted_at.append_option(accepted_at);
        self.campaign.append_value(campaign);
        self.len += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.inviter_type.finish()),
            Arc::new(self.inviter_value.finish()),
            Arc::new(self.invitee_type.finish()),
            Arc::new(self.invitee_value.finish()),
            Arc::new(self.invited_at.finish()),
            Arc::new(self.accepted_at.finish()),
            Arc::new(self.campaign.finish()),
        ];
        self.len = 0;
        Ok(RecordBatch::try_new(referrals_schema(), columns)?)
    }
}

pub struct CostRows {
    pub len: usize,
    dt: Date32Builder,
    channel: StringBuilder,
    campaign: StringBuilder,
    spend: Float64Builder,
}

impl CostRows {
    pub fn new() -> Self {
        Self {
            len: 0,
            dt: Date32Builder::new(),
            channel: StringBuilder::new(),
            campaign: StringBuilder::new(),
            spend: Float64Builder::new(),
        }
    }

    pub fn push(&mut self, day: i32, channel: &str, campaign: &str, spend: f64) {
        self.dt.append_value(day);
        self.channel.append_value(channel);
        self.campaign.append_value(campaign);
        self.spend.append_value(spend);
        self.len += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.dt.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.campaign.finish()),
            Arc::new(self.spend.finish()),
        ];
        self.len = 0;
        Ok(RecordBatch::try_new(costs_schema(), columns)?)
    }
}

pub struct TruthRows {
    pub len: usize,
    id_type: StringBuilder,
    id_value: StringBuilder,
    person_id: arrow::array::UInt64Builder,
}

impl TruthRows {
    pub fn new() -> Self {
        Self {
            len: 0,
            id_type: StringBuilder::new(),
            id_value: StringBuilder::new(),
            person_id: arrow::array::UInt64Builder::new(),
        }
    }

    pub fn push(&mut self, id_type: &str, id_value: &str, person: u64) {
        self.id_type.append_value(id_type);
        self.id_value.append_value(id_value);
        self.person_id.append_value(person);
        self.len += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id_type.finish()),
            Arc::new(self.id_value.finish()),
            Arc::new(self.person_id.finish()),
        ];
        self.len = 0;
        Ok(RecordBatch::try_new(truth_schema(), columns)?)
    }
}
