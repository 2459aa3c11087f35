"""The branch: kiosks and their tokens, agreements waiting for a customer, and feedback."""
