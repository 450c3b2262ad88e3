"""Reference answers from lifetimes 0.11.3 for the customer-value functions.

Writes into OUT_DIR: transactions.parquet (random orders, seeded), cdnow.parquet (the CDNOW
sample's orders), and reference.json: lifetimes' summaries for several (period, unit) pairs, its
BG/NBD, Pareto/NBD and Gamma-Gamma fits on them, and its predictions at its own parameters.
tests/value_peers.rs runs the same through userlake and compares.
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

warnings.simplefilter("ignore")
from lifetimes import (  # noqa: E402
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
)
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data  # noqa: E402

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20261122)

# Random orders: 400 customers, some buying several times a day, some after as_of.
start = pd.Timestamp("2025-01-01", tz="UTC")
rows = []
for customer in range(400):
    first = start + pd.Timedelta(seconds=int(rng.integers(0, 300 * 86400)))
    # BG/NBD buying: purchase rate lambda ~ Gamma(0.8, rate 20) per day, dropout p ~ Beta(0.6, 3)
    # after each purchase; a fifth of purchases come with a second order the same hour.
    rate = rng.gamma(0.8, 1.0 / 20.0)
    dropout = rng.beta(0.6, 3.0)
    # Gamma-Gamma spend: each customer's rate nu ~ Gamma(4, rate 20), each order ~ Gamma(5, rate nu)
    nu = rng.gamma(4.0, 1.0 / 20.0)
    times = [first]
    while rng.random() > dropout and len(times) < 200:
        times.append(times[-1] + pd.Timedelta(seconds=int(rng.exponential(1.0 / rate) * 86400)))
    for t in list(times):
        if rng.random() < 0.2:
            times.append(t + pd.Timedelta(seconds=int(rng.integers(1, 3600))))
    for t in times:
        rows.append((f"c{customer:04d}", t, round(float(rng.gamma(5.0, 1.0 / nu)) + 0.01, 2)))
orders = pd.DataFrame(rows, columns=["customer", "order_time", "amount"])
as_of = "2025-12-15"
pq.write_table(
    pa.Table.from_pandas(orders, preserve_index=False).cast(
        pa.schema(
            [
                ("customer", pa.string()),
                ("order_time", pa.timestamp("us", tz="UTC")),
                ("amount", pa.float64()),
            ]
        )
    ),
    out / "transactions.parquet",
)

# The CDNOW sample's orders (customer, day, quantity, amount), a public data set lifetimes ships.
cdnow = pd.read_csv(
    Path(__file__).parent.parent / "data" / "CDNOW_sample.txt",
    sep=r"\s+",
    header=None,
    names=["customer", "id2", "date", "quantity", "amount"],
    dtype={"customer": str, "date": str},
)
cdnow["order_time"] = pd.to_datetime(cdnow["date"], format="%Y%m%d").dt.tz_localize("UTC")
cdnow = cdnow[["customer", "order_time", "amount"]]
pq.write_table(pa.Table.from_pandas(cdnow, preserve_index=False), out / "cdnow.parquet")

# freq and freq_multiplier for each (period, unit) pair clv_summary takes
PAIRS = {
    ("day", "day"): ("D", 1),
    ("day", "week"): ("D", 7),
    ("week", "week"): ("W", 1),
    ("hour", "day"): ("h", 24),
}


def summary(frame, end, pair):
    freq, multiplier = PAIRS[pair]
    data = frame.copy()
    data["order_time"] = data["order_time"].dt.tz_localize(None)
    s = summary_data_from_transaction_data(
        data,
        "customer",
        "order_time",
        monetary_value_col="amount",
        observation_period_end=end,
        freq=freq,
        freq_multiplier=multiplier,
    )
    return s


def fit_all(s):
    np.random.seed(7)
    result = {}
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    result["bgnbd"] = [float(v) for v in bg.params_.values]
    bgp = BetaGeoFitter(penalizer_coef=0.05).fit(s["frequency"], s["recency"], s["T"])
    result["bgnbd_penalized"] = [float(v) for v in bgp.params_.values]
    pareto = ParetoNBDFitter().fit(s["frequency"], s["recency"], s["T"])
    result["pareto_nbd"] = [float(v) for v in pareto.params_.values]
    repeat = s[s["frequency"] > 0]
    gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    result["gamma_gamma"] = [float(v) for v in gg.params_.values]
    # predictions at lifetimes' own parameters, per customer
    result["predictions"] = {
        customer: [
            float(bg.predict(26, row.frequency, row.recency, row["T"])),
            float(np.atleast_1d(bg.conditional_probability_alive(row.frequency, row.recency, row["T"]))[0]),
            float(gg.conditional_expected_average_profit(row.frequency, row.monetary_value)),
        ]
        for customer, row in s.iterrows()
    }
    clv = gg.customer_lifetime_value(
        bg, s["frequency"], s["recency"], s["T"], s["monetary_value"], time=12, discount_rate=0.01, freq="W"
    )
    for customer, value in clv.items():
        result["predictions"][customer].append(float(value))
    return result


def table(s):
    return {c: [float(r.frequency), float(r.recency), float(r["T"]), float(r.monetary_value)] for c, r in s.iterrows()}


reference = {"as_of": as_of, "summaries": {}, "cdnow": {}}
for pair in PAIRS:
    reference["summaries"]["/".join(pair)] = table(summary(orders, as_of, pair))
weekly = summary(orders, as_of, ("day", "week"))
reference["fits"] = fit_all(weekly)
cdnow_end = "1997-09-30"
cdnow_weekly = summary(cdnow, cdnow_end, ("day", "week"))
reference["cdnow"] = {"as_of": cdnow_end, "summary": table(cdnow_weekly)}
# Pareto/NBD predictions on every CDNOW customer at lifetimes' own fit: expected purchases in 26
# weeks, P(alive), and the 12-month CLV (Gamma-Gamma spend, 1% a month, weeks)
cdnow_pareto = ParetoNBDFitter().fit(cdnow_weekly["frequency"], cdnow_weekly["recency"], cdnow_weekly["T"])
cdnow_repeat = cdnow_weekly[cdnow_weekly["frequency"] > 0]
cdnow_gg = GammaGammaFitter().fit(cdnow_repeat["frequency"], cdnow_repeat["monetary_value"])
f, r, T = cdnow_weekly["frequency"], cdnow_weekly["recency"], cdnow_weekly["T"]
expected = cdnow_pareto.conditional_expected_number_of_purchases_up_to_time(26, f, r, T)
alive = cdnow_pareto.conditional_probability_alive(f, r, T)
clv = cdnow_gg.customer_lifetime_value(
    cdnow_pareto, f, r, T, cdnow_weekly["monetary_value"], time=12, discount_rate=0.01, freq="W"
)
reference["cdnow"]["pareto_nbd"] = [float(v) for v in cdnow_pareto.params_.values]
reference["cdnow"]["gamma_gamma"] = [float(v) for v in cdnow_gg.params_.values]
reference["cdnow"]["pareto_predictions"] = {
    customer: [float(expected[customer]), float(np.asarray(alive)[i]), float(clv[customer])]
    for i, customer in enumerate(cdnow_weekly.index)
}


# Calibration/holdout splits: CDNOW's usual 39 + 39 weeks, and the random orders (several a day,
# some at times of day) split at noon, so that orders later on the calibration end's day are
# holdout orders, as lifetimes compares instants.
def holdout(frame, calibration_end, observation_end, pair):
    freq, multiplier = PAIRS[pair]
    data = frame.copy()
    data["order_time"] = data["order_time"].dt.tz_localize(None)
    h = calibration_and_holdout_data(
        data,
        "customer",
        "order_time",
        calibration_period_end=calibration_end,
        observation_period_end=observation_end,
        freq=freq,
        freq_multiplier=multiplier,
        monetary_value_col="amount",
    )
    columns = [
        "frequency_cal",
        "recency_cal",
        "T_cal",
        "monetary_value_cal",
        "frequency_holdout",
        "monetary_value_holdout",
        "duration_holdout",
    ]
    return {c: [float(v) for v in row] for c, row in zip(h.index, h[columns].values)}


reference["holdout"] = [
    {
        "table": "cdnow",
        "calibration_end": "1997-09-30 00:00:00",
        "observation_end": "1998-06-30 00:00:00",
        "pair": "day/week",
        "rows": holdout(cdnow, "1997-09-30", "1998-06-30", ("day", "week")),
    }
]
for pair in [("day", "week"), ("hour", "day"), ("week", "week")]:
    reference["holdout"].append(
        {
            "table": "transactions",
            "calibration_end": "2025-09-01 12:00:00",
            "observation_end": "2025-12-15 06:00:00",
            "pair": "/".join(pair),
            "rows": holdout(orders, "2025-09-01 12:00:00", "2025-12-15 06:00:00", pair),
        }
    )

# MBG/NBD: the fit on CDNOW's weekly summary and on the random orders' one, and its predictions
# on every CDNOW customer at lifetimes' own fit: expected purchases in 26 weeks, P(alive) and the
# 12-month CLV (CDNOW's Gamma-Gamma spend, 1% a month, weeks)
mbg = ModifiedBetaGeoFitter().fit(f, r, T)
mbg_expected = mbg.conditional_expected_number_of_purchases_up_to_time(26, f, r, T)
mbg_alive = mbg.conditional_probability_alive(f, r, T)
mbg_clv = cdnow_gg.customer_lifetime_value(
    mbg, f, r, T, cdnow_weekly["monetary_value"], time=12, discount_rate=0.01, freq="W"
)
reference["cdnow"]["mbgnbd"] = [float(v) for v in mbg.params_.values]
reference["cdnow"]["mbgnbd_predictions"] = {
    customer: [float(mbg_expected[customer]), float(np.asarray(mbg_alive)[i]), float(mbg_clv[customer])]
    for i, customer in enumerate(cdnow_weekly.index)
}
reference["fits"]["mbgnbd"] = [
    float(v) for v in ModifiedBetaGeoFitter().fit(weekly["frequency"], weekly["recency"], weekly["T"]).params_.values
]

# BG/BB on the donations data of Fader, Hardie and Shang (2010), which lifetimes ships: the fit,
# and at lifetimes' parameters, per pattern, the expected donations over the next 10 appeals and
# P(alive) now and 5 appeals ahead.
donations = pd.read_csv(Path(__file__).parent.parent / "data" / "donations.csv")
bgbb = BetaGeoBetaBinomFitter().fit(
    donations["frequency"], donations["recency"], donations["periods"], weights=donations["weights"]
)
x, tx, n = (donations[c].to_numpy() for c in ["frequency", "recency", "periods"])
bgbb_expected = bgbb.conditional_expected_number_of_purchases_up_to_time(10, x, tx, n)
bgbb_alive_now = bgbb.conditional_probability_alive(0, x, tx, n)
bgbb_alive_later = bgbb.conditional_probability_alive(5, x, tx, n)
reference["donations"] = {
    "bgbb": [float(v) for v in bgbb.params_.values],
    "predictions": [
        [int(x[i]), int(tx[i]), int(n[i]), float(bgbb_expected[i]), float(bgbb_alive_now[i]), float(bgbb_alive_later[i])]
        for i in range(len(donations))
    ],
}
(out / "reference.json").write_text(json.dumps(reference))
print(f"wrote {out}: {len(orders)} orders, {len(cdnow)} CDNOW orders")
