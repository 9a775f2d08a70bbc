"""Campaigns: flash sales built for the burst (``flash``), group buys priced by final size
(``group_buys``), gift packs (``bundles``), the coupon book (``coupons``) and the schedules that
make them week after week (``schedules``)."""
