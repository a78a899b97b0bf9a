"""The cost estimator: tokens counted offline, a per-step estimate of calls, tokens and
money, and its rendering. A backend of the checked IR (see docs/cost.md)."""
