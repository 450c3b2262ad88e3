"""Journeys for the attribution benchmark: N conversions (default 1M), each with a path of
touches (10 on average) from 10 channels, hours apart, before the conversion. Writes, for the
same journeys:
  OUT/touches/*.parquet  one row per touch (conversion, touch_time, channel, converted_at)
  OUT/paths.parquet      one row per journey: path 'a > b > ...', conversions, nulls (about one
                         journey in four converts; the others are paths without a conversion)

    python3 benches/attribution/generate.py OUT [--conversions 1000000] [--seed 3]
"""

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--conversions", type=int, default=1_000_000)
parser.add_argument("--seed", type=int, default=3)
args = parser.parse_args()
rng = np.random.default_rng(args.seed)
n = args.conversions
channels = np.array(["douyin", "wechat", "xiaohongshu", "kol", "search_ads", "bilibili", "weibo",
                     "referral", "package_card", "offline_store"])
weights = np.array([.22, .18, .15, .1, .1, .08, .06, .05, .04, .02])

lengths = 1 + rng.poisson(9.0, n)
total = int(lengths.sum())
journey = np.repeat(np.arange(n), lengths)
channel_index = rng.choice(len(channels), size=total, p=weights)
# hours before the conversion, decreasing along the path
gaps = rng.exponential(12.0, total) + 1.0
ends = np.cumsum(lengths)
starts = ends - lengths
cum = np.cumsum(gaps)
before = cum[ends - 1][journey] - cum + gaps  # hours from each touch to the journey's end
start = np.datetime64("2026-01-01T00:00:00", "us")
converted_at = start + (rng.uniform(0, 60 * 24, n) * 3600e6).astype("timedelta64[us]") + np.timedelta64(60, "D")
touch_time = converted_at[journey] - (before * 3600e6).astype("timedelta64[us]")

out = Path(args.out)
(out / "touches").mkdir(parents=True, exist_ok=True)
touches = pa.table({
    "conversion": pa.array(journey.astype(np.int64)),
    "touch_time": pa.array(touch_time, type=pa.timestamp("us", tz="UTC")),
    "channel": pa.array(channels[channel_index]).dictionary_encode().cast(pa.string()),
    "converted_at": pa.array(converted_at[journey], type=pa.timestamp("us", tz="UTC")),
})
files = 8
for i in range(files):
    lo, hi = i * total // files, (i + 1) * total // files
    pq.write_table(touches.slice(lo, hi - lo), out / "touches" / f"part-{i}.parquet", compression="zstd")

# the same journeys as paths, with a conversion flag (channel mix drives conversion)
pull = np.array([.3, .5, .4, .35, .45, .2, .15, .6, .3, .25])
score = np.bincount(journey, weights=pull[channel_index], minlength=n) / lengths
converted = rng.random(n) < np.clip(score * 0.6, 0, 1)
names = channels[channel_index]
paths = [" > ".join(names[s:e]) for s, e in zip(starts, ends)]
pq.write_table(pa.table({
    "path": pa.array(paths),
    "conversions": pa.array(converted.astype(np.int64)),
    "nulls": pa.array((~converted).astype(np.int64)),
}), out / "paths.parquet", compression="zstd")
print(f"wrote {out}: {n} journeys, {total} touches, {int(converted.sum())} converting paths")
