"""The coupon book: codes, their windows and limits, uses taken by orders and given back."""
