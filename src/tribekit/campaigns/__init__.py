"""Campaigns: the coupon book today (codes, their windows and limits, uses taken by orders and
given back); the campaigns work extends it here."""
