"""Experiments on learned goals under weight decay: drift to a proxy (proxy_drift),
protecting a goal (protecting_goals) and a gradient hacker (price_of_persistence)."""
