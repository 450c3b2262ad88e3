"""Reference answers from scipy and statsmodels for the A/B test functions: a table of cases,
printed as JSON, that tests/experiment_peers.rs compares with userlake's answers."""

import json
import math

import numpy as np
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

rng = np.random.default_rng(11)


def num(v):
    v = float(v)
    return None if math.isnan(v) else v


proportions = []
cases = [(120, 1000, 150, 1000, 0.05), (5, 40, 1, 60, 0.1), (0, 500, 3, 500, 0.05),
         (4870, 51234, 5012, 50877, 0.01), (1, 2, 2, 2, 0.05)]
for _ in range(20):
    n_a, n_b = int(rng.integers(20, 100000)), int(rng.integers(20, 100000))
    cases.append((int(rng.binomial(n_a, 0.1)), n_a, int(rng.binomial(n_b, 0.11)), n_b,
                  float(rng.choice([0.01, 0.05, 0.1]))))
for c_a, n_a, c_b, n_b, alpha in cases:
    z, p = proportions_ztest([c_b, c_a], [n_b, n_a])
    low, high = confint_proportions_2indep(c_b, n_b, c_a, n_a, method="wald", compare="diff", alpha=alpha)
    proportions.append({"args": [c_a, n_a, c_b, n_b, alpha], "z": num(z), "p_value": num(p),
                        "ci_low": num(low), "ci_high": num(high)})

means = []
cases = [(10.0, 2.0, 50, 11.0, 2.5, 60, 0.05), (100.0, 30.0, 3, 90.0, 1.0, 2, 0.05),
         (5.5, 0.0, 10, 5.0, 1.0, 10, 0.1)]
for _ in range(20):
    cases.append((float(rng.normal(50, 10)), float(rng.uniform(0.5, 20)), int(rng.integers(2, 5000)),
                  float(rng.normal(52, 10)), float(rng.uniform(0.5, 20)), int(rng.integers(2, 5000)),
                  float(rng.choice([0.01, 0.05, 0.1]))))
for m_a, s_a, n_a, m_b, s_b, n_b, alpha in cases:
    t, p = stats.ttest_ind_from_stats(m_b, s_b, n_b, m_a, s_a, n_a, equal_var=False)
    va, vb = s_a**2 / n_a, s_b**2 / n_b
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    se = math.sqrt(va + vb)
    crit = stats.t.ppf(1 - alpha / 2, df)
    diff = m_b - m_a
    means.append({"args": [m_a, s_a, n_a, m_b, s_b, n_b, alpha], "diff": diff, "t": num(t), "df": df,
                  "p_value": num(p), "ci_low": diff - crit * se, "ci_high": diff + crit * se})

sizes = []
for baseline, effect, alpha, power in [(0.1, 0.01, 0.05, 0.8), (0.5, -0.05, 0.05, 0.9), (0.02, 0.005, 0.01, 0.8),
                                       (0.3, 0.1, 0.1, 0.95), (0.9, 0.05, 0.05, 0.8)]:
    n = NormalIndPower().solve_power(proportion_effectsize(baseline + effect, baseline), alpha=alpha,
                                     power=power, ratio=1.0, alternative="two-sided")
    sizes.append({"args": [baseline, effect, alpha, power], "n": float(n), "users_per_arm": math.ceil(n)})

print(json.dumps({"proportions": proportions, "means": means, "sizes": sizes}))
