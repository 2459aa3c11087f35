"""Devices: the phones' signed requests and their binding to a customer, app activation, and code
devices."""
