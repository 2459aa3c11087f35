"""Reusable pieces of the phone's screens (the kiosk's demo embeds `RequestPanel`)."""
